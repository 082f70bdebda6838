import hashlib
import io
import re

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from classifier.api import auth, endpoints
from classifier.apikeys import _last_recorded, api_key_authenticate, api_key_create, api_keys_confirm
from classifier.models import ApiKey, Prediction

from .api_support import error_of, get_json, new_key, post_json

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"tox_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def _classify(client, key, headers=None):
    if headers is not None:
        return client.post(
            "/api/v1/classify", data='{"text": "hello"}', content_type="application/json", headers=headers
        )
    return post_json(client, key, {"text": "hello"})


def test_request_without_a_key_gets_401_with_the_scheme_and_nothing_is_stored(client):
    response = _classify(client, None)
    assert response.status_code == 401
    assert error_of(response)["code"] == "missing_api_key"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    "header",
    ["Token abc", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer tox_short", "Bearer not-a-key-at-all"],
)
def test_malformed_authorization_gets_401_and_nothing_is_stored(client, header):
    new_key()
    response = _classify(client, None, headers={"Authorization": header})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert not Prediction.objects.exists()


def test_unknown_key_and_wrong_secret_get_401(client):
    key = new_key()  # tox_<12 hex digits>_<43 characters>
    wrong_secret = key[:16] + "_" + "A" * 43
    unknown_prefix = "tox_000000000000" + key[16:]
    for presented in (wrong_secret, unknown_prefix):
        response = _classify(client, presented)
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"
    assert not Prediction.objects.exists()


def test_valid_key_classifies_and_records_when_it_was_used(client):
    key = new_key()
    assert ApiKey.objects.get().last_used_at is None
    assert _classify(client, key).status_code == 200
    used = ApiKey.objects.get().last_used_at
    assert used is not None
    assert _classify(client, key).status_code == 200
    assert ApiKey.objects.get().last_used_at == used  # written at most once a minute
    assert Prediction.objects.count() == 2


def test_revoked_key_gets_401_at_once(client):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200
    call_command("revoke_api_key", "bot", stdout=io.StringIO())
    response = _classify(client, key)
    assert response.status_code == 401
    assert error_of(response)["code"] == "revoked_api_key"
    assert get_json(client, key, "/api/v1/predictions/1").status_code == 401
    assert Prediction.objects.count() == 1


def _changed_elsewhere(key: str, **fields) -> None:
    """Change a key's row as another process would: this process's memory of the key is not told."""
    ApiKey.objects.filter(prefix=key[4:16]).update(**fields)


@pytest.mark.parametrize(
    "body", [{"text": "hello"}, {"text": "   "}, {"txt": "hello"}, b"{not json", {"text": "over the limit"}]
)
def test_a_key_revoked_by_another_process_gets_401_at_once_whatever_else_is_wrong(client, settings, body):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200  # this process now knows the key
    _changed_elsewhere(key, revoked_at=timezone.now())
    if body == {"text": "over the limit"}:
        settings.API_RATE_LIMIT = 1
    response = post_json(client, key, body)
    assert response.status_code == 401
    assert error_of(response)["code"] == "revoked_api_key"
    assert Prediction.objects.count() == 1


def test_a_remembered_key_is_accepted_without_a_query_and_confirmed_with_one(django_assert_num_queries):
    key = new_key(name="bot")
    assert api_key_authenticate(presented=key).confirmed
    with django_assert_num_queries(0):
        remembered = api_key_authenticate(presented=key, confirm_later=True)
    assert not remembered.confirmed
    with django_assert_num_queries(1):
        assert api_keys_confirm([remembered])[remembered.id].confirmed  # type: ignore[union-attr]
    with django_assert_num_queries(1):  # without confirm_later every call looks the key up
        api_key_authenticate(presented=key)


def test_a_revoked_remembered_key_is_not_recorded_as_used(client):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200
    used = ApiKey.objects.get().last_used_at
    _last_recorded.clear()  # as if a minute had passed
    _changed_elsewhere(key, revoked_at=timezone.now())
    assert _classify(client, key).status_code == 401
    assert ApiKey.objects.get().last_used_at == used


def test_a_key_whose_secret_changed_in_place_is_refused(client):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200
    _changed_elsewhere(key, secret_hash=hashlib.sha256(b"another secret").hexdigest())
    response = _classify(client, key)
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"


@pytest.mark.parametrize("body", [{"txt": "hello"}, {"text": "over the limit"}])
def test_a_key_that_lost_the_scope_elsewhere_gets_403_whatever_else_is_wrong(client, settings, body):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200
    _changed_elsewhere(key, scopes=["read"])
    if body == {"text": "over the limit"}:
        settings.API_RATE_LIMIT = 1
    response = post_json(client, key, body)
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_scope"


def test_a_revoked_remembered_key_gets_401_when_the_request_fails_too(client, monkeypatch):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200
    _changed_elsewhere(key, revoked_at=timezone.now())

    def broken(items):
        raise RuntimeError("a batch-mate's insert failed")

    monkeypatch.setattr(endpoints._batches, "submit", broken)
    response = _classify(client, key)
    assert response.status_code == 401
    assert error_of(response)["code"] == "revoked_api_key"


def test_an_error_answer_is_a_json_500_when_the_key_cannot_be_confirmed(client, monkeypatch):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200

    def unreachable(keys):
        raise OperationalError("the database went away")

    monkeypatch.setattr(auth, "api_keys_confirm", unreachable)
    response = post_json(client, key, {"txt": "hello"})
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert "txt" not in response.content.decode()


def test_a_key_deleted_by_another_process_gets_401(client):
    key = new_key(name="bot")
    assert _classify(client, key).status_code == 200
    ApiKey.objects.filter(prefix=key[4:16]).delete()
    response = _classify(client, key)
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert Prediction.objects.count() == 1


