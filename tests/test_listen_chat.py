"""The live-chat listener against a local IRC server written here, its webhook against a local HTTP server.

Nothing leaves 127.0.0.1. Each scenario runs under one timeout, and waits for events (a PONG, a log record, a
closed connection) instead of sleeping.
"""

import asyncio
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection

from classifier.chat import irc
from classifier.chat.batches import STORE_ATTEMPTS, ChatStats
from classifier.chat.listener import ChatListener, ChatLoginError, ListenerConfig
from classifier.chat.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, WebhookSender, flagged_event
from classifier.management.commands.listen_chat import Command as ListenChat
from classifier.ml import LABELS
from classifier.models import Prediction
from classifier.scoring import thresholds
from classifier.services import IncomingMessage

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10.0
SECRET_TOKEN = "sup3rs3cr3tt0k3n"
WEBHOOK_SECRET = "webhook-shared-secret"
TOXIC = "you are a complete idiot"
CLEAN = "have a great stream everyone"
T = TypeVar("T")


class FakeClient:
    """One connection to the fake server, seen from the server's side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[str] = []

    async def expect(self, command: str) -> irc.IrcMessage:
        """Read lines until one carries ``command``; fail if the client hangs up first."""
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise AssertionError(f"the client hung up before sending {command}")
            self.received.append(raw.decode().rstrip("\r\n"))
            message = irc.parse_line(self.received[-1])
            if message.command == command:
                return message

    async def welcome(self) -> irc.IrcMessage:
        """Play Twitch's part of a login: wait for NICK, send 001, return the JOIN that follows."""
        await self.expect("NICK")
        self.send(":tmi.twitch.tv 001 toxbot :Welcome, GLHF!")
        return await self.expect("JOIN")

    def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\r\n" for line in lines).encode())

    async def sync(self, token: str = "sync") -> None:
        """PING and wait for the PONG: the listener has read everything sent before."""
        self.send(f"PING :{token}")
        assert (await self.expect("PONG")).params == (token,)

    async def hung_up(self) -> bool:
        """Wait until the client closes the connection."""
        while await self.reader.read(4096):
            pass
        return True

    def drop(self) -> None:
        """Cut the connection without a goodbye, as a network failure would."""
        self.writer.transport.abort()


class FakeIrcServer:
    """An IRC server on 127.0.0.1 that hands each accepted connection to the test."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._clients: asyncio.Queue[FakeClient] = asyncio.Queue()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "FakeIrcServer":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await self._clients.put(FakeClient(reader, writer))

    async def next_client(self) -> FakeClient:
        return await self._clients.get()


class RecordWaiter(logging.Handler):
    """Collect the listener's log records and let a coroutine wait for the ones it expects."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._loop.call_soon_threadsafe(self._changed.set)

    async def wait(self, predicate: Callable[[logging.LogRecord], bool], count: int = 1) -> list:
        while len(matches := [r for r in self.records if predicate(r)]) < count:
            self._changed.clear()
            await self._changed.wait()
        return matches

    def __enter__(self) -> "RecordWaiter":
        logging.getLogger("classifier.chat").addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger("classifier.chat").removeHandler(self)


def run(scenario: Callable[[], Coroutine[Any, Any, T]], timeout: float = TIMEOUT) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await scenario()

    return asyncio.run(bounded())


def chat_config(port: int, **overrides: Any) -> ListenerConfig:
    options: dict[str, Any] = dict(
        channels=("Games",),
        host="127.0.0.1",
        port=port,
        tls=False,
        batch_size=50,
        batch_window=0.05,
        backoff_base=0.01,
        backoff_cap=0.05,
    )
    return ListenerConfig(**{**options, **overrides})


def start(listener: ChatListener) -> tuple[asyncio.Event, "asyncio.Task[Any]"]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(listener.run(stop))


