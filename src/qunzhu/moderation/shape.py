"""How a message looks, as a handful of numbers: its length, what kinds of characters it is made
of, how many contacts it carries.

The n-gram model reads what a message says; spammers also give themselves away by how it is
written: 𝐁𝐊𝐏 in mathematical letters, full-width digits, a phone number in a three-character
line, a long message with no Chinese at all. A linear model over grams cannot weigh "short AND
has a contact" differently from each alone; the combiner in `model.py` reads these numbers next
to the linear model's score and can.

Counted with numpy over the whole batch (the code points of all messages in one array), so the
cost stays a small share of the n-gram counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qunzhu.moderation.contacts import Contact
from qunzhu.moderation.normalize import Normalized

__all__ = ["COLUMNS", "shape"]

# Code-point ranges of each character class, in the order they are tested (first match wins).
_CLASSES: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("digits", ((0x30, 0x39),)),
    ("latin", ((0x41, 0x5A), (0x61, 0x7A))),
    ("space", ((0x09, 0x0D), (0x20, 0x20), (0x3000, 0x3000))),
    ("ascii_symbols", ((0x21, 0x7E),)),
    ("cjk", ((0x3400, 0x9FFF), (0xF900, 0xFAFF))),
    ("full_width", ((0xFF00, 0xFFEF),)),
    ("astral", ((0x10000, 0x10FFFF),)),  # mathematical letters, emoji, rare CJK
    ("other_letters", ((0x80, 0x24F), (0x370, 0x52F))),  # accented Latin, Greek, Cyrillic
)
# The combiner of every saved model reads these columns in this order, so a kind of contact found
# later is counted under one of them (a shop's share code is a link into its app), not added.
_COUNTED = ("phone", "qq", "wechat", "url", "domain", "telegram")
_COUNTED_AS = {"code": "url"}
COLUMNS = (
    "length",
    "compact_length",
    "distinct",
    *(name for name, _ranges in _CLASSES),
    *(f"contacts_{kind}" for kind in _COUNTED),
)


def _table() -> Any:
    """Class index of every code point of the Basic Multilingual Plane, len(_CLASSES) for
    anything else: one lookup per character instead of a comparison per range."""
    table = np.full(0x10000, len(_CLASSES), dtype=np.int64)
    for index in range(len(_CLASSES) - 1, -1, -1):  # last first, so the first match is kept
        for low, high in _CLASSES[index][1]:
            table[low : min(high, 0xFFFF) + 1] = index
    return table


_TABLE = _table()
_ASTRAL = next(i for i, (name, _r) in enumerate(_CLASSES) if name == "astral")


def shape(
    normalized: Sequence[Normalized], contacts: Sequence[Sequence[Contact]]
) -> Any:  # float32 matrix, one row a message, columns COLUMNS
    """The raw text is counted, not the normalised one: disguise is the point here."""
    rows = len(normalized)
    out = np.zeros((rows, len(COLUMNS)), dtype=np.float32)
    if not rows:
        return out
    raw = [n.raw.replace("\0", " ") for n in normalized]
    points = np.frombuffer("\0".join(raw).encode("utf-32-le", "replace"), dtype=np.uint32)
    separator = points == 0
    doc = np.cumsum(separator)[~separator]
    points = points[~separator].astype(np.int64)
    out[:, 0] = [len(t) for t in raw]
    out[:, 1] = [len(n.compact) for n in normalized]
    pairs = np.sort(doc * 0x110000 + points)  # np.unique hashes here, several times slower
    new = np.ones(len(pairs), dtype=bool)
    new[1:] = pairs[1:] != pairs[:-1]
    out[:, 2] = np.bincount(pairs[new] // 0x110000, minlength=rows)
    kind = np.where(points > 0xFFFF, _ASTRAL, _TABLE[np.minimum(points, 0xFFFF)])
    classes = np.bincount(doc * (len(_CLASSES) + 1) + kind, minlength=rows * (len(_CLASSES) + 1))
    out[:, 3 : 3 + len(_CLASSES)] = classes.reshape(rows, -1)[:, : len(_CLASSES)]
    first = 3 + len(_CLASSES)
    for row, found in enumerate(contacts):
        for contact in found:
            kind = _COUNTED_AS.get(contact.kind, contact.kind)
            if kind in _COUNTED:
                out[row, first + _COUNTED.index(kind)] += 1
    return out
