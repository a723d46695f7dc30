"""The console's settings: each group's policies, as a form, and the connectors' state.

What the form shows is what is in effect from the console's side: the group's row in
`group_settings`, else the defaults. Saving checks the whole `[groups.policies]` table the form
makes with the configuration's own model (`PolicySettings`), so a mistake is told the way
`qunzhu config check` tells it, one line per field, and nothing is saved until every line is
right. The running engine picks a saved change up by itself (`service.watch_settings`).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, func, select, update
from starlette.concurrency import run_in_threadpool

from qunzhu import i18n, service
from qunzhu.config import (
    AdmissionSettings,
    AutoReplySettings,
    CaptchaSettings,
    Keyword,
    NicknameSettings,
    PolicySettings,
    RaidSettings,
    WelcomeSettings,
    error_message,
)
from qunzhu.i18n import tr
from qunzhu.reports.html import platform_names
from qunzhu.store import schema as t
from qunzhu.store.accounts import User, audit
from qunzhu.store.ingest import now_ms
from qunzhu.web import auth
from qunzhu.web.app import groups_of, render, visible
from qunzhu.web.times import moment

_ZH = {
    "Review from (score 0–1)": "转人工审核的分数（0–1）",
    "Spam from (score 0–1)": "判为广告的分数（0–1）",
    "Empty: 0.5 for the word list, the content model's own for it.": (
        "留空：词表用 0.5，内容模型用它自己的阈值。"
    ),
    "Empty: 0.8 for the word list, the content model's own for it.": (
        "留空：词表用 0.8，内容模型用它自己的阈值。"
    ),
    "Group settings": "群设置",
    "Each group's policies: moderation, welcome, admission, entry question, join raids, "
    "nickname and auto-reply.": (
        "每个群的策略：审核、欢迎、入群审批、入群验证、防刷群、群昵称和自动回复。"
    ),
    "Changed in the console by {who} on {when}": "{who} 于 {when} 在控制台修改",
    "Defaults": "默认设置",
    "No group to show yet.": "还没有可显示的群。",
    "Connectors": "连接器",
    "The running engine writes what it sees of each connector here.": (
        "运行中的引擎会在这里记录每个连接器的状态。"
    ),
    "No connector has run yet.": "还没有运行过连接器。",
    "State": "状态",
    "Last event": "最后事件",
    "Last error": "最后错误",
    "Pictures unread": "未识别图片",
    "{n} events set aside wait in the inbox: the engine tries them again at its next start": (
        "收件箱中有 {n} 个被搁置的事件：引擎下次启动时会重试"
    ),
    "{n} calls today": "今日已调用 {n} 次",
    "{n} of {daily} calls today": "今日已调用 {n} 次（上限 {daily} 次）",
    "Pictures let go without reading their text since the engine started (more came than it "
    "reads, about two a second): ads written into them were not seen.": (
        "引擎启动以来因来不及识别而跳过的图片数（图片来得比识别快，每秒约两张）：其中图片里写的广告未被发现。"
    ),
    "Running": "运行中",
    "Stopped": "已停止",
    "Failing": "出错",
    "Settings of {name}": "{name} 的设置",
    "Saved. The running engine applies the change within a few seconds.": (
        "已保存。运行中的引擎会在几秒内应用修改。"
    ),
    "Nothing was saved; please fix:": "未保存；请修改以下内容：",
    "These values apply where qunzhu.toml does not say otherwise until saved here once; "
    "from then on the values saved here take precedence over the file's.": (
        "在这里保存之前，以 qunzhu.toml 中的设置为准；在这里保存之后，这里的值优先于配置文件。"
    ),
    "A viewer can read these settings but not change them.": (
        "只读用户可以查看这些设置，但不能修改。"
    ),
    "Enabled": "启用",
    "Learn from the answers in the moderation queue (the community's own model, trained again "
    "when they change)": "从审核队列的回答中学习（本社群自己的模型，回答有变化时重新训练）",
    "Member reports needed": "需要几位成员举报",
    "Trusted members who reply 举报 or /report to a message before it goes to the moderation "
    "queue (enforce also hides it at once); one admin's report is enough; 0: reports off.": (
        "受信任的成员回复“举报”或 /report，达到这个人数后消息进入审核队列（执行模式下立即隐藏）；"
        "管理员举报一次即可；0：关闭举报。"
    ),
    "Share bans with the community's other groups (the blocklist): a member banned in one "
    "is removed from and kept out of the others": (
        "与社群的其他群共享黑名单：在一个群被拉黑的成员，会被移出并挡在其他群之外"
    ),
    "Mode": "模式",
    "shadow: decide and record only": "shadow：只判断并记录",
    "training: ask the admins": "training：请管理员确认",
    "enforce: act": "enforce：直接处理",
    "Keywords": "关键词",
    "One per line: word, word=weight or word=weight:action (review, delete_warn, mute, kick, "
    "ban). Empty: the built-in list; - alone: none.": (
        "每行一个：词、词=权重，或 词=权重:动作（review、delete_warn、mute、kick、ban）。"
        "留空：使用内置词表；只写 -：不用词表。"
    ),
    "Abusive words": "辱骂与脏话词",
    "Insults and obscenities, written as keywords are. Empty: the built-in list; - alone: "
    "none (a group that swears as friends do).": (
        "辱骂和脏话，写法同关键词。留空：使用内置词表；只写 -：不检查（朋友间互损的群）。"
    ),
    "Allowed domains": "允许的域名",
    "Denied domains": "禁止的域名",
    "One per line.": "每行一个。",
    "Probation (hours)": "新人观察期（小时）",
    "Warning text": "警告文字",
    "Empty: the default warning.": "留空：使用默认警告。",
    "Welcome": "欢迎",
    "Template": "模板",
    "%NICKNAME% becomes the newcomers' names. Empty: the default welcome.": (
        "%NICKNAME% 会替换为新人的名字。留空：使用默认欢迎语。"
    ),
    "Rules (at most {n} characters)": "群规（最多 {n} 个字）",
    "Batch (seconds)": "合并等待（秒）",
    "Joins within this time get one welcome.": "在这段时间内入群的新人合并为一条欢迎。",
    "Delete after (minutes)": "自动撤回（分钟）",
    "The welcome is taken down this long after it went out, so welcomes do not pile up; 0: "
    "kept.": "欢迎语发出后过这么久自动撤回，免得刷屏；0：保留。",
    "Admission": "入群审批",
    "Answers that admit": "通过的答案",
    "Words that reject": "拒绝的词",
    "Tags that admit": "通过的标签",
    "Tags that reject": "拒绝的标签",
    "Entry question (captcha)": "入群验证",
    "A newcomer answers in the chat or is removed (a kick: they may join again). It follows "
    "the moderation mode: shadow records, training asks the admins, enforce removes.": (
        "新人须在群里答题，否则被移出（踢出，可以重新加入）。随审核模式：shadow 只记录，"
        "training 请管理员确认，enforce 直接移出。"
    ),
    "Time to answer (seconds)": "答题时限（秒）",
    "Question": "问题",
    "Empty: a sum in Chinese numerals, different for each newcomer.": (
        "留空：用中文数字出一道加法题，每位新人不同。"
    ),
    "Answers that pass": "通过的答案",
    "One per line; needed with a question.": "每行一个；设置了问题就必须填写。",
    "Wrong answers before removal": "答错几次后移出",
    "Join raids": "防刷群",
    "When many newcomers arrive at once (bots sent in a wave), newcomers are removed on arrival "
    "for a while; the admins are told when it starts. It follows the moderation mode. Leave it "
    "off while a referral campaign brings crowds on purpose.": (
        "短时间内涌入大量新人（成批的广告号）时，一段时间内新入群者一律移出，并在开始时通知管理员。"
        "随审核模式。做裂变拉新、有意引来大量新人时请关闭。"
    ),
    "Newcomers that start a lockdown": "触发防护的新人数",
    "Newcomers across the community's groups that start one": "全社群合计触发防护的新人数",
    "0: off. A raid spread over many groups (a few bots in each) reaches no group's own count; "
    "this many newcomers within the same seconds across the community locks each group a "
    "newcomer then joins.": (
        "0 表示关闭。分散到许多群的刷群（每群几个机器人）达不到单个群的人数；"
        "社群内所有群在同样秒数内合计达到这个人数时，之后有新人加入的群都会进入防护。"
    ),
    "Within (seconds)": "时间窗口（秒）",
    "Lockdown (minutes)": "防护时长（分钟）",
    "Read the text in pictures of members it checks (on this machine) and judge it like a "
    "message": "识别待检查成员所发图片里的文字（在本机识别），并像消息一样判断",
    "Take down the platform's own join and leave messages (Telegram's “X joined the group”)": (
        "自动删除平台自己的入群、退群提示（Telegram 的“某某加入了群组”）"
    ),
    "Also mute the whole group meanwhile (enforce; lifted when it ends)": (
        "同时全员禁言（enforce；防护结束时解除）"
    ),
    "Nickname": "群昵称",
    "Pattern (regular expression)": "格式（正则表达式）",
    "Example": "示例",
    "Grace (hours)": "宽限期（小时）",
    "Auto-reply": "自动回复",
    "Cooldown (seconds)": "冷却时间（秒）",
    "Answers": "回复",
    "One per line: keyword1|keyword2 => text": "每行一条：关键词1|关键词2 => 回复内容",
    "Save": "保存",
    "Second opinion": "大模型复核",
    "off: nothing leaves this machine": "关闭：消息不离开本机",
    "questions: the language model reads what would be asked of an admin": (
        "待审消息：本要问管理员的消息先交给大模型判断"
    ),
    "veto: also the removals the content model alone decided": (
        "否决：内容模型单独判定要删的消息也先交给大模型"
    ),
    (
        "Sends the message's text (a name or bio only where that looks like an ad; never an "
        "id) to the [language_model] of qunzhu.toml; without one, off. A sure ad is removed, "
        "a sure normal message asks nobody, anything else goes to an admin as before."
    ): (
        "把消息文字（昵称、简介仅在像广告时发送，从不发送账号 ID）发给 qunzhu.toml 中 "
        "[language_model] 配置的大模型；"
        "没有配置则不生效。大模型确定是广告就删除，确定正常就不再打扰管理员，"
        "其余照旧交给管理员。"
    ),
    "Back to the settings": "返回设置",
    "{where}: line {n}: write keyword1|keyword2 => text": (
        "{where}：第 {n} 行：请写成 关键词1|关键词2 => 回复内容"
    ),
}
i18n.register(_ZH)

router = APIRouter(include_in_schema=False)

# The keys the form edits, per policy: the shape of [groups.policies] it stores. Others (the
# content model, locked kinds) stay as qunzhu.toml says.
FIELDS: dict[str, tuple[str, ...]] = {
    "moderation": (
        "enabled",
        "mode",
        "second_opinion",
        "learn",
        "blocklist",
        "reports",
        "delete_notices",
        "read_pictures",
        "keywords",
        "abuse",
        "allow_domains",
        "deny_domains",
        "probation_h",
        "warning",
        "review_from",
        "spam_from",
    ),
    "welcome": ("enabled", "template", "rules", "batch_s", "delete_after_min"),
    "admission": ("enabled", "answers", "reject_words", "approve_tags", "reject_tags"),
    "captcha": ("enabled", "timeout_s", "question", "answers", "tries"),
    "raid": ("enabled", "joins", "window_s", "lock_min", "mute_all", "community_joins"),
    "nickname": ("enabled", "pattern", "example", "grace_h"),
    "auto_reply": ("enabled", "cooldown_s", "answers"),
}
_WORD_LISTS = {"moderation.keywords", "moderation.abuse"}  # word=weight:action per line
NO_WORDS = "-"  # a word list's field holding only this: no list at all (empty: the built-in)
_LINES = {  # fields written one item per line
    "moderation.allow_domains",
    "moderation.deny_domains",
    "admission.answers",
    "admission.reject_words",
    "admission.approve_tags",
    "admission.reject_tags",
    "captcha.answers",
}
_FLAGS = {
    "enabled",
    "learn",
    "blocklist",
    "mute_all",
    "delete_notices",
    "read_pictures",
}  # check boxes: absent from the form means off
_OPTIONAL = {  # policies that run only when present; the form turns them on and off
    "welcome": WelcomeSettings,
    "admission": AdmissionSettings,
    "captcha": CaptchaSettings,
    "raid": RaidSettings,
    "nickname": NicknameSettings,
    "auto_reply": AutoReplySettings,
}
_BRANCHES = ("constrained-float", "float", "Keyword")  # pydantic's names of a keyword's forms


# -- pages ----------------------------------------------------------------------------------


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: auth.PageUser) -> HTMLResponse:
    ids = groups_of(request, user)
    g, gs, c = t.groups, t.group_settings, t.communities
    with auth.engine_of(request).connect() as conn:
        rows = conn.execute(
            select(
                g.c.id,
                g.c.name,
                g.c.platform,
                c.c.name.label("community"),
                gs.c.updated_at,
                gs.c.updated_by,
            )
            .select_from(
                g.outerjoin(c, c.c.id == g.c.community_id).outerjoin(gs, gs.c.group_id == g.c.id)
            )
            .where(g.c.id.in_(ids))
            .order_by(c.c.name, g.c.name)
        ).all()
        connectors = _connectors(conn, _daily_calls(request)) if user.is_admin else None
    names = platform_names()
    groups = [
        {
            "id": r.id,
            "name": r.name,
            "platform": names.get(r.platform, r.platform),
            "community": r.community,
            "changed": moment(r.updated_at, to="second"),
            "by": r.updated_by,
        }
        for r in rows
    ]
    return render(request, "settings.html", {"groups": groups, "connectors": connectors}, user)


@router.get("/settings/groups/{group_id}", response_class=HTMLResponse)
def group_settings_page(
    request: Request, group_id: int, user: auth.PageUser, saved: int = 0
) -> HTMLResponse:
    row = visible(request, user, group_id)
    with auth.engine_of(request).connect() as conn:
        settings, stored = current(conn, group_id, file_policies(request, row))
    context = {
        "row": row,
        "values": form_values(settings),
        "errors": [],
        "field_errors": {},
        "saved": bool(saved),
        "stored": stored,
    }
    return render(request, "settings_group.html", _with_labels(context), user)


@router.post("/settings/groups/{group_id}", response_class=HTMLResponse)
async def save_group_settings(request: Request, group_id: int, user: auth.PageUser) -> Response:
    form = await request.form()
    auth.may_change(user)
    auth.check_csrf(request, str(form.get("csrf_token") or ""))
    fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    return await run_in_threadpool(_save, request, group_id, user, fields)


def _save(request: Request, group_id: int, user: User, fields: dict[str, str]) -> Response:
    row = visible(request, user, group_id)
    raw, problems = parse_form(fields)
    settings = None
    try:
        settings = PolicySettings.model_validate(raw)
    except ValidationError as exc:
        problems += error_lines(exc)
    if problems or settings is None:
        with auth.engine_of(request).connect() as conn:
            _, stored = current(conn, group_id, file_policies(request, row))
        context = {
            "row": row,
            "values": _submitted(fields),
            "errors": [line for _, line in problems],
            "field_errors": _by_field(problems),
            "saved": False,
            "stored": stored,
        }
        return render(request, "settings_group.html", _with_labels(context), user, status=400)
    store_policies(request, row, user, settings)
    return RedirectResponse(f"/settings/groups/{group_id}?saved=1", status_code=303)


def store_policies(request: Request, row: Any, user: User, settings: PolicySettings) -> None:
    """Keep the group's new policies (the running engine picks them up) and audit the change."""
    new = shape(settings)
    with auth.engine_of(request).begin() as conn:
        old_settings, stored = current(conn, row.id, file_policies(request, row))
        changed = _changes(shape(old_settings), new)
        values = {
            "policies": orjson.dumps(new).decode(),
            "updated_at": now_ms(),
            "updated_by": user.name,
        }
        gs = t.group_settings
        if stored:
            conn.execute(update(gs).where(gs.c.group_id == row.id).values(**values))
        else:
            conn.execute(gs.insert().values(group_id=row.id, **values))
        audit(conn, user, "group.settings", f"group:{row.id}", changed=changed)


