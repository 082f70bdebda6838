"""Fit one calibrated logistic regression per label on the TF-IDF features, with a threshold for each.

Each label is fitted on the rows that know it (``UNKNOWN`` elsewhere): ``CV_FOLDS`` fold models give
out-of-fold decision values for the calibration and the threshold, and one model on all rows is kept.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedKFold

from . import LABELS
from .data import UNKNOWN

Progress = Callable[[str], None]

# How often each label occurs in Jigsaw's full training set (159,571 Wikipedia talk comments). The sources
# here over-represent toxic text, so probabilities are calibrated to these base rates instead: a score
# reads as the chance that an ordinary comment carries the label.
REFERENCE_RATES = {
    "toxic": 0.0958,
    "severe_toxic": 0.0100,
    "obscene": 0.0529,
    "threat": 0.0030,
    "insult": 0.0494,
    "identity_hate": 0.0088,
}
# Thresholds are the lowest score at which out-of-fold precision (at the base rate) reaches this;
# the F1-best score where it never does.
TARGET_PRECISION = 0.9
CV_FOLDS = 3


@dataclass(frozen=True)
class _Fit:
    """One label's raw (uncalibrated) fit: full-data weights and out-of-fold decisions on its known rows."""

    target: np.ndarray
    weights: np.ndarray
    bias: float
    decision: np.ndarray


def _fit_one(
    x: sp.csr_matrix, y: np.ndarray, weight: np.ndarray, c: float, seed: int
) -> tuple[np.ndarray, float]:
    clf = LogisticRegression(C=c, solver="liblinear", random_state=seed)
    clf.fit(x, y, sample_weight=weight)
    return clf.coef_.ravel().astype(np.float64), float(clf.intercept_[0])


def _prior_weights(y: np.ndarray, rate: float) -> np.ndarray:
    """Weight rows so that positives make up ``rate`` of the total weight."""
    share = y.mean()
    return np.where(y == 1, rate / share, (1 - rate) / (1 - share))


def _platt(decision: np.ndarray, y: np.ndarray, rate: float) -> tuple[float, float]:
    """Fit p = sigmoid(a * decision + b) on out-of-fold decision values, at the base rate ``rate``."""
    clf = LogisticRegression(C=1e6, solver="lbfgs")
    clf.fit(decision.reshape(-1, 1), y, sample_weight=_prior_weights(y, rate))
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def _threshold(y: np.ndarray, proba: np.ndarray, rate: float) -> float:
    precision, recall, cuts = precision_recall_curve(y, proba, sample_weight=_prior_weights(y, rate))
    precision, recall = precision[:-1], recall[:-1]
    reaching = np.flatnonzero(precision >= TARGET_PRECISION)
    if reaching.size:
        return float(np.clip(cuts[reaching[0]], 0.05, 0.95))
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(np.clip(cuts[int(np.argmax(f1))], 0.05, 0.95))


def _usable(y: np.ndarray) -> bool:
    return y.size > 0 and min(int(y.sum()), int((1 - y).sum())) >= CV_FOLDS


def _fit_raw(
    x: sp.csr_matrix, y: np.ndarray, weight: np.ndarray, labels: list[int], c: float, seed: int, n_jobs: int
) -> dict[int, _Fit]:
    """Fit each label of ``labels`` on its known rows: ``CV_FOLDS`` fold models and one on all rows."""
    tasks, plans = [], {}
    for j in labels:
        rows = np.flatnonzero(y[:, j] != UNKNOWN)
        target = y[rows, j].astype(np.int64)
        folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed).split(rows, target)
        held_out: list[np.ndarray] = []
        for fit_idx, held_idx in folds:
            tasks.append((j, len(held_out), rows[fit_idx], target[fit_idx]))
            held_out.append(held_idx)
        tasks.append((j, -1, rows, target))
        plans[j] = (rows, target, held_out)
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_one)(x[rows], target, weight[rows], c, seed) for _, _, rows, target in tasks
    )
    fitted = {(j, fold): result for (j, fold, _, _), result in zip(tasks, results, strict=True)}
    out = {}
    for j, (rows, target, held_out) in plans.items():
        decision = np.zeros(rows.size)
        for fold, held_idx in enumerate(held_out):
            w, b = fitted[(j, fold)]
            decision[held_idx] = x[rows[held_idx]] @ w + b
        w, b = fitted[(j, -1)]
        out[j] = _Fit(target, w, b, decision)
    return out


def fit_labels(
    x: sp.csr_matrix,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    c: float,
    seed: int,
    n_jobs: int,
    progress: Progress,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Fit, calibrate and pick a threshold for every label; ``weight`` is each row's sample weight.

    Return the coefficients (features, 6), the intercepts and the thresholds.
    """
    coef = np.zeros((x.shape[1], len(LABELS)))
    intercept = np.zeros(len(LABELS))
    thresholds = dict.fromkeys(LABELS, 0.5)
    usable = []
    for j, label in enumerate(LABELS):
        target = y[y[:, j] != UNKNOWN, j]
        if _usable(target):
            usable.append(j)
            continue
        prior = (target.sum() + 1) / (target.size + 2)
        intercept[j] = np.log(prior / (1 - prior))
        progress(f"{label}: too few examples of both classes, scored by its prior {prior:.3f}")
    count = len(usable) * (CV_FOLDS + 1)
    progress(f"fitting {count} logistic regressions on {x.shape[0]} rows x {x.shape[1]} features")
    for j, fit in _fit_raw(x, y, weight, usable, c, seed, n_jobs).items():
        rate = REFERENCE_RATES[LABELS[j]]
        a, b = _platt(fit.decision, fit.target, rate)
        coef[:, j] = a * fit.weights
        intercept[j] = a * fit.bias + b
        thresholds[LABELS[j]] = _threshold(fit.target, expit(a * fit.decision + b), rate)
    return coef, intercept, thresholds
