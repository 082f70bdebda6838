"""Score texts with the configured model and the effective per-label thresholds."""

import contextlib
import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from .memo import Memo
from .ml import LABELS
from .ml.model import LoadedModel, Span, load_cached
from .ml.normalize import normalize_many
from .models import ThresholdPolicy
from .terms import term_matcher

logger = logging.getLogger(__name__)

# A token is highlighted when it adds at least this much to a label's log-odds.
MIN_HIGHLIGHT = 1.0


@dataclass(frozen=True)
class ScoredBatch:
    """Scores of a batch of texts: an (n, 6) array in ``LABELS`` order and the flag of each text."""

    scores: np.ndarray
    flagged: np.ndarray
    model_version: str
    limits: np.ndarray  # the thresholds ``flagged`` was decided with, in ``LABELS`` order
    blocked: tuple[str, ...] = ()  # per text: the label of a blocked term in it, or ""

    def rows(self) -> list[dict[str, float]]:
        """Return one ``{label: score}`` dict per text."""
        return [dict(zip(LABELS, map(float, row), strict=True)) for row in self.scores]


def current_model() -> LoadedModel:
    """Return the model at ``settings.MODEL_PATH``; raise ``ModelError`` when it cannot be used."""
    return load_cached(settings.MODEL_PATH)


POLICY_CACHE_KEY = "classifier:threshold-policy"
POLICY_CACHE_SECONDS = 30  # a safety net: every change deletes the key on commit


def _stored_policy() -> dict[str, float]:
    try:
        policy = cache.get(POLICY_CACHE_KEY)
    except Exception:  # any cache backend failure: read the database instead of failing to score
        policy = None
    if policy is None:
        try:
            policy = dict(ThresholdPolicy.objects.values_list("label", "value"))
        except DatabaseError:  # not migrated yet (e.g. `classify` on a fresh checkout): no policy
            return {}
        with contextlib.suppress(Exception):
            cache.set(POLICY_CACHE_KEY, policy, POLICY_CACHE_SECONDS)
    return policy


_policy = Memo(_stored_policy)


def threshold_policy() -> dict[str, float]:
    """Return the moderators' thresholds stored in the database, through caches cleared on every change."""
    return _policy.get()


def threshold_policy_changed() -> None:
    """Forget the cached policy; call after a threshold is written."""
    _policy.clear()
    try:
        cache.delete(POLICY_CACHE_KEY)
    except Exception:
        logger.warning(
            "could not clear the cached threshold policy; it expires in %d s", POLICY_CACHE_SECONDS
        )


def thresholds(model: LoadedModel | None = None, policy: dict[str, float] | None = None) -> dict[str, float]:
    """Return the threshold of each label: the moderators' policy, else the settings', else the model's.

    ``policy`` replaces the cached policy (a writer passes the one it read in its transaction).
    """
    configured = {**settings.THRESHOLDS, **(threshold_policy() if policy is None else policy)}
    if model is None and all(label in configured for label in LABELS):
        return {label: configured[label] for label in LABELS}  # no need to load the model
    recommended = (model or current_model()).thresholds
    return {label: configured.get(label, recommended[label]) for label in LABELS}


def threshold_vector(model: LoadedModel | None = None) -> np.ndarray:
    limits = thresholds(model)
    return np.array([limits[label] for label in LABELS])


def score_texts(texts: list[str]) -> ScoredBatch:
    """Score ``texts`` in one vectorised call."""
    model = current_model()
    matcher = term_matcher()
    blocked: tuple[str, ...] = ("",) * len(texts)
    normalised = normalize_many(texts)  # once: terms are matched on it and the model scores it
    if matcher:
        kept = [matcher.without_permitted(text) for text in normalised]
        blocked = tuple(matcher.blocked_label(text) for text in kept)
        if matcher.permitted is not None:
            # A permitted term is taken out before scoring; what is left is normalised again (the gap it
            # leaves can join or split words), as the model would normalise any text it is given.
            normalised = normalize_many(kept)
    scores = model.model.predict_proba_normalized(normalised)
    limits = threshold_vector(model)
    flagged: np.ndarray = np.asarray((scores >= limits).any(axis=1)) | np.array(
        [bool(label) for label in blocked], dtype=bool
    )
    return ScoredBatch(
        scores=scores, flagged=flagged, model_version=model.version, blocked=blocked, limits=limits
    )


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
