"""The entry question (captcha): a newcomer answers in the chat within the time or is removed,
by the group's moderation mode; the removal is held back in the outbox and called off by a
right answer or by leaving. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from qunzhu import config
from qunzhu.config import CaptchaSettings, ConfigError, PolicySettings
from qunzhu.engine import outbox
from qunzhu.engine.policies import CaptchaPolicy, ModerationPolicy, WelcomePolicy
from qunzhu.engine.replay import MemoryMarks
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups, StoreMarks
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.model.live import Action, ActionKind, LiveEvent
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.service import policies_of
from qunzhu.store import schema as t

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
GROUP = Group(Platform.TELEGRAM, "-1001", "跑团一群")
AD = "代购名牌包包，加微信 abc12345 详聊"


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


class Platform_:
    """Does what it is asked, but cannot tell admins anything by itself."""

    name = "tg"
    capabilities = frozenset(ActionKind) - {ActionKind.NOTIFY_OWNER}

    def __init__(self) -> None:
        self.done: list[Action] = []

    async def run(self, emit: Any) -> None:
        await asyncio.Event().wait()

    async def execute(self, action: Action) -> str | None:
        self.done.append(action)
        return f"bot{action.id}" if action.kind is ActionKind.SEND else None


def joined(s: int, who: str = "new", role: str = "member") -> LiveEvent:
    at = T0 + timedelta(seconds=s)
    record = MembershipEvent(f"j{s}{who}", Person(who, f"名字{who}"), MembershipAction.JOIN, at)
    return LiveEvent("tg", GROUP, record, role=role)


def left(s: int, who: str = "new") -> LiveEvent:
    at = T0 + timedelta(seconds=s)
    record = MembershipEvent(
        f"l{s}{who}", Person(who, None), MembershipAction.LEAVE, at, JoinMethod.LINK
    )
    return LiveEvent("tg", GROUP, record)


def said(s: int, text: str, who: str = "new") -> LiveEvent:
    at = T0 + timedelta(seconds=s)
    record = Message(f"m{s}{who}", Person(who, f"名字{who}"), at, MessageKind.TEXT, text)
    return LiveEvent("tg", GROUP, record)


class Group_:
    """One group with a captcha (then moderation and a welcome), its clock and platform."""

    def __init__(self, engine: Engine, mode: Mode = Mode.ENFORCE, **captcha: Any) -> None:
        self.clock, self.platform = Clock(), Platform_()
        policies = [
            CaptchaPolicy(mode, **captcha),
            ModerationPolicy(Detector(), Ladder(mode)),
            WelcomePolicy(batch_s=0, after_captcha=True),
        ]
        setups = Setups({("tg", GROUP.platform_id): GroupSetup(policies)})
        self.rt = Runtime(engine, setups, {"tg": self.platform}, self.clock)

    def feed(self, *events: LiveEvent) -> list[tuple[str, str]]:
        """(policy, verdict) of each decision the events made."""
        d = t.decisions
        with self.rt.engine.connect() as conn:
            before = conn.execute(select(d.c.id).order_by(d.c.id.desc())).scalar() or 0
        for event in events:
            self.rt.accept(event)
        self.rt.process()
        with self.rt.engine.connect() as conn:
            rows = conn.execute(select(d).where(d.c.id > before).order_by(d.c.id)).all()
        return [(r.policy, r.verdict) for r in rows]

    def actions(self) -> list[dict[str, Any]]:
        o = t.outbox
        with self.rt.engine.connect() as conn:
            rows = conn.execute(select(o).order_by(o.c.id)).all()
        return [{**orjson.loads(r.payload), "status": r.status, "due": r.due_at} for r in rows]

    def question(self) -> str:
        """The newest question the group asked."""
        asks = [a["text"] for a in self.actions() if a["kind"] == "send" and "answer" in a["text"]]
        return asks[-1]

    def drain_at(self, seconds: float) -> list[Action]:
        self.clock.now = T0.timestamp() + seconds
        asyncio.run(self.rt.executor.drain())
        return self.platform.done


def right_answer(question: str) -> str:
    a, b = re.search(r"What is (\d) plus (\d)\?", question).groups()  # type: ignore[union-attr]
    return str(int(a) + int(b))


def test_a_newcomer_who_answers_stays(engine: Engine) -> None:
    group = Group_(engine, timeout_s=180)
    assert group.feed(joined(0)) == [("captcha", "asked")]  # welcomed once they answer
    ask, kick = group.actions()
    assert "@名字new" in ask["text"] and "3 minutes" in ask["text"]
    assert kick["status"] == outbox.PENDING and kick["due"] == int(T0.timestamp() * 1000) + 180_000
    assert group.feed(said(20, f"答案是 {right_answer(group.question())}")) == [
        ("captcha", "passed"),
        ("welcome", "welcome"),
    ]
    assert "@名字new" in group.actions()[-1]["text"]
    (kick,) = [a for a in group.actions() if a["kind"] == "kick"]
    assert kick["status"] == outbox.CANCELLED
    done = group.drain_at(600)
    assert ActionKind.KICK not in [a.kind for a in done]
    # now a member like the others: an ad is moderation's again, and no question after a rejoin
    assert group.feed(said(700, AD)) == [("moderation", "spam")]
    assert group.feed(left(800), joined(900)) == [("welcome", "welcome")]


def test_silence_until_the_time_is_up_removes_the_newcomer(engine: Engine) -> None:
    group = Group_(engine, timeout_s=60)
    group.feed(joined(0))
    assert ActionKind.KICK not in [a.kind for a in group.drain_at(30)]  # not yet
    # the question went out at 30 s; it is taken down when its time is up, 60 s later
    (ask,) = [a for a in group.platform.done if a.kind is ActionKind.SEND]
    (tidy,) = [a for a in group.actions() if a["kind"] == "delete"]
    assert (tidy["message_id"], tidy["reason"]) == (f"bot{ask.id}", "expired")
    assert tidy["due"] == int(T0.timestamp() * 1000) + 30_000 + 60_000
    kicks = [a for a in group.drain_at(61) if a.kind is ActionKind.KICK]
    assert [(k.member_id, k.reason) for k in kicks] == [("new", "captcha")]
    deleted = [a.message_id for a in group.drain_at(91) if a.kind is ActionKind.DELETE]
    assert deleted == [f"bot{ask.id}"]
    # a late answer changes nothing: the removal is done
    assert group.feed(said(90, right_answer(group.question()))) == []


def test_the_question_goes_when_it_is_answered(engine: Engine) -> None:
    group = Group_(engine, timeout_s=180)
    group.feed(joined(0))
    group.drain_at(2)  # the question went out
    (ask,) = [a for a in group.platform.done if a.kind is ActionKind.SEND]
    assert group.feed(said(20, right_answer(group.question())))[0] == ("captcha", "passed")
    tidy, answer = [a for a in group.actions() if a["kind"] == "delete"]
    assert tidy["due"] == int(T0.timestamp() * 1000) + 2_000  # now, not in three minutes
    assert tidy["status"] == outbox.PENDING  # brought forward, not called off
    assert (answer["message_id"], answer["reason"]) == ("m20new", "answer")  # the bare answer too
    done = group.drain_at(21)
    assert [a.message_id for a in done if a.kind is ActionKind.DELETE] == [f"bot{ask.id}", "m20new"]
    assert ActionKind.KICK not in [a.kind for a in group.drain_at(600)]
    # an answer that says more (an introduction) stays
    group.feed(joined(700, "chatty"))
    longer = f"{right_answer(group.question())}，我是上海做保险的小王，请多关照"
    group.feed(said(720, longer, "chatty"))
    assert "m720chatty" not in [a["message_id"] for a in group.actions() if a["kind"] == "delete"]


def test_meanwhile_messages_are_taken_down_and_wrong_tries_remove_at_once(
    engine: Engine,
) -> None:
    group = Group_(engine, timeout_s=180, tries=3)
    group.feed(joined(0))
    # the ad is the captcha's alone: taken down, no strike, nothing for moderation to judge
    assert group.feed(said(5, AD)) == [("captcha", "unanswered")]
    assert group.feed(said(6, "0")) == [("captcha", "unanswered")]
    assert group.feed(said(7, "不知道")) == [("captcha", "failed")]
    by_kind = [(a["kind"], a["status"]) for a in group.actions() if a["kind"] != "send"]
    assert by_kind == [
        ("kick", outbox.CANCELLED),  # the held-back one, called off...
        ("delete", outbox.PENDING),
        ("delete", outbox.PENDING),
        ("delete", outbox.PENDING),
        ("kick", outbox.PENDING),  # ...for one now
    ]
    assert [a.kind for a in group.drain_at(8)].count(ActionKind.KICK) == 1
    # they may come back (a kick, not a ban) and are asked again, a new sum
    assert group.feed(joined(100))[0] == ("captcha", "asked")
    assert group.feed(said(110, right_answer(group.question())))[0] == ("captcha", "passed")


def test_what_came_with_the_join_is_taken_down_but_not_a_wrong_try(engine: Engine) -> None:
    group = Group_(engine, timeout_s=180, tries=1)
    # a greeting pasted at once (here in the same batch as the join) was not an answer
    assert group.feed(joined(0), said(1, "大家好")) == [
        ("captcha", "asked"),
        ("captcha", "unanswered"),
    ]
    assert [(a["kind"], a["status"]) for a in group.actions() if a["kind"] != "send"] == [
        ("kick", outbox.PENDING),  # held back: the time is not up
        ("delete", outbox.PENDING),  # the greeting
    ]
    # three seconds on, they have seen the question: one wrong answer is the one try
    assert group.feed(said(4, "不知道")) == [("captcha", "failed")]
    # a burst at once is a bot's: only its first message is spared
    group.feed(joined(100, "bot"))
    assert group.feed(said(101, "加微信", "bot"), said(102, "加微信!", "bot")) == [
        ("captcha", "unanswered"),
        ("captcha", "failed"),
    ]


def test_leaving_calls_the_removal_off(engine: Engine) -> None:
    group = Group_(engine, timeout_s=60)
    group.feed(joined(0))
    assert group.feed(left(10)) == [("captcha", "left")]
    assert ActionKind.KICK not in [a.kind for a in group.drain_at(120)]


def test_joining_and_leaving_in_one_batch_calls_the_removal_off(engine: Engine) -> None:
    """The removal held back for the newcomer is queued with the batch's other actions at
    its end; leaving in the same batch must still find it to call it off."""
    group = Group_(engine, timeout_s=60)
    assert group.feed(joined(0), left(10)) == [("captcha", "asked"), ("captcha", "left")]
    (kick,) = [a for a in group.actions() if a["kind"] == "kick"]
    assert kick["status"] == outbox.CANCELLED
    assert ActionKind.KICK not in [a.kind for a in group.drain_at(120)]


def test_training_asks_the_admins_when_the_time_is_up(engine: Engine) -> None:
    group = Group_(engine, Mode.TRAINING, timeout_s=60)
    group.feed(joined(0))
    # nothing taken down in training: moderation still judges what they write
    assert group.feed(said(5, AD)) == [("captcha", "unanswered"), ("moderation", "spam")]
    (note,) = [a for a in group.actions() if a["reason"] == "captcha"]
    assert note["status"] == outbox.PENDING  # held back: not a task before the time is up
    group.drain_at(30)
    assert [a["status"] for a in group.actions() if a["reason"] == "captcha"] == [outbox.PENDING]
    group.drain_at(61)
    (note,) = [a for a in group.actions() if a["reason"] == "captcha"]
    assert note["status"] == outbox.TASK and "did not pass the entry question" in note["text"]
    assert ActionKind.KICK not in [a.kind for a in group.platform.done]


def test_shadow_only_records(engine: Engine) -> None:
    group = Group_(engine, Mode.SHADOW, timeout_s=60, tries=1)
    assert group.feed(joined(0))[0] == ("captcha", "asked")
    assert group.feed(said(5, "hello"))[0] == ("captcha", "failed")
    assert [a["kind"] for a in group.actions()] == ["send"]  # the welcome: shadow changes nothing
    with engine.connect() as conn:
        rows = conn.execute(select(t.decisions).where(t.decisions.c.policy == "captcha")).all()
    assert [orjson.loads(r.reasons)["would"] for r in rows] == ["ask", "kick"]


def test_the_groups_own_question(engine: Engine) -> None:
    group = Group_(engine, question="我们每周六做什么？", answers=("跑步", "run"), tries=2)
    group.feed(joined(0), joined(1, "other"))
    assert "我们每周六做什么？" in group.question()
    assert group.feed(said(5, "RUN together"))[0] == ("captcha", "passed")
    assert group.feed(said(6, "3", who="other"), said(7, "游泳", who="other")) == [
        ("captcha", "unanswered"),
        ("captcha", "failed"),
    ]


def test_who_is_not_asked(engine: Engine) -> None:
    group = Group_(engine)
    with engine.begin() as conn:
        group.feed(said(0, "早上好", who="old"))  # the group exists in the store now
        gid = conn.execute(select(t.groups.c.id)).scalar_one()
        StoreMarks(conn, gid).put("moderation", "trusted:friend", T0.timestamp())
    verdicts = group.feed(joined(1, "boss", role="admin"), joined(2, "friend"))
    assert verdicts == [("welcome", "welcome")] * 2
    # one the community's blocklist keeps out is moderation's to remove, not asked
    blocked = joined(3, "spammer")
    blocked.blocked = "ads in another group"
    assert CaptchaPolicy(Mode.ENFORCE).decide(blocked, MemoryMarks()) == []
    assert CaptchaPolicy(Mode.ENFORCE).decide(joined(3, "spammer"), MemoryMarks()) != []


def test_chinese_question_and_answers(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    group = Group_(engine)
    group.feed(joined(0, "a"), joined(1, "b"))
    cn = "零一二三四五六七八九"
    questions = [a["text"] for a in group.actions() if "分钟内直接发送答案" in a["text"]]
    sums = []
    for text in questions:
        a, b = re.search(f"([{cn}])加([{cn}])等于几？", text).groups()  # type: ignore[union-attr]
        sums.append(cn.index(a) + cn.index(b))
    spelled = "十" if sums[0] == 10 else cn[sums[0]] if sums[0] < 10 else "十" + cn[sums[0] - 10]
    wide = "".join(chr(0xFF10 + int(d)) for d in str(sums[1]))  # full-width digits
    verdicts = group.feed(said(10, f"等于{spelled}", "a"), said(11, f"答案：{wide}", "b"))
    assert [v for v in verdicts if v[0] == "captcha"] == [("captcha", "passed")] * 2


@pytest.mark.parametrize(
    ("said_", "passes"),
    [("十二", 12), ("十", 10), ("两", 2), ("３+９=１２", 12), ("我觉得是 7 吧", 7), ("嗯", None)],
)
def test_numbers_in_answers(said_: str, passes: int | None) -> None:
    from qunzhu.engine.policies import _number

    assert _number(said_) == passes


def test_settings_check_the_question_and_come_first() -> None:
    with pytest.raises(ValueError, match="at least one answer"):
        CaptchaSettings(question="我们周六做什么？")
    with pytest.raises(ValueError, match="need a question"):
        CaptchaSettings(answers=["跑步"])
    with pytest.raises(ValueError):
        CaptchaSettings(timeout_s=5)
    settings = PolicySettings.model_validate(
        {"moderation": {"mode": "training"}, "captcha": {"timeout_s": 120}}
    )
    welcome = PolicySettings.model_validate({"captcha": {}, "welcome": {}})
    assert [p.after_captcha for p in policies_of(welcome) if isinstance(p, WelcomePolicy)] == [True]
    first, second = policies_of(settings)[:2]
    assert isinstance(first, CaptchaPolicy) and isinstance(second, ModerationPolicy)
    assert (first.mode, first.timeout_s) == (Mode.TRAINING, 120)
    off = PolicySettings.model_validate({"captcha": {"enabled": False}})
    assert not any(isinstance(p, CaptchaPolicy) for p in policies_of(off))


def test_a_question_without_answers_in_the_file_is_one_line() -> None:
    text = """
