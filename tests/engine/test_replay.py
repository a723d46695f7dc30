"""Replay: stored history through the policies, nothing written, nothing sent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from qunzhu import config, service
from qunzhu.cli import app
from qunzhu.engine.replay import Judged, replay
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
from qunzhu.moderation.engine import Detector
from qunzhu.store import db
from qunzhu.store import schema as t
from qunzhu.store.ingest import Ingest

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
AD = "兼职刷单日赚300，加微信 abc12345 详聊"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def history(engine: Engine) -> None:
    ann, bo, spam = Person("u1", "北京-IT-Ann"), Person("u2", "Bo"), Person("u9", "小美")
    records = [
        Group(Platform.TELEGRAM, "-100777", "跑团1群"),
        MembershipEvent("j1", bo, MembershipAction.JOIN, at(0), JoinMethod.LINK),
        Message("m1", ann, at(1), MessageKind.TEXT, "欢迎新朋友"),
        Message("m2", bo, at(2), MessageKind.TEXT, "大家好，我是Bo"),
        MembershipEvent("j2", spam, MembershipAction.JOIN, at(3), JoinMethod.LINK),
        Message("m3", spam, at(4), MessageKind.TEXT, AD),
        Message("m4", ann, at(60 * 24 * 3), MessageKind.TEXT, "周六几点跑？"),
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory").run(records)


def counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (t.messages, t.decisions, t.outbox, t.policy_marks, t.inbox)
        )


def test_history_through_default_policies_writes_nothing(engine: Engine) -> None:
    history(engine)
    before = counts(engine)
    with engine.connect() as conn:
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
    judged: list[Judged] = []
    policies = service.replay_policies(None, Path("."), Detector())
    (result,) = replay(engine, policies, groups, on_message=judged.append)
    assert counts(engine) == before
    assert (result.messages, result.membership_events) == (4, 2)
    assert result.actions["delete"] == 1 and result.actions["warn"] == 1
    assert result.verdicts["welcome:welcome"] == 2  # both newcomers
    (ad,) = judged
    assert ad.message_id == "m3" and ad.verdict == "spam"
    assert ad.actions == ("delete", "warn")
    assert {c["name"] for c in ad.checks} >= {"contacts_and_words"}


def test_since_is_a_day_in_the_groups_zone(engine: Engine) -> None:
    history(engine)
    with engine.connect() as conn:
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
    policies = service.replay_policies(None, Path("."), Detector())
    (result,) = replay(engine, policies, groups, since=date(2026, 6, 2))
    assert (result.messages, result.membership_events) == (1, 0)


def test_configured_groups_use_their_rules_acting_as_enforce(engine: Engine) -> None:
    history(engine)
    cfg = config.parse(
        {
            "connectors": {"tg": {"type": "telegram"}},
            "groups": [
                {
                    "name": "跑团1群",
                    "connector": "tg",
                    "id": "-100777",
                    "policies": {
                        "moderation": {"mode": "shadow"},
                        "nickname": {},
                        "captcha": {},
                        "auto_reply": {"answers": [{"keywords": ["几点"], "text": "七点"}]},
                    },
                }
            ],
        }
    )
    with engine.connect() as conn:
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
    (result,) = replay(engine, service.replay_policies(cfg, Path("."), Detector()), groups)
    assert result.actions["delete"] == 1  # shadow in the file, but a replay shows the rules
    assert result.verdicts["auto_reply:answer"] == 1
    assert result.verdicts["nickname:remind"] == 2  # Bo and 小美, once each
    assert "welcome:welcome" not in result.verdicts  # not configured for this group
    # history holds no answers to a question never asked: the captcha is left out
    assert not [v for v in result.verdicts if v.startswith("captcha:")]
    assert result.actions["kick"] == 0


def test_replay_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = db.open_store(url)
    history(engine)
    decisions = tmp_path / "decisions.jsonl"
    args = ["replay", "--db", url, "--config", str(tmp_path / "none.toml")]
    result = CliRunner().invoke(app, [*args, "--json", "--decisions", str(decisions)])
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["actions"]["delete"] == 1
    assert summary["groups"][0]["messages"] == 4
    lines = [orjson.loads(x) for x in decisions.read_text("utf-8").splitlines()]
    assert [(x["message_id"], x["verdict"], x["actions"]) for x in lines] == [
        ("m3", "spam", ["delete", "warn"])
    ]
    assert lines[0]["checks"]
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0 and "跑团" in table.stdout
    missing = CliRunner().invoke(app, [*args, "--group", "nope"])
    assert missing.exit_code == 1 and "no group matches nope" in missing.output
    assert "Traceback" not in missing.output
    bad = CliRunner().invoke(app, [*args, "--since", "June"])
    assert bad.exit_code == 1 and "--since" in bad.output


@pytest.mark.parametrize("where", ["nodir/out.jsonl"])
def test_unwritable_decisions_file_is_a_clear_error(tmp_path: Path, where: str) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    history(db.open_store(url))
    args = ["replay", "--db", url, "--decisions", str(tmp_path / where)]
    result = CliRunner().invoke(app, [*args, "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "cannot write" in result.output


def test_a_replay_sees_the_pictures_the_store_kept(engine: Engine) -> None:
    """The store keeps pictures' fingerprints, not pictures: a replay still sees one poster
    dropped into three groups by one account."""
    from qunzhu.moderation.images import fingerprint
    from qunzhu.store import pictures
    from tests.moderation.test_behaviour import poster

    spam = Person("u9", "小美")
    with engine.begin() as conn:
        for i in range(3):
            records = [
                Group(Platform.TELEGRAM, f"-10077{i}", f"跑团{i}群"),
                Message(f"p{i}", spam, at(i), MessageKind.IMAGE, ""),
            ]
            Ingest(conn, "test", "memory").run(records)
            gid = conn.execute(
                select(t.groups.c.id).where(t.groups.c.platform_id == f"-10077{i}")
            ).scalar_one()
            assert pictures.keep(conn, gid, {f"p{i}": [fingerprint(poster(6, q=60 + 10 * i))]})
        groups = list(conn.execute(select(t.groups.c.id).order_by(t.groups.c.id)).scalars())
    judged: list[Judged] = []
    policies = service.replay_policies(None, Path("."), Detector())
    replay(engine, policies, groups, on_message=judged.append)
    assert [(j.message_id, j.verdict) for j in judged] == [("p1", "review"), ("p2", "spam")]
    assert "same_picture" in {c["name"] for c in judged[-1].checks}


def test_a_replay_applies_the_communitys_blocklist_and_members_reports(engine: Engine) -> None:
    """As the engine does live: a member the community blocked is kept out (their join and
    what they post), and the owner's report of a message puts it to the admins."""
    from qunzhu.store import blocklist

    owner, scammer, quiet = Person("u1", "群主"), Person("u7", "阿强"), Person("u8", "老王")
    records = [
        Group(Platform.TELEGRAM, "-100778", "跑团2群"),
        MembershipEvent("c1", owner, MembershipAction.JOIN, at(0), JoinMethod.CREATED),
        MembershipEvent("j7", scammer, MembershipAction.JOIN, at(1), JoinMethod.LINK),
        Message("s1", scammer, at(2), MessageKind.TEXT, "大家好"),
        Message("q1", quiet, at(3), MessageKind.TEXT, "有需要的私聊我，好东西不便宜"),
        Message("r1", owner, at(4), MessageKind.TEXT, "举报", reply_to="q1"),
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory").run(records)
        community = conn.execute(
            t.communities.insert().values(name="跑团", created_at=0)
        ).inserted_primary_key[0]
        conn.execute(t.groups.update().values(community_id=community))
        scammer_id = conn.execute(
            select(t.members.c.id).where(t.members.c.external_id == "u7")
        ).scalar_one()
        assert blocklist.add(conn, community, scammer_id, "骗子", added_by="cli:root")
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
    judged: list[Judged] = []
    policies = service.replay_policies(None, Path("."), Detector())
    (result,) = replay(engine, policies, groups, on_message=judged.append)
    assert result.actions["kick"] >= 1  # kept out at the join
    by_message = {j.message_id: j for j in judged}
    assert "delete" in by_message["s1"].actions  # "大家好" from a blocked member
    assert "blocklist" in {c["name"] for c in by_message["s1"].checks}
    assert by_message["r1"].verdict == "review"  # the owner's report, about q1
    assert "reports" in {c["name"] for c in by_message["r1"].checks}


def test_a_replay_knows_what_people_taught_the_engine(engine: Engine) -> None:
    """People's answers in the console teach the running engine's banks (a confirmed ad's
    wording and contacts); a replay learns them too, so it shows what the engine would do
    now: an ad giving a confirmed WeChat id in other words is spam, in the replay as live."""
    from qunzhu.moderation.feedback import HumanLabel

    quiet = Person("u8", "老王")
    records = [
        Group(Platform.TELEGRAM, "-100779", "跑团3群"),
        Message("k1", quiet, at(1), MessageKind.TEXT, "有事找 abc12345"),
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory").run(records)
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
    confirmed = HumanLabel(1, 1, True, AD, None)
    for labels, verdict in (((), None), ((confirmed,), "spam")):
        judged: list[Judged] = []
        policies = service.replay_policies(None, Path("."), Detector(), labels)
        replay(engine, policies, groups, on_message=judged.append)
        assert [j.verdict for j in judged if j.message_id == "k1"] == ([verdict] if verdict else [])


def test_a_replay_judges_a_forward_by_the_channel_it_came_from(engine: Engine) -> None:
    """The store keeps where a forward came from: a replay that learnt a confirmed ad from a
    channel calls the channel's other forwards spam, and no others."""
    from qunzhu.moderation.feedback import HumanLabel

    quiet = Person("u8", "老王")
    records = [
        Group(Platform.TELEGRAM, "-100780", "跑团4群"),
        Message("f1", quiet, at(1), MessageKind.TEXT, "周末见", origin="fuli_vip"),
        Message("f2", quiet, at(2), MessageKind.TEXT, "周末见!", origin="daily_news"),
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory").run(records)
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
        stored = dict(conn.execute(select(t.messages.c.platform_id, t.messages.c.origin)).all())
    assert stored == {"f1": "fuli_vip", "f2": "daily_news"}
    confirmed = HumanLabel(1, 1, True, "今晚八点直播间抽奖，人人有份", None, origin="fuli_vip")
    judged: list[Judged] = []
    policies = service.replay_policies(None, Path("."), Detector(), [confirmed])
    replay(engine, policies, groups, on_message=judged.append)
    assert [(j.message_id, j.verdict) for j in judged] == [("f1", "spam")]


def test_a_replay_locks_a_newcomers_forward_as_the_engine_did(engine: Engine) -> None:
    """What came with a live message beside its kind (a forward, an inline bot's buttons) is
    kept with it, so a replay applies a newcomer's locks as the engine did."""
    from qunzhu.engine.policies import ModerationPolicy
    from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
    from qunzhu.model.live import LiveEvent
    from qunzhu.moderation.enforcement import Ladder, Mode

    group = Group(Platform.TELEGRAM, "-100781", "跑团5群")
    newcomer, regular = Person("u5", "阿新"), Person("u6", "老李")
    setups = Setups({("tg", group.platform_id): GroupSetup([])})  # live: only stored
    rt = Runtime(engine, setups, {}, lambda: at(10).timestamp())
    rt.accept(
        LiveEvent(
            "tg",
            group,
            MembershipEvent("j5", newcomer, MembershipAction.JOIN, at(0), JoinMethod.LINK),
        )
    )
    for n, who in ((1, newcomer), (2, regular)):
        record = Message(f"w{n}", who, at(n), MessageKind.TEXT, "转发：周末长跑路线")
        rt.accept(LiveEvent("tg", group, record, kinds=frozenset({"forward"})))
    rt.process()
    with engine.connect() as conn:
        stored = dict(conn.execute(select(t.messages.c.platform_id, t.messages.c.carried)).all())
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
    assert stored == {"w1": "forward", "w2": "forward"}
    judged: list[Judged] = []
    moderation = ModerationPolicy(Detector(), Ladder(Mode.ENFORCE))
    replay(engine, lambda _platform, _id: [moderation], groups, on_message=judged.append)
    assert [(j.message_id, j.verdict) for j in judged] == [("w1", "spam")]
    assert "type_lock" in {c["name"] for c in judged[0].checks}


def test_the_groups_are_replayed_together_in_the_order_things_happened(engine: Engine) -> None:
    """A member's text in group 2 and 3 on the first day and in group 1 ten days later: as the
    engine met them, a question in group 3 (two groups within a day) and nothing in group 1
    (the first day long forgotten). Replayed one group after another, group 1's day 10 would
    have met groups 2 and 3's day 1 and made a campaign of three groups."""
    text = "周末一起去爬香山吧，早上七点地铁站集合，带好水"
    u = Person("u5", "小李")
    records = [
        Group(Platform.TELEGRAM, "-100801", "一群"),
        Message("late", u, at(60 * 24 * 10), MessageKind.TEXT, text),
        Group(Platform.TELEGRAM, "-100802", "二群"),
        Message("early", u, at(0), MessageKind.TEXT, text),
        Group(Platform.TELEGRAM, "-100803", "三群"),
        Message("next", u, at(1), MessageKind.TEXT, text),
        Message("same", Person("u6", "小王"), at(1), MessageKind.TEXT, "好的"),  # same moment
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory").run(records)
        groups = list(conn.execute(select(t.groups.c.id).order_by(t.groups.c.id)).scalars())
    judged: list[Judged] = []
    results = replay(
        engine,
        service.replay_policies(None, Path("."), Detector()),
        groups,
        on_message=judged.append,
    )
    assert [(j.message_id, j.verdict) for j in judged] == [("next", "review")]
    assert [r.messages for r in results] == [1, 1, 2]  # figures stay each group's own
    assert [r.name for r in results] == ["一群", "二群", "三群"]


def test_a_replay_takes_down_a_members_earlier_copies_as_the_engine_does(
    engine: Engine,
) -> None:
    """One member's text in three groups: the third copy is spam and the two before it, left
    up until then, are taken down in their groups, each counted once in its own group."""
    text = "周末特价跑鞋，全场五折，名额有限先到先得，快来抢购吧"
    u = Person("u7", "小张")
    records: list = []
    for n, pid in enumerate(("-100811", "-100812", "-100813"), 1):
        records += [
            Group(Platform.TELEGRAM, pid, f"群{n}"),
            Message(f"c{n}", u, at(n), MessageKind.TEXT, text),
        ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory").run(records)
        groups = list(conn.execute(select(t.groups.c.id).order_by(t.groups.c.id)).scalars())
    judged: list[Judged] = []
    policies = service.replay_policies(None, Path("."), Detector())
    results = replay(engine, policies, groups, on_message=judged.append)
    assert [(j.group, j.message_id, j.verdict) for j in judged] == [
        ("群2", "c2", "review"),
        ("群3", "c3", "spam"),
        ("群1", "c1", "spam"),
        ("群2", "c2", "spam"),
    ]
    assert judged[2].checks[0]["name"] == "earlier_copy" and judged[2].actions == ("delete", "warn")
    assert [r.actions.get("delete", 0) for r in results] == [1, 1, 1]
