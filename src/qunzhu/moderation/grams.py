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
class CharGrams:
    """Fitted vocabulary (sorted keys) and the idf of each."""

    ngram_range: tuple[int, int] = (1, 4)
    min_df: int = 2
    vocabulary: Any = field(default=None, repr=False)
    idf: Any = field(default=None, repr=False)

    def fit_transform(self, texts: Sequence[str]) -> Any:
        docs, keys = _keys(texts, self._lengths)
        pairs = np.unique(np.stack([keys, docs.astype(np.uint64)]), axis=1)  # once per message
        vocabulary, df = np.unique(pairs[0], return_counts=True)
        keep = df >= self.min_df
        self.vocabulary, df = vocabulary[keep], df[keep]
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
        where = np.searchsorted(self.vocabulary, keys)
        where[where == size] = 0
        known = self.vocabulary[where] == keys if size else np.zeros(len(keys), bool)
        cells, counts = np.unique(docs[known] * size + where[known], return_counts=True)
        row, column = np.divmod(cells, size) if size else (cells, cells)
        data = ((1 + np.log(counts)) * self.idf[column]).astype(np.float32)
        indptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=rows), out=indptr[1:])
        norms = np.sqrt(np.bincount(row, weights=data * data, minlength=rows))
        data /= norms[row].astype(np.float32)
        return csr_matrix((data, column, indptr), shape=(rows, size))
