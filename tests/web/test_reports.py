"""A message members reported, in the console: the queue shows it with who reported it, and
the answer acts on the reported message and its author and teaches the model its text."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from qunzhu.engine.policies import REPORT_ACK_S, ModerationPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups, StoreMarks
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.feedback import labelled, labels_since
from qunzhu.store import schema as t
from qunzhu.web import overview
from tests.engine.test_captcha import Clock, Platform_
from tests.web.conftest import World
from tests.web.test_moderation import RUNNERS, actions_of, api_label, as_user, feed, msg

SLY = "有需要的朋友私聊我，好东西"


def test_a_reported_message_is_answered_like_any_other(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    policy = ModerationPolicy(Detector(), Ladder(Mode.TRAINING), reports_needed=1)
    rt = Runtime(world.engine, Setups({("tg", RUNNERS.platform_id): GroupSetup([policy])}))
    assert feed(rt, msg(RUNNERS, 1, SLY, who="sly")) == []
    with world.engine.begin() as conn:
        StoreMarks(conn, world.runners).put("moderation", "earned:run1", 0.0)
    report = msg(RUNNERS, 2, "举报", who="run1")
    report.record.reply_to = "m1"
    (sent,) = feed(rt, report)

    ops = as_user(app, "ops")
    page = ops.get("/moderation").text
    assert SLY in page and "成员举报" in page and "举报人数" in page
    reply = api_label(ops, sent, "spam")
    assert reply.status_code == 200 and reply.json()["struck"] == 1
    assert [
        (a["kind"], a["message_id"], a["member_id"]) for a in actions_of(world.engine, sent)
    ] == [
        ("notify_owner", None, "sly"),
        ("send", "m2", None),  # the reporter thanked
        ("delete", "m1", "sly"),
    ]
    with world.engine.connect() as conn:
        assert labelled(labels_since(conn, None)) == [(1, SLY)]  # what the members saw, not "举报"
        strikes = conn.execute(
            select(t.policy_marks.c.key).where(t.policy_marks.c.key.like("strike%"))
        ).scalars()
        assert list(strikes) == ["strike0:sly"]


def test_reports_people_keep_overturning_are_called_doubtful(app: FastAPI, world: World) -> None:
    policy = ModerationPolicy(Detector(), Ladder(Mode.TRAINING), reports_needed=1)
    rt = Runtime(world.engine, Setups({("tg", RUNNERS.platform_id): GroupSetup([policy])}))
    authors = ("a1", "a2", "a3")
    feed(rt, *(msg(RUNNERS, n, "周六几点集合？", who=who) for n, who in enumerate(authors, 1)))
    with world.engine.begin() as conn:
        StoreMarks(conn, world.runners).put("moderation", "earned:run1", 0.0)
    reports = []
    for n in range(1, 4):
        report = msg(RUNNERS, 10 + n, "举报", who="run1")
        report.record.reply_to = f"m{n}"
        reports.append(report)
    sent = feed(rt, *reports)
    ops = as_user(app, "ops")
    assert len(sent) == 3 and all(api_label(ops, d, "ham").status_code == 200 for d in sent)
    page = ops.get("/moderation/checks?lang=en").text
    assert "ask for more reports" in page
    assert "lower its weight" not in page  # no other check was overturned


def test_a_member_whose_reports_are_overturned_twice_is_no_longer_counted(
    app: FastAPI, world: World
) -> None:
    policy = ModerationPolicy(Detector(), Ladder(Mode.TRAINING), reports_needed=1)
    rt = Runtime(world.engine, Setups({("tg", RUNNERS.platform_id): GroupSetup([policy])}))
    feed(rt, *(msg(RUNNERS, n, "周六几点集合？", who=f"a{n}") for n in range(1, 5)))
    with world.engine.begin() as conn:
        for member in ("run1", "run2"):
            StoreMarks(conn, world.runners).put("moderation", f"earned:{member}", 0.0)

    def report(n: int, reported: int, who: str = "run1", role: str = "member") -> list[int]:
        event = msg(RUNNERS, n, "举报", who=who)
        event.record.reply_to, event.role = f"m{reported}", role
        return feed(rt, event)

    ops = as_user(app, "ops")
    for n, reported in ((11, 1), (12, 2)):
        (sent,) = report(n, reported)
        assert api_label(ops, sent, "ham").status_code == 200
    with world.engine.connect() as conn:
        keys = conn.execute(
            select(t.policy_marks.c.key).where(t.policy_marks.c.key.like("overturned%"))
        ).scalars()
        assert sorted(keys) == ["overturned0:run1", "overturned1:run1"]
    assert report(13, 3) == []  # twice overturned this month: run1's reports no longer count
    assert len(report(14, 3, who="run2")) == 1  # another member's do
    assert len(report(15, 4, role="admin")) == 1  # and run1's as staff would


def test_the_overview_counts_members_messages_taken_down_not_the_tidying(world: World) -> None:
    policy = ModerationPolicy(Detector(), Ladder(Mode.ENFORCE), reports_needed=1)
    clock, platform = Clock(), Platform_()
    clock.now = time.time()  # the overview counts the last seven days by the wall clock
    setups = Setups({("tg", RUNNERS.platform_id): GroupSetup([policy])})
    rt = Runtime(world.engine, setups, {"tg": platform}, clock)
    with world.engine.begin() as conn:
        StoreMarks(conn, world.runners).put("moderation", "earned:run1", 0.0)
    report = msg(RUNNERS, 2, "举报", who="run1")
    report.record.reply_to = "m1"
    feed(rt, msg(RUNNERS, 1, SLY, who="sly"), report)
    asyncio.run(rt.executor.drain())
    clock.now += REPORT_ACK_S + 1  # the thanks expired, the report is tidied away
    asyncio.run(rt.executor.drain())
    done = [(a.kind.value, a.reason, a.message_id) for a in platform.done]
    assert sorted(done) == [
        ("delete", "", "m1"),  # the reported ad hidden: the one removal
        ("delete", "expired", "bot3"),
        ("delete", "report", "m2"),
        ("send", "", "m2"),
    ]
    with world.engine.connect() as conn:
        (card,), _ = overview.cards(conn, [world.runners])
    assert card.ads_removed_7d == 1
