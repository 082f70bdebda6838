"""Coalesce the classify requests that one worker process serves at the same time into one batch.

Scoring one message costs about as much as scoring twenty (the fixed cost of the feature pipeline), and so
does a database transaction. With threaded gunicorn workers, requests that arrive while a batch is being
scored wait for it to finish and then go together: one scoring call and one insert for all of them. An idle
server adds no wait: a request that finds nothing running is processed at once.

The thread that runs a batch is one of the waiting requests' own threads (the first in line): there is no
background thread to start, stop or lose in a fork.
"""

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Job(Generic[Item, Result]):
    __slots__ = ("error", "finished", "items", "results", "wake")

    def __init__(self, items: Sequence[Item]) -> None:
        self.items = items
        self.results: list[Result] = []
        self.error: BaseException | None = None
        self.finished = False
        self.wake = threading.Event()


class Coalescer(Generic[Item, Result]):
    """Run ``process`` on the items of concurrent ``submit`` calls together, first come first served.

    ``process`` gets the items of several submissions in order and returns one result per item; each
    submission gets the results of its own items, or the exception ``process`` raised for the batch.
    A batch holds at most ``max_items`` items, except that one submission is never split.
    """

    def __init__(self, process: Callable[[list[Item]], list[Result]], max_items: int) -> None:
        self._process = process
        self._max_items = max_items
        self._lock = threading.Lock()
        self._queue: list[_Job[Item, Result]] = []
        self._running = False

    def submit(self, items: Sequence[Item]) -> list[Result]:
        job: _Job[Item, Result] = _Job(items)
        with self._lock:
            self._queue.append(job)
            lead = not self._running
            self._running = True
        if not lead:
            job.wake.wait()  # until a batch holding this job ran, or this thread's turn to run one came
        if not job.finished:
            self._run_batch()  # this job is first in the queue, so it is in this batch
        if job.error is not None:
            raise job.error
        return job.results

    def _run_batch(self) -> None:
        with self._lock:
            batch: list[_Job[Item, Result]] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].items) <= self._max_items):
                batch.append(self._queue.pop(0))
                size += len(batch[-1].items)
        try:
            results = self._process([item for job in batch for item in job.items])
            start = 0
            for job in batch:
                job.results = results[start : start + len(job.items)]
                start += len(job.items)
        except BaseException as exc:
            for job in batch:
                job.error = exc
        with self._lock:
            for job in batch:
                job.finished = True
                job.wake.set()
            if self._queue:
                self._queue[0].wake.set()  # the next in line runs the next batch
            else:
                self._running = False
