import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from classifier.ml import LABELS
from classifier.models import Prediction, ReclassifyRun, RevisionCause, ScoreRevision, Source
from classifier.scoring import current_model

pytestmark = pytest.mark.django_db

TEXTS = [
    "you are a complete idiot",
    "have a great stream everyone",
    "i will kill you",
    "gg",
    "shut up you moron",
]


def _rows(count: int, *, version: str = "tox-old", flagged: bool = False, age_days: int = 0) -> list[int]:
    """Store ``count`` rows as an older model left them: every score 0, another version."""
    created = timezone.now() - timedelta(days=age_days)
    stored = Prediction.objects.bulk_create(
        Prediction(
            text=TEXTS[i % len(TEXTS)],
            model_version=version,
            source=Source.COMMAND,
            flagged=flagged,
            created_at=created,
            **dict.fromkeys(LABELS, 0.0),
        )
        for i in range(count)
    )
    return [row.pk for row in stored]


def _reclassify(**options) -> str:
    out = io.StringIO()
    call_command("reclassify", stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def _reclassified(ids: list[int]) -> int:
    return ScoreRevision.objects.filter(prediction_id__in=ids, cause=RevisionCause.RECLASSIFIED).count()


def test_second_run_rescores_nothing_and_changes_nothing():
    ids = _rows(12)
    assert "re-scored 12" in _reclassify(chunk_size=5)
    before = list(Prediction.objects.order_by("id").values())
    printed = _reclassify(chunk_size=5)
    assert "Scanned 0 rows" in printed and "re-scored 0" in printed
    assert list(Prediction.objects.order_by("id").values()) == before
    assert _reclassified(ids) == 12


def test_force_rescores_rows_of_the_current_model_again():
    ids = _rows(4)
    _reclassify()
    assert "re-scored 4" in _reclassify(force=True)
    assert _reclassified(ids) == 8


def test_only_rows_of_other_versions_are_rescored():
    old = _rows(3)
    current = _rows(2, version=current_model().version)
    assert "re-scored 3" in _reclassify()
    assert _reclassified(old) == 3 and _reclassified(current) == 0


def test_since_and_until_select_by_creation_time():
    old = _rows(2, age_days=30)
    middle = _rows(3, age_days=10)
    new = _rows(4, age_days=0)
    since = (timezone.now() - timedelta(days=20)).date().isoformat()
    until = (timezone.now() - timedelta(days=5)).isoformat()
    assert "re-scored 3" in _reclassify(since=since, until=until)
    assert (_reclassified(old), _reclassified(middle), _reclassified(new)) == (0, 3, 0)


def test_flagged_only_and_model_version_filters():
    plain = _rows(2)
    flagged = _rows(3, flagged=True)
    other = _rows(4, version="tox-older", flagged=True)
    assert "re-scored 3" in _reclassify(flagged_only=True, model_version="tox-old")
    assert (_reclassified(plain), _reclassified(flagged), _reclassified(other)) == (0, 3, 0)


def test_limit_caps_the_rows_scanned_in_id_order():
    ids = _rows(10)
    assert "Scanned 7 rows" in _reclassify(limit=7, chunk_size=3)
    assert _reclassified(ids[:7]) == 7 and _reclassified(ids[7:]) == 0


def test_limit_with_workers_caps_the_rows_on_sqlite_and_is_refused_on_postgresql():
    ids = _rows(10)
    if connection.vendor == "postgresql":  # each worker claims chunks of its own id ranges there
        with pytest.raises(CommandError, match="--workers does not go with --limit on PostgreSQL"):
            _reclassify(limit=7, workers=2)
        assert _reclassified(ids) == 0
    else:  # one run, written in id order by the command
        assert "Scanned 7 rows" in _reclassify(limit=7, chunk_size=3, workers=2)
        assert _reclassified(ids[:7]) == 7 and _reclassified(ids[7:]) == 0


def test_dry_run_reports_flag_changes_per_label_for_the_filtered_rows_only():
    _rows(10)
    _rows(5, version="tox-older")
    before = list(Prediction.objects.order_by("id").values())
    printed = _reclassify(dry_run=True, model_version="tox-old")
    assert list(Prediction.objects.order_by("id").values()) == before
    assert "Scanned 10 rows" in printed and "Flags would change: 6" in printed
    assert "scored them without writing" in printed and "re-scored" not in printed
    crossings = printed.split("Threshold crossings per label: ")[1]
    assert "insult 4" in crossings and "threat 2" in crossings
    assert not ReclassifyRun.objects.exists()


def test_a_run_is_recorded_with_its_totals():
    _rows(10)
    _reclassify(chunk_size=4)
    run = ReclassifyRun.objects.get()
    assert run.finished_at is not None and run.model_version == current_model().version
    assert (run.scanned, run.rescored, run.newly_flagged) == (10, 10, 6)
    assert run.last_id == Prediction.objects.order_by("-id").values_list("id", flat=True)[0]


def test_resume_continues_an_unfinished_run_after_its_last_id():
    ids = _rows(10)
    ReclassifyRun.objects.create(
        model_version=current_model().version,
        options={"force": True, "limit": None},
        last_id=ids[5],
        scanned=6,
        rescored=6,
        label_changes=dict.fromkeys(LABELS, 0),
    )
    printed = _reclassify(resume=True, chunk_size=3)
    assert "Resuming run" in printed and "Scanned 10 rows" in printed
    assert _reclassified(ids[:6]) == 0 and _reclassified(ids[6:]) == 4
    with pytest.raises(CommandError, match="No unfinished reclassify run"):
        _reclassify(resume=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"since": "yesterday"}, "--since 'yesterday' is not a date"),
        ({"limit": -1}, "--limit must be 0 or more"),
        ({"chunk_size": 0}, "--chunk-size must be at least 1"),
        ({"resume": True, "dry_run": True}, "--resume and --dry-run"),
        ({"workers": 2, "dry_run": True}, "--workers does not go with --dry-run"),
        ({"resume": True}, "No unfinished reclassify run"),
    ],
)
def test_bad_options_are_command_errors(options, message):
    with pytest.raises(CommandError, match=message):
        _reclassify(**options)
