"""Benchmark live chat: messages from a local Twitch-style IRC server to stored, scored Predictions.

    .venv/bin/python bench/bench_chat.py                      # 50,000 messages per phase, SQLite
    .venv/bin/python bench/bench_chat.py --postgres postgres://postgres@127.0.0.1:5432/postgres

A fake server in a child process (so it does not share the listener's interpreter) sends tagged PRIVMSG lines
like Twitch's over 127.0.0.1 to a real ``ChatListener`` with the command's default micro-batches, storing with
``predictions_create_many`` and the shipped model. Two phases:

* burst: every message as fast as the socket takes it. Stored messages/s is the throughput; the delay is
  mostly time spent queued behind earlier messages, so it grows with the number of messages.
* paced: a steady offered rate (``--rate``, default 5,000/s). The delay is what a moderator would see.

Each message id carries the server's monotonic clock (system-wide on Linux) when it wrote the line; a
message's delay runs from there to the commit of the micro-batch that stored it. SQLite is a new file in a
temporary folder (WAL, as in settings); ``--postgres`` makes a temporary database on that server and drops it.
"""

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from chat_corpus import corpus  # bench/ is on sys.path when a benchmark runs as a script
from temporary_postgres import temporary_postgres

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "bench"


def _line(number: int, sent_ns: int, text: str, phase: str) -> str:
    user = f"viewer{number % 2000}"
    return (
        f"@badge-info=;badges=;color=#1E90FF;display-name={user.title()};emotes=;first-msg=0;flags=;"
        f"id={phase}-{number}-{sent_ns};mod=0;returning-chatter=0;room-id=1;subscriber=0;"
        f"tmi-sent-ts={time.time_ns() // 1_000_000};turbo=0;user-id={number % 2000};user-type= "
        f":{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{CHANNEL} :{text}\r\n"
    )


def serve(pipe: Connection, count: int, rate: float, phase: str) -> None:
    """Child process: serve one client, send ``count`` messages (paced at ``rate``/s, or 0 for a burst)."""
    asyncio.run(_serve(pipe, count, rate, phase))


async def _serve(pipe: Connection, count: int, rate: float, phase: str) -> None:
    texts = corpus(2000, seed=1)
    finished = asyncio.Event()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line.startswith(b"NICK"):
                writer.write(b":tmi.twitch.tv 001 bench :Welcome, GLHF!\r\n")
            if line.startswith(b"JOIN"):
                break
        started = time.monotonic()
        sent = 0
        while sent < count:
            if rate:
                due = min(count, int((time.monotonic() - started) * rate) + 1)
                if due <= sent:
                    await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
                    continue
            else:
                due = min(count, sent + 500)
            now = time.monotonic_ns()
            writer.write(
                "".join(_line(n, now, texts[n % len(texts)], phase) for n in range(sent, due)).encode()
            )
            await writer.drain()
            sent = due
        await reader.read()  # until the listener hangs up
        finished.set()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    pipe.send(server.sockets[0].getsockname()[1])
    await finished.wait()
    server.close()


