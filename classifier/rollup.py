"""The triggers that keep the dashboard's summary per quarter hour (``DashboardRollup``) true to the messages.

Every statement that inserts, re-scores, re-flags or deletes messages updates the summary in the same
transaction, whoever runs it (the app, ``reclassify``'s raw UPDATE, a threshold change, plain SQL). On
SQLite row triggers do it; on PostgreSQL statement triggers with transition tables add up each statement's
changes first, so a chunk of 2,000 re-scored messages costs one upsert per quarter hour it touches, written in
slot order (concurrent writers lock summary rows in the same order). Migration 0008 installs them in the same
transaction that fills the summary; like the revision trigger they are reinstalled after every ``migrate``
and ``flush``, each time in one transaction.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from .ml import LABELS
from .models_rollup import BUCKET_COLUMNS, BUCKETS, SLOT_MINUTES, DashboardRollup, bucket_column, bucket_sql

ROLLUP = DashboardRollup._meta.db_table
PREDICTION = "classifier_prediction"
# A change to any other column (status, text, pruned_at...) leaves the summary as it is.
WATCHED = [*LABELS, "flagged", "model_version", "created_at"]
_PREFIX = "classifier_rollup"


def slot_sql(vendor: str, created_at: str) -> str:
    """Return SQL for the start of the quarter hour (UTC) holding ``created_at``."""
    if vendor == "postgresql":
        return f"date_bin('{SLOT_MINUTES} minutes', {created_at}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    # Django stores UTC times on SQLite as 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    minute = f"substr({created_at}, 15, 2)"
    quarters = " ".join(f"WHEN {minute} < '{m + SLOT_MINUTES:02d}' THEN '{m:02d}'" for m in range(0, 45, 15))
    return f"substr({created_at}, 1, 14) || CASE {quarters} ELSE '45' END || ':00'"


_QUARTER = {f"{minute:02d}": f"{minute - minute % SLOT_MINUTES:02d}" for minute in range(60)}


def sqlite_slot(created_at: str) -> str:
    """Return what ``slot_sql("sqlite", ...)`` gives for a stored timestamp (its first 16 characters do)."""
    return f"{created_at[:14]}{_QUARTER[created_at[14:16]]}:00"


def _aggregate(vendor: str, changes: str) -> str:
    """Return a SELECT adding up ``changes`` (created_at, model_version, flagged, scores, sign) per slot.

    Messages are first counted per slot, version, flag and six buckets: many share such a group (low scores
    on every label), and the 122 sums of a summary row then run over the groups instead of every message
    (PostgreSQL, a re-scored chunk of 2,000 seeded messages spread over 58 quarter hours: 35 -> 24 ms).
    """
    buckets = ", ".join(f"{bucket_sql(vendor, label)} AS b_{label}" for label in LABELS)
    groups = ", ".join(f"b_{label}" for label in LABELS)
    sums = ", ".join(
        f"sum(CASE WHEN b_{label} = {bucket} THEN n ELSE 0 END)"
        for label in LABELS
        for bucket in range(BUCKETS)
    )
    return (
        f"SELECT slot, model_version, sum(n), sum(CASE WHEN flagged THEN n ELSE 0 END), {sums} "
        f"FROM (SELECT slot, model_version, flagged, {groups}, CAST(sum(sign) AS INTEGER) AS n "
        f"FROM (SELECT {slot_sql(vendor, 'created_at')} AS slot, model_version, flagged, sign, {buckets} "
        f"FROM ({changes}) AS c) AS d GROUP BY slot, model_version, flagged, {groups}) AS g "
        "GROUP BY slot, model_version ORDER BY slot, model_version"
    )


# The summary's counts, after its key (slot, model_version).
_COUNTS = ["messages", "flagged", *BUCKET_COLUMNS]


def _columns() -> str:
    return ", ".join(["slot", "model_version", *_COUNTS])


def _rows(alias: str, sign: str, source: str) -> str:
    return f"SELECT {', '.join(f'{alias}.{c}' for c in WATCHED)}, {sign} AS sign FROM {source}"


def _postgres_changes(operation: str) -> str:
    if operation == "INSERT":
        return _rows("n", "1", "new_rows AS n")
    if operation == "DELETE":
        return _rows("o", "-1", "old_rows AS o")
    differs = (
        f"({', '.join(f'o.{c}' for c in WATCHED)}) IS DISTINCT FROM ({', '.join(f'n.{c}' for c in WATCHED)})"
    )
    # One join: each changed message leaves its old figures and enters its new ones.
    both = ", ".join(
        f"({', '.join(f'{row}.{c}' for c in WATCHED)}, {sign})" for row, sign in (("n", 1), ("o", -1))
    )
    return (
        f"SELECT v.* FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id "
        f"CROSS JOIN LATERAL (VALUES {both}) AS v({', '.join(WATCHED)}, sign) WHERE {differs}"
    )


def _install_postgres(cursor: Any) -> None:
    add = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in _COUNTS)
    for operation, tables in [
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ]:
        name = f"{_PREFIX}_{operation.lower()}"
        select = _aggregate("postgresql", _postgres_changes(operation))
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO {ROLLUP} AS r ({_columns()}) {select} "
            f"ON CONFLICT (slot, model_version) DO UPDATE SET {add}; RETURN NULL; END $$"
        )
        cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {PREDICTION}")
        cursor.execute(
            f"CREATE TRIGGER {name} AFTER {operation} ON {PREDICTION} REFERENCING {tables} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def _sqlite_add(row: str) -> str:
    values = ", ".join(
        [
            slot_sql("sqlite", f"{row}.created_at"),
            f"{row}.model_version",
            "1",
            f"{row}.flagged",
            *(
                f"({bucket_sql('sqlite', f'{row}.{label}')} = {b})"
                for label in LABELS
                for b in range(BUCKETS)
            ),
        ]
    )
    return f"{_sqlite_upsert(values)};"


def _sqlite_upsert(values: str) -> str:
    """Return SQLite's INSERT of summary ``values`` (a row's key and counts), added onto an existing row."""
    add = ", ".join(f"{c} = {c} + excluded.{c}" for c in _COUNTS)
    return (
        f"INSERT INTO {ROLLUP} ({_columns()}) VALUES ({values}) "
        f"ON CONFLICT (slot, model_version) DO UPDATE SET {add}"
    )


def _sqlite_subtract(row: str) -> str:
    # An UPDATE, not an upsert: if ``flush`` empties the summary before the messages, nothing is left over.
    subtract = ", ".join(
        [
            "messages = messages - 1",
            f"flagged = flagged - {row}.flagged",
            *(
                f"{bucket_column(label, b)} = {bucket_column(label, b)} - "
                f"({bucket_sql('sqlite', f'{row}.{label}')} = {b})"
                for label in LABELS
                for b in range(BUCKETS)
            ),
        ]
    )
    return (
        f"UPDATE {ROLLUP} SET {subtract} WHERE slot = {slot_sql('sqlite', f'{row}.created_at')} "
        f"AND model_version = {row}.model_version;"
    )


def _sqlite_triggers() -> dict[str, str]:
    """Return the CREATE TRIGGER statement of each summary trigger on SQLite, by name."""
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in WATCHED)
    triggers = {}
    for name, event, body in [
        ("insert", "INSERT", _sqlite_add("NEW")),
        ("update", f"UPDATE OF {', '.join(WATCHED)}", f"{_sqlite_subtract('OLD')} {_sqlite_add('NEW')}"),
        ("delete", "DELETE", _sqlite_subtract("OLD")),
    ]:
        when = f"WHEN {changed} " if name == "update" else ""
        create = f"CREATE TRIGGER {_PREFIX}_{name} AFTER {event} ON {PREDICTION}"
        triggers[f"{_PREFIX}_{name}"] = f"{create} FOR EACH ROW {when}BEGIN {body} END"
    return triggers


def _install_sqlite(cursor: Any) -> None:
    for name, create in _sqlite_triggers().items():
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(create)


@contextmanager
def sqlite_update_trigger_paused(cursor: Any) -> Iterator[None]:
    """Keep the summary's UPDATE trigger out of the statements run inside, on SQLite, in a transaction.

    For a writer that re-scores many messages and applies their summary changes itself (``RollupDelta``):
    the row trigger rewrites two 124-column summary rows for every message whose model version changes
    (about 70 us a message). The trigger is dropped and created again in the caller's transaction, so no
    other connection ever sees the table without it, and a rollback puts it back. The price: each commit
    changes the schema, and every other connection re-reads it at its next statement (about 4 ms).
    """
    if not cursor.db.in_atomic_block:  # else a failure could leave it dropped for good
        raise RuntimeError("The summary trigger can only be paused inside transaction.atomic().")
    name = f"{_PREFIX}_update"
    cursor.execute(f"DROP TRIGGER {name}")
    yield
    cursor.execute(_sqlite_triggers()[name])


class RollupDelta:
    """Summary changes added up per (slot, model version) in Python, then written in one statement each."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], np.ndarray] = {}
        self._entered: set[tuple[str, str]] = set()

    def add(
        self, keys: Sequence[tuple[str, str]], flagged: Sequence[bool], scores: np.ndarray, sign: int
    ) -> None:
        """Count messages in (``sign`` 1) or take them out (-1) of the summary rows of their (slot, version)
        ``keys``; ``scores`` holds a row of six scores (``LABELS`` order) per message."""
        if not len(keys):
            return
        groups: dict[tuple[str, str], int] = {}
        row = np.fromiter(
            (groups.setdefault(key, len(groups)) for key in keys), dtype=np.intp, count=len(keys)
        )
        counts = np.zeros((len(groups), len(_COUNTS)), dtype=np.int64)
        counts[:, 0] = np.bincount(row, minlength=len(groups))
        counts[:, 1] = np.bincount(row, weights=np.asarray(flagged, dtype=np.float64), minlength=len(groups))
        # bucket_sql's buckets: the same double product, truncated (scores are >= 0), the top one holding 1.0
        buckets = np.minimum((np.asarray(scores, dtype=np.float64) * BUCKETS).astype(np.int64), BUCKETS - 1)
        np.add.at(counts, (row[:, None], 2 + np.arange(len(LABELS)) * BUCKETS + buckets), 1)
        for key, i in groups.items():
            self._counts[key] = self._counts.get(key, 0) + sign * counts[i]
        if sign > 0:
            self._entered.update(groups)

    def write_sqlite(self, cursor: Any) -> None:
        """Apply the changes: an upsert for rows that messages entered, an UPDATE where they only left (as
        the triggers do: a summary row that is missing is not made up from departures alone)."""
        upserts, updates = [], []
        for (slot, version), array in sorted(self._counts.items()):
            delta = array.tolist()
            if not any(delta):
                continue
            if (slot, version) in self._entered:
                upserts.append((slot, version, *delta))
            else:
                updates.append((*delta, slot, version))
        if upserts:
            cursor.executemany(_sqlite_upsert(", ".join(["%s"] * (2 + len(_COUNTS)))), upserts)
        if updates:
            cursor.executemany(
                f"UPDATE {ROLLUP} SET {', '.join(f'{c} = {c} + %s' for c in _COUNTS)} "
                "WHERE slot = %s AND model_version = %s",
                updates,
            )


def rollup_triggers_install(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Install the summary triggers if both tables exist; return whether they did. Idempotent.

    One transaction: a write committed while a trigger is being replaced is never left out of the summary.
    """
    connection = connections[using]
    if not set(connection.introspection.table_names()) >= {PREDICTION, ROLLUP}:
        return False
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _install_postgres(cursor)
        else:
            _install_sqlite(cursor)
    return True


def rollup_triggers_drop(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Remove the summary triggers (and their PostgreSQL functions): unmigrating the summary needs it."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for operation in ("insert", "update", "delete"):
            name = f"{_PREFIX}_{operation}"
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {PREDICTION}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def rollup_rebuild(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Recompute the whole summary from the stored messages, set-based (one DELETE, one INSERT ... SELECT)."""
    connection = connections[using]
    changes = f"SELECT {', '.join(WATCHED)}, 1 AS sign FROM {PREDICTION}"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ROLLUP}")
        cursor.execute(f"INSERT INTO {ROLLUP} ({_columns()}) {_aggregate(connection.vendor, changes)}")