[[groups]]
name = "g"
connector = "tg"
id = "-1001"
[groups.policies.captcha]
question = "暗号？"
"""
    with pytest.raises(ConfigError) as caught:
        config.parse(tomllib.loads(text))
    assert "captcha" in str(caught.value) and "at least one answer" in str(caught.value)


def test_a_join_time_with_parts_of_a_millisecond_asks_a_sum_its_answer_passes(
    engine: Engine,
) -> None:
    """The console stamps events with time.time(): the store keeps whole milliseconds, and the
    sum asked must be the one checked."""
    group = Group_(engine)
    for n, extra in enumerate((0.0004, 0.0006, 0.9999)):
        at = T0 + timedelta(seconds=n, microseconds=round(extra * 1e6))
        who = f"p{n}"
        record = MembershipEvent(f"jp{n}", Person(who, who), MembershipAction.JOIN, at)
        group.feed(LiveEvent("tg", GROUP, record))
        assert group.feed(said(10 + n, right_answer(group.question()), who))[0] == (
            "captcha",
            "passed",
        )


def test_one_join_told_twice_asks_once(engine: Engine) -> None:
    """Telegram sends a join as a service message and as a member update."""
    group = Group_(engine)
    second = joined(1)
    second.record = MembershipEvent("cm-new", Person("new", "名字new"), MembershipAction.JOIN, T0)
    assert group.feed(joined(0), second) == [("captcha", "asked")]
    assert len([a for a in group.actions() if a["kind"] == "kick"]) == 1
    verdicts = group.feed(said(20, right_answer(group.question())))
    assert verdicts == [("captcha", "passed"), ("welcome", "welcome")]  # welcomed once
