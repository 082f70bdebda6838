import pytest
from django.contrib.auth.models import Group, User

from classifier.models import Feedback, ImmutableRecordError, Prediction

pytestmark = pytest.mark.django_db


def _check(client, text="you are a complete idiot") -> Prediction:
    assert client.post("/", {"text": text}).status_code == 200
    return Prediction.objects.latest("id")


def test_result_names_the_flagged_labels_and_offers_feedback(client):
    response = client.post("/", {"text": "you are a complete idiot"})
    prediction = Prediction.objects.get()
    assert prediction.flagged
    assert b"Flagged for: <strong>" in response.content
    assert f'action="/feedback/{prediction.pk}/"'.encode() in response.content
    assert b"This looks wrong" in response.content


def test_this_looks_wrong_is_stored_with_the_verdict_and_thanked_for(client):
    prediction = _check(client)
    response = client.post(f"/feedback/{prediction.pk}/", {"comment": "  just banter  "})
    assert response.status_code == 200
    assert b"moderators will look again" in response.content
    feedback = Feedback.objects.get()
    assert (feedback.prediction, feedback.was_flagged, feedback.comment) == (prediction, True, "just banter")


def test_feedback_without_a_comment_is_accepted(client):
    prediction = _check(client, "have a great stream everyone")
    assert client.post(f"/feedback/{prediction.pk}/", {}).status_code == 200
    assert Feedback.objects.get().was_flagged is False


def test_feedback_only_on_messages_this_session_checked(client):
    prediction = _check(client)
    client.logout()  # a new session
    assert client.post(f"/feedback/{prediction.pk}/", {"comment": "x"}).status_code == 404
    assert client.post("/feedback/999999/", {}).status_code == 404
    assert not Feedback.objects.exists()


def test_too_long_feedback_comment_is_a_visible_error(client):
    prediction = _check(client)
    response = client.post(f"/feedback/{prediction.pk}/", {"comment": "x" * 501})
    assert response.status_code == 400
    assert b"at most 500 characters" in response.content
    assert not Feedback.objects.exists()


def test_feedback_refuses_get(client):
    prediction = _check(client)
    assert client.get(f"/feedback/{prediction.pk}/").status_code == 405


def test_feedback_is_append_only():
    prediction = Prediction.objects.create(
        text="hi", model_version="v", toxic=0, severe_toxic=0, obscene=0, threat=0, insult=0, identity_hate=0
    )
    feedback = Feedback.objects.create(prediction=prediction, was_flagged=False)
    with pytest.raises(ImmutableRecordError):
        feedback.save()
    with pytest.raises(ImmutableRecordError):
        Feedback.objects.all().delete()


def test_moderators_see_feedback_in_the_admin_read_only(client):
    prediction = _check(client)
    client.post(f"/feedback/{prediction.pk}/", {"comment": "it is a quote"})
    moderator = User.objects.create_user("mod", is_staff=True)
    moderator.groups.add(Group.objects.get(name="moderators"))
    client.force_login(moderator)
    listing = client.get("/admin/classifier/feedback/")
    assert listing.status_code == 200
    assert b"it is a quote" in listing.content
    assert f"/admin/classifier/prediction/{prediction.pk}/change/".encode() in listing.content
    assert client.get("/admin/classifier/feedback/add/").status_code == 403
