"""The model artefact: verify, load, cache and score.

An artefact is a joblib file holding a :class:`ToxicityModel` and, beside it, a JSON sidecar that records
its SHA-256, the library versions it was built with, its metrics and its recommended thresholds.
Unpickling runs code, so the hash and versions are checked before the file is opened.
"""

import copy
import hashlib
import itertools
import json
import re
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from scipy.special import expit
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from . import LABELS
from .fast import CharScorer, WordScorer
from .normalize import NORMALIZER_VERSION, normalize, normalize_many

FORMAT_VERSION = 2
REBUILD_HINT = (
    "Run `python manage.py train_model` to rebuild it, "
    "or restore the shipped file with `git checkout ml_models/`."
)


class ModelError(Exception):
    """The artefact cannot be used; ``kind`` is one of missing, corrupt, tampered, incompatible."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.hint = REBUILD_HINT

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickled from a worker process to the caller
        return type(self), (self.kind, str(self))


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of the original text pushed label ``label`` up by ``weight`` (log-odds)."""

    start: int
    end: int
    label: str
    weight: float


_TOKEN = re.compile(r"\S+")
_EDGES = ".,;:!?\"'()[]{}<>…“”‘’*"


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow ``start:end`` so that it neither starts nor ends in punctuation."""
    token = text[start:end]
    return start + len(token) - len(token.lstrip(_EDGES)), start + len(token.rstrip(_EDGES))


def _token_spans(text: str) -> list[tuple[int, int]]:
    """Split on white space, keeping a run of three or more one-character tokens ("f u c k") together."""
    found = [_trimmed(text, m.start(), m.end()) for m in _TOKEN.finditer(text)]
    found = [(start, end) for start, end in found if end > start]
    spans, i = [], 0
    while i < len(found):
        j = i
        while j < len(found) and found[j][1] - found[j][0] == 1:
            j += 1
        if j - i >= 3:
            spans.append((found[i][0], found[j - 1][1]))
            i = j
        else:
            spans.append(found[i])
            i += 1
    return spans


class ToxicityModel:
    """Word and character TF-IDF features and one calibrated linear scorer per label.

    All six labels are scored with one sparse matrix product: ``sigmoid(X @ coef + intercept)``, where the
    calibration (Platt scaling) is already folded into ``coef`` and ``intercept``.
    """

    labels = LABELS

    def __init__(
        self,
        word: TfidfVectorizer,
        char: TfidfVectorizer,
        coef: np.ndarray,
        intercept: np.ndarray,
        version: str,
    ) -> None:
        self.word = word
        self.char = char
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.version = version
        self._build_scorers()

    def _build_scorers(self) -> None:
        split = len(self.word.vocabulary_)
        coef = self.coef.astype(np.float64)
        self._scorers = (WordScorer(self.word, coef[:split]), CharScorer(self.char, coef[split:]))

    def __getstate__(self) -> dict[str, Any]:
        # A vocabulary is pickled as one newline-joined string: joblib's pure-Python unpickler takes
        # seconds over a dict of 200k terms, and normalised terms never hold a newline.
        state = {key: value for key, value in self.__dict__.items() if key != "_scorers"}
        for name in ("word", "char"):
            vectorizer = copy.copy(state[name])
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
            del vectorizer.vocabulary_
            # scikit-learn's memo of id(stop_words): a memory address, different in every process.
            vectorizer.__dict__.pop("_stop_words_id", None)
            state[name] = vectorizer
            state[f"{name}_terms"] = "\n".join(terms)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in ("word", "char"):
            terms = state.pop(f"{name}_terms")
            state[name].vocabulary_ = dict(zip(terms.split("\n"), itertools.count())) if terms else {}
        self.__dict__.update(state)
        self._build_scorers()

    def features(self, normalized: Sequence[str]) -> sp.csr_matrix:
        """Return the TF-IDF feature matrix of already normalised texts."""
        return sp.hstack([self.word.transform(normalized), self.char.transform(normalized)], format="csr")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, 6) array of label probabilities for raw ``texts``."""
        return self.predict_proba_normalized(normalize_many(texts))

    def predict_proba_normalized(self, normalized: list[str]) -> np.ndarray:
        """Return an (n, 6) array of label probabilities for texts that ``normalize_many`` returned."""
        logits = sum(scorer.logits(normalized) for scorer in self._scorers) + self.intercept
        return expit(logits)

    def predict_proba_reference(self, texts: Sequence[str]) -> np.ndarray:
        """Score through scikit-learn's own transform: slower, and the reference the fast path must equal."""
        features = self.features([normalize(text) for text in texts])
        return expit(np.asarray(features @ self.coef) + self.intercept)

    def explain(self, text: str, labels: Sequence[str], top: int = 5) -> list[Span]:
        """Return the parts of ``text`` that raised each of ``labels`` most, strongest first.

        Each white-space token is credited with the features its own normalised form produces (its words
        and character n-grams) that occur in the message, times their weight; a feature produced by several
        tokens is shared between them. Bigrams that span two tokens are left out.
        """
        doc = self.features([normalize(text)])
        present = dict(zip(doc.indices.tolist(), doc.data.tolist(), strict=True))
        words, chars = self.word.vocabulary_, self.char.vocabulary_
        offset = len(words)
        analyse_word, analyse_char = self.word.build_analyzer(), self.char.build_analyzer()
        claims: list[tuple[tuple[int, int], set[int]]] = []
        for start, end in _token_spans(text):
            piece = normalize(text[start:end])
            owned = {words[g] for g in analyse_word(piece) if g in words}
            owned |= {chars[g] + offset for g in analyse_char(piece) if g in chars}
            claims.append(((start, end), owned & present.keys()))
        shares = Counter(index for _, owned in claims for index in owned)
        spans = []
        for label in labels:
            column = self.coef[:, self.labels.index(label)]
            scored = [
                (sum(present[i] * float(column[i]) / shares[i] for i in owned), bounds)
                for bounds, owned in claims
                if owned
            ]
            best = sorted((item for item in scored if item[0] > 0), key=lambda item: -item[0])[:top]
            spans += [Span(start, end, label, round(weight, 4)) for weight, (start, end) in best]
        return spans


