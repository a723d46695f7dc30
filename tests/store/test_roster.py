"""A platform's list of who is in a group, against the store: the joins and leaves it missed are
stored as events (memberships stay derived), no policy sees them, and a member blocked long
ago who turns out to be there is removed. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from qunzhu.config import parse
from qunzhu.engine.policies import ModerationPolicy, WelcomePolicy
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
from qunzhu.model.live import Action, ActionFailed, ActionKind, RosterEntry
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.service import watch_rosters
from qunzhu.store import blocklist, roster
from qunzhu.store import schema as t
from qunzhu.store.ingest import Ingest, rebuild_memberships

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
GROUP = Group(Platform.QQ, "5550001", "跑团二群")
A, B, C, E = (Person(f"{n}", f"名字{n}") for n in (101, 102, 103, 105))


def history(engine: Engine) -> int:
    """A joined, B only spoke, C joined and left, E joined: the store's view of the group."""
    records = [
        GROUP,
        MembershipEvent("j1", A, MembershipAction.JOIN, T0, JoinMethod.LINK),
        Message("m1", B, T0 + timedelta(hours=1), MessageKind.TEXT, "早上好"),
        MembershipEvent("j2", C, MembershipAction.JOIN, T0, JoinMethod.LINK),
        MembershipEvent("l2", C, MembershipAction.LEAVE, T0 + timedelta(days=1)),
        MembershipEvent("j3", E, MembershipAction.JOIN, T0, JoinMethod.LINK),
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory", community="跑团").run(iter(records))
        return conn.execute(select(t.groups.c.id)).scalar_one()


def inside(engine: Engine, group_id: int) -> dict[str, tuple[Any, Any]]:
    ms, m = t.memberships, t.members
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.c.external_id, ms.c.joined_at, ms.c.left_at)
            .join(ms, ms.c.member_id == m.c.id)
            .where(ms.c.group_id == group_id)
        ).all()
    return {r.external_id: (r.joined_at, r.left_at) for r in rows}


class Listing:
    """A platform that lists the group's members, and fails the first time (not connected)."""

    name = "qq"
    capabilities = frozenset(ActionKind) - {ActionKind.NOTIFY_OWNER}

    def __init__(self, present: list[RosterEntry]) -> None:
        self.present, self.asked = present, 0

    async def run(self, emit: Any) -> None:
        await asyncio.Event().wait()

    async def execute(self, action: Action) -> str | None:
        return None

    async def roster(self, group_id: str) -> list[RosterEntry]:
        self.asked += 1
        if self.asked == 1:
            raise ActionFailed("not connected to the OneBot implementation", retry=True)
        assert group_id == GROUP.platform_id
        return self.present


CONFIG = parse(
    {
        "connectors": {"qq": {"type": "onebot", "url": "ws://127.0.0.1:3001"}},
        "communities": [{"name": "跑团"}],
        "groups": [{"name": "跑团二群", "connector": "qq", "id": "5550001", "community": "跑团"}],
    }
)


def test_the_roster_fills_in_what_the_store_missed_and_keeps_the_blocked_out(
    engine: Engine,
) -> None:
    group_id = history(engine)
    silent = Person("104", "潜水的老张")  # here since before qunzhu ran; never spoke
    joined = T0 - timedelta(days=300)
    back = T0 + timedelta(days=2)  # C came back; the store missed it
    present = [RosterEntry(A), RosterEntry(B), RosterEntry(C, back), RosterEntry(silent, joined)]
    with engine.begin() as conn:  # the silent one was blocked long ago, in another group
        community = conn.execute(select(t.communities.c.id)).scalar_one()
        member = conn.execute(
            t.members.insert()
            .values(platform="qq", external_id="104", provisional=False)
            .returning(t.members.c.id)
        ).scalar_one()
        blocklist.add(conn, community, member, "广告号", added_by="ops", at=1_000)
    platform = Listing(present)
    policies = [ModerationPolicy(Detector(), Ladder(Mode.ENFORCE)), WelcomePolicy(batch_s=0)]
    setups = Setups({("qq", GROUP.platform_id): GroupSetup(policies)})
    rt = Runtime(engine, setups, {"qq": platform})

    async def once() -> None:
        task = asyncio.create_task(watch_rosters(rt, CONFIG, every_s=3600, retry_s=0.01))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if platform.asked >= 2 and _decisions(engine):
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(once())
    now = inside(engine, group_id)
    assert now["104"] == (int(joined.timestamp() * 1000), None)  # known at last, since when
    assert now["103"] == (int(back.timestamp() * 1000), None)  # back in
    assert now["105"][1] is not None  # E is not on the list: left while nobody looked
    assert now["101"][1] is None and now["102"][1] is None
    # no policy saw the roster's events: nobody welcomed; the blocked one removed
    decided = _decisions(engine)
    assert [(d.policy, d.member) for d in decided] == [("moderation", "104")]
    with engine.connect() as conn:
        kinds = conn.execute(select(t.outbox.c.kind)).scalars().all()
    assert kinds == ["kick"]
    # derived as before: a rebuild from events gives the same memberships
    with engine.begin() as conn:
        rebuild_memberships(conn, group_id)
    assert inside(engine, group_id) == now
    # asked again, nothing new is missed
    with engine.connect() as conn:
        events = conn.execute(select(t.membership_events.c.id)).all()
    asyncio.run(once())
    with engine.connect() as conn:
        assert conn.execute(select(t.membership_events.c.id)).all() == events


