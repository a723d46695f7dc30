"""The event path: inbox, store, policies, decisions and outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import Connection, Engine, func, select

from qunzhu.config import Config, parse
from qunzhu.engine import outbox
from qunzhu.engine.policies import (
    CIVIL,
    AdmissionPolicy,
    Answer,
    AutoReplyPolicy,
    ModerationPolicy,
    NicknamePolicy,
    WelcomePolicy,
)
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
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
from qunzhu.model.live import Action, ActionFailed, ActionKind, JoinRequest, LiveEvent, RateLimited
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.store import schema as t

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GROUP = Group(Platform.TELEGRAM, "-1001", "跑步群")


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


class FakeConnector:
    """Records what it was asked to do; can be told to fail the next calls."""

    name = "tg"
    capabilities = frozenset(ActionKind) - {ActionKind.NOTIFY_OWNER, ActionKind.APPROVE}

    def __init__(self) -> None:
        self.done: list[Action] = []
        self.failures: list[Exception] = []

    async def run(self, emit) -> None:  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    async def execute(self, action: Action) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.done.append(action)


def message(n: int, text: str, who: str = "u1", name: str = "北京-金融-张三") -> LiveEvent:
    record = Message(str(n), Person(who, name), T0 + timedelta(seconds=n), MessageKind.TEXT, text)
    return LiveEvent("tg", GROUP, record)


def join(n: int, who: str, name: str) -> LiveEvent:
    at = T0 + timedelta(seconds=n)
    record = MembershipEvent(f"j{n}", Person(who, name), MembershipAction.JOIN, at, JoinMethod.LINK)
    return LiveEvent("tg", GROUP, record)


def runtime(engine: Engine, *policies, connector=None, clock=None) -> Runtime:  # type: ignore[no-untyped-def]
    setups = Setups({("tg", GROUP.platform_id): GroupSetup(list(policies))})
    conns = {"tg": connector} if connector else {}
    return Runtime(engine, setups, conns, clock or Clock())


def rows(engine: Engine, table):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(table).order_by(table.c.id)).all()


def test_events_are_stored_like_imports_and_delivered_once(engine: Engine) -> None:
    rt = runtime(engine)
    assert rt.accept(message(1, "大家好")) is not None
    assert rt.accept(message(1, "大家好")) is None  # the platform delivered it twice
    rt.accept(join(2, "u2", "李四"))
    assert rt.process() == 2 and rt.process() == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.messages)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(t.membership_events)).scalar() == 1
        assert conn.execute(select(t.groups.c.name)).scalar() == "跑步群"
    assert all(r.payload == "" for r in rows(engine, t.inbox))  # no chat text kept twice


def test_an_ad_is_deleted_and_warned_with_its_reasons(engine: Engine) -> None:
    moderation = ModerationPolicy(Detector(), Ladder(Mode.ENFORCE))
    rt = runtime(engine, moderation)
    rt.accept(message(1, "今天跑了十公里"))
    rt.accept(message(2, "代购名牌包包，加微信 abc12345 详聊", who="spammer", name="x"))
    rt.process()
    decisions = rows(engine, t.decisions)
    assert [(d.policy, d.verdict) for d in decisions] == [("moderation", "spam")]
    reasons = orjson.loads(decisions[0].reasons)
    assert reasons["step"] == "delete_warn"
    assert {c["name"] for c in reasons["checks"]} >= {"contacts_and_words"}
    actions = rows(engine, t.outbox)
    assert [a.kind for a in actions] == ["delete", "warn"]
    assert orjson.loads(actions[0].payload)["message_id"] == "2"


def test_on_a_server_an_event_and_each_step_of_an_action_are_one_statement(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking an event in, and marking an action under way and done, run on their own
    (autocommit) on PostgreSQL, a round trip each, and in a transaction on SQLite."""
    from qunzhu.store.prepared import Prepared

    seen: list[tuple[str, str | None]] = []
    run = Prepared.run

    def noting(self: Prepared, conn, params):  # type: ignore[no-untyped-def]
        words = str(self.statement).split()
        table = words[2] if words[0] == "INSERT" else words[1]
        seen.append((f"{words[0]} {table}", conn.get_execution_options().get("isolation_level")))
        return run(self, conn, params)

    connector = FakeConnector()
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)), connector=connector)
    monkeypatch.setattr(Prepared, "run", noting)
    rt.accept(message(1, "代购名牌包包，加微信 abc12345 详聊", who="spammer", name="x"))
    rt.process()
    asyncio.run(rt.executor.drain())
    assert [a.kind for a in connector.done] == [ActionKind.DELETE, ActionKind.WARN]
    alone = "AUTOCOMMIT" if engine.dialect.name == "postgresql" else None
    single = [s for s in seen if s[0] in ("INSERT inbox", "UPDATE outbox")]
    assert len(single) == 5, seen  # the event, and each action taken and ended
    assert {level for _s, level in single} == {alone}


def test_a_batchs_decisions_and_actions_are_written_in_two_statements(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decisions and their actions wait for the end of the batch and are written together
    (on a database server, two round trips instead of three for each ad; on SQLite the
    actions together), in the order they were decided, each action naming its decision."""
    from qunzhu.engine import outbox as module
    from qunzhu.engine import runtime as engine_runtime

    written: list[tuple[str, int]] = []
    insert, decisions_add = module.insert, engine_runtime._DECISIONS_ADD

    def actions(conn, table, cols, rows, on):  # type: ignore[no-untyped-def]
        written.append((table.name, len(rows)))
        return insert(conn, table, cols, rows, on)

    def executed(self, statement, rows=None, *a, **k):  # type: ignore[no-untyped-def]
        if statement is decisions_add:
            written.append(("decisions", len(rows)))
        return execute(self, statement, rows, *a, **k)

    execute = Connection.execute
    monkeypatch.setattr(module, "insert", actions)
    monkeypatch.setattr(Connection, "execute", executed)
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    for n in range(4):
        rt.accept(message(n, f"代购名牌包包，加微信 abc1234{n} 详聊", who=f"spammer{n}", name="x"))
    rt.process()
    server = engine.dialect.name == "postgresql"  # SQLite: a decision a call, no round trip
    assert written == [("decisions", 4), ("outbox", 8)] if server else [("outbox", 8)]
    ids = {d.id: d.record_id for d in rows(engine, t.decisions)}
    queued = [
        (a.kind, orjson.loads(a.payload)["message_id"], ids[a.decision_id])
        for a in rows(engine, t.outbox)
    ]
    assert queued == [(kind, str(n), str(n)) for n in range(4) for kind in ("delete", "warn")]


def reads_of_marks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The keys each read of marks from the store asks for, one tuple a statement, from now on."""
    from qunzhu.engine.runtime import StoreMarks

    asked: list[tuple[str, ...]] = []
    get, many = StoreMarks.get, StoreMarks.many

    def one(self: StoreMarks, policy: str, key: str) -> float | None:
        asked.append((key,))
        return get(self, policy, key)

    def together(self: StoreMarks, policy: str, keys) -> dict[str, float]:  # type: ignore[no-untyped-def]
        asked.append(tuple(keys))
        return many(self, policy, keys)

    monkeypatch.setattr(StoreMarks, "get", one)
    monkeypatch.setattr(StoreMarks, "many", together)
    return asked


def test_a_spammers_strikes_are_read_in_one_statement(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ladder reads the member's six strike marks together: a round trip on a database
    server, not six."""
    asked = reads_of_marks(monkeypatch)
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    rt.accept(message(1, "代购名牌包包，加微信 abc12345 详聊", who="spammer", name="x"))
    rt.process()
    strikes = [keys for keys in asked if any(k.startswith("strike") for k in keys)]
    assert strikes == [tuple(f"strike{i}:spammer" for i in range(6))]


def test_the_marks_read_for_every_event_are_read_once_a_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moderation reads each sender's join, trust and earned-trust marks, the nickname policy
    whether they were reminded, the welcome when a newcomer was last welcomed, auto-replies
    when an answer was last given: for a batch, in a statement per policy whatever its groups
    (a round trip to a database server), not one an event. What the batch itself marks still
    counts: a newcomer who joins in it is on probation for the link that follows, a member
    reminded in it is not reminded again, an answer given in it cools down."""
    from qunzhu.engine import runtime as live
    from qunzhu.store.prepared import Prepared

    rows_of = Prepared.rows
    ahead: list[dict] = []

    def noted(self: Prepared, conn, params):  # type: ignore[no-untyped-def]
        if self is live._MARKS_AHEAD:
            ahead.append(dict(params))
        return rows_of(self, conn, params)

    other = Group(Platform.TELEGRAM, "-1002", "跑步二群")
    policies = [
        WelcomePolicy(),
        ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)),
        NicknamePolicy(r"[^-]+-[^-]+-[^-]+"),
        AutoReplyPolicy((Answer(("几点",), "每周六早上七点"), Answer(("报名",), "找群主报名"))),
    ]
    setups = Setups({("tg", g.platform_id): GroupSetup(policies) for g in (GROUP, other)})
    rt = Runtime(engine, setups, {}, Clock())
    rt.accept(join(1, "u2", "老王"))
    rt.process()
    asked = reads_of_marks(monkeypatch)
    monkeypatch.setattr(Prepared, "rows", noted)
    for n, who in enumerate(("u1", "u2", "u3", "u1"), start=10):
        text = "周六几点跑？" if n in (11, 12) else "今天跑了十公里"  # asked twice: answered once
        rt.accept(message(n, text, who=who, name="小张" if who == "u1" else "京-金融-王"))
    said = Message("15", Person("u9", "小李"), T0 + timedelta(seconds=15), MessageKind.TEXT, "早")
    rt.accept(LiveEvent("tg", other, said))
    rt.accept(join(20, "u7", "新人"))
    link = Message(
        "21",
        Person("u7", "新人"),
        T0 + timedelta(seconds=21),
        MessageKind.TEXT,
        "看看 https://a.cn/x",
    )
    rt.accept(LiveEvent("tg", GROUP, link, kinds=frozenset({"link"})))
    rt.process()
    read_alone = ("joined:", "remind:", "welcomed:", "answer:")
    assert [keys for keys in asked if any(k.startswith(read_alone) for k in keys)] == []
    assert [a["b_policy"] for a in ahead] == ["welcome", "moderation", "nickname", "auto_reply"]
    assert sorted(set(ahead[3]["b_keys"])) == ["answer:0", "answer:1"]
    assert ahead[0]["b_keys"] == ["welcomed:u7"]
    assert set(ahead[2]["b_keys"]) == {f"remind:{who}" for who in ("u1", "u2", "u3", "u7", "u9")}
    assert set(ahead[1]["b_keys"]) == {
        f"{kind}:{who}"
        for kind in ("joined", "trusted", "earned")
        for who in ("u1", "u2", "u3", "u7", "u9")
    }
    decided = rows(engine, t.decisions)
    (decision,) = [d for d in decided if d.record_id == "21" and d.policy == "moderation"]
    assert "type_lock" in {c["name"] for c in orjson.loads(decision.reasons)["checks"]}
    reminded = [d.member for d in decided if d.policy == "nickname" and d.verdict == "remind"]
    assert sorted(reminded) == ["u1", "u7", "u9"]  # names that do not fit; u1 spoke twice: once
    assert [d.verdict for d in decided if d.policy == "welcome"] == ["welcome", "welcome"]
    assert [d.verdict for d in decided if d.policy == "auto_reply"] == ["answer", "cooling_down"]


