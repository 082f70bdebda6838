"""Benchmark the toxsite model side by side with alt-profanity-check on the same texts and machine.

Prints batch throughput, single-message latency, load time, resident memory and artefact size, and the
ROC AUC of each on the tweet validation splits. Run: .venv/bin/python bench/bench_model.py [--data-dir D]
"""

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.ml import LABELS  # noqa: E402
from classifier.ml.data import load_dataset  # noqa: E402
from classifier.ml.model import load  # noqa: E402

MODEL = ROOT / "ml_models" / "toxsite.joblib"

_LOAD_TOXSITE = f"""
import resource, sys, time
sys.path.insert(0, {str(ROOT)!r})
started = time.perf_counter()
from classifier.ml.model import load
from pathlib import Path
model = load(Path({str(MODEL)!r})).model
model.predict_proba(["warm up"])
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_LOAD_PEER = """
import resource, time
started = time.perf_counter()
from profanity_check import predict_prob
predict_prob(["warm up"])
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _fresh_process(code: str) -> tuple[float, float]:
    """Return (seconds to load and score one message, peak RSS in MB) in a new interpreter, best of 3."""
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        seconds, rss_kb = out.split()
        runs.append((float(seconds), float(rss_kb) / 1024))
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _best_of(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _latencies(fn, texts: list[str]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for text in texts:
        started = time.perf_counter()
        fn([text])
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99)] * 1e3


def _peer_size() -> int:
    import profanity_check

    return sum(p.stat().st_size for p in Path(profanity_check.__file__).parent.rglob("*.joblib"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()

    from profanity_check import predict_prob

    model = load(MODEL).model
    ds = load_dataset(args.data_dir)
    val = [i for i, v in enumerate(ds.is_validation) if v]
    texts = [ds.texts[i] for i in val]
    print(f"texts: {len(texts):,} validation messages from {args.data_dir} (mean {np.mean([len(t) for t in texts]):.0f} chars)")

    ours_batch = _best_of(3, lambda: model.predict_proba(texts))
    peer_batch = _best_of(3, lambda: predict_prob(texts))
    singles = texts[:1000]
    ours_p50, ours_p99 = _latencies(model.predict_proba, singles)
    peer_p50, peer_p99 = _latencies(predict_prob, singles)
    ours_load, ours_rss = _fresh_process(_LOAD_TOXSITE)
    peer_load, peer_rss = _fresh_process(_LOAD_PEER)
    ours_size, peer_size = MODEL.stat().st_size, _peer_size()

    rows = [
        ("batch throughput (msg/s)", len(texts) / ours_batch, len(texts) / peer_batch, "{:,.0f}"),
        ("single p50 (ms)", ours_p50, peer_p50, "{:.3f}"),
        ("single p99 (ms)", ours_p99, peer_p99, "{:.3f}"),
        ("load + first score (s)", ours_load, peer_load, "{:.3f}"),
        ("peak RSS after load (MB)", ours_rss, peer_rss, "{:.0f}"),
        ("artefact size (MB)", ours_size / 1e6, peer_size / 1e6, "{:.1f}"),
    ]
    print(f"\n{'measure':<28}{'toxsite':>14}{'alt-profanity-check':>22}{'ratio':>10}")
    for name, ours, peer, fmt in rows:
        print(f"{name:<28}{fmt.format(ours):>14}{fmt.format(peer):>22}{ours / peer:>9.2f}x")

    print("\nROC AUC of the toxic score on validation splits (same texts for both):")
    sources = np.array([ds.sources[i] for i in val])
    y = np.array([ds.labels[i] for i in val])
    ours_scores = model.predict_proba(texts)
    peer_scores = predict_prob(texts)
    print(f"{'source':<22}{'rows':>7}{'toxsite':>10}{'alt-profanity-check':>22}")
    for source in ("tweeteval_offensive", "davidson", "tweeteval_hate", "jigsaw"):
        label = "identity_hate" if source == "tweeteval_hate" else "toxic"
        j = LABELS.index(label)
        mask = (sources == source) & (y[:, j] >= 0)
        if mask.sum() and 0 < y[mask, j].sum() < mask.sum():
            ours_auc = roc_auc_score(y[mask, j], ours_scores[mask, j])
            peer_auc = roc_auc_score(y[mask, j], peer_scores[mask])
            name = f"{source} ({label})"
            print(f"{name:<22}{int(mask.sum()):>7}{ours_auc:>10.4f}{peer_auc:>22.4f}")
    print("\n" + json.dumps({"model": json.loads(MODEL.with_suffix(".json").read_text())["model_version"]}))


if __name__ == "__main__":
    csv.field_size_limit(sys.maxsize)
    main()
