"""The OpenAPI schema and docs page, and schemathesis fuzzing every operation against the schema."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from classifier.ml import LABELS

from .api_support import bearer, new_key

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/v1/openapi.json"


def test_schema_describes_every_endpoint_and_the_key_scheme(client):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = {"/api/v1/classify", "/api/v1/predictions/{prediction_id}", "/api/v1/health"}
    assert set(schema["paths"]) == paths
    assert schema["components"]["securitySchemes"] == {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}}
    classify = schema["paths"]["/api/v1/classify"]["post"]
    assert {"200", "401", "413", "422", "429"} <= set(map(str, classify["responses"]))
    assert "Retry-After" in classify["responses"]["429"]["headers"]
    components = schema["components"]["schemas"]
    labels = components["ClassifyResult"]["properties"]["flagged_labels"]["items"]["enum"]
    assert labels == list(LABELS)
    codes = components["ErrorCode"]["enum"]
    assert {"invalid_json", "too_many_texts", "revoked_api_key", "rate_limited"} <= set(codes)


def test_schema_states_the_limits_in_force(client, settings):
    settings.MAX_MESSAGE_LENGTH = 280
    settings.API_MAX_BATCH_SIZE = 25
    properties = client.get(SCHEMA_URL).json()["components"]["schemas"]["ClassifyIn"]["properties"]
    text, texts = properties["text"], properties["texts"]
    assert (text["minLength"], text["maxLength"]) == (1, 280)
    assert (texts["maxItems"], texts["items"]["maxLength"]) == (25, 280)


def test_docs_page_uses_only_local_assets(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert "Content-Security-Policy" in response.headers


@pytest.fixture
def api_key() -> str:
    return new_key(name="schemathesis", rate_limit=1_000_000)


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Keep the test's database connection open across WSGI requests, as Django's test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Loaded while the tests are collected: generating the schema needs Django but no database.
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_as_its_schema_says(
    case, api_key, wsgi_keeps_the_test_connection
):
    """No 5xx, and every status, content type, header and body matches the schema."""
    case.call_and_validate(
        headers=bearer(api_key),
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
