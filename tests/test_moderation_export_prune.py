"""The retraining loop (export_labels, train_model --extra-labels) and pruning old messages' text."""

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from classifier.ml import LABELS
from classifier.models import Action, ModerationDecision, Prediction, ScoreRevision, Source
from classifier.moderation import decision_record
from classifier.services import prediction_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator() -> User:
    return User.objects.create_user("mod", password="pw", is_staff=True)


def relabel(prediction: Prediction, moderator: User, **labels: int) -> None:
    decision_record(
        prediction=prediction,
        moderator=moderator,
        action=Action.RELABEL,
        labels=dict.fromkeys(LABELS, 0) | labels,
    )


def test_export_labels_writes_each_relabelled_message_once_with_its_latest_labels(moderator, tmp_path):
    a = prediction_create(text="you are a complete idiot", source=Source.FORM)
    b = prediction_create(text="gg noob", source=Source.FORM)
    prediction_create(text="hello chat", source=Source.FORM)  # never relabelled: not exported
    relabel(a, moderator, toxic=1)
    relabel(a, moderator, toxic=1, insult=1)
    relabel(b, moderator, toxic=1, insult=1)
    out = io.StringIO()
    call_command("export_labels", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["id"] for row in rows] == [f"toxsite-{a.pk}", f"toxsite-{b.pk}"]
    assert rows[0]["comment_text"] == "you are a complete idiot"
    assert {label: rows[0][label] for label in LABELS} == dict.fromkeys(LABELS, "0") | {
        "toxic": "1",
        "insult": "1",
    }
    target = tmp_path / "labels.csv"
    call_command("export_labels", output=str(target), stdout=io.StringIO())
    with target.open(encoding="utf-8", newline="") as fh:
        assert list(csv.DictReader(fh)) == rows


def test_train_model_learns_from_exported_labels_and_records_them_in_the_sidecar(
    moderator, tmp_path, tiny_data_dir
):
    for n in range(12):
        relabel(
            prediction_create(text=f"gg noob number {n}", source=Source.CHAT), moderator, toxic=1, insult=1
        )
    labels = tmp_path / "labels.csv"
    call_command("export_labels", output=str(labels), stdout=io.StringIO())
    model = tmp_path / "model.joblib"
    call_command(
        "train_model",
        data_dir=tiny_data_dir,
        output=model,
        quick=True,
        jobs=1,
        extra_labels=labels,
        verbosity=0,
    )
    sidecar = json.loads(model.with_suffix(".json").read_text())
    assert "extra-labels/labels.csv" in sidecar["data"]["files"]
    assert len(sidecar["data"]["files"]["extra-labels/labels.csv"]) == 64
    assert sidecar["data"]["rows_per_source"]["moderators"] == 12
    plain = tmp_path / "plain.joblib"
    call_command("train_model", data_dir=tiny_data_dir, output=plain, quick=True, jobs=1, verbosity=0)
    assert json.loads(plain.with_suffix(".json").read_text())["model_version"] != sidecar["model_version"]


def test_train_model_refuses_a_missing_or_malformed_extra_labels_file(tmp_path, tiny_data_dir):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("train_model", data_dir=tiny_data_dir, extra_labels=tmp_path / "nope.csv", verbosity=0)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,toxic\nhello,0\n", encoding="utf-8")
    with pytest.raises(CommandError, match="lacks the column"):
        call_command("train_model", data_dir=tiny_data_dir, extra_labels=bad, verbosity=0)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe not text")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("train_model", data_dir=tiny_data_dir, extra_labels=binary, verbosity=0)


def test_train_model_refuses_labels_other_than_0_and_1(tmp_path, tiny_data_dir):
    labels = tmp_path / "labels.csv"
    header = "id,comment_text,toxic,severe_toxic,obscene,threat,insult,identity_hate"
    labels.write_text(f"{header}\n1,hello,0,0,0,0,0,0\n2,you idiot,2,0,0,0,1,0\n", encoding="utf-8")
    out = tmp_path / "m.joblib"
    with pytest.raises(CommandError, match="line 3: every label must be 0 or 1"):
        call_command(
            "train_model", data_dir=tiny_data_dir, extra_labels=labels, output=out, quick=True, verbosity=0
        )
    assert not out.exists()