def _decisions(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(t.decisions).order_by(t.decisions.c.id)).all()


def test_a_store_that_cannot_take_the_roster_is_tried_again(
    engine: Engine, monkeypatch: Any
) -> None:
    from qunzhu import service

    group_id = history(engine)
    real, calls, written = service._write_roster, [], []

    def flaky(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        result = real(*args)
        written.append(args)
        return result

    monkeypatch.setattr(service, "_write_roster", flaky)
    platform = Listing([RosterEntry(A), RosterEntry(B), RosterEntry(E), RosterEntry(C)])
    platform.asked = 1  # connected from the start
    rt = Runtime(engine, Setups(), {"qq": platform})

    async def rounds() -> None:
        task = asyncio.create_task(watch_rosters(rt, CONFIG, every_s=3600, retry_s=0.01))
        for _ in range(1000):  # until the second try is written, not merely begun
            await asyncio.sleep(0.01)
            if written:
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(rounds())
    assert len(calls) == 2  # the failure was logged, and the list read again
    assert inside(engine, group_id)["103"][1] is None  # C back in, written the second time


def test_a_list_that_empties_the_group_at_once_is_believed_only_when_said_twice(
    engine: Engine,
) -> None:
    crowd = [Person(f"{200 + i}", f"跑友{i}") for i in range(20)]
    records: list[Any] = [GROUP]
    records += [
        MembershipEvent(f"j{p.user_id}", p, MembershipAction.JOIN, T0, JoinMethod.LINK)
        for p in crowd
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory", community="跑团").run(iter(records))
        group_id = conn.execute(select(t.groups.c.id)).scalar_one()
    partial = [RosterEntry(p) for p in crowd[:8]]  # 12 of 20 missing: a cache half filled
    now = T0 + timedelta(days=3)
    with engine.connect() as conn:
        first = roster.missed(conn, "qq", GROUP.platform_id, partial, now)
        assert first.events == [] and len(first.held) == 12
        # the next reading says the same: believed
        second = roster.missed(conn, "qq", GROUP.platform_id, partial, now, first.held)
        assert [e.action for e in second.events] == [MembershipAction.LEAVE] * 12
        # a few leaving is believed at once
        most = [RosterEntry(p) for p in crowd[:17]]
        assert len(roster.missed(conn, "qq", GROUP.platform_id, most, now).events) == 3

    # through the watcher: held, read again a moment later, then stored
    platform = Listing(partial)
    platform.asked = 1
    rt = Runtime(engine, Setups(), {"qq": platform})

    def left() -> list[str]:
        return [who for who, (_, gone) in inside(engine, group_id).items() if gone is not None]

    async def rounds() -> None:
        task = asyncio.create_task(watch_rosters(rt, CONFIG, every_s=3600, retry_s=0.01))
        for _ in range(1000):  # until the second reading is written, not merely asked for
            await asyncio.sleep(0.01)
            if platform.asked >= 3 and left():
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(rounds())
    assert sorted(left()) == sorted(p.user_id for p in crowd[8:])
