"""Keeping the engine's inbox small and free of forgotten members.

Every live event leaves an inbox row: its payload is emptied once processed, but its key
stays, so that a platform delivering it again is ignored, and so does a row the engine made
itself to keep a sweep from happening twice. Those keys name people ("join:…:<member>:…",
"known_name:<group>:<member>"), and a busy community leaves a million rows a month. So rows
are kept only as long as a redelivery can come (Telegram keeps an update for a day) unless a
decision points to them, and `qunzhu forget` takes the member's out of the keys as it takes
them out of everything else.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update

from qunzhu.store import blocklist
from qunzhu.store import schema as t

KEPT_MS = 7 * 86_400_000  # a week: far past any platform's redelivery

_in, _d = t.inbox, t.decisions


def prune(conn: Connection, now_ms: int, kept_ms: int = KEPT_MS, limit: int = 10_000) -> int:
    """Delete up to `limit` processed rows older than `kept_ms` that no decision points to
    (a year's backlog goes a piece at a time, each its own short transaction, the event path
    never waiting long); how many."""
    old = (
        select(_in.c.id)
        .where(
            _in.c.processed_at.is_not(None),
            _in.c.received_at < now_ms - kept_ms,
            ~select(_d.c.id).where(_d.c.inbox_id == _in.c.id).exists(),
        )
        .limit(limit)
    )
    ids = list(conn.execute(old).scalars())
    if ids:
        conn.execute(delete(_in).where(_in.c.id.in_(ids)))
    return len(ids)


def forget(conn: Connection, platform: str, external_id: str) -> int:
    """After the member's decisions went: rows whose key names them (a ':'-separated part of
    it) are deleted, or, where another member's decision points to one, keep a digest of the
    key instead; events of theirs still waiting (the engine stopped) are deleted with their
    text. How many rows changed."""
    escaped = external_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    named = select(_in.c.id, _in.c.key).where(
        _in.c.key.like(f"%:{escaped}:%", escape="\\") | _in.c.key.like(f"%:{escaped}", escape="\\")
    )
    found = [r for r in conn.execute(named) if external_id in r.key.split(":")]
    waiting = conn.execute(
        select(_in.c.id, _in.c.payload).where(
            _in.c.processed_at.is_(None), _in.c.payload.contains(external_id, autoescape=True)
        )
    ).all()
    theirs = {r.id for r in waiting if _sent_by(r.payload, external_id)}
    referred = set(
        conn.execute(
            select(_d.c.inbox_id).where(_d.c.inbox_id.in_({r.id for r in found} | theirs))
        ).scalars()
    )
    gone = [r.id for r in found if r.id not in referred] + sorted(theirs - referred)
    if gone:
        conn.execute(delete(t.inbox_pictures).where(t.inbox_pictures.c.inbox_id.in_(gone)))
        conn.execute(delete(_in).where(_in.c.id.in_(gone)))
    key = blocklist.made_key(conn) if referred else b""
    for row in found:
        if row.id in referred:
            hidden = "forgotten:" + blocklist.digest(key, platform, row.key)
            conn.execute(update(_in).where(_in.c.id == row.id).values(key=hidden))
    return len(gone) + len(referred & {r.id for r in found})


def _sent_by(payload: str, external_id: str) -> bool:
    """Whether a waiting event is about the member: a person in it (a `[id, name]` pair, as
    the inbox writes `Person`) has their id."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return _names(data, external_id)


def _names(value: Any, external_id: str) -> bool:
    if isinstance(value, list):
        if len(value) == 2 and value[0] == external_id and isinstance(value[1], str | None):
            return True
        return any(_names(v, external_id) for v in value)
    if isinstance(value, dict):
        return any(_names(v, external_id) for v in value.values())
    return False
