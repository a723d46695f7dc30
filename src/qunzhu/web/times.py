"""How the console writes a moment: in the group's time zone, or the console's (Asia/Shanghai,
where most of our operators are) when there is none; a zone the store does not know falls back
to the console's rather than breaking a page."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONSOLE_TZ = "Asia/Shanghai"
_FORMATS = {"day": "%Y-%m-%d", "minute": "%Y-%m-%d %H:%M", "second": "%Y-%m-%d %H:%M:%S"}


def moment(ms: int | float | None, tz: str = CONSOLE_TZ, to: str = "minute", none: str = "") -> str:
    """`ms` since the epoch as local text, to the day, minute or second; `none` for no time."""
    if ms is None:
        return none
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(CONSOLE_TZ)
    return datetime.fromtimestamp(ms / 1000, zone).strftime(_FORMATS[to])
