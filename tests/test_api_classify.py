import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier import scoring
from classifier.ml import LABELS
from classifier.models import Prediction, Source
from classifier.scoring import current_model, thresholds

from .api_support import new_key, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> str:
    return new_key()


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_single_text_is_scored_stored_and_described(client, key):
    [result] = _results(
        post_json(
            client,
            key,
            {"text": "you are a complete idiot", "channel": "#games", "author": "ann", "external_id": "m-1"},
        )
    )
    stored = Prediction.objects.get()
    assert result["id"] == stored.pk
    metadata = (stored.source, stored.channel, stored.author, stored.external_id)
    assert metadata == (Source.API, "#games", "ann", "m-1")
    assert stored.text == "you are a complete idiot"
    assert result["scores"] == pytest.approx(stored.scores)
    assert set(result["scores"]) == set(LABELS)
    assert result["model_version"] == current_model().version == stored.model_version
    limits = thresholds()
    assert result["flagged_labels"] == [label for label in LABELS if stored.scores[label] >= limits[label]]
    assert result["flagged"] is stored.flagged is True
    assert "insult" in result["flagged_labels"]
    assert result["external_id"] == "m-1"
    assert result["duplicate"] is False


def test_greeting_is_not_flagged(client, key):
    [result] = _results(post_json(client, key, {"text": "have a great stream everyone"}))
    assert result["flagged"] is False
    assert result["flagged_labels"] == []
    assert result["external_id"] is None


def test_batch_keeps_the_order_and_stores_every_message(client, key):
    texts = ["gg well played", "shut up you moron", "i will kill you", "see you tomorrow"]
    results = _results(post_json(client, key, {"texts": texts, "channel": "#main"}))
    stored = list(Prediction.objects.order_by("id"))
    assert [r["id"] for r in results] == [p.pk for p in stored]
    assert [p.text for p in stored] == texts
    assert {p.channel for p in stored} == {"#main"}
    assert [r["flagged"] for r in results] == [False, True, True, False]


def test_messages_carry_their_own_metadata_over_the_request_defaults(client, key):
    body = {
        "messages": [
            {"text": "nice shot", "author": "ann", "external_id": "a"},
            {"text": "what a stupid loser", "channel": "#other", "external_id": "b"},
        ],
        "channel": "#main",
        "author": "someone",
    }
    results = _results(post_json(client, key, body))
    first, second = Prediction.objects.order_by("id")
    assert (first.channel, first.author, first.external_id) == ("#main", "ann", "a")
    assert (second.channel, second.author, second.external_id) == ("#other", "someone", "b")
    assert [r["external_id"] for r in results] == ["a", "b"]


def test_store_false_scores_without_storing(client, key):
    stored = _results(post_json(client, key, {"text": "shut up you moron"}))[0]
    [unstored] = _results(post_json(client, key, {"texts": ["shut up you moron"], "store": False}))
    assert unstored["id"] is None
    assert unstored["scores"] == pytest.approx(stored["scores"])
    assert unstored["flagged_labels"] == stored["flagged_labels"]
    assert Prediction.objects.count() == 1


def test_known_external_id_returns_the_stored_prediction_without_storing_again(client, key):
    first = _results(post_json(client, key, {"text": "you dumb clown", "external_id": "x1"}))[0]
    again = _results(post_json(client, key, {"text": "you dumb clown", "external_id": "x1"}))[0]
    assert again["id"] == first["id"]
    assert again["duplicate"] is True
    assert again["scores"] == first["scores"]
    batch = _results(
        post_json(
            client,
            key,
            {
                "messages": [
                    {"text": "you dumb clown", "external_id": "x1"},
                    {"text": "new one", "external_id": "x2"},
                    {"text": "new one, sent twice", "external_id": "x2"},
                    {"text": "no id"},
                ]
            },
        )
    )
    assert [r["duplicate"] for r in batch] == [True, False, True, False]
    assert batch[0]["id"] == first["id"]
    assert batch[1]["id"] == batch[2]["id"]
    assert Prediction.objects.count() == 3


def test_batch_is_scored_in_one_call_and_stored_in_one_insert(client, key, monkeypatch):
    calls = []
    real = scoring.score_texts

    def counting(texts):
        calls.append(len(texts))
        return real(texts)

    monkeypatch.setattr("classifier.services.score_texts", counting)
    with CaptureQueriesContext(connection) as queries:
        results = _results(post_json(client, key, {"texts": [f"message number {n}" for n in range(50)]}))
    assert len(results) == 50
    assert calls == [50]
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert Prediction.objects.count() == 50


def test_limits_are_inclusive(client, key):
    assert len(_results(post_json(client, key, {"texts": ["y" * 500] * 100}))) == 100
    assert Prediction.objects.count() == 100


def test_flagged_labels_follow_the_thresholds_in_settings(client, key, settings):
    settings.THRESHOLDS = dict.fromkeys(LABELS, 0.0)
    [result] = _results(post_json(client, key, {"text": "have a great stream everyone", "store": False}))
    assert result["flagged_labels"] == list(LABELS)
    assert result["flagged"] is True


def test_text_is_stored_exactly_as_sent(client, key):
    text = "  ＨＥＬＬＯ\tchat 👋 "
    _results(post_json(client, key, {"text": text}))
    assert Prediction.objects.get().text == text
