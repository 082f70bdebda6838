"""Benchmark the HTTP API as served in production: gunicorn (gunicorn.conf.py) on a temporary SQLite database.

    .venv/bin/python bench/bench_http.py                    # 15 s per scenario, 50 clients, 3 rounds
    .venv/bin/python bench/bench_http.py --seconds 6 --workers 3 --threads 8 --redis redis://127.0.0.1:6379/2

It migrates a new SQLite file (WAL, as in settings) in a temporary folder, creates an API key with
``create_api_key``, starts gunicorn with gunicorn.conf.py on a free port of 127.0.0.1 and keeps
``--clients`` concurrent HTTP/1.1 connections busy for ``--seconds`` per scenario:

* minimal: GET of a one-line Django view (bench/http_urls.py) behind the full middleware stack;
* health: GET /api/v1/health (a database query and the model check);
* single: POST /api/v1/classify, one message, stored (store defaults to true);
* batch: POST /api/v1/classify, ``--batch-size`` messages (default 50), stored.

The scenarios take turns over ``--rounds`` rounds, each turn after an unmeasured warm-up, so that other work
on the machine weighs on all of them alike. It prints requests/s, messages/s, p50/p99 latency, errors (any
status but 200, or a failed connection), each scenario's requests/s as a ratio of the minimal view's, and
gunicorn's CPU time per request. The load client is an asyncio loop in this process, on the same machine as
gunicorn: on 2 cores the two share the CPU. Traffic goes to 127.0.0.1 only, and every turn stops when its
time is up.
"""

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from chat_corpus import corpus  # bench/ is on sys.path when a benchmark runs as a script

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    messages_per_request: int = 0
    bodies: list[bytes] = field(default_factory=list)


@dataclass
class Result:
    scenario: Scenario
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_cpu: float = 0.0  # seconds of CPU that gunicorn (master and workers) used
    client_cpu: float = 0.0  # seconds of CPU that this process (the load client) used

    def cpu_ms_per_request(self, seconds: float) -> float:
        return seconds * 1000 / max(1, len(self.latencies))

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


