"""Benchmark ``manage.py reclassify`` against the pure model scoring rate, on SQLite and PostgreSQL.

For each row count and database: a fresh database (a file in a temporary folder; a temporary PostgreSQL
database, dropped afterwards) gets 50,000 scored messages (``seed_predictions``), made to look scored by an
earlier model (another model version, each score moved by -20 % to +20 %), then copied set-based up to N
rows, each copy a month earlier (texts repeat every 50,000, as ``seed_predictions`` would repeat them).
That is the work after a retrain: every row gets a new version and new scores, and some change flag. Then,
one right after the other, the pure model scoring rate on the same texts in ``--workers`` processes (and in
one), and ``reclassify --workers N`` in a fresh process. Prints rows/s, the ratio to both scoring rates, and
the peak resident memory of the reclassify process and of its largest worker.
Run: .venv/bin/python bench/bench_reclassify.py --rows 100000 1000000 [--workers 2] [--postgres-url URL]
"""

import argparse
import itertools
import json
import multiprocessing
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toxsite.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402
import psycopg  # noqa: E402

django.setup()

from temporary_postgres import temporary_postgres  # noqa: E402

from classifier.ml import LABELS  # noqa: E402
from classifier.ml.model import load  # noqa: E402
from classifier.seeding import seed_texts  # noqa: E402

MODEL = ROOT / "ml_models" / "toxsite.joblib"
DATA = ROOT.parent / "shared" / "data"
POOL = 50_000
DAYS = 30  # the seeded messages' creation times span this many days
PURE_ROWS = 200_000  # rows scored by the pure-rate measurement (all processes together)

# Runs reclassify in a fresh process; prints as JSON its seconds, summary, peak RSS (kB, its own and its
# largest child's) and the CPU seconds of reclassify (its own and its workers').
_RECLASSIFY = """
import io, json, resource, sys, time
import django
django.setup()
from django.core.management import call_command
from classifier.scoring import current_model
current_model()
def cpu():
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, children.ru_maxrss
cpu_before = cpu()[0]
started = time.perf_counter()
out = io.StringIO()
call_command("reclassify", chunk_size=int(sys.argv[1]), workers=int(sys.argv[2]), stdout=out,
             stderr=io.StringIO())
seconds = time.perf_counter() - started
peak = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
cpu_after, child_peak = cpu()
print(json.dumps({"seconds": seconds, "summary": out.getvalue().splitlines()[0], "peak_kb": peak,
                  "child_peak_kb": child_peak, "cpu_seconds": cpu_after - cpu_before}))
"""

_OTHER_COLUMNS = "flagged model_version source channel author external_id created_at status blocked_label"
_COPIED = ", ".join(["text", *LABELS, *_OTHER_COLUMNS.split()])


_loaded: list = []  # the model, loaded once in this process; forked processes share it like reclassify's


def _score_share(texts: list[str], chunk_size: int) -> None:
    for start in range(0, len(texts), chunk_size):
        _loaded[0].predict_proba(texts[start : start + chunk_size])


