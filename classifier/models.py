from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .ml import LABELS


class Source(models.TextChoices):
    FORM = "form", "web form"
    COMMAND = "command", "management command"
    API = "api", "API"
    CHAT = "chat", "live chat"


def _score_field(label: str) -> models.FloatField:
    return models.FloatField(label.replace("_", " "), help_text=f"Probability of {label}, 0 to 1.")


class Prediction(models.Model):
    """A message, the scores the model gave it and whether any score crossed its threshold."""

    text = models.TextField(validators=[ProhibitNullCharactersValidator()])
    toxic = _score_field("toxic")
    severe_toxic = _score_field("severe_toxic")
    obscene = _score_field("obscene")
    threat = _score_field("threat")
    insult = _score_field("insult")
    identity_hate = _score_field("identity_hate")
    flagged = models.BooleanField(default=False, help_text="A score is at or over its label's threshold.")
    model_version = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.FORM)
    channel = models.CharField(max_length=100, blank=True, help_text="Chat channel or room, if known.")
    author = models.CharField(max_length=100, blank=True, help_text="Who wrote the message, if known.")
    external_id = models.CharField(
        max_length=128,
        blank=True,
        help_text="The platform's own id of the message; unique per source when set.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["flagged", "-created_at"], name="prediction_flagged_idx"),
            models.Index(fields=["-created_at"], name="prediction_created_idx"),
            models.Index(fields=["model_version", "id"], name="prediction_version_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="prediction_external_id_unique",
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{label}__gte": 0.0, f"{label}__lte": 1.0}),
                    name=f"prediction_{label}_range",
                )
                for label in LABELS
            ),
        ]

    def __str__(self) -> str:
        excerpt = self.text if len(self.text) <= 60 else self.text[:59] + "…"
        return f"#{self.pk} {excerpt}"

    @property
    def scores(self) -> dict[str, float]:
        return {label: getattr(self, label) for label in LABELS}


class FlaggedPrediction(Prediction):
    """The flagged messages: what moderators look at first."""

    class Meta:
        proxy = True
        verbose_name = "flagged message"
        verbose_name_plural = "flagged messages"
