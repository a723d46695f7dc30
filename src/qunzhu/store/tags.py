"""Tags operators give members: "VIP", "讲师", "广告". A member's tags follow them across the
groups of one platform (they are the member's, not a membership's)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, delete, select

from qunzhu.i18n import tr
from qunzhu.store import schema as t
from qunzhu.store.bulk import insert
from qunzhu.store.ingest import now_ms
from qunzhu.store.prepared import Prepared

TAG_MAX = 100

_OF_PERSON = Prepared(
    select(t.member_tags.c.tag)
    .join(t.members, t.members.c.id == t.member_tags.c.member_id)
    .where(
        t.members.c.platform == bindparam("b_platform"),
        t.members.c.external_id == bindparam("b_external"),
    )
)


def add(conn: Connection, member_id: int, tags: Iterable[str]) -> int:
    """Give the member these tags; returns how many were new."""
    rows = [(member_id, tag, now_ms()) for tag in _clean(tags)]
    return insert(
        conn, t.member_tags, ("member_id", "tag", "created_at"), rows, "ON CONFLICT DO NOTHING"
    )


def remove(conn: Connection, member_id: int, tags: Iterable[str]) -> int:
    mt = t.member_tags
    query = delete(mt).where(mt.c.member_id == member_id, mt.c.tag.in_(_clean(tags)))
    return conn.execute(query).rowcount


def of_member(conn: Connection, member_id: int) -> list[str]:
    mt = t.member_tags
    return list(
        conn.execute(
            select(mt.c.tag).where(mt.c.member_id == member_id).order_by(mt.c.tag)
        ).scalars()
    )


def of_person(conn: Connection, platform: str, external_id: str) -> frozenset[str]:
    """The tags of whoever has this platform id (none for someone the store has not met)."""
    rows = _OF_PERSON.run(conn, {"b_platform": platform, "b_external": external_id}).fetchall()
    return frozenset(tag for (tag,) in rows)


def _clean(tags: Iterable[str]) -> list[str]:
    out = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > TAG_MAX:
            raise ValueError(tr("not a tag: {tag!r} (1 to {n} characters)", tag=tag, n=TAG_MAX))
        out.append(tag)
    return sorted(set(out))