def _cpu_seconds() -> float:
    """Return the CPU seconds of this process and of its children that have ended."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pure_rate(texts: list[str], chunk_size: int, processes: int) -> tuple[float, float]:
    """Return rows/s and CPU seconds per row of the model alone over ``texts``, ``chunk_size`` at a time, in
    ``processes`` processes.

    The model is loaded and warmed before the clock starts; each process scores an equal share.
    """
    if not _loaded:
        _loaded.append(load(MODEL).model)
    _loaded[0].predict_proba(texts[:chunk_size])
    share = len(texts) // processes
    cpu, started = _cpu_seconds(), time.perf_counter()
    if processes == 1:
        _score_share(texts, chunk_size)
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.starmap(
                _score_share, [(texts[k * share : (k + 1) * share], chunk_size) for k in range(processes)]
            )
            pool.close()
            pool.join()  # ended and waited for: their CPU time is counted
    seconds = time.perf_counter() - started
    return share * processes / seconds, (_cpu_seconds() - cpu) / (share * processes)


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def _age(execute: Callable[[str], None]) -> None:
    """Make the stored messages look scored by an earlier model: another version, every score moved."""
    factor = (
        "(0.8 + (id % 5) * 0.1)"  # SQL both databases run: no least() on SQLite, no min(a, b) on PostgreSQL
    )
    moved = ", ".join(
        f"{label} = CASE WHEN {label} * {factor} > 1 THEN 1.0 ELSE {label} * {factor} END" for label in LABELS
    )
    execute(f"UPDATE classifier_prediction SET model_version = 'tox-earlier', {moved}")


def _grow(kind: str, execute: Callable[[str], None], rows: int) -> None:
    """Copy the seeded messages (the trigger adds their first revisions) until there are ``rows``, each copy
    ``DAYS`` earlier than the one before.

    In a real table ids grow with time, so disjoint id ranges (PostgreSQL's workers) hold different quarter
    hours. Copies of the same month would have every range hold the same ones, and the workers would queue
    for the same summary rows' locks all the time.
    """
    have, copies = min(rows, POOL), 0
    while have < rows:
        copies += 1
        more = min(POOL, rows - have)
        if kind == "PostgreSQL":
            earlier = f"created_at - INTERVAL '{copies * DAYS} days'"
        else:  # Django's text format, to the millisecond
            earlier = f"strftime('%Y-%m-%d %H:%M:%f', created_at, '-{copies * DAYS} days')"
        execute(
            f"INSERT INTO classifier_prediction ({_COPIED}) "
            f"SELECT {_COPIED.replace('created_at', earlier)} FROM classifier_prediction "
            f"ORDER BY id LIMIT {more}"
        )
        have += more


@dataclass
class Database:
    env: dict[str, str]
    execute: Callable[[str], None]
    name: str = ""
    admin_url: str | None = None  # PostgreSQL: where to watch the server's processes from


@contextmanager
def database(kind: str, base: dict[str, str], postgres_url: str) -> Iterator[Database]:
    """Yield a fresh database of ``kind``: its environment and a function that runs SQL in it."""
    if kind == "SQLite":
        with tempfile.TemporaryDirectory() as tmp:

            def execute_sqlite(sql: str) -> None:
                with sqlite3.connect(Path(tmp) / "db.sqlite3") as conn:
                    conn.execute(sql)

            yield Database({**base, "TOXSITE_DATA_DIR": tmp}, execute_sqlite)
        return
    with temporary_postgres(postgres_url) as url:

        def execute_postgres(sql: str) -> None:
            with psycopg.connect(url) as conn:
                conn.execute(sql)

        name = urlsplit(url).path.lstrip("/")
        yield Database({**base, "DATABASE_URL": url}, execute_postgres, name, postgres_url)


class BackendCpu:
    """Sum the CPU seconds of the PostgreSQL server processes serving database ``name`` while it is used.

    The server runs on this machine; its processes are sampled every 0.2 s (a process's last 0.2 s may be
    missed when it exits).
    """

    def __init__(self, admin_url: str | None, name: str) -> None:
        self.admin_url, self.name = admin_url, name
        self.seconds: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        assert self.admin_url
        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self.stop.wait(0.2):
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.name],
                ).fetchall()
                for (pid,) in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.seconds[pid] = (int(fields[11]) + int(fields[12])) / tick

    def __enter__(self) -> "BackendCpu":
        if self.admin_url:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.admin_url:
            self.thread.join()

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def run_on(kind: str, db: Database, rows: int, args: argparse.Namespace, texts: list[str]) -> None:
    """Seed ``rows`` messages, measure the pure scoring rates, reclassify them all, print the figures."""
    _manage(db.env, "migrate", "--no-input", "--verbosity", "0")
    started = time.perf_counter()
    _manage(
        db.env,
        "seed_predictions",
        str(min(rows, POOL)),
        "--data-dir",
        str(DATA),
        "--days",
        str(DAYS),
        "--verbosity",
        "0",
    )
    _age(db.execute)
    _grow(kind, db.execute, rows)
    seeded = time.perf_counter() - started
    pure_texts = list(itertools.islice(itertools.cycle(texts), min(rows, PURE_ROWS)))
    pure_1, _ = pure_rate(pure_texts, args.chunk_size, 1)
    pure_before, cpu_before = pure_rate(pure_texts, args.chunk_size, args.workers)
    with BackendCpu(db.admin_url, db.name) as server:
        out = subprocess.run(
            [sys.executable, "-c", _RECLASSIFY, str(args.chunk_size), str(args.workers)],
            cwd=ROOT,
            env=db.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    pure_after, cpu_after = pure_rate(pure_texts, args.chunk_size, args.workers)  # the load may have changed
    pure_n, pure_cpu = (pure_before + pure_after) / 2, (cpu_before + cpu_after) / 2
    result = json.loads(out.strip().splitlines()[-1])
    if f"Scanned {rows} rows" not in result["summary"] or f"re-scored {rows} " not in result["summary"]:
        raise SystemExit(f"{kind}: reclassify did not re-score every row: {result['summary']}")
    rate = rows / result["seconds"]
    n = args.workers
    client_cpu, server_cpu = result["cpu_seconds"] / rows, server.total / rows
    print(
        f"{kind}, {rows:,} rows (seeded in {seeded:.0f} s)\n"
        f"  pure scoring: {pure_n:,.0f} rows/s in {n} processes (before {pure_before:,.0f}, "
        f"after {pure_after:,.0f}), {pure_cpu * 1e6:.0f} us CPU per row; {pure_1:,.0f} rows/s in 1\n"
        f"  reclassify --workers {n}: {result['seconds']:.1f} s = {rate:,.0f} rows/s = "
        f"{rate / pure_n:.2f}x the {n}-process rate ({rate / pure_1:.2f}x the 1-process rate)\n"
        f"  CPU per row: {client_cpu * 1e6:.0f} us in reclassify's processes + {server_cpu * 1e6:.0f} us in "
        f"the database server = {pure_cpu / (client_cpu + server_cpu):.2f}x the scoring rate per CPU\n"
        f"  peak RSS: {result['peak_kb'] / 1024:,.0f} MiB, "
        f"largest worker {result['child_peak_kb'] / 1024:,.0f} MiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TOXSITE_", "DJANGO_"))}
    base.update(DJANGO_SETTINGS_MODULE="toxsite.settings", SECRET_KEY="bench", MODEL_PATH=str(MODEL))
    kinds = [kind for kind, off in (("SQLite", args.no_sqlite), ("PostgreSQL", args.no_postgres)) if not off]
    texts = seed_texts(data_dir=DATA)
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; chunks of {args.chunk_size}",
        flush=True,
    )
    for rows in args.rows:
        for kind in kinds:
            with database(kind, base, args.postgres_url) as db:
                run_on(kind, db, rows, args, texts)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
