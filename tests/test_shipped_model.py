import numpy as np
import pytest
from django.conf import settings
from sklearn.metrics import roc_auc_score

from classifier.ml.data import load_dataset
from classifier.ml.model import load
from classifier.ml.obfuscate import obfuscate
from classifier.scoring import thresholds


@pytest.mark.django_db  # thresholds() reads the moderators' policy (none here)
def test_shipped_model_verifies_and_flags_an_insult_but_not_a_greeting():
    shipped = load(settings.BASE_DIR / "ml_models" / "toxsite.joblib")
    insult, greeting = shipped.model.predict_proba(
        ["you are a complete idiot", "have a great stream everyone"]
    )
    limits = thresholds(shipped)
    labels = shipped.model.labels
    scores = dict(zip(labels, insult, strict=True))
    assert scores["toxic"] >= max(limits["toxic"], 0.8)
    assert scores["insult"] >= max(limits["insult"], 0.8)
    assert not any(score >= limits[label] for label, score in zip(labels, greeting, strict=True))


def test_shipped_sidecar_records_data_hashes_versions_and_metrics():
    metadata = load(settings.BASE_DIR / "ml_models" / "toxsite.joblib").metadata
    assert metadata["data"]["files"], "the sidecar names the training files and their hashes"
    assert all(len(digest) == 64 for digest in metadata["data"]["files"].values())
    assert set(metadata["thresholds"]) == set(metadata["labels"])
    assert metadata["validation"]["jigsaw"]["labels"]["toxic"]["roc_auc"] > 0.9


def test_shipped_model_loses_at_most_001_auc_on_obfuscated_validation_texts():
    """Disguise half the words of real validation comments; each label's ROC AUC may drop by 0.01 at most."""
    data_dir = settings.TRAINING_DATA_DIR
    if not (data_dir / "jigsaw_toxic").is_dir():
        pytest.fail(f"the training data is not at {data_dir}: set TOXSITE_TRAINING_DATA")
    ds = load_dataset(data_dir)
    rows = [
        i for i, (v, s) in enumerate(zip(ds.is_validation, ds.sources, strict=True)) if v and s == "jigsaw"
    ]
    texts = [ds.texts[i] for i in rows]
    y = np.array([ds.labels[i] for i in rows])
    model = load(settings.BASE_DIR / "ml_models" / "toxsite.joblib").model
    plain = model.predict_proba(texts)
    disguised_texts = [obfuscate(text, seed=i) for i, text in enumerate(texts)]
    assert sum(a != b for a, b in zip(texts, disguised_texts, strict=True)) > 0.9 * len(texts)
    disguised = model.predict_proba(disguised_texts)
    for j, label in enumerate(model.labels):
        known = y[:, j] >= 0
        loss = roc_auc_score(y[known, j], plain[known, j]) - roc_auc_score(y[known, j], disguised[known, j])
        assert loss <= 0.01, f"{label} loses {loss:.4f} ROC AUC on obfuscated text"
