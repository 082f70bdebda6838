from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, ProhibitNullCharactersValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .ml import LABELS
from .models_rollup import DashboardRollup as DashboardRollup
from .models_rollup import OverLowestBucket, ScoreBucket


class Source(models.TextChoices):
    FORM = "form", "web form"
    COMMAND = "command", "management command"
    API = "api", "API"
    CHAT = "chat", "live chat"


class Status(models.TextChoices):
    PENDING = "pending", "pending review"
    APPROVED = "approved", "approved"
    REMOVED = "removed", "removed"


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
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        help_text="Set only by moderation decisions (classifier.moderation.decision_record).",
    )
    pruned_at = models.DateTimeField(null=True, blank=True, help_text="When the text was deleted by prune.")
    blocked_label = models.CharField(
        max_length=16,
        blank=True,
        help_text="The label of the blocked term that flags it whatever its scores.",
    )

    class Meta:
        permissions = [("review_prediction", "Can approve, remove and relabel messages")]
        indexes = [
            models.Index(fields=["flagged", "status", "created_at"], name="prediction_queue_idx"),
            models.Index(fields=["flagged", "-created_at"], name="prediction_flagged_idx"),
            models.Index(fields=["-created_at"], name="prediction_created_idx"),
            models.Index(fields=["model_version", "id"], name="prediction_version_idx"),
            # The dashboard counts the messages at or over a threshold inside that threshold's score bucket.
            # Keyed by bucket and time, a new message lands at the end of one of 19 runs per label; the
            # lowest bucket, most messages, is left out (a threshold under 0.05 is counted without it).
            *(
                models.Index(
                    ScoreBucket(F(label)),
                    F("created_at"),
                    F(label),
                    name=f"prediction_{label}_idx",
                    condition=Q(OverLowestBucket(F(label))),
                )
                for label in LABELS
            ),
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


class ApiScope(models.TextChoices):
    CLASSIFY = "classify", "classify messages"
    READ = "read", "read stored predictions"


def default_scopes() -> list[str]:
    """Return every scope: a new key may classify and read unless told otherwise."""
    return [scope.value for scope in ApiScope]


class ApiKey(models.Model):
    """A key for the JSON API. Only a hash of its secret is stored; the full key is shown once."""

    name = models.CharField(max_length=100, unique=True, help_text="Who or what uses the key.")
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="Finds the key.")
    secret_hash = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the full key.")
    scopes = models.JSONField(default=default_scopes, help_text="What the key may do: classify, read.")
    rate_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Requests per minute; empty uses the TOXSITE_API_RATE_LIMIT setting.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        scopes = self.scopes
        if not isinstance(scopes, list) or not scopes or not set(scopes) <= set(ApiScope.values):
            raise ValidationError({"scopes": f"Give one or more of the scopes {', '.join(ApiScope.values)}."})

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ImmutableRecordError(Exception):
    """Raised on any attempt to change or delete an append-only history record."""


class AppendOnlyQuerySet(models.QuerySet):
    """A queryset whose rows can be inserted and read, never updated or deleted."""

    def update(self, **kwargs: object) -> int:
        raise ImmutableRecordError(f"{self.model._meta.verbose_name} records are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError(f"{self.model._meta.verbose_name} records are append-only.")

    def bulk_update(self, objs: object, fields: object, batch_size: int | None = None) -> int:
        raise ImmutableRecordError(f"{self.model._meta.verbose_name} records are append-only.")


class AppendOnlyModel(models.Model):
    """History: a row is written once and never edited or deleted, through the app or the admin."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(f"{self._meta.verbose_name} #{self.pk} cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError(f"{self._meta.verbose_name} #{self.pk} cannot be deleted.")


class Action(models.TextChoices):
    APPROVE = "approve", "approve"
    REMOVE = "remove", "remove"
    RESTORE = "restore", "restore"
    RELABEL = "relabel", "relabel"
    ESCALATE = "escalate", "escalate"


class ModerationDecision(AppendOnlyModel):
    """What a moderator decided about a message, and the status it moved the message from and to."""

    prediction = models.ForeignKey(
        Prediction, on_delete=models.PROTECT, related_name="decisions", verbose_name="message"
    )
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    status_before = models.CharField(max_length=16, choices=Status.choices)
    status_after = models.CharField(max_length=16, choices=Status.choices)
    labels = models.JSONField(
        null=True, blank=True, help_text="Corrected labels (label: 0 or 1), for a relabel decision."
    )
    reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "moderation decision"
        indexes = [
            models.Index(fields=["prediction", "created_at"], name="decision_prediction_idx"),
            models.Index(fields=["moderator", "-created_at"], name="decision_moderator_idx"),
            models.Index(fields=["action", "-created_at"], name="decision_action_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.action} #{self.prediction_id} by {self.moderator_id} at {self.created_at:%Y-%m-%d %H:%M}"
        )


class RevisionCause(models.TextChoices):
    CREATED = "created", "created"
    RECLASSIFIED = "reclassified", "reclassified"
    THRESHOLDS = "thresholds", "thresholds changed"


class ScoreRevision(AppendOnlyModel):
    """The scores and flag a message had from ``created_at`` on, and what caused them."""

    # No index of its own: revision_prediction_idx starts with it. Every re-score writes a revision per
    # message, so each index here is written millions of times.
    prediction = models.ForeignKey(
        Prediction, on_delete=models.PROTECT, related_name="revisions", verbose_name="message", db_index=False
    )
    toxic = _score_field("toxic")
    severe_toxic = _score_field("severe_toxic")
    obscene = _score_field("obscene")
    threat = _score_field("threat")
    insult = _score_field("insult")
    identity_hate = _score_field("identity_hate")
    flagged = models.BooleanField()
    model_version = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    cause = models.CharField(max_length=16, choices=RevisionCause.choices)

    class Meta:
        verbose_name = "score revision"
        indexes = [models.Index(fields=["prediction", "created_at"], name="revision_prediction_idx")]

    def __str__(self) -> str:
        return f"#{self.prediction_id} {self.cause} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def scores(self) -> dict[str, float]:
        return {label: getattr(self, label) for label in LABELS}


class ThresholdPolicy(models.Model):
    """A moderator-set threshold for one label; it overrides the settings and the model's recommendation."""

    label = models.CharField(
        max_length=16, choices=[(label, label.replace("_", " ")) for label in LABELS], unique=True
    )
    value = models.FloatField(validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "threshold"
        ordering = ["label"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0.0, value__lte=1.0), name="threshold_value_range")
        ]

    def __str__(self) -> str:
        return f"{self.label} ≥ {self.value:.2f}"


