import re

import pytest

from classifier.ml.model import Span, load
from classifier.models import Prediction
from classifier.scoring import Segment, highlight


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return load(tiny_model_path).model


def test_explanation_points_at_words_of_the_message(model):
    text = "well, you are a complete idiot!"
    spans = model.explain(text, ["insult", "toxic"], top=3)
    assert {span.label for span in spans} == {"insult", "toxic"}
    for span in spans:
        assert span.weight > 0
        assert text[span.start : span.end].strip(",!") == text[span.start : span.end]
    insult = [text[s.start : s.end] for s in spans if s.label == "insult"]
    assert set(insult) <= {"well", "you", "are", "a", "complete", "idiot"}
    assert {"complete", "idiot"} & set(insult)
    weights = [s.weight for s in spans if s.label == "insult"]
    assert weights == sorted(weights, reverse=True)


def test_explanation_keeps_spaced_out_words_together(model):
    text = "f u c k this"
    spans = model.explain(text, ["obscene"], top=1)
    assert [text[s.start : s.end] for s in spans] == ["f u c k"]


def test_explanation_of_empty_or_unknown_text_is_empty(model):
    assert model.explain("", ["toxic"]) == []
    assert model.explain("zzzz qqqq", ["toxic"]) == []


def test_highlight_merges_labels_on_one_token_and_drops_weak_spans():
    text = "you utter idiot"
    spans = [Span(10, 15, "insult", 3.0), Span(10, 15, "toxic", 2.0), Span(0, 3, "toxic", 0.2)]
    assert highlight(text, spans) == [Segment("you utter "), Segment("idiot", ("insult", "toxic"))]
    assert highlight(text, []) == [Segment(text)]


@pytest.mark.django_db
def test_result_page_highlights_the_words_that_drove_the_flag_escaped(client):
    text = "you are a complete idiot <img src=x onerror=alert(1)>"
    response = client.post("/", {"text": text})
    assert Prediction.objects.get().flagged
    body = response.content.decode()
    assert "<img" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    marked = re.findall(r'<mark title="drove: [a-z_, ]+">([^<]*)</mark>', body)
    assert {"idiot", "complete"} & set(marked)
    assert set(marked) <= {"you", "are", "a", "complete", "idiot", "src=x", "onerror=alert(1)"}


@pytest.mark.django_db
def test_unflagged_message_has_no_highlight(client):
    response = client.post("/", {"text": "have a great stream everyone"})
    assert not Prediction.objects.get().flagged
    assert b"<mark" not in response.content
