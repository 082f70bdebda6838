"""Checks on message text shared by the form, the API, live chat and the services."""

import unicodedata

from django.core.exceptions import ValidationError

# Whitespace, control and format characters (zero-width spaces and joiners, direction marks): a message made
# only of these shows nothing to a reader or to the model.
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def is_blank(text: str) -> bool:
    """Return True when ``text`` holds no visible character."""
    return all(unicodedata.category(ch) in _INVISIBLE for ch in text)  # stops at the first visible one


def validate_not_blank(text: str) -> None:
    if is_blank(text):
        raise ValidationError(
            "Enter a message to check; it cannot be empty or only spaces or invisible characters.",
            code="blank",
        )
