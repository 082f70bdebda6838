import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifier.management.commands import reclassify as reclassify_command
from classifier.ml import LABELS
from classifier.ml.model import ModelError
from classifier.models import Prediction, Source, Term, TermKind
from classifier.services import IncomingMessage, predictions_create_many
from classifier.terms import term_save

pytestmark = pytest.mark.django_db

TEXTS = [
    "you are a complete idiot",
    "have a great stream everyone",
    "i will kill you",
    "gg",
    "shut up you moron",
]


def _stale_rows(count: int) -> None:
    """Store rows as an older model left them: every score 0, unflagged, another version."""
    Prediction.objects.bulk_create(
        Prediction(
            text=TEXTS[i % len(TEXTS)],
            model_version="tox-old",
            source=Source.COMMAND,
            **dict.fromkeys(LABELS, 0.0),
        )
        for i in range(count)
    )


def test_reclassify_rescores_every_row_in_chunks(tiny_model_path):
    _stale_rows(23)
    out = io.StringIO()
    call_command("reclassify", chunk_size=5, stdout=out, stderr=io.StringIO())
    rows = list(Prediction.objects.order_by("id"))
    assert {row.model_version for row in rows} == {rows[0].model_version} and rows[
        0
    ].model_version != "tox-old"
    insult = [row for row in rows if row.text == TEXTS[0]]
    assert all(row.flagged and row.insult > 0.5 for row in insult)
    assert not any(row.flagged for row in rows if row.text == TEXTS[1])
    printed = out.getvalue()
    assert "Scanned 23 rows" in printed and "re-scored 23" in printed
    flagged = sum(row.flagged for row in rows)
    assert f"Flags changed: {flagged} ({flagged} newly flagged, 0 no longer flagged)" in printed


def test_reclassify_matches_scoring_a_fresh_message(client):
    client.post("/", {"text": TEXTS[2]})
    fresh = Prediction.objects.get()
    Prediction.objects.update(toxic=0.0, threat=0.0, flagged=False, model_version="tox-old")
    call_command("reclassify", verbosity=0)
    again = Prediction.objects.get()
    assert again.scores == pytest.approx(fresh.scores, abs=1e-6)
    assert (again.flagged, again.model_version) == (fresh.flagged, fresh.model_version)


def test_dry_run_reports_flag_changes_and_writes_nothing():
    _stale_rows(10)
    before = list(Prediction.objects.order_by("id").values())
    out = io.StringIO()
    call_command("reclassify", dry_run=True, stdout=out, stderr=io.StringIO())
    assert list(Prediction.objects.order_by("id").values()) == before
    assert "Flags would change: 6" in out.getvalue()
    assert "Dry run: nothing was written." in out.getvalue()


def test_quiet_run_prints_nothing():
    _stale_rows(3)
    out, err = io.StringIO(), io.StringIO()
    call_command("reclassify", verbosity=0, stdout=out, stderr=err)
    assert out.getvalue() == "" and err.getvalue() == ""
    assert not Prediction.objects.filter(model_version="tox-old").exists()


def test_empty_table_is_fine():
    out = io.StringIO()
    call_command("reclassify", stdout=out, stderr=io.StringIO())
    assert "Scanned 0 rows" in out.getvalue()


def test_a_new_blocked_term_needs_force_and_a_plain_run_says_so(moderator):
    (stored,) = predictions_create_many(messages=[IncomingMessage("what a noob")], source=Source.CHAT)
    term_save(term=Term(kind=TermKind.BLOCKED, pattern="noob", label="insult"), user=moderator)
    out = io.StringIO()
    call_command("reclassify", stdout=out, stderr=io.StringIO())
    assert "Scanned 0 rows" in out.getvalue()
    assert "The 1 stored messages it looks at were scored by model" in out.getvalue()
    assert "run it with --force" in out.getvalue()
    assert Prediction.objects.get(pk=stored.pk).blocked_label == ""
    out = io.StringIO()
    call_command("reclassify", force=True, stdout=out, stderr=io.StringIO())
    assert "re-scored 1" in out.getvalue() and "--force" not in out.getvalue()
    again = Prediction.objects.get(pk=stored.pk)
    assert (again.blocked_label, again.flagged) == ("insult", True)


def test_a_run_limited_to_nothing_gives_no_hint():
    predictions_create_many(messages=[IncomingMessage("gg well played")], source=Source.CHAT)
    out = io.StringIO()
    call_command("reclassify", limit=0, stdout=out, stderr=io.StringIO())
    assert "Scanned 0 rows" in out.getvalue() and "--force" not in out.getvalue()


def test_missing_model_is_a_command_error(settings, tmp_path):
    settings.MODEL_PATH = tmp_path / "absent.joblib"
    with pytest.raises(CommandError, match="train_model"):
        call_command("reclassify", skip_checks=True)


def test_a_model_damaged_during_a_run_stops_it_with_the_fix_and_resume_named(monkeypatch):
    _stale_rows(3)

    def damaged(**kwargs):
        raise ModelError("corrupt", "The model file is truncated.")

    monkeypatch.setattr(reclassify_command, "reclassify_runs_execute", damaged)
    with pytest.raises(CommandError, match=r"truncated\. Run `python manage.py train_model`.*--resume"):
        call_command("reclassify", stdout=io.StringIO(), stderr=io.StringIO())