def test_prune_dry_run_then_prune_keeps_ids_scores_and_history(moderator):
    old = prediction_create(text="you are a complete idiot", source=Source.FORM)
    decision_record(prediction=old, moderator=moderator, action=Action.REMOVE)
    recent = prediction_create(text="shut up you moron", source=Source.FORM)
    Prediction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    scores = Prediction.objects.get(pk=old.pk).scores

    out = io.StringIO()
    call_command("prune", older_than=30, dry_run=True, stdout=out)
    assert "Would delete the text of 1 message " in out.getvalue()
    assert Prediction.objects.get(pk=old.pk).text == "you are a complete idiot"

    out = io.StringIO()
    call_command("prune", older_than=30, batch_size=1, stdout=out)
    assert "Deleted the text of 1 message " in out.getvalue()
    pruned = Prediction.objects.get(pk=old.pk)
    assert pruned.text == "" and pruned.pruned_at is not None and pruned.scores == scores
    assert ScoreRevision.objects.filter(prediction=pruned).count() == 1
    assert ModerationDecision.objects.filter(prediction=pruned).count() == 1
    assert Prediction.objects.get(pk=recent.pk).text == "shut up you moron"
    out = io.StringIO()
    call_command("prune", older_than=30, stdout=out)
    assert "of 0 messages" in out.getvalue()  # already pruned: nothing to do


def test_prune_many_in_batches(moderator):
    Prediction.objects.bulk_create(
        Prediction(
            text=f"m{n}",
            model_version="v",
            created_at=timezone.now() - timedelta(days=90),
            **dict.fromkeys(LABELS, 0.0),
        )
        for n in range(25)
    )
    call_command("prune", older_than=30, batch_size=7, stdout=io.StringIO())
    assert set(Prediction.objects.values_list("text", flat=True)) == {""}


@pytest.mark.parametrize("options", [{"older_than": 0}, {"older_than": 5, "batch_size": 0}])
def test_prune_refuses_bad_options(options):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune", **options)


def test_relabelled_but_pruned_messages_are_not_exported(moderator):
    p = prediction_create(text="gg noob", source=Source.FORM)
    relabel(p, moderator, toxic=1)
    Prediction.objects.filter(pk=p.pk).update(created_at=timezone.now() - timedelta(days=90))
    call_command("prune", older_than=30, stdout=io.StringIO())
    out = io.StringIO()
    call_command("export_labels", stdout=out)
    assert out.getvalue().strip().splitlines() == [",".join(["id", "comment_text", *LABELS])]


def test_export_labels_reports_an_unwritable_output(tmp_path: Path):
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_labels", output=str(tmp_path / "missing" / "x.csv"))


def test_reclassify_leaves_pruned_messages_scores_alone():
    from classifier.services import predictions_rescore

    kept = prediction_create(text="you are a complete idiot", source=Source.FORM)
    pruned = prediction_create(text="shut up you moron", source=Source.FORM)
    Prediction.objects.filter(pk=pruned.pk).update(created_at=timezone.now() - timedelta(days=90))
    call_command("prune", older_than=30, stdout=io.StringIO())
    report = predictions_rescore()
    assert report.scanned == 1
    assert Prediction.objects.get(pk=pruned.pk).scores == pruned.scores
    assert ScoreRevision.objects.filter(prediction=pruned, cause="reclassified").count() == 0
    assert ScoreRevision.objects.filter(prediction=kept, cause="reclassified").count() == 1


def test_prune_with_an_age_before_year_one_is_a_clear_error():
    with pytest.raises(CommandError, match="before the year 1"):
        call_command("prune", older_than=99_999_999)
