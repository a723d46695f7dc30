"""Metrics on a hand-built history, every expected number worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from qunzhu.analytics import ReportError, build_report
from qunzhu.cli import app
from qunzhu.model import (
    Group,
    GroupKind,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.store.ingest import Ingest

OWNER, A, B, C, D, E = (Person(f"u{i}", name) for i, name in enumerate("OABCDE", start=1))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 9, day, hour, minute, tzinfo=UTC)  # 2026-09-01 is a Tuesday


def say(pid: str, who: Person, when: datetime, text: str, **kw: Any) -> Message:
    return Message(pid, who, when, kw.pop("kind", MessageKind.TEXT), text, **kw)


def event(
    pid: str, who: Person, action: MembershipAction, when: datetime, **kw: Any
) -> MembershipEvent:
    return MembershipEvent(pid, who, action, when, **kw)


JOIN, LEAVE, KICK = MembershipAction.JOIN, MembershipAction.LEAVE, MembershipAction.KICK

HISTORY = [
    Group(Platform.TELEGRAM, "g1", "Runners", kind=GroupKind.LONG_TERM),
    event("e1", OWNER, JOIN, at(1, 8), method=JoinMethod.CREATED),
    event("e2", A, JOIN, at(1, 9), method=JoinMethod.LINK),
    event("e3", B, JOIN, at(1, 9), method=JoinMethod.INVITE, actor=OWNER),
    say("m1", OWNER, at(1, 9, 30), "欢迎A和B，请自我介绍"),
    say("m2", A, at(1, 9, 40), "大家好，我是A，住城东"),
    say("m3", A, at(2, 10), "请问周末跑哪里？"),
    say("m4", C, at(2, 10, 5), "去滨江吧", reply_to="m3"),
    say("m5", A, at(2, 10, 6), "好的谢谢", reply_to="m4"),
    say("m6", A, at(2, 11), "出发了"),
    event("e4", D, JOIN, at(8, 12), method=JoinMethod.LINK),
    say("m7", C, at(8, 12, 30), "@A 今天跑吗", mentions=("u2",)),
    say("m8", E, at(8, 13), "代购名牌包，加微信"),
    event("e5", E, KICK, at(8, 13, 5), actor=OWNER),
    event("e6", D, LEAVE, at(9, 12)),
]


def _filled(engine: Engine) -> Engine:
    with engine.begin() as conn:
        Ingest(conn, "test", "hand-built").run(iter(HISTORY))
    return engine


@pytest.fixture
def store(engine: Engine) -> Engine:
    return _filled(engine)


@pytest.fixture
def g(store: Engine) -> dict[str, Any]:
    report = build_report(store, since=date(2026, 9, 1), until=date(2026, 9, 9), tz="UTC")
    (group,) = report.as_dict()["groups"]
    return group


def test_volume_and_membership(g: dict[str, Any]) -> None:
    assert g["messages"] == 8  # m1..m8
    assert g["active_members"] == 4  # O, A, C, E
    assert (g["joins"], g["leaves"], g["kicks"], g["net_growth"]) == (4, 1, 1, 2)
    assert g["members"] == 4  # O, A, B, C: D left, E was kicked
    assert g["roster"] == "events"
    assert g["lurker_ratio"] == pytest.approx(0.25)  # B of the 4 never spoke
    assert g["messages_per_day"] == pytest.approx(8 / 9)


def test_daily_rows(g: dict[str, Any]) -> None:
    daily = {row["date"]: row for row in g["daily"]}
    assert len(g["daily"]) == 9
    assert daily["2026-09-01"] == {
        "date": "2026-09-01",
        "messages": 2,
        "active_members": 2,
        "joins": 3,
        "leaves": 0,
    }
    assert (daily["2026-09-02"]["messages"], daily["2026-09-02"]["active_members"]) == (4, 2)
    assert daily["2026-09-05"]["messages"] == 0
    assert (daily["2026-09-08"]["joins"], daily["2026-09-08"]["leaves"]) == (1, 1)  # D in, E out
    assert daily["2026-09-09"]["leaves"] == 1  # D


def test_dau_wau_mau(g: dict[str, Any]) -> None:
    assert g["dau"] == pytest.approx(6 / 9)  # 2 + 2 + 2 active over 9 days
    # rolling 7 days: 2, 3, 3, 3, 3, 3, 3, {A,C,E} 3, {C,E} 2
    assert g["wau"] == pytest.approx(25 / 9)
    # rolling 30 days (all since the start): 2, 3 x 6, 4, 4
    assert g["mau"] == pytest.approx(28 / 9)
    assert g["stickiness"] == pytest.approx(6 / 28)


def test_retention_and_cohorts(g: dict[str, Any]) -> None:
    # weeks from Monday: 08-31 has O, A, C; 09-07 has C, E: one of three stayed
    assert g["retention"]["weekly"] == [{"week": "2026-09-07", "retained": pytest.approx(1 / 3)}]
    assert g["retention"]["cohorts"] == [
        {"week": "2026-08-31", "size": 3, "active": [1.0, pytest.approx(1 / 3)]},
        {"week": "2026-09-07", "size": 1, "active": [1.0]},
    ]


def test_conversations_questions_and_concentration(g: dict[str, Any]) -> None:
    # new after 30 silent minutes: m1, m3 (next day), m6 (54 min), m7; m8 is exactly 30 later
    assert g["conversations"]["count"] == 4
    # one question (m3), answered by C five minutes later
    assert g["response_time"] == {
        "questions": 1,
        "answered": 1,
        "median_min": pytest.approx(5.0),
        "p90_min": pytest.approx(5.0),
    }
    # A 4, C 2, O 1, E 1: A alone wrote half; Gini of [1, 1, 2, 4] = 2*25/(4*8) - 5/4
    assert g["concentration"]["absence_factor"] == 1
    assert g["concentration"]["gini"] == pytest.approx(0.3125)
    assert g["concentration"]["top10_share"] == pytest.approx(0.5)
    assert g["broadcast_share"] == pytest.approx(1 / 8)  # the owner's m1


def test_graph_and_levels(g: dict[str, Any]) -> None:
    top = {m["name"]: m for m in g["top_members"]}
    assert [m["name"] for m in g["top_members"][:2]] == ["A", "C"]
    assert (top["A"]["replies_received"], top["A"]["mentions_received"]) == (1, 1)
    assert (top["C"]["replies_received"], top["C"]["mentions_received"]) == (1, 0)
    # C->A: reply, mention, adjacency (5 min); A->C: reply, adjacency: all between members
    assert g["member_to_member_share"] == pytest.approx(1.0)
    assert g["graph_density"] == pytest.approx(1 / 6)  # one pair of the 4 speakers' 6
    assert g["kol_candidates"][0]["name"] == "A"  # the most replied to and mentioned
    # 4 speakers: top 1 ultra (A), by rank 2 of 4 engaged (C), the rest quiet; B silent
    assert g["levels"] == {"silent": 1, "quiet": 1, "engaged": 1, "fan": 0, "ultra": 1}
    assert (top["A"]["level"], top["C"]["level"]) == ("ultra", "engaged")


def test_newcomers(g: dict[str, Any]) -> None:
    # A, B, D joined (O created the group); O greeted A and B within the hour; nobody D
    assert g["newcomers"] == {
        "joined": 3,
        "never_spoke": 2,  # B, D
        "not_welcomed": 1,  # D
        "no_introduction": 2,  # B, D
    }


def test_stage_kind_and_advice(g: dict[str, Any]) -> None:
    assert (g["kind"], g["stage"]) == ("long_term", "founding")
    codes = {a["code"] for a in g["advice"]}
    assert codes == {"SEED_FIRST", "WELCOME_NEWCOMERS", "ASK_INTRODUCTIONS", "REMOVE_ADS"}
    ads = next(a for a in g["advice"] if a["code"] == "REMOVE_ADS")
    assert "1" in ads["reason"] and ads["rule"].startswith("PLAYBOOK")
    assert 0 <= g["health"] <= 100 and g["health_detail"]


def test_community_counts_each_person_once(store: Engine) -> None:
    z = Person("u9", "Z")
    second = [
        Group(Platform.TELEGRAM, "g2", "Walkers", kind=GroupKind.LONG_TERM),
        say("n1", A, at(3, 8), "早"),
        say("n2", C, at(3, 9), "早上好"),
        say("n3", z, at(3, 10), "大家好"),
    ]
    with store.begin() as conn:
        Ingest(conn, "test", "second").run(iter(second))
    report = build_report(store, since=date(2026, 9, 1), until=date(2026, 9, 9), tz="UTC")
    summary = report.as_dict()["community"]
    assert (summary["groups"], summary["messages"]) == (2, 11)
    assert summary["active_members"] == 5  # O, A, C, E and Z: A and C are in both groups
    assert summary["members"] == 4 + 3  # members now of each group, summed
    assert summary["stages"] == {"founding": 2}
    assert summary["advice"]["SEED_FIRST"] == 2
    assert report.generated_at.utcoffset() is not None and report.generated_at.tzname() == "UTC"


def test_window_limits_what_counts(store: Engine) -> None:
    report = build_report(store, since=date(2026, 9, 2), until=date(2026, 9, 2), tz="UTC")
    (group,) = report.as_dict()["groups"]
    assert (group["messages"], group["active_members"], group["joins"]) == (4, 2, 0)


def test_local_days_follow_the_time_zone(store: Engine) -> None:
    """m1 and m2 (09:30, 09:40 UTC) are 17:30 and 17:40 in Shanghai; m3-m6 (10:00-11:00 UTC on
    the 2nd) stay on the 2nd; in Los Angeles (UTC-7) m1..m2 fall on the 1st at 02:30."""
    shanghai = build_report(store, group="Runners", tz="Asia/Shanghai").as_dict()["groups"][0]
    hours = shanghai["hours"]
    assert hours[1][17] == 2  # Tuesday 17:00-18:00 in Shanghai
    la = build_report(store, group="Runners", tz="America/Los_Angeles").as_dict()["groups"][0]
    assert la["hours"][1][2] == 2  # Tuesday 02:00-03:00 in Los Angeles


def test_whole_history_by_default(store: Engine) -> None:
    (group,) = build_report(store, tz="UTC").as_dict()["groups"]
    assert (group["since"], group["until"], group["messages"]) == ("2026-09-01", "2026-09-09", 8)


def test_unknown_group_and_reversed_dates(store: Engine) -> None:
    with pytest.raises(ReportError, match="no group matches"):
        build_report(store, group="nope")
    with pytest.raises(ReportError, match="after"):
        build_report(store, since=date(2026, 9, 9), until=date(2026, 9, 1))


def test_cli_json_and_errors(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Through the command line (SQLite: the test PostgreSQL schema is not in a URL)."""
    url = _filled(sqlite_engine).url.render_as_string(hide_password=False)
    runner = CliRunner()
    args = ["report", "--db", url, "--tz", "UTC", "--since", "2026-09-01", "--until", "2026-09-09"]
    done = runner.invoke(app, [*args, "--format", "json"])
    assert done.exit_code == 0, done.output
    (group,) = orjson.loads(done.stdout)["groups"]
    keys = {"name", "messages", "active_members", "joins", "leaves", "daily", "stage", "kind"}
    keys |= {"health", "levels", "top_members", "advice"}
    assert keys <= set(group) and group["messages"] == 8
    assert set(group["daily"][0]) == {"date", "messages", "active_members", "joins", "leaves"}
    assert set(group["advice"][0]) >= {"code", "text", "reason"}

    text_out = tmp_path / "report.txt"
    done = runner.invoke(app, [*args, "--format", "text", "-o", str(text_out)])
    assert done.exit_code == 0 and "SEED_FIRST" in text_out.read_text(encoding="utf-8")

    html_out = tmp_path / "report.html"
    done = runner.invoke(app, [*args, "--format", "html", "-o", str(html_out)])
    page = html_out.read_text(encoding="utf-8")
    assert done.exit_code == 0 and "Runners" in page and "ASK_INTRODUCTIONS" in page

    bad = runner.invoke(app, ["report", "--db", url, "--since", "2026-13-01"])
    assert bad.exit_code == 1 and "--since" in bad.output and "Traceback" not in bad.output
    missing = runner.invoke(app, ["report", "--db", url, "--group", "nope"])
    assert missing.exit_code == 1 and "nope" in missing.output


def test_one_join_told_twice_counts_once(store: Engine) -> None:
    """Telegram tells a join as a service message and as a member update: two stored events."""
    with store.begin() as conn:
        twice = [HISTORY[0], event("e4-update", D, JOIN, at(8, 12, 0).replace(second=1))]
        Ingest(conn, "test", "live").run(iter(twice))
    report = build_report(store, since=date(2026, 9, 1), until=date(2026, 9, 9), tz="UTC")
    (g,) = report.as_dict()["groups"]
    assert g["joins"] == 4  # as before: D joined once
    assert {row["date"]: row["joins"] for row in g["daily"]}["2026-09-08"] == 1
