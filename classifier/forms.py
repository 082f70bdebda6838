from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from .validators import validate_not_blank


class _MessageTextarea(forms.Textarea):
    """A textarea that shows a refused NUL character as the replacement character, not as a raw NUL byte."""

    def format_value(self, value: Any) -> str | None:
        shown = super().format_value(value)
        return shown.replace("\x00", "\ufffd") if shown else shown


class ChatForm(forms.Form):
    """A chat message to score; the length limit (``MAX_MESSAGE_LENGTH``) is enforced on the server."""

    def __init__(self, *args: Any, body_is_utf8: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_is_utf8 = body_is_utf8
        self.max_length = settings.MAX_MESSAGE_LENGTH
        self.fields["text"] = forms.CharField(
            label="Chat message",
            max_length=self.max_length,
            strip=True,
            widget=_MessageTextarea(
                attrs={
                    "rows": 4,
                    "autofocus": True,
                    "placeholder": "Paste a chat message…",
                    "aria-describedby": "counter",
                }
            ),
            validators=[validate_not_blank],
            error_messages={
                "required": "Enter a message to check; it cannot be empty or only spaces.",
                "null_characters_not_allowed": "The message holds a NUL character; remove it and try again.",
            },
        )

    def clean(self) -> dict[str, Any] | None:
        if not self.body_is_utf8:
            raise ValidationError("The message is not valid UTF-8 text.", code="encoding")
        return super().clean()


class FeedbackForm(forms.Form):
    """A user's "this looks wrong" about a checked message, with an optional comment."""

    comment = forms.CharField(
        label="What looks wrong? (optional)",
        required=False,
        max_length=500,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "e.g. this is a joke between friends"}),
    )
