"""Deleting a member's data: chats are personal data, and a member may ask to be forgotten."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, select, update

from qunzhu.model import Platform
from qunzhu.store import blocklist, inbox, pictures
from qunzhu.store import schema as t
from qunzhu.store.ingest import now_ms, rebuild_memberships


@dataclass
class Forgotten:
    members: int
    messages: int
    membership_events: int
    decisions: int = 0  # what the live policies decided about them, and the actions queued
    labelled: int = 0  # of those, labelled in the moderation queue: training data until now
    blocked: int = 0  # communities whose blocklist held them: kept out by a digest of their id


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
    with the actor blanked. The group's derived memberships are rebuilt afterwards. A blocked
    member stays kept out through a digest of their id (store/blocklist.py): forgetting is not
    a way round a ban.
    """
    groups = set(
        conn.execute(
            select(t.memberships.c.group_id).where(t.memberships.c.member_id == member_id)
        ).scalars()
    )
    _tell_running_engines(conn, member_id)
    decided, labelled = _forget_decisions(conn, member_id)
    if (found := _on_platform(conn, member_id)) is not None:
        inbox.forget(conn, found.platform, found.external_id)
    _forget_in_audit_log(conn, member_id)
    pictures.forget_of(conn, member_id)
    messages = conn.execute(delete(t.messages).where(t.messages.c.sender_id == member_id))
    ev = t.membership_events
    events = conn.execute(delete(ev).where(ev.c.member_id == member_id))
    conn.execute(update(ev).where(ev.c.actor_id == member_id).values(actor_id=None))
    ms = t.memberships
    conn.execute(update(ms).where(ms.c.inviter_id == member_id).values(inviter_id=None))
    conn.execute(delete(ms).where(ms.c.member_id == member_id))
    conn.execute(delete(t.member_names).where(t.member_names.c.member_id == member_id))
    conn.execute(delete(t.member_tags).where(t.member_tags.c.member_id == member_id))
    blocked = blocklist.keep_forgotten(conn, member_id)
    conn.execute(delete(t.blocklist).where(t.blocklist.c.member_id == member_id))
    gone = conn.execute(delete(t.members).where(t.members.c.id == member_id))
    for group_id in groups:
        rebuild_memberships(conn, group_id)
    return Forgotten(gone.rowcount, messages.rowcount, events.rowcount, decided, labelled, blocked)


FORGOTTEN_KEPT_MS = 2 * 86_400_000  # longer than a running engine keeps anything in memory


def _tell_running_engines(conn: Connection, member_id: int) -> None:
    """A digest of the member's id for a running engine to drop what it keeps of them in
    memory (`forgotten_lately`); those older than two days go: no engine keeps anything as
    long, and one that starts later keeps nothing of them."""
    found = _on_platform(conn, member_id)
    if found is None:
        return
    now, lately = now_ms(), t.forgotten_lately
    conn.execute(delete(lately).where(lately.c.at < now - FORGOTTEN_KEPT_MS))
    key = blocklist.made_key(conn)
    said = blocklist.digest(key, found.platform, found.external_id)
    conn.execute(lately.insert().values(digest=said, at=now))


def forgotten_lately(conn: Connection, after: int) -> tuple[int, ForgottenIds | None]:
    """Who was forgotten since entry `after` (None: nobody), and the newest entry's number,
    to ask from next time; `after` -1: nobody, only where the entries now end (a process
    starting keeps nothing of anyone forgotten before)."""
    lately = t.forgotten_lately
    if after < 0:
        return int(conn.execute(select(func.coalesce(func.max(lately.c.id), 0))).scalar()), None
    rows = conn.execute(
        select(lately.c.id, lately.c.digest).where(lately.c.id > after).order_by(lately.c.id)
    ).all()
    key = blocklist.stored_key(conn) if rows else None
    if not rows or key is None:
        return (rows[-1].id if rows else after), None
    return rows[-1].id, ForgottenIds(key, frozenset(r.digest for r in rows))


@dataclass(frozen=True)
class ForgottenIds:
    """`forgotten(member_id)`: whether a platform id is one of members just forgotten, on
    any platform (an id another platform also uses loses only what is kept in memory)."""

    key: bytes
    digests: frozenset[str]

    def __call__(self, member_id: str) -> bool:
        return any(blocklist.digest(self.key, p.value, member_id) in self.digests for p in Platform)


def _forget_decisions(conn: Connection, member_id: int) -> tuple[int, int]:
    """Decisions about the member, their labels, their queued actions (which quote and name
    them) and what policies remember of them ("reminded once", when they joined, strikes):
    keyed by their platform id. How many decisions and labels went."""
    found = _on_platform(conn, member_id)
    if found is None:
        return 0, 0
    on_platform = select(t.groups.c.id).where(t.groups.c.platform == found.platform)
    d = t.decisions
    theirs = select(d.c.id).where(d.c.member == found.external_id, d.c.group_id.in_(on_platform))
    conn.execute(delete(t.outbox).where(t.outbox.c.decision_id.in_(theirs)))
    conn.execute(delete(t.appeals).where(t.appeals.c.decision_id.in_(theirs)))  # their words
    ml = t.moderation_labels
    labelled = conn.execute(delete(ml).where(ml.c.decision_id.in_(theirs))).rowcount
    gone = conn.execute(delete(d).where(d.c.id.in_(theirs))).rowcount
    pm = t.policy_marks
    conn.execute(
        delete(pm).where(
            pm.c.group_id.in_(on_platform),
            pm.c.key.like(f"%:{_like(found.external_id)}", escape="\\"),
        )
    )
    return gone, labelled


def _on_platform(conn: Connection, member_id: int) -> Any:
    """The member's platform and id there: how decisions and policies name them."""
    return conn.execute(
        select(t.members.c.platform, t.members.c.external_id).where(t.members.c.id == member_id)
    ).first()


def _like(value: str) -> str:
    """`value` as a LIKE pattern matching only itself (escape character: backslash)."""
    return re.sub(r"([\\%_])", r"\\\1", value)


def _forget_in_audit_log(conn: Connection, member_id: int) -> None:
    """The audit log keeps that a person acted, not on whom: tag changes lose the tags they
    gave the member, labels of decisions about them lose the member's id and the note."""
    log = t.audit_log
    conn.execute(
        update(log)
        .where(log.c.action == "member.tags", log.c.target == f"member:{member_id}")
        .values(details=orjson.dumps({"forgotten": True}).decode())
    )
    found = _on_platform(conn, member_id)
    if found is None:
        return
    on_platform = set(
        conn.execute(select(t.groups.c.id).where(t.groups.c.platform == found.platform)).scalars()
    )
    as_json = orjson.dumps(found.external_id).decode()[1:-1]  # as it is spelt inside the details
    labels = conn.execute(
        select(log.c.id, log.c.details).where(
            log.c.action == "moderation_label",
            log.c.details.like(f"%{_like(as_json)}%", escape="\\"),
        )
    ).all()
    for row in labels:
        details = orjson.loads(row.details)
        if details.get("member") == found.external_id and details.get("group") in on_platform:
            details.update(member=None, note=None, forgotten=True)
            conn.execute(
                update(log).where(log.c.id == row.id).values(details=orjson.dumps(details).decode())
            )
