"""The review queue in the admin: what it lists, one-click decisions, and bulk actions with confirmation."""

import pytest
from django.contrib.auth.models import Group, Permission, User

from classifier.ml import LABELS
from classifier.models import Action, ModerationDecision, Prediction, Source, Status
from classifier.selectors import review_queue
from classifier.services import prediction_create

pytestmark = pytest.mark.django_db

QUEUE = "/admin/classifier/reviewitem/"


@pytest.fixture
def moderator() -> User:
    user = User.objects.create_user("mod", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="moderators"))
    return user


def test_queue_lists_flagged_pending_messages_oldest_first_with_labels_and_highlights(client, moderator):
    first = prediction_create(text="shut up you moron", source=Source.FORM)
    second = prediction_create(text="you are a complete idiot", source=Source.FORM)
    prediction_create(text="have a great stream everyone", source=Source.FORM)
    client.force_login(moderator)
    body = client.get(QUEUE).content.decode()
    assert body.index(f">#{first.pk}</a>") < body.index(f">#{second.pk}</a>")
    assert "have a great stream" not in body
    assert "<mark" in body and "idiot</mark>" in body
    assert "<strong>insult" in body
    assert f'formaction="/admin/classifier/reviewitem/{first.pk}/decide/"' in body
    client.post(f"{QUEUE}{first.pk}/decide/", {"decision": "approve"})
    body = client.get(QUEUE).content.decode()
    assert f"Message #{first.pk}: approved." in body
    assert f">#{first.pk}</a>" not in body and f">#{second.pk}</a>" in body


def test_staff_without_the_review_permission_cannot_decide(client):
    prediction = prediction_create(text="you are a complete idiot", source=Source.FORM)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)
    assert client.post(f"{QUEUE}{prediction.pk}/decide/", {"decision": "remove"}).status_code == 403
    prediction.refresh_from_db()
    assert prediction.status == Status.PENDING and not ModerationDecision.objects.exists()


def test_decide_refuses_get_and_unknown_decisions(client, moderator):
    prediction = prediction_create(text="you are a complete idiot", source=Source.FORM)
    client.force_login(moderator)
    assert client.get(f"{QUEUE}{prediction.pk}/decide/").status_code == 405
    client.post(f"{QUEUE}{prediction.pk}/decide/", {"decision": "delete"})
    assert not ModerationDecision.objects.exists()


def test_bulk_approve_of_1000_messages_asks_first_then_writes_1000_decisions(client, moderator):
    Prediction.objects.bulk_create(
        Prediction(text=f"queued {n}", flagged=True, model_version="v", **dict.fromkeys(LABELS, 0.9))
        for n in range(1000)
    )
    one = Prediction.objects.order_by("id").first()
    assert one is not None
    client.force_login(moderator)
    selection = {
        "action": "approve_selected",
        "select_across": "1",
        "index": "0",
        "_selected_action": [one.pk],
    }
    confirm = client.post(QUEUE, selection)
    assert confirm.status_code == 200
    assert "Yes, approve 1000" in confirm.content.decode()
    assert not ModerationDecision.objects.exists()

    done = client.post(QUEUE, {**selection, "confirm": "yes"}, follow=True)
    assert "Approved 1000 messages." in done.content.decode()
    assert ModerationDecision.objects.filter(action=Action.APPROVE, moderator=moderator).count() == 1000
    assert Prediction.objects.filter(status=Status.APPROVED).count() == 1000
    assert not review_queue().exists()
    decision = ModerationDecision.objects.get(prediction=one)
    assert (decision.status_before, decision.status_after) == (Status.PENDING, Status.APPROVED)


def test_bulk_remove_of_selected_rows_counts_only_what_it_changed(client, moderator):
    a = prediction_create(text="you are a complete idiot", source=Source.FORM)
    b = prediction_create(text="shut up you moron", source=Source.FORM)
    client.force_login(moderator)
    response = client.post(
        QUEUE,
        {"action": "remove_selected", "index": "0", "_selected_action": [a.pk, b.pk], "confirm": "yes"},
        follow=True,
    )
    assert "Removed 2 messages." in response.content.decode()
    assert set(Prediction.objects.values_list("status", flat=True)) == {Status.REMOVED}


def test_decision_log_filters_by_moderator_action_and_date(client, moderator):
    other = User.objects.create_user("other", password="pw", is_staff=True)
    other.groups.add(Group.objects.get(name="moderators"))
    a = prediction_create(text="you are a complete idiot", source=Source.FORM)
    b = prediction_create(text="shut up you moron", source=Source.FORM)
    client.force_login(moderator)
    client.post(f"{QUEUE}{a.pk}/decide/", {"decision": "remove"})
    client.force_login(other)
    client.post(f"{QUEUE}{b.pk}/decide/", {"decision": "approve"})
    log = "/admin/classifier/moderationdecision/"
    body = client.get(log).content.decode()
    for title in ("By moderator", "By action", "By created at"):
        assert title in body
    by_mod = client.get(f"{log}?moderator__id__exact={moderator.pk}").content.decode()
    assert "complete idiot" in by_mod and "moron" not in by_mod
    approvals = client.get(f"{log}?action__exact=approve").content.decode()
    assert "moron" in approvals and "complete idiot" not in approvals


def test_removed_messages_are_restored_from_the_messages_list(client, moderator):
    prediction = prediction_create(text="you are a complete idiot", source=Source.FORM)
    client.force_login(moderator)
    client.post(f"{QUEUE}{prediction.pk}/decide/", {"decision": "remove"})
    selection = {"action": "restore_selected", "index": "0", "_selected_action": [prediction.pk]}
    confirm = client.post("/admin/classifier/prediction/", selection)
    assert "Yes, restore 1" in confirm.content.decode()
    done = client.post("/admin/classifier/prediction/", {**selection, "confirm": "yes"}, follow=True)
    assert "Restored 1 message." in done.content.decode()
    prediction.refresh_from_db()
    assert prediction.status == Status.APPROVED
    assert list(prediction.decisions.order_by("id").values_list("action", flat=True)) == ["remove", "restore"]


def test_moderator_relabels_a_message_from_its_page(client, moderator):
    prediction = prediction_create(text="gg noob", source=Source.FORM)
    client.force_login(moderator)
    page = client.get(f"/admin/classifier/prediction/{prediction.pk}/change/").content.decode()
    assert 'name="label_insult"' in page and 'value="relabel"' in page
    client.post(
        f"/admin/classifier/prediction/{prediction.pk}/decide/",
        {"decision": "relabel", "label_toxic": "on", "label_insult": "on", "next": "https://evil.example/"},
    )
    decision = ModerationDecision.objects.get()
    assert decision.labels == dict.fromkeys(LABELS, 0) | {"toxic": 1, "insult": 1}
    assert decision.action == Action.RELABEL and decision.moderator == moderator


def test_viewer_without_review_permission_sees_no_decision_panel(client):
    prediction = prediction_create(text="gg noob", source=Source.FORM)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename="view_prediction"))
    client.force_login(viewer)
    page = client.get(f"/admin/classifier/prediction/{prediction.pk}/change/")
    assert page.status_code == 200 and 'value="relabel"' not in page.content.decode()
