"""The moderation scorecard: per group, whether its moderation is ready for the next mode, and
per check, ad word and contact kind, how often people overturned what it decided (see
`moderation.scorecard`). Only the groups the user may see are counted."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, and_, distinct, func, select

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.moderation.labels import check_names
from qunzhu.moderation.scorecard import (
    READY_ANSWERS,
    Fired,
    Judged,
    Scorecard,
    Tally,
    fired,
    next_step,
    score,
)
from qunzhu.store import schema as t
from qunzhu.store.accounts import User
from qunzhu.web import auth
from qunzhu.web.app import groups_of, render, visible
from qunzhu.web.moderation import POLICY, contact_names, tab_counts
from qunzhu.web.settings import current, file_policies, store_policies
from qunzhu.web.times import moment

router = APIRouter()

DAYS = 30
DAYS_MAX = 365
WORDS_SHOWN = 100  # on the page, the most doubtful first; the API gives them all
FIRED_KEPT = 400_000  # decisions whose counting a process keeps (about 100 bytes each)
READ_BY_ID = 20_000  # fewer new decisions than this are read by id, more by the window
IDS_PER_QUERY = 2_000  # ... that many ids at a time (well within every database's limits)
# the groups that need a person's attention first
ORDER = ("check_rules", "ready", "answer", "train", "fine", "quiet", "off")

i18n.register(
    {
        "How the checks do": "检查效果",
        "Appeals (upheld)": "成员申诉（撤销）",
        "Answered in": "申诉处理用时",
        "Members who wrote to the bot that an action was wrong; of them, upheld; how long "
        "answered ones waited (median).": (
            "私信机器人称处理有误的成员申诉数；括号内为管理员撤销处理的数量；已处理申诉的等待时间（中位数）。"
        ),
        "Last {days} days: what people said about each decision they looked at.": (
            "最近 {days} 天：管理员对每条经手处理的结论。"
        ),
        "Mode": "模式",
        "Decisions": "处理数",
        "Answered": "已回答",
        "Next step": "下一步",
        "Check": "检查",
        "Ad word": "广告词",
        "Contact": "联系方式",
        "Ad words": "广告词",
        "Contacts": "联系方式",
        "Doubtful": "存疑",
        "People often overturn what members report: ask for more reports in the group's "
        "settings.": "成员举报的消息常被撤销：请在群设置里提高所需举报人数。",
        "People often overturn this: lower its weight in the group's settings or remove it.": (
            "管理员经常撤销它的处理：在群设置里调低它的权重，或删掉它。"
        ),
        "Nothing judged in this period.": "这段时间没有需要处理的消息。",
        "What each community's model learnt": "各社群模型的学习情况",
        "Trained from the answers above and the community's undisputed messages while "
        "`qunzhu run` runs; again when the answers change.": (
            "在 `qunzhu run` 运行时，用上面的回答和本社群无争议的消息训练；回答有变化时重新训练。"
        ),
        "Community": "社群",
        "Taken down": "已删除",
        "Up for (median / 90%)": "删除前停留（中位 / 90%）",
        "Turned away": "挡在门外",
        "Came back": "被移出后又进群",
        "How long taken-down messages were up, from sent to deleted; turned away: newcomers "
        "removed by the entry question or a raid lockdown; came back: members removed who joined "
        "again (if many, ban rather than kick, or share bans through the blocklist).": (
            "停留：被删除的消息从发出到删除经过的时间；挡在门外：因入群验证或防刷群被移出的新人；"
            "又进群：被移出后再次入群的成员（如果很多，请改为拉黑，或启用社群黑名单）。"
        ),
        "{n} s": "{n} 秒",
        "{n} min": "{n} 分钟",
        "{n} h": "{n} 小时",
        "Switch to training": "改为训练模式",
        "Switch to enforce": "改为执行模式",
        "{group}: moderation now in {mode} mode.": "{group}：审核已改为{mode}模式。",
        "mode: expected training or enforce": "模式：应为 training 或 enforce",
        "Trained": "训练时间",
        "Said spam": "确认广告",
        "Said not spam": "确认不是广告",
        "Ordinary messages": "普通消息",
        "Spam from": "判为广告的分数线",
        "(no community)": "（无社群）",
        "shadow": "观察",
        "training": "训练",
        "enforce": "执行",
        "off": "关闭",
        "Moderation is off.": "未开启审核。",
        "Shadow mode: switch to training so that people confirm what it would do.": (
            "观察模式：改为训练模式，让管理员确认它会怎么处理。"
        ),
        "Training: {n} more answers before it can be judged.": (
            "训练模式：还需要 {n} 个回答才能评估。"
        ),
        "People agreed with {agreed} of {n} answers: ready to enforce.": (
            "管理员同意了 {n} 个回答中的 {agreed} 个：可以改为执行模式。"
        ),
        "People overturned {share} of {n} answers: look at the doubtful rules below first.": (
            "管理员撤销了 {n} 个回答中的 {share}：请先查看下面存疑的规则。"
        ),
        "Enforcing; people overturned {share} of {n} answers.": (
            "执行中；管理员撤销了 {n} 个回答中的 {share}。"
        ),
        "Enforcing; nobody has answered an appeal or a question yet.": (
            "执行中；还没有管理员处理过申诉或待决定的消息。"
        ),
    }
)


class TallyOut(BaseModel):
    key: str  # the check's name, the ad word, or the contact kind
    fired: int  # decisions it took part in
    agreed: int  # people said spam, or upheld the action
    overturned: int  # people said not spam, or overturned the action
    overturned_share: float | None  # of the answers; None before any
    doubtful: bool  # overturned often enough to look at


class GroupOut(BaseModel):
    group_id: int
    group: str
    mode: str | None  # shadow | training | enforce; None: moderation is off
    fired: int
    agreed: int
    overturned: int
    overturned_share: float | None
    next_step: str  # off | quiet | train | answer | ready | check_rules | fine
    taken_down: int  # messages moderation had the platform delete
    up_p50_s: float | None  # how long they were up, from sent to deleted: median ...
    up_p90_s: float | None  # ... and the 90th percentile; None: none taken down
    turned_away: int  # newcomers removed at the door: entry question failed or unanswered, raid
    came_back: int  # members removed (kicked) here who joined again afterwards
    appealed: int = 0  # members' appeals written in the window (to the bot, in private)
    appeals_upheld: int = 0  # ... of them, upheld: the action was wrong
    appeal_answer_p50_s: float | None = None  # how long answered appeals waited, median


class LearntOut(BaseModel):
    community: str | None  # None: the groups in no community
    trained_at: int  # milliseconds since the epoch
    spam: int  # answers that said spam
    normal: int  # answers that said not spam
    ordinary: int  # undisputed messages taken as normal
    spam_from: float | None  # the line the training chose


class ScorecardOut(BaseModel):
    days: int
    groups: list[GroupOut]  # those needing attention first
    checks: list[TallyOut]  # most decisions first
    words: list[TallyOut]  # most overturned first
    contacts: list[TallyOut]
    learnt: list[LearntOut]  # what each community's model last learnt from


class FiredCache:
    """What each decision counts for, worked out once per process: a decision is never
    rewritten, and reading its JSON again was most of the page's time (a month of 100,000
    decisions took seconds, each visit). Keyed by id and checked by time, since SQLite may
    give a forgotten member's last decision's id to the next one. Thread-safe: the page is
    served from a pool of threads."""

    def __init__(self, kept: int = FIRED_KEPT) -> None:
        self.kept = kept
        self._known: dict[int, tuple[int, Fired]] = {}  # decision id -> (at, what it counts)
        self._alike: dict[Fired, Fired] = {}  # one object for all decisions alike
        self._lock = threading.Lock()

    def judged(self, conn: Connection, group_ids: list[int], since_ms: int) -> list[Judged]:
        """The decisions of these groups from `since_ms` on, each with its label."""
        d, ml = t.decisions, t.moderation_labels
        window = (d.c.policy == POLICY, d.c.group_id.in_(group_ids), d.c.at >= since_ms)
        rows = conn.execute(
            select(d.c.id, d.c.at, d.c.group_id, ml.c.label)
            .select_from(d.outerjoin(ml, ml.c.decision_id == d.c.id))
            .where(*window)
        ).all()
        with self._lock:
            known = {i: k[1] for i, at, _g, _l in rows if (k := self._known.get(i)) and k[0] == at}
        if len(known) < len(rows):
            known.update(self._read(conn, window, {r[0] for r in rows} - known.keys()))
        return [
            Judged(group_id, known[i], label, i, at)
            for i, at, group_id, label in rows
            if i in known
        ]

    def _read(
        self, conn: Connection, window: tuple[Any, ...], wanted: set[int]
    ) -> dict[int, Fired]:
        """Parse the decisions not known yet (all of the window's at a first visit, which
        reads them in one query; a few ids at a time after)."""
        d = t.decisions
        query = select(d.c.id, d.c.at, d.c.reasons)
        if len(wanted) > READ_BY_ID:
            parts = [conn.execute(query.where(*window))]
        else:
            ids = sorted(wanted)
            parts = [
                conn.execute(query.where(d.c.id.in_(ids[n : n + IDS_PER_QUERY])))
                for n in range(0, len(ids), IDS_PER_QUERY)
            ]
        found: dict[int, tuple[int, Fired]] = {}
        for part in parts:
            for decision_id, at, reasons in part:
                if decision_id in wanted:
                    found[decision_id] = (at, fired(_checks(reasons)))
        with self._lock:
            for decision_id, (at, what) in found.items():
                what = self._alike.setdefault(what, what)
                self._known[decision_id] = (at, what)
            self._forget_oldest()
            return {i: k[1] for i, k in found.items()}

    def _forget_oldest(self) -> None:
        excess = len(self._known) - self.kept
        if excess > 0:
            for decision_id in list(itertools.islice(self._known, excess)):
                del self._known[decision_id]
        if len(self._alike) > self.kept:
            self._alike.clear()


class UpTimes:
    """How long each message moderation had deleted was up, from its sending to its first
    deletion done (the time members could read an ad), kept per console process: once done,
    a first deletion stays first, and joining every decision of the month to its deletion and
    message was most of a warm visit's time. A visit reads only the deletions done since the
    last one (from a minute before: two processes may commit out of order), or everything
    again when it looks further back than the process has; what no visit asked for in a day
    is let go, so a console running for months holds a window, not its history.
    Thread-safe."""

    LOOK_BACK_MS = 60_000
    KEPT_PAST_MS = 86_400_000  # decisions older than any visit asks for are let go daily

    def __init__(self) -> None:
        self._up: dict[int, tuple[int, int]] = {}  # decision id -> (its time, ms up)
        self._from: int | None = None  # decisions from this time on are known
        self._done: int = 0  # the newest deletion read, by when it was done
        self._lock = threading.Lock()

    def of(self, conn: Connection, since_ms: int) -> dict[int, tuple[int, int]]:
        """Each decision from `since_ms` on whose message was deleted: (its time, ms up)."""
        with self._lock:
            d, o, m = t.decisions, t.outbox, t.messages
            query = (
                select(d.c.id, d.c.at, func.min(o.c.done_at), m.c.sent_at)
                .select_from(
                    d.join(o, o.c.decision_id == d.c.id).join(
                        m, and_(m.c.group_id == d.c.group_id, m.c.platform_id == d.c.record_id)
                    )
                )
                .where(d.c.policy == POLICY, o.c.kind == "delete", o.c.status == "done")
                .group_by(d.c.id, d.c.at, m.c.sent_at)
            )
            if self._from is None or since_ms < self._from:
                self._up, self._from, self._done = {}, since_ms, 0
                query = query.where(d.c.at >= since_ms)
            else:  # only what was done since
                if since_ms - self._from > self.KEPT_PAST_MS:  # a month long running: let go
                    self._up = {i: k for i, k in self._up.items() if k[0] >= since_ms}
                    self._from = since_ms
                query = query.where(
                    d.c.at >= self._from, o.c.done_at >= self._done - self.LOOK_BACK_MS
                )
            for decision_id, at, done_at, sent_at in conn.execute(query):
                up = max(int(done_at - sent_at), 0)
                known = self._up.get(decision_id)
                if known is None or known[0] != at or up < known[1]:  # an id reused: replaced
                    self._up[decision_id] = (at, up)
                self._done = max(self._done, int(done_at))
            return self._up


def _checks(reasons: str | None) -> Any:
    try:
        return orjson.loads(reasons or "{}").get("checks")
    except (orjson.JSONDecodeError, AttributeError):  # not what this version writes
        return None


def _caches(state: Any) -> tuple[FiredCache, UpTimes]:
    """The app's caches (one app, one store); two threads making them at once only waste
    one."""
    if getattr(state, "fired", None) is None:
        state.fired = FiredCache()
    if getattr(state, "up_times", None) is None:
        state.up_times = UpTimes()
    return state.fired, state.up_times


def warm(app: FastAPI, engine: Engine) -> None:
    """Read the last DAYS of every group's decisions into the app's caches, beside a console
    just started (`qunzhu serve`), so that the first visit does not wait for it (3 s on
    100,000 decisions)."""
    fired, up_times = _caches(app.state)
    since = int((time.time() - DAYS * 86400) * 1000)
    with engine.connect() as conn:
        ids = list(conn.execute(select(t.groups.c.id)).scalars())
        fired.judged(conn, ids, since)
        up_times.of(conn, since)


def _removals(
    conn: Connection,
    group_ids: list[int],
    since_ms: int,
    judged: list[Judged],
    up_times: dict[int, tuple[int, int]],
) -> dict[int, dict[str, Any]]:
    """Per group: messages moderation had the platform delete and how long each was up (from
    its sending to the deletion: the time members could read an ad; `UpTimes`), newcomers the
    entry question or a raid lockdown removed (their kick done), and members removed who
    joined again afterwards (many: a ban, or the blocklist, would keep them out)."""
    d, o = t.decisions, t.outbox
    decided = (d.c.group_id.in_(group_ids), d.c.at >= since_ms, o.c.status == "done")
    up: dict[int, list[int]] = {}
    for j in judged:
        known = up_times.get(j.decision_id)
        if known is not None and known[0] == j.at:
            up.setdefault(j.group_id, []).append(known[1])
    door = dict(
        conn.execute(
            select(d.c.group_id, func.count(distinct(d.c.id)))
            .select_from(d.join(o, o.c.decision_id == d.c.id))
            .where(d.c.policy.in_(("captcha", "raid")), o.c.kind == "kick", *decided)
            .group_by(d.c.group_id)
        ).all()
    )
    g, mb, me = t.groups, t.members, t.membership_events
    back = dict(
        conn.execute(
            select(d.c.group_id, func.count(distinct(d.c.member)))
            .select_from(
                d.join(o, o.c.decision_id == d.c.id)
                .join(g, g.c.id == d.c.group_id)
                .join(mb, and_(mb.c.platform == g.c.platform, mb.c.external_id == d.c.member))
                .join(
                    me,
                    and_(
                        me.c.group_id == d.c.group_id,
                        me.c.member_id == mb.c.id,
                        me.c.action == "join",
                        me.c.at > o.c.done_at,
                    ),
                )
            )
            .where(o.c.kind == "kick", *decided)
            .group_by(d.c.group_id)
        ).all()
    )
    out = {}
    for group_id in group_ids:
        times = sorted(up.get(group_id, []))
        out[group_id] = {
            "taken_down": len(times),
            "up_p50_s": times[len(times) // 2] / 1000 if times else None,
            "up_p90_s": times[min(len(times) * 9 // 10, len(times) - 1)] / 1000 if times else None,
            "turned_away": door.get(group_id, 0),
            "came_back": back.get(group_id, 0),
        }
    return out


def _appeals(conn: Connection, group_ids: list[int], since_ms: int) -> dict[int, dict[str, Any]]:
    """Per group: members' appeals written in the window, how many an admin upheld (the
    action was wrong), and how long the answered ones waited for it, median: how members
    contest moderation and how soon they hear back."""
    d, a, ml = t.decisions, t.appeals, t.moderation_labels
    rows = conn.execute(
        select(d.c.group_id, a.c.at, ml.c.label, ml.c.at.label("answered_at"))
        .select_from(a.join(d, d.c.id == a.c.decision_id).outerjoin(ml, ml.c.decision_id == d.c.id))
        .where(d.c.group_id.in_(group_ids), a.c.at >= since_ms)
    ).all()
    out: dict[int, dict[str, Any]] = {}
    waits: dict[int, list[int]] = {}
    for row in rows:
        found = out.setdefault(row.group_id, {"appealed": 0, "appeals_upheld": 0})
        found["appealed"] += 1
        found["appeals_upheld"] += row.label == "appeal_upheld"
        if row.answered_at is not None:
            waits.setdefault(row.group_id, []).append(max(row.answered_at - row.at, 0))
    for group_id in group_ids:
        found = out.setdefault(group_id, {"appealed": 0, "appeals_upheld": 0})
        times = sorted(waits.get(group_id, []))
        found["appeal_answer_p50_s"] = times[len(times) // 2] / 1000 if times else None
    return out


def _tallies(tallies: dict[str, Tally], by_doubt: bool = False) -> list[dict[str, Any]]:
    def order(item: tuple[str, Tally]) -> tuple[Any, ...]:
        key, n = item
        return (-n.overturned, -n.fired, key) if by_doubt else (-n.fired, key)

    return [_tally(key, n) for key, n in sorted(tallies.items(), key=order)]


def _tally(key: str, n: Tally) -> dict[str, Any]:
    return {
        "key": key,
        "fired": n.fired,
        "agreed": n.agreed,
        "overturned": n.overturned,
        "overturned_share": n.overturned_share,
        "doubtful": n.doubtful,
    }


def _learnt(conn: Connection, user: User) -> list[dict[str, Any]]:
    lm, c = t.learnt_models, t.communities
    rows = conn.execute(
        select(lm, c.c.id.label("community_id"))
        .select_from(lm.outerjoin(c, c.c.name == lm.c.community))
        .order_by(lm.c.community)
    ).all()
    return [
        {
            "community": row.community or None,
            "trained_at": row.trained_at,
            "spam": row.spam,
            "normal": row.normal,
            "ordinary": row.ordinary,
            "spam_from": row.spam_from,
        }
        for row in rows
        if user.sees(row.community_id if row.community else None)
    ]


def card(request: Request, user: User, days: int) -> dict[str, Any]:
    """The scorecard of the user's groups over the last `days`, as the API gives it."""
    ids = groups_of(request, user)
    since = int((time.time() - days * 86400) * 1000)
    with auth.engine_of(request).connect() as conn:
        fired, up_times = _caches(request.app.state)
        judged = fired.judged(conn, ids, since)
        found: Scorecard = score(judged)
        rows = conn.execute(select(t.groups).where(t.groups.c.id.in_(ids))).all()
        removals = _removals(conn, ids, since, judged, up_times.of(conn, since))
        appealed = _appeals(conn, ids, since)
        groups = []
        for row in rows:
            moderation = current(conn, row.id, file_policies(request, row))[0].moderation
            mode = moderation.mode if moderation.enabled else None
            n = found.groups.get(row.id, Tally())
            groups.append(
                {
                    **_tally(str(row.id), n),
                    "group_id": row.id,
                    "group": row.name,
                    "mode": mode,
                    "next_step": next_step(mode, n),
                    **removals[row.id],
                    **appealed[row.id],
                }
            )
        learnt = _learnt(conn, user)
    groups.sort(key=lambda g: (ORDER.index(g["next_step"]), -g["fired"], g["group"]))
    return {
        "days": days,
        "groups": groups,
        "checks": _tallies(found.checks),
        "words": _tallies(found.words, by_doubt=True),
        "contacts": _tallies(found.contacts, by_doubt=True),
        "learnt": learnt,
    }


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return tr("{n} s", n=f"{seconds:.0f}")
    if seconds < 7200:
        return tr("{n} min", n=f"{seconds / 60:.0f}")
    return tr("{n} h", n=f"{seconds / 3600:.1f}")