def test_an_ad_put_in_the_group_files_is_taken_out_of_them(engine: Engine) -> None:
    """QQ's upload notice becomes a FILE message whose id names the file; the delete carries
    that id to the connector, which calls delete_group_file with it."""
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    name = "[文件]兼职日结 加微信 abc12345.xlsx"
    record = Message("file:102:/f-1", Person("u9", "x"), T0, MessageKind.FILE, name)
    rt.accept(LiveEvent("tg", GROUP, record, kinds=frozenset({"file"})))
    rt.process()
    assert [(d.policy, d.verdict) for d in rows(engine, t.decisions)] == [("moderation", "spam")]
    deleted = [orjson.loads(a.payload) for a in rows(engine, t.outbox) if a.kind == "delete"]
    assert [d["message_id"] for d in deleted] == ["file:102:/f-1"]


def test_a_member_mentioning_everyone_is_asked_about(engine: Engine) -> None:
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    sent = T0 + timedelta(seconds=1)
    everyone = Message("1", Person("u1", "x"), sent, MessageKind.TEXT, "通知", mentions=("all",))
    rt.accept(LiveEvent("tg", GROUP, everyone))
    rt.accept(message(2, "今天跑了十公里"))
    rt.process()
    decided = rows(engine, t.decisions)
    assert [(d.verdict, d.record_id) for d in decided] == [("review", "1")]
    assert "mentions" in {c["name"] for c in orjson.loads(decided[0].reasons)["checks"]}


def test_abuse_is_taken_down_with_a_word_on_manners_not_on_ads(engine: Engine) -> None:
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE), warning="本群禁广告"))
    rt.accept(message(1, "你就是个傻逼", who="u1"))
    rt.accept(message(2, "代购名牌包包，加微信 abc12345 详聊", who="u2"))
    rt.process()
    warned = [orjson.loads(a.payload) for a in rows(engine, t.outbox) if a.kind == "warn"]
    assert [(w["member_id"], w["text"]) for w in warned] == [
        ("u1", CIVIL),
        ("u2", "本群禁广告"),
    ]


def test_a_message_edited_into_an_ad_is_judged_again_and_taken_down(engine: Engine) -> None:
    """ "你好", approved by everything, edited into an ad an hour later: judged as the message
    it now is (its stored words are the new ones), once per message and verdict; fixing a
    typo in a normal message asks nothing, and an edit is not counted as a new message."""
    from qunzhu.model.live import Edit

    moderation = ModerationPolicy(Detector(), Ladder(Mode.ENFORCE))
    rt = runtime(
        engine,
        moderation,
        WelcomePolicy("欢迎 %NICKNAME%"),
        AutoReplyPolicy((Answer(("几点",), "七点"),), 0),
    )

    def edit(n: int, minutes: int, text: str, who: str = "u1") -> LiveEvent:
        original = message(n, text, who=who)
        record = original.record
        assert isinstance(record, Message)
        at = T0 + timedelta(minutes=minutes)
        return LiveEvent("tg", GROUP, Edit(record.platform_id, record.sender, at, record))

    rt.accept(message(1, "你好"))
    rt.accept(message(2, "几点集合", who="u2"))
    rt.process()
    before = len(rows(engine, t.decisions))
    rt.accept(edit(1, 60, "代购名牌包包，加微信 abc12345 详聊"))
    rt.accept(edit(1, 61, "代购名牌包包，加微信 abc12345 详聊！"))  # edited again: once
    rt.accept(edit(2, 62, "几点集合？", who="u2"))  # a typo fixed: nothing, no second answer
    rt.process()
    decided = rows(engine, t.decisions)[before:]
    assert [(d.policy, d.verdict, d.record_id) for d in decided] == [("moderation", "spam", "1")]
    assert orjson.loads(decided[0].reasons)["edited"] is True
    queued = [(a.kind, orjson.loads(a.payload)["message_id"]) for a in rows(engine, t.outbox)]
    assert ("delete", "1") in queued
    with engine.connect() as conn:
        texts = dict(conn.execute(select(t.messages.c.platform_id, t.messages.c.text)).all())
    assert texts == {"1": "代购名牌包包，加微信 abc12345 详聊！", "2": "几点集合？"}


def test_a_picture_swapped_in_by_an_edit_is_read(engine: Engine) -> None:
    """A photo of a cat, approved, then edited into an ad poster: the new picture's text is
    read as a message's is, and the message taken down once."""
    from qunzhu.engine.reader import PictureReader
    from qunzhu.model.live import Edit

    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    said = {b"cat": "", b"poster": "兼职日结 加微信 abc12345"}
    rt.reader = PictureReader(rt.accept, lambda data: said[data])
    first = message(1, "看看我家猫")
    first.kinds, first.images = frozenset({"image"}), (b"cat",)
    rt.accept(first)
    rt.process()
    rt.reader.wait()
    assert rt.process() == 0 and rows(engine, t.decisions) == []  # the cat says nothing
    record = first.record
    assert isinstance(record, Message)
    at = T0 + timedelta(minutes=30)
    swapped = LiveEvent("tg", GROUP, Edit(record.platform_id, record.sender, at, record))
    swapped.kinds, swapped.images = frozenset({"image"}), (b"poster",)
    rt.accept(swapped)
    rt.process()
    rt.reader.wait()
    rt.process()
    decided = rows(engine, t.decisions)
    assert [(d.verdict, d.record_id) for d in decided] == [("spam", "1")]
    assert "abc12345" in orjson.loads(decided[0].reasons)["picture_text"]
    queued = [(a.kind, orjson.loads(a.payload)["message_id"]) for a in rows(engine, t.outbox)]
    assert queued == [("delete", "1"), ("warn", "1")]


def test_a_member_who_reacts_is_looked_at_once_a_day(engine: Engine) -> None:
    """Accounts that never post but react carry the ad in their profile: who reacts is looked
    at as at a join (an ad bio is a question), once a day however often they react."""
    from qunzhu.model.live import Reaction

    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))

    def react(n: int, who: str, bio: str, hours: float = 0) -> LiveEvent:
        at = T0 + timedelta(hours=hours)
        event = LiveEvent("tg", GROUP, Reaction(f"{n}:{who}", Person(who, "小美"), at))
        event.bio = bio
        return event

    ad = "兼职日结，日赚300，加V abc12345"
    for event in (
        react(1, "u7", ad),
        react(2, "u7", ad, hours=1),  # the same day: not again
        react(3, "u8", "热爱跑步"),
        react(4, "u7", ad, hours=25),  # the next day: asked again
    ):
        rt.accept(event)
    rt.process()
    decided = rows(engine, t.decisions)
    assert [(d.member, d.verdict) for d in decided] == [("u7", "review"), ("u7", "review")]
    assert [c["name"] for c in orjson.loads(decided[0].reasons)["checks"]] == ["bio"]


def test_shadow_mode_decides_but_queues_nothing(engine: Engine) -> None:
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.SHADOW)))
    rt.accept(message(1, "代购名牌包包，加微信 abc12345 详聊"))
    rt.process()
    (decision,) = rows(engine, t.decisions)
    assert orjson.loads(decision.reasons)["would"] == "delete_warn"
    assert rows(engine, t.outbox) == []


def test_newcomers_arriving_together_get_one_welcome(engine: Engine) -> None:
    clock = Clock()
    rt = runtime(engine, WelcomePolicy(rules="群规：不发广告", batch_s=30), clock=clock)
    for n, name in enumerate(["小王", "小李", "小赵"]):
        rt.accept(join(n, f"n{n}", name))
    rt.process()
    (welcome,) = rows(engine, t.outbox)
    text = orjson.loads(welcome.payload)["text"]
    assert "@小王、@小李、@小赵" in text and text.endswith("群规：不发广告")
    clock.now += 60
    rt.accept(join(100, "n9", "小周"))  # a minute later: its own welcome
    rt.process()
    assert len(rows(engine, t.outbox)) == 2


def test_one_join_told_twice_is_welcomed_once(engine: Engine) -> None:
    """Telegram sends a join as a service message and as a member update."""
    clock = Clock()
    rt = runtime(engine, WelcomePolicy(batch_s=30), clock=clock)
    rt.accept(join(1, "n1", "小王"))
    update = join(2, "n1", "小王")
    update.record = MembershipEvent("cm-n1", Person("n1", "小王"), MembershipAction.JOIN, T0)
    rt.accept(update)
    rt.process()
    (welcome,) = rows(engine, t.outbox)
    assert "@小王" in orjson.loads(welcome.payload)["text"]
    assert "@小王、@小王" not in orjson.loads(welcome.payload)["text"]
    clock.now += 3600
    rt.accept(join(3600, "n1", "小王"))  # back an hour later: a join of its own
    rt.process()
    assert len(rows(engine, t.outbox)) == 2


