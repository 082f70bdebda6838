"""The set-based chunk write of re-scoring, and the planner statistics a run refreshes first (PostgreSQL)."""

import pytest
from django.db import IntegrityError, connection, transaction

from classifier.ml import LABELS
from classifier.models import Prediction, RevisionCause, ScoreRevision, Source
from classifier.reclassify import planner_statistics_refresh
from classifier.services import scores_write

pytestmark = pytest.mark.django_db


def _stored(count: int) -> list[int]:
    rows = Prediction.objects.bulk_create(
        Prediction(
            text=f"message {n}", model_version="tox-old", source=Source.COMMAND, **dict.fromkeys(LABELS, 0.0)
        )
        for n in range(count)
    )
    return [row.pk for row in rows]


def _row(pk: int, score: float, *, flagged: bool = True, blocked: str = "") -> tuple:
    return (*[score] * len(LABELS), flagged, "tox-new", blocked, pk)


def test_chunk_write_updates_only_its_rows_and_records_a_revision_of_each():
    ids = _stored(5)
    scores_write([_row(ids[1], 0.25), _row(ids[3], 0.75, blocked="insult")], cause=RevisionCause.RECLASSIFIED)

    by_id = {p.pk: p for p in Prediction.objects.all()}
    assert [by_id[pk].model_version for pk in ids] == ["tox-old", "tox-new", "tox-old", "tox-new", "tox-old"]
    assert by_id[ids[1]].scores == dict.fromkeys(LABELS, 0.25) and by_id[ids[1]].flagged
    assert by_id[ids[3]].blocked_label == "insult" and by_id[ids[2]].toxic == 0.0
    revisions = ScoreRevision.objects.filter(cause=RevisionCause.RECLASSIFIED).order_by("prediction_id")
    assert [(r.prediction_id, r.toxic, r.flagged, r.model_version) for r in revisions] == [
        (ids[1], 0.25, True, "tox-new"),
        (ids[3], 0.75, True, "tox-new"),
    ]


def test_one_chunk_mixes_rows_that_keep_and_change_their_flag_or_blocked_label():
    ids = _stored(4)
    Prediction.objects.filter(pk=ids[3]).update(flagged=True, blocked_label="insult")
    scores_write(
        [
            _row(ids[0], 0.3, flagged=False),  # keeps flag and label: only scores and version are written
            _row(ids[1], 0.6, flagged=True),  # newly flagged
            _row(ids[2], 0.1, flagged=False, blocked="threat"),  # a blocked label, same flag
            _row(ids[3], 0.2, flagged=False),  # unflagged, label gone
        ]
    )
    stored = Prediction.objects.order_by("id")
    assert list(stored.values_list("toxic", "flagged", "blocked_label", "model_version")) == [
        (0.3, False, "", "tox-new"),
        (0.6, True, "", "tox-new"),
        (0.1, False, "threat", "tox-new"),
        (0.2, False, "", "tox-new"),
    ]


def test_revisions_record_the_cause_given():
    (pk,) = _stored(1)
    scores_write([_row(pk, 0.5, flagged=False)], cause=RevisionCause.THRESHOLDS)
    latest = ScoreRevision.objects.filter(prediction_id=pk).order_by("-id").first()
    assert latest is not None and (latest.cause, latest.flagged, latest.identity_hate) == (
        RevisionCause.THRESHOLDS,
        False,
        0.5,
    )


def test_several_chunks_can_be_written_in_one_transaction():
    ids = _stored(4)
    with transaction.atomic():
        scores_write([_row(ids[0], 0.1), _row(ids[1], 0.2)])
        scores_write([_row(ids[2], 0.3), _row(ids[3], 0.4)])
    assert list(Prediction.objects.order_by("id").values_list("toxic", flat=True)) == [0.1, 0.2, 0.3, 0.4]
    assert ScoreRevision.objects.filter(cause=RevisionCause.RECLASSIFIED).count() == 4


def test_a_failed_chunk_write_leaves_no_scores_and_no_revisions():
    (pk,) = _stored(1)
    with pytest.raises(IntegrityError), transaction.atomic():
        scores_write([_row(pk, 1.5)])  # out of range: the database refuses it
    stored = Prediction.objects.get(pk=pk)
    assert (stored.toxic, stored.model_version) == (0.0, "tox-old")
    assert not ScoreRevision.objects.filter(cause=RevisionCause.RECLASSIFIED).exists()
    scores_write([_row(pk, 0.5)])  # and the next chunk is written normally
    assert Prediction.objects.get(pk=pk).toxic == 0.5


def test_chunks_are_read_along_the_primary_key_after_a_bulk_load():
    if connection.vendor != "postgresql":
        pytest.skip("the statistics are PostgreSQL's planner's")
    ids = _stored(20_000)
    planner_statistics_refresh()
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT id, text FROM classifier_prediction WHERE pruned_at IS NULL AND id > %s "
            "ORDER BY id LIMIT 2000",
            [ids[len(ids) // 2]],
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert "classifier_prediction_pkey" in plan and "Seq Scan" not in plan, plan


def test_a_chunk_is_written_without_scanning_the_whole_table():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite updates by rowid, one row at a time")
    ids = _stored(20_000)
    planner_statistics_refresh()
    query = "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'classifier_prediction'"
    with connection.cursor() as cursor:
        cursor.execute(query)
        (before,) = cursor.fetchone()
        scores_write([_row(pk, 0.5) for pk in ids[10_000:12_000]])
        cursor.execute(query)
        (after,) = cursor.fetchone()
    assert after == before
    assert Prediction.objects.filter(toxic=0.5).count() == 2000
