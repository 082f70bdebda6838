"""Write operations on predictions. Views, the admin and commands call these; each rule lives here once."""

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .ml import LABELS
from .models import Feedback, Prediction, RevisionCause, ScoreRevision, Source
from .moderation import revisions_copy
from .rollup import RollupDelta, sqlite_slot, sqlite_update_trigger_paused
from .scoring import ScoredBatch, score_texts
from .selectors import prediction_chunks
from .validators import is_blank


def prediction_create(*, text: str, source: Source) -> Prediction:
    """Score ``text`` with the loaded model and store it with its scores."""
    batch = score_texts([text])
    prediction = Prediction(
        text=text,
        flagged=bool(batch.flagged[0]),
        blocked_label=batch.blocked[0],
        model_version=batch.model_version,
        source=source,
        **batch.rows()[0],
    )
    prediction.full_clean()
    prediction.save()  # the database adds its first score revision (classifier/triggers.py)
    return prediction


@dataclass(frozen=True)
class IncomingMessage:
    """A message to score and store, with what its platform says about it."""

    text: str
    channel: str = ""
    author: str = ""
    external_id: str = ""
    created_at: datetime | None = None


def _unstored(messages: Sequence[IncomingMessage], source: Source) -> list[IncomingMessage]:
    """Drop messages whose external id is stored already for ``source`` or repeated within ``messages``."""
    ids = {m.external_id for m in messages if m.external_id}
    if not ids:
        return list(messages)
    stored = Prediction.objects.filter(source=source, external_id__in=ids).exclude(external_id="")
    seen = set(stored.values_list("external_id", flat=True))  # exclude: the partial unique index serves
    fresh = []
    for message in messages:
        if message.external_id:
            if message.external_id in seen:
                continue
            seen.add(message.external_id)
        fresh.append(message)
    return fresh


_INSERT_COLUMNS = (
    "text", *LABELS, "flagged", "model_version", "source", "channel", "author", "external_id", "created_at",
    "status", "blocked_label",
)  # fmt: skip
# Rows per INSERT statement: 16 parameters a row stays well under SQLite's 32,766 and PostgreSQL's 65,535.
INSERT_ROWS = 1000


def _insert(predictions: list[Prediction]) -> None:
    """Insert new ``predictions`` with one multi-row ``INSERT ... RETURNING id`` per ``INSERT_ROWS`` and set
    their ids; more than ``INSERT_ROWS`` need a transaction to be all or nothing.

    The same statement ``bulk_create`` sends, without its per-field compilation: storing one message went
    from about 0.44 ms to 0.12 ms on SQLite (the cost the API pays per request and live chat per batch).
    """
    quote = connection.ops.quote_name
    adapt_datetime = connection.ops.adapt_datetimefield_value
    columns = ", ".join(map(quote, _INSERT_COLUMNS))
    into = f"INSERT INTO {quote(Prediction._meta.db_table)} ({columns}) VALUES "
    placeholders = f"({', '.join(['%s'] * len(_INSERT_COLUMNS))})"
    with connection.cursor() as cursor:
        for start in range(0, len(predictions), INSERT_ROWS):
            part = predictions[start : start + INSERT_ROWS]
            params = [
                value
                for p in part
                for value in (
                    p.text, p.toxic, p.severe_toxic, p.obscene, p.threat, p.insult, p.identity_hate,
                    p.flagged, p.model_version, p.source, p.channel, p.author, p.external_id,
                    adapt_datetime(p.created_at), p.status, p.blocked_label,
                )
            ]  # fmt: skip
            cursor.execute(f"{into}{', '.join([placeholders] * len(part))} RETURNING {quote('id')}", params)
            # Every row is fetched here: in autocommit SQLite commits the statement (and lets go of the write
            # lock) only when its last row is read. Ids are handed out in VALUES order; RETURNING's row order
            # is not promised, so sort them.
            for prediction, pk in zip(part, sorted(pk for (pk,) in cursor.fetchall()), strict=True):
                prediction.pk = pk
                prediction._state.adding = False
                prediction._state.db = connection.alias


def _one_statement_or_transaction(rows: int) -> AbstractContextManager:
    """Return what makes an insert of ``rows`` all or nothing: itself, when it is one statement outside any
    transaction (autocommit); else a transaction, or a savepoint inside the caller's.

    A statement that fires triggers inside a transaction makes SQLite keep a statement journal of the pages it
    changes, and the ~20 pages one stored message changes spill it to a new file in /var/tmp, written and
    deleted for each write; alone it needs none, nor a BEGIN and a COMMIT of its own.
    """
    if rows <= INSERT_ROWS and connection.get_autocommit():
        return nullcontext()
    return transaction.atomic()


