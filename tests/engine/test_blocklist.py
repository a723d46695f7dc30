"""The community blocklist: a ban in one group keeps the member out of the community's others,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from qunzhu.engine.policies import AdmissionPolicy, ModerationPolicy
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
from qunzhu.model.live import JoinRequest, LiveEvent
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector, Policy
from qunzhu.store import blocklist
from qunzhu.store import schema as t
from qunzhu.store.ingest import place_group
from qunzhu.store.privacy import find_members, forget_member

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
FIRST = Group(Platform.TELEGRAM, "-1001", "跑团一群")
SECOND = Group(Platform.TELEGRAM, "-1002", "跑团二群")
OTHERS = Group(Platform.TELEGRAM, "-1003", "读书会")  # another community
GAMBLING = "博彩网站，加我 abc12345"  # a word the group bans at once
BANNING = Policy(keywords={"博彩": {"weight": 1.0, "action": "ban"}})


def said(group: Group, n: int, text: str, who: str = "spammer") -> LiveEvent:
    at = T0 + timedelta(minutes=n)
    return LiveEvent(
        "tg", group, Message(f"m{n}", Person(who, "广告哥"), at, MessageKind.TEXT, text)
    )


def joined(group: Group, n: int, who: str = "spammer") -> LiveEvent:
    at = T0 + timedelta(minutes=n)
    record = MembershipEvent(
        f"j{n}", Person(who, "广告哥"), MembershipAction.JOIN, at, JoinMethod.LINK
    )
    return LiveEvent("tg", group, record)


def asked(group: Group, n: int, who: str = "spammer") -> LiveEvent:
    request = JoinRequest(f"r{n}", Person(who, "广告哥"), T0 + timedelta(minutes=n), "跑步")
    return LiveEvent("tg", group, request)


def setup(mode: Mode = Mode.ENFORCE, shares: bool = True) -> GroupSetup:
    moderation = ModerationPolicy(Detector(BANNING), Ladder(mode), blocklist=shares)
    return GroupSetup([moderation, AdmissionPolicy(answers=("跑步",), blocklist=shares)])


def runtime(engine: Engine, **setups: GroupSetup) -> Runtime:
    """FIRST, SECOND and OTHERS in enforce, sharing bans, unless `setups` says otherwise."""
    with engine.begin() as conn:
        place_group(conn, "telegram", FIRST.platform_id, FIRST.name, "跑团")
        place_group(conn, "telegram", SECOND.platform_id, SECOND.name, "跑团")
        place_group(conn, "telegram", OTHERS.platform_id, OTHERS.name, "读书会")
    names = {"first": FIRST, "second": SECOND, "others": OTHERS}
    groups = {("tg", g.platform_id): setups.get(key, setup()) for key, g in names.items()}
    return Runtime(engine, Setups(groups))


def feed(rt: Runtime, *events: LiveEvent) -> list[dict[str, Any]]:
    """Process the events; the decisions they made, with their group's platform id and
    actions."""
    with rt.engine.connect() as conn:
        before = conn.execute(select(t.decisions.c.id).order_by(t.decisions.c.id.desc())).scalar()
    for event in events:
        rt.accept(event)
    rt.process()
    d, g, o = t.decisions, t.groups, t.outbox
    with rt.engine.connect() as conn:
        rows = conn.execute(
            select(d.c.id, d.c.policy, d.c.verdict, d.c.reasons, g.c.platform_id)
            .join(g, g.c.id == d.c.group_id)
            .where(d.c.id > (before or 0))
            .order_by(d.c.id)
        ).all()
        out = []
        for row in rows:
            kinds = conn.execute(
                select(o.c.kind).where(o.c.decision_id == row.id).order_by(o.c.id)
            ).scalars()
            out.append(
                {
                    "id": row.id,
                    "policy": row.policy,
                    "verdict": row.verdict,
                    "group": row.platform_id,
                    "reasons": orjson.loads(row.reasons),
                    "actions": list(kinds),
                }
            )
        return out


def listed(engine: Engine) -> list[blocklist.Entry]:
    with engine.connect() as conn:
        ids = conn.execute(select(t.communities.c.id)).scalars().all()
        return blocklist.entries(conn, ids)


def test_a_ban_keeps_the_member_out_of_the_communitys_other_groups(engine: Engine) -> None:
    rt = runtime(engine)
    (ban,) = feed(rt, said(FIRST, 1, GAMBLING))
    assert ban["reasons"]["step"] == "ban" and ban["actions"] == ["delete", "ban"]
    (entry,) = listed(engine)
    assert (entry.external_id, entry.group_name, entry.decision_id) == (
        "spammer",
        "跑团一群",
        ban["id"],
    )
    assert "博彩" in entry.reason and entry.added_by is None

    # the same person in the community's second group: a join, a message, a join request
    came, spoke, knocked = feed(
        rt, joined(SECOND, 2), said(SECOND, 3, "大家好，周末一起跑步吗"), asked(SECOND, 4)
    )
    assert (came["reasons"]["step"], came["actions"]) == ("kick", ["kick"])
    assert (spoke["reasons"]["step"], spoke["actions"]) == ("kick", ["delete", "kick"])
    assert spoke["reasons"]["checks"][0]["name"] == "blocklist"
    assert "博彩" in spoke["reasons"]["blocklist"]
    assert (knocked["policy"], knocked["verdict"], knocked["actions"]) == (
        "admission",
        "reject",
        ["reject"],
    )
    # another community's group knows nothing of it
    assert feed(rt, said(OTHERS, 5, "大家好，周末一起跑步吗"), asked(OTHERS, 6))[-1]["verdict"] == (
        "approve"
    )
    assert len(listed(engine)) == 1  # kept out, not blocked again


def test_a_ban_and_a_message_elsewhere_in_one_batch(engine: Engine) -> None:
    rt = runtime(engine)
    ban, swept, spoke = feed(rt, said(FIRST, 1, GAMBLING), said(SECOND, 2, "你好"))
    assert ban["reasons"]["step"] == "ban"
    assert (swept["group"], swept["actions"]) == (SECOND.platform_id, ["kick"])
    assert (spoke["group"], spoke["actions"]) == (SECOND.platform_id, ["delete", "kick"])


def test_a_ban_removes_the_member_from_the_groups_they_are_in_now(engine: Engine) -> None:
    third = Group(Platform.TELEGRAM, "-1004", "跑团三群")
    fourth = Group(Platform.TELEGRAM, "-1005", "跑团四群")
    rt = runtime(engine)
    with engine.begin() as conn:
        place_group(conn, "telegram", third.platform_id, third.name, "跑团")
        place_group(conn, "telegram", fourth.platform_id, fourth.name, "跑团")
    rt.setups.groups[("tg", third.platform_id)] = setup(Mode.TRAINING)
    rt.setups.groups[("tg", fourth.platform_id)] = setup(shares=False)
    quiet = [said(g, n, "大家好") for n, g in enumerate((SECOND, OTHERS, third, fourth), 1)]
    assert feed(rt, *quiet) == []  # a member of four groups, two communities, nothing wrong
    ban, *swept = feed(rt, said(FIRST, 9, GAMBLING))
    assert ban["reasons"]["step"] == "ban"
    assert [(s["group"], s["reasons"]["step"], s["actions"]) for s in swept] == [
        (SECOND.platform_id, "kick", ["kick"]),
        (third.platform_id, "ask_admin", ["notify_owner"]),
    ]
    assert all(s["reasons"]["checks"][0]["name"] == "blocklist" for s in swept)
    with engine.connect() as conn:
        records = conn.execute(
            select(t.decisions.c.member, t.decisions.c.record_id).where(
                t.decisions.c.id.in_([s["id"] for s in swept])
            )
        ).all()
    assert set(records) == {("spammer", None)}


@pytest.mark.parametrize(
    ("mode", "step", "actions"),
    [(Mode.TRAINING, "ask_admin", ["notify_owner"]), (Mode.SHADOW, "none", [])],
)
def test_each_group_keeps_out_by_its_own_mode(
    engine: Engine, mode: Mode, step: str, actions: list[str]
) -> None:
    rt = runtime(engine, second=setup(mode))
    feed(rt, said(FIRST, 1, GAMBLING))
    (spoke,) = feed(rt, said(SECOND, 2, "你好"))
    assert (spoke["reasons"]["step"], spoke["reasons"]["would"], spoke["actions"]) == (
        step,
        "kick",
        actions,
    )


def test_a_group_that_does_not_share_neither_feeds_nor_reads_the_list(engine: Engine) -> None:
    rt = runtime(engine, first=setup(shares=False))
    feed(rt, said(FIRST, 1, GAMBLING))
    assert listed(engine) == []  # banned there, not blocked in the community
    rt = runtime(engine, second=setup(shares=False))
    feed(rt, said(FIRST, 2, GAMBLING, who="other"))
    assert [e.external_id for e in listed(engine)] == ["other"]
    assert feed(rt, said(SECOND, 3, "你好", who="other")) == []
    assert feed(rt, asked(SECOND, 4, who="other"))[0]["verdict"] == "approve"


def test_staff_and_members_trusted_by_a_person_are_not_kept_out(engine: Engine) -> None:
    rt = runtime(engine)
    feed(rt, said(FIRST, 1, GAMBLING))
    with engine.begin() as conn:
        gid = conn.execute(
            select(t.groups.c.id).where(t.groups.c.platform_id == SECOND.platform_id)
        ).scalar_one()
        StoreMarks(conn, gid).put("moderation", "trusted:spammer", T0.timestamp())
    assert feed(rt, said(SECOND, 2, "你好")) == []
    boss = said(SECOND, 3, "本周六七点集合", who="boss")
    boss.role = "admin"  # the admin of the second group...
    assert feed(rt, boss) == []
    (ban,) = feed(rt, said(FIRST, 4, GAMBLING, who="boss"))  # ...banned as a member there:
    assert ban["group"] == FIRST.platform_id  # not removed from the second group
    boss = said(SECOND, 5, "本周六七点集合", who="boss")
    boss.role = "admin"
    assert feed(rt, boss) == []


def test_the_list_in_the_store(engine: Engine) -> None:
    rt = runtime(engine)
    feed(rt, said(FIRST, 1, GAMBLING), said(OTHERS, 2, "我是新来的", who="reader"))
    with engine.begin() as conn:
        runners, readers = (
            conn.execute(
                select(t.communities.c.id).where(t.communities.c.name == name)
            ).scalar_one()
            for name in ("跑团", "读书会")
        )
        (reader,) = find_members(conn, "reader")
        assert blocklist.add(conn, readers, reader, "  骚扰群友  ", added_by="alice")
        assert not blocklist.add(conn, readers, reader, "again")  # the first reason stays
        asked_for = [
            (runners, "telegram", "spammer"),
            (readers, "telegram", "spammer"),
            (readers, "telegram", "reader"),
            (runners, "qq", "reader"),
        ]
        found = blocklist.reasons_for(conn, asked_for)
        assert set(found) == {(runners, "telegram", "spammer"), (readers, "telegram", "reader")}
        assert found[(readers, "telegram", "reader")] == "骚扰群友"
        assert blocklist.of_member(conn, reader) == {readers: "骚扰群友"}
        assert [e.added_by for e in blocklist.entries(conn, [readers])] == ["alice"]
        assert blocklist.remove(conn, readers, reader)
        assert not blocklist.remove(conn, readers, reader)
        assert blocklist.reasons_for(conn, []) == {}


def test_a_forgotten_member_stays_out_by_a_digest_of_their_id(engine: Engine) -> None:
    rt = runtime(engine)
    feed(rt, said(FIRST, 1, GAMBLING))
    with engine.begin() as conn:
        (member,) = find_members(conn, "spammer")
        assert forget_member(conn, member).blocked == 1
        kept = conn.execute(select(t.forgotten_blocks)).one()
        assert "spammer" not in repr(kept) and len(kept.digest) == 64  # no id, name or reason
    assert listed(engine) == []  # nothing to list: the store cannot say who they are
    # back under the same id: kept out again, as before they were forgotten
    (came,) = feed(rt, joined(SECOND, 10))
    assert came["reasons"]["blocklist"] == "blocked before their data was deleted"
    assert came["actions"] == ["kick"]
    (knocked,) = feed(rt, asked(SECOND, 11))
    assert knocked["verdict"] == "reject"
    assert feed(rt, said(SECOND, 12, "大家好", who="someone_else")) == []
    assert feed(rt, said(OTHERS, 13, "hi")) == []  # another community never blocked them
    with engine.begin() as conn:  # the console shows it, and taking them off lets them back
        runners = conn.execute(
            select(t.communities.c.id).where(t.communities.c.name == "跑团")
        ).scalar_one()
        (member,) = find_members(conn, "spammer")
        assert blocklist.of_member(conn, member) == {
            runners: "blocked before their data was deleted"
        }
        assert blocklist.remove(conn, runners, member)
        assert blocklist.of_member(conn, member) == {}
    assert feed(rt, said(SECOND, 14, "大家好")) == []


def test_a_forgotten_member_is_let_back_by_the_id_the_operator_gives(engine: Engine) -> None:
    rt = runtime(engine)
    feed(rt, said(FIRST, 1, GAMBLING))
    with engine.begin() as conn:
        (member,) = find_members(conn, "spammer")
        forget_member(conn, member)
        runners = conn.execute(
            select(t.communities.c.id).where(t.communities.c.name == "跑团")
        ).scalar_one()
        assert blocklist.forgotten_counts(conn, [runners]) == {runners: 1}
        assert not blocklist.remove_forgotten(conn, runners, "telegram", "someone_else")
        assert not blocklist.remove_forgotten(conn, runners, "qq", "spammer")
        assert blocklist.remove_forgotten(conn, runners, "telegram", "spammer")
        assert blocklist.forgotten_counts(conn, [runners]) == {}
    assert feed(rt, said(SECOND, 10, "大家好")) == []


def test_a_persons_block_is_swept_once_into_the_groups_the_member_is_in(engine: Engine) -> None:
    rt = runtime(engine, second=setup(Mode.TRAINING))
    assert (
        feed(rt, said(FIRST, 1, "大家好"), said(SECOND, 2, "大家好"), said(OTHERS, 3, "hi")) == []
    )
    with engine.begin() as conn:
        runners = conn.execute(
            select(t.communities.c.id).where(t.communities.c.name == "跑团")
        ).scalar_one()
        (member,) = find_members(conn, "spammer")
        blocklist.add(conn, runners, member, "别的社群的骗子", added_by="alice", at=5_000)
    assert rt.sweep_blocks(0) == 5_000
    d, i = t.decisions, t.inbox
    with engine.connect() as conn:
        swept = conn.execute(
            select(d.c.reasons, d.c.member, d.c.record_id, i.c.connector, i.c.processed_at)
            .join(i, i.c.id == d.c.inbox_id)
            .order_by(d.c.id)
        ).all()
    steps = sorted((orjson.loads(r.reasons)["step"], r.member, r.record_id) for r in swept)
    assert steps == [("ask_admin", "spammer", None), ("kick", "spammer", None)]
    assert {(r.connector, r.processed_at is not None) for r in swept} == {("tg", True)}
    assert rt.sweep_blocks(0) == 5_000 and len(listed(engine)) == 1
    with engine.connect() as conn:  # the second sweep found both done
        assert conn.execute(select(func.count()).select_from(d)).scalar_one() == 2
    assert rt.process() == 0  # the sweeps' inbox rows are not events to judge
    # a stranger blocked later, never seen in a group: the cursor moves on, nothing is swept
    with engine.begin() as conn:
        stranger = conn.execute(
            t.members.insert()
            .values(platform="telegram", external_id="scammer9", provisional=False)
            .returning(t.members.c.id)
        ).scalar_one()
        blocklist.add(conn, runners, stranger, "名单", added_by="alice", at=9_000)
    assert rt.sweep_blocks(6_000) == 9_000 and rt.sweep_blocks(9_001) == 9_001
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(d)).scalar_one() == 2


def cas_listed(event: LiveEvent) -> LiveEvent:
    event.listed = "3 offense(s), listed since 2024-05-01"
    return event


def test_a_member_cas_lists_is_kept_out_as_a_blocked_one_and_the_check_names_cas(
    engine: Engine,
) -> None:
    rt = runtime(engine, second=setup(shares=False))
    came, spoke, knocked = feed(
        rt,
        cas_listed(joined(FIRST, 1)),
        cas_listed(said(FIRST, 2, "大家好，周末一起跑步吗")),
        cas_listed(asked(FIRST, 3)),
    )
    assert (came["reasons"]["step"], came["actions"]) == ("kick", ["kick"])
    assert (spoke["reasons"]["step"], spoke["actions"]) == ("kick", ["delete", "kick"])
    assert spoke["reasons"]["checks"][0]["name"] == "cas"
    assert spoke["reasons"]["cas"] == "3 offense(s), listed since 2024-05-01"
    assert "blocklist" not in spoke["reasons"]
    assert (knocked["verdict"], knocked["reasons"], knocked["actions"]) == (
        "reject",
        {"cas": "3 offense(s), listed since 2024-05-01"},
        ["reject"],
    )
    assert listed(engine) == []  # CAS's list stays CAS's: the community's is not written
    # a group that does not keep out the members lists name lets them in
    assert feed(rt, cas_listed(said(SECOND, 4, "大家好"))) == []
    # and staff are staff whatever a list says
    admin = cas_listed(said(FIRST, 5, "周六七点集合", who="owner"))
    admin.role = "admin"
    assert feed(rt, admin) == []


def test_groups_no_one_configured_run_their_connectors_community(engine: Engine) -> None:
    """A connector's `community`: a group the bot meets that no [[groups]] entry names runs
    that community's policies from its first event and joins it (so its bans are shared); a
    group the file lists without a community stays without one."""
    import tomllib

    from qunzhu import config, service

    cfg = config.parse(
        tomllib.loads(
            '[connectors.tg]\ntype = "telegram"\ncommunity = "跑团"\n'
            '[[communities]]\nname = "跑团"\n'
            '[communities.policies.moderation]\nmode = "enforce"\n'
            'keywords = { "博彩" = { weight = 1.0, action = "ban" } }\n'
            '[[groups]]\nname = "读书会"\nconnector = "tg"\nid = "-1003"\n'
        )
    )
    service.place_groups(cfg, engine)
    rt = Runtime(engine, service.setups(cfg))
    (ban,) = feed(rt, said(FIRST, 1, GAMBLING))  # FIRST is in no [[groups]] entry
    assert (ban["group"], ban["reasons"]["step"]) == (FIRST.platform_id, "ban")
    came, spoke = feed(rt, joined(SECOND, 2), said(SECOND, 3, "大家好"))  # adopted too
    assert came["actions"] == ["kick"] and spoke["reasons"]["checks"][0]["name"] == "blocklist"
    (watched,) = feed(rt, said(OTHERS, 4, GAMBLING))  # listed without policies: the default
    assert (watched["reasons"]["step"], watched["actions"]) == ("none", [])  # shadow
    with engine.connect() as conn:
        placed = dict(
            conn.execute(
                select(t.groups.c.platform_id, t.communities.c.name).outerjoin(
                    t.communities, t.communities.c.id == t.groups.c.community_id
                )
            ).all()
        )
    assert placed == {FIRST.platform_id: "跑团", SECOND.platform_id: "跑团", "-1003": None}
    # a restart adopts them at once, before any event: the start's sweeps reach them
    again = service.live_setups(cfg, engine)
    assert {FIRST.platform_id, SECOND.platform_id} <= {pid for _c, pid in again.adopted}
    assert not again.configured("tg", FIRST.platform_id) and again.configured("tg", "-1003")
