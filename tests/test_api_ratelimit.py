"""Per-key rate limits, on the local-memory cache and on Redis (local, or at TOXSITE_TEST_REDIS_URL)."""

import logging
import os
import uuid

import pytest
from django.core.cache import caches

from classifier.api import ratelimit
from classifier.models import Prediction

from .api_support import error_of, get_json, new_key, post_json

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("TOXSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
# A time 20 s into a one-minute window.
WINDOW_START = 1_800_000_000 - 1_800_000_000 % 60
NOW = WINDOW_START + 20.0


def _redis_answers() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False
    return True


def _redis_or_skip() -> None:
    if not _redis_answers():
        if os.environ.get("TOXSITE_REQUIRE_REDIS"):
            pytest.fail(f"Redis at {REDIS_URL} does not answer and TOXSITE_REQUIRE_REDIS is set.")
        pytest.skip(f"Redis at {REDIS_URL} does not answer.")


@pytest.fixture(params=["locmem", "redis"])
def cache_backend(request, settings) -> str:
    """Count requests in the local-memory cache or in Redis, under a prefix of this test's own."""
    if request.param == "redis":
        _redis_or_skip()
        backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    else:
        backend = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    settings.CACHES = {"default": {**backend, "KEY_PREFIX": f"toxsite-test-{uuid.uuid4().hex}"}}
    return request.param


@pytest.fixture
def clock(monkeypatch):
    """Freeze the rate limiter's clock at ``NOW``; set ``clock.now`` to move it."""

    class Clock:
        now = NOW

    monkeypatch.setattr(ratelimit, "_now", lambda: Clock.now)
    return Clock


def test_key_over_its_limit_gets_429_with_retry_after_and_nothing_is_stored(client, cache_backend, clock):
    key = new_key(rate_limit=3)
    for n in range(3):
        assert post_json(client, key, {"text": f"message {n}"}).status_code == 200
    response = post_json(client, key, {"text": "one too many"})
    assert response.status_code == 429
    assert response["Retry-After"] == "40"  # 20 s into the minute
    error = error_of(response)
    assert error["code"] == "rate_limited"
    assert "3 requests a minute" in error["message"]
    assert Prediction.objects.count() == 3
    clock.now = NOW + 39.5
    assert post_json(client, key, {"text": "still too many"})["Retry-After"] == "1"
    clock.now = WINDOW_START + 60
    assert post_json(client, key, {"text": "next minute"}).status_code == 200
    assert Prediction.objects.count() == 4


def test_each_key_has_its_own_count(client, cache_backend, clock):
    busy = new_key(name="busy", rate_limit=1)
    quiet = new_key(name="quiet", rate_limit=1)
    assert post_json(client, busy, {"text": "a"}).status_code == 200
    assert post_json(client, busy, {"text": "b"}).status_code == 429
    assert post_json(client, quiet, {"text": "c"}).status_code == 200


def test_keys_without_their_own_limit_use_the_setting(client, cache_backend, clock, settings):
    settings.API_RATE_LIMIT = 2
    key = new_key()
    assert [get_json(client, key, "/api/v1/predictions/1").status_code for _ in range(3)] == [404, 404, 429]


def test_failed_requests_count_too(client, cache_backend, clock):
    key = new_key(rate_limit=2)
    assert post_json(client, key, {"text": ""}).status_code == 422
    assert post_json(client, key, b"{").status_code == 400
    assert post_json(client, key, {"text": "fine"}).status_code == 429


def test_unreachable_cache_lets_requests_through_and_logs_it(client, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    key = new_key(rate_limit=1)
    with caplog.at_level(logging.WARNING, logger="classifier.api.ratelimit"):
        assert post_json(client, key, {"text": "a"}).status_code == 200
        assert post_json(client, key, {"text": "b"}).status_code == 200
    assert "not checked" in caplog.text


def test_after_a_windows_first_request_each_request_is_one_count_call(cache_backend, clock, monkeypatch):
    backend, calls = caches["default"], []

    def recorded(name, real):
        def call(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return call

    for method in ("add", "incr"):
        monkeypatch.setattr(backend, method, recorded(method, getattr(backend, method)))
    assert [ratelimit.rate_limit_hit(key_id=1, limit=3) for _ in range(4)] == [None, None, None, 40]
    assert calls == ["incr", "add", "incr", "incr", "incr"]


def test_a_count_started_by_another_request_meanwhile_is_added_to(cache_backend, clock, monkeypatch):
    backend = caches["default"]
    real_incr, name = backend.incr, f"api-rate:1:{WINDOW_START}"
    first: list[str] = []

    def incr_after_another_request(key, *args, **kwargs):
        if not first:  # this request finds no count; another one starts it before this one's add
            first.append(key)
            backend.add(name, 1, timeout=61)
            raise ValueError(key)
        return real_incr(key, *args, **kwargs)

    monkeypatch.setattr(backend, "incr", incr_after_another_request)
    assert ratelimit.rate_limit_hit(key_id=1, limit=1) == 40  # counted second: over a limit of 1
    assert backend.get(name) == 2


def test_a_count_that_expires_between_the_calls_starts_again_at_one(cache_backend, clock, monkeypatch):
    backend, name, calls = caches["default"], f"api-rate:1:{WINDOW_START}", []
    real_add = backend.add

    def incr_finds_nothing(key, *args, **kwargs):
        calls.append("incr")
        raise ValueError(key)

    def add_loses_the_first_race(key, *args, **kwargs):
        calls.append("add")
        return calls.count("add") > 1 and real_add(key, *args, **kwargs)

    monkeypatch.setattr(backend, "incr", incr_finds_nothing)
    monkeypatch.setattr(backend, "add", add_loses_the_first_race)
    assert ratelimit.rate_limit_hit(key_id=1, limit=1) is None  # counted as the window's first
    assert calls == ["incr", "add", "incr", "add"]
    assert backend.get(name) == 1


def test_a_count_that_incr_makes_anew_gets_the_windows_expiry(settings, clock):
    # Django's Redis incr checks EXISTS, then INCRs: a count that expires in between is made anew by INCR,
    # at 1 and with no expiry. Such a count (here one stored at 0 with no expiry) is given the window's.
    import redis

    _redis_or_skip()
    prefix = f"toxsite-test-{uuid.uuid4().hex}"
    backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    settings.CACHES = {"default": {**backend, "KEY_PREFIX": prefix}}
    cache, name = caches["default"], f"api-rate:1:{WINDOW_START}"
    cache.set(name, 0, timeout=None)
    stored, client = cache.make_and_validate_key(name), redis.Redis.from_url(REDIS_URL)
    assert client.ttl(stored) == -1  # no expiry
    assert ratelimit.rate_limit_hit(key_id=1, limit=5) is None
    assert cache.get(name) == 1
    assert 0 < client.ttl(stored) <= 61
