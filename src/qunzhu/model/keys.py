"""Stable ids for sources that have none (QQ TXT, WhatsApp, MemoTrace TXT).

The id must not depend on the file it came from, so an overlapping later export of the same group
yields the same ids for the messages both files hold and only the new ones are added.
"""

from __future__ import annotations

import hashlib
from collections import Counter


def content_key(*parts: object) -> str:
    """A short hash of a record's content; `parts` are joined unambiguously."""
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        digest.update(str(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return "h:" + digest.hexdigest()


class ContentKeys:
    """Content keys with an occurrence counter, so two identical lines in one minute stay two.

    The counter makes the n-th identical (time, sender, text) line get the same key in every export
    that contains it from the start of that minute on.
    """

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def key(self, *parts: object) -> str:
        base = content_key(*parts)
        n = self._seen[base]
        self._seen[base] = n + 1
        return base if n == 0 else f"{base}.{n}"
