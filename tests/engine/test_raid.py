"""Join raids: a wave of newcomers starts a lockdown in which newcomers are removed on arrival,
by the group's moderation mode; the admins are told once. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from qunzhu.config import PolicySettings, RaidSettings
from qunzhu.engine.policies import CaptchaPolicy, RaidPolicy, WelcomePolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups, StoreMarks
from qunzhu.model import Group, MembershipAction, MembershipEvent, Person, Platform
from qunzhu.model.live import ActionKind, LiveEvent
from qunzhu.moderation.enforcement import Mode
from qunzhu.service import policies_of
from qunzhu.store import schema as t
from tests.engine.test_captcha import Clock, Platform_

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
GROUP = Group(Platform.TELEGRAM, "-1001", "跑团一群")


def joined(s: float, who: str, role: str = "member") -> LiveEvent:
    at = T0 + timedelta(seconds=s)
    record = MembershipEvent(f"j{who}", Person(who, f"名字{who}"), MembershipAction.JOIN, at)
    return LiveEvent("tg", GROUP, record, role=role)


def runtime(engine: Engine, mode: Mode = Mode.ENFORCE) -> Runtime:
    policies = [
        RaidPolicy(mode, joins=3, window_s=60, lock_min=10),
        CaptchaPolicy(mode),
        WelcomePolicy(batch_s=0, after_captcha=True),
    ]
    return Runtime(engine, Setups({("tg", GROUP.platform_id): GroupSetup(policies)}))


def feed(rt: Runtime, *events: LiveEvent) -> list[tuple[str, str, list[tuple[str, Any]]]]:
    """(policy, verdict, [(action, member)]) of each decision the events made."""
    d, o = t.decisions, t.outbox
    with rt.engine.connect() as conn:
        before = conn.execute(select(d.c.id).order_by(d.c.id.desc())).scalar() or 0
    for event in events:
        rt.accept(event)
    rt.process()
    with rt.engine.connect() as conn:
        rows = conn.execute(select(d).where(d.c.id > before).order_by(d.c.id)).all()
        return [
            (
                r.policy,
                r.verdict,
                [
                    (a.kind, orjson.loads(a.payload)["member_id"])
                    for a in conn.execute(select(o).where(o.c.decision_id == r.id))
                ],
            )
            for r in rows
        ]


def reasons(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.decisions.c.reasons).where(t.decisions.c.policy == "raid"))
        return [orjson.loads(r) for r in rows.scalars()]


def test_a_wave_of_newcomers_starts_a_lockdown(engine: Engine) -> None:
    rt = runtime(engine)
    first = feed(rt, joined(0, "a"), joined(20, "b"))
    assert [(p, v) for p, v, _ in first] == [("captcha", "asked"), ("captcha", "asked")]
    # the third within a minute: the admins are told once, the newcomer removed, and the two
    # before it, already in, with their entry questions called off
    assert feed(rt, joined(40, "c")) == [
        ("raid", "lockdown", [("notify_owner", None), ("kick", "c")]),
        ("raid", "lockdown", [("kick", "a")]),
        ("raid", "lockdown", [("kick", "b")]),
    ]
    with engine.connect() as conn:
        held = conn.execute(
            select(t.outbox.c.status, t.outbox.c.payload).where(t.outbox.c.kind == "kick")
        ).all()
    by_captcha = [s for s, p in held if orjson.loads(p)["reason"] == "captcha"]
    assert by_captcha == ["cancelled", "cancelled"]
    # during the lockdown every newcomer is removed, and nothing else is done for them
    assert feed(rt, joined(300, "d")) == [("raid", "lockdown", [("kick", "d")])]
    # a restart changes nothing: the lockdown is kept in the store
    assert feed(runtime(engine), joined(500, "e")) == [("raid", "lockdown", [("kick", "e")])]
    after = feed(rt, joined(40 + 600, "f"))  # ten minutes on: over
    assert [(p, v) for p, v, _ in after] == [("captcha", "asked")]
    assert reasons(engine)[0] == {
        "lockdown_since": int((T0.timestamp() + 40) * 1000),
        "minutes": 10,
        "joins": 3,
        "window_s": 60,
        "step": "kick",
    }


def test_newcomers_spread_out_are_no_raid(engine: Engine) -> None:
    rt = runtime(engine)
    verdicts = feed(rt, *(joined(n * 31, f"m{n}") for n in range(8)))  # two a minute at most
    assert {p for p, _, _ in verdicts} == {"captcha"}


def test_staff_are_neither_counted_nor_removed(engine: Engine) -> None:
    rt = runtime(engine)
    feed(rt, joined(0, "a"), joined(1, "boss", role="admin"), joined(2, "owner", role="owner"))
    assert reasons(engine) == []
    feed(rt, joined(3, "b"), joined(4, "c"))
    staff = feed(rt, joined(5, "chief", role="admin"))  # staff: not removed in a lockdown
    assert [(p, v) for p, v, _ in staff] == [("welcome", "welcome")]
    assert len([r for r in reasons(engine) if not r.get("wave")]) == 1


def test_training_asks_and_shadow_records(engine: Engine) -> None:
    rt = runtime(engine, Mode.TRAINING)
    decided = feed(rt, joined(0, "a"), joined(1, "b"), joined(2, "c"), joined(3, "d"))
    raid = [(v, acts) for p, v, acts in decided if p == "raid"]
    assert raid == [("lockdown", [("notify_owner", None)]), ("lockdown", [])]
    assert [r.get("would") for r in reasons(engine)] == ["kick", "kick"]
    # not final: the newcomers are asked the entry question as usual
    assert [v for p, v, _ in decided if p == "captcha"] == ["asked"] * 4


def test_shadow_records_only(engine: Engine) -> None:
    rt = runtime(engine, Mode.SHADOW)
    decided = feed(rt, joined(0, "a"), joined(1, "b"), joined(2, "c"))
    assert [(p, v, acts) for p, v, acts in decided if p == "raid"] == [("raid", "lockdown", [])]


def test_settings_put_it_first() -> None:
    with pytest.raises(ValueError):
        RaidSettings(joins=1)
    settings = PolicySettings.model_validate(
        {"moderation": {"mode": "enforce"}, "raid": {"joins": 10}, "captcha": {}}
    )
    first, second = policies_of(settings)[:2]
    assert isinstance(first, RaidPolicy) and isinstance(second, CaptchaPolicy)
    assert (first.mode, first.joins, first.window_s, first.lock_min, first.mute_all) == (
        Mode.ENFORCE,
        10,
        60,
        30,
        False,
    )
    assert not any(isinstance(p, RaidPolicy) for p in policies_of(PolicySettings()))


def test_one_join_told_twice_counts_once(engine: Engine) -> None:
    rt = runtime(engine)
    twice = []
    for n, who in enumerate(("a", "b")):
        twice.append(joined(n, who))
        again = joined(n + 0.5, who)
        again.record = MembershipEvent(
            f"cm{who}", again.record.member, MembershipAction.JOIN, again.record.at
        )
        twice.append(again)
    assert reasons(engine) == [] and "raid" not in {p for p, _, _ in feed(rt, *twice)}
    # the third newcomer, and the two before, counted once each
    assert [p for p, _, _ in feed(rt, joined(2, "c"))] == ["raid"] * 3


def test_the_wave_spares_who_answered_the_question_and_who_is_trusted(engine: Engine) -> None:
    policies = [RaidPolicy(Mode.ENFORCE, joins=5, window_s=60, lock_min=10), CaptchaPolicy()]
    rt = Runtime(engine, Setups({("tg", GROUP.platform_id): GroupSetup(policies)}))
    feed(rt, joined(-100, "old"), joined(0, "human"), joined(1, "friend"), joined(2, "bot"))
    gone = LiveEvent(
        "tg",
        GROUP,
        MembershipEvent(
            "lgone", Person("gone", None), MembershipAction.LEAVE, T0 + timedelta(seconds=5)
        ),
    )
    feed(rt, joined(3, "gone"), gone)  # came and went: nothing to remove
    with engine.begin() as conn:
        group = conn.execute(select(t.groups.c.id)).scalar_one()
        marks = StoreMarks(conn, group)
        marks.put("captcha", "passed:human", T0.timestamp() + 20)
        marks.put("moderation", "trusted:friend", T0.timestamp())
        marks.put("captcha", "passed:bot", T0.timestamp() - 86_400)  # an earlier visit's answer
    (started, *wave) = feed(rt, joined(30, "last"))
    assert started[2][-1] == ("kick", "last")
    assert [acts for _, _, acts in wave] == [[("kick", "bot")]]
    # newcomers of more than window_s before are not part of the wave
    assert "old" not in [m for _, _, acts in wave for _, m in acts]


def test_mute_all_locks_the_group_for_the_lockdown_and_unlocks_it(engine: Engine) -> None:
    clock, platform = Clock(), Platform_()
    policies = [RaidPolicy(Mode.ENFORCE, joins=3, window_s=60, lock_min=10, mute_all=True)]
    setups = Setups({("tg", GROUP.platform_id): GroupSetup(policies)})
    rt = Runtime(engine, setups, {"tg": platform}, clock)
    started = feed(rt, joined(0, "a"), joined(1, "b"), joined(2, "c"))[0]
    assert started == ("raid", "lockdown", [("notify_owner", None), ("lock", None), ("kick", "c")])
    assert reasons(engine)[0]["mute_all"] is True
    assert feed(rt, joined(30, "d")) == [("raid", "lockdown", [("kick", "d")])]  # locked once
    clock.now = T0.timestamp() + 3
    asyncio.run(rt.executor.drain())
    (lock,) = [a for a in platform.done if a.kind is ActionKind.LOCK]
    assert lock.seconds == 600
    with engine.connect() as conn:
        (unlock,) = conn.execute(select(t.outbox).where(t.outbox.c.kind == "unlock")).all()
    assert unlock.status == "pending" and unlock.due_at == int((T0.timestamp() + 3 + 600) * 1000)
    clock.now += 599
    asyncio.run(rt.executor.drain())
    assert ActionKind.UNLOCK not in [a.kind for a in platform.done]  # not yet
    clock.now += 1
    asyncio.run(rt.executor.drain())
    assert [a.kind for a in platform.done].count(ActionKind.UNLOCK) == 1


def test_a_platform_that_cannot_lock_leaves_it_to_a_person(engine: Engine) -> None:
    clock, platform = Clock(), Platform_()
    platform.capabilities = platform.capabilities - {ActionKind.LOCK, ActionKind.UNLOCK}
    policies = [RaidPolicy(Mode.ENFORCE, joins=2, window_s=60, lock_min=10, mute_all=True)]
    setups = Setups({("tg", GROUP.platform_id): GroupSetup(policies)})
    rt = Runtime(engine, setups, {"tg": platform}, clock)
    feed(rt, joined(0, "a"), joined(1, "b"))
    asyncio.run(rt.executor.drain())
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.kind, t.outbox.c.status)).all()
    assert ("lock", "task") in rows and "unlock" not in [k for k, _ in rows]


@pytest.mark.parametrize("mode", [Mode.TRAINING, Mode.SHADOW])
def test_mute_all_outside_enforce_is_only_said(engine: Engine, mode: Mode) -> None:
    policies = [RaidPolicy(mode, joins=2, window_s=60, lock_min=10, mute_all=True)]
    rt = Runtime(engine, Setups({("tg", GROUP.platform_id): GroupSetup(policies)}))
    decided = feed(rt, joined(0, "a"), joined(1, "b"))
    assert "lock" not in [kind for _, _, acts in decided for kind, _ in acts]
    assert reasons(engine)[0]["mute_all"] is True


def test_the_wave_is_found_in_a_database_that_orders_text_by_a_locale(
    postgresql_engine: Engine,
) -> None:
    """PostgreSQL databases made with a locale (ICU's en-US here, as on many servers) order
    punctuation as a language does: a string range on the "joined:" keys found nothing there,
    which this project's own C-collated test database did not show."""
    from sqlalchemy import text

    with postgresql_engine.begin() as conn:
        icu = conn.execute(
            text("SELECT collname FROM pg_collation WHERE collname = 'en-US-x-icu'")
        ).scalar()
        if icu is None:
            pytest.skip("this PostgreSQL has no ICU collations")
        conn.execute(
            text(
                'ALTER TABLE policy_marks ALTER COLUMN key TYPE varchar(300) COLLATE "en-US-x-icu"'
            )
        )
    rt = runtime(postgresql_engine)
    assert [len(acts) for _, _, acts in feed(rt, joined(0, "a"), joined(1, "b"), joined(2, "c"))][
        -3:
    ] == [2, 1, 1]  # the lockdown (note and kick), then a and b removed too


def test_a_raid_spread_over_the_communitys_groups_locks_each_group_it_reaches(
    engine: Engine,
) -> None:
    """Two bots in each of three groups reach no group's own count (3); counted across the
    community (5 within the window) the fifth newcomer's group locks at once, and another
    group locks when its next newcomer arrives; a group counted alone does neither."""
    from qunzhu.moderation.behaviour import Behaviour

    groups = [Group(Platform.TELEGRAM, f"-100{i}", f"跑团{i}群") for i in range(1, 5)]
    community = Behaviour()

    def raid(counted: bool) -> RaidPolicy:
        shared = {"community_joins": 5, "community": community} if counted else {}
        return RaidPolicy(Mode.ENFORCE, joins=3, window_s=60, lock_min=10, **shared)

    setups = {("tg", g.platform_id): GroupSetup([raid(g is not groups[3])]) for g in groups}
    rt = Runtime(engine, Setups(setups))

    def came(s: float, who: str, group: Group) -> LiveEvent:
        at = T0 + timedelta(seconds=s)
        record = MembershipEvent(f"j{who}", Person(who, who), MembershipAction.JOIN, at)
        return LiveEvent("tg", group, record)

    quiet = feed(rt, came(0, "a", groups[0]), came(5, "b", groups[1]), came(10, "c", groups[2]))
    assert quiet == []
    assert feed(rt, came(15, "d", groups[0]), came(18, "x", groups[3])) == []  # 4; alone
    started = feed(rt, came(20, "e", groups[1]))  # 5 across the community: 跑团2群 locks
    assert started[0] == ("raid", "lockdown", [("notify_owner", None), ("kick", "e")])
    assert sorted(m for _, _, acts in started[1:] for _, m in acts) == ["b"]  # its earlier one
    assert reasons(engine)[0]["community"] is True and reasons(engine)[0]["joins"] == 5
    later = feed(rt, came(30, "f", groups[2]))  # 跑团3群's next newcomer: it locks too
    assert later[0][2] == [("notify_owner", None), ("kick", "f")]
    assert feed(rt, came(35, "y", groups[3])) == []  # counted alone, 2 of 3
    calm = feed(rt, came(200, "g", groups[0]))  # the window passed: no crowd any more
    assert calm == []


def test_a_restart_keeps_the_communitys_count_of_newcomers(engine: Engine) -> None:
    """Two newcomers before a restart and one after it, in three groups of a community
    counting 3 together: the third starts a lockdown, as without the restart."""
    from qunzhu import service
    from qunzhu.config import parse

    ids = ("-1001", "-1002", "-1003")
    raid = {"joins": 20, "window_s": 300, "community_joins": 3}
    config = parse(
        {
            "connectors": {"tg": {"type": "telegram"}},
            "communities": [{"name": "跑团", "policies": {"raid": raid}}],
            "groups": [{"name": g, "connector": "tg", "id": g, "community": "跑团"} for g in ids],
        }
    )

    def came(s: float, who: str, gid: str) -> LiveEvent:
        at = T0 + timedelta(seconds=s)
        record = MembershipEvent(f"j{who}", Person(who, who), MembershipAction.JOIN, at)
        return LiveEvent("tg", Group(Platform.TELEGRAM, gid, gid), record)

    clock = Clock()
    clock.now = T0.timestamp()
    before = Runtime(engine, service.setups(config), {}, clock)
    assert feed(before, came(0, "a", ids[0]), came(10, "b", ids[1])) == []
    after = service.setups(config)  # a new process: its memories are empty
    assert service.recall_joins(after, config, engine, T0.timestamp() + 60) == 2
    assert service.recall_joins(service.setups(config), config, engine, T0.timestamp() + 4000) == 0
    started = feed(Runtime(engine, after, {}, clock), came(20, "c", ids[2]))
    assert started[0][:2] == ("raid", "lockdown")
