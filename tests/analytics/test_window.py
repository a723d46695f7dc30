"""Local hours computed in SQL agree with Python's zoneinfo, across a DST change."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from qunzhu.analytics.window import Window, offsets

LA = ZoneInfo("America/Los_Angeles")


def test_offsets_split_at_the_change() -> None:
    w = Window.of(date(2026, 10, 30), date(2026, 11, 3), LA)
    pieces = offsets(w.start, w.end, LA)
    change = int(datetime(2026, 11, 1, 9, tzinfo=UTC).timestamp() * 1000)  # 02:00 PDT
    assert pieces == [(change, -7 * 3_600_000), (w.end, -8 * 3_600_000)]


def test_sql_local_hours_match_zoneinfo() -> None:
    w = Window.of(date(2026, 10, 30), date(2026, 11, 3), LA)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE m (sent_at INTEGER)")
    stamps = list(range(w.start, w.end, 37 * 60_000))  # every 37 minutes through the change
    conn.executemany("INSERT INTO m VALUES (?)", [(s,) for s in stamps])
    sql = f"SELECT sent_at, {w.local_ms('sent_at')} / 3600000 FROM m ORDER BY sent_at"
    for sent_at, hour in conn.execute(sql):
        local = datetime.fromtimestamp(sent_at / 1000, UTC).astimezone(LA)
        wall = datetime(local.year, local.month, local.day, local.hour, tzinfo=UTC)
        assert hour == int(wall.timestamp()) // 3600, local
