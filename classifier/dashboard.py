"""Read queries for the moderation dashboard: every figure is aggregated by the database.

Nothing here loops over stored rows in Python; each function returns at most a few hundred small dicts
(one per hour, day, label bucket, moderator or model version), so the JSON stays small at any table size.
"""

import math
import operator
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any, Literal

from django.db.models import Count, F, Max, Min, Q, Sum, Value
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from .ml import LABELS
from .models import DashboardRollup, ModerationDecision, Prediction
from .models_rollup import (
    BUCKET_COLUMNS,
    BUCKETS,
    SLOT_MINUTES,
    OverLowestBucket,
    ScoreBucket,
    bucket_column,
)
from .selectors import review_queue

Period = Literal["hour", "day"]
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


SLOT = timedelta(minutes=SLOT_MINUTES)


def _slot_start(moment: datetime) -> datetime:
    """Return the start of the first summary slot at or after ``moment`` (UTC)."""
    moment = moment.astimezone(UTC)
    floor = moment.replace(minute=moment.minute - moment.minute % SLOT_MINUTES, second=0, microsecond=0)
    return floor if floor == moment else floor + SLOT


def _bucket(score: float) -> int:
    """Return the histogram bucket of ``score`` exactly as ``bucket_sql`` computes it in SQL."""
    return min(math.floor(score * BUCKETS), BUCKETS - 1)


def _over(label: str, limit: float) -> tuple[list[str], int | None]:
    """Split "``label`` score at or over ``limit``" into whole summary buckets and a bucket to search.

    Return the summary columns of the buckets wholly over ``limit``, and the bucket holding ``limit``
    when some of its messages score under ``limit`` (else None): those are counted from the messages.
    """
    bucket = _bucket(limit)
    if limit <= 0 or _bucket(math.nextafter(limit, -math.inf)) < bucket:
        return [bucket_column(label, b) for b in range(max(bucket, 0), BUCKETS)], None  # limit opens it
    return [bucket_column(label, b) for b in range(bucket + 1, BUCKETS)], bucket


def _sum_of(columns: list[str]) -> Sum | Value:
    if not columns:
        return Value(0)
    return Sum(reduce(operator.add, [F(column) for column in columns]))


def _add(totals: dict[datetime, Counter[str]], rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:  # one row per hour, day or slot: never per message
        totals.setdefault(row.pop("bucket"), Counter()).update({k: v or 0 for k, v in row.items()})


def activity(*, period: Period, limits: dict[str, float], now: datetime | None = None) -> dict[str, object]:
    """Return messages, flagged messages and each label's flag rate per hour or day of the window.

    A label's flag rate is the share of that bucket's messages scoring at or over the label's *current*
    threshold. Whole quarter hours are read from the summary (``DashboardRollup``); from the messages only
    the window's first, partial quarter hour, and per label the messages of the one histogram bucket that
    holds its threshold (an index per label on its bucket, time and score finds them).
    """
    since = (now or timezone.now()) - WINDOWS[period]
    start = _slot_start(since)
    trunc = _Hour if period == "hour" else _Day
    totals: dict[datetime, Counter[str]] = {}
    split = {label: _over(label, limits[label]) for label in LABELS}
    over = {f"over_{label}": _sum_of(columns) for label, (columns, _) in split.items()}
    _add(
        totals,
        DashboardRollup.objects.filter(slot__gte=start)
        .annotate(bucket=trunc("slot"))
        .values("bucket")
        .annotate(messages=Sum("messages"), flagged=Sum("flagged"), **over)
        .order_by(),
    )
    partial = Prediction.objects.filter(created_at__gte=since, created_at__lt=start)
    counts = {f"over_{label}": Count("id", filter=Q(**{f"{label}__gte": limits[label]})) for label in LABELS}
    _add(
        totals,
        partial.annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(messages=Count("id"), flagged=Count("id", filter=Q(flagged=True)), **counts)
        .order_by(),
    )
    for label, (_, bucket) in split.items():
        if bucket is not None:
            # The index on (bucket, created_at, score) holds exactly these rows: an index-only range scan.
            inside = Prediction.objects.annotate(b=ScoreBucket(F(label))).filter(
                b=bucket, created_at__gte=start, **{f"{label}__gte": limits[label]}
            )
            if bucket > 0:  # the index's own condition, which SQLite must see to use it
                inside = inside.filter(OverLowestBucket(F(label)))
            _add(
                totals,
                inside.annotate(bucket=trunc("created_at"))
                .values("bucket")
                .annotate(**{f"over_{label}": Count("*")})
                .order_by(),
            )
    buckets = [
        {
            "start": start_.isoformat(),
            "messages": row["messages"],
            "flagged": row["flagged"],
            "flag_rate": {label: round(row[f"over_{label}"] / row["messages"], 4) for label in LABELS},
        }
        for start_, row in sorted(totals.items())
        if row["messages"]  # a quarter hour whose messages were all moved to another is left in the summary
    ]
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
    """Return each model version that scored stored messages: how many and the newest message's time.

    Counts come from the summary; the newest time is looked up among the messages of each version's last
    quarter hour (the last quarter hour holding any of a version's messages also holds its newest).
    """
    versions = list(
        DashboardRollup.objects.values("model_version")
        .annotate(count=Sum("messages"), last_slot=Max("slot", filter=Q(messages__gt=0)))
        .filter(count__gt=0)
        .order_by()
    )
    if not versions:
        return []
    slots = {row["last_slot"] for row in versions}
    newest = dict(
        Prediction.objects.filter(
            reduce(operator.or_, (Q(created_at__gte=slot, created_at__lt=slot + SLOT) for slot in slots))
        )
        .values("model_version")
        .annotate(last_seen=Max("created_at"))
        .values_list("model_version", "last_seen")
        .order_by()
    )
    rows = [
        {
            "model_version": row["model_version"],
            "messages": row["count"],
            "last_seen": newest[row["model_version"]],
        }
        for row in versions
        if row["model_version"] in newest  # the summary and the messages agree, unless edited by hand
    ]
    rows.sort(key=lambda row: (row["last_seen"], row["model_version"]), reverse=True)
    return [{**row, "last_seen": row["last_seen"].isoformat()} for row in rows]


def score_histograms(
    *, limits: dict[str, float], days: int = 7, now: datetime | None = None
) -> dict[str, object]:
    """Return, per label, how many messages of the last ``days`` days fall in each score bucket.

    Whole quarter hours are added up from the summary; the window's first, partial quarter hour is counted
    from the messages with the same bucket expression (``ScoreBucket``) the summary's triggers use.
    """
    since = (now or timezone.now()) - timedelta(days=days)
    start = _slot_start(since)
    whole = DashboardRollup.objects.filter(slot__gte=start).aggregate(
        **{column: Sum(column) for column in BUCKET_COLUMNS}
    )
    partial = (
        Prediction.objects.filter(created_at__gte=since, created_at__lt=start)
        .annotate(**{f"b_{label}": ScoreBucket(F(label)) for label in LABELS})
        .aggregate(
            **{
                bucket_column(label, b): Count("id", filter=Q(**{f"b_{label}": b}))
                for label in LABELS
                for b in range(BUCKETS)
            }
        )
    )
    result = {
        label: {
            "counts": [
                (whole[bucket_column(label, b)] or 0) + partial[bucket_column(label, b)]
                for b in range(BUCKETS)
            ],
            "threshold": limits[label],
        }
        for label in LABELS
    }
    return {
        "days": days,
        "bucket_width": 1 / BUCKETS,
        "edges": [round(i / BUCKETS, 2) for i in range(BUCKETS + 1)],
        "labels": result,
    }
