"""The triggers that keep the dashboard's summary per quarter hour (``DashboardRollup``) true to the messages.

Every statement that inserts, re-scores, re-flags or deletes messages updates the summary in the same
transaction, whoever runs it (the app, ``reclassify``'s raw UPDATE, a threshold change, plain SQL). On
SQLite row triggers do it; on PostgreSQL statement triggers with transition tables add up each statement's
changes first, so a chunk of 2,000 re-scored messages costs one upsert per quarter hour it touches, written in
slot order (concurrent writers lock summary rows in the same order). Migration 0008 installs them in the same
transaction that fills the summary; like the revision trigger they are reinstalled after every ``migrate``
and ``flush``, each time in one transaction.
"""

from typing import Any

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


def _aggregate(vendor: str, changes: str) -> str:
    """Return a SELECT adding up ``changes`` (created_at, model_version, flagged, scores, sign) per slot."""
    buckets = ", ".join(f"{bucket_sql(vendor, label)} AS b_{label}" for label in LABELS)
    sums = ", ".join(
        f"sum(CASE WHEN b_{label} = {bucket} THEN sign ELSE 0 END)"
        for label in LABELS
        for bucket in range(BUCKETS)
    )
    return (
        f"SELECT slot, model_version, sum(sign), sum(CASE WHEN flagged THEN sign ELSE 0 END), {sums} "
        f"FROM (SELECT {slot_sql(vendor, 'created_at')} AS slot, model_version, flagged, sign, {buckets} "
        f"FROM ({changes}) AS c) AS d GROUP BY slot, model_version ORDER BY slot, model_version"
    )


def _columns() -> str:
    return ", ".join(["slot", "model_version", "messages", "flagged", *BUCKET_COLUMNS])


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
    joined = "new_rows AS n JOIN old_rows AS o ON o.id = n.id"
    return f"{_rows('n', '1', joined)} WHERE {differs} UNION ALL {_rows('o', '-1', joined)} WHERE {differs}"


def _install_postgres(cursor: Any) -> None:
    add = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in ["messages", "flagged", *BUCKET_COLUMNS])
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
    add = ", ".join(f"{c} = {c} + excluded.{c}" for c in ["messages", "flagged", *BUCKET_COLUMNS])
    return (
        f"INSERT INTO {ROLLUP} ({_columns()}) VALUES ({values}) "
        f"ON CONFLICT (slot, model_version) DO UPDATE SET {add};"
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


def _install_sqlite(cursor: Any) -> None:
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in WATCHED)
    for name, event, body in [
        ("insert", "INSERT", _sqlite_add("NEW")),
        ("update", f"UPDATE OF {', '.join(WATCHED)}", f"{_sqlite_subtract('OLD')} {_sqlite_add('NEW')}"),
        ("delete", "DELETE", _sqlite_subtract("OLD")),
    ]:
        when = f"WHEN {changed} " if name == "update" else ""
        cursor.execute(f"DROP TRIGGER IF EXISTS {_PREFIX}_{name}")
        cursor.execute(
            f"CREATE TRIGGER {_PREFIX}_{name} AFTER {event} ON {PREDICTION} "
            f"FOR EACH ROW {when}BEGIN {body} END"
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
