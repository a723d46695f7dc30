"""The moderation scorecard page and API: counts from people's answers, each group's next
step from its mode, only the user's own groups, in Chinese and English."""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from qunzhu.engine.policies import CaptchaPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.moderation.enforcement import Mode
from qunzhu.moderation.scorecard import READY_ANSWERS
from qunzhu.store import schema as t
from tests.web.conftest import World, csrf
from tests.web.test_moderation import (
    AD,
    LINK,
    READERS,
    RUNNERS,
    api_label,
    as_user,
    feed,
    joined,
    msg,
)
from tests.web.test_moderation import runtime as moderated


def set_mode(client, group_id: int, mode: str) -> None:  # type: ignore[no-untyped-def]
    token = csrf(client, f"/settings/groups/{group_id}")
    put = client.put(
        f"/api/groups/{group_id}/policies",
        json={"moderation": {"mode": mode}},
        headers={"X-CSRF-Token": token},
    )
    assert put.status_code == 200, put.text


def test_the_scorecard_counts_answers_and_says_when_a_group_is_ready(
    app: FastAPI, world: World
) -> None:
    ops, root = as_user(app, "ops"), as_user(app, "root")
    set_mode(ops, world.runners, "training")
    ads = [msg(RUNNERS, n, f"{AD} {n}", who=f"a{n}") for n in range(READY_ANSWERS)]
    decided = feed(moderated(world.engine, Mode.TRAINING), *ads)
    for decision_id in decided:
        assert api_label(ops, decision_id, "spam").status_code == 200
    feed(moderated(world.engine, Mode.TRAINING), msg(READERS, 99, AD, who="r1"))

    card = ops.get("/api/moderation/checks").json()
    assert [g["group_id"] for g in card["groups"]] == [world.runners]  # not 读书会's
    (runners,) = card["groups"]
    assert (runners["mode"], runners["fired"], runners["agreed"]) == ("training", 20, 20)
    assert runners["next_step"] == "ready"
    assert "Switch to enforce" in ops.get("/moderation/checks?lang=en").text
    words = {w["key"]: w for w in card["words"]}
    assert words["代购"]["agreed"] == READY_ANSWERS and not words["代购"]["doubtful"]
    assert {c["key"] for c in card["contacts"]} == {"wechat"}

    # three "not spam" on links: the group is told to look at its rules, the link doubtful
    links = feed(
        moderated(world.engine, Mode.TRAINING),
        *(msg(RUNNERS, 50 + n, f"{LINK}{n}", who=f"b{n}") for n in range(3)),
    )
    for decision_id in links:
        assert api_label(ops, decision_id, "ham").status_code == 200
    card = ops.get("/api/moderation/checks").json()
    assert card["groups"][0]["next_step"] == "check_rules"
    url = {c["key"]: c for c in card["contacts"]}["url"]
    assert (url["overturned"], url["doubtful"]) == (3, True)

    page = ops.get("/moderation/checks?lang=en").text
    assert "look at the doubtful rules below first" in page and "Doubtful" in page
    assert "跑团一群" in page and "读书会" not in page
    assert "<td>WeChat id</td>" in page and "<td>Link</td>" in page  # contact kinds by name
    zh = ops.get("/moderation/checks?lang=zh").text
    assert "检查效果" in zh and "存疑" in zh and "联系方式与广告词" in zh

    everyone = root.get("/api/moderation/checks").json()
    steps = {g["group_id"]: g["next_step"] for g in everyone["groups"]}
    assert steps == {world.runners: "check_rules", world.readers: "train", world.loose: "quiet"}
    assert root.get("/api/moderation/checks?days=1").json()["groups"][0]["fired"] == 23


def test_the_scorecard_refuses_odd_periods_and_strangers(app: FastAPI, world: World) -> None:
    ops = as_user(app, "ops")
    assert ops.get("/api/moderation/checks?days=0").status_code == 422
    assert ops.get("/api/moderation/checks?days=366").status_code == 422
    stranger = TestClient(app)
    assert stranger.get("/api/moderation/checks").status_code == 401
    page = stranger.get("/moderation/checks", follow_redirects=False)
    assert page.status_code == 303 and "/login" in page.headers["location"]


