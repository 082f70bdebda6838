import time
from dataclasses import replace
from datetime import datetime
from datetime import time as clock
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from classifier.ml.model import ModelError
from classifier.reclassify import (
    ModelChanged,
    NothingToResume,
    ReclassifyFilters,
    WorkerLost,
    reclassify_candidates,
    reclassify_dry_run,
    reclassify_remaining,
    reclassify_runs_execute,
    reclassify_runs_start,
)
from classifier.scoring import current_model
from classifier.services import RescoreReport


def _moment(value: str) -> datetime:
    """Parse an ISO date or date-time; a naive one is in the site's time zone."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, clock())
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Re-score stored predictions with the current model, in chunks, and update their flags. Rows the "
        "current model scored already are skipped unless --force; an interrupted run continues with --resume."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chunk-size", type=int, default=2000, help="Rows per chunk (default: %(default)s)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report how many flags would change; write nothing."
        )
        parser.add_argument(
            "--force", action="store_true", help="Re-score rows the current model scored already, too."
        )
        parser.add_argument(
            "--resume", action="store_true", help="Continue the last interrupted run of the current model."
        )
        parser.add_argument("--since", help="Only messages created at or after this ISO date or date-time.")
        parser.add_argument("--until", help="Only messages created before this ISO date or date-time.")
        parser.add_argument("--flagged-only", action="store_true", help="Only messages flagged now.")
        parser.add_argument("--model-version", default="", help="Only messages scored by this model version.")
        parser.add_argument("--limit", type=int, help="Scan at most this many rows.")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help=(
                "Score in N processes (default: 1). On SQLite this process writes what they score; on "
                "PostgreSQL each writes its own chunks."
            ),
        )

    def _filters(self, options: dict[str, Any]) -> ReclassifyFilters:
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        if options["limit"] is not None and options["limit"] < 0:
            raise CommandError("--limit must be 0 or more.")
        moments: dict[str, datetime | None] = {}
        for name in ("since", "until"):
            try:
                moments[name] = _moment(options[name]) if options[name] else None
            except ValueError:
                raise CommandError(
                    f"--{name} {options[name]!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM."
                ) from None
        return ReclassifyFilters(
            since=moments["since"],
            until=moments["until"],
            flagged_only=options["flagged_only"],
            model_version=options["model_version"],
            limit=options["limit"],
            force=options["force"],
        )

    def handle(self, *args: Any, **options: Any) -> None:
        filters = self._filters(options)
        if options["resume"] and options["dry_run"]:
            raise CommandError("--resume and --dry-run do not go together.")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        if options["workers"] > 1 and options["dry_run"]:
            raise CommandError("--workers does not go with --dry-run; run one process for it.")
        if options["workers"] > 1 and options["limit"] is not None and connection.vendor == "postgresql":
            raise CommandError(
                "--workers does not go with --limit on PostgreSQL (each worker has its own id ranges); "
                "run one process for it."
            )
        try:
            version = current_model().version
        except ModelError as exc:
            raise CommandError(f"{exc} {exc.hint}") from exc
        quiet = options["verbosity"] == 0
        started = time.monotonic()
        done: list[int] = []
        if options["dry_run"]:
            total = reclassify_candidates(filters=filters, version=version).count()
            if filters.limit is not None:
                total = min(total, filters.limit)
            with tqdm(total=total, unit="row", disable=quiet, file=self.stderr) as bar:
                report = reclassify_dry_run(
                    filters=filters, chunk_size=options["chunk_size"], on_chunk=bar.update
                )
        else:
            try:
                runs = reclassify_runs_start(
                    filters=filters, resume=options["resume"], workers=options["workers"]
                )
            except NothingToResume as exc:
                raise CommandError(str(exc)) from exc
            if options["resume"] and not quiet:
                for run in runs:
                    self.stdout.write(f"Resuming run {run.pk} after message id {run.last_id}.")
            with tqdm(
                total=reclassify_remaining(runs=runs), unit="row", disable=quiet, file=self.stderr
            ) as bar:

                def progress(rows: int) -> None:
                    done.append(rows)
                    bar.update(rows)

                try:
                    report = reclassify_runs_execute(
                        runs=runs,
                        chunk_size=options["chunk_size"],
                        workers=options["workers"],
                        on_chunk=progress,
                    )
                except (WorkerLost, ModelChanged) as exc:
                    raise CommandError(str(exc)) from exc
                except ModelError as exc:  # the model file was damaged during the run
                    raise CommandError(
                        f"{exc} {exc.hint} The chunks committed before are kept: then run "
                        "`manage.py reclassify --resume`."
                    ) from exc
                except KeyboardInterrupt:
                    raise CommandError(
                        "Interrupted. The chunks committed before are kept: run "
                        "`manage.py reclassify --resume` to continue."
                    ) from None
        if not quiet:
            self._summary(report, version, time.monotonic() - started, dry_run=options["dry_run"])
            if options["resume"]:  # other copies may have shared the runs (PostgreSQL)
                self.stdout.write(f"This process re-scored {sum(done)} of them.")
            elif report.scanned == 0 and not filters.force and filters.limit != 0:
                self._nothing_to_rescore(filters, version)

    def _nothing_to_rescore(self, filters: ReclassifyFilters, version: str) -> None:
        """Say why a run found nothing: what it looks at was scored by the loaded model already."""
        current = reclassify_candidates(filters=replace(filters, force=True), version=version).count()
        if filters.limit is not None:
            current = min(current, filters.limit)
        if current:
            self.stdout.write(
                f"The {current} stored messages it looks at were scored by model {version} already. After "
                "changing blocked or permitted terms, run it with --force to re-score them."
            )

    def _summary(self, report: RescoreReport, version: str, seconds: float, *, dry_run: bool) -> None:
        verb = "would change" if dry_run else "changed"
        written = "scored them without writing" if dry_run else f"re-scored {report.rescored}"
        self.stdout.write(
            f"Scanned {report.scanned} rows with model {version}; {written} "
            f"in {seconds:.1f} s ({report.scanned / max(seconds, 1e-9):,.0f} rows/s)."
        )
        self.stdout.write(
            f"Flags {verb}: {report.flag_changes} "
            f"({report.newly_flagged} newly flagged, {report.newly_unflagged} no longer flagged)."
        )
        per_label = ", ".join(f"{label} {count}" for label, count in report.label_changes.items())
        self.stdout.write(f"Threshold crossings per label: {per_label}.")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
