"""The database trigger that gives every new message its first score revision, whatever inserts it.

A trigger keeps ``prediction_create`` and ``predictions_create_many`` at one INSERT per batch. It is
(re)installed after every ``migrate`` (and ``flush``) rather than by a migration, because SQLite rebuilds a
table, dropping its triggers, whenever a later migration alters it.
"""

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from .ml import LABELS
from .rollup import rollup_triggers_install

TRIGGER = "classifier_prediction_first_revision"
_TABLES = {"classifier_prediction", "classifier_scorerevision"}


def _insert() -> str:
    columns = ", ".join([*LABELS, "flagged", "model_version", "created_at"])
    values = ", ".join(f"NEW.{column}" for column in [*LABELS, "flagged", "model_version", "created_at"])
    return (
        f"INSERT INTO classifier_scorerevision (prediction_id, {columns}, cause) "
        f"VALUES (NEW.id, {values}, 'created');"
    )


def revision_trigger_install(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Install the trigger if both tables exist; return whether they did. Idempotent."""
    connection = connections[using]
    if not set(connection.introspection.table_names()) >= _TABLES:
        return False
    with transaction.atomic(using=using), connection.cursor() as cursor:  # no write between DROP and CREATE
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {_insert()} RETURN NULL; END $$"
            )
            cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON classifier_prediction")
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON classifier_prediction "
                f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {TRIGGER} AFTER INSERT ON classifier_prediction "
                f"BEGIN {_insert()} END"
            )
    return True


def install_after_migrate(*, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``post_migrate`` receiver: the revision trigger and the dashboard summary's triggers."""
    revision_trigger_install(using=using)
    rollup_triggers_install(using=using)
