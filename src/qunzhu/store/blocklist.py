"""The community blocklist (社群黑名单): someone banned in one group is kept out of the rest.

An operator of many groups meets the same advertiser in group after group; WeCom's own
anti-harassment rules keep a blacklisted person out of every group, and Rose's federations do
the same across Telegram chats. Entries belong to a community, are keyed by the member (one
platform id), and say why and where they began. The engine adds one when a group's ladder
bans someone, the console when a person bans or blocks someone, and the engine reads them for
every batch of events: a blocked member's join request is rejected, their join or message in
another group of the community is answered by removing them, each group by its own mode.

Deleting a blocked member's data (store/privacy.py) must not let them back, or asking to be
forgotten would be a way round any ban. What stays is a keyed digest of their platform id
(HMAC-SHA256 under a key the store makes for itself, `store_keys`) and when the block began:
the store no longer says who they are, but knows them again when that id comes back. It is a
pseudonym, not anonymity: whoever holds the store and its key can test a guessed id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, func, select

from qunzhu.i18n import tr
from qunzhu.store import schema as t
from qunzhu.store.ingest import now_ms

REASON_MAX = 1000

_b, _m, _f = t.blocklist, t.members, t.forgotten_blocks
DIGEST_KEY = "forgotten_member_digest"


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
    """Let the member back, also where they were blocked before their data was deleted and
    came back since."""
    where = and_(_b.c.community_id == community_id, _b.c.member_id == member_id)
    gone = bool(conn.execute(delete(_b).where(where)).rowcount)
    known = conn.execute(
        select(_m.c.platform, _m.c.external_id).where(_m.c.id == member_id)
    ).first()
    if known is not None and remove_forgotten(conn, community_id, *known):
        return True
    return gone


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
    found.update(_forgotten_among(conn, wanted - found.keys()))
    return {key: reason for key, reason in found.items() if key in wanted}


def _forgotten_among(
    conn: Connection, wanted: set[tuple[int, str, str]]
) -> dict[tuple[int, str, str], str]:
    """Those of `wanted` blocked before their data was deleted. A store that never forgot a
    blocked member has no key, and this costs one look-up by primary key."""
    key = stored_key(conn) if wanted else None
    if key is None:
        return {}
    by_digest = {(c, p, digest(key, p, x)): (c, p, x) for c, p, x in wanted}
    rows = conn.execute(
        select(_f.c.community_id, _f.c.platform, _f.c.digest).where(
            _f.c.digest.in_(sorted({d for _, _, d in by_digest})),
            _f.c.community_id.in_(sorted({c for c, _, _ in wanted})),
        )
    ).all()
    why = tr("blocked before their data was deleted")
    return {
        by_digest[(r.community_id, r.platform, r.digest)]: why
        for r in rows
        if (r.community_id, r.platform, r.digest) in by_digest
    }


def digest(key: bytes, platform: str, external_id: str) -> str:
    return hmac.new(key, f"{platform}:{external_id}".encode(), hashlib.sha256).hexdigest()


def stored_key(conn: Connection) -> bytes | None:
    """The store's key for digests of members' ids; None until one was needed."""
    k = t.store_keys
    found = conn.execute(select(k.c.value).where(k.c.name == DIGEST_KEY)).scalar()
    return bytes.fromhex(found) if found is not None else None


def made_key(conn: Connection) -> bytes:
    """The store's key for digests of members' ids, made the first time one is needed (a
    blocked member forgotten, or any member while engines may be running)."""
    if (found := stored_key(conn)) is not None:
        return found
    made = secrets.token_hex(32)
    conn.execute(t.store_keys.insert().values(name=DIGEST_KEY, value=made))
    return bytes.fromhex(made)


def keep_forgotten(conn: Connection, member_id: int) -> int:
    """Before a blocked member's data is deleted: keep each of their blocks as a digest of
    their id. How many communities keep them out."""
    rows = conn.execute(
        select(_b.c.community_id, _b.c.at, _m.c.platform, _m.c.external_id)
        .join(_m, _m.c.id == _b.c.member_id)
        .where(_b.c.member_id == member_id)
    ).all()
    if not rows:
        return 0
    key, now = made_key(conn), now_ms()
    for r in rows:
        d = digest(key, r.platform, r.external_id)
        where = (_f.c.community_id == r.community_id, _f.c.platform == r.platform, _f.c.digest == d)
        if conn.execute(select(_f.c.at).where(*where)).first() is None:
            conn.execute(
                _f.insert().values(
                    community_id=r.community_id,
                    platform=r.platform,
                    digest=d,
                    at=r.at,
                    forgotten_at=now,
                )
            )
    return len(rows)


def remove_forgotten(conn: Connection, community_id: int, platform: str, external_id: str) -> bool:
    """Let back a forgotten member by the id the operator gives: the store cannot list them."""
    key = stored_key(conn)
    if key is None:
        return False
    d = digest(key, platform, external_id)
    where = (_f.c.community_id == community_id, _f.c.platform == platform, _f.c.digest == d)
    return bool(conn.execute(delete(_f).where(*where)).rowcount)


def forgotten_counts(conn: Connection, community_ids: Iterable[int]) -> dict[int, int]:
    """Per community, how many forgotten members it still keeps out."""
    rows = conn.execute(
        select(_f.c.community_id, func.count())
        .where(_f.c.community_id.in_(list(community_ids)))
        .group_by(_f.c.community_id)
    )
    return {cid: n for cid, n in rows}


def of_member(conn: Connection, member_id: int) -> dict[int, str]:
    """The communities the member is blocked in, and why (also as a member forgotten once)."""
    rows = conn.execute(select(_b.c.community_id, _b.c.reason).where(_b.c.member_id == member_id))
    found = {r.community_id: r.reason for r in rows}
    known = conn.execute(
        select(_m.c.platform, _m.c.external_id).where(_m.c.id == member_id)
    ).first()
    if known is not None:
        communities = conn.execute(select(t.communities.c.id)).scalars()
        wanted = {(c, known.platform, known.external_id) for c in communities}
        for (community, _, _), why in _forgotten_among(conn, wanted).items():
            found.setdefault(community, why)
    return found


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
