"""Members' appeals: a private message to the bot finds what moderation did to its writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, update

from qunzhu.engine.policies import ModerationPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.model.live import LiveEvent
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.store import appeals
from qunzhu.store import schema as t
from qunzhu.store.privacy import find_members, forget_member

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
RUNNERS = Group(Platform.TELEGRAM, "-1001", "跑团一群")
READERS = Group(Platform.TELEGRAM, "-1002", "读书会")
AD = "代购名牌包包，加微信 abc12345 详聊"  # removed in enforce
LINK = "看看这个 https://example.com/x"  # a question for an admin


def _decided(engine: Engine, *said: tuple[Group, int, str, str], mode: Mode = Mode.ENFORCE) -> None:
    setup = GroupSetup([ModerationPolicy(Detector(), Ladder(mode))])
    setups = Setups({("tg", g.platform_id): setup for g in (RUNNERS, READERS)})
    rt = Runtime(engine, setups, {}, lambda: T0.timestamp() + 3600)  # decided an hour on
    for group, n, who, text in said:
        record = Message(
            f"m{n}", Person(who, f"名字{who}"), T0 + timedelta(minutes=n), MessageKind.TEXT, text
        )
        rt.accept(LiveEvent("tg", group, record))
    rt.process()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _receive(engine: Engine, who: str, text: str, connector: str = "tg", days: float = 1) -> object:
    with engine.begin() as conn:
        return appeals.receive(conn, connector, who, text, _ms(T0 + timedelta(days=days)))


def _appeal_rows(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(r.decision_id, r.text) for r in conn.execute(select(t.appeals))]


def test_an_appeal_goes_to_the_newest_thing_done_to_its_writer(engine: Engine) -> None:
    _decided(
        engine,
        (RUNNERS, 1, "u1", AD),
        (READERS, 2, "u1", AD),  # the newest: this one is appealed
        (RUNNERS, 3, "u1", LINK),  # a question, nothing done to them: not appealable
        (RUNNERS, 4, "u2", AD),
    )
    with engine.connect() as conn:
        decisions = conn.execute(select(t.decisions.c.id).order_by(t.decisions.c.id)).scalars()
        first, newest, _question, theirs = list(decisions)
    found = _receive(engine, "u1", "我只是分享链接，不是广告")
    assert found == appeals.Appealed(newest, "读书会")
    assert _receive(engine, "u1", "再说一次：不是广告") == found  # the words are replaced
    assert _appeal_rows(engine) == [(newest, "再说一次：不是广告")]
    assert _receive(engine, "u3", "为什么") is None  # nothing was done to them
    assert _receive(engine, "u2", "误判", connector="qq") is None  # not through that bot
    assert _receive(engine, "u2", "误判", days=31) is None  # too long ago
    assert _receive(engine, "u2", "误判") == appeals.Appealed(theirs, "跑团一群")
    with engine.begin() as conn:  # an admin answered the newest: the next goes to the older
        conn.execute(
            t.moderation_labels.insert().values(
                decision_id=newest, label="appeal_rejected", text=AD, at=_ms(T0), user_name="ops"
            )
        )
    assert _receive(engine, "u1", "那条也是误判") == appeals.Appealed(first, "跑团一群")


def test_a_question_for_an_admin_is_not_appealed(engine: Engine) -> None:
    _decided(engine, (RUNNERS, 1, "u1", AD), mode=Mode.TRAINING)  # asked, nothing done
    assert _receive(engine, "u1", "不是广告") is None
    assert _appeal_rows(engine) == []


def test_forgetting_a_member_forgets_their_appeals(engine: Engine) -> None:
    _decided(engine, (RUNNERS, 1, "u1", AD), (RUNNERS, 2, "u2", AD))
    assert _receive(engine, "u1", "我叫王小明，电话 13800000000，不是广告") is not None
    assert _receive(engine, "u2", "误判") is not None
    with engine.begin() as conn:
        (member,) = find_members(conn, "u1", "telegram")
        forget_member(conn, member)
    rows = _appeal_rows(engine)
    assert [text for _, text in rows] == ["误判"]  # theirs is gone, the other stays
    with engine.begin() as conn:  # a long appeal is kept to its first 1,000 characters
        conn.execute(update(t.appeals).values(text="x"))
    assert _receive(engine, "u2", "长" * 5000) is not None
    with engine.connect() as conn:
        kept = conn.execute(select(func.max(func.length(t.appeals.c.text)))).scalar_one()
    assert kept == appeals.TEXT_KEPT
