"""Micro-batches from the reader's queue to the database, written from one thread of their own.

The Django ORM is synchronous, so each micro-batch is scored and stored in a dedicated thread while the event
loop goes on reading. One thread (not asyncio's shared pool) means one database connection, kept open for the
whole run rather than closed after each batch as CONN_MAX_AGE=0 would have it: on SQLite reopening it per
micro-batch doubled the cost of a write (closing the last connection checkpoints the WAL). It is closed after
an error, so that the retry reconnects, and at the end.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass

from django.db import connections

from classifier.models import Prediction, Source
from classifier.services import IncomingMessage, predictions_create_many

from .backoff import backoff_delay

logger = logging.getLogger(__name__)

# Tries to store one micro-batch (a database restart, a lock timeout) before its messages are given up.
STORE_ATTEMPTS = 5

Store = Callable[[list[IncomingMessage]], Sequence[Prediction]]
OnFlagged = Callable[[Prediction], object]


@dataclass
class ChatStats:
    """Counts of what the listener did; ``lost`` are messages that could not be stored after retries."""

    received: int = 0
    scored: int = 0
    flagged: int = 0
    duplicates: int = 0
    dropped: int = 0
    lost: int = 0

    def minus(self, other: "ChatStats") -> "ChatStats":
        return ChatStats(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


def store_chat(messages: list[IncomingMessage]) -> Sequence[Prediction]:
    """Score and store ``messages`` as live chat; a message id stored already is skipped."""
    return predictions_create_many(messages=messages, source=Source.CHAT)


class BatchWriter:
    """Store messages from ``queue`` in micro-batches of ``batch_size`` messages or ``batch_window`` seconds.

    A ``None`` in the queue means the reader has stopped: what is left is stored, then ``run`` returns.
    """

    def __init__(
        self,
        queue: "asyncio.Queue[IncomingMessage | None]",
        stats: ChatStats,
        *,
        batch_size: int,
        batch_window: float,
        store: Store = store_chat,
        on_flagged: OnFlagged | None = None,
        retry_base: float = 1.0,
    ) -> None:
        self._queue = queue
        self._stats = stats
        self._batch_size = batch_size
        self._batch_window = batch_window
        self._store = store
        self._on_flagged = on_flagged
        self._retry_base = retry_base

    async def run(self) -> None:
        """Store micro-batches until the queue ends, then close the database thread's connections."""
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-store")
        try:
            done = False
            while not done:
                batch, done = await self._collect()
                if not batch:
                    continue
                stored = await loop.run_in_executor(executor, self._store_batch, batch)
                if stored is None:
                    self._stats.lost += len(batch)
                    continue
                self._stats.scored += len(stored)
                self._stats.duplicates += len(batch) - len(stored)
                self._stats.flagged += sum(prediction.flagged for prediction in stored)
        finally:
            await loop.run_in_executor(executor, connections.close_all)
            executor.shutdown()

    async def _collect(self) -> tuple[list[IncomingMessage], bool]:
        """Return the next micro-batch and whether the queue has ended."""
        item = await self._queue.get()
        if item is None:
            return [], True
        batch = [item]
        deadline = asyncio.get_running_loop().time() + self._batch_window
        while len(batch) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await self._queue.get()
                except TimeoutError:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _store_batch(self, batch: list[IncomingMessage]) -> Sequence[Prediction] | None:
        """Store one micro-batch (in the database thread), retrying with backoff; ``None`` if it failed."""
        for attempt in range(STORE_ATTEMPTS):
            try:
                stored = self._store(batch)
            except Exception:
                logger.exception(
                    "chat: storing %d messages failed (attempt %d of %d)",
                    len(batch),
                    attempt + 1,
                    STORE_ATTEMPTS,
                )
                connections.close_all()  # this thread's only: the retry must not reuse a broken connection
                if attempt + 1 < STORE_ATTEMPTS:
                    time.sleep(backoff_delay(attempt, base=self._retry_base, cap=30.0))
                continue
            if self._on_flagged is not None:
                for prediction in stored:
                    if prediction.flagged:
                        try:
                            self._on_flagged(prediction)
                        except Exception:
                            logger.exception("chat: the flagged-message hook failed")
            return stored
        logger.error("chat: gave up storing %d messages", len(batch))
        return None