def test_what_each_community_learnt_is_shown_to_those_who_see_it(
    app: FastAPI, world: World
) -> None:
    from qunzhu.store import schema as t

    with world.engine.begin() as conn:
        for community, spam in (("跑团", 120), ("读书会", 60), ("", 55)):
            conn.execute(
                t.learnt_models.insert().values(
                    community=community,
                    trained_at=1_764_600_000_000,
                    spam=spam,
                    normal=12,
                    ordinary=5_000,
                    spam_from=0.912,
                    seconds=3.5,
                )
            )
    ops, root = as_user(app, "ops"), as_user(app, "root")
    (mine,) = ops.get("/api/moderation/checks").json()["learnt"]
    assert (mine["community"], mine["spam"], mine["ordinary"]) == ("跑团", 120, 5_000)
    everyone = root.get("/api/moderation/checks").json()["learnt"]
    assert sorted(m["community"] or "" for m in everyone) == sorted(["", "跑团", "读书会"])
    page = ops.get("/moderation/checks?lang=zh").text
    assert "各社群模型的学习情况" in page and "0.912" in page and "读书会" not in page


def test_the_next_step_is_one_button_away(app: FastAPI, world: World) -> None:
    """A group in shadow with decisions offers "switch to training"; pressing it stores the
    mode as the settings page would (audited), and the page says so. Viewers and other
    communities' groups are refused; an unknown mode is a 400."""
    from sqlalchemy import select

    from qunzhu.store import schema as t

    feed(moderated(world.engine, Mode.SHADOW), msg(RUNNERS, 1, AD, who="a1"))
    ops = as_user(app, "ops")
    page = ops.get("/moderation/checks?lang=en").text
    assert 'value="training"' in page and "Switch to training" in page
    token = csrf(ops, "/moderation/checks")
    moved = ops.post(
        f"/moderation/checks/{world.runners}/mode",
        data={"csrf_token": token, "mode": "training"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    after = ops.get(moved.headers["location"] + "&lang=en").text
    assert "跑团一群: moderation now in training mode." in after
    (runners,) = ops.get("/api/moderation/checks").json()["groups"]
    assert (runners["mode"], runners["next_step"]) == ("training", "answer")
    with world.engine.connect() as conn:
        (entry,) = conn.execute(
            select(t.audit_log).where(t.audit_log.c.action == "group.settings")
        ).all()
    assert entry.user_name == "ops" and '"to":"training"' in entry.details

    odd = ops.post(
        f"/moderation/checks/{world.runners}/mode", data={"csrf_token": token, "mode": "ban"}
    )
    assert odd.status_code == 400 and "Traceback" not in odd.text
    other = ops.post(
        f"/moderation/checks/{world.readers}/mode",
        data={"csrf_token": token, "mode": "enforce"},
    )
    assert other.status_code == 404
    eye = as_user(app, "eye")
    refused = eye.post(
        f"/moderation/checks/{world.readers}/mode",
        data={"csrf_token": csrf(eye, "/moderation/checks"), "mode": "enforce"},
    )
    assert refused.status_code == 403


def test_the_scorecard_says_how_long_ads_were_up_who_was_turned_away_and_came_back(
    app: FastAPI, world: World
) -> None:
    ads = [msg(RUNNERS, n, f"{AD} {n}", who=f"a{n}") for n in range(1, 5)]
    decided = feed(moderated(world.engine, Mode.ENFORCE), *ads)
    sent = {f"m{n}": int(ads[n - 1].record.sent_at.timestamp() * 1000) for n in range(1, 5)}
    up_s = {"m1": 10, "m2": 20, "m3": 30, "m4": 600}  # m4: reported, say, long after
    ob = t.outbox
    with world.engine.begin() as conn:
        for row in conn.execute(select(ob).where(ob.c.kind == "delete")).all():
            message = orjson.loads(row.payload)["message_id"]
            done = sent[message] + up_s[message] * 1000
            conn.execute(update(ob).where(ob.c.id == row.id).values(status="done", done_at=done))
        # a later deletion on m1's decision (a report tidied away, say) is not m1's removal
        (first_delete,) = conn.execute(
            select(ob).where(ob.c.kind == "delete", ob.c.decision_id == decided[0])
        ).all()
        conn.execute(
            ob.insert().values(
                **{k: v for k, v in first_delete._mapping.items() if k != "id"}
                | {"done_at": first_delete.done_at + 3_600_000}
            )
        )
    # a newcomer who failed the entry question, removed; another whose kick is still waiting
    door = Runtime(
        world.engine,
        Setups({("tg", RUNNERS.platform_id): GroupSetup([CaptchaPolicy(Mode.ENFORCE, tries=1)])}),
    )
    feed(door, joined(RUNNERS, 100, "bot1"), msg(RUNNERS, 101, "hi", who="bot1"))
    feed(door, joined(RUNNERS, 102, "bot2"), msg(RUNNERS, 103, "hi", who="bot2"))
    with world.engine.begin() as conn:
        first = conn.execute(select(ob.c.id).where(ob.c.kind == "kick").order_by(ob.c.id)).first()
        conn.execute(update(ob).where(ob.c.id == first.id).values(status="done", done_at=1))
    # both come again; only bot1 was removed, so only bot1 came back
    feed(door, joined(RUNNERS, 110, "bot1"), joined(RUNNERS, 111, "bot2"))

    ops = as_user(app, "ops")
    (runners,) = ops.get("/api/moderation/checks").json()["groups"]
    assert len(decided) == 4 and runners["taken_down"] == 4
    assert (runners["up_p50_s"], runners["up_p90_s"]) == (30.0, 600.0)
    assert (runners["turned_away"], runners["came_back"]) == (1, 1)
    page = ops.get("/moderation/checks?lang=en").text
    assert "30 s / 10 min" in page


def test_the_scorecard_counts_members_appeals_and_how_soon_they_were_answered(
    app: FastAPI, world: World
) -> None:
    from qunzhu.store import appeals

    ads = [msg(RUNNERS, n, f"{AD} {n}", who=f"a{n}") for n in range(1, 4)]
    first, second, _third = feed(moderated(world.engine, Mode.ENFORCE), *ads)
    ml = t.moderation_labels
    with world.engine.begin() as conn:
        at = conn.execute(select(t.decisions.c.at).where(t.decisions.c.id == first)).scalar_one()
        for who, decision, wait_s, label in (
            ("a1", first, 3600, "appeal_upheld"),
            ("a2", second, 600, "appeal_rejected"),
        ):
            assert appeals.receive(conn, "tg", who, "不是广告", at + 1000) is not None
            conn.execute(
                ml.insert().values(
                    decision_id=decision, label=label, text=AD, user_name="ops",
                    at=at + 1000 + wait_s * 1000,
                )
            )  # fmt: skip
        assert appeals.receive(conn, "tg", "a3", "不是广告", at + 2000) is not None  # waiting
    ops = as_user(app, "ops")
    (runners,) = ops.get("/api/moderation/checks").json()["groups"]
    assert (runners["appealed"], runners["appeals_upheld"]) == (3, 1)
    assert runners["appeal_answer_p50_s"] == 3600.0  # of 600 s and 3,600 s, the upper median
    page = ops.get("/moderation/checks?lang=zh").text
    assert "成员申诉（撤销）" in page and "data-appeals>3 (1)<" in page and ">60 分钟<" in page


def test_up_times_are_read_once_and_deletions_done_since_on_the_next_visit(world: World) -> None:
    """The process keeps each removed message's time up; a visit reads only the deletions
    done since the last one, and one looking further back than the process has reads all."""
    from qunzhu.web.scorecard import UpTimes

    ads = [msg(RUNNERS, n, f"{AD} {n}", who=f"a{n}") for n in range(1, 4)]
    decided = feed(moderated(world.engine, Mode.ENFORCE), *ads)
    sent = [int(a.record.sent_at.timestamp() * 1000) for a in ads]
    ob = t.outbox

    def done(n: int, after_s: int) -> None:
        with world.engine.begin() as conn:
            conn.execute(
                update(ob)
                .where(ob.c.kind == "delete", ob.c.decision_id == decided[n])
                .values(status="done", done_at=sent[n] + after_s * 1000)
            )

    cache = UpTimes()
    done(0, 10)
    done(1, 20)
    since = sent[0] - 86_400_000
    with world.engine.connect() as conn:
        assert {i: up for i, (_at, up) in cache.of(conn, since).items()} == {
            decided[0]: 10_000,
            decided[1]: 20_000,
        }
    done(2, 90)
    with world.engine.connect() as conn:
        assert cache.of(conn, since)[decided[2]][1] == 90_000
        assert len(cache.of(conn, since - 1)) == 3  # further back: all read again
        # a window moved on by more than a day lets go of what is before it
        newest = max(conn.execute(select(t.decisions.c.at)).scalars())
        assert len(cache.of(conn, since + 1)) == 3  # moved on by a moment: all kept
        assert cache.of(conn, newest + 1) == {} and cache._from == newest + 1


def test_each_decisions_checks_are_read_once_and_a_reused_id_is_read_again(
    app: FastAPI, world: World
) -> None:
    """The process keeps what each decision counts for (a decision is never rewritten); a
    decision SQLite gave the id of a forgotten one to (another time) is read afresh, and a
    cache holding fewer decisions than asked for still counts them all."""
    from qunzhu.web.scorecard import FiredCache

    ads = [msg(RUNNERS, n, f"{AD} {n}", who=f"a{n}") for n in range(3)]
    first, *_rest, last = feed(moderated(world.engine, Mode.TRAINING), *ads)
    cache, small = FiredCache(), FiredCache(kept=1)
    with world.engine.connect() as conn:
        judged = cache.judged(conn, [world.runners], 0)
        assert [j.fired.checks for j in judged] == [("contacts_and_words",)] * 3
        assert len(small.judged(conn, [world.runners], 0)) == 3
    flood = {"checks": [{"name": "flood", "verdict": "spam", "score": 0.9, "details": {}}]}
    d = t.decisions
    with world.engine.begin() as conn:
        conn.execute(update(d).where(d.c.id == first).values(reasons=orjson.dumps(flood).decode()))
        conn.execute(
            update(d)
            .where(d.c.id == last)
            .values(reasons=orjson.dumps(flood).decode(), at=d.c.at + 1)
        )
    with world.engine.connect() as conn:
        checks = {j.fired.checks for j in cache.judged(conn, [world.runners], 0)}
        assert checks == {("contacts_and_words",), ("flood",)}  # the first as it was read
        counted = sorted(j.fired.checks for j in small.judged(conn, [world.runners], 0))
        assert counted == [("contacts_and_words",), ("flood",), ("flood",)]


def test_an_enforcing_group_nobody_answered_for_says_so_in_words() -> None:
    """No answers yet is no share of them: the advice says nobody answered, in both
    languages, instead of "overturned – of 0 answers"."""
    from qunzhu.i18n import REQUEST_LANG
    from qunzhu.web.scorecard import _advice

    quiet = {"agreed": 0, "overturned": 0, "overturned_share": None, "next_step": "fine"}
    answered = {"agreed": 9, "overturned": 1, "overturned_share": 0.1, "next_step": "fine"}
    for lang, nobody, some in (
        ("zh", "还没有", "10 个回答中的 10%"),
        ("en", "nobody", "10% of 10"),
    ):
        token = REQUEST_LANG.set(lang)
        try:
            assert nobody in _advice(quiet) and "–" not in _advice(quiet)
            assert some in _advice(answered)
        finally:
            REQUEST_LANG.reset(token)


def test_a_console_just_started_reads_the_month_before_the_first_visit(
    app: FastAPI, world: World
) -> None:
    """`qunzhu serve` warms the scorecard's caches beside the start: what a first visit would
    have read (every decision's checks, every removed message's time up) is there before
    anyone asks, and the page counts the same."""
    from qunzhu.web import scorecard

    ads = [msg(RUNNERS, n, f"{AD} {n}", who=f"a{n}") for n in range(1, 4)]
    decided = feed(moderated(world.engine, Mode.ENFORCE), *ads)
    ob = t.outbox
    with world.engine.begin() as conn:
        conn.execute(
            update(ob)
            .where(ob.c.kind == "delete")
            .values(status="done", done_at=ob.c.created_at + 5_000)
        )
    cold = as_user(app, "ops").get("/api/moderation/checks").json()
    app.state.fired = app.state.up_times = None  # as a fresh process
    scorecard.warm(app, world.engine)
    assert set(app.state.fired._known) >= set(decided)
    assert set(app.state.up_times._up) == set(decided)
    assert as_user(app, "ops").get("/api/moderation/checks").json() == cold
