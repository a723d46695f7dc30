"""The moderation queue: what the detector left to a person, appeals, and who decided what.

The queue holds the moderation decisions that wait for a person (step `ask_admin`: a review
verdict, or training mode, where `would` says what enforce would have done) and that nobody has
labelled yet. Appeals are the decisions acted on (delete, mute, kick, ban) in the last 30 days.
A person's answer is one transaction: the `moderation_labels` row (training data for the content
model, see `moderation.feedback`), the actions it asks for in the outbox (the running engine's
executor carries them out), the member's "trusted" mark for a "not spam", the ladder's strike
for confirmed spam or its removal for an upheld appeal, and the audit row.
A decision is labelled once: a second answer, even a concurrent one, is a 409.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from qunzhu import i18n
from qunzhu.engine import outbox
from qunzhu.engine.policies import add_strike, report_overturned, strike_keys
from qunzhu.engine.runtime import StoreMarks
from qunzhu.i18n import tr
from qunzhu.model.live import ActionKind
from qunzhu.moderation.enforcement import MUTES_S
from qunzhu.moderation.feedback import HAM_LABELS, LABELS
from qunzhu.moderation.labels import check_names
from qunzhu.store import blocklist
from qunzhu.store import schema as t
from qunzhu.store.accounts import User, audit
from qunzhu.store.appeals import ACTED, APPEAL_DAYS, acted
from qunzhu.store.ingest import now_ms
from qunzhu.web import auth
from qunzhu.web.app import groups_of, render, visible
from qunzhu.web.settings import current, file_policies
from qunzhu.web.times import moment

router = APIRouter()

POLICY = "moderation"
WAITING = ("ask_admin",)
SPARED = ("spared",)  # questions a language model read as normal: a person may differ
QUEUE_LABELS = ("spam", "ham", "ban_only")
APPEAL_LABELS = ("appeal_upheld", "appeal_rejected")
TRUSTING = ("ham", "appeal_upheld")  # the member did nothing wrong: trusted in the group
PAGE_SIZE = 50
LIST_MAX = 500
NOTE_MAX = 1000
ID_MAX = auth.ID_MAX

Tab = Literal["queue", "appealed", "appeals", "spared", "all"]
Label = Literal["spam", "ham", "ban_only", "appeal_upheld", "appeal_rejected"]
DecisionId = Annotated[int, Path(ge=1, le=ID_MAX)]

i18n.register(
    {
        "Phone number": "电话号码",
        "QQ number": "QQ 号",
        "WeChat id": "微信号",
        "Link": "链接",
        "Domain": "域名",
        "Telegram account": "Telegram 账号",
        "Shop share code": "购物口令",
        "yes": "是",
        "no": "否",
        "Moderation queue": "审核队列",
        "Waiting for a decision": "待决定",
        "Actions taken (last 30 days)": "已执行的处理（最近 30 天）",
        "Who decided what": "处理记录",
        "Nothing waits for a decision.": "没有等待决定的消息。",
        "No action in the last 30 days waits for a second look.": (
            "最近 30 天没有等待复核的处理。"
        ),
        "Decision #{id} recorded.": "已记录对处理 #{id} 的决定。",
        "Decision": "处理",
        "Time": "时间",
        "Score": "得分",
        "Details": "详情",
        "Label": "结论",
        "Note": "备注",
        "Note (optional)": "备注（可选）",
        "By": "决定人",
        "What enforce would do": "执行模式下会怎么做",
        "What was done": "已执行的处理",
        "Strikes": "违规次数",
        "(no text)": "（没有文字）",
        "Newer": "较新",
        "Older": "较早",
        "No one has decided anything yet.": "还没有人做过决定。",
        "You may read this queue; only operators and admins decide.": (
            "你可以查看此队列；只有运营和管理员可以做决定。"
        ),
        # the labels, as answers and as buttons
        "Spam": "广告/违规",
        "Not spam": "不是广告",
        "Ban only": "仅拉黑",
        "Overturn": "撤销处理",
        "Uphold": "维持处理",
        "Overturned": "已撤销",
        "Upheld": "已维持",
        "Delete the message (and mute, kick or ban where enforce would); "
        "the model learns it is spam, and copies of it and its contacts are caught from now "
        "on.": (
            "删除这条消息（执行模式下会禁言、移出或拉黑的，也一并执行）；模型学习：这是广告，"
            "此后相似的内容及其中的联系方式会被直接识别。"
        ),
        "Leave the message; the member is trusted in this group from now on; "
        "the model learns it is not spam.": (
            "保留这条消息；此后该成员在本群受信任；模型学习：这不是广告。"
        ),
        "Ban the member; the model learns nothing from the text.": (
            "拉黑该成员；模型不从这段文字学习。"
        ),
        "The action was wrong: the member is trusted from now on; the model learns it is "
        "not spam.": "处理有误：此后该成员受信任；模型学习：这不是广告。",
        "The action was right; the model learns it is spam, and copies of it and its contacts "
        "are caught from now on.": (
            "处理正确；模型学习：这是广告，此后相似的内容及其中的联系方式会被直接识别。"
        ),
        # steps
        "Ask an admin": "请管理员决定",
        "Delete and warn": "删除并警告",
        "Mute": "禁言",
        "Kick": "移出群",
        "Ban": "拉黑",
        "Nothing": "不处理",
        # checks and their details
        "this decision has no answer to withdraw": "这条处理还没有可撤回的判断",
        "Withdraw": "撤回",
        "Take this answer back: what it taught the model and the spam bank goes, and the "
        "decision waits for an answer again. Deletions and kicks done stay.": (
            "撤回这个判断：它教给模型和广告库的内容随之撤销，这条处理重新等待判断。"
            "已经执行的删除、移出不会恢复。"
        ),
        "Answer on decision #{id} withdrawn: it waits for an answer again.": (
            "已撤回对处理 #{id} 的判断，它重新等待判断（审核队列或申诉）。"
        ),
        "a warning about it": "提醒大家的话",
        "display name": "昵称",
        "profile bio": "个人简介",
        "what the request says": "申请内容",
        "earlier copies": "此前的副本",
        "Judged as its sender edited it:": "按发送者编辑后的内容判断：",
        "words of abuse": "辱骂用词",
        "members mentioned": "被@的成员数",
        "mentions everyone": "@全体成员",
        "a picture people said was an ad": "已标记为广告的图片",
        "posted by the same member": "同一成员所发",
        "posted before people said it was an ad": "在被确认为广告之前发出",
        "members who reported": "举报人数",
        "reports needed": "所需举报人数",
        "reported by an admin": "管理员举报",
        "contacts": "联系方式",
        "ad words": "广告词",
        "asked action": "指定处理",
        "denied": "禁用",
        "QR payloads": "二维码内容",
        "locked kinds": "限制的类型",
        "hours in the group": "入群小时数",
        "like": "相似于",
        "forwarded from": "转发自",
        "short messages": "短消息条数",
        "per minute": "每分钟条数",
        "times": "次数",
        "groups": "群",
        "seconds after joining": "入群秒数",
        "trusted": "受信任",
        "spam from": "判为广告的分数线",
        "review from": "送审核的分数线",
        "nearest known spam": "与最相近的已知广告的相似度",
        "nearest normal message": "与最相近的正常消息的相似度",
        "The member appealed": "成员申诉",
        "Members' appeals": "成员申诉",
        "No member has appealed in the last 30 days.": "近 30 天没有成员申诉。",
        "Waiting for the language model": "等待大模型复核",
        "Spared by the language model": "大模型判为正常",
        "Spared by the language model (last 30 days)": "大模型放行（近 30 天）",
        "The language model spared nothing in the last 30 days.": (
            "近 30 天没有被大模型放行的消息。"
        ),
        "model": "模型",
        "its reading": "判断",
        "milliseconds": "耗时（毫秒）",
        "no answer": "未得到回答",
        "words to its reviewer (its reading does not count)": (
            "对审核者说的话（大模型的判断不作数）"
        ),
        "an ad": "广告",
        "abuse": "辱骂",
        "normal": "正常",
        # errors
        "no such decision": "没有这条处理记录",
        "this decision has been decided already": "这条处理已经有人决定过了",
        "this decision does not wait for that answer": "这条处理不接受这个结论",
    }
)


def step_names() -> dict[str, str]:
    """What each step of the enforcement ladder is called where people read it."""
    return {
        "ask_admin": tr("Ask an admin"),
        "ask_model": tr("Waiting for the language model"),
        "spared": tr("Spared by the language model"),
        "delete_warn": tr("Delete and warn"),
        "mute": tr("Mute"),
        "kick": tr("Kick"),
        "ban": tr("Ban"),
        "none": tr("Nothing"),
        "review": tr("Ask an admin"),  # a keyword's action
    }


def _label_names() -> dict[str, str]:
    return {
        "spam": tr("Spam"),
        "ham": tr("Not spam"),
        "ban_only": tr("Ban only"),
        "appeal_upheld": tr("Overturned"),
        "appeal_rejected": tr("Upheld"),
    }


def _detail_names() -> dict[str, str]:
    return {
        "contacts": tr("contacts"),
        "words": tr("ad words"),
        "action": tr("asked action"),
        "denied": tr("denied"),
        "payloads": tr("QR payloads"),
        "locked": tr("locked kinds"),
        "hours_in_group": tr("hours in the group"),
        "like": tr("like"),
        "origin": tr("forwarded from"),
        "earlier": tr("earlier copies"),
        "short_messages": tr("short messages"),
        "per_minute": tr("per minute"),
        "times": tr("times"),
        "groups": tr("groups"),
        "seconds": tr("seconds after joining"),
        "trusted": tr("trusted"),
        "spam_from": tr("spam from"),
        "review_from": tr("review from"),
        "nearest_spam": tr("nearest known spam"),
        "nearest_normal": tr("nearest normal message"),
        "reason": tr("reason"),
        "reporters": tr("members who reported"),
        "needed": tr("reports needed"),
        "staff": tr("reported by an admin"),
        "known_ad": tr("a picture people said was an ad"),
        "same_member": tr("posted by the same member"),
        "earlier_copy": tr("posted before people said it was an ad"),
        "warning": tr("a warning about it"),
        "name": tr("display name"),
        "bio": tr("profile bio"),
        "answer": tr("what the request says"),
        "mentioned": tr("members mentioned"),
        "abusive": tr("words of abuse"),
        "all": tr("mentions everyone"),
        "model": tr("model"),
        "label": tr("its reading"),
        "ms": tr("milliseconds"),
        "error": tr("no answer"),
        "steering": tr("words to its reviewer (its reading does not count)"),
    }


def _reading_names() -> dict[str, str]:
    """What a language model can say of a message, in the reader's language."""
    return {"ad": tr("an ad"), "abuse": tr("abuse"), "normal": tr("normal")}


