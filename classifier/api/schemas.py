"""Request and response bodies of the API; pydantic validates them and they make the OpenAPI schema.

The limits that come from settings (longest text, most texts per request) are read when a request is
validated and when the schema is generated, never at import time.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..services import IncomingMessage
from ..validators import is_blank
from .errors import ErrorCode

Label = Literal["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\ud800" escape
        return False
    return True


def _check_clean(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError(ErrorCode.NUL_CHARACTER.value, "The value holds a NUL character (\\u0000)")
    if not _is_unicode(value):
        raise PydanticCustomError(
            ErrorCode.INVALID_UNICODE.value, "The value holds an unpaired surrogate (not Unicode text)"
        )
    return value


def _check_text(value: str) -> str:
    _check_clean(value)
    if is_blank(value):
        raise PydanticCustomError(
            ErrorCode.EMPTY_TEXT.value, "The text is empty or only whitespace or invisible characters"
        )
    limit = settings.MAX_MESSAGE_LENGTH
    if len(value) > limit:
        raise PydanticCustomError(
            ErrorCode.TEXT_TOO_LONG.value,
            "The text is {length} characters long; the limit is {limit}",
            {"length": len(value), "limit": limit},
        )
    return value


def _check_batch_size(value: Any) -> Any:
    limit = settings.API_MAX_BATCH_SIZE
    if isinstance(value, list) and len(value) > limit:
        raise PydanticCustomError(
            ErrorCode.TOO_MANY_TEXTS.value,
            "{count} messages in one request; the limit is {limit}",
            {"count": len(value), "limit": limit},
        )
    return value


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError(ErrorCode.WRONG_TYPE.value, "Leave the field out instead of sending null")
    return value


def _text_schema(schema: dict[str, Any]) -> None:
    schema.update(minLength=1, maxLength=settings.MAX_MESSAGE_LENGTH)


def _not_nullable(schema: dict[str, Any]) -> None:
    """Show an optional field as its type alone: null is refused (``_not_null``), the field is left out."""
    options = [option for option in schema.pop("anyOf", []) if option.get("type") != "null"]
    for key, value in (options[0] if options else {}).items():
        schema.setdefault(key, value)


def _batch_schema(schema: dict[str, Any]) -> None:
    _not_nullable(schema)
    schema.update(minItems=1, maxItems=settings.API_MAX_BATCH_SIZE)


Text = Annotated[
    str,
    AfterValidator(_check_text),
    Field(
        description="A chat message: not empty or only whitespace, no NUL characters, "
        "at most MAX_MESSAGE_LENGTH (default 500) characters.",
        json_schema_extra=_text_schema,
    ),
]
# A null for an optional field is refused with the fix (leave it out), not "Input should be a valid string".
Channel = Annotated[str, Field(max_length=100), BeforeValidator(_not_null), AfterValidator(_check_clean)]
Author = Annotated[str, Field(max_length=100), BeforeValidator(_not_null), AfterValidator(_check_clean)]
ExternalId = Annotated[str, Field(max_length=128), BeforeValidator(_not_null), AfterValidator(_check_clean)]
_STRICT = ConfigDict(extra="forbid", strict=True)


class MessageIn(BaseModel):
    """One message of a batch with what its platform knows about it."""

    model_config = _STRICT

    text: Text
    channel: Channel = Field("", description="Chat channel or room; overrides the request's `channel`.")
    author: Author = Field("", description="Who wrote it; overrides the request's `author`.")
    external_id: ExternalId = Field(
        "",
        description="The platform's id of the message; one stored already under it is not stored again.",
    )


class ClassifyIn(BaseModel):
    """Exactly one of `text`, `texts` and `messages`."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            # Exactly one of text, texts and messages; a top-level external_id only with text.
            "oneOf": [
                {"required": ["text"]},
                {"required": ["texts"], "not": {"required": ["external_id"]}},
                {"required": ["messages"], "not": {"required": ["external_id"]}},
            ],
            "examples": [
                {"text": "you are a complete idiot", "channel": "#general", "external_id": "msg-1"},
                {"texts": ["gg well played", "shut up you moron"], "store": False},
                {"messages": [{"text": "nice shot", "author": "ann", "external_id": "msg-2"}]},
            ],
        },
    )

    # None stands for "not given": the schema shows no null, and an explicit null is refused.
    text: Annotated[Text | None, BeforeValidator(_not_null)] = Field(
        None, description="One message.", json_schema_extra=_not_nullable
    )
    texts: Annotated[list[Text] | None, BeforeValidator(_check_batch_size), BeforeValidator(_not_null)] = (
        Field(
            None,
            description="Several messages, in order (at most API_MAX_BATCH_SIZE, default 100).",
            json_schema_extra=_batch_schema,
        )
    )
    messages: Annotated[
        list[MessageIn] | None, BeforeValidator(_check_batch_size), BeforeValidator(_not_null)
    ] = Field(
        None,
        description="Several messages with their own metadata (at most API_MAX_BATCH_SIZE, default 100).",
        json_schema_extra=_batch_schema,
    )
    store: Annotated[bool, BeforeValidator(_not_null)] = Field(
        True, description="Store the messages as predictions (source `api`)."
    )
    channel: Channel = Field("", description="Chat channel or room of every message.")
    author: Author = Field("", description="Who wrote every message.")
    external_id: ExternalId = Field(
        "",
        description="The platform's id of `text` (with `texts`, give `messages` instead): "
        "a message already stored under it is not stored again.",
    )

    @model_validator(mode="after")
    def _one_form(self) -> "ClassifyIn":
        given = [name for name in ("text", "texts", "messages") if getattr(self, name) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                ErrorCode.INVALID_REQUEST.value, "Give exactly one of text, texts and messages"
            )
        if self.texts == [] or self.messages == []:
            raise PydanticCustomError(ErrorCode.INVALID_REQUEST.value, "Give at least one message")
        if self.external_id and self.text is None:
            raise PydanticCustomError(
                ErrorCode.INVALID_REQUEST.value,
                "A top-level external_id goes with text; give each item of messages its own",
            )
        return self

    def incoming(self) -> list[IncomingMessage]:
        """Return the messages to score, with the request's metadata filled in."""
        if self.text is not None:
            return [IncomingMessage(self.text, self.channel, self.author, self.external_id)]
        if self.texts is not None:
            return [IncomingMessage(text, self.channel, self.author) for text in self.texts]
        return [
            IncomingMessage(m.text, m.channel or self.channel, m.author or self.author, m.external_id)
            for m in self.messages or []
        ]


