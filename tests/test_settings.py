import gc
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

MANAGE = [sys.executable, str(settings.BASE_DIR / "manage.py")]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    unset = {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run([*MANAGE, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120)


def test_secret_key_is_required_when_debug_is_off():
    result = _run(["check"])
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr  # one line that names the fix, not a stack trace


def test_a_database_other_than_postgresql_or_sqlite_is_a_clear_error():
    result = _run(["check"], SECRET_KEY="x" * 50, DATABASE_URL="mysql://user@db.example/toxsite")
    assert result.returncode != 0
    assert "does not support mysql" in result.stderr and "Traceback" not in result.stderr


def test_invalid_boolean_is_a_clear_error():
    result = _run(["check"], DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_check_is_clean_with_the_documented_production_variables(tmp_path):
    result = _run(
        ["check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY="x7" * 30 + "-production-like-random-key",
        TOXSITE_HTTPS="1",
        ALLOWED_HOSTS="mod.example.org",
        TOXSITE_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_thresholds_from_the_environment_are_validated():
    result = _run(["check"], DEBUG="1", TOXSITE_THRESHOLDS="toxic=1.5")
    assert result.returncode != 0
    assert "between 0 and 1" in result.stderr


def test_gunicorn_freezes_the_masters_objects_before_each_fork():
    config = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        config["pre_fork"](None, None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(
    ("environment", "workers"),
    [
        ({}, len(os.sched_getaffinity(0)) + 1),
        ({"WEB_CONCURRENCY": "5"}, 5),
        ({"GUNICORN_WORKERS": "3", "WEB_CONCURRENCY": "5"}, 3),
    ],
)
def test_gunicorn_runs_one_worker_more_than_the_cores_unless_told(monkeypatch, environment, workers):
    for name in ("GUNICORN_WORKERS", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert config["workers"] == workers


def test_the_models_and_their_migrations_agree(tmp_path):
    # A migration that changes Django's state by hand (0009) must leave nothing for makemigrations to write.
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = _run(["makemigrations", "--check", "--dry-run"], DEBUG="1", DATABASE_URL=database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


_SQLITE_SETTINGS = (
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    pragmas = [cursor.execute(f'PRAGMA {name}').fetchone()[0]\n"
    "               for name in ('journal_mode', 'synchronous', 'busy_timeout')]\n"
    "print(pragmas, connection.settings_dict['OPTIONS'].get('transaction_mode'))"
)


@pytest.mark.parametrize("named_by", ["data_dir", "database_url"])
def test_every_sqlite_database_gets_wal_and_immediate_transactions(tmp_path, named_by):
    # sqlite:///path in DATABASE_URL gets what the default database under TOXSITE_DATA_DIR gets: WAL
    # (journal_mode), synchronous NORMAL (1), a 20 s busy timeout and BEGIN IMMEDIATE. Without them, workers
    # that write at once fail with "database is locked".
    if named_by == "data_dir":
        where = {"TOXSITE_DATA_DIR": str(tmp_path)}
    else:
        where = {"DATABASE_URL": f"sqlite:///{tmp_path / 'named.sqlite3'}"}
    result = _run(["shell", "-c", _SQLITE_SETTINGS], SECRET_KEY="x" * 50, **where)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['wal', 1, 20000] IMMEDIATE"


def test_migrate_against_a_database_it_cannot_reach_names_the_fix_without_a_traceback():
    result = _run(
        ["migrate", "--no-input"], SECRET_KEY="x" * 50, DATABASE_URL="postgres://tox@127.0.0.1:1/tox"
    )
    assert result.returncode != 0
    assert (
        "classifier.E006" in result.stderr
        and "Cannot connect to the postgresql database tox" in result.stderr
    )
    assert "Check DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_sqlite_file_in_a_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "not-made-yet" / "db.sqlite3"
    result = _run(["migrate", "--no-input"], SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{missing}")
    assert result.returncode != 0
    assert "a folder that does not exist" in result.stderr and str(missing.parent) in result.stderr
    assert "Traceback" not in result.stderr