# -- reading ------------------------------------------------------------------------------

_d, _g, _ml, _ap = t.decisions, t.groups, t.moderation_labels, t.appeals
_msg, _mb, _in = t.messages, t.members, t.inbox


def _decisions_query() -> Any:
    """Moderation decisions with their group, connector, message text, member and label."""
    return (
        select(
            _d.c.id,
            _d.c.group_id,
            _d.c.verdict,
            _d.c.reasons,
            _d.c.at,
            _d.c.member,
            _d.c.record_id,
            _g.c.name.label("group_name"),
            _g.c.platform_id.label("group_platform_id"),
            _g.c.tz,
            _in.c.connector,
            _msg.c.text.label("message_text"),
            _msg.c.id.label("message_row"),
            _mb.c.display_name.label("member_name"),
            _ml.c.label,
            _ml.c.user_name.label("labelled_by"),
            _ml.c.at.label("labelled_at"),
            _ml.c.note,
            _ap.c.text.label("appeal_text"),
            _ap.c.at.label("appeal_at"),
        )
        .select_from(
            _d.join(_g, _g.c.id == _d.c.group_id)
            .join(_in, _in.c.id == _d.c.inbox_id)
            .outerjoin(
                _msg, and_(_msg.c.group_id == _d.c.group_id, _msg.c.platform_id == _d.c.record_id)
            )
            .outerjoin(_mb, and_(_mb.c.platform == _g.c.platform, _mb.c.external_id == _d.c.member))
            .outerjoin(_ml, _ml.c.decision_id == _d.c.id)
            .outerjoin(_ap, _ap.c.decision_id == _d.c.id)
        )
        .where(_d.c.policy == POLICY)
    )