def test_a_welcome_is_taken_down_when_asked_and_the_platform_says_its_id(
    engine: Engine,
) -> None:
    clock = Clock()

    class Saying(FakeConnector):
        async def execute(self, action: Action) -> str | None:
            await super().execute(action)
            return "m77" if action.kind is ActionKind.SEND else None

    platform = Saying()
    welcome = WelcomePolicy(batch_s=0, delete_after_s=600)
    rt = runtime(engine, welcome, connector=platform, clock=clock)
    rt.accept(join(1, "n1", "小王"))
    rt.process()
    asyncio.run(rt.executor.drain())
    (tidy,) = [r for r in rows(engine, t.outbox) if r.kind == "delete"]
    assert orjson.loads(tidy.payload)["message_id"] == "m77"
    assert tidy.due_at == int(clock.now * 1000) + 600_000
    asyncio.run(rt.executor.drain())
    assert [a.kind for a in platform.done] == [ActionKind.SEND]  # not yet
    clock.now += 600
    asyncio.run(rt.executor.drain())
    assert [(a.kind, a.message_id) for a in platform.done][-1] == (ActionKind.DELETE, "m77")
    # a platform that says no id: nothing to take down
    welcome = WelcomePolicy(batch_s=0, delete_after_s=600)
    quiet = runtime(engine, welcome, connector=FakeConnector(), clock=clock)
    quiet.accept(join(2, "n2", "小李"))
    quiet.process()
    asyncio.run(quiet.executor.drain())
    assert len([r for r in rows(engine, t.outbox) if r.kind == "delete"]) == 1


def test_join_requests_by_answer(engine: Engine) -> None:
    rt = runtime(engine, AdmissionPolicy(answers=("跑步",), reject_words=("加微信",)))
    for n, answer in enumerate(["我喜欢跑步", "加微信领资料", "路过"]):
        rt.accept(LiveEvent("tg", GROUP, JoinRequest(f"r{n}", Person(f"p{n}", None), T0, answer)))
    rt.process()
    assert [d.verdict for d in rows(engine, t.decisions)] == ["approve", "reject", "ask_admin"]


def test_an_ad_in_a_join_request_is_never_approved_and_a_confirmed_one_is_rejected(
    engine: Engine,
) -> None:
    """With moderation's detector, the asker's name and request (Telegram's bio, QQ's answer)
    are judged as at a join: an ad goes to an admin even with the right answer, one people
    confirmed (the spam bank) is rejected; a plain answer is approved as before."""
    from qunzhu.moderation.behaviour import SpamBank
    from qunzhu.moderation.normalize import normalize

    bank = SpamBank()
    bank.add(normalize("代理招募 低价出U 日赚500 联系 @usdt_cash8"))
    admission = AdmissionPolicy(answers=("跑步",), detector=Detector(bank=bank))
    rt = runtime(engine, admission)
    for n, (name, answer) in enumerate(
        [
            ("跑友", "我喜欢跑步"),
            ("跑友", "跑步 兼职日结，日赚300，加V abc12345"),
            ("刷单日结VX:abc12345", "跑步"),
            ("小美", "代理招募 低价出U 日赚500 联系 @usdt_cash9"),
        ]
    ):
        rt.accept(LiveEvent("tg", GROUP, JoinRequest(f"r{n}", Person(f"p{n}", name), T0, answer)))
    rt.process()
    decided = [(d.verdict, orjson.loads(d.reasons)) for d in rows(engine, t.decisions)]
    assert [v for v, _ in decided] == ["approve", "ask_admin", "ask_admin", "reject"]
    assert [c["name"] for c in decided[1][1]["checks"]] == ["join_request"]
    assert [c["name"] for c in decided[2][1]["checks"]] == ["display_name"]
    assert [(c["name"], c["verdict"]) for c in decided[3][1]["checks"]] == [
        ("join_request", "spam")
    ]
    kinds = [orjson.loads(r.payload)["kind"] for r in rows(engine, t.outbox)]
    assert kinds == ["approve", "notify_owner", "notify_owner", "reject"]
    # QQ's request says only what the asker typed; their signature comes beside it
    signed = JoinRequest("r9", Person("p9"), T0, "跑步")
    rt.accept(LiveEvent("tg", GROUP, signed, bio="兼职日结，日赚300，加V abc12345"))
    rt.process()
    verdict, reasons = rows(engine, t.decisions)[-1].verdict, rows(engine, t.decisions)[-1].reasons
    assert verdict == "ask_admin" and [c["name"] for c in orjson.loads(reasons)["checks"]] == [
        "bio"
    ]


def test_nickname_reminded_once_then_admins_told(engine: Engine) -> None:
    clock = Clock()
    rt = runtime(engine, NicknamePolicy(pattern=r"[^-]+-[^-]+-[^-]+", grace_h=1), clock=clock)
    rt.accept(message(1, "你好", who="m", name="小明"))
    rt.accept(message(2, "在吗", who="m", name="小明"))
    rt.accept(message(3, "你好", who="ok", name="上海-教育-王五"))
    rt.process()
    assert [d.verdict for d in rows(engine, t.decisions)] == ["remind"]
    later = Message("9", Person("m", "小明"), T0 + timedelta(hours=2), MessageKind.TEXT, "hi")
    rt.accept(LiveEvent("tg", GROUP, later))
    rt.process()
    assert [d.verdict for d in rows(engine, t.decisions)] == ["remind", "tell_admins"]


def test_a_name_a_slow_pattern_cannot_decide_on_is_left_alone(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime(engine, NicknamePolicy(pattern=r"(x|xx)+-[^-]+"))  # slow only on x runs
    rt.accept(message(1, "你好", who="a", name="x" * 60 + "!"))
    rt.accept(message(2, "在吗", who="b", name="x" * 61 + "!"))
    rt.accept(message(3, "你好", who="c", name="小明"))
    rt.process()
    assert [d.member for d in rows(engine, t.decisions)] == ["c"]  # only the name it read
    assert sum("took too long" in r.getMessage() for r in caplog.records) == 1


def test_what_the_admins_are_told_names_the_checks_in_their_words(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ad = "兼职日结，日赚300，加V abc12345 详聊"
    for n, (lang, expected) in enumerate(
        [
            ("en", "Looks like an ad or abuse (Contacts and ad words): "),
            ("zh", "疑似广告或违规（联系方式与广告词）："),
        ]
    ):
        monkeypatch.setenv("QUNZHU_LANG", lang)
        rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.TRAINING)))
        rt.accept(message(n + 1, ad, who=f"u{n}"))
        rt.process()
        told = orjson.loads(rows(engine, t.outbox)[-1].payload)
        assert told["kind"] == "notify_owner" and told["text"].startswith(expected)
        assert "abc12345" in told["text"]


def test_the_admins_are_shown_the_message_as_it_was_written(engine: Engine) -> None:
    """They look for it in the group: the full-width, traditional spelling the member used,
    not the detector's normalised reading of it."""
    ad = "兼職日結，加Ｖ ａｂｃ１２３４５ 詳聊"
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.TRAINING)))
    rt.accept(message(1, ad, who="u1"))
    rt.accept(message(2, "加V \u202e54321cba\u202c 兼职日结", who="u2"))
    rt.process()
    told = [orjson.loads(r.payload)["text"] for r in rows(engine, t.outbox)]
    assert len(told) == 2 and told[0].endswith(ad)
    assert told[1].endswith("abc12345 兼职日结") and "\u202e" not in told[1]  # shown as read


def test_auto_reply_is_rate_limited(engine: Engine) -> None:
    faq = AutoReplyPolicy((Answer(("几点",), "每周六早上七点，公园东门。"),), cooldown_s=300)
    rt = runtime(engine, faq)
    rt.accept(message(1, "周六几点集合？"))
    rt.accept(message(2, "请问几点开始"))
    rt.process()
    assert [d.verdict for d in rows(engine, t.decisions)] == ["answer", "cooling_down"]
    assert len(rows(engine, t.outbox)) == 1


def test_actions_run_with_retries_rate_limits_and_tasks(engine: Engine) -> None:
    clock = Clock()
    fake = FakeConnector()
    moderation = ModerationPolicy(Detector(), Ladder(Mode.ENFORCE))
    rt = runtime(
        engine, moderation, AdmissionPolicy(answers=("跑步",)), connector=fake, clock=clock
    )
    rt.accept(message(1, "代购名牌包包，加微信 abc12345 详聊"))
    rt.accept(LiveEvent("tg", GROUP, JoinRequest("r1", Person("p1", None), T0, "跑步")))
    rt.process()
    statuses = {r.kind: r.status for r in rows(engine, t.outbox)}
    assert statuses["approve"] == outbox.TASK  # this connector cannot: a person must
    fake.failures = [RateLimited(5), ActionFailed("server error", retry=True)]
    asyncio.run(rt.executor.drain())
    assert fake.done == []  # 429: delete waits 5 s, and so does everything behind it
    clock.now += 5
    asyncio.run(rt.executor.drain())
    clock.now += 10
    asyncio.run(rt.executor.drain())
    # the warning went out while the delete waited out its passing failure
    assert [a.kind for a in fake.done] == [ActionKind.WARN, ActionKind.DELETE]
    fake.failures = [ActionFailed("no rights")]
    rt.accept(message(5, "兼职刷单日赚300，加微信 abc12345"))
    rt.process()
    asyncio.run(rt.executor.drain())
    failed = [r for r in rows(engine, t.outbox) if r.status == outbox.FAILED]
    assert len(failed) == 1 and failed[0].error == "no rights"


def test_an_unanswered_send_is_never_repeated_an_unanswered_delete_is(engine: Engine) -> None:
    clock, fake = Clock(), FakeConnector()
    rt = runtime(
        engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)), connector=fake, clock=clock
    )
    rt.accept(message(1, "代购名牌包包，加微信 abc12345 详聊"))
    rt.process()
    lost = ActionFailed("no answer within 10 s", retry=True, unknown=True)
    fake.failures = [lost, lost]  # the delete, then the warning
    asyncio.run(rt.executor.drain())
    statuses = {r.kind: (r.status, r.error) for r in rows(engine, t.outbox)}
    assert statuses["delete"][0] == outbox.PENDING  # again later: deleting twice is harmless
    assert statuses["warn"][0] == outbox.UNCERTAIN  # a person checks; never said twice
    assert "check by hand" in statuses["warn"][1]
    clock.now += 60
    asyncio.run(rt.executor.drain())
    assert [a.kind for a in fake.done] == [ActionKind.DELETE]


