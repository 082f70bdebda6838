from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from classifier.dashboard import BUCKETS
from classifier.ml import LABELS
from classifier.models import Action, ModerationDecision, Prediction, Status

pytestmark = pytest.mark.django_db

ENDPOINTS = ["activity", "queue", "moderators", "models", "scores"]


@pytest.fixture
def staff(client) -> User:
    user = User.objects.create_user("mod", password="pw", is_staff=True)
    client.force_login(user)
    return user


def _store(*, hours_ago: float, score: float, flagged: bool, version: str = "v1", status=Status.PENDING):
    return Prediction.objects.create(
        text="hello",
        **dict.fromkeys(LABELS, score),
        flagged=flagged,
        model_version=version,
        status=status,
        created_at=timezone.now() - timedelta(hours=hours_ago),
    )


def test_dashboard_needs_a_staff_login(client):
    for url in ["/dashboard/", *(f"/dashboard/data/{name}.json" for name in ENDPOINTS)]:
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    User.objects.create_user("plain", password="pw")
    client.login(username="plain", password="pw")
    assert client.get("/dashboard/data/queue.json").status_code == 302


def test_dashboard_page_loads_the_vendored_chartjs_and_its_script(client, staff):
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert b"vendor/chartjs/chart.umd.min.js" in response.content
    assert b"js/dashboard.js" in response.content
    assert b'data-scores-url="/dashboard/data/scores.json"' in response.content


def test_admin_links_to_the_dashboard(client, staff):
    assert b'href="/dashboard/"' in client.get("/admin/").content


def test_activity_counts_messages_flags_and_label_rates_per_hour(client, staff, settings):
    settings.THRESHOLDS = dict.fromkeys(LABELS, 0.5)
    _store(hours_ago=0, score=0.9, flagged=True)
    _store(hours_ago=0, score=0.1, flagged=False)
    _store(hours_ago=3, score=0.1, flagged=False)
    _store(hours_ago=100, score=0.9, flagged=True)  # outside the 48 h window
    data = client.get("/dashboard/data/activity.json?period=hour").json()
    assert data["period"] == "hour"
    assert [b["messages"] for b in data["buckets"]] == [1, 2]
    assert [b["flagged"] for b in data["buckets"]] == [0, 1]
    assert data["buckets"][1]["flag_rate"] == dict.fromkeys(LABELS, 0.5)
    days = client.get("/dashboard/data/activity.json?period=day").json()
    assert sum(b["messages"] for b in days["buckets"]) == 4


def test_activity_buckets_in_the_local_day_outside_utc(client, staff, settings):
    settings.TIME_ZONE = "Asia/Kathmandu"  # UTC+5:45: Django's own truncation, not SQLite's strftime
    _store(hours_ago=0, score=0.9, flagged=True)
    _store(hours_ago=50, score=0.1, flagged=False)
    data = client.get("/dashboard/data/activity.json?period=day").json()
    assert sum(b["messages"] for b in data["buckets"]) == 2
    assert all(b["start"].endswith("+05:45") for b in data["buckets"])


def test_activity_rejects_an_unknown_period(client, staff):
    response = client.get("/dashboard/data/activity.json?period=week")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_period"


def test_queue_reports_size_oldest_age_and_age_buckets(client, staff):
    _store(hours_ago=0.1, score=0.9, flagged=True)
    _store(hours_ago=5, score=0.9, flagged=True)
    _store(hours_ago=30 * 24, score=0.9, flagged=True)
    _store(hours_ago=2, score=0.9, flagged=True, status=Status.APPROVED)  # decided: not queued
    _store(hours_ago=2, score=0.1, flagged=False)  # not flagged: not queued
    data = client.get("/dashboard/data/queue.json").json()
    assert data["size"] == 3
    assert data["oldest_age_seconds"] == pytest.approx(30 * 86400, abs=60)
    assert [a["count"] for a in data["ages"]] == [1, 1, 0, 1]


def test_decisions_are_counted_per_moderator_and_action(client, staff):
    other = User.objects.create_user("other", is_staff=True)
    message = _store(hours_ago=1, score=0.9, flagged=True)
    for moderator, action in [(staff, Action.APPROVE), (staff, Action.REMOVE), (staff, Action.ESCALATE)]:
        ModerationDecision.objects.create(
            prediction=message,
            moderator=moderator,
            action=action,
            status_before="pending",
            status_after="pending",
        )
    ModerationDecision.objects.create(
        prediction=message,
        moderator=other,
        action=Action.APPROVE,
        status_before="pending",
        status_after="approved",
    )
    data = client.get("/dashboard/data/moderators.json").json()
    assert data["moderators"] == [
        {"moderator_name": "mod", "total": 3, "approve": 1, "remove": 1, "other": 1},
        {"moderator_name": "other", "total": 1, "approve": 1, "remove": 0, "other": 0},
    ]


def test_model_versions_are_listed_newest_first_with_counts(client, staff):
    _store(hours_ago=10, score=0.1, flagged=False, version="old")
    _store(hours_ago=9, score=0.1, flagged=False, version="old")
    _store(hours_ago=1, score=0.1, flagged=False, version="new")
    versions = client.get("/dashboard/data/models.json").json()["versions"]
    assert [(v["model_version"], v["messages"]) for v in versions] == [("new", 1), ("old", 2)]


def test_score_histograms_bucket_in_sql_with_thresholds(client, staff, settings):
    settings.THRESHOLDS = dict.fromkeys(LABELS, 0.6)
    for score in [0.0, 0.049, 0.05, 0.97, 0.999, 1.0]:
        _store(hours_ago=1, score=score, flagged=False)
    data = client.get("/dashboard/data/scores.json").json()
    assert len(data["edges"]) == BUCKETS + 1
    toxic = data["labels"]["toxic"]
    assert toxic["threshold"] == 0.6
    assert toxic["counts"][0] == 2 and toxic["counts"][1] == 1
    assert toxic["counts"][BUCKETS - 1] == 3  # 0.97 and 0.999 and 1.0 fold into the top bucket
    assert sum(toxic["counts"]) == 6


def test_endpoints_answer_with_an_empty_database(client, staff):
    for name in ENDPOINTS:
        assert client.get(f"/dashboard/data/{name}.json").status_code == 200