class ThresholdChange(AppendOnlyModel):
    """Who changed a label's threshold, when, from what to what, and how many flags it changed."""

    label = models.CharField(max_length=16)
    old_value = models.FloatField()
    new_value = models.FloatField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    flags_changed = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "threshold change"

    def __str__(self) -> str:
        return f"{self.label}: {self.old_value:.2f} → {self.new_value:.2f}"


class ReviewItem(Prediction):
    """The review queue: flagged messages still pending review, oldest first."""

    class Meta:
        proxy = True
        verbose_name = "review queue item"
        verbose_name_plural = "review queue"


class TermKind(models.TextChoices):
    BLOCKED = "blocked", "blocked: always flags"
    PERMITTED = "permitted", "permitted: never flags on its own"


MAX_TERM_WILDCARDS = 2


class Term(models.Model):
    """A word or phrase that always flags a message (blocked) or never flags one by itself (permitted)."""

    kind = models.CharField(max_length=16, choices=TermKind.choices)
    pattern = models.CharField(
        max_length=100,
        help_text="Whole words, matched on normalised text (so 1d10t matches idiot); * matches any letters.",
    )
    label = models.CharField(
        max_length=16,
        blank=True,
        choices=[(label, label.replace("_", " ")) for label in LABELS],
        help_text="For a blocked term: the label it flags.",
    )
    active = models.BooleanField(default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "pattern"]
        constraints = [models.UniqueConstraint(fields=["kind", "pattern"], name="term_kind_pattern_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.pattern}"

    def clean(self) -> None:
        if self.kind == TermKind.BLOCKED and not self.label:
            raise ValidationError({"label": "A blocked term needs the label it flags."})
        if self.kind == TermKind.PERMITTED and self.label:
            raise ValidationError({"label": "A permitted term has no label."})
        if not any(ch.isalnum() for ch in self.pattern):
            raise ValidationError({"pattern": "A term needs at least one letter or digit."})
        if self.pattern.count("*") > MAX_TERM_WILDCARDS:
            # Each wildcard multiplies the regex's backtracking over a long word by its length.
            raise ValidationError({"pattern": f"A term may hold at most {MAX_TERM_WILDCARDS} wildcards (*)."})


class TermChange(AppendOnlyModel):
    """Who added or changed a term, when, and what it became."""

    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="changes")
    kind = models.CharField(max_length=16, choices=TermKind.choices)
    pattern = models.CharField(max_length=100)
    label = models.CharField(max_length=16, blank=True)
    active = models.BooleanField()
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "term change"

    def __str__(self) -> str:
        return f"{self.kind} {self.pattern} by {self.changed_by_id} at {self.changed_at:%Y-%m-%d %H:%M}"


class ReclassifyRun(models.Model):
    """One run of ``manage.py reclassify``: what it was asked, how far it got, what it changed.

    The chunk writes and the advance of ``last_id`` share a transaction, so an interrupted run resumes
    (``--resume``) after the last chunk it committed and never scores a row twice or skips one.
    """

    model_version = models.CharField(max_length=64)
    options = models.JSONField(default=dict, help_text="Filters and --force, as given.")
    last_id = models.BigIntegerField(default=0, help_text="Highest message id committed so far.")
    scanned = models.PositiveBigIntegerField(default=0)
    rescored = models.PositiveBigIntegerField(default=0)
    newly_flagged = models.PositiveBigIntegerField(default=0)
    newly_unflagged = models.PositiveBigIntegerField(default=0)
    label_changes = models.JSONField(default=dict)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "reclassify run"

    def __str__(self) -> str:
        state = "finished" if self.finished_at else f"at id {self.last_id}"
        return f"reclassify {self.model_version} from {self.started_at:%Y-%m-%d %H:%M} ({state})"


class Feedback(AppendOnlyModel):
    """A checker user's "this looks wrong" about the scores a message got, for moderators to review."""

    prediction = models.ForeignKey(
        Prediction, on_delete=models.PROTECT, related_name="feedback", verbose_name="message"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    was_flagged = models.BooleanField(help_text="Whether the message was flagged when the user disagreed.")
    comment = models.TextField(blank=True, max_length=500, help_text="What the user thinks is wrong.")

    class Meta:
        verbose_name = "feedback"
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"feedback on #{self.prediction_id} at {self.created_at:%Y-%m-%d %H:%M}"