def privmsg(message_id: str, text: str, *, author: str = "ann", display_name: str | None = None) -> str:
    tags = {
        "display-name": author.title() if display_name is None else display_name,
        "id": message_id,
        "tmi-sent-ts": "1700000000123",
        "user-id": "1",
    }
    line = irc.format_line("PRIVMSG", "#games", text, tags=tags, prefix=f"{author}!{author}@{author}.tmi")
    return line.rstrip("\r\n")


def remembering_store(into: list[IncomingMessage]) -> Callable[[list[IncomingMessage]], list[Prediction]]:
    """Return a store that keeps messages in ``into`` instead of the database; it flags any 'idiot'."""

    def store(messages: list[IncomingMessage]) -> list[Prediction]:
        into.extend(messages)
        return [
            Prediction(text=m.text, external_id=m.external_id, flagged="idiot" in m.text) for m in messages
        ]

    return store


def stored_rows() -> list[tuple[str, str, str, str, str]]:
    return list(
        Prediction.objects.order_by("external_id").values_list(
            "external_id", "channel", "author", "text", "source"
        )
    )


@pytest.mark.django_db(transaction=True)
def test_messages_are_stored_with_channel_author_message_id_and_send_time():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port)))
            client = await server.next_client()
            join = await client.welcome()
            client.send(
                privmsg("m1", TOXIC, author="ann", display_name="Ann"),
                ":tmi.twitch.tv USERNOTICE #games :not a chat message",
                privmsg("m2", CLEAN, author="bob", display_name=""),
                privmsg("m3", "   ", author="bob"),
            )
            await client.sync()
            stop.set()
            return join, await running

    join, stats = run(scenario)
    assert join.params == ("#games",)
    assert stored_rows() == [("m1", "#games", "Ann", TOXIC, "chat"), ("m2", "#games", "bob", CLEAN, "chat")]
    toxic = Prediction.objects.get(external_id="m1")
    assert toxic.flagged
    assert toxic.created_at.timestamp() == 1700000000.123
    assert (stats.received, stats.scored, stats.flagged) == (3, 2, 1)


def test_ping_is_answered_and_login_asks_for_tags_anonymously():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port), store=remembering_store([])))
            client = await server.next_client()
            await client.welcome()
            client.send("PING :tmi.twitch.tv")
            await client.expect("PONG")
            stop.set()
            await running
            return client.received

    received = run(scenario)
    assert received[0] == "CAP REQ :twitch.tv/tags twitch.tv/commands"
    assert received[1].startswith("NICK justinfan")
    assert not any(line.startswith("PASS") for line in received)
    assert received[-1] == "PONG :tmi.twitch.tv"


@pytest.mark.django_db(transaction=True)
def test_after_a_dropped_connection_the_listener_reconnects_and_stores_no_duplicate():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port)))
            first = await server.next_client()
            await first.welcome()
            first.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN))
            await first.sync()
            first.drop()
            second = await server.next_client()
            join = await second.welcome()
            # Twitch does not replay chat, but a relay or a bouncer may: m2 comes again.
            second.send(privmsg("m2", CLEAN), privmsg("m3", "gg well played"))
            await second.sync()
            stop.set()
            return join, await running

    join, stats = run(scenario)
    assert join.params == ("#games",)
    assert [row[0] for row in stored_rows()] == ["m1", "m2", "m3"]
    assert (stats.received, stats.scored, stats.duplicates) == (4, 3, 1)


def test_reconnect_command_makes_the_listener_rejoin_on_a_new_connection():
    stored: list[IncomingMessage] = []

    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port), store=remembering_store(stored)))
            first = await server.next_client()
            await first.welcome()
            first.send(privmsg("m1", CLEAN), ":tmi.twitch.tv RECONNECT")
            assert await first.hung_up()
            second = await server.next_client()
            join = await second.welcome()
            second.send(privmsg("m2", CLEAN))
            await second.sync()
            stop.set()
            await running
            return join

    assert run(scenario).params == ("#games",)
    assert [m.external_id for m in stored] == ["m1", "m2"]


