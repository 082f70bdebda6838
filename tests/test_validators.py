import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifier.validators import is_blank


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "\n\t\r", "\u3000", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u202e \u2066", "\x07",
        "\u3164", "\uffa0 \u115f\u1160", "\u2800\u2800", "\u034f", "\u17b4\u17b5",
    ],
)  # fmt: skip
def test_text_with_nothing_visible_is_blank(text):
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", " .", "\u200bhi\u200b", "👍", "日本", "\u0301"])
def test_text_with_a_visible_character_is_not_blank(text):
    assert not is_blank(text)


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "S"]), min_size=1), st.text())
def test_one_letter_digit_or_symbol_among_anything_is_not_blank(visible, anything):
    fillers = set("\u115f\u1160\u3164\uffa0\u2800")  # letters and a symbol that render as nothing
    assert not is_blank(anything + visible + anything) or set(visible) <= fillers