def _advice(group: dict[str, Any]) -> str:
    n, share = group["agreed"] + group["overturned"], _share(group["overturned_share"])
    return {
        "off": tr("Moderation is off."),
        "quiet": tr("Nothing judged in this period."),
        "train": tr("Shadow mode: switch to training so that people confirm what it would do."),
        "answer": tr(
            "Training: {n} more answers before it can be judged.", n=max(READY_ANSWERS - n, 0)
        ),
        "ready": tr(
            "People agreed with {agreed} of {n} answers: ready to enforce.",
            agreed=group["agreed"],
            n=n,
        ),
        "check_rules": tr(
            "People overturned {share} of {n} answers: look at the doubtful rules below first.",
            share=share,
            n=n,
        ),
        "fine": tr("Enforcing; people overturned {share} of {n} answers.", share=share, n=n)
        if n
        else tr("Enforcing; nobody has answered an appeal or a question yet."),
    }[group["next_step"]]


def _shown(rows: list[dict[str, Any]], names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [
        {**r, "name": (names or {}).get(r["key"], r["key"]), "share": _share(r["overturned_share"])}
        for r in rows
    ]


Days = Annotated[int, Query(ge=1, le=DAYS_MAX)]
MODES = {"train": "training", "ready": "enforce"}  # the next step a button takes


@router.get("/moderation/checks", response_class=HTMLResponse, include_in_schema=False)
def scorecard_page(
    request: Request,
    user: auth.PageUser,
    days: Days = DAYS,
    moved: Annotated[int | None, Query(ge=1, le=auth.ID_MAX)] = None,
) -> HTMLResponse:
    found = card(request, user, days)
    modes = {"shadow": tr("shadow"), "training": tr("training"), "enforce": tr("enforce")}
    groups = [
        {
            **g,
            "mode_name": modes.get(g["mode"] or "", tr("off")),
            "share": _share(g["overturned_share"]),
            "advice": _advice(g),
            "move_to": MODES.get(g["next_step"]),
            "up": f"{_duration(g['up_p50_s'])} / {_duration(g['up_p90_s'])}",
            "answered_in": _duration(g["appeal_answer_p50_s"]),
        }
        for g in found["groups"]
    ]
    return render(
        request,
        "moderation_checks.html",
        {
            "waiting": tab_counts(request, user),
            "days": days,
            "moved": next((g for g in groups if g["group_id"] == moved), None),
            "groups": groups,
            "checks": _shown(found["checks"], check_names()),
            "words": _shown(found["words"][:WORDS_SHOWN]),
            "contacts": _shown(found["contacts"], contact_names()),
            "learnt": [
                {
                    **m,
                    "name": m["community"] or tr("(no community)"),
                    "when": moment(m["trained_at"]),
                    "line": "–" if m["spam_from"] is None else f"{m['spam_from']:.3f}",
                }
                for m in found["learnt"]
            ],
        },
        user,
    )


@router.post("/moderation/checks/{group_id}/mode", include_in_schema=False)
def move_form(
    request: Request,
    group_id: auth.Id,
    user: auth.PageUser,
    mode: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """The next step's button: the group's moderation to training or enforce, stored and
    audited as any settings change (the running engine picks it up)."""
    auth.may_change(user)
    auth.check_csrf(request, csrf_token)
    if mode not in MODES.values():
        raise HTTPException(400, tr("mode: expected training or enforce"))
    row = visible(request, user, group_id)
    with auth.engine_of(request).connect() as conn:
        settings = current(conn, row.id, file_policies(request, row))[0]
    moved = settings.moderation.model_copy(update={"mode": mode, "enabled": True})
    store_policies(request, row, user, settings.model_copy(update={"moderation": moved}))
    return RedirectResponse(f"/moderation/checks?moved={row.id}", status_code=303)


@router.get(
    "/api/moderation/checks",
    response_model=ScorecardOut,
    tags=["api"],
    responses=auth.API_RESPONSES,
)
def scorecard_api(request: Request, user: auth.ApiUser, days: Days = DAYS) -> dict[str, Any]:
    """Over the last `days` (30 unless told), per group: decisions, answers, the share
    overturned and the next step; per check, ad word and contact kind: the same counts."""
    return card(request, user, days)