# -- the API --------------------------------------------------------------------------------


class PoliciesOut(BaseModel):
    policies: PolicySettings
    changed_by: str | None  # who last changed them in the console (None: the file's, or defaults)
    changed_at: str | None


@router.get(
    "/api/groups/{group_id}/policies",
    response_model=PoliciesOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def api_policies(request: Request, group_id: auth.Id, user: auth.ApiUser) -> dict[str, Any]:
    """The group's policies in effect, in the shape of qunzhu.toml's [groups.policies]."""
    row = visible(request, user, group_id)
    with auth.engine_of(request).connect() as conn:
        settings, stored = current(conn, group_id, file_policies(request, row))
    return {
        "policies": settings,
        "changed_by": stored["by"] if stored else None,
        "changed_at": stored["changed"] if stored else None,
    }


@router.put(
    "/api/groups/{group_id}/policies",
    response_model=PoliciesOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def api_set_policies(
    request: Request, group_id: auth.Id, policies: PolicySettings, user: auth.ApiUser
) -> dict[str, Any]:
    """Replace the group's policies (checked like qunzhu.toml: 422 says what is wrong, where);
    with the session cookie, send the page's CSRF token in `X-CSRF-Token`."""
    auth.may_change(user)
    auth.check_csrf(request, request.headers.get("x-csrf-token"))
    row = visible(request, user, group_id)
    store_policies(request, row, user, policies)
    return api_policies(request, group_id, user)


# -- what is in effect ----------------------------------------------------------------------


def file_policies(request: Request, row: Any) -> PolicySettings | None:
    """The group's policies in the qunzhu.toml the console was started with, if it names it
    (or gives them through a connector's community)."""
    config = getattr(request.app.state, "config", None)
    if config is None:
        return None
    with auth.engine_of(request).connect() as conn:
        community = conn.execute(
            select(t.communities.c.name).where(t.communities.c.id == row.community_id)
        ).scalar()
    return service.file_policies(config, row.platform, row.platform_id, community)


def current(
    conn: Connection, group_id: int, fallback: PolicySettings | None = None
) -> tuple[PolicySettings, dict[str, Any] | None]:
    """The group's policies as the console has them (stored, else `fallback`: the group's
    policies in qunzhu.toml when the console runs with it, else the defaults), and the stored
    row (updated_at, updated_by) when there is one."""
    gs = t.group_settings
    row = conn.execute(select(gs).where(gs.c.group_id == group_id)).first()
    if row is None:
        return fallback or PolicySettings(), None
    meta = {"changed": moment(row.updated_at, to="second"), "by": row.updated_by}
    try:
        return PolicySettings.model_validate(orjson.loads(row.policies)), meta
    except (ValidationError, orjson.JSONDecodeError):  # written by another version: start over
        return PolicySettings(), meta


def shape(settings: PolicySettings) -> dict[str, dict[str, Any]]:
    """The keys the form edits, every policy present (off ones with `enabled = false`)."""
    dumped = settings.model_dump(mode="json")
    out = {}
    for section, keys in FIELDS.items():
        part = dumped.get(section)
        if part is None:
            part = {**_OPTIONAL[section]().model_dump(mode="json"), "enabled": False}
        out[section] = {key: part[key] for key in keys}
    return out


def _changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{section}.{key}": {"from": old[section][key], "to": new[section][key]}
        for section, keys in FIELDS.items()
        for key in keys
        if old[section][key] != new[section][key]
    }


# -- the form, both ways --------------------------------------------------------------------


def form_values(settings: PolicySettings) -> dict[str, Any]:
    """What each form field shows for these settings."""
    values: dict[str, Any] = {}
    for section, part in shape(settings).items():
        for key, value in part.items():
            name = f"{section}.{key}"
            if key == "enabled":
                values[name] = bool(value)
            elif name in _WORD_LISTS:
                values[name] = _keywords_text(value)
            elif name == "auto_reply.answers":
                values[name] = "\n".join(f"{'|'.join(a['keywords'])} => {a['text']}" for a in value)
            elif isinstance(value, list):
                values[name] = "\n".join(value)
            elif isinstance(value, float):
                values[name] = f"{value:g}"
            else:
                values[name] = "" if value is None else value
    return values


def _keywords_text(keywords: dict[str, Any] | None) -> str:
    if keywords == {}:
        return NO_WORDS
    lines = []
    for word, entry in (keywords or {}).items():
        if isinstance(entry, dict):
            item = Keyword.model_validate(entry)
            weight, action = item.weight, item.action
        else:
            weight, action = float(entry), None
        if action:
            lines.append(f"{word}={weight:g}:{action}")
        elif weight != 1.0:
            lines.append(f"{word}={weight:g}")
        else:
            lines.append(word)
    return "\n".join(lines)


def parse_form(fields: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The [groups.policies] table the form describes, and the lines it could not read
    (field, message). A blank field takes its default."""
    problems: list[tuple[str, str]] = []
    raw: dict[str, Any] = {}
    for section, keys in FIELDS.items():
        part: dict[str, Any] = {}
        for key in keys:
            name = f"{section}.{key}"
            text = fields.get(name, "").replace("\r\n", "\n").replace("\r", "\n")
            if key in _FLAGS:
                part[key] = text.strip().lower() in ("on", "1", "true", "yes")
            elif name in _WORD_LISTS:
                part[key] = _keywords(text)
            elif name == "auto_reply.answers":
                part[key] = _answers(text, name, problems)
            elif name in _LINES:
                part[key] = [line.strip() for line in text.split("\n") if line.strip()]
            elif not text.strip():
                continue  # blank, or not on the page (one loaded before an upgrade): the default
            else:
                part[key] = text.strip()
        raw[section] = part
    return raw, problems


def _keywords(text: str) -> dict[str, Any] | None:
    """`word`, `word=weight` or `word=weight:action` per line; nothing: the built-in list;
    NO_WORDS alone: no list."""
    if text.strip() == NO_WORDS:
        return {}
    found: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line.strip():
            continue
        word, eq, rest = line.rpartition("=") if "=" in line else (line, "", "")
        word = word.strip()
        if not word:
            continue
        if not eq:
            found[word] = 1.0
            continue
        weight, colon, action = rest.partition(":")
        found[word] = (
            {"weight": weight.strip(), "action": action.strip()} if colon else weight.strip()
        )
    return found or None


def _answers(text: str, name: str, problems: list[tuple[str, str]]) -> list[dict[str, Any]]:
    answers = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        words, arrow, reply = line.partition("=>")
        if not arrow:
            problems.append(
                (name, tr("{where}: line {n}: write keyword1|keyword2 => text", where=name, n=n))
            )
            continue
        keywords = [w.strip() for w in words.split("|") if w.strip()]
        answers.append({"keywords": keywords, "text": reply.strip()})
    return answers


def error_lines(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, line) for each mistake pydantic found, in the configuration's wording; a
    keyword's two possible forms are not both blamed."""
    out: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if ".".join(map(str, loc[:2])) in _WORD_LISTS and len(loc) >= 4 and loc[3] in _BRANCHES:
            if len(loc) == 4 and error["type"] in ("model_type", "float_type", "dict_type"):
                continue  # the form the value was not written in
            loc = loc[:3] + loc[4:]
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        field = ".".join(str(p) for p in loc[:2])
        line = f"{path}: {error_message(error)}" if path else error_message(error)
        if (field, line) not in out:
            out.append((field, line))
    return out


def _by_field(problems: list[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for field, line in problems:
        found.setdefault(field, []).append(line)
    return found


def _submitted(fields: dict[str, str]) -> dict[str, Any]:
    """The form as it was sent, to show it again with its mistakes."""
    values: dict[str, Any] = {}
    for section, keys in FIELDS.items():
        for key in keys:
            name = f"{section}.{key}"
            text = fields.get(name, "")
            values[name] = (
                text.strip().lower() in ("on", "1", "true", "yes") if key == "enabled" else text
            )
    return values


def _with_labels(context: dict[str, Any]) -> dict[str, Any]:
    from qunzhu.config import RULES_MAX

    return {**context, "rules_max": RULES_MAX, "modes": ("shadow", "training", "enforce")}


# -- connectors -----------------------------------------------------------------------------


def _daily_calls(request: Request) -> int | None:
    """The language model's daily cap in the qunzhu.toml the console was started with."""
    config = getattr(request.app.state, "config", None)
    model = config.language_model if config is not None else None
    return model.daily if model is not None else None


def _connectors(conn: Connection, daily: int | None = None) -> list[dict[str, Any]]:
    """Each connector's row, the engine's with how many events it set aside (a bug met them:
    `engine/faults.py`) still wait in the inbox."""
    cs, inbox = t.connector_status, t.inbox
    rows = conn.execute(select(cs).order_by(cs.c.name)).all()
    waiting = inbox.c.processed_at.is_(None), inbox.c.set_aside_at.is_not(None)
    aside = conn.execute(select(func.count()).where(*waiting)).scalar_one()
    return [
        {
            "name": r.name,
            "kind": r.kind,
            "state": r.state,
            "state_name": _state_names().get(r.state, r.state),
            "last_event": moment(r.last_event_at, to="second"),
            "last_error": r.last_error or "",
            "pictures_unread": r.pictures_unread,
            "updated": moment(r.updated_at, to="second"),
            "calls": _calls(r.calls_today, daily, r.updated_at),
            "set_aside": aside if r.name == service.ENGINE_STATUS else 0,
        }
        for r in rows
    ]


def _calls(calls: int | None, daily: int | None, updated_at: int) -> str:
    """The language model's calls today, as its row says them ("" for a connector's row, and
    0 where the engine last wrote the count on an earlier day)."""
    if calls is None:
        return ""
    if updated_at // 86_400_000 != now_ms() // 86_400_000:
        calls = 0
    if daily is None:
        return tr("{n} calls today", n=calls)
    return tr("{n} of {daily} calls today", n=calls, daily=daily)


def _state_names() -> dict[str, str]:
    return {"running": tr("Running"), "stopped": tr("Stopped"), "failing": tr("Failing")}