def _reasons(raw: str | None) -> dict[str, Any]:
    try:
        found = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _on_tab(query: Any, tab: str) -> Any:
    """The query narrowed to a tab's decisions not answered yet."""
    steps: tuple[str, ...] = ()
    if tab == "queue":
        steps = WAITING
    elif tab in ("appealed", "appeals", "spared"):
        steps = SPARED if tab == "spared" else ACTED
        query = query.where(_d.c.at >= now_ms() - APPEAL_DAYS * 86_400_000)
    if steps:
        waits = acted() if steps == ACTED else _d.c.step.in_(steps)
        query = query.where(_ml.c.decision_id.is_(None), waits)
    if tab == "appealed":  # what members wrote to the bot about, of all that was done: found
        query = query.where(_d.c.id.in_(select(_ap.c.decision_id)))  # from the appeals
    return query


def waiting(conn: Connection, group_ids: list[int]) -> dict[str, int]:
    """How many questions wait for a person, how many members' appeals wait for an answer,
    and how many of the messages a language model spared nobody has looked at yet: what a
    busy operator should be told without opening the tabs (a model's "normal" is only as
    good as the second look it gets)."""
    counts = {}
    for tab in ("queue", "spared", "appealed"):
        joined = _d.outerjoin(_ml, _ml.c.decision_id == _d.c.id)
        joined = joined.outerjoin(_ap, _ap.c.decision_id == _d.c.id)
        query = (
            select(func.count())
            .select_from(joined)
            .where(_d.c.group_id.in_(group_ids), _d.c.policy == POLICY)  # as the tabs list
        )
        counts[tab] = conn.execute(_on_tab(query, tab)).scalar_one()
    return counts


