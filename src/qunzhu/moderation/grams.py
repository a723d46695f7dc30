"""Character n-gram TF-IDF, counted with numpy over a whole batch at once.

scikit-learn's TfidfVectorizer builds every n-gram as a Python string and looks it up in a
dict, one at a time: about 3,500 SMS-length messages a second on our machine, below the 5,000
the detector must reach through all its layers. Here a text's characters are code points in an
array and an n-gram is a 64-bit number mixed from them, so counting a batch is a handful of
array operations. The features are the same (1-4-grams of the lower-cased text, grams seen in
fewer than `min_df` messages dropped, sublinear tf, smoothed idf, rows of unit length); two
different n-grams sharing a number is possible but, with under ten million grams in 2^64
values, has odds below one in a hundred thousand per model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEPARATOR = 0  # between texts in a batch; NUL never survives normalisation in a text
_SPACES = re.compile(r"\s\s+")  # a run of white space counts as one space, as in scikit-learn
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: multiplying mixes the bits
_SPREAD = np.uint64(0xBF58476D1CE4E5B9)  # another, for the hash table's slots


def _keys(texts: Sequence[str], lengths: range) -> tuple[Any, Any]:
    """Every n-gram of every text as (message index, 64-bit key)."""
    joined = _SPACES.sub(" ", "\0".join(t.replace("\0", " ") for t in texts).lower())
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    breaks = np.concatenate(([0], np.cumsum(points == SEPARATOR)))  # separators before i
    docs, keys = [], []
    with np.errstate(over="ignore"):  # wrapping multiplication is the point
        key = np.zeros(len(points), dtype=np.uint64)
        for n in range(1, lengths.stop):
            if n > len(points):
                break
            # key of the n-gram starting at i, from the (n-1)-gram's key and the next character
            key = key[: len(points) - n + 1] * _MIX + points[n - 1 :] + np.uint64(n)
            if n not in lengths:
                continue
            starts = np.flatnonzero(breaks[n:] - breaks[: len(breaks) - n] == 0)
            docs.append(breaks[starts])
            keys.append(key[starts])
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return np.concatenate(docs).astype(np.int64), np.concatenate(keys)


@dataclass
class Slots:
    """An open-addressing hash table from gram key to vocabulary column.

    A sorted vocabulary and `searchsorted` cost a binary search per gram, each step a cache
    miss in a table of a few hundred thousand keys: 0.30 s of the 0.56 s that counting 5,000
    SMS took. Here a gram costs one or two probes, done for all grams of a batch at once."""

    table: Any  # column of the key in each slot, -1 where empty
    bits: int
    probes: int  # the most probes any key needs

    @classmethod
    def build(cls, vocabulary: Any) -> Slots:
        bits = max(1, (2 * len(vocabulary)).bit_length())  # at most half full
        table = np.full(1 << bits, -1, dtype=np.int32)  # half the cache lines of int64
        home = _home(vocabulary, bits)
        pending, probe = np.arange(len(vocabulary)), 0
        while pending.size:  # round `probe`: every unplaced key tries its home + probe
            slot = (home[pending] + probe) & (len(table) - 1)
            free = np.flatnonzero(table[slot] == -1)
            taken, first = np.unique(slot[free], return_index=True)  # one key per slot
            table[taken] = pending[free[first]]
            placed = np.zeros(len(pending), dtype=bool)
            placed[free[first]] = True
            pending, probe = pending[~placed], probe + 1
        return cls(table, bits, probe)

    def find(self, vocabulary: Any, keys: Any) -> Any:
        """The column of each key, -1 for keys not in the vocabulary. A key sits at the first
        free slot from its home on, so reaching an empty slot means it is absent."""
        if not len(vocabulary):
            return np.full(len(keys), -1, dtype=np.int64)
        mask = len(self.table) - 1
        home = _home(keys, self.bits)
        where = self.table[home].astype(np.int64)  # the first probe, for every key at once
        miss = (where >= 0) & (vocabulary[where] != keys)
        todo = np.flatnonzero(miss)
        where[miss] = -1
        for probe in range(1, self.probes):
            column = self.table[(home[todo] + probe) & mask].astype(np.int64)
            hit = (column >= 0) & (vocabulary[column] == keys[todo])
            where[todo[hit]] = column[hit]
            todo = todo[(column >= 0) & ~hit]
            if not todo.size:
                break
        return where


def _home(keys: Any, bits: int) -> Any:
    """Slot a key starts from: the top bits of a multiplication, which depend on all of the
    key's bits (the low bits of a product see only the low bits of the factors)."""
    with np.errstate(over="ignore"):
        return ((keys * _SPREAD) >> np.uint64(64 - bits)).astype(np.int64)


@dataclass
class CharGrams:
    """Fitted vocabulary (sorted keys) and the idf of each."""

    ngram_range: tuple[int, int] = (1, 4)
    min_df: int = 2
    vocabulary: Any = field(default=None, repr=False)
    idf: Any = field(default=None, repr=False)
    slots: Slots | None = field(default=None, repr=False)  # None in files saved before it

    def fit_transform(self, texts: Sequence[str]) -> Any:
        docs, keys = _keys(texts, self._lengths)
        pairs = np.unique(np.stack([keys, docs.astype(np.uint64)]), axis=1)  # once per message
        vocabulary, df = np.unique(pairs[0], return_counts=True)
        keep = df >= self.min_df
        self.vocabulary, df = vocabulary[keep], df[keep]
        self.slots = Slots.build(self.vocabulary)
        self.idf = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        return self._matrix(len(texts), docs, keys)

    def transform(self, texts: Sequence[str]) -> Any:
        docs, keys = _keys(texts, self._lengths)
        return self._matrix(len(texts), docs, keys)

    @property
    def _lengths(self) -> range:
        return range(self.ngram_range[0], self.ngram_range[1] + 1)

    def _matrix(self, rows: int, docs: Any, keys: Any) -> Any:
        """Counts per (message, gram) by sorting one combined number, then tf-idf rows of
        unit length: no Python loop, and no sparse-format conversions."""
        from scipy.sparse import csr_matrix

        size = len(self.vocabulary)
        if self.slots is None:
            self.slots = Slots.build(self.vocabulary)
        where = self.slots.find(self.vocabulary, keys)
        known = where >= 0
        cells = np.sort(docs[known] * size + where[known], kind="stable")  # merges the sorted
        # runs (one per gram length) instead of sorting from scratch: 3x faster than np.unique
        starts = np.flatnonzero(np.diff(cells, prepend=-1))
        cells, counts = cells[starts], np.diff(starts, append=len(cells))
        row, column = np.divmod(cells, size) if size else (cells, cells)
        data = ((1 + np.log(counts)) * self.idf[column]).astype(np.float32)
        indptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=rows), out=indptr[1:])
        norms = np.sqrt(np.bincount(row, weights=data * data, minlength=rows))
        data /= norms[row].astype(np.float32)
        return csr_matrix((data, column, indptr), shape=(rows, size))
