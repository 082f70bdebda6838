"""Authentication by API key (``Authorization: Bearer <key>``), with the key's scope and rate limit."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from ..apikeys import ActiveKey, ApiKeyInvalid, ApiKeyRevoked, api_key_authenticate
from ..models import ApiScope
from .errors import ApiError, ErrorCode, unauthorized
from .ratelimit import rate_limit_hit


class ApiKeyAuth(HttpBearer):
    """Accept an active key with ``scope`` that is within its rate limit; raise ``ApiError`` otherwise."""

    def __init__(self, scope: ApiScope) -> None:
        self.scope = scope
        super().__init__()

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if not header:
            raise unauthorized(
                ErrorCode.MISSING_API_KEY, "Send an API key in the header Authorization: Bearer <key>."
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized(ErrorCode.INVALID_API_KEY, "The Authorization header must read Bearer <key>.")
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ActiveKey:
        try:
            key = api_key_authenticate(presented=token)
        except ApiKeyRevoked:
            raise unauthorized(
                ErrorCode.REVOKED_API_KEY, "This API key was revoked; ask for a new one."
            ) from None
        except ApiKeyInvalid:
            raise unauthorized(ErrorCode.INVALID_API_KEY, "This API key is not valid.") from None
        if self.scope not in key.scopes:
            raise ApiError(
                403,
                ErrorCode.INSUFFICIENT_SCOPE,
                f"This API key lacks the scope {self.scope.value!r}; it has {', '.join(key.scopes)}.",
            )
        limit = key.rate_limit or settings.API_RATE_LIMIT
        retry_after = rate_limit_hit(key_id=key.id, limit=limit)
        if retry_after is not None:
            raise ApiError(
                429,
                ErrorCode.RATE_LIMITED,
                f"This API key is over its limit of {limit} requests a minute; retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
        return key
