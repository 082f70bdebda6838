"""Running ``manage.py`` in a subprocess against a database this test can read too."""

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psycopg
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``manage.py args`` in ``env``; raise if it fails."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=timeout,
    )


def subprocess_database(env: dict[str, str], tmp_path: Path) -> Callable[[str], list[tuple]]:
    """Give subprocesses a database this test can read too; return a reader of it (``read(query)``).

    A subprocess cannot see the in-memory SQLite database of a SQLite test run, so there it gets a file
    database under ``tmp_path``, migrated by ``manage.py migrate`` first. On PostgreSQL it uses this run's own
    test database: the test is transactional, so what either side commits the other sees, and the test's
    flush afterwards removes it. Rows are read with the driver directly, outside Django's connections.
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
    manage(env, "migrate", "--no-input", "--verbosity", "0", timeout=60)

    def read_sqlite(query: str) -> list[tuple]:
        with sqlite3.connect(tmp_path / "db.sqlite3", timeout=30) as conn:
            return conn.execute(query).fetchall()

    return read_sqlite
