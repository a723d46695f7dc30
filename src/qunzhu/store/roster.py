"""What a platform says is in a group now, turned into the membership events the store missed.

A live group is known from what qunzhu saw since it started: a member who joined before and
never spoke is not in the store, so the report cannot count them among the silent and the
community blocklist cannot remove them. Where the platform lists a group's members (OneBot's
`get_group_member_list`), the difference between its list and the store's open memberships is
written as join and leave events, through the import path, so memberships stay derived from
events (`ingest.rebuild_memberships` keeps them) and no policy sees them: nobody is welcomed,
asked or counted as a raid for having been there all along.

A list that would have a large part of the group leave at once (more than `DOUBT_SHARE` of its
members, at least `DOUBT_MIN`) is doubted: an implementation answering from a stale or partial
cache would say that, while a real purge reaches qunzhu as kicks. Its leaves are held back
until the next reading names the same leavers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from qunzhu.model import JoinMethod, MembershipAction, MembershipEvent, Person
from qunzhu.model.live import RosterEntry
from qunzhu.store import schema as t

DOUBT_SHARE = 0.3
DOUBT_MIN = 10


@dataclass(frozen=True)
class Missed:
    events: list[MembershipEvent]  # to store
    held: frozenset[str] = frozenset()  # leavers doubted this time, not in `events`


def missed(
    conn: Connection,
    platform: str,
    group_id: str,
    present: Sequence[RosterEntry],
    now: datetime,
    believed: frozenset[str] = frozenset(),
) -> Missed:
    """The joins and leaves the store has not seen for the group (`group_id`: the platform's):
    a listed member not in it now joined (when the platform says, else now); a member in it
    now whom the list leaves out left, now, unless the leaves are doubted (see the module)
    and differ from `believed`, the leavers the last reading held back. Nothing for a group
    the store does not hold, or an empty list (a platform that answered nothing is not taken
    to mean that everyone left)."""
    g, ms, m = t.groups, t.memberships, t.members
    group = conn.execute(
        select(g.c.id).where(g.c.platform == platform, g.c.platform_id == group_id)
    ).scalar()
    if group is None or not present:
        return Missed([])
    inside = {
        row.external_id: row.left_at
        for row in conn.execute(
            select(m.c.external_id, ms.c.left_at)
            .join(ms, ms.c.member_id == m.c.id)
            .where(ms.c.group_id == group)
        )
    }
    listed = {entry.member.user_id for entry in present}
    stamp = int(now.timestamp())
    found: list[MembershipEvent] = []
    for entry in present:
        who = entry.member.user_id
        if who is None or (who in inside and inside[who] is None):
            continue
        at = entry.joined_at or now
        left = inside.get(who)
        if left is not None and at.timestamp() * 1000 <= left:
            at = now  # the platform's join time is older than the leave we saw: back since
        found.append(
            MembershipEvent(
                f"roster:join:{who}:{int(at.timestamp())}",
                entry.member,
                MembershipAction.JOIN,
                at,
                JoinMethod.UNKNOWN,
            )
        )
    gone = frozenset(
        who
        for who, left in inside.items()
        if left is None and who not in listed and not who.startswith("name:")
    )
    members = sum(1 for left in inside.values() if left is None)
    if len(gone) >= DOUBT_MIN and len(gone) > DOUBT_SHARE * members and gone != believed:
        return Missed(found, gone)
    found.extend(
        MembershipEvent(
            f"roster:leave:{who}:{stamp}", Person(who, None), MembershipAction.LEAVE, now
        )
        for who in sorted(gone)
    )
    return Missed(found)