def test_a_silent_server_is_pinged_then_left_for_a_new_connection():
    async def scenario():
        async with FakeIrcServer() as server:
            config = chat_config(server.port, idle_timeout=0.2)
            stop, running = start(ChatListener(config, store=remembering_store([])))
            first = await server.next_client()
            await first.welcome()
            ping = await first.expect("PING")
            assert await first.hung_up()
            await (await server.next_client()).welcome()
            stop.set()
            await running
            return ping

    assert run(scenario).params == ("toxsite",)


def test_a_refused_connection_is_retried_with_growing_delays_until_the_server_is_up():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario():
        with RecordWaiter() as waiter:
            config = chat_config(port, backoff_base=0.02, backoff_cap=1.0)
            stop, running = start(ChatListener(config, store=remembering_store([])))
            retries = await waiter.wait(lambda r: "reconnecting in" in r.getMessage(), count=3)
            async with FakeIrcServer(port) as server:
                await (await server.next_client()).welcome()
                stop.set()
                await running
            return retries

    retries = run(scenario)
    assert "ConnectionRefusedError" in retries[0].getMessage()
    delays = [record.args[-1] for record in retries[:3]]
    assert 0.02 <= delays[0] <= delays[1] <= delays[2] <= 0.16


def test_a_slow_database_never_stalls_reading_and_a_full_queue_drops_with_a_log_line(caplog):
    started, release = threading.Event(), threading.Event()
    stored: list[IncomingMessage] = []
    remember = remembering_store(stored)

    def slow_store(messages: list[IncomingMessage]) -> list[Prediction]:
        started.set()
        release.wait(TIMEOUT)
        return remember(messages)

    async def scenario():
        async with FakeIrcServer() as server:
            config = chat_config(server.port, queue_size=5, batch_size=2, batch_window=0.01)
            listener = ChatListener(config, store=slow_store)
            stop, running = start(listener)
            client = await server.next_client()
            await client.welcome()
            client.send(privmsg("m0", CLEAN))
            assert await asyncio.to_thread(started.wait, TIMEOUT)
            client.send(*(privmsg(f"m{n}", CLEAN) for n in range(1, 10)))
            await client.sync()  # answered while the database is still stuck on m0
            dropped_while_stuck = listener.stats.dropped
            release.set()
            stop.set()
            return dropped_while_stuck, await running

    dropped_while_stuck, stats = run(scenario)
    assert dropped_while_stuck == 4
    assert [m.external_id for m in stored] == ["m0", "m1", "m2", "m3", "m4", "m5"]
    assert (stats.received, stats.scored, stats.dropped) == (10, 6, 4)
    assert "dropping new ones" in caplog.text


@pytest.mark.parametrize(("failures", "stored_ids", "lost"), [(2, ["m1", "m2"], 0), (99, [], 2)])
def test_a_failed_write_is_retried_with_backoff_and_given_up_with_a_log_line(
    caplog, failures, stored_ids, lost
):
    stored: list[IncomingMessage] = []
    remember = remembering_store(stored)
    calls: list[int] = []

    def flaky_store(messages: list[IncomingMessage]) -> list[Prediction]:
        calls.append(len(messages))
        if len(calls) <= failures:
            raise OperationalError("database is locked")
        return remember(messages)

    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port), store=flaky_store))
            client = await server.next_client()
            await client.welcome()
            client.send(privmsg("m1", CLEAN), privmsg("m2", CLEAN))
            await client.sync()
            stop.set()
            return await running

    stats = run(scenario)
    assert [m.external_id for m in stored] == stored_ids
    assert (stats.scored, stats.lost) == (len(stored_ids), lost)
    assert calls == [2] * min(failures + 1, STORE_ATTEMPTS)
    assert "database is locked" in caplog.text
    assert ("gave up storing 2 messages" in caplog.text) == bool(lost)


