"""The API's endpoints: classify, read a stored prediction, health."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from django.db import DatabaseError, connection
from django.http import HttpRequest
from ninja import Path, Router
from ninja.responses import Status

from ..apikeys import ActiveKey
from ..ml import LABELS
from ..ml.model import LoadedModel, ModelError
from ..models import ApiScope, Prediction, Source
from ..scoring import current_model, score_texts, threshold_vector
from ..selectors import predictions_by_external_id
from ..services import IncomingMessage, predictions_create_many
from .auth import ApiKeyAuth, keys_refused
from .batching import Coalescer
from .errors import ApiError, ErrorCode
from .schemas import (
    ClassifyIn,
    ClassifyOut,
    ClassifyResult,
    DatabaseHealth,
    ErrorOut,
    HealthOut,
    ModelHealth,
    PredictionOut,
    Scores,
)

logger = logging.getLogger(__name__)
router = Router()

_RETRY_AFTER = {
    429: {
        "headers": {
            "Retry-After": {
                "description": "Seconds until the key may send again.",
                "schema": {"type": "integer"},
            }
        }
    }
}
MAX_ID = 2**63 - 1
# The most messages scored and stored in one go when concurrent requests are coalesced.
COALESCE_MAX_MESSAGES = 500


def _model() -> LoadedModel:
    try:
        return current_model()
    except ModelError as exc:
        logger.error("API: the model is not available: %s %s", exc, exc.hint)
        raise ApiError(
            503, ErrorCode.MODEL_UNAVAILABLE, "The classifier's model is not available; try again later."
        ) from None


def _labels_over(scores: Sequence[float], limits: np.ndarray, blocked: str = "") -> list[Any]:
    """Return the labels whose score (in ``LABELS`` order) is at or over its limit, and a blocked term's."""
    over = [label for label, score, limit in zip(LABELS, scores, limits, strict=True) if score >= limit]
    return [*over, blocked] if blocked and blocked not in over else over


def _stored_result(prediction: Prediction, limits: np.ndarray, *, duplicate: bool) -> ClassifyResult:
    scores = prediction.scores
    return ClassifyResult(
        id=prediction.pk,
        external_id=prediction.external_id or None,
        scores=Scores(**scores),
        flagged=prediction.flagged,
        flagged_labels=_labels_over(list(scores.values()), limits, prediction.blocked_label),
        model_version=prediction.model_version,
        duplicate=duplicate,
    )


def _classify_and_store(messages: Sequence[IncomingMessage], limits: np.ndarray) -> list[ClassifyResult]:
    """Store ``messages`` with one scoring call and one insert; a known external id maps to its prediction."""
    stored = predictions_create_many(messages=messages, source=Source.API)
    by_external_id = {p.external_id: p for p in stored if p.external_id}
    fresh_without_id = iter([p for p in stored if not p.external_id])
    earlier = predictions_by_external_id(
        source=Source.API,
        external_ids={
            m.external_id for m in messages if m.external_id and m.external_id not in by_external_id
        },
    )
    results = []
    seen: set[str] = set()
    for message in messages:
        if not message.external_id:
            results.append(_stored_result(next(fresh_without_id), limits, duplicate=False))
            continue
        prediction = by_external_id.get(message.external_id)
        duplicate = prediction is None or message.external_id in seen
        seen.add(message.external_id)
        results.append(
            _stored_result(prediction or earlier[message.external_id], limits, duplicate=duplicate)
        )
    return results


def _classify_only(messages: Sequence[IncomingMessage], limits: np.ndarray) -> list[ClassifyResult]:
    batch = score_texts([m.text for m in messages])
    return [
        ClassifyResult(
            id=None,
            external_id=message.external_id or None,
            scores=Scores(**dict(zip(LABELS, map(float, scores), strict=True))),
            flagged=bool(flagged),
            flagged_labels=_labels_over(scores.tolist(), limits, blocked),
            model_version=batch.model_version,
            duplicate=False,
        )
        for message, scores, flagged, blocked in zip(
            messages, batch.scores, batch.flagged, batch.blocked, strict=True
        )
    ]


@dataclass(frozen=True)
class _Item:
    message: IncomingMessage
    store: bool
    key: ActiveKey


