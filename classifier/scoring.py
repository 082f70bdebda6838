"""Score texts with the configured model and the effective per-label thresholds."""

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from .ml import LABELS
from .ml.model import LoadedModel, load_cached


@dataclass(frozen=True)
class ScoredBatch:
    """Scores of a batch of texts: an (n, 6) array in ``LABELS`` order and the flag of each text."""

    scores: np.ndarray
    flagged: np.ndarray
    model_version: str

    def rows(self) -> list[dict[str, float]]:
        """Return one ``{label: score}`` dict per text."""
        return [dict(zip(LABELS, map(float, row), strict=True)) for row in self.scores]


def current_model() -> LoadedModel:
    """Return the model at ``settings.MODEL_PATH``; raise ``ModelError`` when it cannot be used."""
    return load_cached(settings.MODEL_PATH)


def thresholds(model: LoadedModel | None = None) -> dict[str, float]:
    """Return the threshold of each label: the settings' value, else the one recommended by training."""
    recommended = (model or current_model()).thresholds
    return {label: settings.THRESHOLDS.get(label, recommended[label]) for label in LABELS}


def threshold_vector(model: LoadedModel | None = None) -> np.ndarray:
    limits = thresholds(model)
    return np.array([limits[label] for label in LABELS])


def score_texts(texts: list[str]) -> ScoredBatch:
    """Score ``texts`` in one vectorised call."""
    model = current_model()
    scores = model.model.predict_proba(texts)
    flagged: np.ndarray = np.asarray((scores >= threshold_vector(model)).any(axis=1))
    return ScoredBatch(scores=scores, flagged=flagged, model_version=model.version)
