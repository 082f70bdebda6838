import pytest
from django.db import IntegrityError

from classifier.models import Prediction, Source
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


@pytest.mark.parametrize("text", ["", "   ", "nul\x00byte"])
def test_create_many_rejects_bad_text_and_stores_nothing(text):
    with pytest.raises(ValueError, match="no NUL"):
        predictions_create_many(messages=[IncomingMessage("fine"), IncomingMessage(text)], source=Source.API)
    assert not Prediction.objects.exists()
