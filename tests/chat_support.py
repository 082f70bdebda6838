"""Helpers for the live-chat tests: a local IRC server, a local webhook receiver, the stored rows' query.

Nothing leaves 127.0.0.1.
"""

import asyncio
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from classifier.chat import irc
from classifier.chat.listener import ChatListener, ListenerConfig
from classifier.models import Prediction
from classifier.services import IncomingMessage

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


# The rows a listen_chat subprocess stored, for ``subprocess_support.subprocess_database``'s reader.
STORED_ROWS = (
    "SELECT external_id, channel, author, text, flagged FROM classifier_prediction ORDER BY external_id"
)
