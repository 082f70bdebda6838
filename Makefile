# toxsite: `make run` serves the site with the shipped model, `make test` runs the linters and the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The PostgreSQL run of the tests uses DATABASE_URL when set, else this local server when it answers.
TEST_DATABASE_URL ?= $(if $(DATABASE_URL),$(DATABASE_URL),postgres://postgres@127.0.0.1:5432/test)
SECRET_FILE := var/secret_key

.PHONY: run serve-prod bench-http install install-dev lint format test test-sqlite test-postgres train check-deploy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(SECRET_FILE):
	mkdir -p var
	$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

run: install $(SECRET_FILE)
	@export SECRET_KEY="$${SECRET_KEY:-$$(cat $(SECRET_FILE))}"; \
	$(BIN)/python manage.py migrate --no-input && \
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0 && \
	echo "" && \
	echo "toxsite is running at http://$(HOST):$(PORT)/  (Ctrl-C stops it)" && \
	echo "Create a moderator login for http://$(HOST):$(PORT)/admin/ with:" && \
	echo "  SECRET_KEY=\$$(cat $(SECRET_FILE)) $(BIN)/python manage.py createsuperuser" && \
	echo "" && \
	exec $(BIN)/gunicorn toxsite.wsgi --bind $(HOST):$(PORT) --workers 2 --access-logfile -

# Production serving: gunicorn with gunicorn.conf.py (workers, timeouts, access log from GUNICORN_* variables).
# Set SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, TOXSITE_HTTPS, REDIS_URL... in the environment (.env.example).
serve-prod: install $(SECRET_FILE)
	@export SECRET_KEY="$${SECRET_KEY:-$$(cat $(SECRET_FILE))}" DEBUG=0 \
		GUNICORN_BIND="$${GUNICORN_BIND:-$(HOST):$(PORT)}"; \
	$(BIN)/python manage.py migrate --no-input && \
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0 && \
	echo "toxsite (production settings) on $$GUNICORN_BIND; API docs at /api/v1/docs" && \
	exec $(BIN)/gunicorn -c gunicorn.conf.py

# The HTTP benchmark: gunicorn on a temporary SQLite database, 50 clients on 127.0.0.1 (bench/bench_http.py).
bench-http: install-dev
	$(BIN)/python bench/bench_http.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-sqlite: install-dev
	env -u DATABASE_URL $(BIN)/pytest

test-postgres: install-dev
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		echo "PostgreSQL run: every database test again on $(TEST_DATABASE_URL) (browser tests: SQLite run only)"; \
		DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/pytest -m "django_db and not browser"; \
	elif [ -n "$$TOXSITE_REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL at $(TEST_DATABASE_URL) does not answer and TOXSITE_REQUIRE_POSTGRES is set."; exit 1; \
	else \
		echo "PostgreSQL at $(TEST_DATABASE_URL) does not answer: skipping the PostgreSQL run."; \
	fi

test: lint test-sqlite test-postgres

train: install
	$(BIN)/python manage.py train_model

check-deploy: install
	SECRET_KEY=$$($(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))") TOXSITE_HTTPS=1 \
		ALLOWED_HOSTS=mod.example.org $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
