"""An interrupted reclassify run resumes where it stopped: killed with SIGKILL in a real subprocess."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
ROWS = 6000


def _subprocess_env(tiny_model_path: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "TOXSITE_", "DJANGO_", "MODEL_PATH"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="toxsite.settings",
        SECRET_KEY="reclassify-subprocess-test",
        MODEL_PATH=str(tiny_model_path),
    )
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
    )


def subprocess_database(env: dict[str, str], tmp_path: Path) -> Callable[[str], list[tuple]]:
    """Give the subprocesses a database this test can read too; return a reader of it.

    On SQLite a migrated file database under ``tmp_path`` (the test's own is in memory); on PostgreSQL this
    run's test database, which the transactional test flushes afterwards (as in test_listen_chat.py).
    """
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        url = (
            f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or 'localhost'}:"
            f"{db['PORT'] or 5432}/{quote(db['NAME'])}"
        )
        env["DATABASE_URL"] = url

        def read_postgres(query: str) -> list[tuple]:
            with psycopg.connect(url) as conn:
                return conn.execute(query).fetchall()

        return read_postgres
    env["TOXSITE_DATA_DIR"] = str(tmp_path)
    _manage(env, "migrate", "--no-input", "--verbosity", "0")

    def read_sqlite(query: str) -> list[tuple]:
        with sqlite3.connect(tmp_path / "db.sqlite3", timeout=30) as conn:
            return conn.execute(query).fetchall()

    return read_sqlite


def test_run_killed_with_sigkill_resumes_and_rescores_every_row_exactly_once(tiny_model_path, tmp_path):
    env = _subprocess_env(tiny_model_path)
    read = subprocess_database(env, tmp_path)
    _manage(env, "seed_predictions", str(ROWS), "--generated", "--verbosity", "0")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "reclassify", "--force", "--chunk-size", "10", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not read("SELECT 1 FROM classifier_reclassifyrun WHERE last_id > 0"):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the run committed no chunk within a minute"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr:
            process.stderr.close()
    ((run_id, last_id, scanned, finished),) = read(
        "SELECT id, last_id, scanned, finished_at FROM classifier_reclassifyrun"
    )
    assert finished is None and 0 < scanned < ROWS
    count_query = "SELECT COUNT(*) FROM classifier_scorerevision WHERE cause = 'reclassified'"
    assert read(count_query) == [(scanned,)]  # what was committed matches the recorded progress

    out = _manage(env, "reclassify", "--resume", "--chunk-size", "500").stdout.decode()
    assert f"Resuming run {run_id} after message id {last_id}." in out
    assert f"Scanned {ROWS} rows" in out and f"re-scored {ROWS}" in out
    per_row = read(
        "SELECT p.id, COUNT(r.id) FROM classifier_prediction p LEFT JOIN classifier_scorerevision r "
        "ON r.prediction_id = p.id AND r.cause = 'reclassified' AND r.model_version = p.model_version "
        "GROUP BY p.id"
    )
    assert len(per_row) == ROWS and {count for _, count in per_row} == {1}
    assert read("SELECT COUNT(*) FROM classifier_reclassifyrun WHERE finished_at IS NOT NULL") == [(1,)]
    assert "Scanned 0 rows" in _manage(env, "reclassify").stdout.decode()