def _classify_items(items: list[_Item]) -> list[ClassifyResult | ApiError]:
    """Score the items of one request or several: the stored ones with one scoring call and one insert,
    the others with one scoring call. Keys accepted unconfirmed are confirmed first, with one query: the
    items of a key that must be refused get its error and are neither scored nor stored."""
    refused = keys_refused([item.key for item in items], ApiScope.CLASSIFY)
    limits = threshold_vector(_model())
    results: dict[int, ClassifyResult | ApiError] = {
        i: refused[item.key.id] for i, item in enumerate(items) if item.key.id in refused
    }
    for store, handle in ((True, _classify_and_store), (False, _classify_only)):
        positions = [i for i, item in enumerate(items) if item.store is store and i not in results]
        if positions:
            scored = handle([items[i].message for i in positions], limits)
            results.update(zip(positions, scored, strict=True))
    return [results[i] for i in range(len(items))]


# Requests served at the same time by one (threaded) worker are scored and stored together.
_batches = Coalescer(_classify_items, max_items=COALESCE_MAX_MESSAGES)


@router.post(
    "/classify",
    # A key this process knows is confirmed with the batch's other keys, in one query (_classify_items).
    auth=ApiKeyAuth(ApiScope.CLASSIFY, confirm_later=True),
    response={200: ClassifyOut, (400, 401, 403, 413, 415, 422, 429, 503): ErrorOut},
    summary="Score messages (and store them)",
    operation_id="classify",
    tags=["classify"],
    openapi_extra={"responses": _RETRY_AFTER},
)
def classify(request: HttpRequest, payload: ClassifyIn) -> ClassifyOut:
    """Score one message (`text`) or a batch (`texts`, or `messages` with metadata) on the six labels.

    Unless `store` is false, the messages are stored as predictions with source `api`, all or none: a
    request with one bad message is refused whole, naming its index. A message whose `external_id` was
    stored before is not stored again; its result is the stored prediction, marked `duplicate`.
    Needs a key with the `classify` scope.
    """
    _model()  # before waiting for a batch: a missing model is a 503 at once
    key = request.auth  # type: ignore[attr-defined]
    results = _batches.submit([_Item(message, payload.store, key) for message in payload.incoming()])
    for result in results:
        if isinstance(result, ApiError):
            raise result
    return ClassifyOut(results=results)  # type: ignore[arg-type]


@router.get(
    "/predictions/{prediction_id}",
    auth=ApiKeyAuth(ApiScope.READ),
    response={200: PredictionOut, (401, 403, 404, 422, 429, 503): ErrorOut},
    summary="Read a stored prediction",
    operation_id="getPrediction",
    tags=["predictions"],
    openapi_extra={"responses": _RETRY_AFTER},
)
def prediction_detail(
    request: HttpRequest, prediction_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> PredictionOut:
    """Return a stored prediction with its current fields. Needs a key with the `read` scope."""
    prediction = Prediction.objects.filter(pk=prediction_id).first()
    if prediction is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, f"There is no prediction {prediction_id}.")
    scores = prediction.scores
    return PredictionOut(
        id=prediction.pk,
        text=prediction.text,
        scores=Scores(**scores),
        flagged=prediction.flagged,
        flagged_labels=_labels_over(
            list(scores.values()), threshold_vector(_model()), prediction.blocked_label
        ),
        model_version=prediction.model_version,
        source=prediction.source,  # type: ignore[arg-type]
        channel=prediction.channel,
        author=prediction.author,
        external_id=prediction.external_id,
        created_at=prediction.created_at,
    )


@router.get(
    "/health",
    auth=None,
    response={200: HealthOut, 503: HealthOut},
    summary="Health check",
    operation_id="health",
    tags=["health"],
)
def health(request: HttpRequest) -> Status:
    """Report whether the model is loaded and the database answers; 503 when either is not. No key needed."""
    try:
        version: str | None = current_model().version
    except ModelError as exc:
        logger.error("health: the model is not available: %s", exc)
        version = None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        reachable = True
    except DatabaseError as exc:
        logger.error("health: the database is not reachable: %s", exc)
        reachable = False
    ok = version is not None and reachable
    body = HealthOut(
        status="ok" if ok else "unavailable",
        model=ModelHealth(loaded=version is not None, version=version),
        database=DatabaseHealth(reachable=reachable),
    )
    return Status(200 if ok else 503, body)
