"""API keys: create, revoke and check them. Only a SHA-256 hash of a key's secret is stored.

A key reads ``tox_<prefix>_<secret>``: the prefix (12 hex digits) finds the key's row, the secret (256 random
bits) proves it; its hash is compared in constant time.

A process remembers the keys it found active. A caller that can check many requests' keys at once (the
classify endpoint's batches) may accept a remembered key with ``confirm_later`` and then confirm it with
``api_keys_confirm``: one query for a whole batch instead of one per request, and a key revoked meanwhile
is still refused before anything of its request is stored.
"""

import hashlib
import hmac
import json
import math
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from .models import ApiKey, default_scopes

_KEY = re.compile(r"tox_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
# last_used_at is written at most this often per key and process, so busy keys do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyInvalid(Exception):
    """The presented key is malformed, unknown or does not match."""


class ApiKeyRevoked(ApiKeyInvalid):
    """The presented key matches a key that was revoked."""


def _digest(full_key: str) -> str:
    return hashlib.sha256(full_key.encode("utf-8")).hexdigest()


def api_key_issue(*, key: ApiKey) -> str:
    """Give the unsaved ``key`` a new secret, validate and store it; return the full key (not kept)."""
    prefix = secrets.token_hex(6)
    full_key = f"tox_{prefix}_{secrets.token_urlsafe(32)}"
    key.prefix = prefix
    key.secret_hash = _digest(full_key)
    key.full_clean()
    key.save()
    return full_key


def api_key_create(
    *, name: str, scopes: Iterable[str] | None = None, rate_limit: int | None = None
) -> tuple[ApiKey, str]:
    """Create a key named ``name``; return it and the full key, to be shown once."""
    key = ApiKey(
        name=name,
        scopes=sorted(set(scopes)) if scopes is not None else default_scopes(),
        rate_limit=rate_limit,
    )
    return key, api_key_issue(key=key)


def api_keys_revoke(*, keys: QuerySet[ApiKey]) -> int:
    """Revoke the keys of ``keys`` that are not revoked yet; return how many were."""
    _known.clear()  # other processes find out from the database, at their next request with the key
    return keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@dataclass(frozen=True)
class ActiveKey:
    """What a request needs to know about the key that authenticated it."""

    id: int
    prefix: str
    scopes: tuple[str, ...]
    rate_limit: int | None
    secret_hash: str = field(repr=False)
    # False when the key was accepted from this process's memory: api_keys_confirm() must still check that
    # the database has it active, before anything the request asked for is done.
    confirmed: bool = True


# The keys this process found active in the database, by prefix, as unconfirmed keys.
_known: dict[str, ActiveKey] = {}


def _find(prefix: str) -> tuple[Any, ...] | None:
    # Plain SQL takes ~0.02 ms where the ORM took ~0.3 ms (measured on SQLite), as long as a whole minimal
    # Django view.
    table = connection.ops.quote_name(ApiKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, secret_hash, scopes, rate_limit, revoked_at IS NOT NULL "
            f"FROM {table} WHERE prefix = %s",
            [prefix],
        )
        return cursor.fetchone()


def api_key_authenticate(*, presented: str, confirm_later: bool = False) -> ActiveKey:
    """Return the active key that ``presented`` is; raise ``ApiKeyInvalid`` or ``ApiKeyRevoked``.

    With ``confirm_later``, a key this process found active before is accepted without a query, marked
    unconfirmed: the caller must pass it to ``api_keys_confirm`` before acting on the request.
    """
    match = _KEY.fullmatch(presented)
    if not match:
        raise ApiKeyInvalid("malformed")
    prefix, digest = match[1], _digest(presented)
    known = _known.get(prefix) if confirm_later else None
    if known is not None and hmac.compare_digest(known.secret_hash, digest):
        return known  # its use is recorded when it is confirmed
    row = _find(prefix)
    if row is None or not hmac.compare_digest(row[1], digest):
        raise ApiKeyInvalid("unknown")
    key_id, secret_hash, scopes, rate_limit, revoked = row
    if revoked:
        _known.pop(prefix, None)
        raise ApiKeyRevoked(prefix)
    key = ActiveKey(key_id, prefix, _scopes(scopes), rate_limit, secret_hash)
    _known[prefix] = replace(key, confirmed=False)
    _record_use(key_id, prefix)
    return key


def _scopes(stored: Any) -> tuple[str, ...]:
    return tuple(json.loads(stored) if isinstance(stored, str) else stored)


def api_keys_confirm(keys: Iterable[ActiveKey]) -> dict[int, ActiveKey | ApiKeyInvalid]:
    """Check ``keys`` against the database with one query.

    Return, by key id, the key as it is stored now (its scopes and rate limit may have changed), or the
    ``ApiKeyRevoked`` or ``ApiKeyInvalid`` (deleted, or its secret changed) to refuse its requests with.
    """
    by_id = {key.id: key for key in keys}
    if not by_id:
        return {}
    table = connection.ops.quote_name(ApiKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, prefix, secret_hash, scopes, rate_limit, revoked_at IS NOT NULL FROM {table} "
            f"WHERE id IN ({', '.join(['%s'] * len(by_id))})",
            sorted(by_id),
        )
        rows = {row[0]: row for row in cursor.fetchall()}
    confirmed: dict[int, ActiveKey | ApiKeyInvalid] = {}
    for key_id, key in by_id.items():
        row = rows.get(key_id)
        if row is None or (row[1], row[2]) != (key.prefix, key.secret_hash) or row[5]:
            _known.pop(key.prefix, None)
            confirmed[key_id] = ApiKeyRevoked(key.prefix) if row and row[5] else ApiKeyInvalid("changed")
            continue
        current = ActiveKey(key_id, key.prefix, _scopes(row[3]), row[4], key.secret_hash)
        _known[key.prefix] = replace(current, confirmed=False)
        _record_use(key_id, key.prefix)
        confirmed[key_id] = current
    return confirmed


# When this process last wrote last_used_at, per (id, prefix) of a key.
_last_recorded: dict[tuple[int, str], float] = {}


def _record_use(key_id: int, prefix: str) -> None:
    """Set the key's last_used_at, at most once per ``LAST_USED_RESOLUTION`` from each process."""
    now = time.monotonic()
    if now - _last_recorded.get((key_id, prefix), -math.inf) < LAST_USED_RESOLUTION.total_seconds():
        return
    _last_recorded[(key_id, prefix)] = now
    ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())
