"""History records are append-only: no one edits or deletes them, through the ORM or the admin."""

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from classifier.models import (
    Action,
    ImmutableRecordError,
    ModerationDecision,
    Prediction,
    ScoreRevision,
    Source,
    ThresholdChange,
)
from classifier.moderation import decision_record, threshold_set
from classifier.services import prediction_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("root", password="pw")


@pytest.fixture
def records(moderator):
    prediction = prediction_create(text="you are a complete idiot", source=Source.FORM)
    decision = decision_record(
        prediction=prediction, moderator=moderator, action=Action.REMOVE, reason="abuse"
    )
    change = threshold_set(label="insult", value=0.9, user=moderator)
    return {"decision": decision, "revision": prediction.revisions.get(), "change": change}


@pytest.mark.parametrize("kind", ["decision", "revision", "change"])
def test_orm_refuses_to_change_or_delete_a_record(records, kind):
    record = records[kind]
    model = type(record)
    with pytest.raises(ImmutableRecordError):
        record.save()
    with pytest.raises(ImmutableRecordError):
        record.delete()
    with pytest.raises(ImmutableRecordError):
        model.objects.filter(pk=record.pk).update(created_at=None)
    with pytest.raises(ImmutableRecordError):
        model.objects.filter(pk=record.pk).delete()
    with pytest.raises(ImmutableRecordError):
        model.objects.bulk_update([record], ["pk"])
    assert model.objects.filter(pk=record.pk).exists()


def test_deleting_a_message_with_history_is_refused_by_the_database(records):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        Prediction.objects.filter(pk=records["decision"].prediction_id).delete()


@pytest.mark.parametrize("who", ["moderator", "superuser"])
@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("decision", "moderationdecision"),
        ("revision", "scorerevision"),
        ("change", "thresholdchange"),
    ],
)
def test_admin_shows_records_read_only_and_refuses_change_and_delete(
    client, records, request, who, kind, url
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    record = records[kind]
    assert client.get(f"/admin/classifier/{url}/").status_code == 200
    page = client.get(f"/admin/classifier/{url}/{record.pk}/change/")
    assert page.status_code == 200  # view only
    assert 'name="_save"' not in page.content.decode()
    posted = client.post(
        f"/admin/classifier/{url}/{record.pk}/change/", {"reason": "edited", "label": "toxic"}
    )
    assert posted.status_code == 403
    assert client.post(f"/admin/classifier/{url}/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/classifier/{url}/add/").status_code == 403
    bulk = client.post(
        f"/admin/classifier/{url}/",
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    record.refresh_from_db()
    assert type(record).objects.filter(pk=record.pk).exists()
    if kind == "decision":
        assert record.reason == "abuse"
    assert ModerationDecision.objects.count() == 1
    assert ScoreRevision.objects.count() == 1
    assert ThresholdChange.objects.count() == 1


@pytest.mark.parametrize("who", ["moderator", "superuser"])
def test_nobody_deletes_a_message_in_the_admin(client, records, request, who):
    client.force_login(request.getfixturevalue(who))
    pk = records["decision"].prediction_id
    assert client.post(f"/admin/classifier/prediction/{pk}/delete/", {"post": "yes"}).status_code == 403
    assert Prediction.objects.filter(pk=pk).exists()


def test_moderators_group_has_exactly_the_review_permissions():
    codenames = set(Group.objects.get(name="moderators").permissions.values_list("codename", flat=True))
    assert codenames == {
        "view_prediction",
        "view_flaggedprediction",
        "view_reviewitem",
        "review_prediction",
        "view_moderationdecision",
        "view_scorerevision",
        "view_thresholdpolicy",
        "add_thresholdpolicy",
        "change_thresholdpolicy",
        "view_thresholdchange",
        "view_term",
        "add_term",
        "change_term",
        "view_termchange",
        "view_feedback",
    }
    assert not any(code.startswith("delete_") for code in codenames)


def test_revision_trigger_reinstalls_idempotently_and_covers_any_insert():
    from classifier.ml import LABELS
    from classifier.triggers import revision_trigger_install

    assert revision_trigger_install() and revision_trigger_install()  # after every migrate: no error twice
    stored = Prediction.objects.create(text="raw insert", model_version="v", **dict.fromkeys(LABELS, 0.25))
    [revision] = stored.revisions.all()
    assert revision.scores == stored.scores and revision.cause == "created"
    assert revision.created_at == stored.created_at


def test_revisions_of_a_message_have_one_index_that_starts_with_the_message():
    # Each re-score writes a revision per message: a second index on prediction_id alone would be written
    # as often and never read (the composite one serves every lookup by message).
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ScoreRevision._meta.db_table)
    by_message = sorted(
        (info["columns"], name)
        for name, info in constraints.items()
        if info["index"] and info["columns"][:1] == ["prediction_id"]
    )
    assert by_message == [(["prediction_id", "created_at"], "revision_prediction_idx")]
