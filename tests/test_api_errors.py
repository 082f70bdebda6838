import json

import pytest
from django.test import Client

from classifier.models import Prediction

from .api_support import error_of, new_key, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b'{"text": "hi"', 400, "invalid_json", id="truncated-json"),
        pytest.param(b"", 400, "invalid_json", id="empty-body"),
        pytest.param(b"text=hello", 400, "invalid_json", id="form-encoded-body"),
        pytest.param(b'{"text": "caf\xe9"}', 400, "invalid_utf8", id="latin-1-byte"),
        pytest.param(b'{"text": "\xff\xfe"}', 400, "invalid_utf8", id="invalid-utf8-bytes"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json", id="nested-too-deep"),
        pytest.param(b'{"text": "a", "text": "b"}', 400, "invalid_json", id="repeated-key"),
        pytest.param(
            b'{"messages": [{"text": "a", "author": "x", "author": "y"}]}',
            400,
            "invalid_json",
            id="repeated-inner-key",
        ),
        pytest.param(["hello"], 422, "wrong_type", id="body-is-a-list"),
        pytest.param("hello", 422, "wrong_type", id="body-is-a-string"),
        pytest.param({"text": 5}, 422, "wrong_type", id="text-is-a-number"),
        pytest.param({"text": ["hello"]}, 422, "wrong_type", id="text-is-a-list"),
        pytest.param({"texts": "hello"}, 422, "wrong_type", id="texts-is-a-string"),
        pytest.param({"text": None, "texts": ["hi"]}, 422, "wrong_type", id="text-is-null"),
        pytest.param({"text": "hello", "store": "false"}, 422, "wrong_type", id="store-is-a-string"),
        pytest.param({"text": "hello", "store": 0}, 422, "wrong_type", id="store-is-a-number"),
        pytest.param({"text": "hello", "channel": 7}, 422, "wrong_type", id="channel-is-a-number"),
        pytest.param({"messages": ["hello"]}, 422, "wrong_type", id="message-is-a-string"),
        pytest.param({"text": ""}, 422, "empty_text", id="empty-text"),
        pytest.param({"text": " \n\t\u3000 "}, 422, "empty_text", id="whitespace-text"),
        pytest.param({"text": "\u200b\u200c\u200d\u2060"}, 422, "empty_text", id="zero-width-text"),
        pytest.param({"text": "x" * 501}, 422, "text_too_long", id="text-too-long"),
        pytest.param({"text": "hello\x00world"}, 422, "nul_character", id="nul-in-text"),
        pytest.param({"text": "hi", "author": "a\x00"}, 422, "nul_character", id="nul-in-author"),
        pytest.param({"text": "bad \ud800 surrogate"}, 422, "invalid_unicode", id="lone-surrogate"),
        pytest.param({"texts": ["hi"] * 101}, 422, "too_many_texts", id="too-many-texts"),
        pytest.param({"messages": [{"text": "hi"}] * 101}, 422, "too_many_texts", id="too-many-messages"),
        pytest.param({"text": "hello", "lang": "en"}, 422, "unknown_field", id="unknown-field"),
        pytest.param({"messages": [{"text": "hi", "x": 1}]}, 422, "unknown_field", id="unknown-item-field"),
        pytest.param({"messages": [{"author": "ann"}]}, 422, "missing_field", id="message-without-text"),
        pytest.param({"text": "hi", "channel": "c" * 101}, 422, "field_too_long", id="channel-too-long"),
        pytest.param({"text": "hi", "external_id": "e" * 129}, 422, "field_too_long", id="long-external-id"),
        pytest.param({}, 422, "invalid_request", id="no-text"),
        pytest.param({"store": False}, 422, "invalid_request", id="only-store"),
        pytest.param({"text": "hi", "texts": ["hi"]}, 422, "invalid_request", id="text-and-texts"),
        pytest.param({"texts": []}, 422, "invalid_request", id="empty-batch"),
        pytest.param({"texts": ["hi"], "external_id": "x"}, 422, "invalid_request", id="batch-external-id"),
    ],
)
def test_bad_request_gets_its_error_code_and_nothing_is_stored(client, key, body, status, code):
    response = post_json(client, key, body)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert error_of(response)["code"] == code
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "index", "code"),
    [
        ({"texts": ["fine", "also fine", "   ", "fine too"]}, "texts[2]", 2, "empty_text"),
        ({"texts": ["fine", "x" * 501]}, "texts[1]", 1, "text_too_long"),
        ({"texts": ["fine", "ok", "nul\x00"]}, "texts[2]", 2, "nul_character"),
        ({"texts": ["fine", 3]}, "texts[1]", 1, "wrong_type"),
        (
            {"messages": [{"text": "fine", "external_id": "m1"}, {"text": "", "external_id": "m2"}]},
            "messages[1].text",
            1,
            "empty_text",
        ),
    ],
)
def test_one_bad_text_rejects_the_whole_batch_naming_its_index(client, key, body, field, index, code):
    response = post_json(client, key, body)
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"], error["index"]) == (code, field, index)
    assert error["message"].startswith(f"{field}: ")
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "hi", "channel": None}, "channel"),
        ({"text": "hi", "store": None}, "store"),
        ({"text": "hi", "external_id": None}, "external_id"),
        ({"messages": [{"text": "hi", "author": None}]}, "messages[0].author"),
    ],
)
def test_null_for_a_field_says_to_leave_it_out(client, key, body, field):
    error = error_of(post_json(client, key, body))
    assert (error["code"], error["field"]) == ("wrong_type", field)
    assert error["message"] == f"{field}: Leave the field out instead of sending null."
    assert not Prediction.objects.exists()


