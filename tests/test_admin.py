import pytest
from django.contrib.admin.models import LogEntry

from classifier.ml import LABELS
from classifier.models import Prediction, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored():
    def make(text, flagged, version="tox-a", **scores):
        values = dict.fromkeys(LABELS, 0.01) | scores
        return Prediction.objects.create(
            text=text, flagged=flagged, model_version=version, source=Source.FORM, **values
        )

    return {
        "insult": make("you are a complete idiot", True, toxic=0.97, insult=0.95),
        "threat": make("i will find you", True, "tox-b", toxic=0.9, threat=0.93),
        "clean": make("have a great stream everyone", False),
    }


def test_changelist_lists_messages_with_scores_and_filters(admin_client, stored):
    response = admin_client.get("/admin/classifier/prediction/")
    assert response.status_code == 200
    body = response.content.decode()
    for prediction in stored.values():
        assert prediction.text in body
    assert "<strong>0.95</strong>" in body
    for title in ("By flagged", "By label over threshold", "By model version", "By source", "By created at"):
        assert title in body
    assert body.index("i will find you") < body.index("you are a complete idiot")  # newest first


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("flagged__exact=1", {"insult", "threat"}),
        ("flagged__exact=0", {"clean"}),
        ("label=threat", {"threat"}),
        ("label=insult", {"insult"}),
        ("model_version=tox-b", {"threat"}),
        ("q=idiot", {"insult"}),
    ],
)
def test_changelist_filters_and_search(admin_client, stored, query, expected):
    response = admin_client.get(f"/admin/classifier/prediction/?{query}")
    assert response.status_code == 200
    shown = {name for name, p in stored.items() if p.text in response.content.decode()}
    assert shown == expected


def test_flagged_messages_view_shows_only_flagged(admin_client, stored):
    response = admin_client.get("/admin/classifier/flaggedprediction/")
    assert response.status_code == 200
    body = response.content.decode()
    assert stored["insult"].text in body and stored["threat"].text in body
    assert stored["clean"].text not in body


def test_message_page_renders_read_only(admin_client, stored):
    response = admin_client.get(f"/admin/classifier/prediction/{stored['insult'].pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    for field in Prediction._meta.concrete_fields:
        assert f'name="{field.name}"' not in body, f"{field.name} is editable"
    assert "you are a complete idiot" in body


def test_message_page_has_no_save_button_and_refuses_a_post(admin_client, stored):
    url = f"/admin/classifier/prediction/{stored['insult'].pk}/change/"
    body = admin_client.get(url).content.decode()
    assert 'name="_save"' not in body and 'name="_continue"' not in body
    form = body[body.index('id="prediction_form"') :]
    first_button = form[form.index('type="submit"') - 40 : form.index('type="submit"') + 60]
    assert "disabled" in first_button  # the form's default button: Enter submits nothing
    assert admin_client.post(url, {"status": "approved"}).status_code == 403
    assert not LogEntry.objects.exists()
    assert Prediction.objects.get(pk=stored["insult"].pk).status == "pending"


def test_message_page_shows_scores_rounded_and_bold_over_the_threshold(admin_client):
    message = Prediction.objects.create(
        text="you idiot", flagged=True, model_version="tox-a", source=Source.FORM,
        **(dict.fromkeys(LABELS, 0.0123456789) | {"insult": 0.9876543210}),
    )  # fmt: skip
    body = admin_client.get(f"/admin/classifier/prediction/{message.pk}/change/").content.decode()
    assert "0.0123456789" not in body and "0.9876543210" not in body
    assert "<strong>0.99</strong>" in body and "0.01" in body


def test_messages_cannot_be_added_by_hand(admin_client):
    assert admin_client.get("/admin/classifier/prediction/add/").status_code == 403


def test_admin_index_names_the_site(admin_client):
    response = admin_client.get("/admin/")
    assert b"toxsite moderation" in response.content
    assert b"Flagged messages" in response.content


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/admin/classifier/prediction/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
