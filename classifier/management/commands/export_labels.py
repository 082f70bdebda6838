import csv
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.ml import LABELS
from classifier.ml.data import EXTRA_COLUMNS
from classifier.selectors import corrected_labels


class Command(BaseCommand):
    help = (
        "Write the moderators' corrected labels (each relabelled message's latest labels) as a CSV in the "
        "six-label training format, for `train_model --extra-labels`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", default="-", help="CSV file to write; - is standard output (default)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = options["output"]
        if output == "-":
            count = self._write(self.stdout)  # type: ignore[arg-type]  # an OutputWrapper is text IO
        else:
            try:
                with Path(output).open("w", encoding="utf-8", newline="") as fh:
                    count = self._write(fh)
            except OSError as exc:
                raise CommandError(
                    f"Cannot write {output}: {exc.strerror}. Choose another --output."
                ) from exc
        if options["verbosity"] > 0 and output != "-":
            self.stdout.write(f"Wrote {count} corrected message{'' if count == 1 else 's'} to {output}.")

    def _write(self, fh: TextIO) -> int:
        writer = csv.writer(fh)
        writer.writerow(EXTRA_COLUMNS)
        count = 0
        for pk, text, labels in corrected_labels():
            writer.writerow([f"toxsite-{pk}", text, *(labels[label] for label in LABELS)])
            count += 1
        return count
