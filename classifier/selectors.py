"""Read queries on predictions."""

from collections.abc import Iterator

from django.db.models import QuerySet

from .ml import LABELS
from .models import Prediction


def prediction_chunks(*, chunk_size: int) -> Iterator[list[tuple]]:
    """Yield (id, text, six scores..., flagged) rows in id order, ``chunk_size`` at a time.

    Keyset pagination (``id > last``) keeps every query as fast as the first on a large table.
    """
    last_id = 0
    while True:
        chunk = list(
            Prediction.objects.filter(id__gt=last_id)
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
