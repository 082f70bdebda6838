import csv
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.ml import LABELS
from classifier.ml.data import EXTRA_COLUMNS
from classifier.ml.training import TrainConfig, TrainingError, save, train


def _check_extra(path: Path) -> None:
    if not path.is_file():
        raise CommandError(f"The file {path} does not exist; write it with `manage.py export_labels`.")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text; write it with `manage.py export_labels`.") from None
    missing = [column for column in EXTRA_COLUMNS if column not in header]
    if missing:
        raise CommandError(
            f"{path} lacks the column(s) {', '.join(missing)}; write it with `manage.py export_labels`."
        )


QUICK = TrainConfig(word_max_features=20_000, char_max_features=30_000, sample=4000)


class Command(BaseCommand):
    help = "Train the toxicity model on the labelled data and write it (and its JSON sidecar) atomically."
    requires_system_checks: list[str] = []  # must run when the current model is missing or broken

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=settings.TRAINING_DATA_DIR,
            help="Folder with the training sources (default: %(default)s, or TOXSITE_TRAINING_DATA).",
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=settings.MODEL_PATH,
            help="Where to write the model (default: %(default)s).",
        )
        parser.add_argument(
            "--quick", action="store_true", help="Train a small model on 4,000 rows (for tests)."
        )
        parser.add_argument("--sample", type=int, help="Train on a random sample of this many rows.")
        parser.add_argument("--jobs", type=int, default=2, help="Parallel fits (default: %(default)s).")
        parser.add_argument(
            "--extra-labels",
            type=Path,
            help="Also learn from this CSV of moderators' corrected labels (written by export_labels).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir: Path = options["data_dir"]
        if not data_dir.is_dir():
            raise CommandError(
                f"The data folder {data_dir} does not exist; point --data-dir at the training data."
            )
        extra: Path | None = options["extra_labels"]
        if extra is not None:
            _check_extra(extra)
        config = QUICK if options["quick"] else TrainConfig()
        overrides: dict[str, Any] = {"n_jobs": options["jobs"]}
        if options["sample"]:
            overrides["sample"] = options["sample"]
        config = TrainConfig(**{**config.__dict__, **overrides})
        started = time.monotonic()

        def progress(message: str) -> None:
            if options["verbosity"] > 0:
                self.stdout.write(f"[{time.monotonic() - started:6.1f}s] {message}")

        try:
            model, metadata = train(data_dir, config, progress, extra_labels=extra)
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        metadata = save(model, metadata, options["output"])
        if options["verbosity"] > 0:
            self._report(metadata, options["output"], time.monotonic() - started)

    def _report(self, metadata: dict[str, Any], output: Path, seconds: float) -> None:
        artefact = metadata["artefact"]
        self.stdout.write("\nValidation ROC AUC per label (rows with that label known):")
        self.stdout.write(f"{'source':<22}" + "".join(f"{label:>14}" for label in LABELS) + f"{'mean':>8}")
        for source, result in metadata["validation"].items():
            cells = "".join(f"{result['labels'][label].get('roc_auc', '-'):>14}" for label in LABELS)
            self.stdout.write(f"{source:<22}{cells}{result['mean_roc_auc'] or '-':>8}")
        self.stdout.write(
            self.style.SUCCESS(
                f"\nWrote {metadata['model_version']} to {output} "
                f"({artefact['bytes'] / 1e6:.1f} MB) in {seconds:.0f} s."
            )
        )
