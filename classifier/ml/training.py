"""Fit, evaluate and save the toxicity model (called by ``manage.py train_model``)."""

import hashlib
import json
import os
import platform
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import average_precision_score, roc_auc_score

from . import LABELS
from .augment import neutral_sentences
from .bias import BANTER, identity_sentences
from .card import render_card
from .data import UNKNOWN, Dataset, load_dataset
from .fitting import CV_FOLDS, REFERENCE_RATES, TARGET_PRECISION, Progress, fit_labels
from .model import FORMAT_VERSION, ToxicityModel, file_sha256, sidecar_path
from .normalize import NORMALIZER_VERSION, normalize_many
from .obfuscate import obfuscate

# Weight of each hand-written neutral sentence (augment.py) relative to a labelled row.
AUGMENT_WEIGHT = 3.0
# Weight of a source's rows (1 when not named). HatEval collected its tweets by keywords about immigrants
# and women and calls only hate against them hate, so at full weight a neutral "I am an immigrant" scores
# as identity hate; at 0.3 its signal stays and that bias mostly goes (see the model card's bias check).
SOURCE_WEIGHTS = {"tweeteval_hate": 0.3}


class TrainingError(Exception):
    """Training cannot run with the data it was given."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; all of them are recorded in the sidecar."""

    word_max_features: int = 100_000
    char_max_features: int = 150_000
    min_df: int = 2
    c: float = 1.0
    sample: int | None = None
    seed: int = 0
    n_jobs: int = 2


def _vectorizers(config: TrainConfig) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    common: dict[str, Any] = {
        "lowercase": False,
        "sublinear_tf": True,
        "min_df": config.min_df,
        "dtype": np.float32,
    }
    word = TfidfVectorizer(
        analyzer="word",
        token_pattern=r"(?u)\b\w+\b",
        ngram_range=(1, 2),
        max_features=config.word_max_features,
        **common,
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), max_features=config.char_max_features, **common
    )
    return word, char


def _sample(ds: Dataset, size: int, seed: int) -> Dataset:
    keep = sorted(random.Random(seed).sample(range(len(ds)), min(size, len(ds))))
    out = Dataset(files=ds.files)
    for i in keep:
        out.add(ds.texts[i], ds.labels[i], ds.sources[i], ds.is_validation[i])
    return out


