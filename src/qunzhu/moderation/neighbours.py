"""How close a message comes to the training set's spam and to its normal messages.

Spam comes in campaigns: the same offer reworded, a number changed, a line added. A linear model
weighs each gram on its own and averages over the whole corpus; a new copy of a campaign it has
seen ten times is better recognised by being nearly the same as one of them. This is the
"bank of confirmed spam searched for near-duplicates" of the content layer, trained with it.

Only rare grams take part (found in few training messages): a campaign's copies share them,
while common grams (的, 你好) make every pair of messages look a little alike and would cost
most of the time. Rows are the model's tf-idf rows cut to those grams and rescaled to unit
length, so the similarity is a cosine in [0, 1]; the largest to a spam and the largest to a
normal message are two more inputs of the combiner, which learns how much "nearly a known
ad" and "nearly a known normal line" weigh next to the linear score. It is searched only where
the linear score is unsure (BAND): a message plainly normal or plainly spam gains nothing from
it, and most group chat is plainly normal.

The bank holds one row per training message: hashed grams and weights, not text, but a model
file with a bank carries its training messages in that form. To drop a member's messages from
it, train again without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RARE = 0.01  # a gram found in more than this share of training messages takes no part
BAND = (-3.0, 4.0)  # linear log-odds between which the similarities are worth their time
CHUNK = 2_000  # query rows per sparse product: the product's size grows with the batch
DENSE = 1 << 20  # rows × bank messages up to which a dense block of sums is cheaper


@dataclass
class Neighbours:
    """The rare columns and the training rows over them, spam and normal apart, each kept
    gram by message (a posting list per gram) so that a message's grams lead straight to
    the training messages that share them."""

    rare: Any  # bool per vocabulary column
    spam: Any  # csr, columns × spam messages
    normal: Any  # csr, columns × normal messages

    @classmethod
    def of(cls, matrix: Any, labels: Any, rare: Any = None) -> Neighbours:
        if rare is None:
            rare = rare_columns(matrix)
        rows = _cut(matrix, rare)
        return cls(rare, _bank(rows[labels == 1]), _bank(rows[labels == 0]))

    def similarity(self, matrix: Any, log_odds: Any) -> Any:
        """For each row: the largest cosine to a training spam, then to a normal message;
        -1 for both where the linear score is outside BAND."""
        out = np.full((matrix.shape[0], 2), -1.0, dtype=np.float32)
        todo = np.flatnonzero((log_odds > BAND[0]) & (log_odds < BAND[1]))
        for at in range(0, len(todo), CHUNK):
            rows = todo[at : at + CHUNK]
            query = _query(matrix, rows, self.rare)
            out[rows, 0] = _largest(query, len(rows), self.spam)
            out[rows, 1] = _largest(query, len(rows), self.normal)
        return out


def rare_columns(matrix: Any) -> Any:
    """Columns found in at most RARE of the rows (and in at least one)."""
    found = np.bincount(matrix.indices, minlength=matrix.shape[1])
    return (found > 0) & (found <= max(2, RARE * matrix.shape[0]))


def held_out(matrix: Any, labels: Any, log_odds: Any, folds: Any) -> Any:
    """Each row's similarities to the rows of the other folds only, as a new message would
    see the training set; `folds` are (fit, rows) index pairs covering every row once."""
    rare = rare_columns(matrix)
    out = np.zeros((matrix.shape[0], 2), dtype=np.float32)
    for fit, rows in folds:
        bank = Neighbours.of(matrix[fit], labels[fit], rare)
        out[rows] = bank.similarity(matrix[rows], log_odds[rows])
    return out


def _cut(matrix: Any, rare: Any) -> Any:
    """The rows over the rare columns only, each of unit length again (all-zero rows stay)."""
    return _csr(_query(matrix, np.arange(matrix.shape[0]), rare), matrix.shape)


def _csr(entries: tuple[Any, Any, Any], shape: tuple[int, int]) -> Any:
    """A csr matrix from (row, column, value) entries already in row order."""
    from scipy.sparse import csr_matrix

    row, column, value = entries
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=shape[0]), out=indptr[1:])
    return csr_matrix((value, column, indptr), shape=shape)


def _query(matrix: Any, rows: Any, rare: Any) -> tuple[Any, Any, Any]:
    """(position in `rows`, column, value) of the rare entries of those rows, each row
    rescaled to unit length. Plain numpy on the csr arrays: scipy's indexing and
    arithmetic cost 100-400 µs a call, more than the search for one message."""
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    lengths = ends - starts
    where = _ranges(starts, lengths)
    row = np.repeat(np.arange(len(rows)), lengths)
    column, value = matrix.indices[where], matrix.data[where]
    keep = rare[column]
    row, column, value = row[keep], column[keep], value[keep]
    norms = np.sqrt(np.bincount(row, weights=value * value, minlength=len(rows)))
    return row, column, (value / norms[row]).astype(np.float32)


def _ranges(starts: Any, lengths: Any) -> Any:
    """The positions starts[i], ..., starts[i] + lengths[i] - 1 of every i, in one array."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(total)


def _bank(rows: Any) -> Any:
    return rows.T.tocsr()


def _largest(query: tuple[Any, Any, Any], rows: int, bank: Any) -> Any:
    """Each query row's largest dot product with a bank message (0 if it shares no gram).

    A product cell per (row, message) pair that shares a gram: counted into a dense
    rows × messages block when that block is small (a single message, a small community),
    else through scipy's sparse product, whose fixed cost is then shared by many rows."""
    row, column, value = query
    out = np.zeros(rows, dtype=np.float32)
    if not len(row) or bank.shape[1] == 0:
        return out
    messages = bank.shape[1]
    if rows * messages <= DENSE:
        starts = bank.indptr[column]
        lengths = bank.indptr[column + 1] - starts
        where = _ranges(starts, lengths)
        cell = np.repeat(row * messages, lengths) + bank.indices[where]
        products = bank.data[where] * np.repeat(value, lengths)
        sums = np.bincount(cell, weights=products, minlength=rows * messages)
        return sums.reshape(rows, messages).max(axis=1).astype(np.float32)
    product = _csr(query, (rows, bank.shape[0])) @ bank
    filled = np.flatnonzero(np.diff(product.indptr))
    if len(filled):
        out[filled] = np.maximum.reduceat(product.data, product.indptr[filled])
    return out
