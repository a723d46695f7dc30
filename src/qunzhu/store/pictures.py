"""The fingerprints of messages' pictures (never the pictures): what the behaviour layer needs
to count a picture's groups again after a restart, and what a report of an older message needs
to teach its picture."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, delete, insert, select

from qunzhu.store import schema as t

Prints = tuple[int, ...]


def keep(conn: Connection, group_id: int, prints: Mapping[str, Sequence[int]]) -> int:
    """Keep each stored message's fingerprints, by its platform id in the group; messages the
    store does not hold are skipped. How many fingerprints were added."""
    if not prints:
        return 0
    m, p = t.messages, t.message_pictures
    ids = dict(
        conn.execute(
            select(m.c.platform_id, m.c.id).where(
                m.c.group_id == group_id, m.c.platform_id.in_(list(prints))
            )
        ).all()
    )
    rows = {(ids[msg], f"{fp:016x}") for msg, fps in prints.items() if msg in ids for fp in fps}
    if not rows:
        return 0
    have = set(
        conn.execute(
            select(p.c.message_id, p.c.fingerprint).where(p.c.message_id.in_({i for i, _ in rows}))
        ).all()
    )
    new = [{"message_id": i, "fingerprint": f} for i, f in sorted(rows - have)]
    if new:
        conn.execute(insert(p), new)
    return len(new)


def of_message(conn: Connection, group_id: int, platform_id: str) -> Prints:
    """The fingerprints of one stored message's pictures."""
    m, p = t.messages, t.message_pictures
    found = conn.execute(
        select(p.c.fingerprint)
        .join(m, m.c.id == p.c.message_id)
        .where(m.c.group_id == group_id, m.c.platform_id == platform_id)
        .order_by(p.c.fingerprint)
    ).scalars()
    return tuple(int(fp, 16) for fp in found)


def since(conn: Connection, group_ids: Iterable[int], since_ms: int) -> dict[int, Prints]:
    """The fingerprints of the pictures of these groups' messages sent from `since_ms` on, by
    message id (messages without pictures are left out)."""
    m, p = t.messages, t.message_pictures
    found: defaultdict[int, list[int]] = defaultdict(list)
    for message_id, fp in conn.execute(
        select(p.c.message_id, p.c.fingerprint)
        .join(m, m.c.id == p.c.message_id)
        .where(m.c.group_id.in_(list(group_ids)), m.c.sent_at >= since_ms)
        .order_by(p.c.message_id, p.c.fingerprint)
    ):
        found[message_id].append(int(fp, 16))
    return {message_id: tuple(fps) for message_id, fps in found.items()}


def of_group(conn: Connection, group_id: int, since_ms: int | None = None) -> dict[str, Prints]:
    """The fingerprints of a group's stored messages' pictures (sent from `since_ms` on), by
    the messages' platform ids."""
    m, p = t.messages, t.message_pictures
    query = (
        select(m.c.platform_id, p.c.fingerprint)
        .join(m, m.c.id == p.c.message_id)
        .where(m.c.group_id == group_id)
        .order_by(m.c.platform_id, p.c.fingerprint)
    )
    if since_ms is not None:
        query = query.where(m.c.sent_at >= since_ms)
    found: defaultdict[str, list[int]] = defaultdict(list)
    for platform_id, fp in conn.execute(query):
        found[platform_id].append(int(fp, 16))
    return {platform_id: tuple(fps) for platform_id, fps in found.items()}


def forget_of(conn: Connection, sender_id: int) -> int:
    """Delete the fingerprints of a member's messages (before the messages go)."""
    m, p = t.messages, t.message_pictures
    theirs = select(m.c.id).where(m.c.sender_id == sender_id)
    return conn.execute(delete(p).where(p.c.message_id.in_(theirs))).rowcount