Score = Annotated[float, Field(ge=0.0, le=1.0)]


class Scores(BaseModel):
    """The probability of each label, 0 to 1."""

    toxic: Score
    severe_toxic: Score
    obscene: Score
    threat: Score
    insult: Score
    identity_hate: Score


class ClassifyResult(BaseModel):
    id: int | None = Field(description="The stored prediction's id; null when not stored.")
    external_id: str | None = Field(description="The message's external_id as sent; null when none.")
    scores: Scores
    flagged: bool = Field(description="A score is at or over its label's threshold.")
    flagged_labels: list[Label] = Field(description="The labels at or over their thresholds.")
    model_version: str = Field(description="The model that gave the scores.")
    duplicate: bool = Field(
        description="The external_id was stored already (or repeated in this request): id, scores and "
        "flags are those of the stored prediction, and nothing new was stored."
    )


class ClassifyOut(BaseModel):
    results: list[ClassifyResult] = Field(description="One result per message, in the order sent.")


class PredictionOut(BaseModel):
    id: int
    text: str
    scores: Scores
    flagged: bool = Field(description="A score was at or over its label's threshold when last scored.")
    flagged_labels: list[Label] = Field(description="The labels at or over their current thresholds.")
    model_version: str
    source: Literal["form", "command", "api", "chat"]
    channel: str
    author: str
    external_id: str
    created_at: datetime


class ModelHealth(BaseModel):
    loaded: bool
    version: str | None


class DatabaseHealth(BaseModel):
    reachable: bool


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    model: ModelHealth
    database: DatabaseHealth


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str = Field(description="What went wrong and what to do, for a person.")
    field: str | None = Field(None, description="The request field at fault, e.g. `texts[3]`.")
    index: int | None = Field(None, description="The index of the message at fault in a batch.")


class ErrorOut(BaseModel):
    error: ErrorBody