def test_links_a_message_does_not_show_are_judged_with_it(engine: Engine) -> None:
    """A Telegram link behind a word ("点这里") or where a QQ card leads is not in the text:
    moderation reads it too, so the domain lists see it, from a member past probation."""
    from qunzhu.moderation.engine import Policy as Rules

    rules = Rules(deny_domains=["scam.example"])
    rt = runtime(engine, ModerationPolicy(Detector(rules), Ladder(Mode.ENFORCE)))
    at = T0 + timedelta(seconds=1)
    hidden = Message("1", Person("u7", "小美"), at, MessageKind.TEXT, "点这里领取福利")
    hidden.urls = ("https://scam.example/x",)
    shown = Message("2", Person("u8", "阿强"), at, MessageKind.TEXT, "看 https://ok.example/")
    shown.urls = ("https://ok.example/",)
    rt.accept(LiveEvent("tg", GROUP, hidden))
    rt.accept(LiveEvent("tg", GROUP, shown))
    rt.process()
    decided = {d.record_id: d for d in rows(engine, t.decisions)}
    assert decided["1"].verdict == "spam" and "scam.example" in decided["1"].reasons
    assert decided.get("2") is None or decided["2"].verdict != "spam"


def test_pictures_waiting_in_the_inbox_survive_a_crash(engine: Engine) -> None:
    """Telegram does not send an update again once its offset is confirmed: a picture
    accepted and not yet processed when the process died is in the store with its event, so
    the next process checks its QR code (and fingerprints and reads it) as the first would
    have. Processed, it is deleted: the store keeps no picture."""
    from tests.moderation.test_policy import picture_with_qr

    sent = message(1, "看图", who="u7", name="小美")
    sent.images = (picture_with_qr("https://weixin.qq.com/g/AbCdEf123456"),)
    sent.kinds = frozenset({"image"})
    first = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    first.accept(sent)
    first.accept(message(2, "早上好"))
    assert len(rows_of(engine, t.inbox_pictures)) == 1  # and the first process dies here

    second = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    second.accept(message(3, "大家好"))
    assert second.process() == 3
    (decision,) = rows(engine, t.decisions)
    assert decision.record_id == "1" and decision.verdict == "spam"
    assert "qr_code" in decision.reasons
    assert rows_of(engine, t.inbox_pictures) == []


def rows_of(engine: Engine, table):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(table)).all()


def test_after_a_crash_safe_actions_are_retried_and_sends_never_repeated(engine: Engine) -> None:
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    rt.accept(message(1, "代购名牌包包，加微信 abc12345 详聊"))
    rt.process()
    with engine.begin() as conn:  # the process died with both actions in flight
        conn.execute(t.outbox.update().values(status=outbox.IN_FLIGHT))
    assert outbox.recover(engine) == {"retried": 1, "uncertain": 1}
    assert {r.kind: r.status for r in rows(engine, t.outbox)} == {
        "delete": outbox.PENDING,
        "warn": outbox.UNCERTAIN,
    }


@pytest.mark.parametrize("fails_at", ["store", "decide"])
def test_a_failure_inside_processing_leaves_the_event_in_the_inbox(
    engine: Engine, fails_at: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    rt.accept(message(1, "代购名牌包包，加微信 abc12345 详聊"))

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("power cut")

    monkeypatch.setattr(rt, "_store" if fails_at == "store" else "_decide", boom)
    with pytest.raises(RuntimeError):
        rt.process()
    assert rows(engine, t.outbox) == [] and rows(engine, t.decisions) == []
    monkeypatch.undo()
    assert rt.process() == 1 and len(rows(engine, t.outbox)) == 2


def test_probation_outlives_a_restart(engine: Engine) -> None:
    """A newcomer who joined before the restart still may not post links after it."""
    first = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    first.accept(join(1, "u7", "新人"))
    first.process()
    link = LiveEvent(
        "tg",
        GROUP,
        Message(
            "9",
            Person("u7", "新人"),
            T0 + timedelta(hours=2),
            MessageKind.TEXT,
            "看看这个 https://example.com/x",
        ),
        kinds=frozenset({"link"}),
    )
    again = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))  # fresh memory
    again.accept(link)
    again.process()
    (decision,) = rows(engine, t.decisions)
    checks = {c["name"] for c in orjson.loads(decision.reasons)["checks"]}
    assert "type_lock" in checks and decision.verdict != "ham"


def test_strikes_outlive_a_restart(engine: Engine) -> None:
    """Each process starts with a fresh ladder: the second ad still climbs to a mute, and
    the kept strikes go with the member when they are forgotten."""
    from qunzhu.store.privacy import find_members, forget_member

    def steps() -> list[str]:
        return [orjson.loads(d.reasons)["step"] for d in rows(engine, t.decisions)]

    first = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    first.accept(message(1, "代购名牌包包，加微信 abc12345 详聊"))
    first.process()
    again = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    again.accept(message(2, "代购名牌包包，加微信 abc12346 详聊"))
    again.process()
    assert steps() == ["delete_warn", "mute"]
    strikes = [r.key for r in rows_unordered(engine, t.policy_marks) if r.key.startswith("strike")]
    assert len(strikes) == 2 and all(k.endswith(":u1") for k in strikes)
    with engine.begin() as conn:
        (member,) = find_members(conn, "u1")
        forget_member(conn, member)
    assert not [r for r in rows_unordered(engine, t.policy_marks) if r.key.startswith("strike")]


def test_earned_trust_outlives_a_restart(engine: Engine) -> None:
    """Five clean messages over a day earn trust; after a restart the member is still trusted
    (checks skipped) instead of being checked from the start again."""
    from qunzhu.moderation.behaviour import TrustBook

    def detector() -> Detector:
        return Detector(trust=TrustBook(clean_messages=2, hours=1))

    def said(n: int, text: str, after_s: float) -> LiveEvent:
        record = Message(
            str(n),
            Person("u1", "北京-金融-张三"),
            T0 + timedelta(seconds=after_s),
            MessageKind.TEXT,
            text,
        )
        return LiveEvent("tg", GROUP, record)

    first = runtime(engine, ModerationPolicy(detector(), Ladder(Mode.SHADOW)))
    for n, after in [(1, 0), (2, 60), (3, 7200)]:
        first.accept(said(n, "今天跑了十公里，膝盖有点酸", after))
    first.process()
    assert not rows(engine, t.decisions)  # all clean, nothing to record
    earned = [r.key for r in rows_unordered(engine, t.policy_marks)]
    assert earned == ["earned:u1"]
    again = runtime(engine, ModerationPolicy(detector(), Ladder(Mode.SHADOW)))
    again.accept(said(4, "加微信 abc12345 领红包", 7300))  # trusted: not checked
    again.process()
    assert not rows(engine, t.decisions)
    fresh = runtime(engine, ModerationPolicy(detector(), Ladder(Mode.SHADOW)))
    fresh.accept(message(5, "加微信 abc12345 领红包", who="u2"))  # not trusted: checked
    fresh.process()
    assert [d.member for d in rows(engine, t.decisions)] == ["u2"]

    # the console takes the trust back: the running engine (which counted the clean messages)
    # checks the member again, because it handed what it counted to the store
    with engine.begin() as conn:
        conn.execute(t.policy_marks.delete().where(t.policy_marks.c.key == "earned:u1"))
    first.accept(said(6, "加微信 abc12345 领红包", 7400))
    first.process()
    assert [d.member for d in rows(engine, t.decisions)] == ["u2", "u1"]


THREE = ("-1001", "-1002", "-1003")


def three_groups() -> Config:
    """A configuration: three Telegram groups of one community, with the default policies."""
    return parse(
        {
            "connectors": {"tg": {"type": "telegram"}},
            "communities": [{"name": "跑团"}],
            "groups": [
                {"name": gid, "connector": "tg", "id": gid, "community": "跑团"} for gid in THREE
            ],
        }
    )


def test_the_detectors_recall_the_last_day_after_a_restart(engine: Engine) -> None:
    """An ad posted in two groups before a restart and in a third after it is one campaign;
    the owner's notice in two groups is not held against a member who passes it on."""
    from qunzhu import service
    from qunzhu.moderation.behaviour import Context
    from qunzhu.moderation.verdicts import SPAM

    ids, config = THREE, three_groups()
    ad = "周末特价跑鞋，全场五折，名额有限先到先得，快来抢购吧"
    notice = "本周六早上七点奥森南门集合，十公里拉练，请大家准时到场"

    def said(n: int, gid: str, who: str, text: str, role: str = "member") -> LiveEvent:
        at = T0 + timedelta(minutes=n)
        record = Message(str(n), Person(who, who), at, MessageKind.TEXT, text)
        return LiveEvent("tg", Group(Platform.TELEGRAM, gid, gid), record, role=role)

    before = Runtime(engine, service.setups(config), {}, Clock())
    for event in [
        said(1, ids[0], "u1", ad),
        said(2, ids[1], "u1", ad),
        said(3, ids[0], "boss", notice, "owner"),
        said(4, ids[1], "boss", notice, "owner"),
        said(5, ids[0], "mod", notice + "！"),  # an admin the platform did not name as one...
        said(6, ids[1], "mod", notice + "！"),
    ]:
        before.accept(event)
    before.process()
    with engine.begin() as conn:  # ... but the operator did, in the store
        (mod,) = conn.execute(select(t.members.c.id).where(t.members.c.external_id == "mod"))
        ms = t.memberships
        conn.execute(ms.update().where(ms.c.member_id == mod.id).values(role="admin"))

    after = service.setups(config)  # a new process: its detectors remember nothing
    now = T0.timestamp() + 3600
    assert service.recall_behaviour(after, config, engine, now + 2 * 86400) == 0  # too old
    assert service.recall_behaviour(after, config, engine, now) == 2  # the owner's left out
    (policy,) = [p for p in after.of("tg", ids[2]).policies if isinstance(p, ModerationPolicy)]
    campaign = policy.detector.check(ad, Context(group=ids[2], member="u1", at=now))
    assert [c.verdict for c in campaign.checks if c.name == "cross_group"] == [SPAM]
    passed_on = policy.detector.check(notice, Context(group=ids[2], member="u3", at=now))
    assert not [c for c in passed_on.checks if c.name == "cross_group"]


_AD = "周末特价跑鞋，全场五折，名额有限先到先得，快来抢购吧"  # nothing the text layers catch


def _three_groups_enforcing(engine: Engine) -> Runtime:
    """The three groups of THREE in one community whose moderation enforces."""
    from qunzhu import service

    config = parse(
        {
            "connectors": {"tg": {"type": "telegram"}},
            "communities": [{"name": "跑团", "policies": {"moderation": {"mode": "enforce"}}}],
            "groups": [
                {"name": gid, "connector": "tg", "id": gid, "community": "跑团"} for gid in THREE
            ],
        }
    )
    return Runtime(engine, service.setups(config), {}, Clock())


