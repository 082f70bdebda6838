"""A value kept in this process for a second, in front of Django's cache.

Every scoring call needs the threshold policy and the moderators' terms. Reading them from Django's cache
costs a key check, a lock and an unpickle each time (about 35 us with the local-memory cache, a round trip
with Redis); a one-second memo makes that once a second per process. A change made in this process clears
the memo at once; other processes see it within ``seconds``, on top of their cache's own expiry.
"""

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Memo(Generic[Value]):
    """Remember what ``compute`` returned for ``seconds`` in this process."""

    def __init__(self, compute: Callable[[], Value], seconds: float = 1.0) -> None:
        self._compute = compute
        self._seconds = seconds
        self._entry: tuple[float, Value] | None = None
        self._generation = 0  # bumped by clear(): a value computed across a clear() is not kept
        self._lock = threading.Lock()

    def get(self) -> Value:
        entry, generation, now = self._entry, self._generation, time.monotonic()
        if entry is not None and now - entry[0] < self._seconds:
            return entry[1]
        value = self._compute()
        with self._lock:
            if self._generation == generation:
                self._entry = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entry = None
            self._generation += 1