def tab_counts(request: Request, user: User) -> dict[str, int]:
    """`waiting` for the user's groups: what the tabs of every moderation page count."""
    ids = groups_of(request, user)
    with auth.engine_of(request).connect() as conn:
        return waiting(conn, ids)


def _listing(
    conn: Connection, group_ids: list[int], tab: str, limit: int, before: int | None = None
) -> list[Any]:
    query = _on_tab(_decisions_query().where(_d.c.group_id.in_(group_ids)), tab)
    if before is not None:
        query = query.where(_d.c.id < before)
    return list(conn.execute(query.order_by(_d.c.id.desc()).limit(limit)).all())


def _one(conn: Connection, user: User, decision_id: int) -> Any:
    """The decision's row, or 404 when it is not a moderation decision the user may see."""
    row = conn.execute(
        _decisions_query()
        .add_columns(_g.c.community_id, _g.c.platform, _g.c.platform_id)  # file_policies
        .where(_d.c.id == decision_id)
    ).first()
    if row is None or not user.sees(row.community_id):
        raise HTTPException(404, tr("no such decision"))
    return row


def _checks(reasons: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for check in reasons.get("checks") or []:
        if isinstance(check, dict) and isinstance(check.get("name"), str):
            details = check.get("details")
            out.append(
                {
                    "name": check["name"],
                    "verdict": str(check.get("verdict", "")),
                    "score": float(check.get("score") or 0.0),
                    "details": details if isinstance(details, dict) else {},
                }
            )
    return out


_PROFILE_CHECKS = ("display_name", "bio")  # what a member says of themselves, not a message


def _taught(text: str | None, reasons: dict[str, Any]) -> str:
    """What an answer teaches the model and the spam bank: the message's text and what was
    read in its pictures, and a display name or bio that was an ad. A message held for its
    sender's name alone ("大家好" from "兼职日结 加V abc12345") teaches the name, not "大家好".
    A member a list keeps out (the community's, CAS) is kept out for who they are, not for
    what they wrote: their text teaches nothing."""
    if "blocklist" in reasons or "cas" in reasons:
        return ""
    checks = [c for c in reasons.get("checks") or () if isinstance(c, dict)]
    profile = [c for c in checks if c.get("name") in _PROFILE_CHECKS]
    said = not profile or any(
        c.get("verdict") != "ham" for c in checks if c.get("name") not in _PROFILE_CHECKS
    )
    shown = [(c.get("details") or {}) for c in profile]
    written = [d.get(key) for d in shown for key in ("name", "bio")]
    parts = (text if said else None, _picture_text(reasons), *written)
    return "\n".join(p for p in parts if isinstance(p, str) and p)


def _picture_text(reasons: dict[str, Any]) -> str | None:
    read = reasons.get("picture_text")
    return read if isinstance(read, str) else None


def _as_dict(row: Any) -> dict[str, Any]:
    """A decision as the API gives it."""
    reasons = _reasons(row.reasons)
    strikes = reasons.get("strikes")
    return {
        "id": row.id,
        "group_id": row.group_id,
        "group": row.group_name,
        "at": row.at,
        "member": row.member,
        "member_name": row.member_name,
        "record_id": row.record_id,
        "text": row.message_text,
        "picture_text": _picture_text(reasons),
        "edited": reasons.get("edited") is True,  # judged as its sender changed it
        "verdict": row.verdict,
        "score": reasons.get("score"),
        "step": reasons.get("step"),
        "would": reasons.get("would"),
        "strikes": strikes if isinstance(strikes, int) else None,
        "checks": _checks(reasons),
        "label": row.label,
        "labelled_by": row.labelled_by,
        "labelled_at": row.labelled_at,
        "note": row.note,
        "appeal": {"text": row.appeal_text, "at": row.appeal_at} if row.appeal_text else None,
    }


def contact_names() -> dict[str, str]:
    """The kinds of contact the detector finds, in the reader's language."""
    return {
        "phone": tr("Phone number"),
        "qq": tr("QQ number"),
        "wechat": tr("WeChat id"),
        "url": tr("Link"),
        "domain": tr("Domain"),
        "telegram": tr("Telegram account"),
        "code": tr("Shop share code"),
    }


def _shown(value: Any) -> str:
    """A check's detail as a person reads it: contacts with their kind named, yes and no
    in words."""
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "–"
    if isinstance(value, dict):
        if set(value) == {"kind", "value"}:
            kind = contact_names().get(value["kind"], value["kind"])
            return f"{value['value']} ({kind})"
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return tr("yes") if value else tr("no")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _for_page(row: Any) -> dict[str, Any]:
    """A decision with its words in the reader's language."""
    data = _as_dict(row)
    steps, checks, keys = step_names(), check_names(), _detail_names()
    data["when"] = moment(row.at, row.tz)
    data["appeal_when"] = moment(row.appeal_at, row.tz) if row.appeal_at else ""
    data["verdict_name"] = tr(row.verdict)
    data["step_name"] = steps.get(data["step"] or "", data["step"] or "")
    data["would_name"] = steps.get(data["would"] or "", data["would"] or "")
    data["shown_checks"] = [
        {
            "title": checks.get(c["name"], c["name"]),
            "verdict": tr(c["verdict"]),
            "score": f"{c['score']:.2f}",
            "details": [
                (
                    keys.get(k, k),
                    steps.get(v, v)
                    if k == "action" and isinstance(v, str)
                    else _reading_names().get(v, v)
                    if k == "label" and isinstance(v, str)
                    else _shown(v),
                )
                for k, v in c["details"].items()
            ],
        }
        for c in data["checks"]
    ]
    return data


# -- deciding -----------------------------------------------------------------------------


def _actions(row: Any, label: str, reasons: dict[str, Any]) -> list[dict[str, Any]]:
    """What a label asks of the platform: the shape `runtime._action` gives the outbox."""
    kinds: list[tuple[ActionKind, int]] = []
    if label == "spam":
        if row.message_row is not None:  # a join or a rename has nothing to delete
            kinds.append((ActionKind.DELETE, 0))
        would = reasons.get("would")
        if would == "mute":
            strikes = reasons.get("strikes") if isinstance(reasons.get("strikes"), int) else 2
            kinds.append((ActionKind.MUTE, MUTES_S[min(max(strikes - 2, 0), len(MUTES_S) - 1)]))
        elif would in ("kick", "ban"):
            kinds.append((ActionKind(would), 0))
    elif label == "ban_only":
        kinds.append((ActionKind.BAN, 0))
    elif label == "appeal_upheld":  # undo what can be undone (a deleted message cannot)
        step = reasons.get("step")
        if step == "mute":
            kinds.append((ActionKind.UNMUTE, 0))
        elif step == "ban":
            kinds.append((ActionKind.UNBAN, 0))
    told = ""
    if label in APPEAL_LABELS and row.appeal_text:  # the member asked: they hear the answer
        kinds.append((ActionKind.TELL, 0))
        told = i18n.told(APPEAL_ANSWERS[label], group=row.group_name)
    return [
        {
            "kind": kind.value,
            "connector": row.connector,
            "group_id": row.group_platform_id,
            "member_id": row.member,
            "message_id": row.record_id,
            "text": told if kind is ActionKind.TELL else "",
            "seconds": seconds,
            "request_id": None,
            "reason": label,
        }
        for kind, seconds in kinds
        if kind is ActionKind.DELETE or row.member  # nobody to mute, kick or ban without an id
    ]


# what a member who appealed is told of the admin's answer
APPEAL_ANSWERS = {
    "appeal_upheld": (
        "Your appeal about {group} was upheld: what was done to you is undone where it can be."
    ),
    "appeal_rejected": "Your appeal about {group} was looked at and not upheld.",
}


def _trust(conn: Connection, group_id: int, member: str, at: int) -> None:
    pm = t.policy_marks
    key = f"trusted:{member}"
    where = (pm.c.group_id == group_id, pm.c.policy == POLICY, pm.c.key == key)
    if not conn.execute(update(pm).where(*where).values(at=at)).rowcount:
        conn.execute(pm.insert().values(group_id=group_id, policy=POLICY, key=key, at=at))


def _restrike(conn: Connection, row: Any, label: str, reasons: dict[str, Any], now: int) -> int:
    """Keep the ladder's strikes true to the person's word: spam they confirm is a strike (the
    next ad climbs from it, as if the group enforced), an upheld appeal takes back the strike
    the action cost. +1, -1 or 0: what changed."""
    if not row.member:
        return 0
    if label == "spam":
        add_strike(StoreMarks(conn, row.group_id), POLICY, row.member, now / 1000)
        return 1
    struck_at = reasons.get("struck_at")
    if label != "appeal_upheld" or not isinstance(struck_at, int):
        return 0  # decisions from before strikes carried their time: nothing to match
    pm = t.policy_marks
    gone = conn.execute(
        delete(pm).where(
            pm.c.group_id == row.group_id,
            pm.c.policy == POLICY,
            pm.c.key.in_(strike_keys(row.member)),
            pm.c.at == struck_at,
        )
    ).rowcount
    return -1 if gone else 0


def _unreport(conn: Connection, row: Any, label: str, reasons: dict[str, Any], now: int) -> int:
    """A person found a message members reported fine: each reporter's overturn is kept, and
    one overturned often enough no longer counts (`policies.silenced`). How many reported."""
    reported = any(c.get("name") == "reports" for c in reasons.get("checks", ()))
    if label not in HAM_LABELS or not reported or not row.record_id:
        return 0
    pm = t.policy_marks
    prefix = f"reported:{row.record_id}:"
    keys = conn.execute(
        select(pm.c.key).where(
            pm.c.group_id == row.group_id,
            pm.c.policy == POLICY,
            pm.c.key.startswith(prefix, autoescape=True),
        )
    ).scalars()
    reporters = [key[len(prefix) :] for key in keys]
    marks = StoreMarks(conn, row.group_id)
    for reporter in reporters:
        report_overturned(marks, POLICY, reporter, now / 1000)
    return len(reporters)


def _reblock(
    request: Request,
    conn: Connection,
    user: User,
    row: Any,
    label: str,
    reasons: dict[str, Any],
    note: str,
) -> int:
    """Keep the community's blocklist true to the person's word, where the group shares bans:
    a ban they ask for (ban only, or spam where enforce would ban) blocks the member, an upheld
    appeal against a ban or a keeping-out unblocks them. +1, -1 or 0: what changed."""
    if row.community_id is None or not row.member:
        return 0
    member_id = conn.execute(
        select(t.members.c.id).where(
            t.members.c.platform == row.platform, t.members.c.external_id == row.member
        )
    ).scalar()
    settings = current(conn, row.group_id, file_policies(request, row))[0]
    if member_id is None or not settings.moderation.blocklist:
        return 0
    if label == "ban_only" or (label == "spam" and reasons.get("would") == "ban"):
        why = note.strip() or (row.message_text or "").strip() or tr("Ban only")
        added = blocklist.add(
            conn,
            row.community_id,
            member_id,
            why,
            group_id=row.group_id,
            decision_id=row.id,
            added_by=user.name,
        )
        return 1 if added else 0
    if label == "appeal_upheld" and (reasons.get("step") == "ban" or "blocklist" in reasons):
        return -1 if blocklist.remove(conn, row.community_id, member_id) else 0
    return 0


def decide(request: Request, user: User, decision_id: int, label: str, note: str) -> dict[str, Any]:
    """Record a person's label and do what it asks, all in one transaction."""
    auth.may_change(user)
    now = now_ms()
    try:
        with auth.engine_of(request).begin() as conn:
            row = _one(conn, user, decision_id)
            if row.label is not None:
                raise HTTPException(409, tr("this decision has been decided already"))
            reasons = _reasons(row.reasons)
            step = reasons.get("step")
            asked = step in WAITING or step in SPARED
            fits = QUEUE_LABELS if asked else APPEAL_LABELS if step in ACTED else ()
            if label not in fits:
                raise HTTPException(409, tr("this decision does not wait for that answer"))
            conn.execute(
                _ml.insert().values(
                    decision_id=decision_id,
                    label=label,
                    text=_taught(row.message_text, reasons),
                    user_id=user.id,
                    user_name=user.name,
                    at=now,
                    note=note,
                )
            )
            queued: list[str] = []
            for action in _actions(row, label, reasons):
                outbox.queue(conn, action, decision_id=decision_id, can=True, now_ms=now)
                queued.append(action["kind"])
            trusted = row.member if label in TRUSTING and row.member else None
            if trusted:
                _trust(conn, row.group_id, trusted, now)
            struck = _restrike(conn, row, label, reasons, now)
            blocked = _reblock(request, conn, user, row, label, reasons, note)
            unreported = _unreport(conn, row, label, reasons, now)
            audit(
                conn,
                user,
                "moderation_label",
                f"decision {decision_id}",
                label=label,
                group=row.group_id,
                member=row.member,
                note=note,
                queued=queued,
                trusted=bool(trusted),
                struck=struck,
                blocked=blocked,
                reporters_overturned=unreported,
            )
    except IntegrityError:  # someone else labelled it in the meantime
        raise HTTPException(409, tr("this decision has been decided already")) from None
    return {
        "decision_id": decision_id,
        "label": label,
        "queued": queued,
        "trusted": trusted,
        "struck": struck,
        "blocked": blocked,
    }


def withdraw(request: Request, user: User, decision_id: int) -> dict[str, Any]:
    """Take a person's answer back (a mistaken "spam" would go on teaching the model and the
    community's spam bank the wording and contacts of a member's ordinary message): the
    answer goes, so what it taught goes too once the engine and the learner next look (they
    rebuild from the answers left, within seconds), and the decision waits for an answer
    again. What it did stays: a deletion or kick is done on the platform, and trust, strikes
    and blocks are changed back where they are kept (the member's page, the blocklist)."""
    auth.may_change(user)
    with auth.engine_of(request).begin() as conn:
        row = _one(conn, user, decision_id)
        if row.label is None:
            raise HTTPException(409, tr("this decision has no answer to withdraw"))
        conn.execute(delete(_ml).where(_ml.c.decision_id == decision_id))
        audit(
            conn,
            user,
            "moderation_label.withdrawn",
            f"decision {decision_id}",
            label=row.label,
            group=row.group_id,
            member=row.member,
        )
    return {"decision_id": decision_id, "withdrawn": row.label}


# -- pages --------------------------------------------------------------------------------


@router.get("/moderation", response_class=HTMLResponse, include_in_schema=False)
def queue_page(
    request: Request,
    user: auth.PageUser,
    tab: str = "queue",
    before: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    done: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> HTMLResponse:
    tab = tab if tab in ("queue", "appealed", "appeals", "spared") else "queue"
    with auth.engine_of(request).connect() as conn:
        ids = groups_of(request, user)
        rows = _listing(conn, ids, tab, PAGE_SIZE, before)
        counts = waiting(conn, ids)
    return render(
        request,
        "moderation.html",
        {
            "tab": tab,
            "waiting": counts,
            "decisions": [_for_page(r) for r in rows],
            "older": rows[-1].id if len(rows) == PAGE_SIZE else None,
            "done": done,
        },
        user,
    )


@router.post("/moderation/{decision_id}/label", include_in_schema=False)
def label_form(
    request: Request,
    decision_id: DecisionId,
    user: auth.PageUser,
    label: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=NOTE_MAX)] = "",
    csrf_token: Annotated[str, Form()] = "",
    tab: Annotated[str, Form()] = "queue",
) -> RedirectResponse:
    auth.may_change(user)
    auth.check_csrf(request, csrf_token)
    if label not in LABELS:
        raise HTTPException(400, tr("this decision does not wait for that answer"))
    decide(request, user, decision_id, label, note.strip())
    back = tab if tab in ("appealed", "appeals", "spared") else "queue"
    return RedirectResponse(f"/moderation?tab={back}&done={decision_id}", status_code=303)