def _ad_said(n: int, gid: str, who: str) -> LiveEvent:
    record = Message(str(n), Person(who, who), T0 + timedelta(minutes=n), MessageKind.TEXT, _AD)
    return LiveEvent("tg", Group(Platform.TELEGRAM, gid, gid), record)


def test_a_members_campaign_is_taken_down_from_its_first_copy_on(engine: Engine) -> None:
    """A member posts one ad the text layers let pass into three groups: the first copy is
    nothing yet, the second a question, the third spam; enforce then takes the first two down
    too (each group's moderation, once, no strike), not another member's copy."""
    ids, rt = THREE, _three_groups_enforcing(engine)
    said = _ad_said
    for event in (said(1, ids[0], "u1"), said(2, ids[1], "u2"), said(3, ids[1], "u1")):
        rt.accept(event)
    rt.process()
    # u2's copy in a second group is nothing (another hand), u1's own second group a question
    assert [(d.record_id, d.verdict) for d in rows(engine, t.decisions)] == [("3", "review")]
    rt.accept(said(4, ids[2], "u1"))
    rt.process()
    later = rows(engine, t.decisions)[1:]
    assert [(d.record_id, d.verdict) for d in later] == [
        ("4", "spam"),
        ("1", "spam"),
        ("3", "spam"),
    ]
    campaign = orjson.loads(later[0].reasons)["checks"]
    earlier = next(c for c in campaign if c["name"] == "cross_group")["details"]["earlier"]
    assert earlier == [[ids[0], "1"], [ids[1], "3"]]  # u1's own, oldest first: not u2's
    for copy in later[1:]:
        (check,) = orjson.loads(copy.reasons)["checks"]
        assert check["name"] == "earlier_copy" and "struck_at" not in orjson.loads(copy.reasons)
    deleted = [
        orjson.loads(r.payload)["message_id"] for r in rows(engine, t.outbox) if r.kind == "delete"
    ]
    assert sorted(deleted) == ["1", "3", "4"]
    rt.accept(said(5, ids[0], "u1"))  # the campaign goes on: taken down, the copies not again
    rt.process()
    assert [d.record_id for d in rows(engine, t.decisions)[4:]] == ["5"]


def test_a_campaign_within_one_batch_is_taken_down_once(engine: Engine) -> None:
    """The same campaign as above with all its copies in one batch: the decisions the batch
    holds until its end are what the take-down asks about, so nothing is taken down twice."""
    ids, rt = THREE, _three_groups_enforcing(engine)
    copies = [(1, ids[0]), (3, ids[1]), (4, ids[2]), (5, ids[0])]
    for event in (_ad_said(n, gid, "u1") for n, gid in copies):
        rt.accept(event)
    rt.process()
    judged = [(d.record_id, d.verdict) for d in rows(engine, t.decisions)]
    assert judged == [("3", "review"), ("4", "spam"), ("1", "spam"), ("3", "spam"), ("5", "spam")]
    deleted = [
        orjson.loads(r.payload)["message_id"] for r in rows(engine, t.outbox) if r.kind == "delete"
    ]
    assert sorted(deleted) == ["1", "3", "4", "5"]


def test_a_poster_going_round_the_groups_is_remembered_by_the_store(engine: Engine) -> None:
    """The store keeps each picture's fingerprint (never the picture): a poster dropped into
    two groups before a restart and a third after it is one round; a report of it days later
    still carries its fingerprint for a person's answer to teach; forgetting the member takes
    the fingerprints with their messages."""
    from qunzhu import service
    from qunzhu.moderation.images import fingerprint
    from qunzhu.store.privacy import find_members, forget_member
    from tests.moderation.test_behaviour import poster

    ids, config = THREE, three_groups()
    clock = Clock()

    def posted(n: int, gid: str, data: bytes, at: datetime | None = None) -> LiveEvent:
        at = at or T0 + timedelta(minutes=n)
        record = Message(str(n), Person("u1", "小美"), at, MessageKind.IMAGE, "")
        group = Group(Platform.TELEGRAM, gid, gid)
        return LiveEvent("tg", group, record, kinds=frozenset({"image"}), images=(data,))

    before = Runtime(engine, service.setups(config), {}, clock)
    before.accept(posted(1, ids[0], poster(5)))
    before.accept(posted(2, ids[1], poster(5, q=60)))  # the same poster, recompressed
    before.process()
    kept = [r.fingerprint for r in rows_unordered(engine, t.message_pictures)]
    assert len(kept) == 2 and all(len(fp) == 16 for fp in kept)

    after = service.setups(config)  # a new process: its detectors remember nothing
    now = T0.timestamp() + 600
    assert service.recall_behaviour(after, config, engine, now) == 2  # no text, still read
    clock.now = now
    again = Runtime(engine, after, {}, clock)
    again.accept(posted(10, ids[2], poster(5, (400, 500))))
    again.process()
    second, third = rows(engine, t.decisions)  # the second copy was a question
    assert second.verdict == "review"
    checks = {c["name"]: c for c in orjson.loads(third.reasons)["checks"]}
    assert third.verdict == "spam" and checks["same_picture"]["details"]["same_member"]

    # three days on, an admin reports the first copy: the day's memory is long gone, the
    # store still knows its picture
    clock.now = T0.timestamp() + 3 * 86400
    report = Message(
        "99", Person("boss", "群主"), T0 + timedelta(days=3), MessageKind.TEXT, "举报", "1"
    )
    again.accept(LiveEvent("tg", Group(Platform.TELEGRAM, ids[0], ids[0]), report, "admin"))
    again.process()
    reported = rows(engine, t.decisions)[-1]
    assert reported.record_id == "1"
    assert orjson.loads(reported.reasons)["pictures"] == [f"{fingerprint(poster(5)):016x}"]

    with engine.begin() as conn:
        (member,) = find_members(conn, "u1")
        forget_member(conn, member)
    assert rows_unordered(engine, t.message_pictures) == []


def test_a_name_people_said_was_an_ad_is_removed_at_the_door(engine: Engine) -> None:
    """Once people said a name was an ad (it is in the community's spam bank), the next
    account of the farm, named alike, is removed as it joins, as a blocked member is (no
    question), and what a member so named says is spam; a name nobody answered for is still
    only a question."""
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
    from qunzhu.moderation.normalize import normalize

    bank = SpamBank()
    bank.add(normalize("兼职日结 加V abc12345"))
    detector = Detector(behaviour=Behaviour(), trust=TrustBook(), bank=bank)
    rt = runtime(engine, ModerationPolicy(detector, Ladder(Mode.ENFORCE)))
    rt.accept(join(1, "u7", "兼职日结，加V：abc12345"))  # written a little differently
    rt.accept(join(2, "u8", "刷单返利 加微信 xyz98765"))  # an ad nobody has answered for
    rt.accept(message(3, "大家好", who="u6", name="兼职日结 加V abc12345"))
    rt.process()
    decided = rows(engine, t.decisions)
    assert [(d.member, d.verdict) for d in decided] == [
        ("u7", "spam"),
        ("u8", "review"),
        ("u6", "spam"),
    ]
    at_door = orjson.loads(decided[0].reasons)
    (check,) = at_door["checks"]
    assert (check["name"], check["details"]["like"]) == ("display_name", "兼职日结加vabc12345")
    kinds = [
        (a["kind"], a["member_id"])
        for a in map(orjson.loads, (r.payload for r in rows(engine, t.outbox)))
    ]
    assert ("kick", "u7") in kinds and ("kick", "u8") not in kinds
    assert ("delete", "u6") in kinds


def test_members_already_in_named_like_a_confirmed_ad_name_are_removed(engine: Engine) -> None:
    """The farm's other accounts joined before anyone knew their name was an ad: once people
    confirm it (the community's bank learns it), the engine removes those still in, once
    each; not staff, not a member named otherwise."""
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
    from qunzhu.moderation.normalize import normalize

    bank = SpamBank()
    detector = Detector(behaviour=Behaviour(), trust=TrustBook(), bank=bank)
    rt = runtime(engine, ModerationPolicy(detector, Ladder(Mode.ENFORCE)))
    rt.accept(join(1, "u7", "兼职日结 加V abc12345"))  # asked about at the door
    rt.accept(join(2, "u8", "兼职日结，加V：abc12345"))
    rt.accept(join(3, "u9", "北京-金融-张三"))
    boss = join(4, "boss", "兼职日结 加V abc12345")
    boss.role = "owner"
    rt.accept(boss)
    rt.process()
    asked = len(rows(engine, t.decisions))
    assert rt.remove_named([bank]) == 0  # nothing confirmed yet
    bank.add(normalize("兼职日结 加V abc12345"))  # a person said 广告 on u7's question
    assert rt.remove_named([bank]) == 2
    assert rt.remove_named([bank]) == 0  # once each
    removed = rows(engine, t.decisions)[asked:]
    assert sorted((d.member, d.verdict) for d in removed) == [("u7", "spam"), ("u8", "spam")]
    kicks = [orjson.loads(r.payload) for r in rows(engine, t.outbox) if r.kind == "kick"]
    assert sorted(k["member_id"] for k in kicks) == ["u7", "u8"]


def test_a_name_giving_a_confirmed_ads_contact_is_a_question_not_a_removal(
    engine: Engine,
) -> None:
    """People confirm an ad message giving a WeChat id: a member named by that id (a member of
    a business network named by their own number, who advertised once) is put to the admins
    as they join, not removed, and members already in are not swept; only a name alike to a
    name people confirmed is (the farm). What they post giving the id is spam."""
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
    from qunzhu.moderation.feedback import HumanLabel
    from qunzhu.service import BankFeed

    bank = SpamBank()
    detector = Detector(behaviour=Behaviour(), trust=TrustBook(), bank=bank)
    rt = runtime(engine, ModerationPolicy(detector, Ladder(Mode.ENFORCE)))
    rt.accept(join(1, "u7", "小美 abc12345"))
    rt.process()
    feed = BankFeed({"跑团": (Behaviour(), TrustBook(), bank)})
    ad = HumanLabel(2, 2, True, "兼职日结，加V：abc12345，名额有限", "跑团")
    assert feed.apply([ad]) == 1 and feed.named == []  # a message: nobody to sweep
    assert rt.remove_named([bank]) == 0  # u7 stays
    rt.accept(join(3, "u8", "加V abc12345"))
    rt.accept(message(4, "有事找 abc12345", who="u9", name="阿强"))
    rt.process()
    decided = [(d.member, d.verdict) for d in rows(engine, t.decisions)]
    assert ("u8", "review") in decided and ("u9", "spam") in decided
    assert all(m != "u7" for m, _ in decided)
    kicks = [r for r in rows(engine, t.outbox) if r.kind == "kick"]
    assert kicks == []


