"""Moderators' thresholds: stored, validated, audited, and applied to stored messages without the model."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier import scoring
from classifier.ml import LABELS
from classifier.models import (
    Prediction,
    RevisionCause,
    ScoreRevision,
    Source,
    ThresholdChange,
    ThresholdPolicy,
)
from classifier.moderation import threshold_set
from classifier.scoring import thresholds
from classifier.services import prediction_create

pytestmark = pytest.mark.django_db


def store(insult: float, **scores: float) -> Prediction:
    values = dict.fromkeys(LABELS, 0.0) | {"insult": insult} | scores
    limits = scoring.thresholds()
    flagged = any(values[label] >= limits[label] for label in LABELS)
    return Prediction.objects.create(text=f"m {insult}", flagged=flagged, model_version="v", **values)


def test_changing_a_threshold_reflags_stored_messages_from_stored_scores(moderator, monkeypatch):
    monkeypatch.setattr(
        "classifier.moderation.thresholds", lambda policy: dict.fromkeys(LABELS, 0.5) | policy
    )
    monkeypatch.setattr("classifier.scoring.thresholds", lambda: dict.fromkeys(LABELS, 0.5))
    low, mid, high = store(0.3), store(0.6), store(0.9)
    other = store(0.3, threat=0.95)  # flagged by another label: stays flagged
    monkeypatch.setattr("classifier.scoring.current_model", lambda: pytest.fail("the model must not run"))
    assert [p.flagged for p in (low, mid, high)] == [False, True, True]

    with CaptureQueriesContext(connection) as queries:
        change = threshold_set(label="insult", value=0.8, user=moderator)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1

    for p in (low, mid, high, other):
        p.refresh_from_db()
    assert [p.flagged for p in (low, mid, high, other)] == [False, False, True, True]
    assert (change.label, change.old_value, change.new_value, change.changed_by) == (
        "insult",
        0.5,
        0.8,
        moderator,
    )
    assert change.flags_changed == 1
    [revision] = ScoreRevision.objects.filter(cause=RevisionCause.THRESHOLDS)
    assert revision.prediction_id == mid.pk and revision.flagged is False and revision.scores == mid.scores
    assert ThresholdPolicy.objects.get(label="insult").updated_by == moderator

    threshold_set(label="insult", value=0.2, user=moderator)
    low.refresh_from_db()
    mid.refresh_from_db()
    assert low.flagged and mid.flagged
    assert ThresholdChange.objects.count() == 2


def test_a_change_starts_from_the_stored_policy_not_this_process_s_cached_copy(moderator, settings):
    settings.THRESHOLDS = dict.fromkeys(LABELS, 0.9)
    message = store(0.0, toxic=0.6)
    assert not message.flagged and thresholds()["toxic"] == 0.9  # this process has cached the policy
    ThresholdPolicy.objects.create(label="toxic", value=0.5)  # another process's change, not yet seen here
    change = threshold_set(label="insult", value=0.8, user=moderator)
    message.refresh_from_db()
    assert message.flagged  # re-flagged with toxic at 0.5, as stored, not the cached 0.9
    assert change.old_value == 0.9 and change.flags_changed == 1


def test_new_messages_are_scored_with_the_policy_at_once(moderator):
    assert prediction_create(text="you are a complete idiot", source=Source.FORM).flagged
    for label in LABELS:
        threshold_set(label=label, value=1.0, user=moderator)
    assert thresholds() == dict.fromkeys(LABELS, 1.0)  # the cached policy was cleared
    assert not prediction_create(text="you are a complete idiot", source=Source.FORM).flagged


def test_policy_overrides_settings_which_override_the_model(moderator, settings):
    settings.THRESHOLDS = {"toxic": 0.33}
    assert thresholds()["toxic"] == 0.33
    threshold_set(label="toxic", value=0.77, user=moderator)
    assert thresholds()["toxic"] == 0.77


@pytest.mark.parametrize(("label", "value"), [("insult", 1.5), ("insult", -0.1), ("rudeness", 0.5)])
def test_bad_thresholds_are_refused_and_nothing_changes(moderator, label, value):
    with pytest.raises(ValidationError):
        threshold_set(label=label, value=value, user=moderator)
    assert not ThresholdPolicy.objects.exists() and not ThresholdChange.objects.exists()


def test_moderator_sets_a_threshold_in_the_admin_and_it_is_audited(client, moderator):
    stored = store(0.6)
    client.force_login(moderator)
    refused = client.post("/admin/classifier/thresholdpolicy/add/", {"label": "insult", "value": "1.2"})
    assert refused.status_code == 200 and "less than or equal to 1" in refused.content.decode()
    response = client.post(
        "/admin/classifier/thresholdpolicy/add/", {"label": "insult", "value": "0.95"}, follow=True
    )
    assert response.status_code == 200
    assert "flag" in response.content.decode()
    change = ThresholdChange.objects.get()
    assert (change.label, change.new_value, change.changed_by) == ("insult", 0.95, moderator)
    stored.refresh_from_db()
    assert stored.flagged == (
        stored.scores["insult"] >= 0.95
        or any(stored.scores[label] >= thresholds()[label] for label in LABELS if label != "insult")
    )
    policy = ThresholdPolicy.objects.get()
    assert (
        client.post(f"/admin/classifier/thresholdpolicy/{policy.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
