"""Helpers shared by the API tests: a key to call with, and JSON requests."""

import json
from typing import Any

from django.test import Client

from classifier.apikeys import api_key_create

CLASSIFY_URL = "/api/v1/classify"


def new_key(name: str = "tests", **kwargs: Any) -> str:
    """Create an API key and return the full key."""
    return api_key_create(name=name, **kwargs)[1]


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def post_json(client: Client, key: str | None, body: Any, url: str = CLASSIFY_URL) -> Any:
    """POST ``body`` (JSON-encoded unless it is bytes) with ``key`` and return the response."""
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers=bearer(key))


def get_json(client: Client, key: str | None, url: str) -> Any:
    return client.get(url, headers=bearer(key))


def error_of(response: Any) -> dict[str, Any]:
    """Return the ``error`` object of an error response, checking the shape every error has."""
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    return body["error"]