def test_a_confirmed_forward_teaches_its_channel_and_the_next_forward_from_it_is_spam(
    engine: Engine,
) -> None:
    """A newcomer forwards an ad channel's post (locked on probation: removed); a person
    confirms it in the console. The decision kept the channel, the label carries it to the
    bank, and a member past probation forwarding that channel's next post, in other words,
    is removed too; a forward from another channel is not."""
    from qunzhu.moderation import feedback
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
    from qunzhu.service import BankFeed

    def forward(n: int, who: str, text: str, origin: str) -> LiveEvent:
        event = message(n, text, who=who, name="x")
        assert isinstance(event.record, Message)
        event.record.origin, event.kinds = origin, frozenset({"forward"})
        return event

    bank = SpamBank()
    detector = Detector(behaviour=Behaviour(), trust=TrustBook(), bank=bank)
    rt = runtime(engine, ModerationPolicy(detector, Ladder(Mode.ENFORCE)))
    rt.accept(join(1, "u7", "小新"))
    rt.accept(forward(2, "u7", "今晚八点直播间抽奖，人人有份", "fuli_vip"))
    rt.process()
    (locked,) = rows(engine, t.decisions)
    assert locked.verdict == "spam" and orjson.loads(locked.reasons)["origin"] == "fuli_vip"
    with engine.begin() as conn:
        conn.execute(
            t.moderation_labels.insert().values(
                decision_id=locked.id,
                label="spam",
                text="今晚八点直播间抽奖，人人有份",
                user_name="ops",
                at=5,
            )
        )
        labels = feedback.labels_since(conn, None)
    assert [v.origin for v in labels] == ["fuli_vip"]
    assert BankFeed({None: (Behaviour(), TrustBook(), bank)}).apply(labels) == 1
    rt.accept(forward(3, "u9", "周末见", "fuli_vip"))
    rt.accept(forward(4, "u9", "周末见", "daily_news"))
    rt.process()
    later = rows(engine, t.decisions)[1:]
    assert [(d.record_id is not None, d.verdict) for d in later] == [(True, "spam")]
    assert "known_contact" in later[0].reasons


def test_stickers_read_back_at_start_are_still_stickers(engine: Engine) -> None:
    """A sticker is not counted as a picture going round, before a restart or after: the
    same picture posted as a photo after one is its first copy, as it would be without one."""
    from qunzhu import service
    from tests.moderation.test_behaviour import poster

    ids, config = THREE, three_groups()
    clock = Clock()

    def posted(n: int, gid: str, kind: MessageKind) -> LiveEvent:
        record = Message(str(n), Person("u1", "小美"), T0 + timedelta(minutes=n), kind, "")
        kinds = frozenset({"sticker" if kind is MessageKind.STICKER else "image"})
        group = Group(Platform.TELEGRAM, gid, gid)
        return LiveEvent("tg", group, record, kinds=kinds, images=(poster(7),))

    before = Runtime(engine, service.setups(config), {}, clock)
    before.accept(posted(1, ids[0], MessageKind.STICKER))
    before.accept(posted(2, ids[1], MessageKind.STICKER))
    before.process()
    after = service.setups(config)
    clock.now = T0.timestamp() + 600
    assert service.recall_behaviour(after, config, engine, clock.now) == 2
    again = Runtime(engine, after, {}, clock)
    again.accept(posted(3, ids[2], MessageKind.IMAGE))
    again.process()
    assert rows(engine, t.decisions) == []


def test_forgetting_a_member_forgets_what_was_decided_about_them(engine: Engine) -> None:
    from qunzhu.store.privacy import find_members, forget_member

    rt = runtime(
        engine,
        ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)),
        NicknamePolicy(pattern=r"[^-]+-[^-]+-[^-]+"),
    )
    rt.accept(join(1, "u7", "小美"))
    rt.accept(message(2, "代购名牌包包，加微信 abc12345 详聊", who="u7", name="小美"))
    rt.accept(message(3, "早上好", who="u8", name="Bo"))  # reminded of the nickname too
    rt.process()
    assert {d.member for d in rows(engine, t.decisions)} == {"u7", "u8"}
    with engine.begin() as conn:
        for d in rows(engine, t.decisions):  # someone confirmed each in the console
            conn.execute(
                t.moderation_labels.insert().values(
                    decision_id=d.id, label="spam", text="", user_name="ops", at=0
                )
            )
        (member,) = find_members(conn, "u7")
        forgotten = forget_member(conn, member)
    assert forgotten.decisions >= 2  # the spam verdict and the nickname reminder
    assert forgotten.labelled == forgotten.decisions  # their labels went with them
    kept = {r.decision_id for r in rows_unordered(engine, t.moderation_labels)}
    assert kept == {d.id for d in rows(engine, t.decisions)} and kept  # u8's stay
    assert {d.member for d in rows(engine, t.decisions)} == {"u8"}
    left = [orjson.loads(a.payload)["member_id"] for a in rows(engine, t.outbox)]
    assert left and set(left) == {"u8"}
    marks = [r.key for r in rows_unordered(engine, t.policy_marks)]
    assert marks and all(not k.endswith(":u7") for k in marks)


def rows_unordered(engine: Engine, table):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(table)).all()


def test_admission_by_the_tags_operators_gave(engine: Engine) -> None:
    from qunzhu.store import tags

    rt = runtime(
        engine, AdmissionPolicy(answers=("跑步",), approve_tags=("老学员",), reject_tags=("广告",))
    )
    rt.accept(message(1, "大家好", who="u1"))  # the store meets u1 and u2 first
    rt.accept(message(2, "你好", who="u2", name="x"))
    rt.process()
    with engine.begin() as conn:
        ids = dict(conn.execute(select(t.members.c.external_id, t.members.c.id)).all())
        tags.add(conn, ids["u1"], ["老学员"])
        tags.add(conn, ids["u2"], ["广告", "老学员"])  # a reject tag wins
    for n, who in enumerate(("u1", "u2", "u3"), start=10):
        rt.accept(LiveEvent("tg", GROUP, JoinRequest(f"r{n}", Person(who, who), T0, "路过")))
    rt.process()
    verdicts = [(d.member, d.verdict, orjson.loads(d.reasons)) for d in rows(engine, t.decisions)]
    assert verdicts == [
        ("u1", "approve", {"tag": "老学员"}),
        ("u2", "reject", {"tag": "广告"}),
        ("u3", "ask_admin", {"answer": "路过"}),  # a stranger without the right answer
    ]


def test_the_text_in_a_members_picture_is_read_beside_the_event_path(engine: Engine) -> None:
    """A poster with a contact on it and no text: judged at once on what it says (nothing),
    then on the text read from it, a moment later, as that message's text; the owner's poster
    is not read at all."""
    from qunzhu.moderation.images import fingerprint
    from tests.moderation.test_picture_text import poster_saying

    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    poster = poster_saying("VX: abc12345", "Tel 13812345678")
    ad = message(1, "", who="u7", name="小美")
    ad.images = (poster,)
    notice = message(2, "", who="boss", name="群主")
    notice.role, notice.images = "owner", (poster,)
    rt.accept(ad)
    rt.accept(notice)
    rt.process()
    assert rows(engine, t.decisions) == []  # no text, no QR: nothing to say yet
    rt.reader.wait()
    assert rt.process() == 1  # the text read from the member's poster, not the owner's
    (decision,) = rows(engine, t.decisions)
    assert (decision.record_id, decision.member, decision.verdict) == ("1", "u7", "review")
    reasons = orjson.loads(decision.reasons)
    assert "abc12345" in reasons["picture_text"]
    # the poster's fingerprint too: a person's "spam" makes it a known ad picture
    assert reasons["pictures"] == [f"{fingerprint(poster):016x}"]
    contacts = next(c for c in reasons["checks"] if c["name"] == "contacts_and_words")
    assert {c["kind"] for c in contacts["details"]["contacts"]} == {"wechat", "phone"}

    # a caption and a poster, each a question alone, are an ad together: the question the
    # caption raised stands, and the picture's text takes the message down
    captioned = message(3, "兼职日结300 详情看图", who="u8", name="阿强")
    captioned.images = (poster_saying("VX: abc12345"),)
    # a question already, and the picture says no more: not asked twice
    asked = message(4, "VX: abc12345", who="u9", name="阿珍")
    asked.images = (poster_saying("VX: abc12345"),)
    rt.accept(captioned)
    rt.accept(asked)
    rt.process()
    rt.reader.wait()
    rt.process()
    decided = [(d.record_id, d.verdict) for d in rows(engine, t.decisions)[1:]]
    assert decided == [("3", "review"), ("4", "review"), ("3", "spam")]
    caught = orjson.loads(rows(engine, t.decisions)[-1].reasons)
    assert caught["step"] == "delete_warn"
    words = next(c for c in caught["checks"] if c["name"] == "contacts_and_words")["details"]
    assert "兼职" in words["words"] and words["contacts"][0]["kind"] == "wechat"


def test_a_sticker_is_read_only_from_a_newcomer_or_when_poster_sized(engine: Engine) -> None:
    """A picture the platform calls a sticker (QQ's 表情) is a meme, not a poster: reading
    every one would fill the reader's backlog with jokes. A newcomer's sticker is read (a
    poster saved as a sticker is how a fresh bot would get round the reading), and so is a
    poster-sized one from anyone (how an account that waited out its probation would)."""
    from tests.moderation.test_picture_text import poster_saying

    meme = poster_saying("VX: abc12345", size=(520, 400))
    poster = poster_saying("VX: abc12345")
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    rt.accept(join(3, "u9", "阿珍"))
    for n, who, kinds, picture in (
        (1, "u7", {"sticker"}, meme),
        (2, "u7", {"sticker", "image"}, meme),
        (4, "u9", {"sticker"}, meme),
        (5, "u8", {"sticker"}, poster),
    ):
        sent = message(n, "", who=who, name="小美")
        sent.images, sent.kinds = (picture,), frozenset(kinds)
        rt.accept(sent)
    rt.process()
    rt.reader.wait()
    rt.process()
    # the photo beside a sticker, the newcomer's sticker, the poster-sized sticker
    assert [d.record_id for d in rows(engine, t.decisions)] == ["2", "4", "5"]


