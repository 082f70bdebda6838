"""Bulk re-scoring of stored predictions: filtered, skipping what the current model scored, resumable.

Rows stream by keyset pagination (``id > last``); each chunk is scored in one vectorised call and written with
one set-based statement, its revisions and the run's progress in one transaction. A run is recorded in
``ReclassifyRun``, so an interrupted one resumes after the last chunk it committed.

With several workers, SQLite (one writer at a time) has this process read and write every chunk while the
workers only score, a few chunks ahead; PostgreSQL has each worker claim, score and write chunks of its own.
"""

import ctypes
import itertools
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from django.db import connection, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .ml import LABELS
from .models import Prediction, ReclassifyRun
from .scoring import ScoredBatch, current_model, score_texts
from .services import RescoreReport, chunk_rescore, scores_write


class NothingToResume(Exception):
    """There is no unfinished run of the current model to resume."""


class WorkerLost(Exception):
    """A worker process died (killed, out of memory); what was committed before is kept."""


class ModelChanged(Exception):
    """The model file was replaced during a run; what was committed before is kept."""


@dataclass(frozen=True)
class ReclassifyFilters:
    """Which stored predictions a run looks at."""

    since: datetime | None = None
    until: datetime | None = None
    flagged_only: bool = False
    model_version: str = ""
    limit: int | None = None
    force: bool = False
    id_from: int | None = None  # a worker's slice: ids from ``id_from`` up to, not including, ``id_below``
    id_below: int | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("since", "until"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ReclassifyFilters":
        dates = {
            key: datetime.fromisoformat(data[key]) if data.get(key) else None for key in ("since", "until")
        }
        return cls(**{**data, **dates})


def reclassify_candidates(*, filters: ReclassifyFilters, version: str) -> QuerySet[Prediction]:
    """Return the predictions a run with ``filters`` re-scores with model ``version`` (pruned ones never)."""
    rows = Prediction.objects.filter(pruned_at__isnull=True)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.flagged_only:
        rows = rows.filter(flagged=True)
    if filters.model_version:
        rows = rows.filter(model_version=filters.model_version)
    if not filters.force:
        rows = rows.exclude(model_version=version)
    if filters.id_from is not None:
        rows = rows.filter(id__gte=filters.id_from)
    if filters.id_below is not None:
        rows = rows.filter(id__lt=filters.id_below)
    return rows


def _chunks(
    rows: QuerySet[Prediction], *, after: int, chunk_size: int, limit: int | None
) -> Iterator[list[tuple]]:
    """Yield (id, text, six scores..., flagged) rows of ``rows`` with id over ``after``, in id order."""
    last_id = after
    while limit is None or limit > 0:
        size = chunk_size if limit is None else min(chunk_size, limit)
        chunk = list(
            rows.filter(id__gt=last_id).order_by("id").values_list("id", "text", *LABELS, "flagged")[:size]
        )
        if not chunk:
            return
        yield chunk
        last_id = chunk[-1][0]
        if limit is not None:
            limit -= len(chunk)


def planner_statistics_refresh() -> None:
    """On PostgreSQL, refresh the planner's statistics of the messages before paging through them.

    Right after a bulk load the table has none, or ones from when it was small; the planner then reads each
    chunk by scanning and sorting the whole table instead of walking the primary key from ``last_id``.
    ANALYZE reads a sample of fixed size, whatever the size of the table.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(Prediction._meta.db_table)}")


# Workers claim chunks of the least advanced run no other worker holds, so the runs advance together; with
# more runs than workers none sits out the end because the only runs left are locked by the others.
RANGES_PER_WORKER = 4


def reclassify_runs_start(
    *, filters: ReclassifyFilters, resume: bool, workers: int = 1
) -> list[ReclassifyRun]:
    """Record the runs of a new pass: on PostgreSQL ``RANGES_PER_WORKER`` per worker over disjoint id ranges
    of about equal size, on SQLite one (its workers only score; this process writes).

    With ``resume``, record nothing and return every unfinished run of the current model instead.
    """
    version = current_model().version
    if resume:
        runs = list(
            ReclassifyRun.objects.filter(model_version=version, finished_at__isnull=True).order_by("id")
        )
        if not runs:
            raise NothingToResume(
                f"No unfinished reclassify run of model {version} to resume; run without --resume."
            )
        return runs
    if workers > 1 and filters.limit is not None and connection.vendor == "postgresql":
        raise ValueError("A limit and several workers do not go together on PostgreSQL.")
    slices = [filters]
    if workers > 1 and connection.vendor == "postgresql":
        rows = (
            reclassify_candidates(filters=filters, version=version)
            .order_by("id")
            .values_list("id", flat=True)
        )
        total, parts = rows.count(), workers * RANGES_PER_WORKER
        starts = {rows[total * k // parts] for k in range(1, parts) if 0 < total * k // parts < total}
        bounds = [None, *sorted(starts), None]
        slices = [replace(filters, id_from=a, id_below=b) for a, b in itertools.pairwise(bounds)]
    return [
        ReclassifyRun.objects.create(
            model_version=version, options=part.to_json(), label_changes=dict.fromkeys(LABELS, 0)
        )
        for part in slices
    ]


def reclassify_remaining(*, runs: list[ReclassifyRun]) -> int:
    """Return how many rows ``runs`` still have to scan."""
    return sum(_remaining(run) for run in runs)


def _remaining(run: ReclassifyRun) -> int:
    """Return how many rows ``run`` still has to scan."""
    filters = ReclassifyFilters.from_json(run.options)
    count = (
        reclassify_candidates(filters=filters, version=run.model_version).filter(id__gt=run.last_id).count()
    )
    return count if filters.limit is None else min(count, max(filters.limit - run.scanned, 0))


def _report_of(run: ReclassifyRun) -> RescoreReport:
    return RescoreReport(
        scanned=run.scanned,
        rescored=run.rescored,
        newly_flagged=run.newly_flagged,
        newly_unflagged=run.newly_unflagged,
        label_changes={label: run.label_changes.get(label, 0) for label in LABELS},
    )


def reclassify_dry_run(
    *, filters: ReclassifyFilters, chunk_size: int = 2000, on_chunk: Callable[[int], None] | None = None
) -> RescoreReport:
    """Report what a run with ``filters`` would change, per label; write nothing."""
    report = RescoreReport()
    planner_statistics_refresh()
    rows = reclassify_candidates(filters=filters, version=current_model().version)
    for chunk in _chunks(rows, after=0, chunk_size=chunk_size, limit=filters.limit):
        chunk_rescore(chunk, report)
        if on_chunk:
            on_chunk(len(chunk))
    return report


def _same_model(writes: list, version: str) -> None:
    """Refuse scores of another model than the run's: the model file was replaced during the run."""
    if writes and writes[0][7] != version:
        raise ModelChanged(
            f"The model file changed during the run (now {writes[0][7]}, the run is for {version}). The "
            "chunks committed before are kept: run `manage.py reclassify` again to re-score with the new "
            "model."
        )


def _scored(
    chunks: Iterator[list[tuple]], scorers: ProcessPoolExecutor | None, ahead: int
) -> Iterator[tuple[list[tuple], ScoredBatch | None]]:
    """Yield each chunk with its scores from ``scorers``, which score up to ``ahead`` chunks in advance;
    without ``scorers``, with None (the caller scores)."""
    if scorers is None:
        yield from ((chunk, None) for chunk in chunks)
        return
    pending: deque = deque()
    for chunk in chunks:
        pending.append((chunk, scorers.submit(score_texts, [row[1] for row in chunk])))
        if len(pending) > ahead:
            first, batch = pending.popleft()
            yield first, batch.result()
    while pending:
        first, batch = pending.popleft()
        yield first, batch.result()


def reclassify_run_execute(
    *,
    run: ReclassifyRun,
    chunk_size: int = 2000,
    on_chunk: Callable[[int], None] | None = None,
    scorers: ProcessPoolExecutor | None = None,
    ahead: int = 0,
) -> RescoreReport:
    """Re-score the rows of ``run`` after ``last_id``; a chunk, its revisions and progress commit together.

    With ``scorers``, chunks are scored in those processes, up to ``ahead`` of the one being written. Return
    the totals of the whole run, including what it did before an interruption.
    """
    if current_model().version != run.model_version:
        raise ValueError(f"Run {run.pk} is for model {run.model_version}, not the loaded one.")
    filters = ReclassifyFilters.from_json(run.options)
    limit = None if filters.limit is None else max(filters.limit - run.scanned, 0)
    rows = reclassify_candidates(filters=filters, version=run.model_version)
    report = _report_of(run)
    chunks = _chunks(rows, after=run.last_id, chunk_size=chunk_size, limit=limit)
    for chunk, batch in _scored(chunks, scorers, ahead):
        ids, writes = chunk_rescore(chunk, report, batch)
        _same_model(writes, run.model_version)
        report.rescored += len(writes)
        with transaction.atomic():
            scores_write(writes)
            run.last_id = ids[-1]
            run.scanned, run.rescored = report.scanned, report.rescored
            run.newly_flagged, run.newly_unflagged = report.newly_flagged, report.newly_unflagged
            run.label_changes = dict(report.label_changes)
            run.save()
        if on_chunk:
            on_chunk(len(ids))
    run.finished_at = timezone.now()
    run.save(update_fields=["finished_at"])
    return report


def _claim_and_execute(
    *, pks: list[int], chunk_size: int, on_chunk: Callable[[int], None] | None = None
) -> RescoreReport:
    """Re-score the runs ``pks`` a chunk at a time, sharing them safely with other processes (PostgreSQL).

    Each chunk is claimed by locking its run's row with ``SELECT ... FOR UPDATE SKIP LOCKED`` for the
    transaction that scores and writes it, so another copy skips to another run instead of waiting, and a run
    is never advanced twice from the same ``last_id``. Return the totals of the runs.
    """
    version = current_model().version
    while True:
        with transaction.atomic():
            run = (
                ReclassifyRun.objects.select_for_update(skip_locked=True)
                .filter(pk__in=pks, finished_at__isnull=True, model_version=version)
                .order_by("scanned", "id")
                .first()
            )
            if run is None:  # all done, or the rest are in another process's hands
                break
            filters = ReclassifyFilters.from_json(run.options)
            limit = None if filters.limit is None else max(filters.limit - run.scanned, 0)
            rows = reclassify_candidates(filters=filters, version=version)
            chunk = next(_chunks(rows, after=run.last_id, chunk_size=chunk_size, limit=limit), None)
            if chunk is None:
                run.finished_at = timezone.now()
                run.save(update_fields=["finished_at"])
                continue
            report = _report_of(run)
            ids, writes = chunk_rescore(chunk, report)
            _same_model(writes, version)
            scores_write(writes)
            run.last_id = ids[-1]
            run.scanned, run.rescored = report.scanned, report.rescored + len(writes)
            run.newly_flagged, run.newly_unflagged = report.newly_flagged, report.newly_unflagged
            run.label_changes = dict(report.label_changes)
            run.save()
        if on_chunk:
            on_chunk(len(ids))
    return _sum([_report_of(run) for run in ReclassifyRun.objects.filter(pk__in=pks)])


def _sum(reports: list[RescoreReport]) -> RescoreReport:
    total = RescoreReport()
    for report in reports:
        total.scanned += report.scanned
        total.rescored += report.rescored
        total.newly_flagged += report.newly_flagged
        total.newly_unflagged += report.newly_unflagged
        for label in LABELS:
            total.label_changes[label] += report.label_changes[label]
    return total


def _claim_in_worker(chunk_size: int, pks: list[int]) -> None:
    try:  # workers share all the runs, so none idles while work is left
        _claim_and_execute(pks=pks, chunk_size=chunk_size)
    finally:
        connections.close_all()


def _worker_start(parent: int) -> None:
    """Set up a worker: the kernel kills it when ``parent`` (the command) dies, on Linux, so a killed command
    leaves no workers behind; Ctrl-C is the command's to handle (it stops the workers itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            return
    except (OSError, AttributeError):  # not Linux: a worker outlives a killed command until its task ends
        return
    if os.getppid() != parent:  # the command died before the request was made
        os._exit(1)


_PR_SET_PDEATHSIG = 1


@contextmanager
def _workers(processes: int) -> Iterator[ProcessPoolExecutor]:
    """Fork ``processes`` workers; the loaded model is shared copy-on-write.

    This process's connections are closed first, so no process uses another's: each worker opens its own
    (a scoring worker only to read the thresholds and terms). A worker that dies raises ``WorkerLost`` here
    instead of leaving its task waited for forever. When this process fails or is interrupted, the workers
    are stopped at once: a worker claiming chunks (PostgreSQL) would otherwise go on to the end, and its
    open transaction is rolled back.
    """
    current_model()
    connections.close_all()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        processes, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
    )
    try:
        pool.submit(int).result()  # forks every worker now, while this process has no connection open
        yield pool
    except BaseException as exc:
        for process in list(pool._processes.values()):  # Python 3.14's terminate_workers(); 3.11 has none
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(exc, BrokenProcessPool):
            raise WorkerLost(
                "A reclassify worker process died (killed, or out of memory?). The chunks committed before "
                "are kept: run `manage.py reclassify --resume` to continue, with fewer --workers if memory "
                "is short."
            ) from exc
        raise
    pool.shutdown(wait=True)


def reclassify_runs_execute(
    *,
    runs: list[ReclassifyRun],
    chunk_size: int = 2000,
    workers: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> RescoreReport:
    """Execute ``runs`` in this process, with ``workers`` processes.

    On SQLite this process reads and writes every chunk, one run after the other, and ``workers`` processes
    score them (SQLite has one writer at a time: writing workers would wait on each other's locks). On
    PostgreSQL chunks are claimed with ``SKIP LOCKED``, so several copies (or workers, each claiming,
    scoring and writing) share the runs safely; progress is read from the runs' committed totals.
    """
    planner_statistics_refresh()
    if connection.vendor != "postgresql":
        with _workers(workers) if workers > 1 else nullcontext() as scorers:
            reports = [
                reclassify_run_execute(
                    run=run, chunk_size=chunk_size, on_chunk=on_chunk, scorers=scorers, ahead=2 * workers
                )
                for run in runs
            ]
        return _sum(reports)
    if workers <= 1:
        return _claim_and_execute(pks=[run.pk for run in runs], chunk_size=chunk_size, on_chunk=on_chunk)
    pks = [run.pk for run in runs]
    seen = sum(run.scanned for run in runs)
    processes = min(workers, len(runs))
    with _workers(processes) as pool:
        pending = {pool.submit(_claim_in_worker, chunk_size, pks) for _ in range(processes)}
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            for task in done:
                task.result()  # re-raises a worker's exception
            if on_chunk:
                now = sum(ReclassifyRun.objects.filter(pk__in=pks).values_list("scanned", flat=True))
                on_chunk(now - seen)
                seen = now
    connections.close_all()
    return _sum([_report_of(run) for run in ReclassifyRun.objects.filter(pk__in=pks)])
