"""``reclassify --workers N`` scores in N processes over disjoint id ranges, each row exactly once."""

import json
import re
import subprocess
import sys

import pytest
from django.db import connection

from classifier.reclassify import ReclassifyFilters, reclassify_runs_start

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
    assert len(runs) == 2 and all(finished is not None for *_, finished in runs)
    slices = [json.loads(options) if isinstance(options, str) else options for options, _, _ in runs]
    assert slices[0]["id_from"] is None and slices[1]["id_below"] is None
    assert slices[0]["id_below"] == slices[1]["id_from"]
    assert sorted(scanned for _, scanned, _ in runs) == [ROWS // 2, ROWS // 2]
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
    assert len(runs) == 4
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
