"""The console's members: who is in the groups a user may see, one member's history, their tags.

Isolation: every query here is bounded by `visible_groups`, so a member shows up only through a
membership in a group the user may see, and their history lists only those groups; a member
without one is 404, like an id that does not exist.

Levels are `analytics.people.levels`, the reports' definition, ranked on the members' message
counts (`memberships.message_count`) in the groups shown: all the user's groups, or the one group
chosen. The list stays fast for a community of 50,000 members: one grouped query gives every
member's messages, last message and highest role (levels need the whole population), one more
finds who matches the search or the tag, and the page's 50 rows are filled in with three queries.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from sqlalchemy import Connection, case, func, or_, select

from qunzhu import i18n
from qunzhu.analytics import people
from qunzhu.analytics.metrics import STAFF
from qunzhu.engine.policies import ModerationPolicy, strike_keys, trust_marks
from qunzhu.i18n import tr
from qunzhu.moderation.enforcement import STRIKE_MEMORY_S
from qunzhu.store import blocklist
from qunzhu.store import schema as t
from qunzhu.store import tags as member_tags
from qunzhu.store.accounts import User, audit, visible_groups
from qunzhu.web import auth
from qunzhu.web.app import render
from qunzhu.web.times import moment

i18n.register(
    {
        "Members of your groups": "你的群里的成员",
        "{n} members match.": "共 {n} 位成员符合条件。",
        "Name, past name or platform id": "名字、曾用名或平台 ID",
        "Any level": "任意层级",
        "Any role": "任意角色",
        "Any group": "任意群",
        "Tag": "标签",
        "Tags": "标签",
        "Search": "搜索",
        "Clear the filters": "清除筛选",
        "Platform id": "平台 ID",
        "In groups": "所在群",
        "Last message": "最近发言",
        "First message": "首次发言",
        "No member matches.": "没有符合条件的成员。",
        "Previous page": "上一页",
        "Next page": "下一页",
        "Page {page} of {pages}": "第 {page} / {pages} 页",
        "Levels rank members by their messages in the groups shown: the top {ultra}% ultra, "
        "the next {fan}% fan, the next {engaged}% engaged, the others who spoke quiet; "
        "members who never spoke are silent.": (
            "层级按成员在所显示的群中的消息数排名：前 {ultra}% 为核心，其后 {fan}% 为粉丝，"
            "再后 {engaged}% 为参与，其余发过言的为偶尔发言；从未发言的为沉默。"
        ),
        "group owner": "群主",
        "group admin": "群管理员",
        "ordinary member": "普通成员",
        "known by name only": "仅知道名字",
        "History in your groups": "在你的群中的经历",
        "Joined at": "加入时间",
        "Left at": "退出时间",
        "Names used": "用过的名字",
        "First seen": "首次出现",
        "Last seen": "最后出现",
        "No tags.": "没有标签。",
        "Add tags": "添加标签",
        "separate tags with commas or spaces": "多个标签用逗号或空格分隔",
        "Add": "添加",
        "trusted by a person": "已人工信任",
        "earned by clean messages": "发言良好，已获信任",
        "checked": "逐条检查",
        "Take trust back": "收回信任",
        "Strikes (7 days): {n}": "违规次数（7 天内）：{n}",
        "Forgive": "清零",
        "Remove the tag {tag}": "移除标签 {tag}",
        "Recent messages in your groups": "在你的群中的最近消息",
        "Time": "时间",
        "Text": "内容",
        "No message in your groups.": "在你的群中没有消息。",
        "Back to the members": "返回成员列表",
        "no such member": "没有这个成员",
        "[image]": "[图片]",
        "[voice]": "[语音]",
        "[video]": "[视频]",
        "[sticker]": "[表情]",
        "[file]": "[文件]",
        "[red packet]": "[红包]",
        "[transfer]": "[转账]",
        "[card]": "[卡片]",
        "[system message]": "[系统消息]",
        "[recalled]": "[已撤回]",
    }
)

router = APIRouter()

PER_PAGE = 50
RECENT_MESSAGES = 20
ROLES = ("owner", "admin", "member")  # the role filter: owner, any other staff, everyone else
ID_MAX = auth.ID_MAX
_ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}
_RANK_ROLE = {rank: name for name, rank in _ROLE_RANK.items()}
_ADMINS = sorted(STAFF - {"owner"})
_SPLIT = re.compile(r"[\s,，、;；]+")

MemberId = Annotated[int, Path(ge=1, le=ID_MAX)]


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list is narrowed to; the same query parameters for the page and the API."""

    q: str = ""
    level: str = ""
    tag: str = ""
    role: str = ""
    group: int | None = None
    page: int = 1

    def query(self, page: int | None = None) -> str:
        """The query string of this list at another page (paging links keep the filters)."""
        pairs = {"q": self.q, "level": self.level, "tag": self.tag, "role": self.role}
        kept = {k: v for k, v in pairs.items() if v}
        if self.group is not None:
            kept["group"] = str(self.group)
        kept["page"] = str(self.page if page is None else page)
        return urlencode(kept)


