"""The group page lists removals at the door with moderation's decisions: wrong answers to the
entry question, no answer in time (once the held-back kick went out), joins during a raid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from qunzhu.engine import outbox
from qunzhu.engine.policies import CaptchaPolicy, RaidPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.model import (
    Group,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.model.live import LiveEvent
from qunzhu.moderation.enforcement import Mode
from qunzhu.store import schema as t
from tests.web.conftest import World, login

T1 = datetime(2026, 11, 25, 9, tzinfo=UTC)
RUNNERS = Group(Platform.TELEGRAM, "-1001", "跑团一群")


def joined(s: int, who: str) -> LiveEvent:
    at = T1 + timedelta(seconds=s)
    record = MembershipEvent(f"j{who}", Person(who, who), MembershipAction.JOIN, at)
    return LiveEvent("tg", RUNNERS, record)


def said(s: int, who: str, text: str) -> LiveEvent:
    at = T1 + timedelta(seconds=s)
    return LiveEvent("tg", RUNNERS, Message(f"m{s}", Person(who, who), at, MessageKind.TEXT, text))


def test_the_group_page_shows_who_was_turned_away_at_the_door(
    client: TestClient, world: World
) -> None:
    policies = [RaidPolicy(Mode.ENFORCE, joins=3, window_s=60), CaptchaPolicy(Mode.ENFORCE)]
    rt = Runtime(world.engine, Setups({("tg", "-1001"): GroupSetup(policies)}))
    events = [joined(0, "wrong"), said(5, "wrong", "x"), said(6, "wrong", "y")]
    events += [said(7, "wrong", "z"), joined(1000, "silent"), joined(1001, "answers")]
    events += [joined(3000, "raider1"), joined(3001, "raider2"), joined(3002, "raider3")]
    for event in events:
        rt.accept(event)
    rt.process()
    with world.engine.begin() as conn:  # the platform removed "silent" when the time was up
        kicks = t.outbox.c.kind == "kick", t.outbox.c.status == outbox.PENDING
        silent = t.outbox.c.payload.contains('"member_id":"silent"')
        conn.execute(update(t.outbox).where(*kicks, silent).values(status=outbox.DONE))
    page = login(client, "ops").get(f"/groups/{world.runners}").text
    assert "wrong answers to the entry question" in page
    assert "no answer to the entry question in time" in page
    assert page.count("no answer to the entry question in time") == 1  # not "answers", pending
    assert "joined during a raid" in page
