"""What members say of themselves on their profile (Telegram's bio, QQ's signature 个性签名),
read for moderation: accounts that join, say "你好" and wait for members to open their profile
carry the ad there, and some write it in after joining.

A platform call per member per message would be too many, so each member's is read at most
once an hour (`BIO_TTL_S`); a read that failed is tried again a minute on; one read at a time
per member (a batch often holds their join and their first messages together); and where the
platform asks the bot to slow down, first reads wait (`pause`): the bot's other calls, its
deletions among them, matter more than bios. A member's listing on a shared list of spam
accounts (CAS, `connectors/cas.py`) is read the same way, once a day.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

BIO_TTL_S = 3600.0  # a member's bio read once is used this long
BIO_TIMEOUT = 5  # seconds: a bio holds up the update it comes with
BIO_RETRY_S = 60.0  # a bio that could not be read is asked for again this much later
BIOS_KEPT = 10_000  # members whose bio is remembered, the most recently read
BIO_MAX = 200  # characters kept of a bio (Telegram allows 70, 140 with Premium)


class Bios:
    """`await bios(member)`: the member's bio, "" where none is known. `read(member)` asks
    the platform: the bio ("" for none shown), or None where the call failed. What is read
    is used for `ttl_s` seconds."""

    def __init__(
        self, read: Callable[[Hashable], Awaitable[str | None]], ttl_s: float = BIO_TTL_S
    ) -> None:
        self._read = read
        self._ttl_s = ttl_s
        # member -> (the read of their bio, when it began)
        self._kept: dict[Hashable, tuple[asyncio.Future[str | None], float]] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """The platform asked to slow down: no first read for this long."""
        self._paused_until = time.monotonic() + seconds

    async def __call__(self, member: Hashable) -> str:
        now = time.monotonic()
        kept = self._kept.get(member)
        if kept is None and now < self._paused_until:
            return ""  # a backlog's thousand first reads wait out the platform's limit
        if kept is None or now - kept[1] >= self._ttl_s:
            kept = (asyncio.ensure_future(self._read(member)), now)
            self._kept.pop(member, None)  # the most recently read last
            self._kept[member] = kept
            while len(self._kept) > BIOS_KEPT:
                del self._kept[next(iter(self._kept))]
        bio = await asyncio.shield(kept[0])
        if bio is None:  # failed: tried again a minute on, not an hour
            if self._kept.get(member) is kept:
                self._kept[member] = (kept[0], min(kept[1], now - self._ttl_s + BIO_RETRY_S))
            return ""
        return bio[:BIO_MAX]

    def forget(self, forgotten: Callable[[str], bool]) -> None:
        """Drop what was read of members just forgotten (`qunzhu forget`)."""
        for member in [m for m in self._kept if forgotten(str(m))]:
            del self._kept[member]


REACTION_EVERY_S = 86_400.0  # a member's reactions in a group are handed on once a day


class Reactions:
    """`due((group, member))`: whether a member's reaction in a group is to be handed on.
    Moderation looks at who reacted once a day (their name and bio), so a member tapping
    hearts all day makes one event, not one event and one inbox row per tap; the members
    handed on most recently are kept (BIOS_KEPT)."""

    def __init__(self) -> None:
        self._handed_on: dict[Hashable, float] = {}  # the most recently handed on last

    def due(self, key: Hashable) -> bool:
        now = time.monotonic()
        last = self._handed_on.pop(key, None)
        due = last is None or now - last >= REACTION_EVERY_S
        self._handed_on[key] = now if due else last  # type: ignore[assignment]
        while len(self._handed_on) > BIOS_KEPT:
            del self._handed_on[next(iter(self._handed_on))]
        return due

    def forget(self, forgotten: Callable[[str], bool]) -> None:
        """Drop members just forgotten (keys are (group, member))."""
        for key in [k for k in self._handed_on if forgotten(str(_member_of(k)))]:
            del self._handed_on[key]


def _member_of(key: Hashable) -> object:
    return key[-1] if isinstance(key, tuple) else key
