"""``reclassify --workers N`` scores in N processes, each row exactly once: on SQLite the command writes what
its workers score; on PostgreSQL each worker claims and writes chunks of its own id ranges."""

import dataclasses
import itertools
import json
import os
import pickle
import re
import subprocess
import sys

import pytest
from django.db import connection

from classifier import reclassify, services
from classifier.ml.model import REBUILD_HINT, ModelError
from classifier.models import Prediction, ReclassifyRun, ScoreRevision
from classifier.reclassify import (
    RANGES_PER_WORKER,
    ModelChanged,
    ReclassifyFilters,
    reclassify_run_execute,
    reclassify_runs_start,
)
from classifier.scoring import current_model, score_texts
from classifier.seeding import predictions_seed

from .subprocess_support import ROOT, manage, subprocess_database
from .test_reclassify_resume import _subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 3000


def test_two_workers_split_the_rows_and_rescore_each_exactly_once(tiny_model_path, tmp_path):
    env = _subprocess_env(tiny_model_path)
    read = subprocess_database(env, tmp_path)
    manage(env, "seed_predictions", str(ROWS), "--generated", "--verbosity", "0")
    out = manage(env, "reclassify", "--force", "--workers", "2", "--chunk-size", "100").stdout.decode()
    assert f"Scanned {ROWS} rows" in out and f"re-scored {ROWS}" in out
    runs = read("SELECT options, scanned, finished_at FROM classifier_reclassifyrun ORDER BY id")
    assert all(finished is not None for *_, finished in runs)
    slices = [json.loads(options) if isinstance(options, str) else options for options, _, _ in runs]
    if connection.vendor == "postgresql":  # runs over disjoint id ranges that cover them all
        assert len(runs) == 2 * RANGES_PER_WORKER
        assert slices[0]["id_from"] is None and slices[-1]["id_below"] is None
        assert all(a["id_below"] == b["id_from"] for a, b in itertools.pairwise(slices))
        assert [scanned for _, scanned, _ in runs] == [ROWS // len(runs)] * len(runs)
    else:  # one run, written in id order by the command
        assert len(runs) == 1 and runs[0][1] == ROWS
        assert slices[0]["id_from"] is None and slices[0]["id_below"] is None
    per_row = read(
        "SELECT p.id, COUNT(r.id) FROM classifier_prediction p LEFT JOIN classifier_scorerevision r "
        "ON r.prediction_id = p.id AND r.cause = 'reclassified' GROUP BY p.id"
    )
    assert len(per_row) == ROWS and {count for _, count in per_row} == {1}


def test_two_copies_resuming_on_postgresql_share_the_runs_without_overlap(tiny_model_path, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("chunks are claimed with SKIP LOCKED on PostgreSQL only")
    env = _subprocess_env(tiny_model_path)
    read = subprocess_database(env, tmp_path)
    manage(env, "seed_predictions", str(ROWS), "--generated", "--verbosity", "0")
    runs = reclassify_runs_start(filters=ReclassifyFilters(force=True), resume=False, workers=4)
    assert len(runs) == 4 * RANGES_PER_WORKER
    command = [sys.executable, "manage.py", "reclassify", "--resume", "--chunk-size", "50"]
    copies = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    outs = [copy.communicate(timeout=120)[0].decode() for copy in copies]
    assert [copy.returncode for copy in copies] == [0, 0]
    shares = [int(re.search(r"This process re-scored (\d+) of them", out)[1]) for out in outs]  # type: ignore[index]
    assert sum(shares) == ROWS and all(shares), shares
    per_row = read(
        "SELECT p.id, COUNT(r.id) FROM classifier_prediction p LEFT JOIN classifier_scorerevision r "
        "ON r.prediction_id = p.id AND r.cause = 'reclassified' GROUP BY p.id"
    )
    assert len(per_row) == ROWS and {count for _, count in per_row} == {1}
    assert read("SELECT COUNT(*) FROM classifier_reclassifyrun WHERE finished_at IS NULL") == [(0,)]


SCORED_BY = "TOXSITE_TEST_SCORED_BY"


def _score_texts_noting_the_process(texts: list[str]):
    """``score_texts`` that appends its process id to the file named by an environment variable."""
    with open(os.environ[SCORED_BY], "a") as out:
        out.write(f"{os.getpid()}\n")
    return score_texts(texts)


def test_scoring_workers_score_chunks_ahead_and_the_caller_writes_them_in_order(tmp_path, monkeypatch):
    noted = tmp_path / "pids"
    monkeypatch.setenv(SCORED_BY, str(noted))
    monkeypatch.setattr(reclassify, "score_texts", _score_texts_noting_the_process)  # forked: workers see it
    predictions_seed(count=500, texts=[f"message number {n}, you idiot" for n in range(50)])
    (run,) = reclassify_runs_start(filters=ReclassifyFilters(force=True), resume=False)
    read: list[int] = []
    real_chunks = reclassify._chunks

    def chunks_counted(*args, **kwargs):
        for chunk in real_chunks(*args, **kwargs):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(reclassify, "_chunks", chunks_counted)
    written: list[int] = []  # how many chunks had been read when each was written

    def progress(rows: int) -> None:
        written.append(len(read))

    with reclassify._workers(2) as scorers:
        report = reclassify_run_execute(run=run, chunk_size=30, on_chunk=progress, scorers=scorers, ahead=4)
    scorer_pids = {int(pid) for pid in noted.read_text().split()}
    assert os.getpid() not in scorer_pids and 1 <= len(scorer_pids) <= 2
    assert len(noted.read_text().split()) == 17  # one call per chunk of 30 among 500 rows
    assert report.scanned == report.rescored == 500
    assert written == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 17, 17, 17, 17]  # four chunks ahead
    run.refresh_from_db()
    assert run.last_id == Prediction.objects.order_by("-id").values_list("id", flat=True)[0]
    version = current_model().version
    assert set(Prediction.objects.values_list("model_version", flat=True)) == {version}
    per_message = ScoreRevision.objects.filter(cause="reclassified", model_version=version)
    assert per_message.count() == 500 and per_message.values("prediction").distinct().count() == 500
    assert ReclassifyRun.objects.count() == 1


MARKER = "the scoring of this chunk fails"


def _score_texts_failing_on_the_marker(texts: list[str]):
    if MARKER in texts:
        raise ModelError("corrupt", "The model file is truncated.")
    return score_texts(texts)


def test_a_model_error_in_a_scoring_worker_reaches_the_caller_and_keeps_what_was_written(monkeypatch):
    monkeypatch.setattr(reclassify, "score_texts", _score_texts_failing_on_the_marker)
    predictions_seed(count=300, texts=[f"message {n}" for n in range(299)] + [MARKER])
    (run,) = reclassify_runs_start(filters=ReclassifyFilters(force=True), resume=False)
    with pytest.raises(ModelError, match="truncated") as failure, reclassify._workers(2) as scorers:
        reclassify_run_execute(run=run, chunk_size=50, scorers=scorers, ahead=4)
    assert failure.value.kind == "corrupt"
    run.refresh_from_db()
    assert run.scanned == 250 and run.finished_at is None  # the five chunks before the failing one
    assert ScoreRevision.objects.filter(cause="reclassified").count() == 250


def test_scores_of_another_model_mid_run_stop_it_and_keep_what_was_written(monkeypatch):
    calls: list[int] = []

    def replaced_after_the_first_chunk(texts: list[str]):
        calls.append(len(texts))
        batch = score_texts(texts)
        return batch if len(calls) == 1 else dataclasses.replace(batch, model_version="tox-newer")

    monkeypatch.setattr(services, "score_texts", replaced_after_the_first_chunk)
    predictions_seed(count=100, texts=[f"message {n}" for n in range(100)])
    (run,) = reclassify_runs_start(filters=ReclassifyFilters(force=True), resume=False)
    with pytest.raises(ModelChanged, match="now tox-newer, the run is for tox-"):
        reclassify_run_execute(run=run, chunk_size=40)
    run.refresh_from_db()
    assert run.scanned == 40
    assert not Prediction.objects.filter(model_version="tox-newer").exists()


def test_model_errors_survive_the_trip_from_a_worker():
    error = pickle.loads(pickle.dumps(ModelError("incompatible", "Built with another scikit-learn.")))
    assert (error.kind, str(error), error.hint) == (
        "incompatible",
        "Built with another scikit-learn.",
        REBUILD_HINT,
    )
