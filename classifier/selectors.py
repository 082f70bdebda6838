"""Read queries on predictions."""

from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from .ml import LABELS
from .models import Action, ModerationDecision, Prediction, ScoreRevision, Status


def prediction_chunks(*, chunk_size: int) -> Iterator[list[tuple]]:
    """Yield (id, text, six scores..., flagged) rows in id order, ``chunk_size`` at a time.

    Pruned messages are left out: their text is gone, so scoring it again would overwrite real scores.

    Keyset pagination (``id > last``) keeps every query as fast as the first on a large table.
    """
    last_id = 0
    while True:
        chunk = list(
            Prediction.objects.filter(id__gt=last_id, pruned_at__isnull=True)
            .order_by("id")
            .values_list("id", "text", *LABELS, "flagged")[:chunk_size]
        )
        if not chunk:
            return
        yield chunk
        last_id = chunk[-1][0]


def flagged_predictions() -> QuerySet[Prediction]:
    """Return the flagged predictions, newest first."""
    return Prediction.objects.filter(flagged=True).order_by("-created_at", "-id")


def predictions_by_external_id(*, source: str, external_ids: Iterable[str]) -> dict[str, Prediction]:
    """Return the predictions of ``source`` stored under ``external_ids``, by external id."""
    ids = set(external_ids)
    if not ids:
        return {}
    return {p.external_id: p for p in Prediction.objects.filter(source=source, external_id__in=ids)}


def review_queue() -> QuerySet[Prediction]:
    """Return the flagged messages still pending review, oldest first."""
    return Prediction.objects.filter(flagged=True, status=Status.PENDING).order_by("created_at", "id")


def history_for(*, prediction: Prediction) -> list[ScoreRevision | ModerationDecision]:
    """Return the score revisions and decisions of ``prediction`` in time order (revisions first on a tie)."""
    revisions = list(prediction.revisions.order_by("created_at", "id"))
    decisions = list(prediction.decisions.select_related("moderator").order_by("created_at", "id"))
    events: list[ScoreRevision | ModerationDecision] = [*revisions, *decisions]
    return sorted(
        events, key=lambda event: (event.created_at, isinstance(event, ModerationDecision), event.pk)
    )


def corrected_labels(*, chunk_size: int = 2000) -> Iterator[tuple[int, str, dict[str, int]]]:
    """Yield (message id, text, labels) of each message a moderator relabelled, with its latest labels.

    Messages whose text was pruned are left out: there is nothing to learn from.
    """
    rows = (
        ModerationDecision.objects.filter(action=Action.RELABEL, prediction__pruned_at__isnull=True)
        .order_by("prediction_id", "-created_at", "-id")
        .values_list("prediction_id", "prediction__text", "labels")
        .iterator(chunk_size=chunk_size)
    )
    last = None
    for pk, text, labels in rows:
        if pk != last:  # the first row of each message is its latest relabel
            last = pk
            yield pk, text, labels
