import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.ml.model import ModelError
from classifier.seeding import predictions_seed, seed_texts


class Command(BaseCommand):
    help = "Store N predictions scored by the current model, for benchmarks and demos (set-based inserts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("count", type=int, help="How many predictions to store.")
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=settings.TRAINING_DATA_DIR,
            help="Take texts from the training CSVs here (default: %(default)s).",
        )
        parser.add_argument("--generated", action="store_true", help="Generate texts; read no data files.")
        parser.add_argument(
            "--batch-size", type=int, default=5000, help="Rows per INSERT (default: %(default)s)."
        )
        parser.add_argument(
            "--days",
            type=int,
            default=30,
            help="Spread creation times over this many days (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["count"] < 0 or options["batch_size"] < 1 or options["days"] < 0:
            raise CommandError("count and --days must be 0 or more, --batch-size at least 1.")
        texts = seed_texts(data_dir=None if options["generated"] else options["data_dir"])
        started = time.monotonic()
        quiet = options["verbosity"] == 0
        try:
            with tqdm(total=options["count"], unit="row", disable=quiet, file=self.stderr) as bar:
                stored = predictions_seed(
                    count=options["count"],
                    texts=texts,
                    batch_size=options["batch_size"],
                    days=options["days"],
                    on_batch=bar.update,
                )
        except ModelError as exc:
            raise CommandError(f"{exc} {exc.hint}") from exc
        seconds = time.monotonic() - started
        if not quiet:
            self.stdout.write(
                f"Stored {stored} predictions in {seconds:.1f} s ({stored / max(seconds, 1e-9):,.0f} rows/s)."
            )
