import pytest
from django.db import OperationalError
from django.utils.dateparse import parse_datetime

from classifier.ml import LABELS
from classifier.models import Source
from classifier.scoring import current_model, thresholds
from classifier.services import prediction_create

from .api_support import error_of, get_json, new_key, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> str:
    return new_key()


def test_stored_prediction_is_returned_with_its_fields(client, key):
    stored_id = post_json(
        client, key, {"text": "shut up you moron", "channel": "#c", "author": "bo", "external_id": "e9"}
    ).json()["results"][0]["id"]
    response = get_json(client, key, f"/api/v1/predictions/{stored_id}")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "text", "source", "channel", "author", "external_id")} == {
        "id": stored_id,
        "text": "shut up you moron",
        "source": "api",
        "channel": "#c",
        "author": "bo",
        "external_id": "e9",
    }
    assert body["model_version"] == current_model().version
    assert body["flagged"] is True
    limits = thresholds()
    assert body["flagged_labels"] == [label for label in LABELS if body["scores"][label] >= limits[label]]
    assert parse_datetime(body["created_at"]) is not None


def test_prediction_from_the_form_is_readable_too(client, key):
    prediction = prediction_create(text="hello chat", source=Source.FORM)
    body = get_json(client, key, f"/api/v1/predictions/{prediction.pk}").json()
    assert (body["source"], body["text"], body["flagged"]) == ("form", "hello chat", False)
    assert body["scores"] == pytest.approx(prediction.scores)


def test_unknown_prediction_is_a_json_404(client, key):
    response = get_json(client, key, "/api/v1/predictions/424242")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "code"),
    [("abc", "wrong_type"), ("1.5", "wrong_type"), ("0", "out_of_range"), (str(2**63), "out_of_range")],
)
def test_bad_prediction_id_is_a_422(client, key, path, code):
    response = get_json(client, key, f"/api/v1/predictions/{path}")
    assert response.status_code == 422
    assert error_of(response) | {"message": ""} == {"code": code, "field": "prediction_id", "message": ""}


def test_reading_needs_a_key(client):
    response = get_json(client, None, "/api/v1/predictions/1")
    assert response.status_code == 401
    assert error_of(response)["code"] == "missing_api_key"


def test_health_reports_the_model_and_the_database_without_a_key(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "model": {"loaded": True, "version": current_model().version},
        "database": {"reachable": True},
    }


def test_health_is_503_when_the_model_is_missing(client, settings, tmp_path):
    settings.MODEL_PATH = tmp_path / "absent.joblib"
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["model"] == {"loaded": False, "version": None}
    assert body["database"] == {"reachable": True}


def test_health_is_503_when_the_database_does_not_answer(client, monkeypatch):
    class DeadConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("classifier.api.endpoints.connection", DeadConnection())
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("unavailable", {"reachable": False})
    assert body["model"]["loaded"] is True
