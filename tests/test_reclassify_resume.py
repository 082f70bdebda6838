"""An interrupted reclassify run resumes where it stopped: killed with SIGKILL in a real subprocess."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .subprocess_support import ROOT, manage, subprocess_database

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 6000


def _subprocess_env(tiny_model_path: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_URL", "TOXSITE_", "DJANGO_", "MODEL_PATH"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="toxsite.settings",
        SECRET_KEY="reclassify-subprocess-test",
        MODEL_PATH=str(tiny_model_path),
    )
    return env


def test_run_killed_with_sigkill_resumes_and_rescores_every_row_exactly_once(tiny_model_path, tmp_path):
    env = _subprocess_env(tiny_model_path)
    read = subprocess_database(env, tmp_path)
    manage(env, "seed_predictions", str(ROWS), "--generated", "--verbosity", "0")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "reclassify", "--force", "--chunk-size", "10", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not read("SELECT 1 FROM classifier_reclassifyrun WHERE last_id > 0"):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the run committed no chunk within a minute"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr:
            process.stderr.close()
    ((run_id, last_id, scanned, finished),) = read(
        "SELECT id, last_id, scanned, finished_at FROM classifier_reclassifyrun"
    )
    assert finished is None and 0 < scanned < ROWS
    count_query = "SELECT COUNT(*) FROM classifier_scorerevision WHERE cause = 'reclassified'"
    assert read(count_query) == [(scanned,)]  # what was committed matches the recorded progress

    out = manage(env, "reclassify", "--resume", "--chunk-size", "500").stdout.decode()
    assert f"Resuming run {run_id} after message id {last_id}." in out
    assert f"Scanned {ROWS} rows" in out and f"re-scored {ROWS}" in out
    per_row = read(
        "SELECT p.id, COUNT(r.id) FROM classifier_prediction p LEFT JOIN classifier_scorerevision r "
        "ON r.prediction_id = p.id AND r.cause = 'reclassified' AND r.model_version = p.model_version "
        "GROUP BY p.id"
    )
    assert len(per_row) == ROWS and {count for _, count in per_row} == {1}
    assert read("SELECT COUNT(*) FROM classifier_reclassifyrun WHERE finished_at IS NOT NULL") == [(1,)]
    assert "Scanned 0 rows" in manage(env, "reclassify").stdout.decode()


def _children(pid: int) -> set[int]:
    return {
        int(child)
        for children in Path(f"/proc/{pid}/task").glob("*/children")
        for child in children.read_text().split()
    }


def _alive(pid: int) -> bool:
    try:  # a dead process that its parent has not waited for yet is a zombie: gone for this purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _start_with_workers(env: dict[str, str], read) -> tuple[subprocess.Popen[bytes], set[int]]:
    """Start ``reclassify --workers 2`` in a session of its own (a terminal's process group); return it and
    its workers once it has committed a chunk."""
    command = ["reclassify", "--force", "--workers", "2", "--chunk-size", "10", "--verbosity", "0"]
    process = subprocess.Popen(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not read("SELECT 1 FROM classifier_reclassifyrun WHERE last_id > 0"):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    return process, _children(process.pid)


def _resume_rescores_every_row_exactly_once(env: dict[str, str], read) -> None:
    scanned = sum(count for (count,) in read("SELECT scanned FROM classifier_reclassifyrun"))
    assert 0 < scanned < ROWS
    out = manage(env, "reclassify", "--resume", "--workers", "2", "--chunk-size", "500").stdout.decode()
    assert f"Scanned {ROWS} rows" in out and f"re-scored {ROWS}" in out
    per_row = read(
        "SELECT p.id, COUNT(r.id) FROM classifier_prediction p LEFT JOIN classifier_scorerevision r "
        "ON r.prediction_id = p.id AND r.cause = 'reclassified' GROUP BY p.id"
    )
    assert len(per_row) == ROWS and {count for _, count in per_row} == {1}


def _gone_within(pids: set[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_killing_a_run_with_workers_kills_its_workers_and_the_run_resumes(tiny_model_path, tmp_path):
    env = _subprocess_env(tiny_model_path)
    read = subprocess_database(env, tmp_path)
    manage(env, "seed_predictions", str(ROWS), "--generated", "--verbosity", "0")
    process, workers = _start_with_workers(env, read)
    try:
        assert len(workers) == 2
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        process.kill()
        process.communicate()
    assert _gone_within(workers, 10), "a worker outlived the killed command"
    _resume_rescores_every_row_exactly_once(env, read)


def _kill_a_worker(process: subprocess.Popen[bytes], workers: set[int]) -> None:
    os.kill(min(workers), signal.SIGKILL)  # as the kernel's out-of-memory killer would


def _ctrl_c(process: subprocess.Popen[bytes], workers: set[int]) -> None:
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends: the command and its workers


@pytest.mark.parametrize(
    ("interrupt", "message"), [(_kill_a_worker, "worker process died"), (_ctrl_c, "Interrupted")]
)
def test_a_run_with_workers_stopped_midway_says_so_leaves_no_worker_and_resumes(
    interrupt, message, tiny_model_path, tmp_path
):
    env = _subprocess_env(tiny_model_path)
    read = subprocess_database(env, tmp_path)
    manage(env, "seed_predictions", str(ROWS), "--generated", "--verbosity", "0")
    process, workers = _start_with_workers(env, read)
    try:
        interrupt(process, workers)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1
    assert message in stderr.decode() and "reclassify --resume" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert _gone_within(workers, 10), "a worker outlived the command"
    _resume_rescores_every_row_exactly_once(env, read)
