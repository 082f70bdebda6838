"""Read chat from an IRC server and hand each message to the micro-batch writer; reconnect when it drops.

Three asyncio tasks share one queue: the reader (one connection at a time, reconnecting with exponential
backoff and jitter), the writer (``batches.BatchWriter``: micro-batches scored and stored from a database
thread) and a reporter that logs counts once a minute. The reader never waits for the database: when
``queue_size`` messages are waiting it drops new ones and counts them, so PINGs are answered however slow the
writes are.
"""

import asyncio
import logging
import signal
import ssl
import time
from contextlib import suppress
from dataclasses import astuple, dataclass, field

from django.db.models import CharField

from classifier.models import Prediction
from classifier.services import IncomingMessage
from classifier.validators import is_blank

from . import irc
from .backoff import backoff_delay
from .batches import BatchWriter, ChatStats, OnFlagged, Store, store_chat

logger = logging.getLogger(__name__)

# A connection that stayed up this long was healthy: the next reconnect starts the backoff afresh.
STABLE_SECONDS = 60.0


def _max_length(name: str) -> int:
    column = Prediction._meta.get_field(name)
    assert isinstance(column, CharField) and column.max_length
    return column.max_length


# Longest channel, author and message id the Prediction columns hold.
_CHANNEL_LENGTH = _max_length("channel")
_AUTHOR_LENGTH = _max_length("author")
_ID_LENGTH = _max_length("external_id")
_READ_SIZE = 64 * 1024


class ChatLoginError(Exception):
    """The server refused the nick and token."""


@dataclass(frozen=True)
class ListenerConfig:
    """Where to connect, who to log in as and how to batch. ``token`` never appears in a repr or a log."""

    channels: tuple[str, ...]
    host: str = irc.TWITCH_HOST
    port: int = irc.TLS_PORT
    tls: bool = True
    nick: str = ""
    token: str = field(default="", repr=False)
    batch_size: int = 200
    batch_window: float = 0.5
    queue_size: int = 10_000
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    stats_interval: float = 60.0
    # Twitch PINGs about every five minutes; after this long without a line the client PINGs, and after
    # twice this long it reconnects.
    idle_timeout: float = 360.0
    connect_timeout: float = 15.0
    join_pause: float = 10.5


