from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError


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
            widget=forms.Textarea(
                attrs={"rows": 4, "autofocus": True, "placeholder": "Paste a chat message…"}
            ),
            error_messages={"required": "Enter a message to check; it cannot be empty or only spaces."},
        )

    def clean(self) -> dict[str, Any] | None:
        if not self.body_is_utf8:
            raise ValidationError("The message is not valid UTF-8 text.", code="encoding")
        return super().clean()