def predictions_create_many(*, messages: Sequence[IncomingMessage], source: Source) -> list[Prediction]:
    """Score ``messages`` in one call and store them all or none; return the stored predictions.

    A message whose ``external_id`` is already stored for ``source`` is skipped, so a platform that sends a
    message twice (a reconnect, a retried request) never has it stored twice.
    """
    for message in messages:
        if is_blank(message.text) or "\x00" in message.text:
            raise ValueError("A message must have visible text and no NUL characters.")
    for attempt in range(2):
        fresh = _unstored(messages, source)
        if not fresh:
            return []
        batch = score_texts([m.text for m in fresh])
        now = timezone.now()
        predictions = [
            Prediction(
                text=message.text,
                flagged=bool(flagged),
                blocked_label=blocked,
                model_version=batch.model_version,
                source=source,
                channel=message.channel,
                author=message.author,
                external_id=message.external_id,
                created_at=message.created_at or now,
                **scores,
            )
            for message, scores, flagged, blocked in zip(
                fresh, batch.rows(), batch.flagged, batch.blocked, strict=True
            )
        ]
        try:
            with _one_statement_or_transaction(len(predictions)):
                _insert(predictions)  # a trigger adds each row's first score revision (triggers.py)
            return predictions
        except IntegrityError:
            if attempt:  # another writer stored one of these ids between the check and the insert
                raise
    raise AssertionError("unreachable")


@dataclass
class RescoreReport:
    """What a re-scoring run did (or, in a dry run, would do)."""

    scanned: int = 0
    rescored: int = 0
    newly_flagged: int = 0
    newly_unflagged: int = 0
    label_changes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LABELS, 0))

    @property
    def flag_changes(self) -> int:
        return self.newly_flagged + self.newly_unflagged


_COLUMNS = (*LABELS, "flagged", "model_version", "blocked_label")


ScoreRow = tuple[float, float, float, float, float, float, bool, str, str, int]


def scores_write(rows: list[ScoreRow], *, cause: RevisionCause = RevisionCause.RECLASSIFIED) -> None:
    """Write (six scores, flagged, model_version, blocked_label, id) tuples of one keyset chunk and record a
    revision of each, set-based, in the caller's transaction (or one of its own).

    On PostgreSQL the rows are COPYed into a temporary table and one statement updates the messages and
    inserts their revisions from the updated rows; on SQLite ``executemany`` UPDATEs, then one INSERT ...
    SELECT of the revisions.
    """
    if not rows:
        return
    if len({row[-1] for row in rows}) < len(rows):  # a summary change is worked out from one stored state
        raise ValueError("A chunk of scores to write names a message twice.")
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _scores_write_postgresql(rows, cause)
        else:
            _scores_write_sqlite(rows)
            revisions_copy(ids=[row[-1] for row in rows], cause=cause)


def _scores_write_sqlite(rows: list[ScoreRow]) -> None:
    """UPDATE by id; a row whose flag and blocked label stay as stored gets only its scores and version.

    SQLite rewrites an index entry whenever the UPDATE names one of its columns, changed or not; the flag is
    in two indexes (the queue's and the flagged list's), and most re-scores keep it: at 1M stored messages
    that took reclassify from about 145 to 127 us a row. The dashboard summary's row trigger is paused for
    these UPDATEs and the chunk's summary changes are written per quarter hour instead (``RollupDelta``).
    """
    table = connection.ops.quote_name(Prediction._meta.db_table)
    ids = [row[-1] for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, flagged, blocked_label, model_version, substr(created_at, 1, 16), "
            f"{', '.join(LABELS)} FROM {table} WHERE id BETWEEN %s AND %s",
            [min(ids), max(ids)],
        )
        stored = {row[0]: row[1:] for row in cursor.fetchall()}
        kept: list[ScoreRow] = []
        changed: list[ScoreRow] = []
        moved: list[tuple[tuple, ScoreRow]] = []  # rows whose summary figures change, before and after
        for row in rows:
            old = stored.get(row[-1])  # (flagged, blocked_label, model_version, created_at, six scores)
            if old is None:  # deleted since the chunk was read: its UPDATE changes nothing
                continue
            (kept if old[0] == row[6] and old[1] == row[8] else changed).append(row)
            if old[0] != row[6] or old[2] != row[7] or old[4:] != row[:6]:  # the trigger's WHEN
                moved.append((old, row))
        with sqlite_update_trigger_paused(cursor):
            if changed:
                assign = ", ".join(f"{col} = %s" for col in _COLUMNS)
                cursor.executemany(f"UPDATE {table} SET {assign} WHERE id = %s", changed)
            if kept:
                assign = ", ".join(f"{col} = %s" for col in (*LABELS, "model_version"))
                cursor.executemany(
                    f"UPDATE {table} SET {assign} WHERE id = %s",
                    [(*row[:6], row[7], row[-1]) for row in kept],
                )
        _summary_moves(moved).write_sqlite(cursor)


def _summary_moves(moved: list[tuple[tuple, ScoreRow]]) -> RollupDelta:
    """Return the summary changes of re-scored rows: each leaves its old figures and enters its new ones."""
    summary = RollupDelta()
    slots = [sqlite_slot(old[3]) for old, _ in moved]
    summary.add(
        list(zip(slots, (old[2] for old, _ in moved), strict=True)),
        [old[0] for old, _ in moved],
        np.array([old[4:] for old, _ in moved]),
        -1,
    )
    summary.add(
        list(zip(slots, (row[7] for _, row in moved), strict=True)),
        [row[6] for _, row in moved],
        np.array([row[:6] for _, row in moved]),
        1,
    )
    return summary


