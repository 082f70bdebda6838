import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifier.models import Prediction, RevisionCause, ScoreRevision
from classifier.scoring import current_model, score_texts

pytestmark = pytest.mark.django_db


def test_seed_stores_n_scored_predictions_from_the_training_data(tiny_data_dir):
    out = io.StringIO()
    call_command(
        "seed_predictions", 130, data_dir=tiny_data_dir, batch_size=50, stdout=out, stderr=io.StringIO()
    )
    assert "Stored 130 predictions" in out.getvalue()
    rows = list(Prediction.objects.order_by("id"))
    assert len(rows) == 130 and {row.model_version for row in rows} == {current_model().version}
    assert any(row.flagged for row in rows) and not all(row.flagged for row in rows)
    sample = rows[7]
    assert sample.scores == pytest.approx(score_texts([sample.text]).rows()[0], abs=1e-6)
    assert [row.created_at for row in rows] == sorted(row.created_at for row in rows)
    assert ScoreRevision.objects.filter(cause=RevisionCause.CREATED).count() == 130


def test_seed_generates_texts_without_data_and_reclassify_then_skips_them(tmp_path):
    call_command("seed_predictions", 20, data_dir=tmp_path, verbosity=0)
    assert Prediction.objects.count() == 20
    out = io.StringIO()
    call_command("reclassify", stdout=out, stderr=io.StringIO())
    assert "Scanned 0 rows" in out.getvalue()


def test_negative_count_is_a_command_error():
    with pytest.raises(CommandError, match="0 or more"):
        call_command("seed_predictions", -1)