class ChatListener:
    """Listen to the configured channels until told to stop; see the module docstring."""

    def __init__(
        self, config: ListenerConfig, *, store: Store = store_chat, on_flagged: OnFlagged | None = None
    ) -> None:
        if config.token and not config.nick:
            raise ValueError("A token needs the nick it belongs to.")
        self.config = config
        self.stats = ChatStats()
        self._password = irc.oauth_password(config.token) if config.token else ""
        self._nick = irc.nick_name(config.nick) if config.token else irc.anonymous_nick()
        self._channels = [irc.channel_name(name) for name in config.channels]
        # Unbounded as a queue so that the end marker always fits; _receive keeps it to queue_size.
        self._queue: asyncio.Queue[IncomingMessage | None] = asyncio.Queue()
        self._writer = BatchWriter(
            self._queue,
            self.stats,
            batch_size=config.batch_size,
            batch_window=config.batch_window,
            store=store,
            on_flagged=on_flagged,
            retry_base=config.backoff_base,
        )
        self._reported = ChatStats()
        self._reported_at = time.monotonic()
        self._warned_full = False
        self._joining: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> ChatStats:
        """Listen until ``stop`` is set, then store every message read and return the counts.

        Raise ``ChatLoginError`` when the server refuses the login, after storing what was read.
        """
        reading = asyncio.create_task(self._read_forever(), name="chat-read")
        writing = asyncio.create_task(self._writer.run(), name="chat-write")
        reporting = asyncio.create_task(self._report_every(), name="chat-report")
        stopping = asyncio.create_task(stop.wait(), name="chat-stop")
        try:
            await asyncio.wait({reading, writing, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            reading.cancel()
            (outcome,) = await asyncio.gather(reading, return_exceptions=True)
            self._queue.put_nowait(None)
            try:
                await writing
            finally:
                reporting.cancel()
                self._report()
        if isinstance(outcome, Exception):
            raise outcome
        return self.stats

    async def _read_forever(self) -> None:
        """Keep one connection open, reconnecting with exponential backoff and jitter."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            started = loop.time()
            try:
                reason = await self._session()
            except ChatLoginError:
                raise
            except (OSError, TimeoutError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception:
                logger.exception("chat: unexpected error on the connection to %s:%d", cfg.host, cfg.port)
                reason = "unexpected error"
            attempt = 0 if loop.time() - started >= STABLE_SECONDS else attempt + 1
            delay = backoff_delay(attempt, base=cfg.backoff_base, cap=cfg.backoff_cap)
            logger.warning(
                "chat: disconnected from %s:%d (%s); reconnecting in %.1f s",
                cfg.host,
                cfg.port,
                reason,
                delay,
            )
            await asyncio.sleep(delay)

    async def _session(self) -> str:
        """Connect, log in, join and read until the connection ends; return why it ended."""
        cfg = self.config
        context = ssl.create_default_context() if cfg.tls else None
        async with asyncio.timeout(cfg.connect_timeout):
            reader, writer = await asyncio.open_connection(cfg.host, cfg.port, ssl=context)
        self._joining = None
        try:
            writer.write("".join(irc.login_lines(self._nick, self._password)).encode())
            await writer.drain()
            logger.info("chat: connected to %s:%d as %s", cfg.host, cfg.port, self._nick)
            pinged = False
            partial = b""
            while True:
                try:
                    async with asyncio.timeout(cfg.idle_timeout):
                        # Whole chunks, not line by line: a busy channel sends thousands of lines a second.
                        chunk = await reader.read(_READ_SIZE)
                except TimeoutError:
                    if pinged:
                        return "no answer to PING"
                    writer.write(irc.ping_line("toxsite").encode())
                    pinged = True
                    continue
                if not chunk:
                    return "closed by the server"
                pinged = False
                *lines, partial = (partial + chunk).split(b"\n")
                if len(partial) > _READ_SIZE:
                    raise ValueError("the server sent a line longer than 64 KiB")
                for raw in lines:
                    if ended := self._handle(raw, writer):
                        return ended
                await writer.drain()
        finally:
            if self._joining is not None:
                self._joining.cancel()
            writer.close()
            with suppress(Exception):
                async with asyncio.timeout(1):
                    await writer.wait_closed()

    def _handle(self, raw: bytes, writer: asyncio.StreamWriter) -> str | None:
        """Act on one received line; return why the connection should end, if it should."""
        try:
            message = irc.parse_line(raw.decode("utf-8", "replace"))
        except irc.IrcParseError:
            if raw.strip():
                logger.debug("chat: ignored a line that is not IRC: %r", raw[:200])
            return None
        if message.command == "PRIVMSG":
            self._receive(message)
        elif message.command == "PING":
            writer.write(irc.pong_line(message).encode())
        elif message.command == "RECONNECT":
            return "the server asked for a reconnect"
        elif message.command == "001" and self._joining is None:
            self._joining = asyncio.create_task(self._join(writer))
        elif irc.is_login_failure(message):
            raise ChatLoginError(message.params[-1])
        elif message.command == "CAP" and message.params[1:2] == ("NAK",):
            logger.warning("chat: the server refused the tags capability: messages have no ids")
        return None

    async def _join(self, writer: asyncio.StreamWriter) -> None:
        for number, line in enumerate(irc.join_lines(self._channels)):
            if number:
                await asyncio.sleep(self.config.join_pause)
            writer.write(line.encode())
            await writer.drain()
        logger.info("chat: joined %s", ", ".join(self._channels))

    def _receive(self, message: irc.IrcMessage) -> None:
        """Queue the chat message a PRIVMSG carries, or drop it when the queue is full."""
        chat = irc.chat_message(message)
        if chat is None:
            return
        self.stats.received += 1
        text = chat.text.replace("\x00", "")
        if is_blank(text):
            return
        if self._queue.qsize() >= self.config.queue_size:
            self.stats.dropped += 1
            if not self._warned_full:
                logger.warning(
                    "chat: %d messages are waiting for the database: dropping new ones until it catches up",
                    self._queue.qsize(),
                )
                self._warned_full = True
            return
        self._queue.put_nowait(
            IncomingMessage(
                text=text,
                channel=chat.channel[:_CHANNEL_LENGTH],
                author=chat.author[:_AUTHOR_LENGTH],
                # A longer id is not Twitch's; storing it cut short could merge two messages.
                external_id=chat.message_id if len(chat.message_id) <= _ID_LENGTH else "",
                created_at=chat.sent_at,
            )
        )

    async def _report_every(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_interval)
            self._report()

    def _report(self) -> None:
        """Log what happened since the last report; the counts ride along as ``record.chat_stats``."""
        now = time.monotonic()
        delta = self.stats.minus(self._reported)
        logger.info(
            "chat: %d received, %d scored, %d flagged, %d duplicates, %d dropped, %d lost in %.0f s; "
            "%d queued",
            *astuple(delta),
            now - self._reported_at,
            self._queue.qsize(),
            extra={"chat_stats": delta},
        )
        self._reported = ChatStats(*astuple(self.stats))
        self._reported_at = now
        self._warned_full = False


async def listen_until_signalled(listener: ChatListener) -> ChatStats:
    """Run ``listener`` until SIGINT or SIGTERM, then store what was read; a second signal acts as usual."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal(signum: int) -> None:
        logger.info("chat: %s: storing what was read, then stopping", signal.Signals(signum).name)
        for each in signals:
            loop.remove_signal_handler(each)
        stop.set()

    for each in signals:
        loop.add_signal_handler(each, on_signal, each)
    try:
        return await listener.run(stop)
    finally:
        for each in signals:
            loop.remove_signal_handler(each)
