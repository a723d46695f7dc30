"""The community blocklist (社群黑名单): someone banned in one group is kept out of the rest.

An operator of many groups meets the same advertiser in group after group; WeCom's own
anti-harassment rules keep a blacklisted person out of every group, and Rose's federations do
the same across Telegram chats. Entries belong to a community, are keyed by the member (one
platform id), and say why and where they began. The engine adds one when a group's ladder
bans someone, the console when a person bans or blocks someone, and the engine reads them for
every batch of events: a blocked member's join request is rejected, their join or message in
another group of the community is answered by removing them, each group by its own mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, select

from qunzhu.store import schema as t
from qunzhu.store.ingest import now_ms

REASON_MAX = 1000

_b, _m = t.blocklist, t.members


@dataclass(frozen=True, slots=True)
class Entry:
    community_id: int
    member_id: int
    platform: str
    external_id: str
    name: str | None
    reason: str
    group_id: int | None
    group_name: str | None
    decision_id: int | None
    added_by: str | None  # None: the engine, when a group's ladder banned them
    at: int


@dataclass(frozen=True, slots=True)
class Block:
    """A ban the engine decided, to keep on the community's blocklist."""

    reason: str
    group_id: int
    decision_id: int
    at: int


def block_person(
    conn: Connection, community_id: int, platform: str, external_id: str, block: Block
) -> bool:
    """Put whoever has this platform id on the blocklist (the engine stored them with the event
    that got them banned); False when already there or unknown to the store."""
    member_id = conn.execute(
        select(_m.c.id).where(_m.c.platform == platform, _m.c.external_id == external_id)
    ).scalar()
    if member_id is None:
        return False
    return add(
        conn,
        community_id,
        member_id,
        block.reason,
        group_id=block.group_id,
        decision_id=block.decision_id,
        at=block.at,
    )


def add(
    conn: Connection,
    community_id: int,
    member_id: int,
    reason: str,
    *,
    group_id: int | None = None,
    decision_id: int | None = None,
    added_by: str | None = None,
    at: int | None = None,
) -> bool:
    """Block the member in the community; False when they already were (the first entry, with
    its reason, stays: it says how it began)."""
    found = conn.execute(
        select(_b.c.member_id).where(_b.c.community_id == community_id, _b.c.member_id == member_id)
    ).first()
    if found is not None:
        return False
    conn.execute(
        _b.insert().values(
            community_id=community_id,
            member_id=member_id,
            reason=reason.strip()[:REASON_MAX],
            group_id=group_id,
            decision_id=decision_id,
            added_by=added_by,
            at=now_ms() if at is None else at,
        )
    )
    return True


def remove(conn: Connection, community_id: int, member_id: int) -> bool:
    where = and_(_b.c.community_id == community_id, _b.c.member_id == member_id)
    return bool(conn.execute(delete(_b).where(where)).rowcount)


def reasons_for(
    conn: Connection, people: Iterable[tuple[int, str, str]]
) -> dict[tuple[int, str, str], str]:
    """For (community id, platform, platform user id) triples, the blocked ones and why: one
    query for a whole batch of events, so the engine's path gains one round trip a batch."""
    wanted = set(people)
    by_platform: dict[str, set[str]] = {}
    for _, platform, external in wanted:
        by_platform.setdefault(platform, set()).add(external)
    found: dict[tuple[int, str, str], str] = {}
    for platform, externals in by_platform.items():  # members by their unique key first
        rows = conn.execute(
            select(_b.c.community_id, _m.c.external_id, _b.c.reason)
            .select_from(_m.join(_b, _b.c.member_id == _m.c.id))
            .where(
                _m.c.platform == platform,
                _m.c.external_id.in_(sorted(externals)),
                _b.c.community_id.in_(sorted({c for c, p, _ in wanted if p == platform})),
            )
        ).all()
        found.update({(r.community_id, platform, r.external_id): r.reason for r in rows})
    return {key: reason for key, reason in found.items() if key in wanted}


def of_member(conn: Connection, member_id: int) -> dict[int, str]:
    """The communities the member is blocked in, and why."""
    rows = conn.execute(select(_b.c.community_id, _b.c.reason).where(_b.c.member_id == member_id))
    return {r.community_id: r.reason for r in rows}


def entries(conn: Connection, community_ids: Iterable[int], limit: int = 500) -> list[Entry]:
    """The newest entries of these communities, with who and where."""
    g = t.groups
    rows = conn.execute(
        select(
            _b.c.community_id,
            _b.c.member_id,
            _m.c.platform,
            _m.c.external_id,
            _m.c.display_name,
            _b.c.reason,
            _b.c.group_id,
            g.c.name.label("group_name"),
            _b.c.decision_id,
            _b.c.added_by,
            _b.c.at,
        )
        .join(_m, _m.c.id == _b.c.member_id)
        .outerjoin(g, g.c.id == _b.c.group_id)
        .where(_b.c.community_id.in_(list(community_ids)))
        .order_by(_b.c.at.desc(), _b.c.member_id)
        .limit(limit)
    ).all()
    return [Entry(*row) for row in rows]
