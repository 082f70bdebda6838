"""Checks on message text shared by the form, the API, live chat and the services."""

import unicodedata

from django.core.exceptions import ValidationError

# Whitespace, control and format characters (zero-width spaces and joiners, direction marks): a message made
# only of these shows nothing to a reader or to the model.
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
# Letters and marks that render as nothing, used for blank chat names and messages: Hangul fillers, the
# Braille blank, the combining grapheme joiner, Khmer inherent vowels.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")


def is_blank(text: str) -> bool:
    """Return True when ``text`` holds no visible character."""
    return all(  # stops at the first visible character
        ch in _BLANK_LOOKING or unicodedata.category(ch) in _INVISIBLE for ch in text
    )


def validate_not_blank(text: str) -> None:
    if is_blank(text):
        raise ValidationError(
            "Enter a message to check; it cannot be empty or only spaces or invisible characters.",
            code="blank",
        )