def test_a_picture_the_entry_question_took_down_is_not_read(engine: Engine) -> None:
    """A newcomer who has not answered yet loses the picture to the entry question; reading it
    would only judge (and warn about) a message already gone."""
    from qunzhu.engine.policies import CaptchaPolicy
    from tests.moderation.test_picture_text import poster_saying

    captcha = CaptchaPolicy(Mode.ENFORCE, 180, "本群的口令？", ("跑步",))
    rt = runtime(engine, captcha, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    rt.accept(join(1, "u7", "小美"))
    ad = message(20, "", who="u7", name="小美")
    ad.images = (poster_saying("VX: abc12345"),)
    rt.accept(ad)
    rt.process()
    assert [d.policy for d in rows(engine, t.decisions)] == ["captcha", "captcha"]
    rt.reader.wait()
    assert rt.process() == 0


def test_an_ad_in_a_bio_is_a_question_at_the_door_and_in_the_chat(engine: Engine) -> None:
    """Telegram accounts that join and say "你好" carry their ad in their bio: asked about at
    the door and with their messages, as a name is; a bio giving only a WeChat id is not."""
    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    ad_bio = "兼职日结，日赚300，加V abc12345"
    newcomer = join(1, "u7", "小美")
    newcomer.bio = ad_bio
    plain = join(2, "u8", "跑友")
    plain.bio = "跑步爱好者，微信 runner2020"
    hello = message(3, "你好", who="u6", name="小丽")
    hello.bio = ad_bio
    rt.accept(newcomer)
    rt.accept(plain)
    rt.accept(hello)
    rt.process()
    decided = rows(engine, t.decisions)
    assert [(d.member, d.verdict) for d in decided] == [("u7", "review"), ("u6", "review")]
    at_door = orjson.loads(decided[0].reasons)
    assert (at_door["step"], at_door["would"]) == ("ask_admin", "kick")
    assert [(c["name"], c["details"]["bio"]) for c in at_door["checks"]] == [("bio", ad_bio)]
    in_chat = orjson.loads(decided[1].reasons)
    assert in_chat["step"] == "ask_admin" and in_chat["checks"][-1]["name"] == "bio"
    notes = [orjson.loads(r.payload) for r in rows(engine, t.outbox)]
    assert [n["text"] for n in notes if n["member_id"] == "u7"] == [
        f"u7's bio looks like an ad: {ad_bio}"
    ]


def test_an_ad_for_a_name_is_a_question_at_the_door_and_in_the_chat(engine: Engine) -> None:
    """A newcomer named "兼职日结 加V abc12345", or a member renaming to such a name, is put to
    the admins (a person's "spam" removes them: "杭州-贷款顾问-赵六 139…" reads the same and
    may be a real member of a business network); "大家好" from such a member is a question
    too, and an ad from them is spam as ever. A name with only a phone in it (城市-行业-姓名-
    电话) is a name; staff are not looked at."""
    from qunzhu.model import MembershipEvent

    rt = runtime(engine, ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)))
    ad_name = "兼职日结 加V abc12345"
    rt.accept(join(1, "u7", ad_name))
    rt.accept(join(2, "u8", "北京-金融-张三-13812345678"))
    rename = MembershipEvent(
        "r1",
        Person("u9", "小美"),
        MembershipAction.RENAME,
        T0 + timedelta(seconds=3),
        new_name="刷单日结VX:abc12345",
    )
    rt.accept(LiveEvent("tg", GROUP, rename))
    rt.accept(message(4, "大家好", who="u6", name=ad_name))  # in before qunzhu ran
    rt.accept(message(5, "代购名牌包包，加微信 abc12345 详聊", who="u6", name=ad_name))
    owner = message(6, "大家好", who="boss", name=ad_name)
    owner.role = "owner"
    rt.accept(owner)
    rt.process()
    decided = rows(engine, t.decisions)
    assert [(d.member, d.verdict) for d in decided] == [
        ("u7", "review"),
        ("u9", "review"),
        ("u6", "review"),
        ("u6", "spam"),
    ]
    at_door = orjson.loads(decided[0].reasons)
    assert (at_door["step"], at_door["would"]) == ("ask_admin", "kick")
    (check,) = at_door["checks"]
    assert check["name"] == "display_name" and check["details"]["name"] == ad_name
    assert check["details"]["contacts"] == [{"kind": "wechat", "value": "abc12345"}]
    in_chat = orjson.loads(decided[2].reasons)
    assert in_chat["step"] == "ask_admin"
    assert "display_name" in {c["name"] for c in in_chat["checks"]}
    actions = [orjson.loads(r.payload) for r in rows(engine, t.outbox)]
    kinds = [(a["kind"], a["member_id"]) for a in actions]
    assert [k for k in kinds if k[1] in ("u7", "u9")] == [
        ("notify_owner", "u7"),
        ("notify_owner", "u9"),
    ]
    assert ("delete", "u6") in kinds and not [k for k in kinds if k[0] == "kick"]
    assert not [k for k in kinds if k[1] in ("u8", "boss")]


class Fragile:
    """A policy with a bug that one unusual message sets off (or every message, while
    `broken`), and another bug elsewhere in its code that "💣" sets off."""

    name = "fragile"

    def __init__(self) -> None:
        self.broken = False

    def decide(self, event: LiveEvent, marks) -> list:  # type: ignore[no-untyped-def,type-arg]
        text = event.record.text if isinstance(event.record, Message) else ""
        if self.broken or text == "💥":
            raise ValueError(f"a bug met an unusual message: {text}")
        if text == "💣":
            raise KeyError(text)
        return []


def stored_texts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.messages.c.text).order_by(t.messages.c.id)).scalars())


