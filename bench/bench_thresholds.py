"""Benchmark a threshold change: re-flag stored messages from their stored scores, and a bulk approve.

    .venv/bin/python bench/bench_thresholds.py                 # 100,000 messages, SQLite
    .venv/bin/python bench/bench_thresholds.py --rows 20000

Stores ``--rows`` messages with random scores in a new SQLite file in a temporary folder (WAL, as in the
settings), then times ``threshold_set`` on ``insult`` twice (up, then back down): one INSERT ... SELECT of a
revision per changed flag, one UPDATE, one audit row. Then times ``decisions_record_many`` approving 1,000
queued messages. No model runs: every label's threshold comes from the settings or the policy.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="stored messages (default: %(default)s)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="toxsite.settings",
        SECRET_KEY="bench-only",
        LOG_LEVEL="WARNING",
        TOXSITE_THRESHOLDS=",".join(f"{label}=0.5" for label in LABELS),
    )
    os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="bench_thresholds_") as folder:
        os.environ["TOXSITE_DATA_DIR"] = folder
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from django.contrib.auth.models import User

        from classifier.models import Prediction, Status
        from classifier.moderation import decisions_record_many, threshold_set

        rng = random.Random(0)
        started = time.perf_counter()
        for start in range(0, args.rows, 5000):
            batch = []
            for n in range(start, min(start + 5000, args.rows)):
                scores = {label: rng.random() ** 3 for label in LABELS}
                batch.append(
                    Prediction(
                        text=f"message {n}", flagged=max(scores.values()) >= 0.5, model_version="b", **scores
                    )
                )
            Prediction.objects.bulk_create(batch)
        print(f"stored {args.rows:,} messages in {time.perf_counter() - started:.1f} s")
        user = User.objects.create_user("bench-moderator")
        for value in (0.8, 0.3):
            started = time.perf_counter()
            change = threshold_set(label="insult", value=value, user=user)
            seconds = time.perf_counter() - started
            print(
                f"insult threshold {change.old_value:.2f} -> {change.new_value:.2f} over {args.rows:,} "
                f"messages: {seconds:.3f} s, {change.flags_changed:,} flags changed (and as many revisions)"
            )
        queued = Prediction.objects.filter(flagged=True, status=Status.PENDING).order_by("created_at", "id")
        ids = list(queued.values_list("id", flat=True)[:1000])
        started = time.perf_counter()
        done = decisions_record_many(
            predictions=Prediction.objects.filter(id__in=ids), moderator=user, action="approve"
        )
        print(f"bulk approve: {done:,} decisions written in {time.perf_counter() - started:.3f} s")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
