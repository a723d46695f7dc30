"""Read-side queries the command line and the console share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, select, text

from qunzhu.model import Message, MessageKind, Person
from qunzhu.store import schema as t


@dataclass
class GroupRow:
    id: int
    platform: str
    platform_id: str
    name: str
    community: str | None
    kind: str
    tz: str
    members: int  # current: joined (or seen) and not left
    members_ever: int
    messages: int
    first_message_at: int | None
    last_message_at: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def list_groups(engine: Engine) -> list[GroupRow]:
    ms = t.memberships
    stats = (
        select(
            ms.c.group_id,
            func.count().label("ever"),
            func.count().filter(ms.c.left_at.is_(None)).label("current"),
            func.coalesce(func.sum(ms.c.message_count), 0).label("messages"),
            func.min(ms.c.first_message_at).label("first"),
            func.max(ms.c.last_message_at).label("last"),
        )
        .group_by(ms.c.group_id)
        .subquery()
    )
    g, c = t.groups, t.communities
    query = (
        select(
            g.c.id,
            g.c.platform,
            g.c.platform_id,
            g.c.name,
            c.c.name.label("community"),
            g.c.kind,
            g.c.tz,
            func.coalesce(stats.c.current, 0),
            func.coalesce(stats.c.ever, 0),
            func.coalesce(stats.c.messages, 0),
            stats.c.first,
            stats.c.last,
        )
        .outerjoin(c, c.c.id == g.c.community_id)
        .outerjoin(stats, stats.c.group_id == g.c.id)
        .order_by(g.c.id)
    )
    with engine.connect() as conn:
        return [GroupRow(*row) for row in conn.execute(query)]


def matching_groups(
    conn: Connection, group: str | None, community: str | None
) -> list[tuple[int, str]]:
    """(id, time zone) of the groups a user named: by name, store id or platform id, and by
    community; every group when neither is given."""
    sql = "SELECT g.id, g.tz FROM groups g LEFT JOIN communities c ON c.id = g.community_id"
    where, params = [], {}
    if group:
        where.append("(g.name = :group OR CAST(g.id AS TEXT) = :group OR g.platform_id = :group)")
        params["group"] = group
    if community:
        where.append("c.name = :community")
        params["community"] = community
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [(int(i), str(z)) for i, z in conn.execute(text(sql + " ORDER BY g.id"), params)]


def stored_message(conn: Connection, group_id: int, platform_id: str) -> Message | None:
    """A group's stored message by its platform id, as a record (what a report replies to,
    live and in a replay); None when the store never saw it (sent before qunzhu ran, or
    deleted with a forgotten member)."""
    msg, m = t.messages, t.members
    row = conn.execute(
        select(
            msg.c.sent_at,
            msg.c.kind,
            msg.c.text,
            msg.c.origin,
            m.c.external_id,
            m.c.display_name,
        )
        .join(m, m.c.id == msg.c.sender_id)
        .where(msg.c.group_id == group_id, msg.c.platform_id == platform_id)
    ).first()
    if row is None:
        return None
    at = datetime.fromtimestamp(row.sent_at / 1000, UTC)
    sender = Person(row.external_id, row.display_name)
    return Message(
        platform_id, sender, at, MessageKind(row.kind), row.text, origin=row.origin or ""
    )