@router.post("/moderation/{decision_id}/withdraw", include_in_schema=False)
def withdraw_form(
    request: Request,
    decision_id: DecisionId,
    user: auth.PageUser,
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    auth.may_change(user)
    auth.check_csrf(request, csrf_token)
    withdraw(request, user, decision_id)
    return RedirectResponse(f"/moderation/audit?withdrawn={decision_id}", status_code=303)


@router.get("/moderation/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    user: auth.PageUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    withdrawn: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> HTMLResponse:
    ids = groups_of(request, user)
    with auth.engine_of(request).connect() as conn:
        rows = conn.execute(
            select(
                _ml.c.decision_id,
                _ml.c.label,
                _ml.c.user_name,
                _ml.c.at,
                _ml.c.note,
                _d.c.member,
                _d.c.group_id,
                _g.c.name.label("group_name"),
                _g.c.tz,
                _mb.c.display_name.label("member_name"),
            )
            .select_from(
                _ml.join(_d, _d.c.id == _ml.c.decision_id)
                .join(_g, _g.c.id == _d.c.group_id)
                .outerjoin(
                    _mb, and_(_mb.c.platform == _g.c.platform, _mb.c.external_id == _d.c.member)
                )
            )
            .where(_d.c.group_id.in_(ids))
            .order_by(_ml.c.at.desc(), _ml.c.decision_id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        ).all()
    names = _label_names()
    entries = [
        {
            "decision_id": r.decision_id,
            "when": moment(r.at, r.tz),
            "user": r.user_name,
            "group": r.group_name,
            "group_id": r.group_id,
            "member": r.member or "",
            "member_name": r.member_name or "",
            "label": names.get(r.label, r.label),
            "note": r.note,
        }
        for r in rows[:PAGE_SIZE]
    ]
    return render(
        request,
        "moderation_audit.html",
        {
            "entries": entries,
            "page": page,
            "more": len(rows) > PAGE_SIZE,
            "withdrawn": withdrawn,
            "waiting": tab_counts(request, user),
        },
        user,
    )


# -- API ----------------------------------------------------------------------------------


class CheckOut(BaseModel):
    name: str
    verdict: str
    score: float
    details: dict[str, Any]


class AppealOut(BaseModel):
    text: str
    at: int  # ms


class DecisionOut(BaseModel):
    id: int
    group_id: int
    group: str
    at: int  # ms
    member: str | None  # the platform's user id
    member_name: str | None
    record_id: str | None  # the platform's message id
    text: str | None  # the message, where it is stored
    picture_text: str | None  # the text read in its pictures, where that was judged
    edited: bool = False  # judged as its sender edited it (the text is the new one)
    verdict: str
    score: float | None
    step: str | None  # what was done: ask_admin, delete_warn, mute, kick, ban, none
    would: str | None  # shadow and training: what enforce would have done
    strikes: int | None
    checks: list[CheckOut]
    label: str | None  # a person's word on it, if any
    labelled_by: str | None
    labelled_at: int | None
    note: str | None
    appeal: AppealOut | None = None  # what the member wrote to the bot about it


class DecisionsOut(BaseModel):
    tab: str
    decisions: list[DecisionOut]


class LabelIn(BaseModel):
    label: Label
    note: str = Field("", max_length=NOTE_MAX)


class LabelOut(BaseModel):
    decision_id: int
    label: str
    queued: list[str]  # the outbox actions' kinds
    trusted: str | None  # the member now trusted in the group, if any
    struck: int  # 1: a strike kept for confirmed spam; -1: an overturned action's strike taken back
    blocked: int  # 1: put on the community's blocklist; -1: taken off it; 0: neither


@router.get(
    "/api/decisions", response_model=DecisionsOut, tags=["api"], responses=auth.API_RESPONSES
)
def list_decisions(
    request: Request,
    user: auth.ApiUser,
    tab: Tab = "queue",
    group: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX)] = 100,
    before: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
) -> dict[str, Any]:
    """Moderation decisions, newest first: `queue` those waiting for a person, `appeals` those
    acted on in the last 30 days and not looked at again, `spared` the questions a language
    model read as normal in the last 30 days and nobody looked at, `all` every one (with its
    label)."""
    if group is not None:
        visible(request, user, group)
    ids = [group] if group is not None else groups_of(request, user)
    with auth.engine_of(request).connect() as conn:
        rows = _listing(conn, ids, tab, limit, before)
    return {"tab": tab, "decisions": [_as_dict(r) for r in rows]}


@router.get(
    "/api/decisions/{decision_id}",
    response_model=DecisionOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def one_decision(request: Request, decision_id: DecisionId, user: auth.ApiUser) -> dict[str, Any]:
    with auth.engine_of(request).connect() as conn:
        return _as_dict(_one(conn, user, decision_id))


class WithdrawnOut(BaseModel):
    decision_id: int
    withdrawn: str  # the label taken back


@router.post(
    "/api/decisions/{decision_id}/withdraw",
    response_model=WithdrawnOut,
    tags=["api"],
    responses={
        **auth.API_RESPONSES,
        409: {"model": auth.Problem, "description": "No answer to withdraw"},
    },
)
def withdraw_label(request: Request, decision_id: DecisionId, user: auth.ApiUser) -> dict[str, Any]:
    """Take a person's answer back: what it taught the model and the spam bank goes with it
    (within seconds), the decision waits for an answer again; deletions and kicks done stay.
    With the session cookie, send the page's CSRF token as X-CSRF-Token."""
    auth.may_change(user)
    auth.check_csrf(request, request.headers.get("x-csrf-token"))
    return withdraw(request, user, decision_id)


@router.post(
    "/api/decisions/{decision_id}/label",
    response_model=LabelOut,
    tags=["api"],
    responses={
        **auth.API_RESPONSES,
        409: {"model": auth.Problem, "description": "Decided already, or not for this answer"},
    },
)
def label_decision(
    request: Request, decision_id: DecisionId, body: LabelIn, user: auth.ApiUser
) -> dict[str, Any]:
    """A person's word on a decision. Queue: spam (delete, and mute/kick/ban where enforce
    would), ham (the member becomes trusted in the group), ban_only (ban, no training label).
    Appeals: appeal_upheld (the action was wrong: trusted, trains as ham), appeal_rejected
    (trains as spam). With the session cookie, send the page's CSRF token as X-CSRF-Token."""
    auth.may_change(user)
    auth.check_csrf(request, request.headers.get("x-csrf-token"))
    return decide(request, user, decision_id, body.label, body.note.strip())
