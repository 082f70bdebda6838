"""Benchmark the dashboard's JSON endpoints on a large table.

    .venv/bin/python bench/bench_dashboard.py                 # 1,000,000 messages, SQLite
    .venv/bin/python bench/bench_dashboard.py --rows 200000
    .venv/bin/python bench/bench_dashboard.py --postgres postgres://postgres@127.0.0.1:5432/postgres

Creates a new SQLite file in a temporary folder (WAL, as in the settings), or with ``--postgres`` a
temporary database on that server (dropped afterwards), seeds ``--rows`` messages set-based (one
INSERT ... SELECT over a recursive CTE or ``generate_series``: random scores, spread over the last 30 days,
1 % of them decided by one of 5 moderators), then requests each endpoint through Django's test
client as a staff user, ``--repeat`` times, and prints the best and median time per endpoint. Thresholds come
from the settings (``THRESHOLDS`` below, none on a histogram bucket's edge, so the flag rates also search the
messages of each threshold's bucket), so no model is loaded.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from temporary_postgres import temporary_postgres

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
# Like a trained model's recommendations: between the edges of the dashboard's 0.05-wide score buckets.
THRESHOLDS = {
    "toxic": 0.47,
    "severe_toxic": 0.31,
    "obscene": 0.52,
    "threat": 0.28,
    "insult": 0.44,
    "identity_hate": 0.36,
}
ENDPOINTS = [
    "/dashboard/data/activity.json?period=hour",
    "/dashboard/data/activity.json?period=day",
    "/dashboard/data/queue.json",
    "/dashboard/data/moderators.json",
    "/dashboard/data/models.json",
    "/dashboard/data/scores.json",
]


def _score(vendor: str) -> str:
    # A cubed uniform random number: most messages score low, as in real chat.
    u = "random()" if vendor == "postgresql" else "((abs(random()) %% 1000000) / 1000000.0)"
    return f"{u} * {u} * {u}"


def _numbers_and_times(vendor: str) -> tuple[str, str, str]:
    """Return SQL for the row numbers 1..N, their creation times over the last 30 days, and max()."""
    if vendor == "postgresql":
        return (
            "seq(n) AS (SELECT generate_series(1, %s))",
            "now() - (n * 2592000.0 / %s) * interval '1 second'",
            "greatest",
        )
    return (
        "RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s)",
        "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || (n * 2592000 / %s) || ' seconds')",
        "max",
    )


def seed(rows: int) -> None:
    """Store ``rows`` messages and 1 % as many decisions with two INSERT ... SELECT statements."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    moderators = [User.objects.create_user(f"moderator{n}", is_staff=True).pk for n in range(5)]
    scores = ", ".join(f"{_score(connection.vendor)} AS {label}" for label in LABELS)
    numbers, created_at, greatest = _numbers_and_times(connection.vendor)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO classifier_prediction
              (text, {", ".join(LABELS)}, flagged, model_version, source, channel, author, external_id,
               created_at, status, blocked_label)
            WITH {numbers}, scored AS (SELECT n, {scores} FROM seq)
            SELECT 'message ' || n, {", ".join(LABELS)}, {greatest}({", ".join(LABELS)}) >= 0.5,
                   CASE WHEN n %% 10 = 0 THEN 'tox-old' ELSE 'tox-new' END, 'form', '', '', '',
                   {created_at}, CASE WHEN n %% 100 = 0 THEN 'approved' ELSE 'pending' END, ''
            FROM scored
            """,
            [rows, rows],
        )
        assert moderators == list(range(moderators[0], moderators[0] + 5))  # a fresh database
        cursor.execute(
            f"""
            INSERT INTO classifier_moderationdecision
              (prediction_id, moderator_id, created_at, action, status_before, status_after, reason)
            SELECT id, {moderators[0]} + id %% 5,
                   created_at, 'approve', 'pending', 'approved', ''
            FROM classifier_prediction WHERE status = 'approved'
            """,
            [],
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored messages (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="requests per endpoint (default: %(default)s)")
    parser.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL server to make a temporary database on, not SQLite"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="toxsite.settings",
        SECRET_KEY="bench-only",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
        TOXSITE_THRESHOLDS=",".join(f"{label}={value}" for label, value in THRESHOLDS.items()),
    )
    os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="bench_dashboard_") as folder:
        os.environ["TOXSITE_DATA_DIR"] = folder
        os.environ["STATIC_ROOT"] = str(ROOT / "static")
        with ExitStack() as cleanup:
            if args.postgres:
                os.environ["DATABASE_URL"] = cleanup.enter_context(temporary_postgres(args.postgres))
            try:
                run(rows=args.rows, repeat=args.repeat)
            finally:
                from django.db import connections

                connections.close_all()  # before the database is dropped


def run(*, rows: int, repeat: int) -> None:
    """Migrate, seed ``rows`` messages and time each endpoint ``repeat`` times."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    started = time.perf_counter()
    seed(rows)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    print(f"seeded {rows:,} messages on {connection.vendor} in {time.perf_counter() - started:.1f} s")
    client = Client()
    client.force_login(User.objects.create_user("bench", is_staff=True))
    for url in ENDPOINTS:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code, response.content[:200])
        print(f"{url:45} best {min(times):8.1f} ms  median {statistics.median(times):8.1f} ms")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
