import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from classifier.ml import model
from classifier.ml.model import ModelError, load, load_cached, sidecar_path
from classifier.ml.normalize import NORMALIZER_VERSION
from classifier.ml.training import save


@pytest.fixture
def model_copy(tiny_model_path: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model and its sidecar, free to damage."""
    path = tmp_path / "model.joblib"
    shutil.copyfile(tiny_model_path, path)
    shutil.copyfile(sidecar_path(tiny_model_path), sidecar_path(path))
    return path


def _edit_sidecar(path: Path, **changes: object) -> None:
    side = sidecar_path(path)
    metadata = json.loads(side.read_text())
    metadata.update(changes)
    side.write_text(json.dumps(metadata))


def test_intact_model_loads_and_scores(model_copy):
    loaded = load(model_copy)
    assert loaded.model.predict_proba(["hello", "you idiot"]).shape == (2, 6)
    assert loaded.version.startswith("tox-")


def test_missing_file_is_reported_as_missing(tmp_path):
    with pytest.raises(ModelError) as excinfo:
        load(tmp_path / "nothing.joblib")
    assert excinfo.value.kind == "missing"
    assert "manage.py train_model" in excinfo.value.hint


def test_missing_sidecar_is_reported_as_missing(model_copy):
    sidecar_path(model_copy).unlink()
    with pytest.raises(ModelError, match="sidecar") as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "missing"


def test_truncated_file_is_reported_as_corrupt(model_copy):
    data = model_copy.read_bytes()
    model_copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated") as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "corrupt"


def test_altered_file_of_the_same_size_is_reported_as_tampered(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256") as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "tampered"


def test_garbage_with_a_matching_sidecar_is_reported_as_corrupt(model_copy):
    garbage = b"not a pickle at all"
    model_copy.write_bytes(garbage)
    _edit_sidecar(model_copy, artefact={"bytes": len(garbage), "sha256": hashlib.sha256(garbage).hexdigest()})
    with pytest.raises(ModelError, match="cannot be loaded") as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "corrupt"


def test_unreadable_sidecar_is_reported_as_corrupt(model_copy):
    sidecar_path(model_copy).write_text("{not json")
    with pytest.raises(ModelError) as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "corrupt"


def test_model_built_with_another_scikit_learn_is_incompatible(model_copy):
    metadata = json.loads(sidecar_path(model_copy).read_text())
    _edit_sidecar(model_copy, versions={**metadata["versions"], "scikit-learn": "0.24.2"})
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2") as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "incompatible"


def test_model_trained_with_another_normaliser_is_incompatible(model_copy):
    _edit_sidecar(model_copy, normalizer_version=NORMALIZER_VERSION - 1)
    with pytest.raises(ModelError) as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "incompatible"
    assert "normaliser" in str(excinfo.value) and "train_model" in excinfo.value.hint


def test_other_format_version_is_incompatible(model_copy):
    _edit_sidecar(model_copy, format_version=99)
    with pytest.raises(ModelError) as excinfo:
        load(model_copy)
    assert excinfo.value.kind == "incompatible"


def test_cache_reloads_when_the_file_changes(model_copy):
    first = load_cached(model_copy)
    assert load_cached(model_copy) is first
    data = bytearray(model_copy.read_bytes())
    data[-10] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError):
        load_cached(model_copy)


@pytest.mark.parametrize(
    ("damage", "check_id"),
    [
        ("delete", "classifier.E001"),
        ("truncate", "classifier.E002"),
        ("flip", "classifier.E003"),
    ],
)
def test_manage_py_check_fails_with_an_id_and_a_hint(model_copy, settings, damage, check_id):
    data = model_copy.read_bytes()
    if damage == "delete":
        model_copy.unlink()
    elif damage == "truncate":
        model_copy.write_bytes(data[:1000])
    else:
        model_copy.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    settings.MODEL_PATH = model_copy
    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")
    assert check_id in str(excinfo.value)
    assert "manage.py train_model" in str(excinfo.value)


def test_manage_py_check_passes_with_an_intact_model(model_copy, settings):
    settings.MODEL_PATH = model_copy
    call_command("check")


def test_unknown_label_in_threshold_settings_fails_the_check(settings):
    settings.THRESHOLDS = {"toxc": 0.5}
    with pytest.raises(SystemCheckError, match=r"classifier\.E005"):
        call_command("check")


def test_a_load_while_a_retrained_model_is_installed_waits_for_its_sidecar(model_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(model, "REPLACE_WAIT_SECONDS", 5.0)
    retrained = load(model_copy).model
    retrained.version = "tox-retrained"
    new_path = tmp_path / "new" / "model.joblib"
    new_path.parent.mkdir()
    save(retrained, json.loads(sidecar_path(model_copy).read_text()), new_path)
    os.replace(new_path, model_copy)  # the artefact is in place, its sidecar not yet
    with pytest.raises(ModelError, match=r"does not match|bytes but its sidecar"):
        load(model_copy)  # the pair disagrees at this moment
    installer = threading.Timer(0.3, os.replace, (sidecar_path(new_path), sidecar_path(model_copy)))
    installer.start()
    started = time.monotonic()
    loaded = load_cached(model_copy)
    installer.join()
    assert loaded.version == "tox-retrained"
    assert 0.2 < time.monotonic() - started < 5.0


def test_a_damaged_model_that_nobody_replaces_fails_after_the_wait(model_copy, monkeypatch):
    monkeypatch.setattr(model, "REPLACE_WAIT_SECONDS", 0.3)
    data = bytearray(model_copy.read_bytes())
    data[-10] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    started = time.monotonic()
    with pytest.raises(ModelError, match="does not match"):
        load_cached(model_copy)
    assert 0.25 < time.monotonic() - started < 2.0
    started = time.monotonic()
    with pytest.raises(ModelError, match="does not match"):
        load_cached(model_copy)  # the next request is told at once, without another load and wait
    assert time.monotonic() - started < 0.1
    data[-10] ^= 0xFF
    model_copy.write_bytes(bytes(data))  # repaired: a new version of the file loads at once
    assert load_cached(model_copy).version
