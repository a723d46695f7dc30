"""The audit log: every change made through the console or the API, for admins to read.

Operators and viewers read the moderation trail of their own groups (/moderation/audit). The
whole log (logins, settings, tags, imports, labels) names people and groups of every
community, so it is an admin's page, and an admin's API.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import Connection, select

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.store import schema as t
from qunzhu.store.accounts import User
from qunzhu.web import auth
from qunzhu.web.app import render
from qunzhu.web.times import moment

PAGE_SIZE = 50
DETAILS_SHOWN = 300  # characters of an entry's details on the page; the API gives them all
# What the console writes (the callers of store.accounts.audit), as a person reads it.
ACTIONS = {
    "login": "Logged in",
    "group.settings": "Changed a group's settings",
    "member.tags": "Changed a member's tags",
    "member.trust": "Took a member's trust back",
    "member.strikes": "Forgave a member's strikes",
    "blocklist.add": "Put a member on a community's blocklist",
    "blocklist.remove": "Took a member off a community's blocklist",
    "import": "Imported an export",
    "import.failed": "An import failed",
    "moderation_label": "Labelled a moderation decision",
    "moderation_label.withdrawn": "Withdrew an answer on a moderation decision",
    "raid.end": "Ended a join raid's lockdown",
}

i18n.register(
    {
        "Audit log": "操作日志",
        "Every change made in the console or through the API: who, what, on what, when.": (
            "在控制台或通过 API 做的每一项修改：谁、做了什么、对象、时间。"
        ),
        "only an admin can read the audit log": "只有管理员可以查看操作日志",
        "Action": "操作",
        "All actions": "全部操作",
        "Account": "账号",
        "Target": "对象",
        "Details": "详情",
        "Filter": "筛选",
        "Nothing written down yet.": "还没有任何记录。",
        "Logged in": "登录",
        "Changed a group's settings": "修改群设置",
        "Changed a member's tags": "修改成员标签",
        "Put a member on a community's blocklist": "把成员加入社群黑名单",
        "Took a member off a community's blocklist": "把成员移出社群黑名单",
        "Took a member's trust back": "收回成员的信任",
        "Forgave a member's strikes": "清零成员的违规次数",
        "Imported an export": "导入聊天记录",
        "An import failed": "导入失败",
        "Labelled a moderation decision": "标注审核处理",
        "Withdrew an answer on a moderation decision": "撤回对审核处理的判断",
    }
)

router = APIRouter()


class Filters(BaseModel):
    action: str | None = None
    user: str | None = None
    page: int = 1


def filters(
    action: Annotated[str | None, Query(max_length=60)] = None,
    user: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Filters:
    return Filters(action=action or None, user=(user or "").strip() or None, page=page)


class EntryOut(BaseModel):
    id: int
    at: int  # milliseconds since the epoch
    user: str
    action: str
    target: str
    details: dict[str, Any]


class AuditOut(BaseModel):
    entries: list[EntryOut]  # newest first
    page: int
    more: bool  # whether an older page exists


def _admin(user: User) -> None:
    if not user.is_admin:
        raise HTTPException(403, tr("only an admin can read the audit log"))


def entries(conn: Connection, f: Filters) -> tuple[list[dict[str, Any]], bool]:
    """A page of the log, newest first, and whether there is an older one."""
    log = t.audit_log
    query = select(log).order_by(log.c.at.desc(), log.c.id.desc())
    if f.action:
        query = query.where(log.c.action == f.action)
    if f.user:
        query = query.where(log.c.user_name == f.user)
    rows = conn.execute(query.offset((f.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    found = [
        {
            "id": r.id,
            "at": r.at,
            "user": r.user_name,
            "action": r.action,
            "target": r.target,
            "details": _details(r.details),
        }
        for r in rows[:PAGE_SIZE]
    ]
    return found, len(rows) > PAGE_SIZE


def _details(text: str) -> dict[str, Any]:
    """Rows are written as JSON objects; anything else (a hand edit) is shown as it is."""
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}


def _shown(details: dict[str, Any]) -> str:
    text = "; ".join(
        f"{key}: {orjson.dumps(value).decode() if not isinstance(value, str) else value}"
        for key, value in details.items()
    )
    return text if len(text) <= DETAILS_SHOWN else text[: DETAILS_SHOWN - 1] + "…"


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request, user: auth.PageUser, f: Annotated[Filters, Depends(filters)]
) -> HTMLResponse:
    _admin(user)
    with auth.engine_of(request).connect() as conn:
        found, more = entries(conn, f)
        names = sorted(set(conn.execute(select(t.audit_log.c.user_name).distinct()).scalars()))
    rows = [
        {
            **e,
            "when": moment(e["at"], to="second"),
            "action_text": tr(ACTIONS[e["action"]]) if e["action"] in ACTIONS else e["action"],
            "details_text": _shown(e["details"]),
        }
        for e in found
    ]
    kept = {key: value for key, value in (("action", f.action), ("user", f.user)) if value}
    return render(
        request,
        "audit.html",
        {
            "entries": rows,
            "filters": f,
            "actions": [(key, tr(text)) for key, text in ACTIONS.items()],
            "names": names,
            "newer": urlencode({**kept, "page": f.page - 1}) if f.page > 1 else None,
            "older": urlencode({**kept, "page": f.page + 1}) if more else None,
        },
        user,
    )


@router.get("/api/audit", response_model=AuditOut, tags=["api"], responses=auth.API_RESPONSES)
def audit_api(
    request: Request, user: auth.ApiUser, f: Annotated[Filters, Depends(filters)]
) -> dict[str, Any]:
    """The audit log, newest first, 50 a page; `action` and `user` narrow it. Admins only."""
    _admin(user)
    with auth.engine_of(request).connect() as conn:
        found, more = entries(conn, f)
    return {"entries": found, "page": f.page, "more": more}
