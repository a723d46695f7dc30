"""Members' reports (a reply saying 举报 or /report): from trusted members only, counted once
each, limited per hour, and sent to the admins' queue about the reported message and its
author; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from qunzhu.engine.policies import REPORT_ACK_S, ModerationPolicy, is_report
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups, StoreMarks
from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.model.live import LiveEvent
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.store import schema as t

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
GROUP = Group(Platform.TELEGRAM, "-1001", "跑团一群")
SLY = "有需要的朋友私聊我，好东西"  # an ad the detector lets pass


def said(
    n: int, text: str, who: str, reply_to: str | None = None, role: str = "member"
) -> LiveEvent:
    at = T0 + timedelta(minutes=n)
    record = Message(f"m{n}", Person(who, f"名字{who}"), at, MessageKind.TEXT, text, reply_to)
    return LiveEvent("tg", GROUP, record, role=role)


def runtime(engine: Engine, mode: Mode = Mode.ENFORCE, needed: int = 2) -> Runtime:
    policy = ModerationPolicy(Detector(), Ladder(mode), reports_needed=needed)
    return Runtime(engine, Setups({("tg", GROUP.platform_id): GroupSetup([policy])}))


def trust(engine: Engine, *members: str) -> None:
    """These members earned trust in the group (five clean messages over a day, in life)."""
    with engine.begin() as conn:
        group = conn.execute(select(t.groups.c.id)).scalar_one()
        for member in members:
            StoreMarks(conn, group).put("moderation", f"earned:{member}", T0.timestamp())


def feed(rt: Runtime, *events: LiveEvent) -> list[dict[str, Any]]:
    d, o = t.decisions, t.outbox
    with rt.engine.connect() as conn:
        before = conn.execute(select(d.c.id).order_by(d.c.id.desc())).scalar() or 0
    for event in events:
        rt.accept(event)
    rt.process()
    with rt.engine.connect() as conn:
        rows = conn.execute(select(d).where(d.c.id > before).order_by(d.c.id)).all()
        return [
            {
                "verdict": r.verdict,
                "member": r.member,
                "record": r.record_id,
                "reasons": orjson.loads(r.reasons),
                "actions": [
                    (a.kind, orjson.loads(a.payload)["message_id"])
                    for a in conn.execute(select(o).where(o.c.decision_id == r.id).order_by(o.c.id))
                ],
            }
            for r in rows
        ]


@pytest.fixture
def posted(engine: Engine) -> Runtime:
    """A group where `sly` posted an ad nobody caught, and `a`, `b`, `c` are trusted."""
    rt = runtime(engine)
    assert feed(rt, said(1, SLY, "sly")) == []
    trust(engine, "a", "b", "c")
    return rt


def test_two_trusted_reports_send_the_message_to_the_admins(posted: Runtime) -> None:
    # one is not enough: the reporter hears it counted, both go after a minute
    (noted,) = feed(posted, said(2, "举报", "a", reply_to="m1"))
    assert (noted["verdict"], noted["member"], noted["record"]) == ("noted", "sly", "m1")
    assert noted["reasons"] == {"reporters": 1, "needed": 2}
    assert noted["actions"] == [("send", "m2"), ("delete", "m2")]
    (sent,) = feed(posted, said(3, "/report@qunzhu_bot", "b", reply_to="m1"))
    assert (sent["verdict"], sent["member"], sent["record"]) == ("review", "sly", "m1")
    assert sent["reasons"]["step"] == "ask_admin" and sent["reasons"]["hidden"] is True
    (check,) = sent["reasons"]["checks"]
    assert check["name"] == "reports" and check["details"]["reporters"] == 2
    # hidden at once; the report that did it thanked, and both taken down after a minute
    assert sent["actions"] == [
        ("delete", "m1"),
        ("notify_owner", None),
        ("send", "m3"),
        ("delete", "m3"),
    ]
    with posted.engine.connect() as conn:
        rows = conn.execute(select(t.outbox).where(t.outbox.c.decision_id.is_not(None))).all()
    payloads = [orjson.loads(r.payload) | {"due": r.due_at} for r in rows]
    assert "1 of 2" in payloads[0]["text"] and payloads[0]["expire_s"] == REPORT_ACK_S
    thanks, tidy = payloads[4:]
    assert thanks["expire_s"] == REPORT_ACK_S and tidy["member_id"] == "b"
    assert tidy["due"] - rows[2].due_at == REPORT_ACK_S * 1000
    # a third report changes nothing: the admins have it
    assert feed(posted, said(4, "举报", "c", reply_to="m1")) == []


def test_who_may_report(posted: Runtime) -> None:
    newcomer = said(2, "举报", "fresh", reply_to="m1")
    again = said(3, "举报", "a", reply_to="m1")
    # a newcomer's report and a second one by the same member are not counted, nor answered
    (noted,) = feed(posted, newcomer, said(4, "举报", "a", reply_to="m1"), again)
    assert (noted["verdict"], noted["actions"][0]) == ("noted", ("send", "m4"))
    assert feed(posted, said(5, "举报", "sly", reply_to="m1")) == []  # not one's own
    trust(posted.engine, "sly")
    assert feed(posted, said(6, "举报", "sly", reply_to="m1")) == []  # still one's own
    feed(posted, said(7, "本周六七点集合", "boss", role="admin"))
    assert (
        feed(posted, said(8, "举报", "a", reply_to="m7"), said(9, "举报", "b", reply_to="m7")) == []
    )
    (sent,) = feed(posted, said(10, "举报 @群主", "boss", reply_to="m1", role="admin"))
    assert sent["reasons"]["checks"][0]["details"] == {"reporters": 2, "needed": 2, "staff": True}


def test_a_reporter_is_counted_ten_times_an_hour(engine: Engine) -> None:
    rt = runtime(engine, needed=1)
    feed(rt, *(said(n, f"{SLY}{n}", "sly") for n in range(1, 13)))
    trust(engine, "a")
    reports = [said(20 + n, "举报", "a", reply_to=f"m{n}") for n in range(1, 12)]
    assert len(feed(rt, *reports)) == 10  # the eleventh, in the same hour, is not counted
    assert len(feed(rt, said(100, "举报", "a", reply_to="m12"))) == 1  # an hour later it is


@pytest.mark.parametrize(
    ("mode", "step", "actions"),
    [
        (Mode.TRAINING, "ask_admin", [("notify_owner", None), ("send", "m2")]),  # thanked
        (Mode.SHADOW, "none", []),
    ],
)
def test_the_mode_decides_what_a_report_does(
    engine: Engine, mode: Mode, step: str, actions: list[Any]
) -> None:
    rt = runtime(engine, mode, needed=1)
    feed(rt, said(1, SLY, "sly"))
    trust(engine, "a")
    (sent,) = feed(rt, said(2, "举报", "a", reply_to="m1"))
    assert (sent["reasons"]["step"], sent["actions"]) == (step, actions)
    assert "hidden" not in sent["reasons"]


@pytest.mark.parametrize(
    ("mode", "actions"),
    [(Mode.ENFORCE, ["send", "delete"]), (Mode.TRAINING, ["send"]), (Mode.SHADOW, None)],
)
def test_a_report_short_of_the_number_is_answered_by_mode(
    engine: Engine, mode: Mode, actions: list[str] | None
) -> None:
    rt = runtime(engine, mode, needed=3)
    feed(rt, said(1, SLY, "sly"))
    trust(engine, "a")
    found = feed(rt, said(2, "举报", "a", reply_to="m1"))
    assert [[kind for kind, _ in d["actions"]] for d in found] == ([actions] if actions else [])
    with engine.connect() as conn:  # not moderation's: nothing waits in the admins' queue
        policies = conn.execute(select(t.decisions.c.policy)).scalars().all()
    assert "moderation" not in policies


def test_reports_off_and_replies_to_unknown_messages(engine: Engine) -> None:
    rt = runtime(engine, needed=0)
    feed(rt, said(1, SLY, "sly"))
    trust(engine, "a")
    assert feed(rt, said(2, "举报", "a", reply_to="m1")) == []
    rt = runtime(engine, needed=1)
    assert feed(rt, said(3, "举报", "a", reply_to="m999")) == []  # sent before qunzhu ran


def test_what_counts_as_a_report() -> None:
    reports = ["举报", " /report ", "/REPORT@qunzhu_bot", "举报 @群主", "@sly 举报", "/举报"]
    assert all(map(is_report, reports))
    assert not any(map(is_report, ["我要举报他", "report this", "", "举报吗？", "@举报"]))


def test_a_reported_forward_keeps_its_channel_for_the_answer_to_teach(engine: Engine) -> None:
    """A forward from an ad channel the detector let pass, reported by members: the question
    put to the admins keeps the channel the stored message came from, so their 广告 makes
    the channel a known contact (`feedback.labels_since`)."""
    from qunzhu.moderation.feedback import labels_since

    rt = runtime(engine)
    forward = said(1, SLY, "sly")
    assert isinstance(forward.record, Message)
    forward.record.origin = "fuli_vip"
    assert feed(rt, forward) == []
    trust(engine, "a", "b")
    feed(rt, said(2, "举报", "a", reply_to="m1"))
    (asked,) = feed(rt, said(3, "举报", "b", reply_to="m1"))
    assert asked["verdict"] == "review" and asked["reasons"]["origin"] == "fuli_vip"
    with engine.begin() as conn:
        decision = conn.execute(
            select(t.decisions.c.id).where(t.decisions.c.verdict == "review")
        ).scalar_one()
        conn.execute(
            t.moderation_labels.insert().values(
                decision_id=decision, label="spam", text=SLY, user_name="ops", at=1
            )
        )
        (label,) = labels_since(conn, None)
    assert label.origin == "fuli_vip" and label.spam
