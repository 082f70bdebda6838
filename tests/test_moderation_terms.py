"""Blocked and permitted terms: matched on normalised text, whole words, wildcards, audited in the admin."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from classifier.ml import LABELS
from classifier.models import Prediction, Source, Term, TermChange, TermKind
from classifier.moderation import threshold_set
from classifier.scoring import score_texts
from classifier.services import prediction_create, predictions_rescore
from classifier.terms import term_matcher, term_save
from tests.api_support import new_key, post_json

pytestmark = pytest.mark.django_db


def block(user: User, pattern: str, label: str = "insult") -> Term:
    return term_save(term=Term(kind=TermKind.BLOCKED, pattern=pattern, label=label), user=user)


def permit(user: User, pattern: str) -> Term:
    return term_save(term=Term(kind=TermKind.PERMITTED, pattern=pattern), user=user)


@pytest.mark.parametrize("text", ["gg noob", "gg N00B", "gg n.o.o.b", "gg nооb", "NOOOOB!!"])
def test_blocked_term_flags_obfuscated_spellings(moderator, text):
    assert score_texts([text]).blocked == ("",)
    block(moderator, "noob")
    batch = score_texts([text])
    assert batch.flagged[0] and batch.blocked == ("insult",)


@pytest.mark.parametrize("text", ["the noobish play", "snoob", "noo b"])
def test_blocked_term_matches_whole_words_only(moderator, text):
    block(moderator, "noob")
    assert score_texts([text]).blocked == ("",)


def test_wildcard_matches_any_letters(moderator):
    block(moderator, "noob*")
    assert score_texts(["noobs everywhere", "a n00blet", "snoob"]).blocked == ("insult", "insult", "")


def test_chat_shorthand_is_written_out_in_whole_words_but_not_in_wildcard_pieces(moderator):
    block(moderator, "kys", label="threat")
    block(moderator, "r*tard")
    batch = score_texts(["go kys", "go kill yourself", "you retard", "u r fine"])
    assert batch.blocked == ("threat", "threat", "insult", "")


def test_permitted_term_never_flags_on_its_own_but_other_words_still_do(moderator):
    assert score_texts(["gg idiot"]).flagged[0]
    permit(moderator, "idiot")
    assert not score_texts(["gg idiot"]).flagged[0]
    assert not score_texts(["gg 1D10T"]).flagged[0]  # the obfuscated spelling too
    assert score_texts(["idiot, i will kill you"]).flagged[0]  # the threat alone still flags


def test_permitted_term_wins_over_a_blocked_term_inside_it(moderator):
    block(moderator, "scun*")
    permit(moderator, "scunthorpe")
    assert score_texts(["greetings from scunthorpe", "scunner"]).blocked == ("", "insult")


def test_inactive_terms_do_nothing_and_changes_are_audited(moderator):
    term = block(moderator, "noob")
    term.active = False
    term_save(term=term, user=moderator)
    assert score_texts(["noob"]).blocked == ("",)
    assert list(TermChange.objects.order_by("id").values_list("pattern", "active", "changed_by")) == [
        ("noob", True, moderator.pk),
        ("noob", False, moderator.pk),
    ]
    assert not term_matcher()


@pytest.mark.parametrize(
    ("kind", "pattern", "label"),
    [
        (TermKind.BLOCKED, "noob", ""),
        (TermKind.PERMITTED, "hell", "insult"),
        (TermKind.BLOCKED, "***", "insult"),
    ],
)
def test_invalid_terms_are_refused(moderator, kind, pattern, label):
    with pytest.raises(ValidationError):
        term_save(term=Term(kind=kind, pattern=pattern, label=label), user=moderator)
    assert not TermChange.objects.exists()


def test_stored_blocked_flag_survives_a_threshold_change_and_reclassify_applies_terms(moderator):
    block(moderator, "noob")
    stored = prediction_create(text="gg noob", source=Source.FORM)
    assert stored.flagged and stored.blocked_label == "insult"
    for label in LABELS:
        threshold_set(label=label, value=1.0, user=moderator)
    stored.refresh_from_db()
    assert stored.flagged  # the blocked term still flags it
    plain = prediction_create(text="gg scrub", source=Source.FORM)
    assert not plain.flagged
    block(moderator, "scrub")
    predictions_rescore()
    plain.refresh_from_db()
    assert plain.flagged and plain.blocked_label == "insult"


def test_moderator_manages_terms_in_the_admin(client, moderator):
    client.force_login(moderator)
    response = client.post(
        "/admin/classifier/term/add/",
        {"kind": "blocked", "pattern": "noob", "label": "insult", "active": "on"},
    )
    assert response.status_code == 302
    told = [str(m) for m in client.get(response["Location"]).context["messages"]]
    assert any("reclassify --force" in message for message in told)  # a plain run skips current rows
    term = Term.objects.get()
    assert term.updated_by == moderator and TermChange.objects.get().changed_by == moderator
    assert client.post(f"/admin/classifier/term/{term.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Prediction.objects.count() == 0
    assert prediction_create(text="gg noob", source=Source.FORM).flagged


def test_a_term_holds_at_most_two_wildcards():
    Term(kind=TermKind.BLOCKED, pattern="ab*cd*ef", label="insult").full_clean()
    with pytest.raises(ValidationError, match="at most 2 wildcards"):
        Term(kind=TermKind.BLOCKED, pattern="ab*ab*ab*zz", label="insult").full_clean()


@pytest.mark.parametrize("store", [True, False])
def test_a_blocked_term_names_its_label_in_the_api_answer(moderator, client, store):
    block(moderator, "banana", label="threat")
    body = post_json(client, new_key(), {"text": "have a banana", "store": store}).json()
    (result,) = body["results"]
    assert result["flagged"] is True
    assert result["flagged_labels"] == ["threat"]
