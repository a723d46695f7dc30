"""The community blocklist in the console: who is kept out of a community's groups, why, since
when and on whose word; a person blocks someone from their page and takes them off here.

The running engine reads the list with every batch of events (`store.blocklist`), so a change
here holds from the blocked member's next join, join request or message in any group of the
community whose moderation shares bans (`moderation.blocklist`). Every change is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictBool,
    WithJsonSchema,
)
from sqlalchemy import Connection, select

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.store import blocklist
from qunzhu.store import schema as t
from qunzhu.store.accounts import User, audit
from qunzhu.web import auth
from qunzhu.web.app import render
from qunzhu.web.members import standing, visible_member
from qunzhu.web.moderation import tab_counts
from qunzhu.web.times import moment

router = APIRouter()

LIST_MAX = 500
CommunityId = Annotated[int, Path(ge=1, le=auth.ID_MAX)]
MemberId = Annotated[int, Path(ge=1, le=auth.ID_MAX)]

i18n.register(
    {
        "Who is kept out of your communities": "被挡在社群之外的成员",
        "Nobody is on a blocklist.": "黑名单上还没有人。",
        "A member banned in one group is kept out of the other groups of its community: "
        "removed at once from those they are in (within seconds while qunzhu run runs), "
        "their join requests refused, removed again if they come back. Groups whose "
        "moderation does not share bans are left alone.": (
            "在一个群被拉黑的成员，会被挡在同一社群的其他群之外：立即移出其所在的其他群"
            "（qunzhu run 运行时几秒内生效），入群申请被拒绝，再次入群也会被移出。"
            "审核设置里不共享黑名单的群不受影响。"
        ),
        "Community": "社群",
        "Member": "成员",
        "Reason": "原因",
        "Since": "加入时间",
        "Began in": "起因所在群",
        "the engine, after a ban": "系统（拉黑后自动加入）",
        "Take off the blocklist": "移出黑名单",
        "Block in this community": "加入本社群黑名单",
        "Blocked in {community}: {reason}": "已在「{community}」的黑名单上：{reason}",
        "Not blocked in {community}": "不在「{community}」的黑名单上",
        "why (required)": "原因（必填）",
        "no such community": "没有这个社群",
        "the member is in no group of that community": "该成员不在这个社群的任何群里",
    }
)


# -- reading and changing ------------------------------------------------------------------


def _communities(conn: Connection, user: User) -> dict[int, str]:
    c = t.communities
    rows = conn.execute(select(c.c.id, c.c.name).order_by(c.c.name)).all()
    return {r.id: r.name for r in rows if user.sees(r.id)}


def _community(conn: Connection, user: User, community_id: int) -> None:
    if community_id not in _communities(conn, user):
        raise HTTPException(404, tr("no such community"))


def _checked(conn: Connection, user: User, community_id: int, member_id: int) -> None:
    """404 unless the user sees the community and the member, and the member has been in one
    of the community's groups."""
    _community(conn, user, community_id)
    visible_member(conn, user, member_id)
    ms = t.memberships
    groups = list(conn.execute(select(ms.c.group_id).where(ms.c.member_id == member_id)).scalars())
    if not any(s["community_id"] == community_id for s in standing(conn, user, member_id, groups)):
        raise HTTPException(404, tr("the member is in no group of that community"))


def _reason(text: str) -> str:
    """The reason with its spaces folded; ValueError (a sentence) when there is none."""
    cleaned = " ".join(text.split())
    if not cleaned or len(cleaned) > blocklist.REASON_MAX:
        raise ValueError(tr("say why (1 to {n} characters)", n=blocklist.REASON_MAX))
    return cleaned


def block(conn: Connection, user: User, community_id: int, member_id: int, reason: str) -> bool:
    """A person's block; False when the member was on the list already (its first reason
    stays)."""
    auth.may_change(user)
    _checked(conn, user, community_id, member_id)
    try:
        why = _reason(reason)
    except ValueError as error:  # the form's own field said it; this is for a hand-made post
        raise HTTPException(422, str(error)) from None
    added = blocklist.add(conn, community_id, member_id, why, added_by=user.name)
    if added:
        audit(
            conn, user, "blocklist.add", f"member:{member_id}", community=community_id, reason=why
        )
    return added


def unblock(conn: Connection, user: User, community_id: int, member_id: int) -> bool:
    """Whoever the list shows may be taken off it, even someone blocked from the command line
    before they ever came (no membership to see them by)."""
    auth.may_change(user)
    _community(conn, user, community_id)
    gone = blocklist.remove(conn, community_id, member_id)
    if gone:
        audit(conn, user, "blocklist.remove", f"member:{member_id}", community=community_id)
    return gone


def _rows(conn: Connection, user: User) -> list[dict[str, Any]]:
    names = _communities(conn, user)
    return [
        {
            "community_id": e.community_id,
            "community": names[e.community_id],
            "member_id": e.member_id,
            "name": e.name or e.external_id,
            "met": e.name is not None,  # blocked from the command line before they came: no page
            "platform": e.platform,
            "platform_id": e.external_id,
            "reason": e.reason,
            "group_id": e.group_id,
            "group": e.group_name,
            "decision_id": e.decision_id,
            "added_by": e.added_by,
            "at": e.at,
        }
        for e in blocklist.entries(conn, names, LIST_MAX)
    ]


