"""Read the labelled training sources and map each one onto the six labels.

Every source is optional: training uses whatever is present in the data directory. A label a source does
not annotate is stored as ``UNKNOWN`` and that row is left out when that label's classifier is fitted.
"""

import csv
import hashlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import LABELS

UNKNOWN = -1
VALIDATION_PERCENT = 15

csv.field_size_limit(sys.maxsize)

Row = dict[str, str]
Labels = tuple[int, ...]


@dataclass
class Dataset:
    """Texts, a (n, 6) label matrix with ``UNKNOWN`` gaps, and where each row came from."""

    texts: list[str] = field(default_factory=list)
    labels: list[Labels] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    is_validation: list[bool] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def add(self, text: str, labels: Labels, source: str, validation: bool) -> None:
        self.texts.append(text)
        self.labels.append(labels)
        self.sources.append(source)
        self.is_validation.append(validation)

    def label_matrix(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=np.int8).reshape(-1, len(LABELS))

    def __len__(self) -> int:
        return len(self.texts)


def _labels(**known: int) -> Labels:
    return tuple(known.get(name, UNKNOWN) for name in LABELS)


def _all(value: int) -> Labels:
    return (value,) * len(LABELS)


def _in_validation(key: str) -> bool:
    """Put a row in the validation split by a hash of its key, so the split never changes."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < VALIDATION_PERCENT


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def _jigsaw_six(row: Row) -> Labels:
    return tuple(int(row[name]) for name in LABELS)


def _read_jigsaw(data_dir: Path, ds: Dataset, seen_ids: set[str]) -> None:
    six = data_dir / "jigsaw_toxic" / "train_6labels_sample.csv"
    if six.exists():
        ds.files[str(six.relative_to(data_dir))] = _sha256(six)
        for row in _rows(six):
            seen_ids.add(row["id"])
            ds.add(row["comment_text"], _jigsaw_six(row), "jigsaw", _in_validation(row["id"]))

    norm = data_dir / "jigsaw_toxic_normalised" / "train_6labels_normalised.csv"
    raw_rows: set[int] = set()
    if norm.exists():
        ds.files[str(norm.relative_to(data_dir))] = _sha256(norm)
        for row in _rows(norm):
            text = row["comment_text_raw_if_known"] or row["comment_text_normalised"]
            if row["id"] in seen_ids or not any(ch.isalpha() for ch in text):
                continue
            seen_ids.add(row["id"])
            if row["comment_text_raw_if_known"]:
                raw_rows.add(int(row["train_row_index"]))
            ds.add(text, _jigsaw_six(row), "jigsaw", _in_validation(row["id"]))

    binary = data_dir / "jigsaw_toxic" / "train_toxic_binary_20k.csv"
    if binary.exists():
        ds.files[str(binary.relative_to(data_dir))] = _sha256(binary)
        for row in _rows(binary):
            first_half = row["source_file"].endswith("text_comment_1.csv")
            if row["jigsaw_id_if_known"] or (first_half and int(row["source_row"]) in raw_rows):
                continue  # the same comment is already in with all six labels
            key = f"{row['source_file']}:{row['source_row']}"
            # In Jigsaw a comment that is not toxic carries no other label either (true of about 99 % of
            # them), so a non-toxic row here is a negative for every label.
            labels = _labels(toxic=1) if row["toxic"] == "1" else _all(0)
            ds.add(row["comment_text"], labels, "jigsaw", _in_validation(key))


def _davidson(row: Row) -> Labels:
    cls = int(row["class"])
    if cls == 2:
        return _all(0)
    return _labels(toxic=1, identity_hate=int(cls == 0))


def _offensive(row: Row) -> Labels:
    return _labels(toxic=1) if row["label"] == "1" else _all(0)


def _hate(row: Row) -> Labels:
    return _labels(toxic=1, identity_hate=1) if row["label"] == "1" else _labels(identity_hate=0)


TweetMapper = Callable[[Row], Labels]
# Tweet sets: folder, how a row maps onto the six labels. Their own val.csv is the validation split.
_TWEETS: tuple[tuple[str, TweetMapper], ...] = (
    ("tweeteval_offensive", _offensive),
    ("tweeteval_hate", _hate),
)


def _read_tweets(data_dir: Path, ds: Dataset) -> None:
    davidson = data_dir / "davidson_hate_offensive" / "labeled_data.csv"
    if davidson.exists():
        ds.files[str(davidson.relative_to(data_dir))] = _sha256(davidson)
        for row in _rows(davidson):
            ds.add(row["text"], _davidson(row), "davidson", _in_validation("davidson:" + row["id"]))
    for folder, mapper in _TWEETS:
        for split in ("train", "val"):
            path = data_dir / folder / f"{split}.csv"
            if not path.exists():
                continue
            ds.files[str(path.relative_to(data_dir))] = _sha256(path)
            for row in _rows(path):
                if row["text"].strip():
                    ds.add(row["text"], mapper(row), folder, split == "val")


EXTRA_SOURCE = "moderators"
EXTRA_COLUMNS = ("id", "comment_text", *LABELS)


def _read_extra(path: Path, ds: Dataset) -> None:
    """Add moderators' corrected labels: the six-label CSV that ``manage.py export_labels`` writes."""
    ds.files[f"extra-labels/{path.name}"] = _sha256(path)
    for number, row in enumerate(_rows(path), start=2):
        if any(row.get(name) not in ("0", "1") for name in LABELS):
            raise ValueError(f"{path}, line {number}: every label must be 0 or 1.")
        ds.add(row["comment_text"], _jigsaw_six(row), EXTRA_SOURCE, _in_validation("moderators:" + row["id"]))


def load_dataset(data_dir: Path, extra_labels: Path | None = None) -> Dataset:
    """Read every known source found under ``data_dir``, and the moderators' labels in ``extra_labels``."""
    ds = Dataset()
    _read_jigsaw(data_dir, ds, seen_ids=set())
    _read_tweets(data_dir, ds)
    if extra_labels is not None:
        _read_extra(extra_labels, ds)
    return ds
