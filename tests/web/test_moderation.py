"""The moderation queue: what waits for a person, each answer's effect, appeals, the audit page,
training data, and isolation between communities on every route that takes an id."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from qunzhu.engine.policies import ModerationPolicy
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
from qunzhu.model.live import LiveEvent
from qunzhu.moderation.behaviour import Behaviour, TrustBook
from qunzhu.moderation.enforcement import MUTES_S, Ladder, Mode
from qunzhu.moderation.engine import Detector, Policy
from qunzhu.moderation.feedback import bank_of, labelled, labels_since
from qunzhu.moderation.verdicts import SPAM
from qunzhu.service import BankFeed
from qunzhu.store import accounts
from qunzhu.store import schema as t
from qunzhu.web import moderation
from tests.web.conftest import PASSWORD, World, csrf, login

RUNNERS = Group(Platform.TELEGRAM, "-1001", "跑团一群")
READERS = Group(Platform.TELEGRAM, "-1002", "读书会")
T1 = datetime(2026, 11, 20, 12, tzinfo=UTC)

LINK = "看看这个 https://example.com/x"  # a contact alone: review
AD = "代购名牌包包，加微信 abc12345 详聊"  # contact and ad words: spam
GAMBLING = "博彩网站，加我 abc12345"  # a word set to ban at once
BANNING = Policy(keywords={"博彩": {"weight": 1.0, "action": "ban"}, "代购": 0.5})


def msg(
    group: Group, n: int, text: str, who: str = "u9", kinds: frozenset[str] = frozenset()
) -> LiveEvent:
    record = Message(
        f"m{n}", Person(who, f"名字{who}"), T1 + timedelta(minutes=n), MessageKind.TEXT, text
    )
    return LiveEvent("tg", group, record, kinds=kinds)


def joined(group: Group, n: int, who: str) -> LiveEvent:
    at = T1 + timedelta(minutes=n)
    record = MembershipEvent(
        f"j{n}", Person(who, f"名字{who}"), MembershipAction.JOIN, at, JoinMethod.LINK
    )
    return LiveEvent("tg", group, record)


def runtime(engine: Engine, mode: Mode, detector: Detector | None = None) -> Runtime:
    setup = GroupSetup([ModerationPolicy(detector or Detector(), Ladder(mode))])
    return Runtime(engine, Setups({("tg", g.platform_id): setup for g in (RUNNERS, READERS)}))


def feed(rt: Runtime, *events: LiveEvent) -> list[int]:
    """Process the events; the ids of the decisions they made."""
    before = last_id(rt.engine, t.decisions)
    for event in events:
        rt.accept(event)
    rt.process()
    with rt.engine.connect() as conn:
        return list(
            conn.execute(
                select(t.decisions.c.id).where(t.decisions.c.id > before).order_by("id")
            ).scalars()
        )


def decided(engine: Engine, *events: LiveEvent, mode: Mode = Mode.TRAINING, **kw: Any) -> int:
    (decision_id,) = feed(runtime(engine, mode, **kw), *events)
    return decision_id


def last_id(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()


def actions_of(engine: Engine, decision_id: int, after: int = 0) -> list[dict[str, Any]]:
    ob = t.outbox
    with engine.connect() as conn:
        rows = conn.execute(
            select(ob.c.payload, ob.c.status)
            .where(ob.c.decision_id == decision_id, ob.c.id > after)
            .order_by(ob.c.id)
        ).all()
    return [{**orjson.loads(r.payload), "status": r.status} for r in rows]


def label_row(engine: Engine, decision_id: int) -> Any:
    ml = t.moderation_labels
    with engine.connect() as conn:
        return conn.execute(select(ml).where(ml.c.decision_id == decision_id)).first()


def audit_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            select(t.audit_log).where(t.audit_log.c.action == "moderation_label")
        ).all()


def trusted_marks(engine: Engine) -> set[tuple[int, str]]:
    pm = t.policy_marks
    with engine.connect() as conn:
        rows = conn.execute(
            select(pm.c.group_id, pm.c.key).where(
                pm.c.policy == "moderation", pm.c.key.like("trusted:%")
            )
        ).all()
    return {(r.group_id, r.key) for r in rows}


def as_user(app: FastAPI, name: str) -> TestClient:
    return login(TestClient(app), name)


def press(client: TestClient, decision_id: int, label: str, note: str = "", tab: str = "queue"):  # type: ignore[no-untyped-def]
    token = csrf(client, "/moderation")
    return client.post(
        f"/moderation/{decision_id}/label",
        data={"label": label, "note": note, "csrf_token": token, "tab": tab},
        follow_redirects=False,
    )


def api_label(client: TestClient, decision_id: int, label: str, note: str = ""):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/decisions/{decision_id}/label",
        json={"label": label, "note": note},
        headers={"X-CSRF-Token": csrf(client, "/moderation")},
    )


def queue_ids(client: TestClient, tab: str = "queue", **params: Any) -> list[int]:
    response = client.get("/api/decisions", params={"tab": tab, **params})
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()["decisions"]]


# -- the queue ----------------------------------------------------------------------------


def test_the_queue_shows_a_review_decision_with_its_checks(app: FastAPI, world: World) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK), mode=Mode.ENFORCE)
    acted = decided(world.engine, msg(RUNNERS, 2, AD, who="u5"), mode=Mode.ENFORCE)
    shadow = decided(world.engine, msg(RUNNERS, 3, AD, who="u6"), mode=Mode.SHADOW)
    root = as_user(app, "root")
    page = root.get("/moderation?lang=en")
    assert page.status_code == 200
    assert f'id="decision-{review}"' in page.text
    assert f'id="decision-{acted}"' not in page.text  # already acted on: an appeal, not queued
    assert f'id="decision-{shadow}"' not in page.text  # shadow mode asks nobody
    for shown in ("看看这个", "example.com", "Contacts and ad words", "跑团一群", "u9", "review"):
        assert shown in page.text, shown
    assert 'value="spam"' in page.text and 'value="ham"' in page.text
    assert 'value="ban_only"' in page.text
    assert "https://example.com/x (Link)" in page.text  # the contact's kind in words
    assert "https://example.com/x (链接)" in root.get("/moderation?lang=zh").text

    assert queue_ids(root) == [review]
    assert waiting_on(page.text, "queue") == 1  # the tab counts it, the overview says so
    assert "1 条审核疑问等待处理" in root.get("/?lang=zh").text
    (item,) = root.get("/api/decisions").json()["decisions"]
    assert item["text"] == LINK and item["verdict"] == "review" and item["step"] == "ask_admin"
    assert item["member"] == "u9" and item["member_name"] == "名字u9"
    (check,) = [c for c in item["checks"] if c["name"] == "contacts_and_words"]
    assert check["details"]["contacts"][0]["kind"] == "url"
    assert set(queue_ids(root, "all")) == {review, acted, shadow}


def test_a_checks_details_read_as_words_in_the_readers_language() -> None:
    from qunzhu.i18n import REQUEST_LANG

    token = REQUEST_LANG.set("zh")
    try:
        shown = moderation._shown
        assert (shown(True), shown(False), shown(0.5)) == ("是", "否", "0.5")
        assert shown([{"kind": "wechat", "value": "abc12345"}]) == "abc12345 (微信号)"
        assert shown({"kind": "pager", "value": "1"}) == "1 (pager)"  # a kind not known yet
        assert shown([]) == "–"
    finally:
        REQUEST_LANG.reset(token)


def test_training_mode_shows_what_enforce_would_do(app: FastAPI, world: World) -> None:
    held = decided(world.engine, msg(RUNNERS, 1, GAMBLING), detector=Detector(BANNING))
    root = as_user(app, "root")
    item = root.get(f"/api/decisions/{held}").json()
    assert (item["verdict"], item["step"], item["would"]) == ("spam", "ask_admin", "ban")
    page = root.get("/moderation?lang=en").text
    assert "What enforce would do" in page and '<strong class="would">Ban</strong>' in page


# -- the answers --------------------------------------------------------------------------


def test_spam_deletes_and_does_what_enforce_would(app: FastAPI, world: World) -> None:
    held = decided(world.engine, msg(RUNNERS, 1, GAMBLING), detector=Detector(BANNING))
    outbox_before = last_id(world.engine, t.outbox)  # training told the admins already
    ops = as_user(app, "ops")
    answer = press(ops, held, "spam", note="赌博广告")
    assert answer.status_code == 303 and answer.headers["location"].endswith(f"done={held}")

    label = label_row(world.engine, held)
    assert (label.label, label.text, label.user_name, label.note) == (
        "spam",
        GAMBLING,
        "ops",
        "赌博广告",
    )
    queued = actions_of(world.engine, held, after=outbox_before)
    assert [a["kind"] for a in queued] == ["delete", "ban"]
    assert all(a["status"] == "pending" and a["connector"] == "tg" for a in queued)
    assert {(a["group_id"], a["member_id"], a["message_id"]) for a in queued} == {
        ("-1001", "u9", "m1")
    }
    (entry,) = audit_rows(world.engine)
    assert entry.user_name == "ops" and orjson.loads(entry.details)["label"] == "spam"
    assert trusted_marks(world.engine) == set()
    assert held not in queue_ids(ops)
    assert f"#{held}" in ops.get(answer.headers["location"]).text  # "recorded"


def test_spam_on_a_review_only_deletes_and_a_would_be_mute_mutes(
    app: FastAPI, world: World
) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK), mode=Mode.ENFORCE)
    first = decided(world.engine, msg(RUNNERS, 2, AD, who="u4"))
    muting = Detector(Policy(keywords={"刷单": {"weight": 1.0, "action": "mute"}}))
    second = decided(world.engine, msg(RUNNERS, 3, "刷单日结 加我", who="u4"), detector=muting)
    ops = as_user(app, "ops")
    assert ops.get(f"/api/decisions/{second}").json()["would"] == "mute"
    after = last_id(world.engine, t.outbox)
    for decision_id in (review, first, second):
        assert api_label(ops, decision_id, "spam").status_code == 200
    assert [a["kind"] for a in actions_of(world.engine, review, after)] == ["delete"]
    assert [a["kind"] for a in actions_of(world.engine, first, after)] == ["delete"]  # a warn
    mute = actions_of(world.engine, second, after)
    assert [a["kind"] for a in mute] == ["delete", "mute"] and mute[1]["seconds"] == MUTES_S[0]


def test_not_spam_trusts_the_member_in_that_group(app: FastAPI, world: World) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    after = last_id(world.engine, t.outbox)
    ops = as_user(app, "ops")
    answer = api_label(ops, review, "ham", note="自己人")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "decision_id": review,
        "label": "ham",
        "queued": [],
        "trusted": "u9",
        "struck": 0,
        "blocked": 0,
    }
    assert label_row(world.engine, review).label == "ham"
    assert actions_of(world.engine, review, after) == []
    assert trusted_marks(world.engine) == {(world.runners, "trusted:u9")}
    (entry,) = audit_rows(world.engine)
    assert orjson.loads(entry.details)["trusted"] is True and entry.target == f"decision {review}"


def test_ban_only_bans_and_teaches_nothing(app: FastAPI, world: World) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    after = last_id(world.engine, t.outbox)
    ops = as_user(app, "ops")
    assert press(ops, review, "ban_only").status_code == 303
    assert [a["kind"] for a in actions_of(world.engine, review, after)] == ["ban"]
    assert label_row(world.engine, review).label == "ban_only"
    assert len(audit_rows(world.engine)) == 1 and trusted_marks(world.engine) == set()
    with world.engine.connect() as conn:
        assert labelled(labels_since(conn, None)) == []


def test_a_member_cas_lists_is_asked_about_and_their_words_teach_nothing(
    app: FastAPI, world: World
) -> None:
    event = msg(RUNNERS, 1, "大家好，周末一起跑步吗")
    event.listed = "3 offense(s), listed since 2024-05-01"
    held = decided(world.engine, event)
    ops = as_user(app, "ops")
    page = ops.get("/moderation?lang=zh").text
    assert f'id="decision-{held}"' in page and "Powered by CAS" in page
    assert "2024-05-01" in page
    assert press(ops, held, "spam").status_code == 303
    with world.engine.connect() as conn:
        assert labelled(labels_since(conn, None)) == []  # kept out for who, not what


def test_spam_on_a_newcomer_named_as_an_ad_removes_them_and_deletes_nothing(
    app: FastAPI, world: World
) -> None:
    """A join is no message: the answer kicks the newcomer enforce would have kicked and asks
    the platform to delete nothing (a delete of the join's id can only fail). What it teaches
    is the name; so does the answer on a "大家好" held for its sender's name, not "大家好"."""
    at = T1 + timedelta(minutes=1)
    named = MembershipEvent(
        "j1", Person("u7", "兼职日结 加V abc12345"), MembershipAction.JOIN, at, JoinMethod.LINK
    )
    held = decided(world.engine, LiveEvent("tg", RUNNERS, named))
    after = last_id(world.engine, t.outbox)
    assert press(as_user(app, "ops"), held, "spam").status_code == 303
    queued = actions_of(world.engine, held, after)
    assert [(a["kind"], a["member_id"]) for a in queued] == [("kick", "u7")]
    hello = msg(RUNNERS, 2, "大家好，初来乍到请多关照", who="u8")
    hello.record.sender = Person("u8", "刷单日结VX:abc12345")  # type: ignore[union-attr]
    asked = decided(world.engine, hello)
    assert press(as_user(app, "ops"), asked, "spam").status_code == 303
    with world.engine.connect() as conn:
        taught = labels_since(conn, None)
    assert labelled(taught) == [(1, "兼职日结 加V abc12345"), (1, "刷单日结VX:abc12345")]
    assert [v.named for v in taught] == [True, True]
    # the running engine's feed hands the community's bank on, to remove those named alike
    feed = BankFeed({})
    assert feed.apply(taught) == 2 and len(feed.named) == 1


def test_spam_on_a_newcomers_bio_teaches_the_bio(app: FastAPI, world: World) -> None:
    """A "你好" held for its sender's bio teaches the bio, not "你好": the next account of the
    farm, with the same bio, is then spam at the door."""
    bio = "兼职日结，日赚300，加V abc12345"
    hello = msg(RUNNERS, 1, "你好", who="u8")
    hello.bio = bio
    asked = decided(world.engine, hello)
    ops = as_user(app, "ops")
    page = ops.get("/moderation?lang=zh").text
    assert "个人简介广告" in page and f"个人简介</span>: {bio}" in page
    assert press(ops, asked, "spam").status_code == 303
    with world.engine.connect() as conn:
        taught = labels_since(conn, None)
    assert labelled(taught) == [(1, bio)]
    bank = bank_of(taught)
    again = Detector(bank=bank).bio_check("兼职日结，日赚300，加V abc12346")
    assert again is not None and again.verdict == SPAM


def test_a_message_edited_into_an_ad_shows_its_new_words(app: FastAPI, world: World) -> None:
    from qunzhu.model.live import Edit

    hello = msg(RUNNERS, 1, "周末一起跑步的朋友举手", who="u8")
    original = hello.record
    assert isinstance(original, Message)
    now = Message(original.platform_id, original.sender, original.sent_at, MessageKind.TEXT, AD)
    edit = LiveEvent("tg", RUNNERS, Edit("m1", original.sender, T1 + timedelta(hours=1), now))
    (decision,) = feed(runtime(world.engine, Mode.TRAINING), hello, edit)
    page = as_user(app, "ops").get("/moderation?lang=en").text
    assert "Judged as its sender edited it:" in page and AD in page
    assert as_user(app, "ops").get(f"/api/decisions/{decision}").json()["edited"] is True


def test_a_trusted_member_is_no_longer_held(app: FastAPI, world: World) -> None:
    """The live runtime's detector (behaviour and trust): a newcomer's link is held for
    probation; once an admin says "not spam", their next link passes."""
    detector = Detector(behaviour=Behaviour(), trust=TrustBook())
    rt = runtime(world.engine, Mode.TRAINING, detector)
    link = frozenset({"link"})
    feed(rt, joined(RUNNERS, 0, "u7"), joined(RUNNERS, -1, "u8"))
    (held,) = feed(rt, msg(RUNNERS, 1, LINK, who="u7", kinds=link))
    root = as_user(app, "root")
    checks = {c["name"] for c in root.get(f"/api/decisions/{held}").json()["checks"]}
    assert "type_lock" in checks
    assert api_label(root, held, "ham").status_code == 200

    assert feed(rt, msg(RUNNERS, 2, "再看看 https://example.org/y", who="u7", kinds=link)) == []
    (other,) = feed(rt, msg(RUNNERS, 3, "我也发 https://example.net/z", who="u8", kinds=link))
    other_checks = {c["name"] for c in root.get(f"/api/decisions/{other}").json()["checks"]}
    assert "type_lock" in other_checks  # a newcomer nobody vouched for is still on probation

    # Without a TrustBook (a bare detector) the mark still ends the probation.
    (bare,) = feed(
        runtime(world.engine, Mode.TRAINING),
        msg(RUNNERS, 4, "https://example.com/again", who="u7", kinds=link),
    )
    bare_checks = {c["name"] for c in root.get(f"/api/decisions/{bare}").json()["checks"]}
    assert "type_lock" not in bare_checks


def test_a_decision_is_answered_once(app: FastAPI, world: World) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    after = last_id(world.engine, t.outbox)
    ops, root = as_user(app, "ops"), as_user(app, "root")
    assert api_label(ops, review, "spam").status_code == 200
    again = api_label(root, review, "ham")
    assert again.status_code == 409
    assert press(root, review, "ban_only").status_code == 409
    assert [a["kind"] for a in actions_of(world.engine, review, after)] == ["delete"]
    assert label_row(world.engine, review).user_name == "ops"
    assert trusted_marks(world.engine) == set() and len(audit_rows(world.engine)) == 1
    assert waiting_on(root.get("/moderation").text, "queue") == 0
    assert "等待处理" not in root.get("/?lang=zh").text


# -- appeals ------------------------------------------------------------------------------


def test_appeals_overturn_and_uphold(app: FastAPI, world: World) -> None:
    rt = runtime(world.engine, Mode.ENFORCE)
    wrong, right, old = feed(
        rt,
        msg(RUNNERS, 1, AD, who="u5"),
        msg(RUNNERS, 2, AD + "？", who="u6"),
        msg(RUNNERS, 3, AD + "。", who="u3"),
    )
    review = decided(world.engine, msg(RUNNERS, 4, LINK))
    month_ago = int((time.time() - 31 * 86400) * 1000)
    with world.engine.begin() as conn:
        conn.execute(update(t.decisions).where(t.decisions.c.id == old).values(at=month_ago))
    after = last_id(world.engine, t.outbox)
    ops = as_user(app, "ops")
    assert queue_ids(ops, "appeals") == [right, wrong]
    page = ops.get("/moderation?tab=appeals&lang=en").text
    assert f'id="decision-{wrong}"' in page and f'id="decision-{old}"' not in page
    assert 'value="appeal_upheld"' in page and 'value="appeal_rejected"' in page
    assert "Delete and warn" in page  # what was done

    assert press(ops, wrong, "appeal_upheld", tab="appeals").status_code == 303
    assert api_label(ops, right, "appeal_rejected", note="确实是广告").status_code == 200
    assert label_row(world.engine, wrong).label == "appeal_upheld"
    assert label_row(world.engine, right).label == "appeal_rejected"
    assert trusted_marks(world.engine) == {(world.runners, "trusted:u5")}
    assert actions_of(world.engine, wrong, after) == actions_of(world.engine, right, after) == []
    assert len(audit_rows(world.engine)) == 2
    assert queue_ids(ops, "appeals") == []

    # Answers belong to their tab: a queue answer on an action, an appeal on a held message.
    assert api_label(ops, old, "spam").status_code == 409
    assert api_label(ops, review, "appeal_upheld").status_code == 409
    assert label_row(world.engine, old) is None and label_row(world.engine, review) is None


# -- training data ------------------------------------------------------------------------


def test_labelled_gives_the_content_model_its_examples(app: FastAPI, world: World) -> None:
    rt = runtime(world.engine, Mode.TRAINING)
    spam, ham, ban, readers = feed(
        rt,
        msg(RUNNERS, 1, AD, who="u1"),
        msg(RUNNERS, 2, LINK, who="u2"),
        msg(RUNNERS, 3, "私聊我 加微信 abc12345", who="u3"),
        msg(READERS, 4, "读书会 https://books.example.com", who="u4"),
    )
    upheld, rejected = feed(
        runtime(world.engine, Mode.ENFORCE),
        msg(RUNNERS, 5, "代购微商，加微信 zz998877", who="u5"),
        msg(RUNNERS, 6, "刷单日结 加微信 yy776655", who="u6"),
    )
    root = as_user(app, "root")
    for decision_id, label in [
        (spam, "spam"),
        (ham, "ham"),
        (ban, "ban_only"),
        (readers, "spam"),
        (upheld, "appeal_upheld"),
        (rejected, "appeal_rejected"),
    ]:
        assert api_label(root, decision_id, label).status_code == 200, label
    with world.engine.connect() as conn:
        assert labelled(labels_since(conn, None)) == [
            (1, AD),
            (0, LINK),
            (1, "读书会 https://books.example.com"),
            (0, "代购微商，加微信 zz998877"),
            (1, "刷单日结 加微信 yy776655"),
        ]
        assert labelled(labels_since(conn, None, [world.readers])) == [
            (1, "读书会 https://books.example.com")
        ]


# -- who decided what ---------------------------------------------------------------------


def test_the_audit_page_newest_first_paged_and_per_community(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(world.engine, Mode.TRAINING)
    first, second, theirs = feed(
        rt,
        msg(RUNNERS, 1, LINK, who="u1"),
        msg(RUNNERS, 2, LINK + "/2", who="u2"),
        msg(READERS, 3, LINK + "/3", who="u3"),
    )
    ops, root = as_user(app, "ops"), as_user(app, "root")
    assert press(ops, first, "spam", note="第一条").status_code == 303
    assert press(ops, second, "ham", note="第二条").status_code == 303
    assert press(root, theirs, "spam", note="读书会的").status_code == 303

    page = ops.get("/moderation/audit?lang=en").text
    assert page.index("第二条") < page.index("第一条")  # newest first
    assert "Not spam" in page and "读书会的" not in page  # root's word on 读书会: not for ops
    assert "读书会的" in root.get("/moderation/audit").text

    monkeypatch.setattr(moderation, "PAGE_SIZE", 1)
    one = ops.get("/moderation/audit").text
    assert "第二条" in one and "第一条" not in one and "page=2" in one
    two = ops.get("/moderation/audit?page=2").text
    assert "第一条" in two and "第二条" not in two and "page=3" not in two


# -- isolation, roles, CSRF, bad input ----------------------------------------------------


def test_no_route_lets_one_community_reach_another(app: FastAPI, world: World) -> None:
    rt = runtime(world.engine, Mode.TRAINING)
    ours, theirs = feed(rt, msg(RUNNERS, 1, LINK), msg(READERS, 2, LINK + "/r", who="u2"))
    ops = as_user(app, "ops")
    assert queue_ids(ops) == [ours] and queue_ids(ops, "all") == [ours]
    assert f'id="decision-{theirs}"' not in ops.get("/moderation").text
    assert waiting_on(ops.get("/moderation").text, "queue") == 1  # theirs is not counted
    for path in (f"/api/decisions/{theirs}", f"/api/decisions/{10**6}"):
        assert ops.get(path).status_code == 404
    assert ops.get("/api/decisions", params={"group": world.readers}).status_code == 404
    assert ops.get("/api/decisions", params={"group": world.loose}).status_code == 404
    assert queue_ids(ops, group=world.runners) == [ours]
    assert api_label(ops, theirs, "ham").status_code == 404
    assert press(ops, theirs, "ham").status_code == 404
    assert api_label(ops, 10**6, "ham").status_code == 404
    assert label_row(world.engine, theirs) is None and trusted_marks(world.engine) == set()

    eye = as_user(app, "eye")
    assert queue_ids(eye) == [theirs]
    page = eye.get("/moderation").text
    assert f'id="decision-{theirs}"' in page and 'value="spam"' not in page  # no buttons
    assert press(eye, theirs, "spam").status_code == 403
    assert api_label(eye, theirs, "spam").status_code == 403
    assert api_label(eye, ours, "spam").status_code == 403
    assert eye.get(f"/api/decisions/{ours}").status_code == 404
    assert label_row(world.engine, theirs) is None and audit_rows(world.engine) == []


def test_changes_need_the_csrf_token_unless_sent_with_a_personal_token(
    app: FastAPI, world: World
) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    ops = as_user(app, "ops")
    bare = ops.post(f"/moderation/{review}/label", data={"label": "spam"})
    assert bare.status_code == 403
    forged = ops.post(f"/moderation/{review}/label", data={"label": "spam", "csrf_token": "forged"})
    assert forged.status_code == 403
    no_header = ops.post(f"/api/decisions/{review}/label", json={"label": "spam"})
    assert no_header.status_code == 403
    assert label_row(world.engine, review) is None

    with world.engine.begin() as conn:
        user = accounts.authenticate(conn, "ops", PASSWORD)
        assert user is not None
        token = accounts.new_token(conn, user.id, "script")
    script = TestClient(app)
    answer = script.post(
        f"/api/decisions/{review}/label",
        json={"label": "spam"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200 and label_row(world.engine, review).label == "spam"
    assert TestClient(app).get("/api/decisions").status_code == 401


def test_bad_input_is_refused_never_a_crash(app: FastAPI, world: World) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    root = as_user(app, "root")
    token = csrf(root, "/moderation")
    headers = {"X-CSRF-Token": token}
    url = f"/api/decisions/{review}/label"
    refused = [
        root.post(url, json={"label": "maybe"}, headers=headers),
        root.post(url, json={"label": "spam", "note": "x" * 5000}, headers=headers),
        root.post(
            url, content=b"{not json", headers={**headers, "content-type": "application/json"}
        ),
        root.post(url, json=["spam"], headers=headers),
        root.post(
            "/api/decisions/99999999999999999999/label", json={"label": "spam"}, headers=headers
        ),
        root.post("/api/decisions/-1/label", json={"label": "spam"}, headers=headers),
        root.get("/api/decisions/abc"),
        root.get("/api/decisions?tab=everything"),
        root.get("/api/decisions?group=99999999999999999999"),
        root.get("/api/decisions?limit=0"),
        root.post(f"/moderation/{review}/label", data={"label": "maybe", "csrf_token": token}),
        root.post(
            "/moderation/99999999999999999999/label", data={"label": "spam", "csrf_token": token}
        ),
        root.get("/moderation?before=abc"),
        root.get("/moderation/audit?page=0"),
    ]
    assert all(400 <= r.status_code < 500 for r in refused), [r.status_code for r in refused]
    assert label_row(world.engine, review) is None
    page = root.get("/moderation?tab=nonsense")  # an unknown tab: the queue
    assert page.status_code == 200 and f'id="decision-{review}"' in page.text
    sly = decided(world.engine, msg(RUNNERS, 2, "<script>alert(1)</script> https://x.example"))
    page = root.get("/moderation").text
    assert f'id="decision-{sly}"' in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)" in page
    assert root.get("/api/decisions?group=99999").status_code == 404


def test_chinese_by_default_english_on_request(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    decided(world.engine, msg(RUNNERS, 1, GAMBLING), detector=Detector(BANNING))
    root = as_user(app, "root")
    page = root.get("/moderation").text
    assert "审核队列" in page and "联系方式与广告词" in page and "执行模式下会怎么做" in page
    assert "Moderation queue" not in page
    assert "已执行的处理（最近 30 天）" in root.get("/moderation?tab=appeals").text
    assert "处理记录" in root.get("/moderation/audit").text
    english = root.get("/moderation?lang=en").text
    assert "Moderation queue" in english and "Contacts and ad words" in english
    assert "审核队列" not in english


def test_an_upheld_appeal_lifts_the_mute_or_ban(app: FastAPI, world: World) -> None:
    rt = runtime(world.engine, Mode.ENFORCE)
    muted, banned = feed(rt, msg(RUNNERS, 1, AD, who="u5"), msg(RUNNERS, 2, AD + "？", who="u6"))
    with world.engine.begin() as conn:  # as the ladder's later rungs would have decided
        for decision, step in ((muted, "mute"), (banned, "ban")):
            row = conn.execute(select(t.decisions.c.reasons).where(t.decisions.c.id == decision))
            reasons = {**orjson.loads(row.scalar_one()), "step": step}
            conn.execute(
                update(t.decisions)
                .where(t.decisions.c.id == decision)
                .values(reasons=orjson.dumps(reasons).decode())
            )
    after = last_id(world.engine, t.outbox)
    ops = as_user(app, "ops")
    assert api_label(ops, muted, "appeal_upheld").status_code == 200
    assert api_label(ops, banned, "appeal_upheld").status_code == 200
    lifted = actions_of(world.engine, muted, after) + actions_of(world.engine, banned, after)
    assert [(a["kind"], a["member_id"]) for a in lifted] == [("unmute", "u5"), ("unban", "u6")]


def test_a_members_appeal_reaches_the_admins_and_the_answer_reaches_the_member(
    app: FastAPI, world: World
) -> None:
    """A member removed for an ad writes to the bot in private: their words go to the newest
    thing done to them, the console counts and lists them under 成员申诉, and the admin's
    answer is sent back to the member in private, in the engine's language."""
    import asyncio

    from qunzhu.i18n import told
    from qunzhu.model.live import Appeal
    from qunzhu.service import Appeals
    from qunzhu.web.moderation import APPEAL_ANSWERS

    rt = runtime(world.engine, Mode.ENFORCE)
    removed, other = feed(rt, msg(RUNNERS, 1, AD, who="u5"), msg(RUNNERS, 2, AD, who="u6"))
    ops = as_user(app, "ops")
    assert waiting_on(ops.get("/moderation").text, "appealed") == 0
    appeals = Appeals(world.engine, "tg")
    now = datetime.now(UTC)

    def write(who: str, text: str) -> str | None:
        return asyncio.run(appeals(Appeal("p1", Person(who, "小美"), now, text)))

    answer = write("u5", "我是在问代购靠不靠谱，不是打广告")
    assert answer is not None and "跑团一群" in answer
    assert write("u5", "真的不是广告，请恢复") is None  # answered a moment ago: words kept
    stranger = write("u404", "你好")
    assert stranger is not None and "30" in stranger  # nothing was done to them
    flood = [write(f"raider{n}", "你好") for n in range(40)]  # a thousand accounts, say:
    assert sum(a is not None for a in flood) == 28  # 30 answers a minute, whoever writes
    assert waiting_on(ops.get("/moderation").text, "appealed") == 1
    for page in ("/moderation/checks", "/moderation/audit", "/moderation/blocklist"):
        assert waiting_on(ops.get(page).text, "appealed") == 1, page  # every tab row counts
    assert waiting_on(ops.get("/moderation/contacts").text, "appealed") == 1
    assert "1 条成员申诉等待处理" in ops.get("/?lang=zh").text
    page = ops.get("/moderation?tab=appealed&lang=zh").text
    assert f'data-appeal="{removed}"' in page and "真的不是广告，请恢复" in page
    assert f'id="decision-{other}"' not in page  # done too, but nobody appealed it
    (listed,) = ops.get("/api/decisions", params={"tab": "appealed"}).json()["decisions"]
    assert listed["id"] == removed and listed["appeal"]["text"] == "真的不是广告，请恢复"

    after = last_id(world.engine, t.outbox)
    assert press(ops, removed, "appeal_upheld", tab="appealed").status_code == 303
    tell = [a for a in actions_of(world.engine, removed, after) if a["kind"] == "tell"]
    expected = told(APPEAL_ANSWERS["appeal_upheld"], group="跑团一群")
    assert expected.startswith("Your appeal about 跑团一群 was upheld")  # the engine's QUNZHU_LANG,
    # not the language the admin reads the console in (zh, chosen above)
    assert [(a["member_id"], a["text"], a["connector"]) for a in tell] == [("u5", expected, "tg")]
    assert waiting_on(ops.get("/moderation").text, "appealed") == 0
    assert api_label(ops, other, "appeal_rejected").status_code == 200  # nobody asked:
    assert [a["kind"] for a in actions_of(world.engine, other, after)] == []  # nobody told


def decision_row(engine: Engine, decision_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(t.decisions).where(t.decisions.c.id == decision_id)).one()


def strike_marks(engine: Engine) -> list[tuple[str, int]]:
    pm = t.policy_marks
    with engine.connect() as conn:
        rows = conn.execute(select(pm.c.key, pm.c.at).where(pm.c.key.like("strike%"))).all()
    return sorted((r.key.split(":", 1)[1], r.at) for r in rows)


def test_a_persons_word_moves_the_ladder(app: FastAPI, world: World) -> None:
    """Confirmed spam is a strike, so the member's next ad climbs as if the group enforced;
    an upheld appeal takes back the strike the overturned action cost."""
    ops = as_user(app, "ops")
    held = decided(world.engine, msg(RUNNERS, 1, AD, who="u5"))  # training: asked
    assert strike_marks(world.engine) == []
    assert api_label(ops, held, "spam").json()["struck"] == 1
    assert [m for m, _ in strike_marks(world.engine)] == ["u5"]
    again = decided(world.engine, msg(RUNNERS, 2, AD + "！", who="u5"))
    reasons = orjson.loads(decision_row(world.engine, again).reasons)
    assert (reasons["would"], reasons["strikes"]) == ("mute", 2)

    # enforced: the wrongful strike goes when the appeal is upheld, a rightful one stays
    rt = runtime(world.engine, Mode.ENFORCE)
    wrong, right = feed(rt, msg(RUNNERS, 3, AD + "？", who="u6"), msg(RUNNERS, 4, AD, who="u7"))
    assert [m for m, _ in strike_marks(world.engine)] == ["u5", "u6", "u7"]
    assert api_label(ops, wrong, "appeal_upheld").json()["struck"] == -1
    assert api_label(ops, right, "appeal_rejected").json()["struck"] == 0
    assert [m for m, _ in strike_marks(world.engine)] == ["u5", "u7"]
    (entry,) = [a for a in audit_rows(world.engine) if a.target == f"decision {wrong}"]
    assert orjson.loads(entry.details)["struck"] == -1
    (relapse,) = feed(rt, msg(RUNNERS, 5, AD + "。", who="u6"))
    assert orjson.loads(decision_row(world.engine, relapse).reasons)["step"] == "delete_warn"


# -- the spam bank of the running engine ----------------------------------------------------

MILK = "新到一批进口奶粉，价格美丽，需要的朋友看图 https://milk.example.com"  # a link alone: review


def test_labels_reach_the_running_engines_spam_bank(app: FastAPI, world: World) -> None:
    """ "Spam" puts the judged text in the bank of the group's community; "not spam" on a text
    like it takes it out; forgetting the member takes their labels, and the bank is rebuilt."""
    import asyncio

    from qunzhu import service
    from qunzhu.config import parse
    from qunzhu.moderation.normalize import normalize
    from qunzhu.store.privacy import find_members, forget_member

    root = as_user(app, "root")
    first = decided(world.engine, msg(RUNNERS, 1, MILK, who="u1"))
    assert api_label(root, first, "spam").status_code == 200
    memories: service.Memories = {}
    feed_banks = service.BankFeed(memories)
    assert asyncio.run(feed_banks.poll(world.engine)) == 1
    assert asyncio.run(feed_banks.poll(world.engine)) == 0  # nothing new
    bank = memories["跑团"][2]
    assert len(bank) == 1 and "读书会" not in memories  # the other community learnt nothing
    reworded = "新到一批进口奶粉！！价格很美丽，需要的朋友看图 https://milk.example.com"
    check = Detector(Policy(keywords={}), bank=bank).check(reworded)
    assert check.verdict == SPAM and any(c.name == "spam_bank" for c in check.checks)

    # the engine's detectors for that community's groups read that same bank
    config = parse(
        {
            "connectors": {"tg": {"type": "telegram"}},
            "communities": [{"name": "跑团"}],
            "groups": [{"name": "跑团一群", "connector": "tg", "id": "-1001", "community": "跑团"}],
        }
    )
    (policy,) = service.setups(config, memories=memories).of("tg", "-1001").policies
    assert policy.detector.bank is bank

    second = decided(world.engine, msg(RUNNERS, 2, reworded, who="u2"))
    assert api_label(root, second, "ham").status_code == 200
    assert asyncio.run(feed_banks.poll(world.engine)) == 1 and len(bank) == 0

    third = decided(world.engine, msg(RUNNERS, 3, MILK + " 今天", who="u3"))
    assert api_label(root, third, "spam").status_code == 200
    assert asyncio.run(feed_banks.poll(world.engine)) == 1 and len(bank) == 1
    with world.engine.begin() as conn:
        (u3,) = find_members(conn, "u3")
        forget_member(conn, u3)  # their decision and its label go
    asyncio.run(feed_banks.poll(world.engine))
    assert len(bank) == 0  # rebuilt from the labels left: u1's spam, then u2's "not spam"

    # one label goes and another comes between two looks: the count alone would not tell
    crabs = "周末团购大闸蟹，一只十块钱，要的私聊 https://crab.example.com"
    fourth = decided(world.engine, msg(RUNNERS, 4, crabs, who="u4"))
    assert api_label(root, fourth, "spam").status_code == 200
    asyncio.run(feed_banks.poll(world.engine))
    fifth = decided(world.engine, msg(RUNNERS, 5, MILK + " 明天到货", who="u5"))
    assert api_label(root, fifth, "spam").status_code == 200
    with world.engine.begin() as conn:
        (u4,) = find_members(conn, "u4")
        forget_member(conn, u4)
    asyncio.run(feed_banks.poll(world.engine))
    assert len(bank) == 1
    assert bank.match(normalize(crabs)).verdict != SPAM  # the forgotten member's text is gone


def test_a_reported_picture_labelled_spam_is_known_from_then_on(app: FastAPI, world: World) -> None:
    """A picture ad nothing caught: an admin reports it, a person says "spam" in the queue,
    and the same picture (recompressed, from another account) is spam at once; "not spam"
    on a decision about it takes it back."""
    import asyncio

    from qunzhu import service
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
    from tests.moderation.test_behaviour import poster

    memory = (Behaviour(), TrustBook(), SpamBank())
    memories: service.Memories = {"跑团": memory}
    rt = runtime(world.engine, Mode.ENFORCE, Detector(behaviour=memory[0], bank=memory[2]))

    def picture(n: int, who: str, data: bytes) -> LiveEvent:
        event = msg(RUNNERS, n, "", who=who, kinds=frozenset({"image"}))
        event.images = (data,)
        return event

    assert feed(rt, picture(1, "farm1", poster(7))) == []  # nothing to see in it
    report = msg(RUNNERS, 2, "举报", who="boss")
    report.role, report.record.reply_to = "admin", "m1"
    (reported,) = feed(rt, report)
    reasons = orjson.loads(decision_row(world.engine, reported).reasons)
    assert len(reasons["pictures"]) == 1  # kept with the decision a person will answer
    root = as_user(app, "root")
    assert api_label(root, reported, "spam").status_code == 200
    feed_banks = service.BankFeed(memories)
    assert asyncio.run(feed_banks.poll(world.engine)) == 1

    (caught,) = feed(rt, picture(3, "farm2", poster(7, (400, 500), q=50)))
    row = decision_row(world.engine, caught)
    checks = orjson.loads(row.reasons)["checks"]
    assert row.verdict == "spam"
    assert {"name": "same_picture", "verdict": "spam", "score": 0.95} in [
        {k: c[k] for k in ("name", "verdict", "score")} for c in checks
    ]
    page = root.get("/moderation", params={"tab": "appeals", "lang": "zh"}).text
    assert "Same picture in several groups" in page or "多群同图" in page  # named, not a key
    assert api_label(root, caught, "appeal_upheld").status_code == 200  # acted on: an appeal
    asyncio.run(feed_banks.poll(world.engine))
    assert feed(rt, picture(4, "someone", poster(7))) == []  # not an ad after all
    # and its travelling is no longer asked about (one member's copy in a second group of
    # the same detector would otherwise be a question)
    elsewhere = picture(5, "someone", poster(7))
    elsewhere.group = READERS
    assert feed(rt, elsewhere) == []


def test_earlier_copies_of_a_picture_people_said_was_an_ad_are_taken_down(
    app: FastAPI, world: World
) -> None:
    """Two accounts dropped one poster into two groups, nothing caught it; an admin reports
    one copy and a person says "spam": the other copy, posted before, is taken down too
    (once), by its group's moderation."""
    import asyncio

    from qunzhu import service
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
    from tests.moderation.test_behaviour import poster

    memory = (Behaviour(), TrustBook(), SpamBank())
    # one detector watches both groups here, so both communities share its memory
    memories: service.Memories = {"跑团": memory, "读书会": memory}
    rt = runtime(world.engine, Mode.ENFORCE, Detector(behaviour=memory[0], bank=memory[2]))

    def picture(group: Group, n: int, who: str, data: bytes) -> LiveEvent:
        event = msg(group, n, "", who=who, kinds=frozenset({"image"}))
        event.images = (data,)
        return event

    assert feed(rt, picture(RUNNERS, 1, "farm1", poster(8))) == []
    assert feed(rt, picture(READERS, 2, "farm2", poster(8, q=70))) == []
    report = msg(READERS, 3, "举报", who="boss")
    report.role, report.record.reply_to = "admin", "m2"
    (reported,) = feed(rt, report)
    assert api_label(as_user(app, "root"), reported, "spam").status_code == 200
    banks = service.BankFeed(memories)
    asyncio.run(banks.poll(world.engine))
    assert banks.copies == [(RUNNERS.platform_id, "m1", "farm1")]  # not the one judged
    assert rt.take_down(banks.copies) == 1
    assert rt.take_down(banks.copies) == 0  # once
    with world.engine.connect() as conn:
        row = conn.execute(select(t.decisions).where(t.decisions.c.record_id == "m1")).one()
    reasons = orjson.loads(row.reasons)
    assert (row.verdict, row.member, reasons["step"]) == ("spam", "farm1", "delete_warn")
    assert "strikes" not in reasons  # nobody knew it was an ad when it came
    assert [(a["kind"], a["message_id"]) for a in actions_of(world.engine, row.id)] == [
        ("delete", "m1"),
        ("warn", "m1"),
    ]


def test_earlier_copies_of_a_text_people_said_was_an_ad_are_taken_down(
    app: FastAPI, world: World
) -> None:
    """Three accounts of a farm post one ad the text layers let pass in three groups: the
    third copy is a question (different hands); a person says "spam": the two copies posted
    before are taken down too (once), each by its group's moderation, no strike."""
    import asyncio

    from qunzhu import service
    from qunzhu.engine.policies import CONFIRMED_COPY
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook

    memory = (Behaviour(), TrustBook(), SpamBank())
    # one detector watches the three groups here (the third in no community): one memory
    memories: service.Memories = {"跑团": memory, "读书会": memory, None: memory}
    third = Group(Platform.TELEGRAM, "-1003", "跑团二群")
    detector = Detector(behaviour=memory[0], bank=memory[2])
    setup = GroupSetup([ModerationPolicy(detector, Ladder(Mode.ENFORCE))])
    groups = (RUNNERS, READERS, third)
    rt = Runtime(world.engine, Setups({("tg", g.platform_id): setup for g in groups}))
    ad = "新到一批进口奶粉，价格美丽，需要的朋友联系群主看图"
    assert feed(rt, msg(RUNNERS, 1, ad, who="farm1")) == []
    assert feed(rt, msg(READERS, 2, ad, who="farm2")) == []
    (asked,) = feed(rt, msg(third, 3, ad + "！", who="farm3"))
    assert api_label(as_user(app, "root"), asked, "spam").status_code == 200
    banks = service.BankFeed(memories)
    asyncio.run(banks.poll(world.engine))
    copies = [(RUNNERS.platform_id, "m1", "farm1"), (READERS.platform_id, "m2", "farm2")]
    assert banks.text_copies == copies  # not the one judged
    assert rt.take_down(banks.text_copies, CONFIRMED_COPY) == 2
    assert rt.take_down(banks.text_copies, CONFIRMED_COPY) == 0  # once
    with world.engine.connect() as conn:
        row = conn.execute(select(t.decisions).where(t.decisions.c.record_id == "m2")).one()
    reasons = orjson.loads(row.reasons)
    assert (row.verdict, reasons["checks"][0]["name"]) == ("spam", "spam_bank")
    assert "strikes" not in reasons
    assert [(a["kind"], a["message_id"]) for a in actions_of(world.engine, row.id)] == [
        ("delete", "m2"),
        ("warn", "m2"),
    ]


def test_the_running_engine_takes_the_earlier_copies_down_on_its_own(
    app: FastAPI, world: World
) -> None:
    """The same, through `qunzhu run`'s watcher: it reads the label, finds the earlier copy
    in its community's memory and has the group's moderation take it down."""
    import asyncio

    from qunzhu import service
    from qunzhu.config import parse
    from tests.moderation.test_behaviour import poster
    from tests.web.test_settings import TG_ONLY, until

    group = {"name": "跑团一群", "community": "跑团", "connector": "tg", "id": RUNNERS.platform_id}
    groups = [{**group, "policies": {"moderation": {"mode": "enforce"}}}]
    config = parse({**TG_ONLY, "communities": [{"name": "跑团"}], "groups": groups})
    rt = Runtime(world.engine, service.setups(config))
    first = rt.setups.of("tg", RUNNERS.platform_id).policies

    def picture(n: int, who: str) -> LiveEvent:
        event = msg(RUNNERS, n, "", who=who, kinds=frozenset({"image"}))
        event.images = (poster(9),)
        return event

    def copy_taken_down() -> bool:
        with world.engine.connect() as conn:
            d = t.decisions
            found = select(d.c.verdict).where(d.c.record_id == "m1", d.c.verdict == "spam")
            return conn.execute(found).first() is not None

    async def scenario() -> None:
        watcher = asyncio.create_task(
            service.watch_settings(rt, config, world.engine, every_s=0.01)
        )
        try:  # the watcher's setups share its memories with the spam bank it feeds
            await until(lambda: rt.setups.of("tg", RUNNERS.platform_id).policies != first)
            assert feed(rt, picture(1, "farm1"), picture(2, "farm2")) == []
            report = msg(RUNNERS, 3, "举报", who="boss")
            report.role, report.record.reply_to = "admin", "m2"
            (reported,) = feed(rt, report)
            assert api_label(as_user(app, "root"), reported, "spam").status_code == 200
            await until(copy_taken_down)
        finally:
            watcher.cancel()

    asyncio.run(scenario())


def test_an_ad_read_in_a_picture_waits_in_the_queue_with_what_it_says(
    app: FastAPI, world: World
) -> None:
    """Training mode: the text read in a member's poster asks the admins; the queue shows what
    the picture says, and "spam" teaches that text (the message itself has none) and the
    picture: the same poster from another account is a known ad at once."""
    import asyncio

    from qunzhu import service
    from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
    from tests.moderation.test_picture_text import poster_saying

    memory = (Behaviour(), TrustBook(), SpamBank())
    rt = runtime(world.engine, Mode.TRAINING, Detector(behaviour=memory[0], bank=memory[2]))
    drawn = poster_saying("VX: abc12345", "Tel 13812345678")
    poster = msg(RUNNERS, 1, "", who="farm1", kinds=frozenset({"image"}))
    poster.images = (drawn,)
    assert feed(rt, poster) == []
    rt.reader.wait()
    (asked,) = feed(rt)
    root = as_user(app, "root")
    assert asked in queue_ids(root)
    shown = root.get("/api/decisions", params={"tab": "queue"}).json()["decisions"]
    (item,) = [d for d in shown if d["id"] == asked]
    assert item["text"] == "" and "abc12345" in item["picture_text"]
    page = root.get("/moderation", params={"lang": "zh"}).text
    assert "图片里的文字" in page and "abc12345" in page
    assert api_label(root, asked, "spam").status_code == 200
    assert "abc12345" in label_row(world.engine, asked).text
    assert asyncio.run(service.BankFeed({"跑团": memory}).poll(world.engine)) == 1
    again = msg(READERS, 2, "", who="farm2", kinds=frozenset({"image"}))
    again.images = (drawn,)
    (caught,) = feed(rt, again)
    assert decision_row(world.engine, caught).verdict == "spam"
    rt.reader.wait()
    assert feed(rt) == []  # caught already: its pictures were not read again


def test_an_answer_can_be_withdrawn_and_what_it_taught_goes_with_it(
    app: FastAPI, world: World
) -> None:
    """A mistaken "spam" on a member's own WeChat id would go on teaching the bank that id:
    the answer is taken back on the answers page (or through the API), the engine's bank is
    rebuilt without it, the decision waits in the queue again, and the audit log says who.
    Not by a viewer, not on a decision without an answer, not on a group one cannot see."""
    import asyncio

    from qunzhu import service

    mine = "跑步群的朋友加我微信 runner2026 一起约跑"
    held = decided(world.engine, msg(RUNNERS, 1, mine, who="u1"))
    ops = as_user(app, "ops")
    assert press(ops, held, "spam").status_code == 303
    memories: service.Memories = {}
    feed_banks = service.BankFeed(memories)
    asyncio.run(feed_banks.poll(world.engine))
    bank = memories["跑团"][2]
    ask = Detector(Policy(keywords={}), bank=bank)
    assert ask.check("runner2026").verdict == SPAM  # the id, taught by the mistake

    page = ops.get("/moderation/audit").text
    assert f'action="/moderation/{held}/withdraw"' in page
    token = csrf(ops, "/moderation/audit")
    gone = ops.post(
        f"/moderation/{held}/withdraw", data={"csrf_token": token}, follow_redirects=False
    )
    assert gone.status_code == 303 and gone.headers["location"].endswith(f"withdrawn={held}")
    assert label_row(world.engine, held) is None
    assert held in queue_ids(ops)  # waiting for an answer again
    with world.engine.connect() as conn:
        (row,) = conn.execute(
            select(t.audit_log).where(t.audit_log.c.action == "moderation_label.withdrawn")
        ).all()
    assert row.target == f"decision {held}" and orjson.loads(row.details)["label"] == "spam"
    asyncio.run(feed_banks.poll(world.engine))  # the count went down: rebuilt from the rest
    assert ask.check("runner2026").verdict != SPAM

    again = ops.post(
        f"/api/decisions/{held}/withdraw", headers={"X-CSRF-Token": csrf(ops, "/moderation")}
    )
    assert again.status_code == 409  # nothing to withdraw now
    eye = as_user(app, "eye")
    assert f"/moderation/{held}/withdraw" not in eye.get("/moderation/audit").text
    refused = eye.post(
        f"/api/decisions/{held}/withdraw", headers={"X-CSRF-Token": csrf(eye, "/moderation")}
    )
    assert refused.status_code in (403, 404)
    assert api_label(ops, held, "ham").status_code == 200  # answered again, the other way
    other = decided(world.engine, msg(READERS, 2, LINK, who="r1"))
    assert api_label(as_user(app, "root"), other, "ham").status_code == 200
    hidden = ops.post(
        f"/api/decisions/{other}/withdraw", headers={"X-CSRF-Token": csrf(ops, "/moderation")}
    )
    assert hidden.status_code == 404  # ops does not see 读书会


def test_the_known_contacts_are_listed_with_the_answer_that_taught_them(
    app: FastAPI, world: World
) -> None:
    """What the engine holds, per community, worked out from the answers as the engine does:
    a confirmed ad's WeChat id, not its link to a whole site; a "not spam" on a message giving
    the id takes it back; each entry's answer is one button away; only one's own groups."""
    ad = "兼职日结300元，加V：jobs2026a，详情 https://milk.example.com"
    first = decided(world.engine, msg(RUNNERS, 1, ad, who="u1"))
    ops = as_user(app, "ops")
    assert api_label(ops, first, "spam").status_code == 200
    listed = ops.get("/api/moderation/contacts").json()
    assert listed == [
        {
            "community": "跑团",
            "kind": "wechat",
            "value": "jobs2026a",
            "ad": listed[0]["ad"],
            "decision_id": first,
        }
    ]
    assert listed[0]["ad"].startswith("兼职日结300元")
    page = ops.get("/moderation/contacts").text
    assert "jobs2026a" in page and f'action="/moderation/{first}/withdraw"' in page
    assert as_user(app, "eye").get("/api/moderation/contacts").json() == []  # not theirs

    mine = decided(world.engine, msg(RUNNERS, 2, "我的微信 jobs2026a 有事找我", who="u2"))
    assert api_label(ops, mine, "ham").status_code == 200
    assert ops.get("/api/moderation/contacts").json() == []
    assert "还没有已知的广告联系方式" in ops.get("/moderation/contacts?lang=zh").text

    # a forward from an ad channel with no contact in its words: the channel is the contact
    forward = msg(RUNNERS, 3, "今晚八点直播间抽奖，人人有份", "u3", frozenset({"forward"}))
    assert isinstance(forward.record, Message)
    forward.record.origin = "fuli_vip"
    joiner = joined(RUNNERS, 2, "u3")  # on probation: forwards are locked, so it is decided
    channel = decided(world.engine, joiner, forward)
    assert api_label(ops, channel, "spam").status_code == 200
    (taught,) = ops.get("/api/moderation/contacts").json()
    assert (taught["kind"], taught["value"], taught["decision_id"]) == (
        "telegram",
        "fuli_vip",
        channel,
    )


def read_by_a_model(world: World, mode: Mode, reply: str) -> None:
    """ "代购 加V" in RUNNERS, a question the language model (answering `reply`) reads."""
    from qunzhu.engine.opinions import SecondOpinions

    policy = ModerationPolicy(Detector(), Ladder(mode), second_opinion="questions")
    rt = Runtime(world.engine, Setups({("tg", RUNNERS.platform_id): GroupSetup([policy])}))
    rt.opinions = SecondOpinions(rt.accept, lambda chat: reply, "deepseek-chat")
    rt.accept(msg(RUNNERS, 1, "代购 加V", who="u8"))
    rt.process()
    rt.opinions.wait()
    rt.process()
    rt.opinions.close()


def test_the_language_models_reading_is_shown_with_the_question(app: FastAPI, world: World) -> None:
    """A question the language model was unsure of goes to the queue as before, with what it
    said: its reading, in the reader's language, and its reason."""
    read_by_a_model(
        world, Mode.TRAINING, '{"label": "ad", "confidence": 0.6, "reason": "像在招揽代购"}'
    )
    page = as_user(app, "ops").get("/moderation?lang=zh").text
    assert "大模型复核" in page and "判断</span>: 广告" in page and "像在招揽代购" in page
    assert "deepseek-chat" in page


def test_what_the_model_spared_can_be_looked_at_again(app: FastAPI, world: World) -> None:
    """Questions the language model read as normal asked nobody; they are listed for 30 days
    (大模型放行), and a person's "spam" there deletes the message as in the queue."""
    reply = '{"label": "normal", "confidence": 0.9, "reason": "在问代购的事"}'
    ops = as_user(app, "ops")
    queue_before = waiting_on(ops.get("/moderation").text, "queue")
    assert waiting_on(ops.get("/moderation").text, "spared") == 0
    read_by_a_model(world, Mode.ENFORCE, reply)
    assert "代购 加V" not in ops.get("/moderation?lang=zh").text  # nobody was asked
    # the operator is told there is something to look at, on the tab and on the overview
    assert waiting_on(ops.get("/moderation").text, "spared") == 1
    assert waiting_on(ops.get("/moderation").text, "queue") == queue_before
    overview = ops.get("/?lang=zh").text
    assert "1 条大模型放行的消息待复查" in overview and 'href="/moderation?tab=spared"' in overview
    page = ops.get("/moderation?tab=spared&lang=zh").text
    assert "大模型放行" in page and "在问代购的事" in page and "代购 加V" in page
    spared = last_id(world.engine, t.decisions)
    after = last_id(world.engine, t.outbox)
    answered = press(ops, spared, "spam", tab="spared")
    assert answered.status_code == 303 and "tab=spared" in answered.headers["location"]
    assert [a["kind"] for a in actions_of(world.engine, spared, after)] == ["delete"]
    assert label_row(world.engine, spared).label == "spam"
    assert "代购 加V" not in ops.get("/moderation?tab=spared").text  # answered: off the list
    assert waiting_on(ops.get("/moderation").text, "spared") == 0
    assert "待复查" not in ops.get("/?lang=zh").text


def waiting_on(page: str, tab: str) -> int:
    """The count a moderation tab shows of what waits on it (0 where it shows none)."""
    found = re.search(rf'data-count="{tab}">(\d+)<', page)
    return int(found.group(1)) if found else 0
