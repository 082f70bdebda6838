"""The dashboard's summary of stored messages per quarter hour, kept current by database triggers."""

from typing import Any

from django.db import models
from django.db.models import BooleanField, Func, IntegerField

from .ml import LABELS

BUCKETS = 20  # score histogram: 20 buckets of 0.05, the top one holding 1.0 too
SLOT_MINUTES = 15  # every time zone in use is a whole number of quarter hours from UTC


def bucket_column(label: str, bucket: int) -> str:
    """Return the summary column counting messages whose ``label`` score falls in ``bucket``."""
    return f"{label}_{bucket:02d}"


BUCKET_COLUMNS = [bucket_column(label, bucket) for label in LABELS for bucket in range(BUCKETS)]


def bucket_sql(vendor: str, score: str) -> str:
    """Return SQL for the histogram bucket (0 to BUCKETS - 1) of ``score``; 1.0 folds into the top one.

    Both sides floor ``score * BUCKETS`` in double precision, so the bucket never decreases as the score
    grows: everything in a higher bucket than a threshold's is over it, everything in a lower one under it.
    """
    if vendor == "postgresql":
        return f"least(floor({score} * {BUCKETS})::integer, {BUCKETS - 1})"
    return f"min(CAST({score} * {BUCKETS} AS INTEGER), {BUCKETS - 1})"  # scores are >= 0: CAST floors


class ScoreBucket(Func):
    """The histogram bucket of a score, computed exactly as the summary triggers compute it."""

    output_field = IntegerField()

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        return bucket_sql(connection.vendor, sql), params


class OverLowestBucket(Func):
    """True when a score is out of the lowest bucket (0 to 0.05), where most messages' scores are.

    The condition of the partial indexes on the buckets; a query repeats it word for word (no parameter) so
    that SQLite sees the index applies.
    """

    output_field = BooleanField()
    conditional = True

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{bucket_sql(connection.vendor, sql)} > 0", params


class DashboardRollup(models.Model):
    """Messages of one model version created in one quarter hour: how many, how many flagged, and per label
    how many fell in each score bucket.

    Written only by the triggers in ``classifier/rollup.py`` (insert, re-score, threshold change, delete),
    in the same statement as the messages themselves; the dashboard reads it instead of the messages.
    """

    slot = models.DateTimeField(help_text="Start of the quarter hour (UTC).")
    model_version = models.CharField(max_length=64)
    messages = models.BigIntegerField(default=0)
    flagged = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "dashboard summary"
        constraints = [models.UniqueConstraint(fields=["slot", "model_version"], name="rollup_slot_unique")]

    def __str__(self) -> str:
        return f"{self.model_version} at {self.slot:%Y-%m-%d %H:%M}: {self.messages} messages"


for _column in BUCKET_COLUMNS:
    DashboardRollup.add_to_class(_column, models.BigIntegerField(default=0))