def _label_metrics(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    known = y != UNKNOWN
    y, proba = y[known].astype(np.int64), proba[known]
    positives = int(y.sum())
    out: dict[str, Any] = {"rows": int(y.size), "positives": positives}
    if 0 < positives < y.size:
        predicted = proba >= threshold
        tp = int((predicted & (y == 1)).sum())
        out.update(
            roc_auc=round(float(roc_auc_score(y, proba)), 4),
            pr_auc=round(float(average_precision_score(y, proba)), 4),
            precision=round(tp / max(int(predicted.sum()), 1), 4),
            recall=round(tp / positives, 4),
        )
    return out


def evaluate(
    proba: np.ndarray, y: np.ndarray, sources: np.ndarray, thresholds: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """Return validation metrics per source (and ``all``) per label."""
    metrics: dict[str, dict[str, Any]] = {}
    for source in ["all", *sorted(set(sources.tolist()))]:
        mask = np.ones(len(sources), bool) if source == "all" else sources == source
        per_label = {
            label: _label_metrics(y[mask, j], proba[mask, j], thresholds[label])
            for j, label in enumerate(LABELS)
        }
        aucs = [m["roc_auc"] for m in per_label.values() if "roc_auc" in m]
        metrics[source] = {
            "labels": per_label,
            "mean_roc_auc": round(float(np.mean(aucs)), 4) if aucs else None,
        }
    return metrics


def bias_report(model: ToxicityModel, thresholds: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Return the false-positive rate at ``thresholds`` on the neutral sentences of ``bias.py``."""
    limits = np.array([thresholds[label] for label in LABELS])
    report = {}
    for name, texts in (("identity", identity_sentences()), ("banter", list(BANTER))):
        flagged: np.ndarray = np.asarray((model.predict_proba(texts) >= limits).any(axis=1))
        report[name] = {
            "sentences": len(texts),
            "false_positive_rate": round(float(flagged.mean()), 4),
            "flagged_examples": [text for text, hit in zip(texts, flagged, strict=True) if hit][:10],
        }
    return report


def robustness_report(
    model: ToxicityModel, texts: list[str], y: np.ndarray, proba: np.ndarray
) -> dict[str, dict[str, float]]:
    """Return ROC AUC per label on validation texts as written and with half their words disguised."""
    disguised = model.predict_proba([obfuscate(text, seed=i) for i, text in enumerate(texts)])
    report = {}
    for j, label in enumerate(LABELS):
        known = y[:, j] != UNKNOWN
        target = y[known, j]
        if 0 < target.sum() < target.size:
            plain = float(roc_auc_score(target, proba[known, j]))
            hidden = float(roc_auc_score(target, disguised[known, j]))
            report[label] = {"plain": round(plain, 4), "obfuscated": round(hidden, 4)}
    return report


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def train(
    data_dir: Path, config: TrainConfig, progress: Progress, extra_labels: Path | None = None
) -> tuple[ToxicityModel, dict[str, Any]]:
    """Fit a model on the sources in ``data_dir`` and ``extra_labels``; return it and its sidecar metadata."""
    try:
        ds = load_dataset(data_dir, extra_labels=extra_labels)
    except ValueError as exc:  # a malformed extra-labels file
        raise TrainingError(str(exc)) from exc
    if not len(ds):
        raise TrainingError(
            f"No training data found in {data_dir}: expected folders such as jigsaw_toxic/ or "
            "tweeteval_offensive/ (see ../shared/data/README.md)."
        )
    if config.sample:
        ds = _sample(ds, config.sample, config.seed)
    progress(f"read {len(ds)} rows from {len(ds.files)} files")
    texts = normalize_many(ds.texts)
    y = ds.label_matrix()
    val = np.asarray(ds.is_validation)
    train_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
    if not train_idx.size:
        raise TrainingError("Every row fell into the validation split; give training more data.")
    word, char = _vectorizers(config)
    train_texts = [texts[i] for i in train_idx]
    try:
        x_train = sp.hstack([word.fit_transform(train_texts), char.fit_transform(train_texts)], format="csr")
    except ValueError as exc:  # an empty vocabulary
        raise TrainingError(f"Cannot build features from the training texts: {exc}") from exc
    for vectorizer in (word, char):
        vectorizer.stop_words_ = None  # terms cut by max_features: large and not needed to score
    neutral = normalize_many(neutral_sentences())
    x_fit = sp.vstack([x_train, sp.hstack([word.transform(neutral), char.transform(neutral)])], format="csr")
    y_fit = np.vstack([y[train_idx], np.zeros((len(neutral), len(LABELS)), dtype=y.dtype)])
    source_weight = [SOURCE_WEIGHTS.get(ds.sources[i], 1.0) for i in train_idx]
    weight = np.r_[source_weight, np.full(len(neutral), AUGMENT_WEIGHT)]
    coef, intercept, thresholds = fit_labels(
        x_fit, y_fit, weight, c=config.c, seed=config.seed, n_jobs=config.n_jobs, progress=progress
    )
    files = dict(sorted(ds.files.items()))
    # Everything that shapes the model names its version: the data, the settings and the training recipe.
    recipe = {
        # The texts as the model saw them: a change to the normaliser is a new model even if nobody bumped
        # NORMALIZER_VERSION.
        "normalised_texts": hashlib.sha256("\n".join(texts).encode()).hexdigest(),
        "neutral_sentences": hashlib.sha256("\n".join(neutral).encode()).hexdigest(),
        "augment_weight": AUGMENT_WEIGHT,
        "source_weights": SOURCE_WEIGHTS,
        "reference_rates": REFERENCE_RATES,
        "target_precision": TARGET_PRECISION,
        "cv_folds": CV_FOLDS,
    }
    identity = json.dumps(
        [files, asdict(config), NORMALIZER_VERSION, sklearn.__version__, recipe], sort_keys=True
    )
    version = "tox-" + hashlib.sha256(identity.encode()).hexdigest()[:12]
    model = ToxicityModel(word, char, coef, intercept, version)
    val_texts = [ds.texts[i] for i in val_idx]
    proba = model.predict_proba(val_texts)
    progress("checking bias and robustness to obfuscation")
    sources = np.asarray(ds.sources)
    counts = {s: int((sources == s).sum()) for s in sorted(set(ds.sources))}
    metadata: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_version": version,
        "normalizer_version": NORMALIZER_VERSION,
        "labels": list(LABELS),
        "versions": _versions(),
        "config": asdict(config),
        "data": {
            "files": files,
            "rows_per_source": counts,
            "train_rows": int(train_idx.size),
            "validation_rows": int(val_idx.size),
        },
        "features": {"word": len(word.vocabulary_), "char": len(char.vocabulary_)},
        "thresholds": {label: round(value, 4) for label, value in thresholds.items()},
        "threshold_rule": (
            f"lowest score with out-of-fold precision >= {TARGET_PRECISION} at the reference base rate, "
            "else the best F1; between 0.05 and 0.95"
        ),
        "validation": evaluate(proba, y[val_idx], sources[val_idx], thresholds),
        "augmentation": {"neutral_sentences": len(neutral), "weight": AUGMENT_WEIGHT},
        "source_weights": SOURCE_WEIGHTS,
        "calibration": {"reference_rates": REFERENCE_RATES, "target_precision": TARGET_PRECISION},
        "bias": bias_report(model, thresholds),
        "robustness": robustness_report(model, val_texts, y[val_idx], proba),
    }
    return model, metadata


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    part = path.with_name(path.name + ".part")
    write(part)
    with part.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part, path)


def save(model: ToxicityModel, metadata: dict[str, Any], path: Path) -> dict[str, Any]:
    """Write the artefact and then its sidecar, each atomically; return the sidecar as written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, lambda part: joblib.dump(model, part, compress=3, protocol=5))
    metadata = {
        **metadata,
        "artefact": {"file": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path)},
    }
    text = json.dumps(metadata, indent=2, sort_keys=True) + "\n"
    _write_atomic(sidecar_path(path), lambda part: part.write_text(text, encoding="utf-8"))
    card = render_card(metadata)
    _write_atomic(path.with_name("MODEL_CARD.md"), lambda part: part.write_text(card, encoding="utf-8"))
    return metadata
