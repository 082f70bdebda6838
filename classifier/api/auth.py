"""Authentication by API key (``Authorization: Bearer <key>``), with the key's scope and rate limit."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from ..apikeys import ActiveKey, ApiKeyInvalid, ApiKeyRevoked, api_key_authenticate, api_keys_confirm
from ..models import ApiScope
from .errors import ApiError, ErrorCode, unauthorized
from .ratelimit import rate_limit_hit

# The request attribute that holds the scope its endpoint needs, for the error handlers.
SCOPE_ATTRIBUTE = "api_scope"


def key_refused(exc: ApiKeyInvalid) -> ApiError:
    """Return the 401 error for a key that is unknown, does not match, was deleted or was revoked."""
    if isinstance(exc, ApiKeyRevoked):
        return unauthorized(ErrorCode.REVOKED_API_KEY, "This API key was revoked; ask for a new one.")
    return unauthorized(ErrorCode.INVALID_API_KEY, "This API key is not valid.")


def scope_missing(key: ActiveKey, scope: ApiScope) -> ApiError | None:
    """Return the 403 error when ``key`` lacks ``scope``, else None."""
    if scope in key.scopes:
        return None
    return ApiError(
        403,
        ErrorCode.INSUFFICIENT_SCOPE,
        f"This API key lacks the scope {scope.value!r}; it has {', '.join(key.scopes)}.",
    )


def keys_refused(keys: list[ActiveKey], scope: ApiScope) -> dict[int, ApiError]:
    """Confirm the unconfirmed ``keys`` with one query; return the error of each one that must be refused."""
    refused = {}
    for key_id, current in api_keys_confirm([key for key in keys if not key.confirmed]).items():
        error = key_refused(current) if isinstance(current, ApiKeyInvalid) else scope_missing(current, scope)
        if error is not None:
            refused[key_id] = error
    return refused


def unconfirmed_key_refused(request: HttpRequest) -> ApiError | None:
    """Confirm the request's key if it was accepted unconfirmed; return its error if it must be refused.

    The error handlers ask this first: an error response tells a revoked key's holder nothing else, and a
    key that lost the endpoint's scope learns only that.
    """
    key, scope = getattr(request, "auth", None), getattr(request, SCOPE_ATTRIBUTE, None)
    if not isinstance(key, ActiveKey) or key.confirmed or scope is None:
        return None
    return keys_refused([key], scope).get(key.id)


class ApiKeyAuth(HttpBearer):
    """Accept an active key with ``scope`` that is within its rate limit; raise ``ApiError`` otherwise.

    With ``confirm_later``, a key this process knows is accepted without a query, unconfirmed: the endpoint
    must confirm it (``keys_refused``) before it does anything, and the error handlers confirm it before
    they answer.
    """

    def __init__(self, scope: ApiScope, *, confirm_later: bool = False) -> None:
        self.scope = scope
        self.confirm_later = confirm_later
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        header = request.META.get("HTTP_AUTHORIZATION", "")  # request.headers would copy every header first
        if not header:
            raise unauthorized(
                ErrorCode.MISSING_API_KEY, "Send an API key in the header Authorization: Bearer <key>."
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized(ErrorCode.INVALID_API_KEY, "The Authorization header must read Bearer <key>.")
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ActiveKey:
        setattr(request, SCOPE_ATTRIBUTE, self.scope)
        try:
            key = api_key_authenticate(presented=token, confirm_later=self.confirm_later)
            if not key.confirmed and self.scope not in key.scopes:
                key = api_key_authenticate(presented=token)  # what this process knows may be out of date
        except ApiKeyInvalid as exc:
            raise key_refused(exc) from None
        missing = scope_missing(key, self.scope)
        if missing is not None:
            raise missing
        limit = key.rate_limit or settings.API_RATE_LIMIT
        retry_after = rate_limit_hit(key_id=key.id, limit=limit)
        if retry_after is not None:
            # A revoked key is told so, not when to retry.
            refused = keys_refused([key], self.scope).get(key.id)
            if refused is not None:
                raise refused
            raise ApiError(
                429,
                ErrorCode.RATE_LIMITED,
                f"This API key is over its limit of {limit} requests a minute; retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
        return key
