"""Unmigrating and re-migrating the dashboard summary keeps every write working and the summary whole."""

import pytest
from django.core.management import call_command
from django.db import connection

from classifier.models import DashboardRollup, Prediction, Source
from classifier.services import IncomingMessage, predictions_create_many

pytestmark = pytest.mark.django_db(transaction=True)


def store(*texts: str) -> None:
    predictions_create_many(messages=[IncomingMessage(text) for text in texts], source=Source.CHAT)


def rollup_triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'classifier_rollup%%'")
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'classifier_rollup%'"
            )
        return {name for (name,) in cursor.fetchall()}


def test_migrating_back_before_the_summary_leaves_writes_working_and_forward_again_counts_all():
    store("before the summary goes")
    try:
        call_command("migrate", "classifier", "0007", verbosity=0)
        assert not rollup_triggers()
        store("written without a summary", "and another")  # raised 'no such table' when triggers stayed
        assert Prediction.objects.count() == 3
    finally:
        call_command("migrate", "classifier", verbosity=0)
    assert rollup_triggers() == {f"classifier_rollup_{event}" for event in ("insert", "update", "delete")}
    store("after the summary came back")
    assert sum(DashboardRollup.objects.values_list("messages", flat=True)) == 4