def test_a_log_line_reports_counts_each_interval_and_they_add_up():
    async def scenario():
        with RecordWaiter() as waiter:
            async with FakeIrcServer() as server:
                config = chat_config(server.port, stats_interval=0.05)
                stop, running = start(ChatListener(config, store=remembering_store([])))
                client = await server.next_client()
                await client.welcome()
                client.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN), privmsg("m3", CLEAN))
                await client.sync()
                await waiter.wait(lambda r: getattr(r, "chat_stats", ChatStats()).scored > 0)
                stop.set()
                await running
            return [r for r in waiter.records if hasattr(r, "chat_stats")]

    reports = run(scenario)
    assert len(reports) >= 2  # at least one periodic line and the one at shutdown
    assert all("received" in r.getMessage() and "flagged" in r.getMessage() for r in reports)
    totals = [sum(getattr(r.chat_stats, name) for r in reports) for name in ("received", "scored", "flagged")]
    assert totals == [3, 3, 1]


@pytest.mark.django_db(transaction=True)
def test_the_token_is_sent_to_the_server_but_never_logged_or_printed(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    config = chat_config(0, nick="ToxBot", token=SECRET_TOKEN)

    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(ChatListener(chat_config(server.port, nick="ToxBot", token=SECRET_TOKEN)))
            first = await server.next_client()
            password = await first.expect("PASS")
            await first.welcome()
            first.send(privmsg("m1", TOXIC))
            await first.sync()
            first.drop()
            await (await server.next_client()).welcome()
            stop.set()
            return password, first.received, await running

    password, received, stats = run(scenario)
    assert password.params == (f"oauth:{SECRET_TOKEN}",)
    assert "NICK toxbot" in received
    assert stats.scored == 1
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, repr(config), repr(stats)):
        assert SECRET_TOKEN not in text
    assert "connected to 127.0.0.1" in caplog.text  # the logs were captured, and are not just empty


def test_a_refused_login_ends_the_listener_with_an_error_that_hides_the_token(caplog):
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with FakeIrcServer() as server:
            listener = ChatListener(chat_config(server.port, nick="toxbot", token=f"oauth:{SECRET_TOKEN}"))
            _, running = start(listener)
            client = await server.next_client()
            await client.expect("NICK")
            client.send(":tmi.twitch.tv NOTICE * :Login authentication failed")
            with pytest.raises(ChatLoginError, match="Login authentication failed") as refused:
                await running
            return refused.value

    error = run(scenario)
    assert SECRET_TOKEN not in str(error)
    assert SECRET_TOKEN not in caplog.text


def test_the_listener_speaks_tls_unless_told_not_to():
    async def scenario():
        async with FakeIrcServer() as server:
            stop, running = start(
                ChatListener(chat_config(server.port, tls=True), store=remembering_store([]))
            )
            client = await server.next_client()
            first_bytes = await client.reader.readexactly(3)
            stop.set()
            await running
            return first_bytes

    # A TLS handshake record (0x16) of TLS 1.x (0x03 0x01-0x03), where a plain login would start "CAP".
    assert run(scenario)[:2] == b"\x16\x03"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], ("irc.chat.twitch.tv", 6697, True)),
        (["--no-tls"], ("irc.chat.twitch.tv", 6667, False)),
        (["--host", "127.0.0.1", "--port", "7000", "--no-tls"], ("127.0.0.1", 7000, False)),
    ],
)
def test_listen_chat_defaults_to_twitch_chat_over_tls(options, expected):
    command = ListenChat()
    parsed = command.create_parser("manage.py", "listen_chat").parse_args(["--channel", "Games", *options])
    config = command._config(vars(parsed))
    assert (config.host, config.port, config.tls) == expected
    assert config.channels == ("#games",)


