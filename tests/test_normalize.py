import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.ml.normalize import normalize, normalize_many


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("You are a complete IDIOT!!!", "you are a complete idiot"),
        ("f u c k you", "fuck you"),
        ("f.u.c.k off", "fuck off"),
        ("1d10t", "idiot"),
        ("sh!t head", "shit head"),
        ("a$$", "ass"),
        ("\u0456d\u0456\u043et", "idiot"),  # Cyrillic look-alikes
        ("\U0001d41f\U0001d42e\U0001d41c\U0001d424", "fuck"),  # mathematical bold
        ("ａｓｓ", "ass"),  # full-width
        ("a\u200bss", "ass"),  # zero-width space
        ("fuuuuuuck", "fuuck"),
        ("idiòt", "idiot"),
        ("check https://x.com/a now", "check xxurl now"),
        ("@streamer hi", "xxuser hi"),
        ("I'm gay", "i am gay"),
        ("don't", "do not"),
        ("u r a legend", "you are a legend"),
        ("kys", "kill yourself"),
        ("stfu noob", "shut the fuck up noob"),
        ("ur trash lol", "your trash lol"),
        ("youre a clown", "you are a clown"),
        ("kung fu panda", "kung fu panda"),
        ("STFUUUU", "stfuu"),
        ("pppl", "people"),
        ("mail me@home", "mail meahome"),
        ("in 2020 I had 3 cats", "in 2020 i had 3 cats"),
        ("hello\x00world", "hello world"),
        ("", ""),
    ],
)
def test_normalize_undoes_obfuscation(raw, expected):
    assert normalize(raw) == expected


@given(st.text())
@settings(max_examples=500)
def test_normalize_never_raises_and_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=500))
def test_normalize_output_is_plain_lowercase_words(text):
    out = normalize(text)
    assert out == out.strip()
    assert all(ch.isascii() and (ch.isalnum() or ch == " ") and not ch.isupper() for ch in out)


# Characters that the batch path's newline joins could interact with: separators, the steps' triggers.
_BATCH_PIECES = st.sampled_from(
    [
        *"ab z.-_*+~'’`@&;#!|$01345789\n\r\t\x00\x85\u2028\u2029\u200b\u0430é ",
        "\r\n",
        "http://x",
        "n't",
        "@ab",
    ]
)


@given(st.lists(st.lists(_BATCH_PIECES, max_size=30).map("".join) | st.text(), max_size=8))
@settings(max_examples=500)
def test_normalize_many_equals_normalizing_one_by_one(texts):
    assert normalize_many(texts) == [normalize(text) for text in texts]


def test_normalize_many_of_nothing_is_nothing():
    assert normalize_many([]) == []
    assert normalize_many([""]) == [""]
    assert normalize_many(["", "f.u.c.k", ""]) == ["", "fuck", ""]


# Words built from single letters, chat shorthand and its expansions: the inputs where the shorthand step and
# the spaced-letters step could undo each other's work on a second pass.
_WORDS = st.sampled_from(
    ["a", "b", "c", "i", "u", "r", "im", "ur", "kys", "stfu", "ppl", "pppl", "you", "am"]
)


@given(st.lists(_WORDS, max_size=12), st.sampled_from([" ", ".", "-", " . "]))
@settings(max_examples=500)
def test_normalize_is_idempotent_on_chat_shorthand(words, separator):
    once = normalize(separator.join(words))
    assert normalize(once) == once
