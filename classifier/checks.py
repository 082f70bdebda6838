"""System checks: report an unusable model at ``manage.py check`` time, not at the first request, and a
database that cannot be reached before ``migrate`` works on it."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.db import DatabaseError, connections

from .ml import LABELS
from .ml.model import ModelError
from .scoring import current_model

CHECK_IDS = {
    "missing": "classifier.E001",
    "corrupt": "classifier.E002",
    "tampered": "classifier.E003",
    "incompatible": "classifier.E004",
}


def check_model(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that the model file loads and that the threshold settings name real labels."""
    errors: list[CheckMessage] = []
    try:
        current_model()
    except ModelError as exc:
        errors.append(Error(str(exc), hint=exc.hint, id=CHECK_IDS[exc.kind]))
    unknown = sorted(set(settings.THRESHOLDS) - set(LABELS))
    if unknown:
        errors.append(
            Error(
                f"TOXSITE_THRESHOLDS names unknown labels: {', '.join(unknown)}.",
                hint=f"Use only {', '.join(LABELS)}.",
                id="classifier.E005",
            )
        )
    return errors


def check_database(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that each database a command works on (``migrate``, ``check --database``) can be reached, so a
    wrong DATABASE_URL is a short error naming the fix instead of a stack trace (PostgreSQL; on SQLite
    Django's own model checks may connect first, and the settings refuse a file in a missing folder)."""
    errors: list[CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            name = connection.settings_dict.get("NAME") or "?"
            reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            reason = reason or type(exc).__name__
            errors.append(
                Error(
                    f"Cannot connect to the {connection.vendor} database {name!s}: {reason}",
                    hint=(
                        "Check DATABASE_URL, that the server runs and that the database exists "
                        "(createdb NAME, or CREATE DATABASE NAME;)."
                        if connection.vendor == "postgresql"
                        else "Check DATABASE_URL, and that this user may write the file and its folder."
                    ),
                    id="classifier.E006",
                )
            )
    return errors