@pytest.mark.parametrize(
    ("overrides", "options", "message"),
    [
        ({}, ["--channel", "two words"], "not a channel name"),
        ({"TWITCH_OAUTH_TOKEN": SECRET_TOKEN}, ["--channel", "games"], "Set both TWITCH_NICK and"),
        ({"TWITCH_NICK": "toxbot", "TWITCH_OAUTH_TOKEN": "has space"}, ["--channel", "games"], "OAuth token"),
        ({"CHAT_WEBHOOK_URL": "https://hooks.example/x"}, ["--channel", "games"], "WEBHOOK_SECRET is not"),
        (
            {"CHAT_WEBHOOK_URL": "file:///etc/passwd", "CHAT_WEBHOOK_SECRET": "s"},
            ["--channel", "games"],
            "must start with https://",
        ),
        ({}, ["--channel", "games", "--batch-size", "0"], "at least 1"),
    ],
)
@pytest.mark.django_db  # the command reads the moderators' threshold policy
def test_listen_chat_refuses_a_bad_configuration_before_connecting(settings, overrides, options, message):
    for name, value in overrides.items():
        setattr(settings, name, value)
    with pytest.raises(CommandError, match=message) as refused:
        call_command("listen_chat", *options)
    assert SECRET_TOKEN not in str(refused.value)


@dataclass
class Receiver:
    url: str
    requests: list[tuple[Message, bytes]] = field(default_factory=list)
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def wait(self, count: int) -> None:
        for _ in range(count):
            assert self.arrived.acquire(timeout=TIMEOUT), "the webhook request did not arrive"


@contextmanager
def webhook_receiver(
    statuses: tuple[int, ...] = (), hold: threading.Event | None = None
) -> Iterator[Receiver]:
    """Serve HTTP on 127.0.0.1, record each POST and answer with ``statuses`` in turn, then 200."""
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((self.headers, body))
            receiver.arrived.release()
            if hold is not None:
                hold.wait(TIMEOUT)
            number = len(receiver.requests) - 1
            self.send_response(statuses[number] if number < len(statuses) else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hooks/toxsite?key=receiver-own-key"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_the_webhook_retries_a_failed_delivery_and_signs_the_body(caplog):
    with webhook_receiver(statuses=(503,)) as receiver:
        sender = WebhookSender(receiver.url, WEBHOOK_SECRET, backoff_base=0.01)
        sender.start()
        assert sender.submit({"event": "message.flagged", "message_id": "m1", "text": TOXIC})
        receiver.wait(2)
        sender.close()
    (first_headers, first_body), (headers, body) = receiver.requests
    assert body == first_body
    assert first_headers[DELIVERY_HEADER] == headers[DELIVERY_HEADER]
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected_signature(body))
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"event": "message.flagged", "message_id": "m1", "text": TOXIC}
    assert (sender.delivered, sender.failed) == (1, 0)
    assert "HTTP 503; retrying" in caplog.text.replace("(", "").replace(")", "")
    assert "receiver-own-key" not in caplog.text


def test_a_full_webhook_queue_drops_the_event_with_a_log_line_without_waiting(caplog):
    hold = threading.Event()
    with webhook_receiver(hold=hold) as receiver:
        sender = WebhookSender(receiver.url, WEBHOOK_SECRET, queue_size=1)
        sender.start()
        assert sender.submit({"message_id": "m1"})
        receiver.wait(1)  # the sender's thread is now stuck on m1
        assert sender.submit({"message_id": "m2"})
        began = time.monotonic()
        assert not sender.submit({"message_id": "m3"})
        assert time.monotonic() - began < 1.0
        hold.set()
        receiver.wait(1)
        sender.close()
    assert [json.loads(body)["message_id"] for _, body in receiver.requests] == ["m1", "m2"]
    assert sender.dropped == 1
    assert "dropped the event for message m3" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_flagged_chat_message_is_posted_to_the_webhook_and_a_clean_one_is_not():
    limits = thresholds()
    with webhook_receiver() as receiver:
        sender = WebhookSender(receiver.url, WEBHOOK_SECRET)
        sender.start()

        async def scenario():
            async with FakeIrcServer() as server:
                listener = ChatListener(
                    chat_config(server.port), on_flagged=lambda p: sender.submit(flagged_event(p, limits))
                )
                stop, running = start(listener)
                client = await server.next_client()
                await client.welcome()
                client.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN))
                await client.sync()
                stop.set()
                await running

        run(scenario)
        sender.close()
    ((headers, body),) = receiver.requests
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected_signature(body))
    event = json.loads(body)
    stored = Prediction.objects.get(external_id="m1")
    assert event["prediction_id"] == stored.pk
    assert (event["event"], event["channel"], event["author"], event["text"]) == (
        "message.flagged",
        "#games",
        "Ann",
        TOXIC,
    )
    assert event["labels"] and set(event["labels"]) <= set(LABELS)
    assert all(event["scores"][label] >= limits[label] - 1e-4 for label in event["labels"])


