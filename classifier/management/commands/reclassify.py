import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.ml.model import ModelError
from classifier.models import Prediction
from classifier.scoring import current_model
from classifier.services import predictions_rescore


class Command(BaseCommand):
    help = "Re-score every stored prediction with the current model, in chunks, and update its flag."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chunk-size", type=int, default=2000, help="Rows per chunk (default: %(default)s)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report how many flags would change; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        try:
            version = current_model().version
        except ModelError as exc:
            raise CommandError(f"{exc} {exc.hint}") from exc
        total = Prediction.objects.count()
        started = time.monotonic()
        with tqdm(total=total, unit="row", disable=options["verbosity"] == 0, file=self.stderr) as bar:
            report = predictions_rescore(
                chunk_size=options["chunk_size"], dry_run=options["dry_run"], on_chunk=bar.update
            )
        seconds = time.monotonic() - started
        if options["verbosity"] == 0:
            return
        verb = "would change" if options["dry_run"] else "changed"
        self.stdout.write(
            f"Scanned {report.scanned} rows with model {version}; re-scored {report.rescored} "
            f"in {seconds:.1f} s ({report.scanned / max(seconds, 1e-9):,.0f} rows/s)."
        )
        self.stdout.write(
            f"Flags {verb}: {report.flag_changes} "
            f"({report.newly_flagged} newly flagged, {report.newly_unflagged} no longer flagged)."
        )
        per_label = ", ".join(f"{label} {count}" for label, count in report.label_changes.items())
        self.stdout.write(f"Threshold crossings per label: {per_label}.")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was written.")
