"""Vectorised TF-IDF scoring for normalised text, equal to scikit-learn's transform but much faster.

Normalised text (``normalize.py``) holds only ``a-z``, ``0-9`` and single spaces. That small alphabet lets
every character n-gram of up to five characters be an integer in base 38, so a whole batch's character
n-grams are computed with a few numpy operations instead of a Python loop per n-gram. Word n-grams stay a
short Python loop (a message has few words). The result is the model's logits, from the same vocabularies,
idf weights and coefficients as the scikit-learn path (``ToxicityModel.features``), which the tests compare.
"""

from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

_BASE = 38
_ALPHABET = " abcdefghijklmnopqrstuvwxyz0123456789"
# Byte -> code: 0 separates documents, a space is 1, letters and digits 2..37.
_CODES = np.zeros(256, dtype=np.int64)
for _code, _char in enumerate(_ALPHABET, start=1):
    _CODES[ord(_char)] = _code


# Every n-gram of up to four characters indexes a dense table; a five-gram, a row of its four-gram prefix.
_DENSE = _BASE**4


def _keys(grams: list[str], width: int) -> np.ndarray:
    """Return the base-38 integer of each n-gram (at most ``width`` characters), in one vectorised pass."""
    lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
    codes = _CODES[np.frombuffer("".join(grams).encode("ascii"), dtype=np.uint8)]
    row = np.repeat(np.arange(len(grams)), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    digits = np.zeros((len(grams), width), dtype=np.int64)
    digits[row, width - lengths[row] + np.arange(codes.size) - starts] = codes  # right-aligned
    return digits @ (_BASE ** np.arange(width - 1, -1, -1))


class CharScorer:
    """Character (``char_wb``) n-gram TF-IDF features times a coefficient block, for a batch of texts."""

    def __init__(self, vectorizer: TfidfVectorizer, coef: np.ndarray) -> None:
        self.min_n, self.max_n = vectorizer.ngram_range
        # The shortest padded word (" a ") must be an n-gram of its own, and five characters fit the tables.
        if not (2 <= self.min_n <= 3 and self.max_n <= 5):
            raise ValueError(
                "character n-grams from 2 or 3 up to 5 characters are supported, "
                f"not {self.min_n} to {self.max_n}"
            )
        vocabulary = vectorizer.vocabulary_
        usable = vocabulary  # built from normalised text, so always within the alphabet; checked below
        if not set("".join(vocabulary)) <= set(_ALPHABET):
            usable = {g: i for g, i in vocabulary.items() if set(g) <= set(_ALPHABET)}
        keys = _keys(list(usable), self.max_n) if usable else np.zeros(0, dtype=np.int64)
        columns = np.fromiter(usable.values(), dtype=np.int64, count=len(usable))
        short = keys < _DENSE
        self.dense = np.full(_DENSE, -1, dtype=np.int32)
        self.dense[keys[short]] = columns[short]
        # Five-grams: their four-character prefix picks a row of a (prefixes, alphabet) table, the last
        # character its column. Two lookups where a binary search over the five-grams took 17.
        prefixes, last = np.divmod(keys[~short], _BASE)
        unique = np.unique(prefixes)
        self.prefix_row = np.full(_DENSE, -1, dtype=np.int32)
        self.prefix_row[unique] = np.arange(unique.size, dtype=np.int32)
        self.five = np.full((unique.size, _BASE), -1, dtype=np.int32)
        self.five[self.prefix_row[prefixes], last] = columns[~short]
        self.idf = vectorizer.idf_.astype(np.float64)
        self.coef = coef

    def logits(self, docs: list[str]) -> np.ndarray:
        """Return the (len(docs), labels) contribution of the character features."""
        out = np.zeros((len(docs), self.coef.shape[1]))
        padded = "\0".join(f" {doc} " if doc else "" for doc in docs)
        codes = _CODES[np.frombuffer(padded.encode("ascii"), dtype=np.uint8)]
        if codes.size < 2:
            return out
        seps = _running_count(codes == 0)
        spaces = _running_count(codes == 1)
        doc_of = seps[1:]
        rows, cols = [], []
        key = np.zeros(codes.size, dtype=np.int64)
        for n in range(1, self.max_n + 1):
            length = codes.size - n + 1
            if length <= 0:
                break
            prefix = key[:length]
            key = prefix * _BASE + codes[n - 1 :]  # each place's n-gram, from its (n-1)-gram
            if n < self.min_n:
                continue
            # No document boundary inside, and spaces only at the ends: char_wb's n-grams of padded words.
            ok = (seps[n:] == seps[:length]) & (spaces[n - 1 : n - 1 + length] == spaces[1 : length + 1])
            where = np.flatnonzero(ok)
            if n < 5:
                column = self.dense[key[where]]
            else:
                row = self.prefix_row[prefix[where]]
                column = np.full(where.size, -1, dtype=np.int32)
                known = np.flatnonzero(row >= 0)
                column[known] = self.five[row[known], codes[n - 1 :][where[known]]]
            found = column >= 0
            cols.append(column[found].astype(np.int64))
            rows.append(doc_of[where[found]])
        return _accumulate(np.concatenate(rows), np.concatenate(cols), self.idf, self.coef, out)


class WordScorer:
    """Word 1- and 2-gram TF-IDF features times a coefficient block, for a batch of texts.

    Each word is looked up once, as an integer id; a bigram is the pair of its words' ids, found among the
    vocabulary's pairs by a vectorised binary search, so no bigram string is ever built or hashed.
    """

    def __init__(self, vectorizer: TfidfVectorizer, coef: np.ndarray) -> None:
        low, high = vectorizer.ngram_range
        if low != 1 or high not in (1, 2):
            raise ValueError(f"word n-grams 1 to 1 or 1 to 2 are supported, not {low} to {high}")
        vocabulary = vectorizer.vocabulary_
        unigrams = [gram for gram in vocabulary if " " not in gram]
        pairs = [gram for gram in vocabulary if " " in gram]
        halves = " ".join(pairs).split(" ") if pairs else []  # every pair is two words: a1 b1 a2 b2 ...
        firsts, seconds = halves[0::2], halves[1::2]
        # Built with C-level passes: a model loads in about 0.15 s, and this runs at every load.
        words = dict.fromkeys(chain(unigrams, firsts, seconds))
        self.ids = dict(zip(words, range(len(words)), strict=True))
        self.unknown = len(self.ids)  # the id of every other word; pairs are keyed in base unknown + 1
        self.unigram = np.full(self.unknown + 1, -1, dtype=np.int64)
        self.unigram[self._lookup(unigrams)] = self._columns(vocabulary, unigrams)
        keys = self._lookup(firsts) * (self.unknown + 1) + self._lookup(seconds)
        order = np.argsort(keys)
        self.pair_keys = keys[order]
        self.pair_columns = self._columns(vocabulary, pairs)[order]
        self.bigrams = high == 2 and keys.size > 0
        self.idf = vectorizer.idf_.astype(np.float64)
        self.coef = coef

    def _lookup(self, words: Sequence[str]) -> np.ndarray:
        return np.fromiter(map(self.ids.__getitem__, words), dtype=np.int64, count=len(words))

    @staticmethod
    def _columns(vocabulary: dict[str, int], grams: list[str]) -> np.ndarray:
        return np.fromiter(map(vocabulary.__getitem__, grams), dtype=np.int64, count=len(grams))

    def logits(self, docs: list[str]) -> np.ndarray:
        """Return the (len(docs), labels) contribution of the word features."""
        out = np.zeros((len(docs), self.coef.shape[1]))
        split = [doc.split() for doc in docs]
        counts = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
        # One C-level pass over every word of the batch.
        words = list(chain.from_iterable(split))
        ids = np.fromiter(map(self.ids.get, words, repeat(self.unknown)), dtype=np.int64, count=len(words))
        rows = np.repeat(np.arange(len(docs)), counts)
        cols = self.unigram[ids]
        known = cols >= 0
        all_rows, all_cols = [rows[known]], [cols[known]]
        if self.bigrams and ids.size > 1:
            keys = ids[:-1] * (self.unknown + 1) + ids[1:]
            slot = np.minimum(np.searchsorted(self.pair_keys, keys), self.pair_keys.size - 1)
            found = np.flatnonzero((self.pair_keys[slot] == keys) & (rows[:-1] == rows[1:]))
            all_rows.append(rows[found])
            all_cols.append(self.pair_columns[slot[found]])
        return _accumulate(np.concatenate(all_rows), np.concatenate(all_cols), self.idf, self.coef, out)


def _running_count(flags: np.ndarray) -> np.ndarray:
    """Return how many of ``flags`` are set before each position, and in all (``len(flags) + 1`` values)."""
    counts = np.zeros(flags.size + 1, dtype=np.int64)
    np.cumsum(flags, out=counts[1:])
    return counts


# Up to this many features in a batch, the product with the coefficients is a numpy gather and sum, which
# skips the fixed cost of building a scipy matrix (about 50 us, more than scoring one message); larger
# batches use scipy's sparse product, which needs no (features x labels) temporary array.
SMALL_BATCH_FEATURES = 20_000


def _accumulate(
    rows: np.ndarray, cols: np.ndarray, idf: np.ndarray, coef: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Add sublinear-tf x idf, L2-normalised per row, times ``coef`` into ``out``."""
    if not rows.size:
        return out
    width = idf.size
    # Sorted keys group each (row, column) pair. A stable sort (timsort) is about 3x faster than np.unique's
    # here: the keys arrive as a few runs already grouped by row.
    keys = np.sort(rows * width + cols, kind="stable")
    first = np.ones(keys.size, dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ends = np.empty_like(starts)
    ends[:-1], ends[-1] = starts[1:], keys.size
    rows, cols = np.divmod(keys[starts], width)
    values = (1.0 + np.log(ends - starts)) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=out.shape[0]))
    values /= norms[rows]
    if values.size <= SMALL_BATCH_FEATURES:
        new_row = np.ones(rows.size, dtype=bool)
        np.not_equal(rows[1:], rows[:-1], out=new_row[1:])
        row_starts = np.flatnonzero(new_row)
        out[rows[row_starts]] += np.add.reduceat(coef[cols] * values[:, None], row_starts, axis=0)
        return out
    indptr = np.zeros(out.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=out.shape[0]), out=indptr[1:])
    out += sp.csr_matrix((values, cols, indptr), shape=(out.shape[0], width)) @ coef
    return out
