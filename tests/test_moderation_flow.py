"""The moderation flow end to end, and the invariant that a message's state is the end of its history."""

import pytest
from django.core.exceptions import ValidationError

from classifier.ml import LABELS
from classifier.models import (
    Action,
    ModerationDecision,
    Prediction,
    RevisionCause,
    ScoreRevision,
    Source,
    Status,
)
from classifier.moderation import decision_record
from classifier.selectors import history_for, review_queue
from classifier.services import (
    IncomingMessage,
    prediction_create,
    predictions_create_many,
    predictions_rescore,
)

pytestmark = pytest.mark.django_db


def assert_state_is_end_of_history(prediction: Prediction) -> None:
    prediction.refresh_from_db()
    last_revision = prediction.revisions.latest("created_at", "id")
    assert last_revision.scores == prediction.scores
    assert last_revision.flagged == prediction.flagged
    assert last_revision.model_version == prediction.model_version
    last_decision = prediction.decisions.order_by("created_at", "id").last()
    assert prediction.status == (last_decision.status_after if last_decision else Status.PENDING)


def test_flagged_message_is_removed_and_restored_with_full_history(client, moderator):
    insult = prediction_create(text="you are a complete idiot", source=Source.FORM)
    clean = prediction_create(text="have a great stream everyone", source=Source.FORM)
    assert insult.flagged and not clean.flagged

    client.force_login(moderator)
    queue = client.get("/admin/classifier/reviewitem/")
    assert queue.status_code == 200
    assert "complete" in queue.content.decode() and "have a great stream" not in queue.content.decode()
    assert list(review_queue()) == [insult]

    removed = client.post(f"/admin/classifier/reviewitem/{insult.pk}/decide/", {"decision": "remove"})
    assert removed.status_code == 302
    insult.refresh_from_db()
    assert insult.status == Status.REMOVED
    assert list(review_queue()) == []

    [revision, decision] = history_for(prediction=insult)
    assert isinstance(revision, ScoreRevision) and revision.cause == RevisionCause.CREATED
    assert revision.scores == insult.scores and revision.flagged
    assert isinstance(decision, ModerationDecision)
    assert (decision.moderator, decision.action) == (moderator, Action.REMOVE)
    assert (decision.status_before, decision.status_after) == (Status.PENDING, Status.REMOVED)
    assert decision.created_at >= revision.created_at

    page = client.get(f"/admin/classifier/prediction/{insult.pk}/change/").content.decode()
    assert "scores: created" in page and "pending review → removed" in page and "mod" in page

    assert 'value="restore"' in page  # the message page's decision panel
    page_url = f"/admin/classifier/prediction/{insult.pk}/change/"
    restored = client.post(
        f"/admin/classifier/prediction/{insult.pk}/decide/",
        {"decision": "restore", "reason": "context: a quote", "next": page_url},
    )
    assert restored.status_code == 302 and restored["Location"] == page_url
    events = history_for(prediction=insult)
    assert [type(e).__name__ for e in events] == ["ScoreRevision", "ModerationDecision", "ModerationDecision"]
    decisions = [e for e in events if isinstance(e, ModerationDecision)]
    assert [d.action for d in decisions] == [Action.REMOVE, Action.RESTORE]
    assert (decisions[1].status_before, decisions[1].status_after) == (Status.REMOVED, Status.APPROVED)
    page = client.get(f"/admin/classifier/prediction/{insult.pk}/change/").content.decode()
    assert page.index("pending review → removed") < page.index("removed → approved")
    assert "context: a quote" in page
    assert_state_is_end_of_history(insult)


def test_every_write_path_leaves_a_revision_and_the_state_matches_it(moderator):
    one = prediction_create(text="shut up you moron", source=Source.FORM)
    many = predictions_create_many(
        messages=[IncomingMessage(text="gg well played"), IncomingMessage(text="eat shit", external_id="x1")],
        source=Source.CHAT,
    )
    assert ScoreRevision.objects.filter(cause=RevisionCause.CREATED).count() == 3
    # Make the stored scores stale so that re-scoring writes something different.
    Prediction.objects.update(toxic=0.5, flagged=False, model_version="old")
    predictions_rescore(chunk_size=2)
    assert ScoreRevision.objects.filter(cause=RevisionCause.RECLASSIFIED).count() == 3
    decision_record(prediction=one, moderator=moderator, action=Action.APPROVE)
    decision_record(prediction=one, moderator=moderator, action=Action.REMOVE)
    decision_record(
        prediction=many[1], moderator=moderator, action=Action.RELABEL, labels=dict.fromkeys(LABELS, 0)
    )
    for prediction in [one, *many]:
        assert_state_is_end_of_history(prediction)
        assert prediction.revisions.latest("created_at", "id").model_version != "old"


@pytest.mark.parametrize(
    ("start", "action"),
    [(Status.PENDING, Action.RESTORE), (Status.REMOVED, Action.REMOVE), (Status.APPROVED, Action.APPROVE)],
)
def test_impossible_transitions_are_refused_and_record_nothing(moderator, start, action):
    prediction = prediction_create(text="you dumb clown", source=Source.FORM)
    if start == Status.REMOVED:
        decision_record(prediction=prediction, moderator=moderator, action=Action.REMOVE)
    if start == Status.APPROVED:
        decision_record(prediction=prediction, moderator=moderator, action=Action.APPROVE)
    before = ModerationDecision.objects.count()
    with pytest.raises(ValidationError):
        decision_record(prediction=prediction, moderator=moderator, action=action)
    assert ModerationDecision.objects.count() == before
    assert_state_is_end_of_history(prediction)


def test_relabel_needs_a_zero_or_one_for_every_label(moderator):
    prediction = prediction_create(text="you dumb clown", source=Source.FORM)
    with pytest.raises(ValidationError):
        decision_record(
            prediction=prediction, moderator=moderator, action=Action.RELABEL, labels={"toxic": 1}
        )
    decision = decision_record(
        prediction=prediction, moderator=moderator, action=Action.RELABEL, labels=dict.fromkeys(LABELS, 1)
    )
    assert decision.status_after == decision.status_before == Status.PENDING
