"""The dashboard's figures equal a plain aggregation over the stored messages, whatever changed them.

The dashboard reads whole quarter hours from the summary the triggers keep (``DashboardRollup``); each test
compares every endpoint's numbers with the same figures counted straight from ``Prediction`` rows.
"""

import math
import random
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, IntegerField, Max, Q
from django.db.models.functions import Cast, Floor, Least, TruncDay, TruncHour
from django.utils import timezone

from classifier import dashboard
from classifier.dashboard import BUCKETS, WINDOWS
from classifier.ml import LABELS
from classifier.models import Action, DashboardRollup, Prediction, Status
from classifier.models_rollup import BUCKET_COLUMNS
from classifier.moderation import decision_record, threshold_set
from classifier.rollup import rollup_rebuild, slot_sql, sqlite_slot, sqlite_update_trigger_paused
from classifier.scoring import thresholds
from classifier.services import ScoreRow, scores_write

pytestmark = pytest.mark.django_db

OFF_EDGE = {
    "toxic": 0.47,
    "severe_toxic": 0.31,
    "obscene": 0.52,
    "threat": 0.03,  # in the lowest bucket, which the indexes leave out
    "insult": 0.44,
    "identity_hate": 1.0,
}
ON_EDGE = {
    "toxic": 0.5,
    "severe_toxic": 0.05,
    "obscene": 0.0,
    "threat": 0.95,
    "insult": 0.3,
    "identity_hate": 0.1,
}
# Scores on, just under and just over bucket edges and thresholds, and the extremes.
EDGY = [0.0, 0.03, 0.05, 0.1, 0.28, 0.3, 0.31, 0.44, 0.47, 0.5, 0.52, 0.95, 1.0]
EDGY += [math.nextafter(s, -1.0) for s in EDGY if s > 0] + [math.nextafter(s, 2.0) for s in EDGY if s < 1]


def _now():
    """Return a time half-way through a quarter hour, so every window starts inside one."""
    now = timezone.now().replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 15) + timedelta(minutes=7, seconds=30)


def _store(now, *, count: int, seed: int, version: str = "v1") -> list[Prediction]:
    """Store ``count`` messages over the last 31 days (some in the next hour), with edge-case scores."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        scores = {label: rng.choice(EDGY) if n % 3 == 0 else rng.random() ** 3 for label in LABELS}
        ago = timedelta(seconds=rng.uniform(-3600, 31 * 86400))
        if n % 5 == 0:  # crowd the windows' first, partial quarter hours
            ago = rng.choice([*WINDOWS.values(), timedelta(days=7)]) - timedelta(
                seconds=rng.uniform(-400, 400)
            )
        rows.append(
            Prediction(
                text=f"message {n}",
                **scores,
                flagged=max(scores.values()) >= 0.5,
                model_version=version,
                created_at=now - ago,
            )
        )
    return Prediction.objects.bulk_create(rows)


def _expected_activity(period, limits, now):
    trunc = TruncHour if period == "hour" else TruncDay
    over = {label: Count("id", filter=Q(**{f"{label}__gte": limits[label]})) for label in LABELS}
    rows = (
        Prediction.objects.filter(created_at__gte=now - WINDOWS[period])
        .annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(messages=Count("id"), flagged=Count("id", filter=Q(flagged=True)), **over)
        .order_by("bucket")
    )
    return [
        {
            "start": row["bucket"].isoformat(),
            "messages": row["messages"],
            "flagged": row["flagged"],
            "flag_rate": {label: round(row[label] / row["messages"], 4) for label in LABELS},
        }
        for row in rows
    ]


def _expected_histograms(now, days=7):
    window = Prediction.objects.filter(created_at__gte=now - timedelta(days=days))
    result = {}
    for label in LABELS:
        bucket = Least(Cast(Floor(F(label) * float(BUCKETS)), IntegerField()), BUCKETS - 1)
        counts = [0] * BUCKETS
        for row in window.annotate(b=bucket).values("b").annotate(n=Count("id")):
            counts[row["b"]] = row["n"]
        result[label] = counts
    return result


def _expected_versions():
    counted = Prediction.objects.values("model_version").annotate(
        messages=Count("id"), last_seen=Max("created_at")
    )
    rows = sorted(counted, key=lambda row: (row["last_seen"], row["model_version"]), reverse=True)
    return [{**row, "last_seen": row["last_seen"].isoformat()} for row in rows]


def _summary():
    """Return the summary's non-empty rows as {(slot, version): counts}."""
    rows = DashboardRollup.objects.values_list(
        "slot", "model_version", "messages", "flagged", *BUCKET_COLUMNS
    )
    return {(row[0], row[1]): row[2:] for row in rows if any(row[2:])}


