import csv
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifier.ml import LABELS, training
from classifier.ml.augment import neutral_sentences
from classifier.ml.bias import BANTER, identity_sentences
from classifier.ml.data import UNKNOWN, load_dataset
from classifier.ml.model import load, sidecar_path
from classifier.ml.normalize import normalize
from tests.conftest import write_tiny_data
from tests.subprocess_support import manage


def test_training_round_trip_writes_a_loadable_model_and_a_complete_sidecar(tiny_model_path):
    metadata = json.loads(sidecar_path(tiny_model_path).read_text())
    assert metadata["labels"] == list(LABELS)
    assert metadata["artefact"]["bytes"] == tiny_model_path.stat().st_size
    assert set(metadata["versions"]) >= {"scikit-learn", "numpy", "scipy", "joblib", "python"}
    assert list(metadata["data"]["files"]) == ["jigsaw_toxic/train_6labels_sample.csv"]
    assert all(0.05 <= value <= 0.95 for value in metadata["thresholds"].values())
    assert "roc_auc" in metadata["validation"]["jigsaw"]["labels"]["toxic"]
    assert set(metadata["bias"]) == {"identity", "banter"}
    assert 0.0 <= metadata["bias"]["banter"]["false_positive_rate"] <= 1.0
    assert set(metadata["robustness"]["toxic"]) == {"plain", "obfuscated"}
    loaded = load(tiny_model_path)
    assert loaded.version == metadata["model_version"]
    scores = loaded.model.predict_proba(["you are a complete idiot", "have a great stream everyone"])
    assert scores[0, LABELS.index("insult")] > scores[1, LABELS.index("insult")]


def test_training_is_reproducible(tiny_data_dir, tiny_model_path, tmp_path):
    again = tmp_path / "again.joblib"
    call_command("train_model", data_dir=tiny_data_dir, output=again, quick=True, jobs=1, verbosity=0)
    assert again.read_bytes() == tiny_model_path.read_bytes()
    first, second = (json.loads(sidecar_path(p).read_text()) for p in (tiny_model_path, again))
    assert first["artefact"].pop("file") == "toxsite.joblib"
    assert second["artefact"].pop("file") == "again.joblib"
    assert first == second


def test_training_in_another_process_writes_the_same_bytes(tiny_data_dir, tiny_model_path, tmp_path):
    # Another process has other memory addresses and string hashes: nothing of them may reach the file.
    again = tmp_path / "again.joblib"
    env = {**os.environ, "SECRET_KEY": "reproducibility-test", "PYTHONHASHSEED": "random"}
    options = ["--data-dir", str(tiny_data_dir), "--output", str(again), "--quick", "--jobs", "1"]
    manage(env, "train_model", *options, "--verbosity", "0")
    assert again.read_bytes() == tiny_model_path.read_bytes()


def test_a_change_to_the_training_recipe_gives_a_new_model_version(
    tiny_data_dir, tiny_model_path, tmp_path, monkeypatch
):
    sentences = training.neutral_sentences()
    monkeypatch.setattr(training, "neutral_sentences", lambda: [*sentences, "one more friendly chat line"])
    changed = tmp_path / "changed.joblib"
    call_command("train_model", data_dir=tiny_data_dir, output=changed, quick=True, jobs=1, verbosity=0)
    versions = [json.loads(sidecar_path(p).read_text())["model_version"] for p in (tiny_model_path, changed)]
    assert versions[0] != versions[1]


def test_a_change_to_the_normaliser_gives_a_new_model_version(
    tiny_data_dir, tiny_model_path, tmp_path, monkeypatch
):
    normalize_many, neutral = training.normalize_many, set(training.neutral_sentences())

    def changed_normaliser(texts: list[str]) -> list[str]:  # the training data's texts only
        pairs = zip(texts, normalize_many(texts), strict=True)
        return [out if raw in neutral else f"{out} x" for raw, out in pairs]

    monkeypatch.setattr(training, "normalize_many", changed_normaliser)
    changed = tmp_path / "changed.joblib"
    call_command("train_model", data_dir=tiny_data_dir, output=changed, quick=True, jobs=1, verbosity=0)
    versions = [json.loads(sidecar_path(p).read_text())["model_version"] for p in (tiny_model_path, changed)]
    assert versions[0] != versions[1]


