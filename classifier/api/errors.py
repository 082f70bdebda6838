"""The API's one error shape, ``{"error": {"code": ..., "message": ...}}``, and what maps onto it.

Every failure a client can cause ends here: a body that is not JSON, a field of the wrong type, a bad text
in a batch (named by its index), a missing or revoked key, a key over its rate limit.
"""

import functools
import json
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

logger = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BODY_TOO_LARGE = "body_too_large"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    INVALID_REQUEST = "invalid_request"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    NUL_CHARACTER = "nul_character"
    INVALID_UNICODE = "invalid_unicode"
    TOO_MANY_TEXTS = "too_many_texts"
    FIELD_TOO_LONG = "field_too_long"
    OUT_OF_RANGE = "out_of_range"
    MISSING_API_KEY = "missing_api_key"
    INVALID_API_KEY = "invalid_api_key"
    REVOKED_API_KEY = "revoked_api_key"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    MODEL_UNAVAILABLE = "model_unavailable"
    INTERNAL_ERROR = "internal_error"


# Codes of the errors the request's own validators raise (as pydantic custom errors), by name.
_OWN_CODES = {code.value for code in ErrorCode}
# pydantic's error types for the rest.
_PYDANTIC_CODES = {
    "missing": ErrorCode.MISSING_FIELD,
    "extra_forbidden": ErrorCode.UNKNOWN_FIELD,
    "string_too_long": ErrorCode.FIELD_TOO_LONG,
    "greater_than_equal": ErrorCode.OUT_OF_RANGE,
    "less_than_equal": ErrorCode.OUT_OF_RANGE,
}


class ApiError(Exception):
    """A failure to report to the client as ``{"error": {...}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        index: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.index = index
        self.headers = headers or {}

    def response(self) -> HttpResponse:
        error: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.index is not None:
            error["index"] = self.index
        response = JsonResponse({"error": error}, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


class _RepeatedKey(ValueError):
    """A JSON object names the same key twice."""


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        keys = [key for key, _ in pairs]
        raise _RepeatedKey(next(key for key in obj if keys.count(key) > 1))
    return obj


class JsonBodyParser(Parser):
    """Parse a request body as strict UTF-8 JSON, with an error code for each way it can be wrong."""

    def parse_body(self, request: HttpRequest) -> Any:
        if request.content_type != "application/json":
            raise ApiError(
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "Send the body as JSON with the header Content-Type: application/json.",
            )
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(
                400, ErrorCode.INVALID_UTF8, f"The body is not valid UTF-8 (at byte {exc.start})."
            ) from None
        try:
            # A repeated key is refused: which of the two values counts is not for a parser to guess.
            return json.loads(text, object_pairs_hook=_object_without_repeats)
        except _RepeatedKey as exc:
            raise ApiError(
                400,
                ErrorCode.INVALID_JSON,
                f"The body's JSON names the key {exc.args[0]!r} twice in one object.",
            ) from None
        except json.JSONDecodeError as exc:
            raise ApiError(
                400,
                ErrorCode.INVALID_JSON,
                f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            ) from None
        except RecursionError:
            raise ApiError(400, ErrorCode.INVALID_JSON, "The body's JSON is nested too deeply.") from None


def _field_path(loc: tuple[Any, ...]) -> str:
    """Turn pydantic's location, e.g. ``("texts", 3)``, into ``texts[3]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """Report the first of pydantic's errors; ninja prefixes each location with the parameter source."""
    error = errors[0]
    loc = tuple(error["loc"])
    source, rest = loc[0], loc[1:]
    if source == "body" and len(rest) == 1 and error["type"] == "missing":
        return ApiError(400, ErrorCode.INVALID_JSON, "The body is empty: send a JSON object.")
    if source == "body":
        rest = rest[1:]  # the name of the view's body parameter, which is not in the JSON
    if error["type"] in _OWN_CODES:
        code = ErrorCode(error["type"])
    elif error["type"].endswith("_type") or error["type"].endswith("_parsing"):
        code = ErrorCode.WRONG_TYPE
    else:
        code = _PYDANTIC_CODES.get(error["type"], ErrorCode.INVALID_REQUEST)
    field = _field_path(rest) or None
    index = next((part for part in rest if isinstance(part, int)), None)
    message = str(error["msg"]).rstrip(".") + "."
    if source == "body" and not field and code == ErrorCode.WRONG_TYPE:
        message = "The body must be a JSON object."
    elif field:
        message = f"{field}: {message}"
    return ApiError(422, code, message, field=field, index=index)


_INTERNAL = ApiError(500, ErrorCode.INTERNAL_ERROR, "Something went wrong on our side.")


def install_error_handlers(
    api: NinjaAPI, *, key_refused: Callable[[HttpRequest], "ApiError | None"] = lambda request: None
) -> None:
    """Make every error the API returns an ``{"error": {...}}`` body.

    ``key_refused`` returns the error of a request whose key, accepted unconfirmed, must be refused: it
    answers instead of any other error, so a revoked key learns nothing about its request.
    """

    def answer(request: HttpRequest, error: ApiError) -> HttpResponse:
        if error.status != 401:
            try:
                error = key_refused(request) or error
            except Exception:  # the key could not be confirmed: say nothing about the request
                logger.exception(
                    "API request %s %s: its key could not be confirmed", request.method, request.path
                )
                error = _INTERNAL
        return error.response()

    @api.exception_handler(ApiError)
    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return answer(request, exc)

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, ApiError):  # raised by JsonBodyParser, wrapped by ninja
            return answer(request, exc.__cause__)
        if isinstance(exc, AuthenticationError):
            return unauthorized(
                ErrorCode.MISSING_API_KEY, "Send an API key in the header Authorization: Bearer <key>."
            ).response()
        return answer(request, ApiError(exc.status_code, ErrorCode.INVALID_REQUEST, exc.message))

    @api.exception_handler(ValidationError)
    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return answer(request, _validation_error(exc.errors))

    @api.exception_handler(RequestDataTooBig)
    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return answer(
            request, ApiError(413, ErrorCode.BODY_TOO_LARGE, f"The body is over the limit of {limit} bytes.")
        )

    @api.exception_handler(Exception)
    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("API request %s %s failed", request.method, request.path)
        return answer(request, _INTERNAL)


def unauthorized(code: ErrorCode, message: str) -> ApiError:
    """Return a 401 error that tells the client which authentication scheme to use."""
    return ApiError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="toxsite"'})


def json_method_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an endpoint's view so that a method it does not take gets the API's JSON error, not plain text."""

    @functools.wraps(view)  # keeps the view's csrf_exempt mark
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = response["Allow"]
        message = f"{request.method} is not allowed at {request.path}; use {allowed}."
        return ApiError(405, ErrorCode.METHOD_NOT_ALLOWED, message, headers={"Allow": allowed}).response()

    return wrapped


@csrf_exempt  # it changes nothing, and a POST to a wrong address must get this error, not a CSRF page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Answer any address under the API that names no endpoint (with any method)."""
    message = f"There is no API endpoint at {request.path}."
    if request.path.endswith("/") and _names_an_endpoint(request.path.rstrip("/")):
        message += f" Did you mean {request.path.rstrip('/')} (no slash at the end)?"
    return ApiError(404, ErrorCode.NOT_FOUND, message).response()


def _names_an_endpoint(path: str) -> bool:
    try:
        return resolve(path).func is not not_found
    except Resolver404:
        return False
