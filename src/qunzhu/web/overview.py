"""Every group at a glance, fast enough for hundreds of groups: a handful of grouped queries.

The figures of the last 7 days (messages, active members, ads removed) and a 14-day sparkline
come straight from the event log, through the (group, time) index. Stage, health and open advice
need the full report, too slow to run for 500 groups per page view: they come from the last
report computed for each group (`group_snapshots`), refreshed in the background by the console
and whenever a group's page is opened, and the page says how old they are.

The window ends at the latest message of the groups shown (for live groups that is about now;
for an imported history it is the end of the export, so its last week is what you see).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, Engine, func, select

from qunzhu.analytics import build_report
from qunzhu.store import schema as t
from qunzhu.store.ingest import now_ms

DAY_MS = 86_400_000
SPARK_DAYS = 14


@dataclass
class GroupCard:
    id: int
    name: str
    platform: str
    community: str | None
    kind: str | None = None
    stage: str | None = None
    health: int | None = None
    advice: int | None = None  # open advice items
    members: int = 0
    messages_7d: int = 0
    active_7d: int = 0
    ads_removed_7d: int = 0
    spark: list[int] = field(default_factory=list)  # messages per day, oldest first
    snapshot_at: int | None = None  # ms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# deletions' reasons that took down no bad message: the bot's own, a report, an entry answer,
# the platform's notice of a join or a leave
NOT_REMOVALS = ("expired", "report", "answer", "notice")


def cards(conn: Connection, group_ids: Sequence[int]) -> tuple[list[GroupCard], int | None]:
    """The cards of these groups, and the end of the window (ms), None when nothing was said."""
    if not group_ids:
        return [], None
    ids = list(group_ids)
    g, c, m = t.groups, t.communities, t.messages
    found = {
        row.id: GroupCard(row.id, row.name, row.platform, row.community, kind=row.kind)
        for row in conn.execute(
            select(g.c.id, g.c.name, g.c.platform, g.c.kind, c.c.name.label("community"))
            .outerjoin(c, c.c.id == g.c.community_id)
            .where(g.c.id.in_(ids))
        )
    }
    end = conn.execute(select(func.max(m.c.sent_at)).where(m.c.group_id.in_(ids))).scalar()
    ms = t.memberships
    for gid, n in conn.execute(
        select(ms.c.group_id, func.count())
        .where(ms.c.group_id.in_(ids), ms.c.left_at.is_(None))
        .group_by(ms.c.group_id)
    ):
        found[gid].members = n
    if end is not None:
        _activity(conn, ids, end, found)
    for card in found.values():  # a quiet group, or none has a message yet (just configured)
        if not card.spark:
            card.spark = [0] * SPARK_DAYS
    for gid, at, data in conn.execute(
        select(
            t.group_snapshots.c.group_id, t.group_snapshots.c.computed_at, t.group_snapshots.c.data
        ).where(t.group_snapshots.c.group_id.in_(ids))
    ):
        snap = orjson.loads(data)
        card = found[gid]
        card.kind, card.stage = snap.get("kind") or card.kind, snap.get("stage")
        card.health, card.advice, card.snapshot_at = snap.get("health"), len(snap["advice"]), at
    return [found[i] for i in ids if i in found], end


def _activity(conn: Connection, ids: list[int], end: int, found: dict[int, GroupCard]) -> None:
    m = t.messages
    first = end - SPARK_DAYS * DAY_MS
    week = end - 7 * DAY_MS
    daily: dict[int, list[int]] = defaultdict(lambda: [0] * SPARK_DAYS)
    rows = conn.execute(
        select(m.c.group_id, ((m.c.sent_at - first - 1) // DAY_MS).label("d"), func.count())
        .where(m.c.group_id.in_(ids), m.c.sent_at > first, m.c.sent_at <= end)
        .group_by(m.c.group_id, "d")
    )
    for gid, d, n in rows:
        index = min(int(d), SPARK_DAYS - 1)
        daily[gid][index] += n
    for gid, counts in daily.items():
        found[gid].spark = counts
        found[gid].messages_7d = sum(counts[-7:])
    for gid, n in conn.execute(
        select(m.c.group_id, func.count(func.distinct(m.c.sender_id)))
        .where(m.c.group_id.in_(ids), m.c.sent_at > week, m.c.sent_at <= end)
        .group_by(m.c.group_id)
    ):
        found[gid].active_7d = n
    o, d = t.outbox, t.decisions
    for gid, n in conn.execute(
        select(d.c.group_id, func.count())
        .join(o, o.c.decision_id == d.c.id)
        .where(
            d.c.group_id.in_(ids),
            o.c.kind == "delete",
            o.c.status == "done",
            o.c.done_at > now_ms() - 7 * DAY_MS,
            # members' messages: not the bot's own taken down, nor a report tidied away
            *(o.c.payload.not_like(f'%"reason":"{why}"%') for why in NOT_REMOVALS),
        )
        .group_by(d.c.group_id)
    ):
        found[gid].ads_removed_7d = n


def snapshot(engine: Engine, group_id: int) -> dict[str, Any] | None:
    """Compute the group's full report and keep its verdict for the overview; return the
    report's group part (None for a group with no history)."""
    report = build_report(engine, group=str(group_id)).as_dict()
    groups = [g for g in report.get("groups") or [] if g.get("id") == group_id]
    if not groups:
        return None
    group = groups[0]
    data = {
        "kind": group.get("kind"),
        "stage": group.get("stage"),
        "health": group.get("health"),
        "advice": [a.get("code") for a in group.get("advice") or []],
    }
    payload = orjson.dumps(data).decode()
    with engine.begin() as conn:
        table = t.group_snapshots
        changed = conn.execute(
            table.update()
            .where(table.c.group_id == group_id)
            .values(computed_at=now_ms(), data=payload)
        ).rowcount
        if not changed:
            conn.execute(
                table.insert().values(group_id=group_id, computed_at=now_ms(), data=payload)
            )
    return group


def stale(conn: Connection, older_than_ms: int) -> list[int]:
    """Groups whose snapshot is missing or older than that, oldest first."""
    s, g = t.group_snapshots, t.groups
    rows = conn.execute(
        select(g.c.id, s.c.computed_at)
        .outerjoin(s, s.c.group_id == g.c.id)
        .where((s.c.computed_at.is_(None)) | (s.c.computed_at < now_ms() - older_than_ms))
        .order_by(s.c.computed_at.is_not(None), s.c.computed_at)
    )
    return [gid for gid, _ in rows]


def local_date(ms: int | None, tz: str = "Asia/Shanghai") -> date | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).date()