def test_augmentation_never_holds_a_bias_check_sentence():
    checks = {normalize(text) for text in [*BANTER, *identity_sentences()]}
    assert not checks & {normalize(text) for text in neutral_sentences()}


def test_training_prints_metrics_and_leaves_no_partial_files(tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "m" / "model.joblib"
    call_command("train_model", data_dir=tiny_data_dir, output=out, quick=True, jobs=2)
    printed = capsys.readouterr().out
    assert "Validation ROC AUC" in printed
    assert "Wrote tox-" in printed
    assert sorted(p.name for p in out.parent.iterdir()) == ["MODEL_CARD.md", "model.joblib", "model.json"]
    card = (out.parent / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: tox-")
    for section in (
        "## Validation ROC AUC",
        "## Thresholds",
        "## Bias checks",
        "## Robustness to obfuscation",
    ):
        assert section in card


def test_missing_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("train_model", data_dir=tmp_path / "nope", output=tmp_path / "m.joblib")


def test_data_dir_without_known_sources_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No training data found"):
        call_command("train_model", data_dir=tmp_path, output=tmp_path / "m.joblib", verbosity=0)
    assert not (tmp_path / "m.joblib").exists()


def test_label_too_rare_to_fit_falls_back_to_its_prior(tmp_path):
    data = write_tiny_data(tmp_path / "data")
    path = data / "jigsaw_toxic" / "train_6labels_sample.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in [r for r in rows if r["threat"] == "1"][2:]:
        row["threat"] = "0"  # two threats left: too few to fit
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "m.joblib"
    call_command("train_model", data_dir=data, output=out, quick=True, jobs=1, verbosity=0)
    scores = load(out).model.predict_proba(["i will kill you", "have a nice day"])
    threat = scores[:, LABELS.index("threat")]
    assert threat[0] == pytest.approx(threat[1])
    assert threat[0] < 0.1


def _write(path: Path, header: str, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


def test_sources_map_onto_the_six_labels_with_unknown_gaps(tmp_path):
    _write(tmp_path / "davidson_hate_offensive" / "labeled_data.csv",
           "id,text,count,hate_speech,offensive_language,neither,class,class_name",
           "1,hateful tweet,3,3,0,0,0,hate_speech", "2,rude tweet,3,0,3,0,1,offensive_language",
           "3,nice tweet,3,0,0,3,2,neither")  # fmt: skip
    _write(tmp_path / "tweeteval_hate" / "val.csv", "id,text,label,label_name", "0,some hate,1,hate",
           "1,no hate,0,not-hate", "2,,0,not-hate")  # fmt: skip
    _write(tmp_path / "jigsaw_toxic" / "train_toxic_binary_20k.csv",
           "source_file,source_row,jigsaw_id_if_known,comment_text,toxic",
           "data/raw/text_comment_1.csv,0,,a plain comment,0",
           "data/raw/text_comment_1.csv,1,abc,already in the six-label file,1")  # fmt: skip
    ds = load_dataset(tmp_path)
    by_text = dict(zip(ds.texts, ds.labels, strict=True))
    toxic, hate = LABELS.index("toxic"), LABELS.index("identity_hate")
    assert by_text["hateful tweet"][toxic] == 1 and by_text["hateful tweet"][hate] == 1
    assert by_text["rude tweet"][toxic] == 1 and by_text["rude tweet"][LABELS.index("obscene")] == UNKNOWN
    assert by_text["nice tweet"] == (0,) * 6
    assert by_text["no hate"][toxic] == UNKNOWN and by_text["no hate"][hate] == 0
    assert by_text["a plain comment"] == (0,) * 6
    assert "already in the six-label file" not in by_text
    assert "" not in by_text
    assert ds.is_validation[ds.texts.index("some hate")] is True