def _assert_dashboard_matches_the_rows(now, limits):
    assert Prediction.objects.exists()
    for period in ("hour", "day"):
        got = dashboard.activity(period=period, limits=limits, now=now)["buckets"]
        assert got == _expected_activity(period, limits, now), period
    histograms: Any = dashboard.score_histograms(limits=limits, days=7, now=now)["labels"]
    assert {label: h["counts"] for label, h in histograms.items()} == _expected_histograms(now)
    assert dashboard.model_versions() == _expected_versions()
    kept = _summary()
    rollup_rebuild()  # the triggers' summary is the one computed from scratch
    assert _summary() == kept


@pytest.mark.parametrize("limits", [OFF_EDGE, ON_EDGE], ids=["thresholds-inside-buckets", "on-bucket-edges"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
def test_figures_equal_the_rows_after_inserts(settings, limits, zone):
    settings.TIME_ZONE = zone  # quarter-hour offsets: local hours and days start inside UTC hours
    now = _now()
    _store(now, count=400, seed=1)
    _store(now, count=100, seed=2, version="v0")
    _assert_dashboard_matches_the_rows(now, limits)


def test_figures_follow_a_set_based_rescore_that_moves_scores_flags_and_versions():
    now = _now()
    stored = _store(now, count=300, seed=3)
    rng = random.Random(4)
    rows: list[ScoreRow] = []
    for prediction in stored[::2]:  # half of them: new scores, flags and a new model version
        s = [rng.choice(EDGY) for _ in LABELS]
        rows.append((s[0], s[1], s[2], s[3], s[4], s[5], max(s) >= 0.47, "v2", "", prediction.pk))
    scores_write(rows)  # what reclassify runs: executemany on SQLite, COPY and one UPDATE on PostgreSQL
    assert Prediction.objects.filter(model_version="v2").count() == len(rows)
    _assert_dashboard_matches_the_rows(now, OFF_EDGE)


def test_figures_follow_reclassify_to_a_new_model():
    now = _now()
    _store(now, count=120, seed=5, version="old-model")
    before = dashboard.model_versions()
    call_command("reclassify", "--force", verbosity=0)
    assert [v["model_version"] for v in before] == ["old-model"]
    assert "old-model" not in {v["model_version"] for v in dashboard.model_versions()}
    _assert_dashboard_matches_the_rows(now, thresholds())


def test_figures_follow_a_threshold_change_that_flips_flags():
    now = _now()
    _store(now, count=200, seed=6)
    flagged = Prediction.objects.filter(flagged=True).count()
    threshold_set(label="insult", value=0.05, user=User.objects.create_user("lead", is_staff=True))
    assert Prediction.objects.filter(flagged=True).count() > flagged
    _assert_dashboard_matches_the_rows(now, thresholds())


def test_decisions_and_prune_leave_the_figures_equal_to_the_rows(client):
    now = _now()
    stored = _store(now, count=200, seed=7)
    moderator = User.objects.create_user("mod", password="pw", is_staff=True)
    queued = [p for p in stored if p.flagged and p.created_at <= now]
    for prediction in queued[:5]:
        decision_record(prediction=prediction, moderator=moderator, action=Action.REMOVE)
    call_command("prune", "--older-than", "10", verbosity=0)
    assert Prediction.objects.filter(status=Status.REMOVED).count() == 5
    assert Prediction.objects.filter(pruned_at__isnull=False).exists()
    _assert_dashboard_matches_the_rows(now, OFF_EDGE)
    client.force_login(moderator)
    queue = client.get("/dashboard/data/queue.json").json()
    assert queue["size"] == Prediction.objects.filter(flagged=True, status=Status.PENDING).count()


def test_deleting_messages_takes_them_out_of_the_figures():
    now = _now()
    stored = _store(now, count=150, seed=8)
    doomed = [p.pk for p in stored[:40]]
    marks = ", ".join(["%s"] * len(doomed))
    with connection.cursor() as cursor:  # history is append-only in the app; only plain SQL can do this
        cursor.execute(f"DELETE FROM classifier_scorerevision WHERE prediction_id IN ({marks})", doomed)
        cursor.execute(f"DELETE FROM classifier_prediction WHERE id IN ({marks})", doomed)
    assert Prediction.objects.count() == 110
    _assert_dashboard_matches_the_rows(now, OFF_EDGE)


def test_endpoints_serve_the_rows_figures(client, settings):
    settings.THRESHOLDS = OFF_EDGE
    client.force_login(User.objects.create_user("mod", is_staff=True))
    now = timezone.now()
    for hours in [0.2, 3, 30, 100, 500]:  # none near a window's edge: the request reads the clock itself
        Prediction.objects.create(
            text="hello", **dict.fromkeys(LABELS, 0.52), flagged=True, model_version="v1",
            created_at=now - timedelta(hours=hours),
        )  # fmt: skip
    for period in ("hour", "day"):
        data = client.get(f"/dashboard/data/activity.json?period={period}").json()
        assert data["buckets"] == _expected_activity(period, OFF_EDGE, timezone.now())
    scores = client.get("/dashboard/data/scores.json").json()["labels"]
    assert scores["obscene"]["counts"] == _expected_histograms(timezone.now())["obscene"]
    assert scores["obscene"]["counts"][10] == 4  # 0.52, the last 7 days
    assert client.get("/dashboard/data/models.json").json()["versions"] == _expected_versions()


def test_a_set_based_rescore_keeps_the_summary_trigger_for_later_writes():
    """SQLite: scores_write pauses the row trigger inside its transaction; it is back for the next UPDATE,
    and a write that fails is rolled back with the trigger still in place."""
    now = _now()
    stored = _store(now, count=60, seed=7)
    rows: list[ScoreRow] = [(0.9, 0.0, 0.0, 0.0, 0.0, 0.0, True, "v3", "", p.pk) for p in stored[:20]]
    scores_write(rows)
    Prediction.objects.filter(pk__in=[p.pk for p in stored[20:30]]).update(toxic=0.99, model_version="v4")
    with pytest.raises(IntegrityError), transaction.atomic():
        scores_write([(0.5, 0.0, 0.0, 0.0, 0.0, 0.0, True, None, "", stored[40].pk)])  # type: ignore[list-item]
    Prediction.objects.filter(pk=stored[41].pk).update(insult=0.77)
    assert Prediction.objects.filter(model_version="v3").count() == 20
    _assert_dashboard_matches_the_rows(now, OFF_EDGE)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%rollup%'")
            names = {name for (name,) in cursor.fetchall()}
        assert names == {f"classifier_rollup_{event}" for event in ("insert", "update", "delete")}


def test_the_python_slot_of_a_stored_time_is_the_sql_one():
    times = [f"2026-11-26 {hour:02d}:{minute:02d}:{second:02d}.123456" for hour in (0, 13, 23)
             for minute in range(60) for second in (0, 59)]  # fmt: skip
    with connection.cursor() as cursor:
        for stamp in times:
            cursor.execute(f"SELECT {slot_sql('sqlite', 'stamp')} FROM (SELECT %s AS stamp) AS t", [stamp])
            assert cursor.fetchone()[0] == sqlite_slot(stamp), stamp


def test_a_rescore_that_keeps_the_version_moves_scores_and_flags_in_the_summary():
    now = _now()
    stored = _store(now, count=90, seed=9)
    gone = stored[5].pk
    with connection.cursor() as cursor:  # deleted after its chunk was read (only plain SQL can)
        cursor.execute("DELETE FROM classifier_scorerevision WHERE prediction_id = %s", [gone])
        cursor.execute("DELETE FROM classifier_prediction WHERE id = %s", [gone])
    rows: list[ScoreRow] = []
    for i, p in enumerate(stored[:60]):
        scores = [p.toxic, p.severe_toxic, p.obscene, p.threat, p.insult, p.identity_hate]
        flagged = p.flagged
        if i % 3 == 0:
            scores[i % 6] = EDGY[i % len(EDGY)]  # a score only
        elif i % 3 == 1:
            flagged = not flagged  # the flag only
        rows.append((*scores, flagged, p.model_version, "", p.pk))
    scores_write(rows)
    assert not Prediction.objects.filter(pk=gone).exists()
    _assert_dashboard_matches_the_rows(now, OFF_EDGE)


def test_scores_write_refuses_a_chunk_that_names_a_message_twice():
    stored = _store(_now(), count=3, seed=10)
    row = (0.1, 0.0, 0.0, 0.0, 0.0, 0.0, False, "v6", "", stored[0].pk)
    with pytest.raises(ValueError, match="twice"):
        scores_write([row, row])
    assert not Prediction.objects.filter(model_version="v6").exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite drops the trigger; PostgreSQL keeps it")
@pytest.mark.django_db(transaction=True)  # no test transaction around it: autocommit, as a script would run
def test_the_summary_trigger_is_only_paused_inside_a_transaction():
    with (
        connection.cursor() as cursor,
        pytest.raises(RuntimeError, match="atomic"),
        sqlite_update_trigger_paused(cursor),
    ):
        pass
