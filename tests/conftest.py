import csv
import random
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.management import call_command

from classifier import apikeys
from classifier.ml import LABELS, model
from classifier.scoring import threshold_policy_changed
from classifier.terms import terms_changed

# Tiny labelled chat, in the Jigsaw six-label layout, for real training runs in tests.
_CLEAN = [
    "have a great stream everyone", "thanks for the raid", "what game is this", "gg well played",
    "see you tomorrow", "love this song", "nice shot", "can you explain the build", "hello chat",
    "the weather is nice today", "I agree with the edit", "please cite a source for that",
]  # fmt: skip
_TOXIC = {
    "insult": ["you are a complete idiot", "shut up you moron", "what a stupid loser", "you dumb clown"],
    "obscene": ["this is fucking shit", "holy shit fuck this", "what the fuck man", "eat shit"],
    "threat": [
        "i will kill you",
        "i am going to hurt you",
        "you will die tonight",
        "i will find you and kill you",
    ],
    "identity_hate": ["go back to your country you filthy immigrant", "all of those people are vermin"],
    "severe_toxic": ["fuck you you stupid fucking idiot die", "fucking kill yourself you worthless shit"],
}


def write_tiny_data(folder: Path, copies: int = 6, seed: int = 0) -> Path:
    """Write a small six-label training file under ``folder`` and return ``folder``."""
    rng = random.Random(seed)
    rows = []
    for n in range(copies):
        suffix = ["", " lol", " !!", " ok", " now", " man", " today", " bro"][n % 8]
        for text in _CLEAN:
            rows.append((text + suffix, dict.fromkeys(LABELS, 0)))
        for label, texts in _TOXIC.items():
            for text in texts:
                labels = dict.fromkeys(LABELS, 0)
                labels.update({"toxic": 1, label: 1})
                if label == "severe_toxic":
                    labels.update(obscene=1, insult=1)
                rows.append((text + suffix, labels))
    rng.shuffle(rows)
    target = folder / "jigsaw_toxic"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "train_6labels_sample.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "comment_text", *LABELS])
        for i, (text, labels) in enumerate(rows):
            writer.writerow([f"{i:016x}", text, *(labels[label] for label in LABELS)])
    return folder


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tiny_model_path(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model trained on the tiny data, once per test session."""
    path = tmp_path_factory.mktemp("model") / "toxsite.joblib"
    call_command("train_model", data_dir=tiny_data_dir, output=path, quick=True, jobs=1, verbosity=0)
    return path


@pytest.fixture(autouse=True)
def _test_settings(settings, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Score with the tiny model and its own recommended thresholds."""
    settings.MODEL_PATH = tiny_model_path
    monkeypatch.setattr(model, "REPLACE_WAIT_SECONDS", 0.1)  # damaged models fail fast
    settings.THRESHOLDS = {}
    threshold_policy_changed()  # each test's database starts without a threshold policy or terms
    terms_changed()
    cache.clear()  # nor any counts: API key ids repeat across tests, and so would their rate-limit counts
    apikeys._known.clear()  # nor keys this process found active


@pytest.fixture
def moderator() -> User:
    """A staff user in the moderators group (created by a migration), who may review messages."""
    user = User.objects.create_user("mod", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="moderators"))
    return user
