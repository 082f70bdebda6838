import pytest
from django.conf import settings

from classifier.ml.model import load
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