def run_phase(phase: str, count: int, rate: float, batch_size: int, batch_window: float) -> dict[str, Any]:
    """Feed ``count`` messages through a listener and return throughput and delay figures."""
    from classifier.chat.batches import store_chat
    from classifier.chat.listener import ChatListener, ListenerConfig
    from classifier.models import Prediction
    from classifier.services import IncomingMessage

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(theirs, count, rate, phase), daemon=True)
    server.start()
    port = ours.recv()
    delays: list[int] = []
    first_sent = [sys.maxsize]
    last_commit = [0]
    store_cpu = [0.0]

    async def listen() -> Any:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def store(messages: list[IncomingMessage]) -> Sequence[Prediction]:
            began = time.thread_time()
            stored = store_chat(messages)
            store_cpu[0] += time.thread_time() - began
            committed = time.monotonic_ns()
            for prediction in stored:
                sent = int(prediction.external_id.rsplit("-", 1)[1])
                first_sent[0] = min(first_sent[0], sent)
                delays.append(committed - sent)
            last_commit[0] = committed
            if len(delays) >= count:
                loop.call_soon_threadsafe(stop.set)
            return stored

        config = ListenerConfig(
            channels=(CHANNEL,),
            host="127.0.0.1",
            port=port,
            tls=False,
            batch_size=batch_size,
            batch_window=batch_window,
            queue_size=count,
        )
        return await ChatListener(config, store=store).run(stop)

    cpu_before = time.process_time()
    stats = asyncio.run(listen())
    cpu = time.process_time() - cpu_before
    server.join(10)
    stored = Prediction.objects.filter(external_id__startswith=f"{phase}-").count()
    if stats.dropped or stats.lost or stored != count:
        raise SystemExit(f"{phase}: {stored} of {count} stored, {stats.dropped} dropped, {stats.lost} lost")
    ms = sorted(delay / 1e6 for delay in delays)
    return {
        "phase": phase,
        "offered": f"{rate:,.0f}/s" if rate else "as fast as read",
        "stored_per_s": count / ((last_commit[0] - first_sent[0]) / 1e9),
        "p50": statistics.median(ms),
        "p99": statistics.quantiles(ms, n=100)[98],
        "max": ms[-1],
        "flagged": stats.flagged,
        "cpu_us": cpu / count * 1e6,
        "store_cpu_us": store_cpu[0] / count * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--messages", type=int, default=50_000, help="messages per phase (default: %(default)s)"
    )
    parser.add_argument(
        "--rate", type=float, default=5000, help="paced phase rate, messages/s (default: 5000)"
    )
    parser.add_argument("--batch-size", type=int, default=200, help="as listen_chat (default: %(default)s)")
    parser.add_argument(
        "--batch-window", type=float, default=0.5, help="as listen_chat (default: %(default)s)"
    )
    parser.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL server to make a temporary database on"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.update(DJANGO_SETTINGS_MODULE="toxsite.settings", SECRET_KEY="bench-only", LOG_LEVEL="WARNING")
    os.environ.pop("TOXSITE_THRESHOLDS", None)
    with tempfile.TemporaryDirectory(prefix="bench_chat_") as folder, ExitStack() as cleanup:
        if args.postgres:
            os.environ["DATABASE_URL"] = cleanup.enter_context(temporary_postgres(args.postgres))
        else:
            os.environ.pop("DATABASE_URL", None)
            os.environ["TOXSITE_DATA_DIR"] = folder
        import django
        from django.core.management import call_command
        from django.db import connection, connections

        django.setup()
        call_command("migrate", verbosity=0)
        from classifier.scoring import current_model

        database = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite (WAL, synchronous=NORMAL)"
        print(
            f"listen_chat benchmark: {args.messages:,} messages per phase on {database}, model "
            f"{current_model().version}, micro-batches of {args.batch_size} or {args.batch_window} s, "
            f"{os.cpu_count()} CPUs"
        )
        try:
            results = [
                run_phase("burst", args.messages, 0, args.batch_size, args.batch_window),
                run_phase("paced", args.messages, args.rate, args.batch_size, args.batch_window),
            ]
        finally:
            connections.close_all()  # before the database is dropped
    print(
        f"{'phase':<6} {'offered':>16} {'stored msg/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'flagged':>8} {'CPU us/msg':>11} {'of it storing':>14}"
    )
    for r in results:
        print(
            f"{r['phase']:<6} {r['offered']:>16} {r['stored_per_s']:>13,.0f} {r['p50']:>8.1f} "
            f"{r['p99']:>8.1f} {r['max']:>8.1f} {r['flagged']:>8,} {r['cpu_us']:>11.0f} "
            f"{r['store_cpu_us']:>14.0f}"
        )
    print(
        "Delay: from the server writing a line to the commit that stored it; in the burst it is mostly "
        "queueing.\nCPU us/msg: the listener process's CPU time per message (reading, parsing, scoring, "
        "storing); 'of it storing' is predictions_create_many's share.\nOne free core stores about "
        f"1,000,000 / (CPU us/msg) messages/s; the load average was {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs."
    )


if __name__ == "__main__":
    main()
