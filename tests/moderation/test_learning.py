"""A community's model learnt from the console's answers and its ordinary messages: what it
is trained on, training in a process of its own, and the learner keeping it current across a
restart and a forgotten member."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from qunzhu import service
from qunzhu.config import parse
from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.learning import (
    LEARN_FROM,
    ORDINARY_DAYS,
    REFRESH_S,
    Learner,
    community_groups,
    examples,
    read_learnt,
    sidecar,
    train_community,
)
from qunzhu.moderation.model import ContentModel
from qunzhu.moderation.verdicts import SPAM
from qunzhu.store import schema as t
from qunzhu.store.ingest import Ingest
from tests.conftest import labelled_decision

NOW = datetime.now(UTC)
CHAT = ["今天跑了{n}公里，膝盖有点酸", "周六早上{n}点集合，老地方见", "谁有第{n}期的照片？发群里"]
ADS = [
    "代购名牌包包{n}折，加微信 abc{n}详聊",
    "兼职刷单日结{n}元，私聊我",
    "低价出售会员{n}，加我 v{n}",
]


def ordinary(pid: str, n: int, text: str, age: timedelta) -> Message:
    who = Person(f"u{n % 7}", f"跑友{n % 7}")
    return Message(pid, who, NOW - age, MessageKind.TEXT, text)


def community(engine: Engine, spam: int = LEARN_FROM + 5, chat: int = 240) -> int:
    """跑团: `chat` ordinary messages of the last days, `spam` answers that said spam and two
    that said not spam; 读书会 next to it with its own chat."""
    records: list[Group | Message] = [Group(Platform.TELEGRAM, "-1001", "跑团一群")]
    records += [
        ordinary(f"c{i}", i, CHAT[i % 3].format(n=i), timedelta(hours=i)) for i in range(chat)
    ]
    records.append(ordinary("m0", 0, ADS[0].format(n=0), timedelta(minutes=5)))  # decided
    records.append(ordinary("old", 1, "很久以前的消息", timedelta(days=ORDINARY_DAYS + 1)))
    with engine.begin() as conn:
        Ingest(conn, "test", "memory", community="跑团").run(records)
        Ingest(conn, "test", "memory", community="读书会").run(
            [
                Group(Platform.TELEGRAM, "-1002", "读书会"),
                ordinary("r1", 1, "这本书真好", timedelta(0)),
            ]
        )
        (group,) = community_groups(conn, "跑团")
        for n in range(spam):
            labelled_decision(conn, group, "spam", ADS[n % 3].format(n=n), f"s{n}", n)
        for n in range(spam, spam + 2):
            labelled_decision(conn, group, "ham", "我的微信是 runner88，跑步的加我", f"h{n}", n)
    return group


def test_the_examples_are_the_answers_and_the_undisputed_messages(engine: Engine) -> None:
    group = community(engine)
    with engine.connect() as conn:
        assert community_groups(conn, None) == []
        found = examples(conn, [group], int(NOW.timestamp() * 1000))
    assert (found.spam, found.normal, found.ordinary) == (LEARN_FROM + 5, 2, 240)
    assert ADS[0].format(n=0) not in found.texts[found.spam + found.normal :]  # decided
    assert "很久以前的消息" not in found.texts and "这本书真好" not in found.texts
    assert found.enough
    assert sum(found.labels) == found.spam and len(found.labels) == len(found.texts)


def test_copies_of_confirmed_ads_are_not_learnt_as_normal(engine: Engine) -> None:
    """A campaign's copies posted before anyone answered are undisputed messages: learnt as
    normal they would teach the model the ad both ways. Copies alike to a confirmed ad, or
    giving one of its contacts, are left out; a member's own WeChat id people said was fine
    is not a confirmed contact, and ordinary chat stays."""
    group = community(engine)
    campaign = [
        ordinary("x1", 1, "兼职日结300元，加V：jobs2026a，名额有限！", timedelta(minutes=1)),
        ordinary("x2", 2, "jobs2026a 找我", timedelta(minutes=2)),
        ordinary("x3", 3, "我的微信是 runner88，跑步的加我", timedelta(minutes=3)),
    ]
    with engine.begin() as conn:
        Ingest(conn, "test", "memory", community="跑团").run(
            [Group(Platform.TELEGRAM, "-1001", "跑团一群"), *campaign]
        )
        labelled_decision(conn, group, "spam", "兼职日结300元，加V：jobs2026a，名额有限", "y1", 99)
        found = examples(conn, [group], int(NOW.timestamp() * 1000))
    normal = found.texts[found.spam + found.normal :]
    assert campaign[0].text not in normal and campaign[1].text not in normal
    assert campaign[2].text in normal and CHAT[0].format(n=0) in normal
    assert (found.ordinary, found.copies) == (241, 2)


def test_a_community_model_is_trained_and_removed_when_its_answers_go(
    engine: Engine, tmp_path: Path
) -> None:
    """On SQLite and PostgreSQL: the training process opens the store by its URL."""
    community(engine)
    url = engine.url.render_as_string(hide_password=False)
    target = tmp_path / "learnt" / "跑团.model"
    now_ms = int(NOW.timestamp() * 1000)
    learnt = train_community(url, "跑团", None, target, now_ms)
    assert learnt.trained and (learnt.spam, learnt.ordinary) == (LEARN_FROM + 5, 240)
    assert read_learnt(target) == learnt
    with engine.connect() as conn:  # what the console shows
        (shown,) = conn.execute(t.learnt_models.select()).all()
    assert (shown.community, shown.spam, shown.ordinary) == ("跑团", LEARN_FROM + 5, 240)
    detector = Detector(model=ContentModel.load(target))
    content = {c.name: c for c in detector.check("低价出售会员卡，加我 v777").checks}
    assert content["content_model"].verdict == SPAM
    assert detector.check("周日早上八点集合，老地方见").verdict != SPAM

    with engine.begin() as conn:  # a member forgotten takes their answers along
        conn.execute(delete(t.moderation_labels).where(t.moderation_labels.c.at >= 10))
    again = train_community(url, "跑团", None, target, now_ms)
    assert not again.trained and again.spam == 10
    assert not target.exists() and not sidecar(target).exists()
    with engine.connect() as conn:
        assert conn.execute(t.learnt_models.select()).all() == []


def test_the_learner_trains_in_the_background_and_keeps_it_across_a_restart(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    community(sqlite_engine)
    folder = tmp_path / "learnt"

    async def scenario() -> None:
        learner = Learner(folder)
        try:
            assert learner.model_for("跑团", None) is None
            assert await learner.poll(sqlite_engine, NOW.timestamp()) == []  # started
            assert await learner.settle() == ["跑团"]
            model = learner.model_for("跑团", None)
            assert model is not None
            assert await learner.poll(sqlite_engine, NOW.timestamp() + 5) == []
            assert await learner.settle() == []  # answers unchanged: nothing trained
            await learner.poll(sqlite_engine, NOW.timestamp() + REFRESH_S)  # a day on
            assert await learner.settle() == ["跑团"]  # the newer ordinary messages too
            model = learner.model_for("跑团", None)

            # the engine's setups: a learning group of 跑团 judges with it, others do not
            def detector_of(learn: bool) -> Detector:
                config = parse(
                    {
                        "connectors": {"tg": {"type": "telegram"}},
                        "communities": [{"name": "跑团"}],
                        "groups": [
                            {
                                "name": "跑团一群",
                                "connector": "tg",
                                "id": "-1001",
                                "community": "跑团",
                                "policies": {"moderation": {"learn": learn}},
                            }
                        ],
                    }
                )
                made = service.setups(config, tmp_path, learner=learner)
                (policy,) = made.of("tg", "-1001").policies
                return policy.detector

            assert detector_of(True).model is model
            assert detector_of(False).model is None and list(learner.bases) == []
        finally:
            learner.close()

        restarted = Learner(folder)
        try:
            assert restarted.model_for("跑团", None) is not None  # read from disk
            assert await restarted.poll(sqlite_engine, NOW.timestamp() + 10) == []
            assert await restarted.settle() == []  # trained at these answers already
            with sqlite_engine.begin() as conn:  # one answer forgotten: at once, not in an hour
                conn.execute(delete(t.moderation_labels).where(t.moderation_labels.c.at == 0))
            await restarted.poll(sqlite_engine, NOW.timestamp() + 20)
            assert await restarted.settle() == ["跑团"]
            assert restarted.model_for("跑团", None) is not None
        finally:
            restarted.close()

    asyncio.run(scenario())


def test_the_running_engine_judges_with_what_its_community_learnt(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """`watch_settings` trains 跑团's model in the background and hands the engine setups
    that judge with it; the model lies in learnt-models/ beside the configuration."""
    from qunzhu.engine.runtime import Runtime

    community(sqlite_engine)
    config = parse(
        {
            "connectors": {"tg": {"type": "telegram"}},
            "communities": [{"name": "跑团"}],
            "groups": [{"name": "跑团一群", "connector": "tg", "id": "-1001", "community": "跑团"}],
        }
    )
    runtime = Runtime(sqlite_engine, service.setups(config, tmp_path))

    def model() -> ContentModel | None:
        (policy,) = runtime.setups.of("tg", "-1001").policies
        return policy.detector.model

    async def scenario() -> None:
        watcher = asyncio.create_task(
            service.watch_settings(runtime, config, sqlite_engine, tmp_path, every_s=0.05)
        )
        try:
            for _ in range(2400):  # two minutes at most: a process starts and trains
                if model() is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    asyncio.run(scenario())
    assert model() is not None, "no model was learnt in two minutes"
    assert (tmp_path / service.LEARNT_DIR / "跑团.model").exists()
    decision = Detector(model=model()).check("低价出售会员卡，加我 v777")
    assert decision.verdict == SPAM


def test_a_new_base_model_makes_the_community_learn_again(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    import os

    community(sqlite_engine)
    base = tmp_path / "shared.model"
    ContentModel.train(ADS * 20 + CHAT * 20, [1] * 60 + [0] * 60).save(base)

    async def scenario() -> None:
        learner = Learner(tmp_path / "learnt")
        try:
            learner.model_for("跑团", base)
            await learner.poll(sqlite_engine, NOW.timestamp())
            assert await learner.settle() == ["跑团"]
            first = learner.model_for("跑团", base)
            assert first is not None and first.base is not None  # trained on top of it
            await learner.poll(sqlite_engine, NOW.timestamp() + 5)
            assert await learner.settle() == []
            later = base.stat().st_mtime_ns + 1_000_000_000
            os.utime(base, ns=(later, later))  # the operator trained the shared model again
            await learner.poll(sqlite_engine, NOW.timestamp() + 10)  # not an hour later
            assert await learner.settle() == ["跑团"]
            assert learner.model_for("跑团", base) is not first
        finally:
            learner.close()

    asyncio.run(scenario())


def test_a_training_that_fails_is_logged_not_retried_until_something_changes(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    community(sqlite_engine)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the models should go", encoding="utf-8")

    async def scenario() -> None:
        learner = Learner(blocked)
        try:
            learner.model_for("跑团", None)
            await learner.poll(sqlite_engine, NOW.timestamp())
            assert await learner.settle() == []  # failed: no model, no crash
            assert learner.model_for("跑团", None) is None
            await learner.poll(sqlite_engine, NOW.timestamp() + 7200)
            assert await learner.settle() == []  # the same answers: not tried again
        finally:
            learner.close()

    with caplog.at_level("ERROR"):
        asyncio.run(scenario())
    assert caplog.text.count("cannot train the model of community '跑团'") == 1
