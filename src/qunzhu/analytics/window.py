"""A report's time window, and local calendar days computed inside the database.

Times are stored as UTC milliseconds; reports count by the group's local day. Doing that in SQL
keeps the heavy aggregation in the database: the zone's UTC offset is piecewise constant, so a
`CASE` over the offset changes inside the window gives the local day of every row without a
time-zone library in the database (SQLite has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC ms, and the zone whose calendar days the report counts."""

    start: int
    end: int
    tz: ZoneInfo

    @classmethod
    def of(cls, since: date, until: date, tz: ZoneInfo) -> Window:
        """From `since` to `until`, both local dates, inclusive."""
        begin = datetime.combine(since, time(), tz)
        finish = datetime.combine(until + timedelta(days=1), time(), tz)
        return cls(_ms(begin), _ms(finish), tz)

    @cached_property
    def first_day(self) -> int:
        return local_day(self.start, self.tz)

    @cached_property
    def last_day(self) -> int:
        return local_day(self.end - 1, self.tz)

    @property
    def days(self) -> int:
        return self.last_day - self.first_day + 1

    def local_ms(self, column: str) -> str:
        """SQL for the local wall-clock time, in ms since the epoch, of a UTC-ms column. Only
        integers we computed are spliced in; integer division then gives days or hours."""
        pieces = offsets(self.start, self.end, self.tz)
        if len(pieces) == 1:
            return f"({column} + {pieces[0][1]})"
        whens = " ".join(f"WHEN {column} < {until} THEN {off}" for until, off in pieces[:-1])
        return f"({column} + CASE {whens} ELSE {pieces[-1][1]} END)"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def local_day(ms: int, tz: ZoneInfo) -> int:
    moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)
    return (moment.date() - date(1970, 1, 1)).days


def day_date(day: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day)


def offsets(start: int, end: int, tz: ZoneInfo) -> list[tuple[int, int]]:
    """[(until_ms, offset_ms)]: the zone's UTC offset over [start, end), one entry per constant
    stretch (the last one's `until` is `end`). Found hour by hour: zones change on the hour."""
    pieces: list[tuple[int, int]] = []
    hour = 3_600_000
    at = start - start % hour
    current = _offset(max(at, start), tz)
    while at < end:
        at += hour
        now = _offset(at, tz)
        if now != current:
            pieces.append((at, current))
            current = now
    pieces.append((end, current))
    return pieces


def _offset(ms: int, tz: ZoneInfo) -> int:
    delta = datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).utcoffset()
    return int(delta.total_seconds() * 1000) if delta else 0
