"""A join raid's lockdown on the group page, and ending it early.

A lockdown (engine/policies.py, `RaidPolicy`) removes every newcomer for `lock_min` minutes and,
with `mute_all`, mutes the whole group. A referral campaign or a class starting can look like a
raid; the operator who knows it is one must be able to end it at once instead of watching real
newcomers be removed for half an hour. Ending it moves the store's lockdown mark out of the way
(the running engine reads it for every join), starts the count of joins again, and brings the
group's unlock forward, or calls off a lock not yet carried out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import Connection, select, update

from qunzhu import i18n
from qunzhu.engine import outbox
from qunzhu.engine.policies import RaidPolicy
from qunzhu.store import schema as t
from qunzhu.store.accounts import User, audit
from qunzhu.store.ingest import now_ms
from qunzhu.web import auth
from qunzhu.web.app import visible

i18n.register(
    {
        "Lockdown against a join raid since {since}, until {until}: newcomers are removed on "
        "arrival.": "防刷群防护中：{since} 起，至 {until}，新入群者一律移出。",
        "The whole group is muted meanwhile.": "期间全员禁言。",
        "End the lockdown now": "现在结束防护",
        "Ended a join raid's lockdown": "提前结束防刷群防护",
    }
)

router = APIRouter()
_pm, _d, _o = t.policy_marks, t.decisions, t.outbox
MARK = "lockdown"


@dataclass(frozen=True)
class Lockdown:
    decision_id: int  # the decision that started it (its lock and unlock hang from it)
    since: int  # ms
    until: int  # ms
    muted: bool


def current(conn: Connection, group_id: int, now: int | None = None) -> Lockdown | None:
    """The group's lockdown, if one is on now."""
    now = now_ms() if now is None else now
    since = conn.execute(
        select(_pm.c.at).where(
            _pm.c.group_id == group_id, _pm.c.policy == RaidPolicy.name, _pm.c.key == MARK
        )
    ).scalar()
    if not since:
        return None
    started = conn.execute(
        select(_d.c.id, _d.c.reasons)
        .where(
            _d.c.group_id == group_id,
            _d.c.policy == RaidPolicy.name,
            _d.c.reasons.like(f'%"lockdown_since":{since},%'),
            _d.c.reasons.like('%"joins":%'),
        )
        .order_by(_d.c.id.desc())
        .limit(1)
    ).first()
    if started is None:
        return None
    reasons = orjson.loads(started.reasons)
    until = since + int(reasons.get("minutes", 0)) * 60_000
    if now >= until:
        return None
    return Lockdown(started.id, since, until, bool(reasons.get("mute_all")))


def end(conn: Connection, group_id: int, lockdown: Lockdown) -> None:
    """Newcomers are let in again at once; the group is unlocked now, or never locked."""
    raid = (_pm.c.group_id == group_id, _pm.c.policy == RaidPolicy.name)
    conn.execute(update(_pm).where(*raid, _pm.c.key == MARK).values(at=0))
    # the count starts again: the raid's own joins are not the start of the next one
    counted = _pm.c.key.like("join%") & _pm.c.key.not_like("joined:%")
    conn.execute(update(_pm).where(*raid, counted).values(at=0))
    pending = (_o.c.decision_id == lockdown.decision_id, _o.c.status == outbox.PENDING)
    conn.execute(update(_o).where(*pending, _o.c.kind == "lock").values(status=outbox.CANCELLED))
    conn.execute(update(_o).where(*pending, _o.c.kind == "unlock").values(due_at=now_ms()))


def _end(request: Request, user: User, group_id: int, token: str | None) -> Lockdown | None:
    """Checked, ended, written in the audit log; the lockdown that was on, if one was."""
    auth.may_change(user)
    auth.check_csrf(request, token)
    visible(request, user, group_id)
    with auth.engine_of(request).begin() as conn:
        found = current(conn, group_id)
        if found is not None:
            end(conn, group_id, found)
            audit(conn, user, "raid.end", f"group:{group_id}", since=found.since)
    return found


@router.post("/groups/{group_id}/lockdown/end", include_in_schema=False)
def end_form(
    request: Request,
    group_id: auth.Id,
    user: auth.PageUser,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    _end(request, user, group_id, csrf_token)
    return RedirectResponse(f"/groups/{group_id}", status_code=303)


class LockdownOut(BaseModel):
    on: bool  # a lockdown is on now
    since: int | None  # ms
    until: int | None  # ms, when it ends by itself
    muted: bool  # the whole group is muted meanwhile


def _out(found: Lockdown | None) -> dict[str, object]:
    if found is None:
        return {"on": False, "since": None, "until": None, "muted": False}
    return {"on": True, "since": found.since, "until": found.until, "muted": found.muted}


@router.get(
    "/api/groups/{group_id}/lockdown",
    response_model=LockdownOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def lockdown_api(request: Request, group_id: auth.Id, user: auth.ApiUser) -> dict[str, object]:
    """Whether a join raid's lockdown is on in the group, since and until when."""
    visible(request, user, group_id)
    with auth.engine_of(request).connect() as conn:
        return _out(current(conn, group_id))


@router.post(
    "/api/groups/{group_id}/lockdown/end",
    response_model=LockdownOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def end_api(request: Request, group_id: auth.Id, user: auth.ApiUser) -> dict[str, object]:
    """End the lockdown now (newcomers let in, the group unlocked); the lockdown that was on.
    With the session cookie, send the page's CSRF token in the `X-CSRF-Token` header."""
    return _out(_end(request, user, group_id, request.headers.get("x-csrf-token")))