def test_an_event_the_code_cannot_process_is_set_aside_and_the_rest_go_on(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime(engine, Fragile())
    for n, text in enumerate(("早", "💥", "晚"), start=1):
        rt.accept(message(n, text))
    # the batch fails: taken one at a time, the first goes through, the second fails
    assert asyncio.run(rt.step()) == 1
    assert stored_texts(engine) == ["早"]
    assert asyncio.run(rt.step()) == 0  # its second try
    assert not rt.faults.set_aside
    assert asyncio.run(rt.step()) == 0  # its third: set aside, its traceback logged once
    assert asyncio.run(rt.step()) == 1
    assert stored_texts(engine) == ["早", "晚"]
    assert sum(r.exc_info is not None for r in caplog.records) == 1
    assert "set aside" in caplog.text
    # nothing lost: it waits in the inbox, and the next start (the bug fixed) takes it
    waiting = [r for r in rows(engine, t.inbox) if r.processed_at is None]
    assert len(waiting) == 1 and "💥" in waiting[0].payload
    assert runtime(engine).process() == 1
    assert stored_texts(engine) == ["早", "晚", "💥"]


def test_the_engine_keeps_serving_past_an_event_it_cannot_process(engine: Engine) -> None:
    rt = runtime(engine, Fragile())

    async def serve() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(rt.serve(stop, idle_s=0.01))
        await rt.receive(message(1, "💥"))
        await rt.receive(message(2, "晚上好"))
        for _ in range(500):
            if stored_texts(engine) == ["晚上好"]:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await serving

    asyncio.run(serve())
    assert stored_texts(engine) == ["晚上好"]


def test_a_store_out_of_reach_is_waited_for(
    engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from qunzhu.engine import faults

    monkeypatch.setattr(faults, "STORE_WAITS_S", (0.0,))
    rt = runtime(engine, Fragile())
    rt.accept(message(1, "早"))
    down = OperationalError("SELECT", {}, Exception("server closed the connection\nat..."))
    outage = [down, down, down]
    processing = rt.process

    def process(limit: int = 500) -> int:
        if outage:
            raise outage.pop()
        return processing(limit)

    monkeypatch.setattr(rt, "process", process)
    assert [asyncio.run(rt.step()) for _ in range(4)] == [0, 0, 0, 1]
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "the store cannot be reached (OperationalError: server closed the connection); "
        "trying again in 0 s",
        "the store can be reached again",
    ]
    assert not rt.faults.set_aside  # an outage is no event's fault


def test_an_event_received_while_the_store_is_out_of_reach_waits_for_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OneBot pushes each event once: one given up on would never come again."""
    from sqlalchemy.exc import OperationalError

    from qunzhu.engine import faults

    monkeypatch.setattr(faults, "STORE_WAITS_S", (0.0,))
    rt = runtime(engine)
    down = OperationalError("INSERT", {}, Exception("the database system is starting up"))
    outage = [down, down]
    accepting = rt.accept

    def accept(event: LiveEvent) -> int | None:
        if outage:
            raise outage.pop()
        return accepting(event)

    monkeypatch.setattr(rt, "accept", accept)
    asyncio.run(rt.receive(message(1, "早")))
    assert not outage and rt.process() == 1
    assert stored_texts(engine) == ["早"]
    monkeypatch.setattr(rt, "accept", lambda event: 1 / 0)  # a bug is no outage: raised
    with pytest.raises(ZeroDivisionError):
        asyncio.run(rt.receive(message(2, "晚")))


def test_a_platform_answering_slowly_holds_up_neither_the_others_nor_the_engine(
    engine: Engine,
) -> None:
    """A hung OneBot implementation answers each call only at its timeout: a raid's fifty
    removals there must not keep Telegram's deletes, or the next events, waiting."""

    class Hung(FakeConnector):
        name = "qq"

        def __init__(self) -> None:
            super().__init__()
            self.answer = asyncio.Event()

        async def execute(self, action: Action) -> None:
            await self.answer.wait()
            self.done.append(action)

    fast, hung = FakeConnector(), Hung()
    executor = outbox.Executor(engine, {"tg": fast, "qq": hung}, Clock())
    with engine.begin() as conn:
        for n, connector in enumerate(("qq", "qq", "tg", "tg")):
            action = {
                "kind": "delete",
                "connector": connector,
                "group_id": "g",
                "message_id": str(n),
            }
            outbox.queue(conn, action, decision_id=None, can=True, now_ms=int(T0.timestamp()))

    async def drains() -> tuple[int, int]:
        first = await asyncio.wait_for(executor.drain(budget_s=0.05), 5)
        assert [a.message_id for a in fast.done] == ["2", "3"] and hung.done == []
        again = await asyncio.wait_for(executor.drain(budget_s=0.05), 5)  # still busy
        hung.answer.set()
        await asyncio.wait_for(executor.drain(budget_s=None), 5)  # the lane ends
        return first, again

    first, again = asyncio.run(drains())
    assert (first, again) == (4, 0)  # all four taken on at first; QQ's lane went on alone
    assert [a.message_id for a in hung.done] == ["0", "1"]  # in order, each once
    assert {r.status for r in rows(engine, t.outbox)} == {outbox.DONE}


def counted_batches(rt: Runtime) -> list[int]:
    """The size of every batch `rt` is asked to process from now on."""
    sizes: list[int] = []
    process = rt.process

    def counting(limit: int = 500) -> int:
        sizes.append(limit)
        return process(limit)

    rt.process = counting  # type: ignore[method-assign]
    return sizes


def test_a_bug_every_event_meets_sets_the_next_aside_at_its_first_failure(
    engine: Engine,
) -> None:
    fragile = Fragile()
    fragile.broken = True  # every message fails at the same place, whatever it says
    rt = runtime(engine, fragile)
    for n in range(1, 6):
        rt.accept(message(n, f"第{n}条"))
    sizes = counted_batches(rt)
    for _ in range(3):  # the first is tried three times, in a batch and alone
        assert asyncio.run(rt.step()) == 0
    assert len(rt.faults.set_aside) == 1
    assert sizes == [500, 1] * 3
    sizes.clear()
    for left in range(4):  # each next one once, alone: no batch of them all that fails first
        assert asyncio.run(rt.step()) == 0
        assert len(rt.faults.set_aside) == 2 + left
    assert sizes == [1] * 4
    # an event that passes ends it: batches again, and a new failure is counted three times
    fragile.broken = False
    rt.accept(message(6, "早"))
    rt.accept(message(7, "💥"))
    sizes.clear()
    assert asyncio.run(rt.step()) == 1 and rt.faults.streak is None  # "早", alone
    assert asyncio.run(rt.step()) == 0
    assert rt.faults.failures and len(rt.faults.set_aside) == 5
    assert sizes == [1, 500, 1]  # then a batch again, which fails, and "💥" alone


def test_messages_of_a_batch_that_failed_are_counted_once(engine: Engine) -> None:
    """A member's text seen in a batch that failed is not one more copy when the batch is
    taken again: twice is no repeat, whatever failed between."""
    from qunzhu.moderation.behaviour import Behaviour, TrustBook

    detector = Detector(behaviour=Behaviour(), trust=TrustBook())
    rt = runtime(engine, ModerationPolicy(detector, Ladder(Mode.ENFORCE)), Fragile())
    rt.accept(message(1, "今晚七点老地方跑步集合"))
    rt.accept(message(2, "💥", who="u2"))
    asyncio.run(rt.step())  # the batch fails after the first; taken alone, the first passes
    rt.accept(message(3, "今晚七点老地方跑步集合"))
    for _ in range(3):
        asyncio.run(rt.step())
    assert stored_texts(engine) == ["今晚七点老地方跑步集合"] * 2
    assert [d.record_id for d in rows(engine, t.decisions) if d.policy == "moderation"] == []


def test_a_bug_elsewhere_is_counted_as_a_new_one(engine: Engine) -> None:
    rt = runtime(engine, Fragile())
    for n, text in enumerate(("💥", "💥", "💣"), start=1):
        rt.accept(message(n, text))
    for _ in range(4):  # three tries for the first, one for the second, which fails there too
        asyncio.run(rt.step())
    assert len(rt.faults.set_aside) == 2
    asyncio.run(rt.step())  # "💣" fails at another place: counted, not set aside at once
    assert len(rt.faults.set_aside) == 2 and list(rt.faults.failures.values()) == [1]


def test_events_set_aside_are_marked_in_the_inbox_and_taken_back_at_a_start(
    engine: Engine,
) -> None:
    """The engine leaves out what it set aside by a mark in the inbox, not a list of ids in
    its query (which a bug every event meets would make as long as the backlog)."""
    fragile = Fragile()
    fragile.broken = True
    rt = runtime(engine, fragile)
    for n in range(1, 5):
        rt.accept(message(n, f"第{n}条"))
    for _ in range(6):  # three tries for the first, one for each next
        asyncio.run(rt.step())
    marked = [r.id for r in rows(engine, t.inbox) if r.set_aside_at is not None]
    assert marked == sorted(rt.faults.set_aside) and len(marked) == 4
    assert all(r.processed_at is None for r in rows(engine, t.inbox))  # nothing lost
    fragile.broken = False
    rt.accept(message(5, "早"))
    assert asyncio.run(rt.step()) == 1  # the events after them go on
    assert runtime(engine).process() == 4  # the next start (the bug fixed) takes them back
    assert stored_texts(engine) == ["早"] + [f"第{n}条" for n in range(1, 5)]
    assert all(r.set_aside_at is None for r in rows(engine, t.inbox))


def test_stopping_does_not_go_on_through_a_bug_every_event_meets(engine: Engine) -> None:
    from qunzhu.engine.faults import SETTLE_RUN

    fragile = Fragile()
    fragile.broken = True
    rt = runtime(engine, fragile)
    for n in range(1, 3 * SETTLE_RUN):
        rt.accept(message(n, f"第{n}条"))

    async def serve() -> None:
        stop = asyncio.Event()
        stop.set()  # stop at once: what is waiting is settled
        await rt.serve(stop, idle_s=0.01)

    asyncio.run(serve())
    assert len(rt.faults.set_aside) == SETTLE_RUN  # the rest waits for the next start
    waiting = [r for r in rows(engine, t.inbox) if r.processed_at is None]
    assert len(waiting) == 3 * SETTLE_RUN - 1


def test_an_event_that_failed_once_and_then_passed_is_not_counted_any_more(
    engine: Engine,
) -> None:
    fragile = Fragile()
    rt = runtime(engine, fragile)
    rt.accept(message(1, "早"))
    fragile.broken = True  # a passing failure (a model being swapped, say)
    assert asyncio.run(rt.step()) == 0
    assert list(rt.faults.failures.values()) == [1]
    fragile.broken = False
    assert asyncio.run(rt.step()) == 1
    assert rt.faults.failures == {} and not rt.faults.set_aside


def test_a_member_forgotten_while_the_engine_runs_leaves_its_memory(engine: Engine) -> None:
    """`qunzhu forget` deletes the store's data; the running engine drops what it keeps in
    memory too: the connector's bios and reactions, moderation's counts and trust."""
    from qunzhu.moderation.behaviour import Behaviour, TrustBook
    from qunzhu.service import watch_forgotten
    from qunzhu.store.privacy import find_members, forget_member

    class Remembering(FakeConnector):
        def __init__(self) -> None:
            super().__init__()
            self.dropped: list[str] = []

        def forget(self, forgotten) -> None:  # type: ignore[no-untyped-def]
            self.dropped += [m for m in ("u1", "u2") if forgotten(m)]

    detector = Detector(behaviour=Behaviour(), trust=TrustBook(clean_messages=3, hours=1))
    fake = Remembering()
    rt = runtime(engine, ModerationPolicy(detector, Ladder(Mode.ENFORCE)), connector=fake)
    for n in range(3):  # three clean messages: in an hour, trusted
        rt.accept(message(n + 1, f"大家好，我是第{n}个"))
    rt.process()

    async def forget_meanwhile() -> None:
        watching = asyncio.create_task(watch_forgotten(rt, every_s=0.01))
        await asyncio.sleep(0.05)  # its first look: nobody
        with engine.begin() as conn:
            (member,) = find_members(conn, "u1", "telegram")
            forget_member(conn, member)
        for _ in range(200):
            if fake.dropped:
                break
            await asyncio.sleep(0.01)
        watching.cancel()

    asyncio.run(forget_meanwhile())
    assert fake.dropped == ["u1"]
    rt.accept(message(4000, "代购名牌包包，加微信 abc12345 详聊"))  # over an hour on
    rt.process()
    # had their three messages still counted, the ad would have been spared as "earned"
    assert [d.verdict for d in rows(engine, t.decisions)] == ["spam"]


def test_carrying_out_actions_while_the_store_is_away_waits_and_a_bug_pauses(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    from qunzhu.engine import faults
    from qunzhu.engine import runtime as runtime_module

    monkeypatch.setattr(faults, "STORE_WAITS_S", (0.0,))
    monkeypatch.setattr(runtime_module, "DRAIN_PAUSE_S", 0.0)
    rt = runtime(engine)
    failures = [OperationalError("UPDATE", {}, Exception("server closed")), KeyError("bug")]

    async def drain() -> int:
        raise failures.pop(0)

    monkeypatch.setattr(rt.executor, "drain", drain)
    assert asyncio.run(rt._drain()) == 0  # waited for the store
    assert asyncio.run(rt._drain()) == 0  # logged with its traceback, tried again later
    assert [r.exc_info is not None for r in caplog.records] == [False, True]
    assert "the queued actions could not be carried out" in caplog.records[1].getMessage()


def test_a_batch_reads_back_the_marks_it_put_and_writes_them_together(engine: Engine) -> None:
    """Marks put while a batch is processed are seen by its later events at once (get, many,
    since) and reach the store in one statement at the batch's end, moving a stored mark."""
    from qunzhu.engine.runtime import BatchMarks, StoreMarks

    rt = runtime(engine)
    rt.accept(message(1, "大家好"))
    rt.process()
    gid = rows(engine, t.groups)[0].id
    with engine.begin() as conn:
        StoreMarks(conn, gid).put("p", "old", 100.0)
    with engine.begin() as conn:
        batch = BatchMarks(conn)
        marks = batch.of(gid)
        marks.put("p", "joined:u1", 200.0)
        marks.put("p", "old", 300.0)
        assert marks.get("p", "joined:u1") == 200.0 and marks.get("p", "none") is None
        assert marks.many("p", ["joined:u1", "old", "none"]) == {"joined:u1": 200.0, "old": 300.0}
        assert marks.since("p", "joined:", 150.0) == [("joined:u1", 200.0)]
        assert marks.since("p", "old", 250.0) == [("old", 300.0)]  # moved past the bound
        assert marks.since("p", "joined:", 250.0) == []
        assert StoreMarks(conn, gid).get("p", "joined:u1") is None  # not written yet
        batch.flush()
        stored = StoreMarks(conn, gid)
        assert (stored.get("p", "joined:u1"), stored.get("p", "old")) == (200.0, 300.0)
    assert len(rows_unordered(engine, t.policy_marks)) >= 2
