"""Score CSV and JSON Lines files in batches, keeping every input column (``manage.py classify``)."""

import contextlib
import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .ml import LABELS
from .scoring import score_texts
from .validators import is_blank

FORMATS = ("csv", "jsonl")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

csv.field_size_limit(sys.maxsize)


class TableError(Exception):
    """The input or output file cannot be used; the message says why and what to do."""


def _format_of(name: str, forced: str | None) -> str:
    if forced:
        return forced
    if name == "-":
        return "csv"
    fmt = _SUFFIXES.get(Path(name).suffix.lower())
    if fmt is None:
        raise TableError(f"Cannot tell the format of {name}: name it .csv or .jsonl, or pass --format.")
    return fmt


def _csv_rows(fh: IO[str], text_column: str) -> tuple[list[str], Iterator[dict[str, Any]]]:
    reader = csv.DictReader(fh)
    if reader.fieldnames is None:
        raise TableError("The input is empty: a CSV file needs a header row.")
    columns = list(reader.fieldnames)
    if text_column not in columns:
        raise TableError(
            f"The input has no column {text_column!r}; its columns are {', '.join(columns)}. "
            "Use --text-column."
        )
    return columns, _checked_rows(reader)


def _checked_rows(reader: "csv.DictReader[str]") -> Iterator[dict[str, Any]]:
    for row in reader:
        if None in row:  # DictReader files surplus fields under None
            raise TableError(f"Line {reader.line_num} has more fields than the header.")
        yield row


def _jsonl_rows(fh: IO[str], text_column: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TableError(f"Line {number} is not valid JSON: {exc.msg}.") from exc
        if not isinstance(row, dict):
            raise TableError(f"Line {number} is not a JSON object.")
        if text_column not in row:
            raise TableError(
                f"Line {number} has no field {text_column!r}; its fields are {', '.join(map(str, row))}. "
                "Name the text's field with --text-column."
            )
        if not isinstance(row[text_column], str):
            kind = "null" if row[text_column] is None else type(row[text_column]).__name__
            raise TableError(f"Line {number}: {text_column!r} must be a string, not {kind}.")
        yield row


class _Writer:
    def __init__(self, fh: IO[str], fmt: str, columns: list[str] | None) -> None:
        self.fh, self.fmt, self.columns = fh, fmt, columns
        self.csv: csv.DictWriter[str] | None = None

    def write(self, row: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        if self.csv is None:
            self.csv = csv.DictWriter(self.fh, fieldnames=self.columns or list(row), lineterminator="\n")
            self.csv.writeheader()
        extra = set(row) - set(self.csv.fieldnames)
        if extra:
            raise TableError(f"A row has fields that the first row lacks ({', '.join(sorted(extra))}).")
        self.csv.writerow({key: _csv_value(value) for key, value in row.items()})


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


@contextlib.contextmanager
def _opened(name: str, mode: str, std: IO[str] | None) -> Iterator[IO[str]]:
    """Open a file, or use ``std`` for -; a file being written appears only when writing succeeds."""
    if name == "-":
        assert std is not None
        yield std
        return
    path = Path(name)
    part = path.with_name(path.name + ".part") if mode == "w" else path
    try:
        fh = part.open(mode, encoding="utf-8", newline="")
    except OSError as exc:
        raise TableError(f"Cannot {'write' if mode == 'w' else 'read'} {name}: {exc.strerror}.") from exc
    try:
        with fh:
            yield fh
    except BaseException:
        if mode == "w":
            part.unlink(missing_ok=True)
        raise
    if mode == "w":
        os.replace(part, path)


def classify_table(
    *,
    source: str,
    target: str,
    text_column: str,
    forced_format: str | None,
    prefix: str,
    batch_size: int,
    stdin: IO[str] | None,
    stdout: IO[str],
) -> tuple[int, int]:
    """Score every row of ``source`` into ``target``; return the number of rows, and of those left unscored.

    A row whose text is empty, only spaces or only invisible characters is written with empty scores, as
    the checker and the API refuse such a message; the row itself is kept.
    """
    in_fmt, out_fmt = _format_of(source, forced_format), _format_of(target, forced_format)
    added = [prefix + label for label in LABELS] + [prefix + "flagged"]
    count = unscored = 0
    with _opened(source, "r", stdin or sys.stdin) as fin:
        try:
            if in_fmt == "csv":
                columns: list[str] | None
                columns, rows = _csv_rows(fin, text_column)
            else:
                columns, rows = None, _jsonl_rows(fin, text_column)
            if columns is not None:
                clash = sorted(set(columns) & set(added))
                if clash:
                    raise TableError(
                        f"The input already has columns {', '.join(clash)}; pass --prefix score_."
                    )
                columns = columns + added
            with _opened(target, "w", stdout) as fout:
                writer = _Writer(fout, out_fmt, columns)
                batch: list[dict[str, Any]] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= batch_size:
                        unscored += _score_batch(batch, writer, text_column, added)
                        count += len(batch)
                        batch = []
                unscored += _score_batch(batch, writer, text_column, added)
                count += len(batch)
        except UnicodeDecodeError as exc:
            raise TableError(f"{source} is not UTF-8 text (byte {exc.start} of a read block).") from exc
        except csv.Error as exc:
            raise TableError(f"{source} is not a readable CSV file: {exc}.") from exc
    return count, unscored


def _score_batch(batch: list[dict[str, Any]], writer: _Writer, text_column: str, added: list[str]) -> int:
    """Score and write ``batch``; return how many of its rows had no text to score."""
    if not batch:
        return 0
    clash = set(batch[0]) & set(added) if writer.columns is None else set()
    if clash:
        raise TableError(f"The input already has fields {', '.join(sorted(clash))}; pass --prefix score_.")
    texts = [row[text_column] or "" for row in batch]
    present = [i for i, text in enumerate(texts) if not is_blank(text)]
    scored = score_texts([texts[i] for i in present])
    values: list[list[Any]] = [[None] * len(added) for _ in batch]
    for i, scores, flagged in zip(present, scored.rows(), scored.flagged, strict=True):
        values[i] = [*scores.values(), bool(flagged)]
    for row, row_values in zip(batch, values, strict=True):
        row.update(zip(added, row_values, strict=True))
        writer.write(row)
    return len(batch) - len(present)
