"""Benchmark the dashboard's JSON endpoints on a large table.

    .venv/bin/python bench/bench_dashboard.py                 # 1,000,000 messages, SQLite
    .venv/bin/python bench/bench_dashboard.py --rows 200000

Creates a new SQLite file in a temporary folder (WAL, as in the settings), seeds ``--rows`` messages
set-based (one INSERT ... SELECT over a recursive CTE: random scores, spread over the last 30 days, 1 % of
them decided by one of 5 moderators), then requests each endpoint through Django's test client as a staff
user, ``--repeat`` times, and prints the best and median time per endpoint. Thresholds come from the
settings, so no model is loaded.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
ENDPOINTS = [
    "/dashboard/data/activity.json?period=hour",
    "/dashboard/data/activity.json?period=day",
    "/dashboard/data/queue.json",
    "/dashboard/data/moderators.json",
    "/dashboard/data/models.json",
    "/dashboard/data/scores.json",
]


def _score() -> str:
    # A cubed uniform random number: most messages score low, as in real chat.
    u = "((abs(random()) % 1000000) / 1000000.0)"
    return f"{u} * {u} * {u}"


def seed(rows: int) -> None:
    """Store ``rows`` messages and 1 % as many decisions with two INSERT ... SELECT statements."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    moderators = [User.objects.create_user(f"moderator{n}", is_staff=True).pk for n in range(5)]
    scores = ", ".join(f"{_score()} AS {label}" for label in LABELS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO classifier_prediction
              (text, {", ".join(LABELS)}, flagged, model_version, source, channel, author, external_id,
               created_at, status, blocked_label)
            WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s),
            scored AS (SELECT n, {scores} FROM seq)
            SELECT 'message ' || n, {", ".join(LABELS)}, max({", ".join(LABELS)}) >= 0.5,
                   CASE WHEN n %% 10 = 0 THEN 'tox-old' ELSE 'tox-new' END, 'form', '', '', '',
                   strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || (n * 2592000 / %s) || ' seconds'),
                   CASE WHEN n %% 100 = 0 THEN 'approved' ELSE 'pending' END, ''
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
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="toxsite.settings",
        SECRET_KEY="bench-only",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
        TOXSITE_THRESHOLDS=",".join(f"{label}=0.5" for label in LABELS),
    )
    os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="bench_dashboard_") as folder:
        os.environ["TOXSITE_DATA_DIR"] = folder
        os.environ["STATIC_ROOT"] = str(ROOT / "static")
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client

        started = time.perf_counter()
        seed(args.rows)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"seeded {args.rows:,} messages in {time.perf_counter() - started:.1f} s")
        client = Client()
        client.force_login(User.objects.create_user("bench", is_staff=True))
        for url in ENDPOINTS:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.status_code, response.content[:200])
            print(f"{url:45} best {min(times):8.1f} ms  median {statistics.median(times):8.1f} ms")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
