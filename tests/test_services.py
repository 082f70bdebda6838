from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection

from classifier import services
from classifier.models import Prediction, RevisionCause, ScoreRevision, Source, Status
from classifier.services import IncomingMessage, predictions_create_many

pytestmark = pytest.mark.django_db


def test_create_many_scores_and_stores_with_metadata():
    stored = predictions_create_many(
        messages=[
            IncomingMessage("you are a complete idiot", channel="#games", author="ann", external_id="m1"),
            IncomingMessage("have a great stream everyone", channel="#games", author="bob", external_id="m2"),
        ],
        source=Source.CHAT,
    )
    assert [p.pk is not None for p in stored] == [True, True]
    insult, greeting = Prediction.objects.order_by("id")
    assert (insult.channel, insult.author, insult.external_id) == ("#games", "ann", "m1")
    assert insult.flagged
    assert not greeting.flagged


def test_create_many_skips_external_ids_already_stored_or_repeated():
    predictions_create_many(messages=[IncomingMessage("first", external_id="a")], source=Source.CHAT)
    stored = predictions_create_many(
        messages=[
            IncomingMessage("again", external_id="a"),
            IncomingMessage("new", external_id="b"),
            IncomingMessage("new twice", external_id="b"),
            IncomingMessage("no id"),
            IncomingMessage("no id either"),
        ],
        source=Source.CHAT,
    )
    assert [p.text for p in stored] == ["new", "no id", "no id either"]
    assert Prediction.objects.count() == 4
    predictions_create_many(
        messages=[IncomingMessage("same id, other source", external_id="a")], source=Source.API
    )
    assert Prediction.objects.filter(external_id="a").count() == 2


def test_database_refuses_a_duplicate_external_id_for_one_source():
    predictions_create_many(messages=[IncomingMessage("first", external_id="x")], source=Source.CHAT)
    duplicate = Prediction.objects.get()
    duplicate.pk = None
    with pytest.raises(IntegrityError):
        duplicate.save()


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "nul\x00byte"])
def test_create_many_rejects_bad_text_and_stores_nothing(text):
    with pytest.raises(ValueError, match="no NUL"):
        predictions_create_many(messages=[IncomingMessage("fine"), IncomingMessage(text)], source=Source.API)
    assert not Prediction.objects.exists()


def test_create_many_stores_every_field_and_ids_match_rows_across_insert_statements(monkeypatch):
    monkeypatch.setattr(services, "INSERT_ROWS", 3)  # 7 messages: three INSERT statements
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    messages = [
        IncomingMessage(f"message {i} you idiot" if i % 2 else f"message {i}", channel=f"#c{i}",
                        author=f"a{i}", external_id=f"e{i}", created_at=when + timedelta(minutes=i))
        for i in range(7)
    ]  # fmt: skip
    stored = predictions_create_many(messages=messages, source=Source.CHAT)
    assert len({p.pk for p in stored}) == 7
    for message, returned in zip(messages, stored, strict=True):
        row = Prediction.objects.get(pk=returned.pk)
        assert (row.text, row.channel, row.author, row.external_id, row.created_at) == (
            message.text, message.channel, message.author, message.external_id, message.created_at,
        )  # fmt: skip
        assert (row.source, row.status, row.pruned_at) == (Source.CHAT, Status.PENDING, None)
        assert row.scores == pytest.approx(returned.scores)
        assert (row.flagged, row.model_version) == (returned.flagged, returned.model_version)
        assert list(row.revisions.values_list("cause", flat=True)) == [RevisionCause.CREATED]
    assert not stored[0]._state.adding


def test_create_many_rolls_back_every_statement_when_one_fails(monkeypatch):
    monkeypatch.setattr(services, "INSERT_ROWS", 2)
    predictions_create_many(messages=[IncomingMessage("first", external_id="dup")], source=Source.CHAT)
    monkeypatch.setattr(services, "_unstored", lambda messages, source: list(messages))  # a racing writer
    batch = [IncomingMessage("one"), IncomingMessage("two"), IncomingMessage("late", external_id="dup")]
    with pytest.raises(IntegrityError):
        predictions_create_many(messages=batch, source=Source.CHAT)
    assert list(Prediction.objects.values_list("text", flat=True)) == ["first"]


def _insert_spy(monkeypatch) -> list[tuple[bool, bool, int]]:
    """Record, for each insert, where it ran: (in an atomic block, autocommit, savepoints open)."""
    seen = []
    insert = services._insert

    def spy(predictions: list[Prediction]) -> None:
        seen.append((connection.in_atomic_block, connection.get_autocommit(), len(connection.savepoint_ids)))
        insert(predictions)

    monkeypatch.setattr(services, "_insert", spy)
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_batch_outside_a_transaction_is_stored_by_its_one_statement_with_its_revisions(monkeypatch):
    seen = _insert_spy(monkeypatch)
    messages = [IncomingMessage(text) for text in ("one", "two, you idiot", "three")]
    stored = predictions_create_many(messages=messages, source=Source.API)
    assert seen == [(False, True, 0)]  # no BEGIN, no savepoint: the statement alone
    assert sorted(Prediction.objects.values_list("pk", flat=True)) == sorted(p.pk for p in stored)
    assert ScoreRevision.objects.filter(prediction__in=stored, cause=RevisionCause.CREATED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_failing_statement_outside_a_transaction_stores_none_of_its_rows(monkeypatch):
    predictions_create_many(messages=[IncomingMessage("first", external_id="dup")], source=Source.CHAT)
    seen = _insert_spy(monkeypatch)
    monkeypatch.setattr(services, "_unstored", lambda messages, source: list(messages))  # a racing writer
    batch = [IncomingMessage("one"), IncomingMessage("two"), IncomingMessage("late", external_id="dup")]
    with pytest.raises(IntegrityError):
        predictions_create_many(messages=batch, source=Source.CHAT)
    assert seen == [(False, True, 0), (False, True, 0)]  # tried, and once more after the race
    assert list(Prediction.objects.values_list("text", flat=True)) == ["first"]
    assert ScoreRevision.objects.count() == 1


def test_inside_a_callers_transaction_a_raced_insert_is_retried_from_a_savepoint(monkeypatch):
    # The test's own transaction is the caller's. On PostgreSQL a failed statement outside a savepoint would
    # abort that transaction, and the retry would be refused.
    predictions_create_many(messages=[IncomingMessage("first", external_id="dup")], source=Source.CHAT)
    seen = _insert_spy(monkeypatch)
    checks = []
    unstored = services._unstored

    def racing(messages, source):  # the first check misses the stored id, as if another writer was faster
        checks.append(len(messages))
        return list(messages) if len(checks) == 1 else unstored(messages, source)

    monkeypatch.setattr(services, "_unstored", racing)
    batch = [IncomingMessage("new"), IncomingMessage("late", external_id="dup")]
    savepoints = len(connection.savepoint_ids)
    stored = predictions_create_many(messages=batch, source=Source.CHAT)
    assert [p.text for p in stored] == ["new"]
    assert [open_savepoints for _, _, open_savepoints in seen] == [savepoints + 1, savepoints + 1]
    assert sorted(Prediction.objects.values_list("text", flat=True)) == ["first", "new"]
