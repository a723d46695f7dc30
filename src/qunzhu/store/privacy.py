"""Deleting a member's data: chats are personal data, and a member may ask to be forgotten."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from qunzhu.store import schema as t
from qunzhu.store.ingest import rebuild_memberships


@dataclass
class Forgotten:
    members: int
    messages: int
    membership_events: int


def find_members(conn: Connection, ref: str, platform: str | None = None) -> list[int]:
    """Members whose platform id, or exact current display name, is `ref`."""
    m = t.members
    query = select(m.c.id).where((m.c.external_id == ref) | (m.c.display_name == ref))
    if platform:
        query = query.where(m.c.platform == platform)
    return list(conn.execute(query).scalars())


def forget_member(conn: Connection, member_id: int) -> Forgotten:
    """Delete the member, every message they sent, their membership events and names.

    Where they acted on others (invited or removed someone) the other member's event stays,
    with the actor blanked. The group's derived memberships are rebuilt afterwards.
    """
    groups = set(
        conn.execute(
            select(t.memberships.c.group_id).where(t.memberships.c.member_id == member_id)
        ).scalars()
    )
    messages = conn.execute(delete(t.messages).where(t.messages.c.sender_id == member_id))
    ev = t.membership_events
    events = conn.execute(delete(ev).where(ev.c.member_id == member_id))
    conn.execute(update(ev).where(ev.c.actor_id == member_id).values(actor_id=None))
    ms = t.memberships
    conn.execute(update(ms).where(ms.c.inviter_id == member_id).values(inviter_id=None))
    conn.execute(delete(ms).where(ms.c.member_id == member_id))
    conn.execute(delete(t.member_names).where(t.member_names.c.member_id == member_id))
    gone = conn.execute(delete(t.members).where(t.members.c.id == member_id))
    for group_id in groups:
        rebuild_memberships(conn, group_id)
    return Forgotten(gone.rowcount, messages.rowcount, events.rowcount)