def filters(
    q: Annotated[
        str, Query(max_length=200, description="part of a name, a past name or a platform id")
    ] = "",
    level: Annotated[
        str, Query(pattern="^(" + "|".join(people.LEVELS) + ")?$", description="a level")
    ] = "",
    tag: Annotated[str, Query(max_length=member_tags.TAG_MAX, description="a tag")] = "",
    role: Annotated[
        str, Query(pattern="^(" + "|".join(ROLES) + ")?$", description="highest role shown")
    ] = "",
    group: Annotated[str, Query(pattern=r"^\d{0,9}$", description="one group's id")] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Filters:
    """Empty parameters mean "any", as a submitted form sends them."""
    return Filters(q.strip(), level, tag.strip(), role, int(group) if group else None, page)


@dataclass
class Listing:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def listing(conn: Connection, user: User, f: Filters) -> Listing:
    """One page of the members the filters match, busiest first."""
    shown = visible_groups(conn, user)
    if f.group is not None and f.group not in shown:
        raise HTTPException(404, tr("no such group"))
    scope = [f.group] if f.group is not None else shown
    stats = _scope_stats(conn, scope)
    level_of = _levels(stats)
    candidates = _matching(conn, scope, f.q, f.tag) if f.q or f.tag else None
    ids = [
        mid
        for mid, s in stats.items()
        if (candidates is None or mid in candidates)
        and (not f.level or level_of[mid] == f.level)
        and (not f.role or s.rank == _ROLE_RANK[f.role])
    ]
    ids.sort(key=lambda mid: (-stats[mid].messages, mid))
    pages = max(1, math.ceil(len(ids) / PER_PAGE))
    chosen = ids[(f.page - 1) * PER_PAGE : f.page * PER_PAGE]
    members, groups, tags = _details(conn, chosen, shown)
    rows = []
    for mid in chosen:
        m, s = members[mid], stats[mid]
        rows.append(
            {
                "id": mid,
                "name": m.display_name or m.external_id,
                "platform": m.platform,
                "platform_id": m.external_id,
                "provisional": bool(m.provisional),
                "groups": groups.get(mid, []),
                "level": level_of[mid],
                "role": _RANK_ROLE[s.rank],
                "messages": s.messages,
                "last_message_at": s.last_message_at,
                "tags": tags.get(mid, []),
            }
        )
    return Listing(rows, len(ids), f.page, pages)


def _scope_stats(conn: Connection, scope: list[int]) -> dict[int, Any]:
    """Every member of these groups, in id order: one grouped query over their memberships.
    Each row has `messages`, `last_message_at` and `rank`, their highest role (`_ROLE_RANK`)."""
    ms = t.memberships
    rank = case(
        (ms.c.role == "owner", _ROLE_RANK["owner"]),
        (ms.c.role.in_(_ADMINS), _ROLE_RANK["admin"]),
        else_=_ROLE_RANK["member"],
    )
    rows = conn.execute(
        select(
            ms.c.member_id,
            func.coalesce(func.sum(ms.c.message_count), 0).label("messages"),
            func.max(ms.c.last_message_at).label("last_message_at"),
            func.max(rank).label("rank"),
        )
        .where(ms.c.group_id.in_(scope))
        .group_by(ms.c.member_id)
        .order_by(ms.c.member_id)
    )
    return {row.member_id: row for row in rows}


def _levels(stats: dict[int, Any]) -> dict[int, str]:
    """The reports' levels (`people.levels`), scored by messages: ranking is all they use."""
    return people.levels({mid: float(s.messages) for mid, s in stats.items()}, set(stats))


def _matching(conn: Connection, scope: list[int], q: str, tag: str) -> set[int]:
    """Members of these groups whose name, a past name or platform id contains `q`, and who
    carry `tag`."""
    m, ms, mn, mt = t.members, t.memberships, t.member_names, t.member_tags
    query = select(m.c.id).where(m.c.id.in_(select(ms.c.member_id).where(ms.c.group_id.in_(scope))))
    if q:
        past = select(mn.c.member_id).where(mn.c.name.icontains(q, autoescape=True))
        query = query.where(
            or_(
                m.c.display_name.icontains(q, autoescape=True),
                m.c.external_id.icontains(q, autoescape=True),
                m.c.id.in_(past),
            )
        )
    if tag:
        query = query.where(m.c.id.in_(select(mt.c.member_id).where(mt.c.tag == tag)))
    return set(conn.execute(query).scalars())


def _details(
    conn: Connection, ids: list[int], shown: list[int]
) -> tuple[dict[int, Any], dict[int, list[dict[str, Any]]], dict[int, list[str]]]:
    """The rows of a page's members, the visible groups each is in, and their tags."""
    if not ids:
        return {}, {}, {}
    m, ms, g, mt = t.members, t.memberships, t.groups, t.member_tags
    members = {r.id: r for r in conn.execute(select(m).where(m.c.id.in_(ids)))}
    groups: dict[int, list[dict[str, Any]]] = {}
    for mid, gid, name in conn.execute(
        select(ms.c.member_id, g.c.id, g.c.name)
        .join(g, g.c.id == ms.c.group_id)
        .where(ms.c.member_id.in_(ids), ms.c.group_id.in_(shown))
        .order_by(g.c.name, g.c.id)
    ):
        groups.setdefault(mid, []).append({"id": gid, "name": name})
    tags: dict[int, list[str]] = {}
    for mid, tag in conn.execute(
        select(mt.c.member_id, mt.c.tag).where(mt.c.member_id.in_(ids)).order_by(mt.c.tag)
    ):
        tags.setdefault(mid, []).append(tag)
    return members, groups, tags


def visible_member(
    conn: Connection, user: User, member_id: int, shown: list[int] | None = None
) -> Any:
    """The member's row, or 404 unless they have a membership in a group the user may see
    (`shown`: those groups, when the caller has them already)."""
    m, ms = t.members, t.memberships
    groups = visible_groups(conn, user) if shown is None else shown
    inside = select(ms.c.member_id).where(ms.c.member_id == member_id, ms.c.group_id.in_(groups))
    row = conn.execute(select(m).where(m.c.id == member_id, m.c.id.in_(inside))).first()
    if row is None:
        raise HTTPException(404, tr("no such member"))
    return row


def history(conn: Connection, user: User, member_id: int) -> dict[str, Any]:
    """One member as the user may see them: their memberships in the user's groups, every name
    they bore, their tags, their last messages there. 404 without a visible membership."""
    ms, g, mn, msg = t.memberships, t.groups, t.member_names, t.messages
    shown = visible_groups(conn, user)
    member = visible_member(conn, user, member_id, shown)
    memberships = conn.execute(
        select(ms, g.c.name.label("group_name"), g.c.tz)
        .join(g, g.c.id == ms.c.group_id)
        .where(ms.c.member_id == member_id, ms.c.group_id.in_(shown))
        .order_by(g.c.name, g.c.id)
    ).all()
    names = conn.execute(
        select(mn.c.name, mn.c.first_seen, mn.c.last_seen)
        .where(mn.c.member_id == member_id)
        .order_by(mn.c.first_seen, mn.c.name)
    ).all()
    recent: list[dict[str, Any]] = []
    for row in memberships:  # one query a group, through the (group, time) index
        if row.last_message_at is None:
            continue
        for r in conn.execute(
            select(msg.c.id, msg.c.sent_at, msg.c.kind, msg.c.text)
            .where(
                msg.c.group_id == row.group_id,
                msg.c.sent_at <= row.last_message_at,
                msg.c.sender_id == member_id,
            )
            .order_by(msg.c.sent_at.desc(), msg.c.id.desc())
            .limit(RECENT_MESSAGES)
        ):
            recent.append(
                {
                    "id": r.id,
                    "group_id": row.group_id,
                    "group": row.group_name,
                    "tz": row.tz,
                    "sent_at": r.sent_at,
                    "kind": r.kind,
                    "text": r.text or "",
                }
            )
    recent.sort(key=lambda r: (-r["sent_at"], -r["id"]))
    blocked = standing(conn, user, member_id, [r.group_id for r in memberships])
    trust = _trust(conn, [r.group_id for r in memberships], member.external_id)
    strikes = _strikes(conn, [r.group_id for r in memberships], member.external_id)
    stats = _scope_stats(conn, shown)
    return {
        "id": member.id,
        "name": member.display_name or member.external_id,
        "platform": member.platform,
        "platform_id": member.external_id,
        "provisional": bool(member.provisional),
        "level": _levels(stats).get(member_id, "silent"),
        "role": _RANK_ROLE[stats[member_id].rank] if member_id in stats else "member",
        "messages": sum(r.message_count for r in memberships),
        "tags": member_tags.of_member(conn, member_id),
        "memberships": [
            {
                "group_id": r.group_id,
                "group": r.group_name,
                "tz": r.tz,
                "role": r.role,
                "joined_at": r.joined_at,
                "left_at": r.left_at,
                "messages": r.message_count,
                "first_message_at": r.first_message_at,
                "last_message_at": r.last_message_at,
                "trusted": trust.get(r.group_id),
                "strikes": strikes.get(r.group_id, 0),
            }
            for r in memberships
        ],
        "names": [
            {"name": r.name, "first_seen": r.first_seen, "last_seen": r.last_seen} for r in names
        ],
        "recent": recent[:RECENT_MESSAGES],
        "blocklist": blocked,
    }


def standing(
    conn: Connection, user: User, member_id: int, groups: list[int]
) -> list[dict[str, Any]]:
    """For each community of these groups (the member's, among the user's): whether the
    member is on its blocklist, and why."""
    c, g = t.communities, t.groups
    rows = conn.execute(
        select(c.c.id, c.c.name)
        .where(c.c.id.in_(select(g.c.community_id).where(g.c.id.in_(groups))))
        .order_by(c.c.name, c.c.id)
    ).all()
    reasons = blocklist.of_member(conn, member_id)
    return [
        {"community_id": r.id, "community": r.name, "reason": reasons.get(r.id)}
        for r in rows
        if user.sees(r.id)
    ]


def change_tags(
    conn: Connection, user: User, member_id: int, add: list[str], remove: list[str]
) -> tuple[list[str], list[str]]:
    """Remove, then add; returns what actually changed (also what the audit log says).
    A bad tag raises ValueError (a sentence for the user); the caller's transaction then rolls
    back, so a request with one bad tag changes nothing."""
    before = set(member_tags.of_member(conn, member_id))
    if remove:
        member_tags.remove(conn, member_id, remove)
    if add:
        member_tags.add(conn, member_id, add)
    after = set(member_tags.of_member(conn, member_id))
    added, removed = sorted(after - before), sorted(before - after)
    if added or removed:
        audit(conn, user, "member.tags", f"member:{member_id}", added=added, removed=removed)
    return added, removed


def split_tags(text: str) -> list[str]:
    """Tags typed into the form: separated by commas (either width), 、, semicolons or spaces."""
    return [part for part in _SPLIT.split(text) if part]


# -- pages ---------------------------------------------------------------------------------


def _trust(conn: Connection, groups: list[int], member: str) -> dict[int, str]:
    """Why the moderation trusts the member in each of these groups ("console" or "earned");
    groups where it checks them are absent. A person's word wins over earned trust."""
    pm, reasons = t.policy_marks, trust_marks(member)
    rows = conn.execute(
        select(pm.c.group_id, pm.c.key).where(
            pm.c.policy == ModerationPolicy.name,
            pm.c.group_id.in_(groups),
            pm.c.key.in_(list(reasons)),
        )
    ).all()
    found: dict[int, str] = {}
    for group_id, key in sorted(rows, key=lambda r: reasons[r.key] != "console"):
        found.setdefault(group_id, reasons[key])
    return found


def _strikes(conn: Connection, groups: list[int], member: str) -> dict[int, int]:
    """The member's strikes of the last STRIKE_MEMORY_S in each of these groups: what the
    ladder's next rung climbs from."""
    pm = t.policy_marks
    since = int((time.time() - STRIKE_MEMORY_S) * 1000)
    rows = conn.execute(
        select(pm.c.group_id, func.count())
        .where(
            pm.c.policy == ModerationPolicy.name,
            pm.c.group_id.in_(groups),
            pm.c.key.in_(strike_keys(member)),
            pm.c.at > since,
        )
        .group_by(pm.c.group_id)
    ).all()
    return {group_id: n for group_id, n in rows}


def forgive_strikes(conn: Connection, user: User, member_id: int, group_id: int) -> int:
    """The member starts the ladder again in this group (their next ad is a warning): a person
    decided the earlier ones should not count. How many strikes went."""
    gone = _drop_marks(conn, user, member_id, group_id, strike_keys)
    if gone:
        audit(conn, user, "member.strikes", f"member:{member_id}", group=group_id, forgiven=gone)
    return gone


def take_trust_back(conn: Connection, user: User, member_id: int, group_id: int) -> bool:
    """The moderation checks the member again in this group; they earn trust again only with
    new clean messages (the running engine counts from zero: it handed the count to the store
    when trust was earned). Whether there was trust to take."""
    gone = _drop_marks(conn, user, member_id, group_id, lambda m: list(trust_marks(m)))
    if gone:
        audit(conn, user, "member.trust", f"member:{member_id}", group=group_id, taken=True)
    return bool(gone)


def _drop_marks(
    conn: Connection,
    user: User,
    member_id: int,
    group_id: int,
    keys: Callable[[str], list[str]],
) -> int:
    """Delete the member's moderation marks `keys` names in one of the user's groups (404 for
    a member or group they may not see); how many went."""
    member = visible_member(conn, user, member_id)
    if group_id not in visible_groups(conn, user):
        raise HTTPException(404, tr("no such group"))
    pm = t.policy_marks
    return int(
        conn.execute(
            pm.delete().where(
                pm.c.policy == ModerationPolicy.name,
                pm.c.group_id == group_id,
                pm.c.key.in_(keys(member.external_id)),
            )
        ).rowcount
    )


def _labels() -> dict[str, dict[str, str]]:
    return {
        "levels": {
            "silent": tr("silent"),
            "quiet": tr("quiet"),
            "engaged": tr("engaged"),
            "fan": tr("fan"),
            "ultra": tr("ultra"),
        },
        "roles": {
            "owner": tr("group owner"),
            "admin": tr("group admin"),
            "member": tr("ordinary member"),
        },
    }


def _kind_names() -> dict[str, str]:
    """What stands for a message without text (a picture, a sticker...)."""
    return {
        "image": tr("[image]"),
        "voice": tr("[voice]"),
        "video": tr("[video]"),
        "sticker": tr("[sticker]"),
        "file": tr("[file]"),
        "red_packet": tr("[red packet]"),
        "transfer": tr("[transfer]"),
        "card": tr("[card]"),
        "system": tr("[system message]"),
        "recall": tr("[recalled]"),
    }


def _role_name(role: str) -> str:
    """A membership's raw role (vice_owner, kol...) as one of the three the list filters on."""
    key = role if role == "owner" else "admin" if role in STAFF else "member"
    return _labels()["roles"][key]


def _cut_note() -> str:
    shares = dict(people.LEVEL_CUTS)
    return tr(
        "Levels rank members by their messages in the groups shown: the top {ultra}% ultra, "
        "the next {fan}% fan, the next {engaged}% engaged, the others who spoke quiet; "
        "members who never spoke are silent.",
        ultra=round(shares["ultra"] * 100),
        fan=round((shares["fan"] - shares["ultra"]) * 100),
        engaged=round((shares["engaged"] - shares["fan"]) * 100),
    )


@router.get("/members", response_class=HTMLResponse, include_in_schema=False)
def members_page(
    request: Request, user: auth.PageUser, f: Annotated[Filters, Depends(filters)]
) -> HTMLResponse:
    with auth.engine_of(request).connect() as conn:
        found = listing(conn, user, f)
        g = t.groups
        groups = conn.execute(
            select(g.c.id, g.c.name)
            .where(g.c.id.in_(visible_groups(conn, user)))
            .order_by(g.c.name, g.c.id)
        ).all()
    labels = _labels()
    rows = [
        {
            **r,
            "level_name": labels["levels"][r["level"]],
            "role_name": labels["roles"][r["role"]],
            "last": moment(r["last_message_at"], to="day", none="–"),
        }
        for r in found.rows
    ]
    return render(
        request,
        "members.html",
        {
            "rows": rows,
            "found": found,
            "f": f,
            "groups": groups,
            "labels": labels,
            "note": _cut_note(),
        },
        user,
    )


def _member_page(
    request: Request,
    user: User,
    member_id: int,
    error: str | None = None,
    typed: str = "",
    status: int = 200,
) -> HTMLResponse:
    """The member's page; after a refused tag, with the error and what was typed, to fix."""
    with auth.engine_of(request).connect() as conn:
        member = history(conn, user, member_id)
    labels = _labels()
    member["level_name"] = labels["levels"][member["level"]]
    member["role_name"] = labels["roles"][member["role"]]
    trust_names = {"console": tr("trusted by a person"), "earned": tr("earned by clean messages")}
    for r in member["memberships"]:
        r["role_name"] = _role_name(r["role"])
        r["trust_name"] = trust_names.get(r["trusted"], tr("checked"))
        for key in ("joined_at", "left_at", "first_message_at", "last_message_at"):
            r[key.removesuffix("_at") + "_text"] = moment(r[key], r["tz"], none="–")
    for r in member["names"]:
        r["first_text"], r["last_text"] = (
            moment(r["first_seen"], none="–"),
            moment(r["last_seen"], none="–"),
        )
    for r in member["recent"]:
        r["when"] = moment(r["sent_at"], r["tz"], none="–")
        if not r["text"]:
            r["text"] = _kind_names().get(r["kind"], f"[{r['kind']}]")
    context = {"m": member, "error": error, "typed": typed}
    return render(request, "member.html", context, user, status)


@router.get("/members/{member_id}", response_class=HTMLResponse, include_in_schema=False)
def member_page(request: Request, member_id: MemberId, user: auth.PageUser) -> HTMLResponse:
    return _member_page(request, user, member_id)


@router.post("/members/{member_id}/tags", include_in_schema=False)
def member_tags_form(
    request: Request,
    member_id: MemberId,
    user: auth.PageUser,
    csrf_token: Annotated[str, Form()] = "",
    add: Annotated[str, Form(max_length=5000)] = "",
    remove: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The tag form and the remove buttons: back to the member's page, or the page again with
    the error (400) when a tag is refused; then nothing was changed."""
    auth.may_change(user)
    auth.check_csrf(request, csrf_token)
    dropped = [tag.strip() for tag in remove or [] if tag.strip()]
    try:
        with auth.engine_of(request).begin() as conn:
            visible_member(conn, user, member_id)
            change_tags(conn, user, member_id, split_tags(add), dropped)
    except ValueError as error:
        return _member_page(request, user, member_id, str(error), add, 400)
    return RedirectResponse(f"/members/{member_id}", status_code=303)


_BUTTONS: dict[str, Callable[[Connection, User, int, int], object]] = {
    "trust": take_trust_back,
    "strikes": forgive_strikes,
}


@router.post("/members/{member_id}/{button}", include_in_schema=False)
def membership_button(
    request: Request,
    member_id: MemberId,
    button: Literal["trust", "strikes"],
    user: auth.PageUser,
    group_id: Annotated[int, Form(ge=1, le=2**62)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """A button of one membership on the member's page ("take trust back", "forgive" the
    strikes): checked, done in one transaction, back to the page. After /tags, which it
    would otherwise take."""
    auth.may_change(user)
    auth.check_csrf(request, csrf_token)
    with auth.engine_of(request).begin() as conn:
        _BUTTONS[button](conn, user, member_id, group_id)
    return RedirectResponse(f"/members/{member_id}", status_code=303)


# -- API -----------------------------------------------------------------------------------


class GroupRef(BaseModel):
    id: int
    name: str


class MemberRow(BaseModel):
    id: int
    name: str
    platform: str
    platform_id: str
    provisional: bool  # known by name only
    groups: list[GroupRef]  # the caller's groups the member is in
    level: str  # silent | quiet | engaged | fan | ultra
    role: str  # owner | admin | member: the highest in the groups counted
    messages: int
    last_message_at: int | None  # ms
    tags: list[str]


class MembersOut(BaseModel):
    members: list[MemberRow]
    total: int  # members matching, over all pages
    page: int
    pages: int
    per_page: int


class MembershipOut(BaseModel):
    group_id: int
    group: str
    role: str  # as the platform says: owner, admin, vice_owner, member...
    joined_at: int | None  # ms, as every time here
    left_at: int | None
    messages: int
    first_message_at: int | None
    last_message_at: int | None
    trusted: str | None  # console | earned: moderation skips them here; None: checked
    strikes: int  # enforced spam verdicts of the last 7 days: the ladder climbs from them


class StandingOut(BaseModel):
    community_id: int
    community: str
    reason: str | None  # why the member is on the community's blocklist; None: not on it


class NameOut(BaseModel):
    name: str
    first_seen: int
    last_seen: int


class MessageOut(BaseModel):
    id: int
    group_id: int
    group: str
    sent_at: int
    kind: str
    text: str


class MemberOut(BaseModel):
    id: int
    name: str
    platform: str
    platform_id: str
    provisional: bool
    level: str  # among every member of the caller's groups
    role: str  # owner | admin | member: the highest in the caller's groups
    messages: int  # in the caller's groups
    tags: list[str]
    memberships: list[MembershipOut]  # in the caller's groups only
    names: list[NameOut]
    recent: list[MessageOut]  # the last 20, newest first
    blocklist: list[StandingOut]  # per community of the caller's the member was in


def _check_tag(tag: str) -> str:
    """The store's rule (`store.tags`), said before anything is written, in the reader's
    language; the schema below says the same to clients."""
    if len(tag) > member_tags.TAG_MAX or not tag.strip():
        raise ValueError(
            tr("not a tag: {tag!r} (1 to {n} characters)", tag=tag, n=member_tags.TAG_MAX)
        )
    return tag


Tag = Annotated[
    str,
    AfterValidator(_check_tag),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": member_tags.TAG_MAX,
            # not only spaces: Python's strip() also takes \x1c-\x1f and NEL (\x85), which
            # the schema's \s (ECMA-262) leaves
            "pattern": r"[^\s\x1c-\x1f\x85]",
        }
    ),
]


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[Tag] = Field(default_factory=list, max_length=100)
    remove: list[Tag] = Field(default_factory=list, max_length=100)


# FastAPI's own answer to a body it cannot even decode (not UTF-8), before any validation.
_UNREADABLE = {"model": auth.Problem, "description": "A body that cannot be read"}


class TagsOut(BaseModel):
    id: int
    tags: list[str]
    added: list[str]  # what changed: tags the member had already are not listed
    removed: list[str]


@router.get("/api/members", response_model=MembersOut, tags=["api"], responses=auth.API_RESPONSES)
def members_api(
    request: Request, user: auth.ApiUser, f: Annotated[Filters, Depends(filters)]
) -> dict[str, Any]:
    """The members of the caller's groups, busiest first, 50 a page, with the page's filters."""
    with auth.engine_of(request).connect() as conn:
        found = listing(conn, user, f)
    return {
        "members": found.rows,
        "total": found.total,
        "page": found.page,
        "pages": found.pages,
        "per_page": PER_PAGE,
    }


@router.get(
    "/api/members/{member_id}", response_model=MemberOut, tags=["api"], responses=auth.API_RESPONSES
)
def member_api(request: Request, member_id: MemberId, user: auth.ApiUser) -> dict[str, Any]:
    """One member's history in the caller's groups; 404 when they are in none of them."""
    with auth.engine_of(request).connect() as conn:
        return history(conn, user, member_id)


@router.post(
    "/api/members/{member_id}/tags",
    response_model=TagsOut,
    tags=["api"],
    responses={**auth.API_RESPONSES, 400: _UNREADABLE},
)
def member_tags_api(
    request: Request, member_id: MemberId, body: TagsIn, user: auth.ApiUser
) -> dict[str, Any]:
    """Add and remove tags. With the session cookie, send the page's CSRF token in the
    `X-CSRF-Token` header; with a personal token, nothing more. A refused tag is 422."""
    auth.may_change(user)
    auth.check_csrf(request, request.headers.get("x-csrf-token"))
    try:
        with auth.engine_of(request).begin() as conn:
            visible_member(conn, user, member_id)
            added, removed = change_tags(conn, user, member_id, body.add, body.remove)
            now = member_tags.of_member(conn, member_id)
    except ValueError as error:  # answered as FastAPI answers any other malformed body
        problem = {"type": "value_error", "loc": ("body",), "msg": str(error), "input": None}
        raise RequestValidationError([problem]) from None
    return {"id": member_id, "tags": now, "added": added, "removed": removed}