def test_scopes_changed_by_another_process_apply_at_the_next_request(client):
    key = new_key(name="bot", scopes=["read"])
    assert _classify(client, key).status_code == 403  # known to this process, without the scope
    _changed_elsewhere(key, scopes=["read", "classify"])
    assert _classify(client, key).status_code == 200
    _changed_elsewhere(key, scopes=["read"])
    response = _classify(client, key)
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_scope"
    assert Prediction.objects.count() == 1


def test_key_needs_the_scope_of_the_endpoint(client):
    reader = new_key(name="reader", scopes=["read"])
    classifier_only = new_key(name="classifier", scopes=["classify"])
    response = _classify(client, reader)
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_scope"
    assert not Prediction.objects.exists()
    stored_id = _classify(client, classifier_only).json()["results"][0]["id"]
    response = get_json(client, classifier_only, f"/api/v1/predictions/{stored_id}")
    assert response.status_code == 403
    assert error_of(response)["code"] == "insufficient_scope"
    assert get_json(client, reader, f"/api/v1/predictions/{stored_id}").status_code == 200


def test_only_a_hash_of_the_key_is_stored():
    key, full_key = api_key_create(name="hashed")
    row = ApiKey.objects.values().get(pk=key.pk)
    assert full_key not in str(row)
    assert full_key[17:] not in str(row)  # the secret (it may hold "_" itself)
    assert row["secret_hash"] == hashlib.sha256(full_key.encode()).hexdigest()
    assert row["prefix"] == full_key[4:16]
    assert api_key_authenticate(presented=full_key).id == key.pk


def test_create_api_key_prints_the_key_and_nothing_else(client):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "moderation-bot", "--scope", "classify", stdout=out, stderr=err)
    printed = out.getvalue()
    assert KEY_PATTERN.fullmatch(printed.strip())
    assert printed.count("\n") == 1
    key = ApiKey.objects.get(name="moderation-bot")
    assert key.scopes == ["classify"]
    assert key.rate_limit is None
    assert _classify(client, printed.strip()).status_code == 200


def test_create_api_key_with_rate_limit_and_verbose_note_on_stderr():
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "busy", "--rate-limit", "600", verbosity=2, stdout=out, stderr=err)
    assert KEY_PATTERN.fullmatch(out.getvalue().strip())
    assert "busy" in err.getvalue()
    key = ApiKey.objects.get(name="busy")
    assert (key.rate_limit, sorted(key.scopes)) == (600, ["classify", "read"])


def test_create_api_key_refuses_a_name_in_use_and_a_bad_limit():
    new_key(name="taken")
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_api_key", "taken", stdout=io.StringIO())
    with pytest.raises(CommandError, match="at least 1"):
        call_command("create_api_key", "other", "--rate-limit", "0", stdout=io.StringIO())
    assert ApiKey.objects.count() == 1


def test_revoke_api_key_reports_unknown_and_already_revoked_keys():
    with pytest.raises(CommandError, match="no API key named 'ghost'"):
        call_command("revoke_api_key", "ghost", stdout=io.StringIO())
    new_key(name="old")
    out = io.StringIO()
    call_command("revoke_api_key", "old", stdout=out)
    assert out.getvalue() == "Revoked API key 'old'.\n"
    revoked_at = ApiKey.objects.get().revoked_at
    assert revoked_at is not None
    out = io.StringIO()
    call_command("revoke_api_key", "old", stdout=out)
    assert "revoked already" in out.getvalue()
    assert ApiKey.objects.get().revoked_at == revoked_at


def test_admin_creates_a_key_and_shows_it_once_in_a_message(admin_client, client):
    response = admin_client.post(
        "/admin/classifier/apikey/add/",
        {"name": "partner", "scopes": ["classify"], "rate_limit": "30"},
        follow=True,
    )
    assert response.status_code == 200
    shown = [KEY_PATTERN.search(str(m)) for m in get_messages(response.wsgi_request)]
    full_keys = [m[0] for m in shown if m]
    assert len(full_keys) == 1
    key = ApiKey.objects.get(name="partner")
    assert (key.scopes, key.rate_limit) == (["classify"], 30)
    assert key.secret_hash == hashlib.sha256(full_keys[0].encode()).hexdigest()
    assert _classify(client, full_keys[0]).status_code == 200
    change_page = admin_client.get(f"/admin/classifier/apikey/{key.pk}/change/")
    assert full_keys[0] not in change_page.content.decode()
    cookies = " ".join(morsel.value for morsel in admin_client.cookies.values())
    assert full_keys[0] not in cookies, "the key must not travel in a cookie (messages are session-stored)"


def test_admin_refuses_a_key_without_scopes(admin_client):
    response = admin_client.post("/admin/classifier/apikey/add/", {"name": "none", "scopes": []})
    assert response.status_code == 200  # the form again, with its error
    assert not ApiKey.objects.exists()


def test_admin_revokes_keys_and_never_deletes_them(admin_client, client):
    key = new_key(name="leaked")
    other = new_key(name="fine")
    pk = ApiKey.objects.get(name="leaked").pk
    response = admin_client.post(
        "/admin/classifier/apikey/", {"action": "revoke", "_selected_action": [pk]}, follow=True
    )
    assert "Revoked 1 API key." in [str(m) for m in get_messages(response.wsgi_request)]
    assert error_of(_classify(client, key))["code"] == "revoked_api_key"
    assert _classify(client, other).status_code == 200
    assert admin_client.post(f"/admin/classifier/apikey/{pk}/delete/", {"post": "yes"}).status_code == 403
    assert ApiKey.objects.count() == 2
