from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from classifier.services import predictions_prune


class Command(BaseCommand):
    help = (
        "Delete the text of messages older than --older-than days, in batches. Their ids, scores, score "
        "revisions and moderation decisions are kept. Try --dry-run first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="Age in days.")
        parser.add_argument("--dry-run", action="store_true", help="Only report how many would be pruned.")
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="Rows per transaction (default: %(default)s)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] < 1:
            raise CommandError("--older-than must be at least 1 day.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            cutoff = timezone.now() - timedelta(days=options["older_than"])
        except OverflowError:
            raise CommandError("--older-than reaches before the year 1; use fewer days.") from None
        count = predictions_prune(
            older_than=cutoff, dry_run=options["dry_run"], batch_size=options["batch_size"]
        )
        if options["verbosity"] > 0:
            verb = "Would delete" if options["dry_run"] else "Deleted"
            self.stdout.write(
                f"{verb} the text of {count} message{'' if count == 1 else 's'} created before "
                f"{cutoff:%Y-%m-%d %H:%M} UTC; ids, scores and history are kept."
            )