@dataclass(frozen=True)
class LoadedModel:
    """A verified model and its sidecar."""

    model: ToxicityModel
    metadata: dict[str, Any]
    path: Path

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def thresholds(self) -> dict[str, float]:
        """Return the per-label thresholds recommended by training."""
        return {label: float(value) for label, value in self.metadata["thresholds"].items()}


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_sidecar(path: Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.exists():
        raise ModelError("missing", f"The model's sidecar {side} is missing.")
    try:
        metadata = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError("corrupt", f"The model's sidecar {side} cannot be read: {exc}.") from exc
    if not isinstance(metadata, dict) or metadata.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            "incompatible",
            f"The model's sidecar {side} is not format version {FORMAT_VERSION} that this toxsite reads.",
        )
    return metadata


def _verify(path: Path, metadata: dict[str, Any]) -> None:
    artefact = metadata.get("artefact", {})
    size = path.stat().st_size
    if size != artefact.get("bytes"):
        raise ModelError(
            "corrupt",
            f"The model file {path} is {size} bytes but its sidecar says {artefact.get('bytes')}: "
            "it is truncated or corrupt.",
        )
    if file_sha256(path) != artefact.get("sha256"):
        raise ModelError(
            "tampered",
            f"The SHA-256 of the model file {path} does not match its sidecar: the file was altered.",
        )
    normalizer = metadata.get("normalizer_version")
    if normalizer != NORMALIZER_VERSION:
        raise ModelError(
            "incompatible",
            f"The model file {path} was trained on text normalised by version {normalizer} of the "
            f"normaliser, but this toxsite normalises with version {NORMALIZER_VERSION}.",
        )
    built_with = metadata.get("versions", {}).get("scikit-learn")
    if built_with != sklearn.__version__:
        raise ModelError(
            "incompatible",
            f"The model file {path} was built with scikit-learn {built_with}, "
            f"but scikit-learn {sklearn.__version__} is installed.",
        )


def load(path: Path) -> LoadedModel:
    """Verify and load the artefact at ``path``; raise :class:`ModelError` when it cannot be used."""
    if not path.exists():
        raise ModelError("missing", f"The model file {path} does not exist.")
    metadata = _read_sidecar(path)
    _verify(path, metadata)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            model = joblib.load(path)
    except InconsistentVersionWarning as exc:
        raise ModelError("incompatible", f"The model file {path} is incompatible: {exc}") from exc
    except Exception as exc:  # unpickling can fail in many ways; all mean the file is unusable
        raise ModelError("corrupt", f"The model file {path} cannot be loaded: {exc!r}.") from exc
    if not isinstance(model, ToxicityModel):
        raise ModelError("incompatible", f"The model file {path} does not hold a toxsite model.")
    return LoadedModel(model=model, metadata=metadata, path=path)


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> LoadedModel:
    return load(Path(path))


# A retrained model replaces the artefact and then its sidecar, each atomically: a load between the two sees a
# mismatched pair. Such a load waits this long for the other file to be replaced before it gives up.
REPLACE_WAIT_SECONDS = 1.0
_REPLACE_POLL_SECONDS = 0.05


# Per path: the artefact's (mtime, size), until when, and the error of a load that failed after the wait.
_failures: dict[str, tuple[tuple[int, int], float, ModelError]] = {}


def _stamps(path: Path) -> tuple[tuple[int, int] | None, ...]:
    """Return (mtime, size) of the artefact and of its sidecar, None for a missing one."""
    stamps: list[tuple[int, int] | None] = []
    for file in (path, sidecar_path(path)):
        try:
            stat = file.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def load_cached(path: Path) -> LoadedModel:
    """Return the model at ``path``, loading it once per version of the file.

    When the artefact and its sidecar disagree while one of them is being replaced (a retrained model
    being installed), wait up to ``REPLACE_WAIT_SECONDS`` for the pair to agree again.
    """
    deadline, stamps = None, None
    while True:
        try:
            stat = path.stat()  # the only system call when the model is loaded already
        except OSError as exc:
            raise ModelError("missing", f"The model file {path} does not exist.") from exc
        version = (stat.st_mtime_ns, stat.st_size)
        known = _failures.get(str(path))
        if known and known[0] == version and time.monotonic() < known[1]:
            raise known[2]  # failed after the wait just now: not another load and wait for every request
        try:
            return _load_cached(str(path), *version)
        except ModelError as exc:
            if exc.kind not in {"corrupt", "tampered"}:
                raise
            if deadline is None:  # note both files, then try once more at once
                deadline, stamps = time.monotonic() + REPLACE_WAIT_SECONDS, _stamps(path)
                continue
            while _stamps(path) == stamps or time.monotonic() >= deadline:
                if time.monotonic() >= deadline:  # nothing is being replaced: the pair really disagrees
                    _failures[str(path)] = (version, time.monotonic() + REPLACE_WAIT_SECONDS, exc)
                    raise
                time.sleep(_REPLACE_POLL_SECONDS)
            stamps = _stamps(path)
