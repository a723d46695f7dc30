"""The platform's own join and leave messages (Telegram's service messages): handed on as
notices, taken down where the group asks, never stored, unseen by the other policies. On
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Engine, func, select

from qunzhu.config import PolicySettings
from qunzhu.engine.policies import NoticePolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.model import Group, MembershipAction, MembershipEvent, Person, Platform
from qunzhu.model.live import LiveEvent, Notice
from qunzhu.service import policies_of
from qunzhu.store import schema as t

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
GROUP = Group(Platform.TELEGRAM, "-1001", "跑团一群")
NEWCOMER = Person("user7", "小林")


def join_told_twice(s: int) -> list[LiveEvent]:
    """A join as Telegram tells it: the change, and the service message saying so."""
    at = T0 + timedelta(seconds=s)
    change = MembershipEvent(f"cm:{s}", NEWCOMER, MembershipAction.JOIN, at)
    notice = Notice(str(500 + s), NEWCOMER, at, MembershipAction.JOIN)
    return [LiveEvent("tg", GROUP, change), LiveEvent("tg", GROUP, notice)]


def run(engine: Engine, settings: dict[str, object], events: list[LiveEvent]) -> Runtime:
    policies = policies_of(PolicySettings.model_validate(settings))
    rt = Runtime(engine, Setups({("tg", GROUP.platform_id): GroupSetup(policies)}))
    for event in events:
        rt.accept(event)
    rt.process()
    return rt


def test_a_group_that_asks_has_the_notice_taken_down(engine: Engine) -> None:
    settings = {"moderation": {"mode": "enforce", "delete_notices": True}, "welcome": {}}
    assert isinstance(policies_of(PolicySettings.model_validate(settings))[0], NoticePolicy)
    run(engine, settings, join_told_twice(0))
    with engine.connect() as conn:
        decided = conn.execute(select(t.decisions.c.policy, t.decisions.c.verdict)).all()
        actions = [
            (r.kind, orjson.loads(r.payload)["message_id"], orjson.loads(r.payload)["reason"])
            for r in conn.execute(select(t.outbox).order_by(t.outbox.c.id))
        ]
        stored = conn.execute(select(func.count()).select_from(t.messages)).scalar_one()
        events = conn.execute(select(func.count()).select_from(t.membership_events)).scalar_one()
    assert sorted(decided) == [("notices", "deleted"), ("welcome", "welcome")]
    assert ("delete", "500", "notice") in actions
    assert (stored, events) == (0, 1)  # the notice is not a message, the join is stored once


def test_by_default_notices_stay_and_nothing_else_reads_them(engine: Engine) -> None:
    settings = {
        "moderation": {"mode": "enforce"},
        "welcome": {},
        "captcha": {},
        "raid": {"joins": 2},
        "nickname": {},
        "auto_reply": {"answers": [{"keywords": ["加入"], "text": "欢迎"}]},
    }
    notice = join_told_twice(0)[1]
    run(engine, settings, [notice, notice])
    with engine.connect() as conn:
        assert conn.execute(select(t.decisions.c.policy)).all() == []
        assert conn.execute(select(t.outbox.c.id)).all() == []
