"""Benchmark ``manage.py reclassify`` against the pure model scoring rate, on SQLite and PostgreSQL.

Seeds N rows (``seed_predictions``) into a temporary SQLite file and a temporary PostgreSQL database, then
times ``reclassify --force`` on each in a fresh process and prints rows/s, the ratio to the pure scoring rate
on the same texts, and the peak resident memory of the reclassify process.
Run: .venv/bin/python bench/bench_reclassify.py --rows 100000 [--postgres-url URL | --no-postgres]
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toxsite.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402
import psycopg  # noqa: E402

django.setup()

from classifier.ml.model import load  # noqa: E402
from classifier.seeding import seed_texts  # noqa: E402

MODEL = ROOT / "ml_models" / "toxsite.joblib"
DATA = ROOT.parent / "shared" / "data"

# Runs reclassify in a fresh process; prints its seconds, rows re-scored and peak RSS (kB) as JSON.
_RECLASSIFY = """
import io, json, sys, time
import django
django.setup()
from django.core.management import call_command
from classifier.scoring import current_model
current_model()
started = time.perf_counter()
out = io.StringIO()
call_command("reclassify", force=True, chunk_size=int(sys.argv[1]), stdout=out, stderr=io.StringIO())
seconds = time.perf_counter() - started
peak = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
print(json.dumps({"seconds": seconds, "summary": out.getvalue().splitlines()[0], "peak_kb": peak}))
"""


def pure_rate(rows: int, chunk_size: int) -> float:
    """Return rows/s of the model alone over ``rows`` texts cycled from the data, ``chunk_size`` at a time."""
    model = load(MODEL).model
    texts = list(itertools.islice(itertools.cycle(seed_texts(data_dir=DATA)), rows))
    model.predict_proba(texts[:chunk_size])
    started = time.perf_counter()
    for start in range(0, rows, chunk_size):
        model.predict_proba(texts[start : start + chunk_size])
    return rows / (time.perf_counter() - started)


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def run_on(env: dict[str, str], rows: int, chunk_size: int) -> dict:
    """Migrate, seed ``rows`` and reclassify them all in the database ``env`` names."""
    _manage(env, "migrate", "--no-input", "--verbosity", "0")
    started = time.perf_counter()
    _manage(env, "seed_predictions", str(rows), "--data-dir", str(DATA), "--verbosity", "0")
    seeded = time.perf_counter() - started
    out = subprocess.run(
        [sys.executable, "-c", _RECLASSIFY, str(chunk_size)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["seed_rows_per_s"] = rows / seeded
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TOXSITE_", "DJANGO_"))}
    base.update(DJANGO_SETTINGS_MODULE="toxsite.settings", SECRET_KEY="bench", MODEL_PATH=str(MODEL))

    pure = pure_rate(min(args.rows, 200_000), args.chunk_size)
    print(f"pure model scoring: {pure:,.0f} rows/s (chunks of {args.chunk_size})")
    targets: list[tuple[str, dict[str, str]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", {**base, "TOXSITE_DATA_DIR": tmp}))
        name = f"toxsite_bench_{os.getpid()}"
        if not args.no_postgres:
            with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            targets.append(
                ("PostgreSQL", {**base, "DATABASE_URL": args.postgres_url.rsplit("/", 1)[0] + "/" + name})
            )
        try:
            for label, env in targets:
                result = run_on(env, args.rows, args.chunk_size)
                rate = args.rows / result["seconds"]
                print(
                    f"{label}: seeded {result['seed_rows_per_s']:,.0f} rows/s; "
                    f"reclassify {args.rows:,} rows in "
                    f"{result['seconds']:.1f} s = {rate:,.0f} rows/s ({rate / pure:.0%} of pure scoring); "
                    f"peak RSS {result['peak_kb'] / 1024:,.0f} MiB"
                )
        finally:
            if not args.no_postgres:
                with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
