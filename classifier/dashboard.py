"""Read queries for the moderation dashboard: every figure is aggregated by the database.

Nothing here loops over stored rows in Python; each function returns at most a few hundred small dicts
(one per hour, day, label bucket, moderator or model version), so the JSON stays small at any table size.
"""

from datetime import datetime, timedelta
from typing import Any, Literal

from django.db.models import Count, F, IntegerField, Max, Min, Q
from django.db.models.functions import Cast, Floor, Least, TruncDay, TruncHour
from django.utils import timezone

from .ml import LABELS
from .models import ModerationDecision, Prediction
from .selectors import review_queue

Period = Literal["hour", "day"]
BUCKETS = 20  # score histogram: 20 buckets of 0.05
# How far back each period looks: 48 hours by the hour, 30 days by the day.
WINDOWS: dict[str, timedelta] = {"hour": timedelta(hours=48), "day": timedelta(days=30)}
QUEUE_AGES: list[tuple[str, timedelta | None]] = [
    ("under 1 hour", timedelta(hours=1)),
    ("1-24 hours", timedelta(days=1)),
    ("1-7 days", timedelta(days=7)),
    ("over 7 days", None),
]


class _NativeSqliteTrunc:
    """Let SQLite truncate UTC times with its own strftime instead of a Python callback per row."""

    sqlite_format = ""

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        if self.get_tzname() != "UTC":  # type: ignore[attr-defined]
            return super().as_sqlite(compiler, connection, **extra_context)  # type: ignore[misc]
        sql, params = compiler.compile(self.lhs)  # type: ignore[attr-defined]
        return f"strftime('{self.sqlite_format}', {sql})", params


class _Hour(_NativeSqliteTrunc, TruncHour):
    sqlite_format = "%%Y-%%m-%%d %%H:00:00"


class _Day(_NativeSqliteTrunc, TruncDay):
    sqlite_format = "%%Y-%%m-%%d 00:00:00"


def _since(period: Period, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - WINDOWS[period]


def activity(*, period: Period, limits: dict[str, float], now: datetime | None = None) -> dict[str, object]:
    """Return messages, flagged messages and each label's flag rate per hour or day of the window.

    A label's flag rate is the share of that bucket's messages scoring at or over the label's *current*
    threshold, counted with one conditional aggregate per label in the same GROUP BY.
    """
    trunc = _Hour if period == "hour" else _Day
    over = {f"over_{label}": Count("id", filter=Q(**{f"{label}__gte": limits[label]})) for label in LABELS}
    rows = (
        Prediction.objects.filter(created_at__gte=_since(period, now))
        .annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(messages=Count("id"), flagged=Count("id", filter=Q(flagged=True)), **over)
        .order_by("bucket")
    )
    buckets = []
    for row in rows:  # one row per hour or day, never per message
        total = row["messages"]
        buckets.append(
            {
                "start": row["bucket"].isoformat(),
                "messages": total,
                "flagged": row["flagged"],
                "flag_rate": {label: round(row[f"over_{label}"] / total, 4) for label in LABELS},
            }
        )
    return {"period": period, "labels": list(LABELS), "buckets": buckets}


def queue_summary(*, now: datetime | None = None) -> dict[str, object]:
    """Return the review queue's size, its oldest message's age and how many messages wait how long."""
    now = now or timezone.now()
    counts: dict[str, Count] = {}
    lower: timedelta | None = None
    for index, (_name, upper) in enumerate(QUEUE_AGES):
        condition = Q()
        if upper is not None:
            condition &= Q(created_at__gt=now - upper)
        if lower is not None:
            condition &= Q(created_at__lte=now - lower)
        counts[f"age_{index}"] = Count("id", filter=condition)
        lower = upper
    row = review_queue().order_by().aggregate(size=Count("id"), oldest=Min("created_at"), **counts)
    oldest = row["oldest"]
    return {
        "size": row["size"],
        "oldest": oldest.isoformat() if oldest else None,
        "oldest_age_seconds": round((now - oldest).total_seconds()) if oldest else None,
        "ages": [{"name": name, "count": row[f"age_{i}"]} for i, (name, _) in enumerate(QUEUE_AGES)],
    }


def decisions_per_moderator(*, days: int = 30, now: datetime | None = None) -> list[dict[str, object]]:
    """Return each moderator's decisions in the last ``days`` days, in total and per action."""
    since = (now or timezone.now()) - timedelta(days=days)
    rows = (
        ModerationDecision.objects.filter(created_at__gte=since)
        .values(moderator_name=F("moderator__username"))
        .annotate(
            total=Count("id"),
            approve=Count("id", filter=Q(action="approve")),
            remove=Count("id", filter=Q(action="remove")),
            other=Count("id", filter=~Q(action__in=["approve", "remove"])),
        )
        .order_by("-total", "moderator_name")
    )
    return list(rows)


def model_versions() -> list[dict[str, object]]:
    """Return each model version that scored stored messages: how many and the newest message's time."""
    rows = (
        Prediction.objects.values("model_version")
        .annotate(messages=Count("id"), last_seen=Max("created_at"))
        .order_by("-last_seen")
    )
    return [{**row, "last_seen": row["last_seen"].isoformat()} for row in rows]


def score_histograms(
    *, limits: dict[str, float], days: int = 7, now: datetime | None = None
) -> dict[str, object]:
    """Return, per label, how many messages of the last ``days`` days fall in each score bucket.

    The bucket is computed in SQL (``CAST(FLOOR(score * BUCKETS) AS INTEGER)``, 1.0 folded into the top
    bucket) and grouped on, one GROUP BY per label: each sorts the window's rows, so the window is a week.
    """
    window = Prediction.objects.filter(created_at__gte=(now or timezone.now()) - timedelta(days=days))
    result: dict[str, object] = {}
    for label in LABELS:
        # FLOOR first: PostgreSQL rounds when it casts a float to an integer, SQLite truncates.
        scaled = Cast(Floor(F(label) * float(BUCKETS)), output_field=IntegerField())
        bucket = Least(scaled, BUCKETS - 1, output_field=IntegerField())
        counts = [0] * BUCKETS
        rows = window.annotate(b=bucket).values("b").annotate(n=Count("id")).order_by("b")
        for row in rows:  # at most BUCKETS rows
            counts[max(0, min(BUCKETS - 1, int(row["b"])))] += row["n"]
        result[label] = {"counts": counts, "threshold": limits[label]}
    return {
        "days": days,
        "bucket_width": 1 / BUCKETS,
        "edges": [round(i / BUCKETS, 2) for i in range(BUCKETS + 1)],
        "labels": result,
    }