def subprocess_database(env: dict[str, str], tmp_path: Path) -> Callable[[], list[tuple]]:
    """Give the ``listen_chat`` subprocess a database this test can read too; return a reader of its rows.

    The subprocess cannot see the in-memory SQLite database of a SQLite test run, so there it gets a file
    database under ``tmp_path``, migrated by ``manage.py migrate`` first. On PostgreSQL it uses this run's own
    test database: the test is transactional, so what either side commits the other sees, and the test's
    flush afterwards removes it. Rows are read with the driver directly, outside Django's connections.
    """
    query = (
        "SELECT external_id, channel, author, text, flagged FROM classifier_prediction ORDER BY external_id"
    )
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        url = (
            f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or 'localhost'}:"
            f"{db['PORT'] or 5432}/{quote(db['NAME'])}"
        )
        env["DATABASE_URL"] = url

        def read_postgres() -> list[tuple]:
            with psycopg.connect(url) as conn:
                return conn.execute(query).fetchall()

        return read_postgres
    env["TOXSITE_DATA_DIR"] = str(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )

    def read_sqlite() -> list[tuple]:
        with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
            return conn.execute(query).fetchall()

    return read_sqlite


@pytest.mark.django_db(transaction=True)
def test_sigterm_stores_the_pending_batch_and_sends_its_webhooks_before_exiting(tiny_model_path, tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "TWITCH_", "TOXSITE_", "DJANGO_", "MODEL_PATH"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="toxsite.settings",
        SECRET_KEY="listen-chat-subprocess-test",
        MODEL_PATH=str(tiny_model_path),
        TWITCH_NICK="toxbot",
        TWITCH_OAUTH_TOKEN=SECRET_TOKEN,
        TOXSITE_CHAT_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOG_LEVEL="DEBUG",
    )
    read_rows = subprocess_database(env, tmp_path)

    async def scenario():
        async with FakeIrcServer() as server:
            # A batch of 1,000 or a minute: nothing is stored before SIGTERM unless shutdown flushes it.
            command = ["listen_chat", "--channel", "games", "--host", "127.0.0.1", "--port", str(server.port)]
            command += ["--no-tls", "--batch-size", "1000", "--batch-window", "60"]
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "manage.py",
                *command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                client = await server.next_client()
                await client.welcome()
                client.send(privmsg("m1", TOXIC), privmsg("m2", CLEAN, author="bob"), privmsg("m3", "gg"))
                await client.sync()
                before = await asyncio.to_thread(read_rows)
                process.send_signal(signal.SIGTERM)
                out, err = await process.communicate()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            return before, process.returncode, out.decode(), err.decode()

    with webhook_receiver() as receiver:
        env["TOXSITE_CHAT_WEBHOOK_URL"] = receiver.url
        before, returncode, out, err = run(scenario, timeout=60)
    assert before == []
    assert returncode == 0, err
    rows = read_rows()
    assert [row[:4] for row in rows] == [
        ("m1", "#games", "Ann", TOXIC),
        ("m2", "#games", "Bob", CLEAN),
        ("m3", "#games", "Ann", "gg"),
    ]
    assert "3 scored and stored" in out
    assert "SIGTERM" in err
    assert SECRET_TOKEN not in out + err
    # The webhook's thread was flushed too: one signed event per flagged row, the toxic one among them.
    events = [json.loads(body)["message_id"] for _, body in receiver.requests]
    assert "m1" in events
    assert events == [row[0] for row in rows if row[4]]
    assert all(headers[SIGNATURE_HEADER] == expected_signature(body) for headers, body in receiver.requests)
