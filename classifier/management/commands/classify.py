from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from classifier.ml.model import ModelError
from classifier.tabular import FORMATS, TableError, classify_table


class _Raw:
    """Let the csv and json writers write through a command's stdout unchanged."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> int:
        self.wrapper.write(text, ending="")
        return len(text)


class Command(BaseCommand):
    stealth_options = ("stdin",)
    help = (
        "Score a CSV or JSON Lines file without storing anything: every input column is kept and the six "
        "label scores and `flagged` are added. Use - for standard input or output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--input", required=True, help="A .csv or .jsonl file, or - for standard input.")
        parser.add_argument(
            "--output", default="-", help="A .csv or .jsonl file, or - (default) for standard output."
        )
        parser.add_argument(
            "--text-column", default="text", help="The column holding the message (default: %(default)s)."
        )
        parser.add_argument(
            "--format", choices=FORMATS, help="Format of - (default: csv), or to override the file extension."
        )
        parser.add_argument(
            "--prefix", default="", help="Put this before the added column names, e.g. score_."
        )
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="Rows scored per call (default: %(default)s)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            count, unscored = classify_table(
                source=options["input"],
                target=options["output"],
                text_column=options["text_column"],
                forced_format=options["format"],
                prefix=options["prefix"],
                batch_size=options["batch_size"],
                stdin=options.get("stdin"),
                stdout=_Raw(self.stdout),  # type: ignore[arg-type]
            )
        except (TableError, ModelError) as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] > 0 and unscored:
            self.stderr.write(
                f"{unscored} of {count} rows had no text to score (empty, spaces or invisible characters): "
                "they are written with empty scores."
            )
        if options["output"] != "-" and options["verbosity"] > 0:
            self.stdout.write(f"Scored {count - unscored} of {count} rows into {options['output']}.")
