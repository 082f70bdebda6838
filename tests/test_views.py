import pytest
from django.test import Client

from classifier.models import Prediction, Source

pytestmark = pytest.mark.django_db


def test_form_page_shows_the_chat_box_with_the_length_limit(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'name="text"' in response.content
    assert b'maxlength="500"' in response.content


def test_valid_message_is_scored_saved_and_shown_as_sorted_bars(client):
    response = client.post("/", {"text": "  you are a complete idiot  "})
    assert response.status_code == 200
    prediction = Prediction.objects.get()
    assert prediction.text == "you are a complete idiot"
    assert prediction.source == Source.FORM
    assert all(0.0 <= score <= 1.0 for score in prediction.scores.values())
    bars = response.context["bars"]
    assert [bar["label"] for bar in bars] == sorted(prediction.scores, key=lambda k: -prediction.scores[k])
    assert b'data-label="toxic"' in response.content
    flagged = any(bar["flagged"] for bar in bars)
    assert prediction.flagged is flagged
    assert (b"Not flagged" in response.content) is not flagged


def test_tiny_model_flags_an_insult_and_not_a_greeting(client):
    client.post("/", {"text": "you are a complete idiot"})
    client.post("/", {"text": "have a great stream everyone"})
    insult, greeting = Prediction.objects.order_by("id")
    assert insult.flagged and insult.insult > greeting.insult
    assert not greeting.flagged


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", b"cannot be empty"),
        ("   \n\t ", b"cannot be empty"),
        ("\u200b\u200d \u2060\ufeff", b"invisible characters"),
        ("x" * 501, b"at most 500 characters"),
        ("hello\x00world", b"holds a NUL character"),
    ],
)
def test_bad_message_gets_a_form_error_and_nothing_is_saved(client, text, message):
    response = client.post("/", {"text": text})
    assert response.status_code == 400
    assert message in response.content
    assert not Prediction.objects.exists()


def test_a_refused_nul_character_is_not_sent_back_raw(client):
    response = client.post("/", {"text": "hello\x00world"})
    assert response.status_code == 400
    assert b"\x00" not in response.content
    assert "hello\ufffdworld" in response.content.decode()


def test_the_page_says_a_flagged_message_went_to_the_review_queue_and_a_clean_one_did_not(client):
    flagged = client.post("/", {"text": "you are a complete idiot"}).content.decode()
    clean = client.post("/", {"text": "have a great stream everyone"}).content.decode()
    assert "saved to the moderators' review queue" in flagged and "review queue" not in clean
    assert "saved with its scores" in clean


def test_message_at_the_limit_is_accepted(client):
    assert client.post("/", {"text": "y" * 500}).status_code == 200
    assert Prediction.objects.count() == 1


def test_limit_comes_from_settings(client, settings):
    settings.MAX_MESSAGE_LENGTH = 20
    assert client.post("/", {"text": "z" * 21}).status_code == 400
    assert not Prediction.objects.exists()


def test_invalid_utf8_is_rejected_and_nothing_is_saved(client):
    response = client.post("/", data=b"text=bad%FF%FEbytes", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert b"not valid UTF-8" in response.content
    assert not Prediction.objects.exists()


def test_missing_field_is_a_form_error(client):
    assert client.post("/", {"other": "x"}).status_code == 400
    assert not Prediction.objects.exists()


def test_post_without_csrf_token_is_refused():
    response = Client(enforce_csrf_checks=True).post("/", {"text": "hello"})
    assert response.status_code == 403
    assert not Prediction.objects.exists()


def test_other_methods_are_not_allowed(client):
    refused = client.put("/", data="text=hi")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD, POST"


def test_head_answers_like_get_without_a_body_and_stores_nothing(client):
    response = client.head("/")
    assert response.status_code == 200 and response.content == b""
    assert response["Content-Type"].startswith("text/html")
    assert not Prediction.objects.exists()


def test_body_over_the_size_limit_is_refused(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/", {"text": "a" * 2000})
    assert response.status_code == 400
    assert not Prediction.objects.exists()


def test_message_text_is_escaped_on_the_result_page(client):
    response = client.post("/", {"text": "<script>alert(1)</script>"})
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def test_missing_model_gives_a_503_page_naming_the_fix(client, settings, tmp_path):
    settings.MODEL_PATH = tmp_path / "absent.joblib"
    response = client.post("/", {"text": "hello"})
    assert response.status_code == 503
    assert b"manage.py train_model" in response.content
    assert b"Traceback" not in response.content
    assert str(tmp_path).encode() not in response.content, "no server paths for anonymous visitors"
    assert not Prediction.objects.exists()
