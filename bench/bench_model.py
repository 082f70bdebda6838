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
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.ml import LABELS  # noqa: E402
from classifier.ml.data import load_dataset  # noqa: E402
from classifier.ml.model import load  # noqa: E402

MODEL = ROOT / "ml_models" / "toxsite.joblib"

# Each prints: seconds importing libraries, seconds loading the model and scoring one message, peak RSS (kB).
_PEAK = "int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
_LOAD_TOXSITE = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
started = time.perf_counter()
import sklearn.feature_extraction.text, scipy.special, joblib
from classifier.ml.model import load
from pathlib import Path
imported = time.perf_counter()
model = load(Path({str(MODEL)!r})).model
model.predict_proba(["warm up"])
print(imported - started, time.perf_counter() - imported, {_PEAK})
"""
_LOAD_PEER = f"""
import time
started = time.perf_counter()
import sklearn.feature_extraction.text, scipy.special, joblib
imported = time.perf_counter()
from profanity_check import predict_prob
predict_prob(["warm up"])
print(imported - started, time.perf_counter() - imported, {_PEAK})
"""


def _fresh_process(code: str) -> tuple[float, float, float]:
    """Return (import seconds, load-and-score seconds, peak RSS in MB) in a new interpreter, best of 3."""
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        imports, loading, rss_kb = out.split()
        runs.append((float(imports), float(loading), float(rss_kb) / 1024))
    return min(r[0] for r in runs), min(r[1] for r in runs), min(r[2] for r in runs)


def _best_of(n: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _latencies(fn: Callable[[list[str]], object], texts: list[str]) -> tuple[float, float]:
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

    ours_import, ours_load, ours_rss = _fresh_process(_LOAD_TOXSITE)  # before this process grows
    peer_import, peer_load, peer_rss = _fresh_process(_LOAD_PEER)
    model = load(MODEL).model
    ds = load_dataset(args.data_dir)
    val = [i for i, v in enumerate(ds.is_validation) if v]
    texts = [ds.texts[i] for i in val]
    mean = np.mean([len(t) for t in texts])
    print(f"validation set: {len(texts):,} messages from {args.data_dir} (mean {mean:.0f} chars)")

    chat = [ds.texts[i] for i in val if ds.sources[i] != "jigsaw"]
    chat = (chat * (10_000 // len(chat) + 1))[:10_000]
    mean = np.mean([len(t) for t in chat])
    print(f"chat-length set: 10,000 tweets from the same splits, repeated (mean {mean:.0f} chars)")
    ours_batch = _best_of(3, lambda: model.predict_proba(texts))
    peer_batch = _best_of(3, lambda: predict_prob(texts))
    ours_chat = _best_of(3, lambda: model.predict_proba(chat))
    peer_chat = _best_of(3, lambda: predict_prob(chat))
    singles = chat[:1000]
    ours_p50, ours_p99 = _latencies(model.predict_proba, singles)
    peer_p50, peer_p99 = _latencies(predict_prob, singles)
    ours_size, peer_size = MODEL.stat().st_size, _peer_size()

    rows = [
        ("batch, validation (msg/s)", len(texts) / ours_batch, len(texts) / peer_batch, "{:,.0f}"),
        ("batch, chat-length (msg/s)", len(chat) / ours_chat, len(chat) / peer_chat, "{:,.0f}"),
        ("single p50, 1,000 tweets (ms)", ours_p50, peer_p50, "{:.3f}"),
        ("single p99, 1,000 tweets (ms)", ours_p99, peer_p99, "{:.3f}"),
        ("import scikit-learn etc. (s)", ours_import, peer_import, "{:.3f}"),
        ("model load + first score (s)", ours_load, peer_load, "{:.3f}"),
        ("peak RSS of that process (MB)", ours_rss, peer_rss, "{:.0f}"),
        ("artefact size (MB)", ours_size / 1e6, peer_size / 1e6, "{:.1f}"),
    ]
    print(f"\n{'measure':<32}{'toxsite':>12}{'alt-profanity-check':>22}{'ratio':>10}")
    for name, ours, peer, fmt in rows:
        print(f"{name:<32}{fmt.format(ours):>12}{fmt.format(peer):>22}{ours / peer:>9.2f}x")

    print("\nROC AUC of the toxic score on validation splits (same texts for both):")
    sources = np.array([ds.sources[i] for i in val])
    y = np.array([ds.labels[i] for i in val])
    ours_scores = model.predict_proba(texts)
    peer_scores = predict_prob(texts)
    print(f"{'source':<34}{'rows':>7}{'toxsite':>10}{'alt-profanity-check':>22}")
    for source in ("tweeteval_offensive", "davidson", "tweeteval_hate", "jigsaw"):
        label = "identity_hate" if source == "tweeteval_hate" else "toxic"
        j = LABELS.index(label)
        mask = (sources == source) & (y[:, j] >= 0)
        if mask.sum() and 0 < y[mask, j].sum() < mask.sum():
            ours_auc = roc_auc_score(y[mask, j], ours_scores[mask, j])
            peer_auc = roc_auc_score(y[mask, j], peer_scores[mask])
            name = f"{source} ({label})"
            print(f"{name:<34}{int(mask.sum()):>7}{ours_auc:>10.4f}{peer_auc:>22.4f}")
    print("\n" + json.dumps({"model": json.loads(MODEL.with_suffix(".json").read_text())["model_version"]}))


if __name__ == "__main__":
    csv.field_size_limit(sys.maxsize)
    main()
