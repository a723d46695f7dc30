"""The group page lists removals at the door with moderation's decisions: wrong answers to the
entry question, no answer in time (once the held-back kick went out), joins during a raid."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

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
from qunzhu.model.live import ActionKind, LiveEvent
from qunzhu.moderation.enforcement import Mode
from qunzhu.store import schema as t
from tests.engine.test_captcha import Clock, Platform_
from tests.web.conftest import World, csrf, login

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


def test_a_lockdown_shows_on_the_group_page_and_an_operator_can_end_it(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, platform = Clock(), Platform_()
    clock.now = time.time()
    policy = RaidPolicy(Mode.ENFORCE, joins=3, window_s=60, lock_min=30, mute_all=True)
    rt = Runtime(
        world.engine, Setups({("tg", "-1001"): GroupSetup([policy])}), {"tg": platform}, clock
    )
    now = datetime.fromtimestamp(clock.now, UTC)

    def arrive(s: int, who: str) -> LiveEvent:
        record = MembershipEvent(
            f"j{who}", Person(who, who), MembershipAction.JOIN, now + timedelta(seconds=s)
        )
        return LiveEvent("tg", RUNNERS, record)

    for event in (arrive(0, "r1"), arrive(1, "r2"), arrive(2, "r3")):
        rt.accept(event)
    rt.process()
    asyncio.run(rt.executor.drain())  # locked; the unlock waits half an hour
    assert [a.kind for a in platform.done].count(ActionKind.LOCK) == 1
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    page = login(client, "ops").get(f"/groups/{world.runners}").text
    assert "防刷群防护中" in page and "期间全员禁言" in page and "现在结束防护" in page

    on = client.get(f"/api/groups/{world.runners}/lockdown").json()
    assert on["on"] and on["muted"] and on["until"] - on["since"] == 30 * 60_000
    viewer = TestClient(client.app)
    login(viewer, "eye")  # sees no such group, and may change nothing
    path = f"/groups/{world.runners}/lockdown/end"
    assert viewer.post(path, data={"csrf_token": csrf(viewer, "/")}).status_code in (403, 404)
    assert client.post(path, data={"csrf_token": "forged"}).status_code == 403
    ended = client.post(
        path, data={"csrf_token": csrf(client, f"/groups/{world.runners}")}, follow_redirects=False
    )
    assert ended.status_code == 303
    assert "防刷群防护中" not in client.get(f"/groups/{world.runners}").text
    assert client.get(f"/api/groups/{world.runners}/lockdown").json()["on"] is False
    token = {"X-CSRF-Token": csrf(client, "/")}  # nothing left to end: answered all the same
    again = client.post(f"/api/groups/{world.runners}/lockdown/end", headers=token)
    assert again.status_code == 200 and again.json()["on"] is False
    # the unlock goes now, and the next newcomer is let in
    clock.now = time.time()
    asyncio.run(rt.executor.drain())
    assert [a.kind for a in platform.done].count(ActionKind.UNLOCK) == 1
    rt.accept(arrive(10, "friend"))
    rt.process()
    with world.engine.connect() as conn:
        kicked = [
            orjson.loads(p)["member_id"]
            for p in conn.execute(
                select(t.outbox.c.payload).where(t.outbox.c.kind == "kick")
            ).scalars()
        ]
        logged = conn.execute(select(t.audit_log.c.action)).scalars().all()
    assert "friend" not in kicked and "r3" in kicked
    assert "raid.end" in logged