class Connection:
    """One HTTP/1.1 client connection, reopened whenever the server closes it (gunicorn's sync workers do)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = f"Host: {HOST}\r\nAuthorization: Bearer {key}\r\nUser-Agent: bench_http\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\n{self.headers}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _client(conn: Connection, scenario: Scenario, start: int, until: float, result: Result) -> None:
    n = start
    while time.perf_counter() < until:
        body = scenario.bodies[n % len(scenario.bodies)] if scenario.bodies else b""
        n += 1
        started = time.perf_counter()
        try:
            status = await conn.request(scenario.method, scenario.path, body)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            conn.close()
            result.errors += 1
            continue
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status == 200:
            result.latencies.append(time.perf_counter() - started)
        else:
            result.errors += 1
    conn.close()


async def run_scenario(
    result: Result, port: int, key: str, clients: int, seconds: float, server: int
) -> None:
    """Keep ``clients`` connections busy with the scenario for ``seconds``; add the outcome to ``result``."""
    cpu_before, client_before = _cpu_seconds(server), time.process_time()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_client(Connection(port, key), result.scenario, i * 97, until, result) for i in range(clients))
    )
    result.seconds += time.perf_counter() - started  # includes the requests in flight at the deadline
    result.server_cpu += _cpu_seconds(server) - cpu_before
    result.client_cpu += time.process_time() - client_before


def _cpu_seconds(master: int) -> float:
    """Return the CPU time of gunicorn's master, its live workers and the workers it has reaped."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(pid: int | str) -> list[str]:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()

    fields = stat(master)
    total = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                child = stat(pid)
            except OSError:
                continue
            if int(child[1]) == master:
                total += int(child[11]) + int(child[12])
    return total / ticks


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _environment(data_dir: str, port: int, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    # A copy of the model and its sidecar: retraining the shipped one meanwhile cannot disturb the run.
    model = Path(os.environ.get("MODEL_PATH", ROOT / "ml_models" / "toxsite.joblib"))
    for source in (model, model.with_suffix(".json")):
        shutil.copy2(source, Path(data_dir) / source.name)
    env.update(
        MODEL_PATH=str(Path(data_dir) / model.name),
        DJANGO_SETTINGS_MODULE="http_site",
        PYTHONPATH=os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        TOXSITE_DATA_DIR=data_dir,
        STATIC_ROOT=data_dir,  # nothing static is served here; an existing folder keeps whitenoise quiet
        GUNICORN_BIND=f"{HOST}:{port}",
        GUNICORN_ACCESS_LOG=str(Path(data_dir) / "access.log"),
        GUNICORN_LOG_LEVEL="warning",
    )
    if args.workers:
        env["GUNICORN_WORKERS"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    if args.redis:
        env["REDIS_URL"] = args.redis
    return env


def _manage(env: dict[str, str], *command: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(command)} failed:\n{done.stderr}")
    return done.stdout.strip()


async def _wait_until_up(port: int, key: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    conn = Connection(port, key)
    while time.monotonic() < deadline:
        try:
            if await conn.request("GET", "/api/v1/health") == 200:
                conn.close()
                return
        except OSError:
            pass
        conn.close()
        await asyncio.sleep(0.2)
    raise SystemExit("gunicorn did not answer /api/v1/health within a minute.")


def scenarios(batch_size: int) -> list[Scenario]:
    texts = corpus(5000, seed=7)
    singles = [json.dumps({"text": text}).encode() for text in texts]
    batches = [
        json.dumps({"texts": texts[i : i + batch_size]}).encode()
        for i in range(0, len(texts) - batch_size + 1, batch_size)
    ]
    return [
        Scenario("minimal", "GET", "/bench/minimal"),
        Scenario("health", "GET", "/api/v1/health"),
        Scenario("single", "POST", "/api/v1/classify", 1, singles),
        Scenario(f"batch of {batch_size}", "POST", "/api/v1/classify", batch_size, batches),
    ]


def _row(cells: tuple[str, ...]) -> str:
    widths = (12, 10, 10, 8, 8, 6, 6, 12, 12)
    return " ".join(
        f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def report(results: list[Result], config: str) -> None:
    print(f"\n{config}")
    floor = results[0].requests_per_second
    print(
        _row(
            (
                "scenario",
                "requests/s",
                "messages/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "ratio",
                "server ms",
                "client ms",
            )
        )
    )
    for r in results:
        per_request = r.scenario.messages_per_request
        print(
            _row(
                (
                    r.scenario.name,
                    f"{r.requests_per_second:,.0f}",
                    f"{r.requests_per_second * per_request:,.0f}" if per_request else "-",
                    f"{r.percentile(0.50):.1f}",
                    f"{r.percentile(0.99):.1f}",
                    str(r.errors),
                    f"{r.requests_per_second / floor:.2f}",
                    f"{r.cpu_ms_per_request(r.server_cpu):.2f}",
                    f"{r.cpu_ms_per_request(r.client_cpu):.2f}",
                )
            )
        )
    print(
        "ratio: requests/s over the minimal view's, in this run. server ms, client ms: CPU time per "
        "successful request of gunicorn and of the load client, less sensitive than requests/s to other "
        "work on the machine."
    )
    bad = {r.scenario.name: r.statuses for r in results if r.errors}
    if bad:
        print(f"errors by scenario (status: count): {bad}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15, help="Measured time per scenario (default 15).")
    parser.add_argument("--warmup", type=float, default=2, help="Unmeasured time before each (default 2).")
    parser.add_argument("--clients", type=int, default=50, help="Concurrent connections (default 50).")
    parser.add_argument("--batch-size", type=int, default=50, help="Messages per batch request (default 50).")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's).")
    parser.add_argument("--threads", type=int, help="Threads per worker (default: gunicorn.conf.py's).")
    parser.add_argument(
        "--redis", metavar="URL", help="Count rate limits in this Redis (default: local memory)."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Turns each scenario takes, its time split among them (default 3).",
    )
    parser.add_argument("--only", help="Comma-separated scenario names to run (minimal always runs first).")
    args = parser.parse_args()
    if not 0 < args.seconds <= 120 or not 0 <= args.warmup <= 30 or not 1 <= args.clients <= 500:
        raise SystemExit("--seconds must be in (0, 120], --warmup in [0, 30], --clients in [1, 500].")
    if not 1 <= args.rounds <= 20:
        raise SystemExit("--rounds must be from 1 to 20.")

    with tempfile.TemporaryDirectory(prefix="toxsite-bench-") as data_dir:
        port = _free_port()
        env = _environment(data_dir, port, args)
        _manage(env, "migrate", "--no-input", "--verbosity", "0")
        key = _manage(env, "create_api_key", "bench", "--scope", "classify", "--rate-limit", "1000000000")
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")], cwd=ROOT, env=env
        )
        try:
            asyncio.run(_wait_until_up(port, key))
            chosen = scenarios(args.batch_size)
            if args.only:
                names = {"minimal", *args.only.split(",")}
                chosen = [s for s in chosen if s.name.split()[0] in names]
            results = [Result(scenario) for scenario in chosen]
            # Scenarios take turns, round after round, so that other work on the machine weighs on each alike.
            for round_number in range(args.rounds):
                for result in results:
                    if args.warmup:
                        warm = Result(result.scenario)
                        asyncio.run(run_scenario(warm, port, key, args.clients, args.warmup, server.pid))
                    seconds = args.seconds / args.rounds
                    asyncio.run(run_scenario(result, port, key, args.clients, seconds, server.pid))
                print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=30)
        config = _describe(env, args)
        report(results, config)


def _describe(env: dict[str, str], args: argparse.Namespace) -> str:
    probe = (
        "import importlib.util as u, runpy, sys; sys.argv=['x']; "
        "c = runpy.run_path('gunicorn.conf.py'); print(c['workers'], c['threads'], c['worker_class'])"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    workers, threads, worker_class = ([*out.stdout.split(), "?", "?", "?"])[:3]
    cache = f"Redis {args.redis}" if args.redis else "local memory"
    return (
        f"gunicorn: {workers} {worker_class} workers x {threads} thread(s); SQLite (temporary, WAL); "
        f"rate-limit cache: {cache}; {args.clients} clients for {args.seconds:g} s per scenario; "
        f"{os.cpu_count()} CPUs shared by server and client."
    )


if __name__ == "__main__":
    main()