def test_too_long_text_names_the_limit(client, key):
    error = error_of(post_json(client, key, {"text": "x" * 600}))
    assert error["message"] == "text: The text is 600 characters long; the limit is 500."


def test_limits_come_from_settings(client, key, settings):
    settings.MAX_MESSAGE_LENGTH = 10
    settings.API_MAX_BATCH_SIZE = 2
    assert error_of(post_json(client, key, {"text": "x" * 11}))["code"] == "text_too_long"
    assert error_of(post_json(client, key, {"texts": ["a", "b", "c"]}))["code"] == "too_many_texts"
    assert post_json(client, key, {"texts": ["a" * 10, "b"]}).status_code == 200
    assert Prediction.objects.count() == 2


def test_body_over_the_size_limit_gets_413_and_nothing_is_stored(client, key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_json(client, key, {"texts": ["hello there"] * 100})
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    assert "1000 bytes" in error_of(response)["message"]
    assert not Prediction.objects.exists()


def test_body_that_is_not_declared_json_gets_415(client, key):
    response = client.post(
        "/api/v1/classify",
        data=json.dumps({"text": "hello"}),
        content_type="text/plain",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert not Prediction.objects.exists()


def test_missing_model_gets_503_and_nothing_is_stored(client, key, settings, tmp_path):
    settings.MODEL_PATH = tmp_path / "absent.joblib"
    response = post_json(client, key, {"text": "hello"})
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "model_unavailable"
    assert str(tmp_path) not in error["message"]  # server paths stay in the server's log
    assert not Prediction.objects.exists()


def test_unexpected_failure_is_a_json_500_without_details(client, key, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("classifier.api.endpoints.predictions_create_many", broken)
    response = post_json(client, key, {"text": "hello"})
    assert response.status_code == 500
    assert error_of(response) == {"code": "internal_error", "message": "Something went wrong on our side."}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/nothing/here"), ("post", "/api/v1/nothing"), ("get", "/api/v1/"), ("post", "/api/v1/")],
)
def test_unknown_api_address_is_a_json_404_whatever_the_method(method, path):
    client = Client(enforce_csrf_checks=True)  # as a bot without a CSRF cookie meets it
    response = getattr(client, method)(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_slash_after_an_endpoint_is_a_json_404_that_names_the_endpoint():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/classify/", data=b'{"text": "hi"}', content_type="application/json")
    assert response.status_code == 404
    assert "Did you mean /api/v1/classify (no slash at the end)?" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "/api/v1/classify", "POST"),
        ("delete", "/api/v1/classify", "POST"),
        ("post", "/api/v1/health", "GET"),
        ("put", "/api/v1/predictions/1", "GET"),
    ],
)
def test_a_method_an_endpoint_does_not_take_is_a_json_405_naming_the_allowed_ones(
    client, key, method, path, allowed
):
    response = getattr(client, method)(path, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 405
    assert response["Allow"] == allowed
    assert response["Content-Type"] == "application/json"
    assert error_of(response) == {
        "code": "method_not_allowed",
        "message": f"{method.upper()} is not allowed at {path}; use {allowed}.",
    }
    assert not Prediction.objects.exists()