_STAGING = "rescore_chunk"


def _scores_write_postgresql(rows: list[ScoreRow], cause: RevisionCause) -> None:
    quote = connection.ops.quote_name
    table, revisions = quote(Prediction._meta.db_table), quote(ScoreRevision._meta.db_table)
    types = ["double precision"] * len(LABELS) + ["boolean", "varchar", "varchar", "bigint"]
    columns = ", ".join(f"{col} {kind}" for col, kind in zip((*_COLUMNS, "id"), types, strict=True))
    assign = ", ".join(f"{col} = c.{col}" for col in _COLUMNS)
    scores = ", ".join(LABELS)
    ids = [row[-1] for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {_STAGING} ({columns})")  # a rollback drops it too
        with cursor.cursor.copy(f"COPY {_STAGING} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # The id range lets the planner read the chunk's messages by primary key: the staging table has no
        # statistics, and without the range it may hash-join against a scan of the whole table.
        cursor.execute(
            f"WITH written AS (UPDATE {table} AS p SET {assign} FROM {_STAGING} AS c "
            "WHERE p.id = c.id AND p.id BETWEEN %s AND %s "
            f"RETURNING p.id, {', '.join(f'p.{label}' for label in LABELS)}, p.flagged, p.model_version) "
            f"INSERT INTO {revisions} (prediction_id, {scores}, flagged, model_version, created_at, cause) "
            f"SELECT id, {scores}, flagged, model_version, %s, %s FROM written",
            [min(ids), max(ids), timezone.now(), cause.value],
        )
        cursor.execute(f"DROP TABLE {_STAGING}")


def predictions_rescore(
    *,
    chunk_size: int = 2000,
    dry_run: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> RescoreReport:
    """Re-score every stored prediction with the loaded model, each chunk in one transaction."""
    report = RescoreReport()
    for chunk in prediction_chunks(chunk_size=chunk_size):
        ids, rows = chunk_rescore(chunk, report)
        if not dry_run:
            scores_write(rows)
            report.rescored += len(rows)
        if on_chunk:
            on_chunk(len(ids))
    return report


def chunk_rescore(
    chunk: list[tuple], report: RescoreReport, batch: ScoredBatch | None = None
) -> tuple[list[int], list[ScoreRow]]:
    """Score a chunk of (id, text, six scores..., flagged) rows in one call (unless ``batch`` holds its
    scores already) and count what changes into ``report``; return its ids and the rows for
    ``scores_write``."""
    ids, texts, old_scores, old_flagged = _unpack(chunk)
    if batch is None:
        batch = score_texts(texts)
    limits = batch.limits  # those the flags were set with (by a worker process, maybe)
    crossed = (batch.scores >= limits) != (old_scores >= limits)
    for j, label in enumerate(LABELS):
        report.label_changes[label] += int(crossed[:, j].sum())
    report.scanned += len(ids)
    report.newly_flagged += int((batch.flagged & ~old_flagged).sum())
    report.newly_unflagged += int((~batch.flagged & old_flagged).sum())
    scores, flags = batch.scores.tolist(), batch.flagged.tolist()  # Python floats and bools, at C speed
    rows: list[ScoreRow] = [
        (*row, flag, batch.model_version, blocked, pk)
        for pk, row, flag, blocked in zip(ids, scores, flags, batch.blocked, strict=True)
    ]
    return ids, rows


def _unpack(chunk: Iterable[tuple]) -> tuple[list[int], list[str], np.ndarray, np.ndarray]:
    rows = list(chunk)
    ids = [row[0] for row in rows]
    texts = [row[1] for row in rows]
    scores = np.array([row[2 : 2 + len(LABELS)] for row in rows], dtype=np.float64).reshape(-1, len(LABELS))
    flagged = np.array([row[2 + len(LABELS)] for row in rows], dtype=bool)
    return ids, texts, scores, flagged


def predictions_prune(*, older_than: datetime, dry_run: bool = False, batch_size: int = 2000) -> int:
    """Delete the text of messages created before ``older_than``; keep their ids, scores and history.

    Works in keyset batches of ``batch_size`` rows, each in its own transaction; return how many messages
    were (or, in a dry run, would be) pruned.
    """
    due = Prediction.objects.filter(created_at__lt=older_than, pruned_at__isnull=True)
    if dry_run:
        return due.count()
    pruned, last_id = 0, 0
    while True:
        ids = list(due.filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return pruned
        with transaction.atomic():
            pruned += Prediction.objects.filter(id__in=ids, pruned_at__isnull=True).update(
                text="", pruned_at=timezone.now()
            )
        last_id = ids[-1]


def feedback_create(*, prediction: Prediction, comment: str = "") -> Feedback:
    """Record a checker user's disagreement with the scores ``prediction`` got."""
    feedback = Feedback(prediction=prediction, was_flagged=prediction.flagged, comment=comment.strip())
    feedback.full_clean()
    feedback.save()
    return feedback
