import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from classifier.ml import LABELS, fitting
from classifier.ml.data import UNKNOWN

TOXIC, HATE, THREAT = (LABELS.index(label) for label in ("toxic", "identity_hate", "threat"))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = sp.random(600, 40, density=0.2, format="csr", random_state=1, dtype=np.float32)
    signal = np.asarray(x[:, :5].sum(axis=1)).ravel()
    y = np.full((600, len(LABELS)), UNKNOWN, dtype=np.int8)
    y[:, TOXIC] = signal > np.median(signal)
    y[:300, HATE] = y[:300, TOXIC] & (x[:300, 7].toarray().ravel() > 0)  # known on half the rows
    y[:, THREAT] = rng.random(600) < 0.002  # one or two positives: too rare to fit
    return x, y, np.ones(600)


def fit(x, y, weight):
    messages: list[str] = []
    coef, intercept, thresholds = fitting.fit_labels(
        x, y, weight, c=1.0, seed=0, n_jobs=1, progress=messages.append
    )
    return coef, intercept, thresholds, messages


def test_each_label_learns_its_own_signal_on_the_rows_that_know_it(data):
    x, y, weight = data
    coef, intercept, thresholds, _ = fit(x, y, weight)
    proba = expit(x @ coef + intercept)
    assert roc_auc_score(y[:, TOXIC], proba[:, TOXIC]) > 0.9
    known = y[:, HATE] != UNKNOWN
    assert roc_auc_score(y[known, HATE], proba[known, HATE]) > 0.8
    assert all(0.05 <= thresholds[label] <= 0.95 for label in ("toxic", "identity_hate"))


def test_a_label_too_rare_to_fit_is_scored_by_its_prior(data):
    x, y, weight = data
    coef, intercept, thresholds, messages = fit(x, y, weight)
    prior = (y[:, THREAT].sum() + 1) / (y.shape[0] + 2)
    assert np.all(coef[:, THREAT] == 0)
    assert expit(intercept[THREAT]) == pytest.approx(prior)
    assert thresholds["threat"] == 0.5
    assert any(message.startswith("threat: too few examples") for message in messages)


def test_calibration_follows_the_reference_base_rate(data, monkeypatch):
    x, y, weight = data
    rates = []
    for rate in (0.05, 0.5):
        monkeypatch.setitem(fitting.REFERENCE_RATES, "toxic", rate)
        coef, intercept, _, _ = fit(x, y, weight)
        rates.append(expit(x @ coef[:, TOXIC] + intercept[TOXIC]).mean())
    assert rates[0] < rates[1]
