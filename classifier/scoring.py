"""Score texts with the configured model and the effective per-label thresholds."""

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from .ml import LABELS
from .ml.model import LoadedModel, Span, load_cached

# A token is highlighted when it adds at least this much to a label's log-odds.
MIN_HIGHLIGHT = 1.0


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


@dataclass(frozen=True)
class Segment:
    """A piece of a message and the flagged labels it drove (none for plain text)."""

    text: str
    labels: tuple[str, ...] = ()


def flagged_labels(scores: dict[str, float], model: LoadedModel | None = None) -> list[str]:
    limits = thresholds(model)
    return [label for label in LABELS if scores[label] >= limits[label]]


def explain(text: str, labels: list[str]) -> list[Span]:
    """Return the spans of ``text`` that drove each of ``labels``, strongest first."""
    return current_model().model.explain(text, labels) if labels else []


def highlight(text: str, spans: list[Span]) -> list[Segment]:
    """Cut ``text`` into plain and highlighted segments; strong spans of several labels on one token merge."""
    marks: dict[tuple[int, int], list[str]] = {}
    for span in spans:
        if span.weight >= MIN_HIGHLIGHT:
            marks.setdefault((span.start, span.end), []).append(span.label)
    segments, cursor = [], 0
    for (start, end), labels in sorted(marks.items()):
        if start > cursor:
            segments.append(Segment(text[cursor:start]))
        segments.append(Segment(text[start:end], tuple(labels)))
        cursor = end
    if cursor < len(text):
        segments.append(Segment(text[cursor:]))
    return segments
