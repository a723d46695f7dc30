"""A group's page lists its recent decisions in the reader's words: the member by name, linked
to their page, the step and the checks by what people call them, not the engine's ids."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from qunzhu.engine.policies import ModerationPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.model.live import LiveEvent
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from tests.web.conftest import World, login

RUNNERS = Group(Platform.TELEGRAM, "-1001", "跑团一群")
AD = "代购名牌包包，原单正品，加微信 abc12345 详聊"


def test_recent_decisions_read_as_people_say_them(client: TestClient, world: World) -> None:
    policy = ModerationPolicy(Detector(), Ladder(Mode.ENFORCE))
    rt = Runtime(world.engine, Setups({("tg", "-1001"): GroupSetup([policy])}))
    at = datetime(2026, 11, 25, 9, tzinfo=UTC)
    rt.accept(
        LiveEvent("tg", RUNNERS, Message("m1", Person("u77", "好物小王"), at, MessageKind.TEXT, AD))
    )
    rt.process()
    ops = login(client, "ops")
    english = ops.get(f"/groups/{world.runners}?lang=en").text
    assert "Delete and warn" in english and "delete_warn" not in english
    assert "Contacts and ad words" in english and "contacts_and_words" not in english
    assert ">好物小王</a>" in english and 'href="/members/' in english
    chinese = ops.get(f"/groups/{world.runners}?lang=zh").text
    assert "联系方式与广告词" in chinese and "删除并警告" in chinese
