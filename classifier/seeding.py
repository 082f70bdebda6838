"""Fill the database with realistic stored predictions quickly, for benchmarks and demos."""

import csv
import itertools
import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from .models import Prediction, Source
from .scoring import score_texts

_WORDS = (
    "gg",
    "nice shot",
    "hello chat",
    "love this song",
    "you are an idiot",
    "shut up moron",
    "i will find you",
)
_POOL = 50_000


def seed_texts(*, data_dir: Path | None, seed: int = 0) -> list[str]:
    """Return up to 50,000 message texts from the training CSVs under ``data_dir``, else generated ones."""
    texts: list[str] = []
    for path in sorted(data_dir.glob("*/*.csv")) if data_dir and data_dir.is_dir() else []:
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                text = (row.get("comment_text") or row.get("text") or row.get("tweet") or "").strip()
                if text and "\x00" not in text:
                    texts.append(text[:500])
                if len(texts) >= _POOL:
                    return texts
    if texts:
        return texts
    rng = random.Random(seed)
    return [" ".join(rng.choices(_WORDS, k=rng.randint(1, 4))) for _ in range(_POOL)]


def predictions_seed(
    *,
    count: int,
    texts: list[str],
    batch_size: int = 5000,
    days: int = 30,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Store ``count`` predictions of ``texts`` (cycled), each batch scored in one call and one INSERT.

    Creation times spread evenly over the last ``days`` days, oldest first. Return how many were stored.
    """
    if not texts:
        raise ValueError("Seeding needs at least one text.")
    now = timezone.now()
    step = timedelta(days=days) / max(count, 1)
    source: Iterator[str] = itertools.cycle(texts)
    stored = 0
    while stored < count:
        chunk = list(itertools.islice(source, min(batch_size, count - stored)))
        batch = score_texts(chunk)
        predictions = [
            Prediction(
                text=text,
                flagged=bool(flagged),
                blocked_label=blocked,
                model_version=batch.model_version,
                source=Source.COMMAND,
                created_at=now - (count - stored - i) * step,
                **scores,
            )
            for i, (text, scores, flagged, blocked) in enumerate(
                zip(chunk, batch.rows(), batch.flagged, batch.blocked, strict=True)
            )
        ]
        with transaction.atomic():  # a trigger adds each row's first score revision (triggers.py)
            Prediction.objects.bulk_create(predictions, batch_size=batch_size)
        stored += len(chunk)
        if on_batch:
            on_batch(len(chunk))
    return stored