# -- pages ---------------------------------------------------------------------------------


@router.get("/moderation/blocklist", response_class=HTMLResponse, include_in_schema=False)
def blocklist_page(request: Request, user: auth.PageUser) -> HTMLResponse:
    with auth.engine_of(request).connect() as conn:
        rows = _rows(conn, user)
        names = _communities(conn, user)
        forgotten = [
            {"community": names[cid], "n": n}
            for cid, n in sorted(blocklist.forgotten_counts(conn, names).items())
        ]
    for row in rows:
        row["since"] = moment(row["at"], to="minute")
    context = {"rows": rows, "forgotten": forgotten, "waiting": tab_counts(request, user)}
    return render(request, "moderation_blocklist.html", context, user)


@router.post("/moderation/blocklist", include_in_schema=False)
def blocklist_form(
    request: Request,
    user: auth.PageUser,
    change: Annotated[Literal["add", "remove"], Form()],
    community_id: Annotated[int, Form(ge=1, le=auth.ID_MAX)],
    member_id: Annotated[int, Form(ge=1, le=auth.ID_MAX)],
    reason: Annotated[str, Form(max_length=5000)] = "",
    back: Annotated[Literal["", "list"], Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The member page's block form and the remove buttons (there and on the list): done in
    one transaction, back to where the button was."""
    auth.may_change(user)
    auth.check_csrf(request, csrf_token)
    with auth.engine_of(request).begin() as conn:
        if change == "add":
            block(conn, user, community_id, member_id, reason)
        else:
            unblock(conn, user, community_id, member_id)
    where = "/moderation/blocklist" if back == "list" else f"/members/{member_id}"
    return RedirectResponse(where, status_code=303)


# -- API -----------------------------------------------------------------------------------


class BlockedOut(BaseModel):
    community_id: int
    community: str
    member_id: int
    name: str
    platform: str
    platform_id: str
    reason: str
    group_id: int | None  # where it began; None: a person blocked them from their page
    group: str | None
    decision_id: int | None  # the ban that put them there
    added_by: str | None  # the console user; None: the engine, after a ban
    at: int  # ms


class BlocklistOut(BaseModel):
    blocked: list[BlockedOut]  # newest first, at most 500


def _exactly(wanted: bool) -> Any:
    """`blocked` as JSON's true or false, this one only (no 1 for true)."""

    def check(value: bool) -> bool:
        if value is not wanted:
            raise ValueError(f"expected {str(wanted).lower()}")
        return value

    schema = WithJsonSchema({"type": "boolean", "const": wanted})
    return Annotated[StrictBool, AfterValidator(check), schema]


Reason = Annotated[
    str,
    AfterValidator(_reason),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": blocklist.REASON_MAX,
            "pattern": r"[^\s\x1c-\x1f\x85]",  # not only spaces (see members.Tag)
        }
    ),
]


class BlockIn(BaseModel):
    """On the list, and why (required)."""

    model_config = ConfigDict(extra="forbid")

    blocked: _exactly(True)  # type: ignore[valid-type]
    reason: Reason


class UnblockIn(BaseModel):
    """Off the list."""

    model_config = ConfigDict(extra="forbid")

    blocked: _exactly(False)  # type: ignore[valid-type]


class BlockOut(BaseModel):
    community_id: int
    member_id: int
    blocked: bool  # on the list now
    changed: bool  # False: it already was as asked (a block keeps its first reason)


@router.get(
    "/api/blocklist", response_model=BlocklistOut, tags=["api"], responses=auth.API_RESPONSES
)
def blocklist_api(request: Request, user: auth.ApiUser) -> dict[str, Any]:
    """Who is kept out of the caller's communities, why and since when."""
    with auth.engine_of(request).connect() as conn:
        return {"blocked": _rows(conn, user)}


@router.put(
    "/api/blocklist/{community_id}/{member_id}",
    response_model=BlockOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def standing_api(
    request: Request,
    community_id: CommunityId,
    member_id: MemberId,
    body: BlockIn | UnblockIn,
    user: auth.ApiUser,
) -> dict[str, Any]:
    """Put a member of the community's groups on its blocklist (`blocked: true` and a reason)
    or take them off (`blocked: false`). With the session cookie, send the page's CSRF token in
    `X-CSRF-Token`."""
    auth.may_change(user)
    auth.check_csrf(request, request.headers.get("x-csrf-token"))
    with auth.engine_of(request).begin() as conn:
        if isinstance(body, BlockIn):
            changed = block(conn, user, community_id, member_id, body.reason)
        else:
            changed = unblock(conn, user, community_id, member_id)
    return {
        "community_id": community_id,
        "member_id": member_id,
        "blocked": body.blocked,
        "changed": changed,
    }
