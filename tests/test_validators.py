import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifier.validators import is_blank


@pytest.mark.parametrize(
    "text", ["", " ", "\n\t\r", "\u3000", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u202e \u2066", "\x07"]
)
def test_text_with_nothing_visible_is_blank(text):
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", " .", "\u200bhi\u200b", "👍", "日本", "\u0301"])
def test_text_with_a_visible_character_is_not_blank(text):
    assert not is_blank(text)


@given(st.text())
def test_blank_means_nothing_is_left_once_invisible_characters_go(text):
    visible = "".join(ch for ch in text if not is_blank(ch))
    assert is_blank(text) == (visible == "")
