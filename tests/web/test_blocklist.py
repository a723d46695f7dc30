"""The community blocklist in the console: the answers that block and unblock, the member's
page, the list page and the API, with isolation between communities and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from qunzhu.moderation.enforcement import Mode
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.feedback import labelled, labels_since
from qunzhu.store import schema as t
from qunzhu.store.ingest import now_ms
from tests.web.conftest import World, csrf
from tests.web.test_moderation import (
    AD,
    BANNING,
    GAMBLING,
    LINK,
    RUNNERS,
    actions_of,
    api_label,
    as_user,
    decided,
    feed,
    msg,
    press,
    runtime,
)


def listed(engine: Engine) -> list[tuple[str, str, str | None]]:
    b, m = t.blocklist, t.members
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.c.external_id, b.c.reason, b.c.added_by)
            .join(m, m.c.id == b.c.member_id)
            .order_by(m.c.external_id)
        ).all()
    return [tuple(r) for r in rows]


def member_id(engine: Engine, external: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(t.members.c.id).where(t.members.c.external_id == external)
        ).scalar_one()


def community_id(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(t.communities.c.id).where(t.communities.c.name == name)
        ).scalar_one()


def audited(engine: Engine, action: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.audit_log.c.details).where(t.audit_log.c.action == action)
        ).scalars()
        return [orjson.loads(r) for r in rows]


def test_ban_only_blocks_and_an_upheld_appeal_unblocks(app: FastAPI, world: World) -> None:
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    ops = as_user(app, "ops")
    assert press(ops, review, "ban_only", note="到处拉人进群").status_code == 303
    assert listed(world.engine) == [("u9", "到处拉人进群", "ops")]
    (answer,) = audited(world.engine, "moderation_label")
    assert answer["blocked"] == 1

    # a ban the engine enforced blocks too; overturning it takes the member off the list
    (ban,) = feed(
        runtime(world.engine, Mode.ENFORCE, Detector(BANNING)), msg(RUNNERS, 2, GAMBLING, who="u7")
    )
    assert [e[0] for e in listed(world.engine)] == ["u7", "u9"]
    reply = api_label(ops, ban, "appeal_upheld")
    assert reply.status_code == 200 and reply.json()["blocked"] == -1
    assert [a["kind"] for a in actions_of(world.engine, ban)][-1] == "unban"
    assert [e[0] for e in listed(world.engine)] == ["u9"]


def test_spam_where_enforce_would_ban_blocks(app: FastAPI, world: World) -> None:
    held = decided(world.engine, msg(RUNNERS, 1, GAMBLING), detector=Detector(BANNING))
    reply = api_label(as_user(app, "ops"), held, "spam")
    assert reply.json()["queued"] == ["delete", "ban"] and reply.json()["blocked"] == 1
    assert listed(world.engine) == [("u9", GAMBLING, "ops")]  # no note: the message says why
    assert (
        api_label(as_user(app, "ops"), decided(world.engine, msg(RUNNERS, 2, AD)), "spam").json()[
            "blocked"
        ]
        == 0
    )  # a delete is not a ban


def test_keeping_out_in_training_mode_teaches_nothing(app: FastAPI, world: World) -> None:
    ops = as_user(app, "ops")
    assert press(ops, decided(world.engine, msg(RUNNERS, 1, LINK)), "ban_only").status_code == 303
    held = decided(world.engine, msg(RUNNERS, 2, "今天天气不错"))  # the blocked member again
    reply = api_label(ops, held, "spam")
    assert reply.json()["queued"] == ["delete", "kick"]
    with world.engine.connect() as conn:
        # "今天天气不错" is not an ad, whoever wrote it
        assert labelled(labels_since(conn, None)) == []


def test_a_group_that_does_not_share_bans_blocks_nobody(app: FastAPI, world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            t.group_settings.insert().values(
                group_id=world.runners,
                policies=orjson.dumps({"moderation": {"blocklist": False}}).decode(),
                updated_at=now_ms(),
                updated_by="root",
            )
        )
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    reply = api_label(as_user(app, "ops"), review, "ban_only")
    assert reply.json()["queued"] == ["ban"] and reply.json()["blocked"] == 0
    assert listed(world.engine) == []


def test_block_and_unblock_from_the_members_page(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    ops = as_user(app, "ops")
    runner, runners = member_id(world.engine, "run1"), community_id(world.engine, "跑团")
    page = ops.get(f"/members/{runner}").text
    assert "不在「跑团」的黑名单上" in page and "加入本社群黑名单" in page
    form = {
        "change": "add",
        "community_id": runners,
        "member_id": runner,
        "csrf_token": csrf(ops, f"/members/{runner}"),
    }

    assert ops.post("/moderation/blocklist", data={**form, "reason": "   "}).status_code == 422
    assert ops.post("/moderation/blocklist", data={**form, "change": "x"}).status_code == 422
    assert listed(world.engine) == []
    done = ops.post(
        "/moderation/blocklist", data={**form, "reason": " 骚扰 女生 "}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/members/{runner}"
    assert listed(world.engine) == [("run1", "骚扰 女生", "ops")]
    assert "已在「跑团」的黑名单上：骚扰 女生" in ops.get(f"/members/{runner}").text
    api = ops.get(f"/api/members/{runner}").json()["blocklist"]
    assert api == [{"community_id": runners, "community": "跑团", "reason": "骚扰 女生"}]

    listing = ops.get("/moderation/blocklist?lang=en").text
    assert "Who is kept out of your communities" in listing and f'data-member="{runner}"' in listing
    assert "跑团一群" not in listing  # a person's block began in no group
    gone = ops.post(
        "/moderation/blocklist",
        data={**form, "change": "remove", "back": "list"},
        follow_redirects=False,
    )
    assert gone.status_code == 303 and gone.headers["location"] == "/moderation/blocklist"
    assert listed(world.engine) == []
    assert [a.get("reason") for a in audited(world.engine, "blocklist.add")] == ["骚扰 女生"]
    assert len(audited(world.engine, "blocklist.remove")) == 1
    assert "Nobody is on a blocklist." in ops.get("/moderation/blocklist").text  # en since ?lang


def test_the_api_and_who_may_do_what(app: FastAPI, world: World) -> None:
    ops, eye, root = (as_user(app, n) for n in ("ops", "eye", "root"))
    runner, reader = member_id(world.engine, "run0"), member_id(world.engine, "read0")
    runners, readers = community_id(world.engine, "跑团"), community_id(world.engine, "读书会")
    headers = {"X-CSRF-Token": csrf(ops, "/moderation")}

    def put(client, community: int, member: int, body: dict[str, Any], **kw: Any):  # type: ignore[no-untyped-def]
        return client.put(f"/api/blocklist/{community}/{member}", json=body, **kw)

    first = put(ops, runners, runner, {"blocked": True, "reason": "刷屏"}, headers=headers)
    assert first.json() == {
        "community_id": runners,
        "member_id": runner,
        "blocked": True,
        "changed": True,
    }
    again = put(ops, runners, runner, {"blocked": True, "reason": "又刷屏"}, headers=headers)
    assert again.json()["changed"] is False and listed(world.engine) == [("run0", "刷屏", "ops")]
    (row,) = ops.get("/api/blocklist").json()["blocked"]
    assert (row["name"], row["added_by"], row["group_id"]) == ("run0", "ops", None)

    # another community's member, a community the operator does not see, a viewer, no token
    block = {"blocked": True, "reason": "x"}
    assert put(ops, readers, reader, block, headers=headers).status_code == 404
    assert put(ops, runners, reader, block, headers=headers).status_code == 404
    root_headers = {"X-CSRF-Token": csrf(root, "/moderation")}
    # an admin sees both communities, but run0 was never in 读书会's groups
    assert put(root, readers, runner, block, headers=root_headers).status_code == 404
    assert eye.get("/api/blocklist").json() == {"blocked": []}
    eye_headers = {"X-CSRF-Token": csrf(eye, "/moderation")}
    assert put(eye, runners, runner, {"blocked": False}, headers=eye_headers).status_code == 403
    assert put(ops, runners, runner, {"blocked": False}).status_code == 403  # no CSRF token
    for bad in (
        {"blocked": True},
        {"blocked": True, "reason": ""},
        {"blocked": True, "reason": " \u0085 "},
        {"blocked": True, "reason": "x" * 1001},
        {"blocked": True, "reason": "x", "more": 1},
        {"reason": "x"},
    ):
        assert put(ops, runners, reader, bad, headers=headers).status_code == 422, bad
    assert len(listed(world.engine)) == 1

    out = put(ops, runners, runner, {"blocked": False}, headers=headers)
    assert out.json() == {
        "community_id": runners,
        "member_id": runner,
        "blocked": False,
        "changed": True,
    }
    assert put(ops, runners, runner, {"blocked": False}, headers=headers).json()["changed"] is False
    assert listed(world.engine) == []


def test_a_running_engine_keeps_out_whom_a_person_blocked(app: FastAPI, world: World) -> None:
    from qunzhu import service
    from qunzhu.config import parse
    from qunzhu.engine.runtime import Runtime
    from tests.web.test_settings import TG_ONLY, until

    group = {"name": "跑团一群", "community": "跑团", "connector": "tg", "id": RUNNERS.platform_id}
    policies = {"moderation": {"mode": "enforce"}}
    groups = [{**group, "policies": policies}]
    config = parse({**TG_ONLY, "communities": [{"name": "跑团"}], "groups": groups})
    runtime = Runtime(world.engine, service.setups(config))
    ops = as_user(app, "ops")
    runner, runners = member_id(world.engine, "run1"), community_id(world.engine, "跑团")
    form = {"change": "add", "community_id": runners, "member_id": runner, "reason": "骚扰"}

    def kicked() -> list[str]:
        d = t.decisions
        with world.engine.connect() as conn:
            rows = conn.execute(select(d.c.reasons).where(d.c.member == "run1")).scalars()
            return [orjson.loads(r)["step"] for r in rows]

    async def scenario() -> None:
        watcher = asyncio.create_task(
            service.watch_settings(runtime, config, world.engine, every_s=0.01)
        )
        try:
            await until(lambda: bool(runtime.setups.of("tg", RUNNERS.platform_id).policies))
            token = csrf(ops, f"/members/{runner}")
            assert (
                ops.post("/moderation/blocklist", data={**form, "csrf_token": token}).status_code
                == 200
            )
            await until(lambda: kicked() == ["kick"])
            await asyncio.sleep(0.1)  # more looks of the watcher sweep nothing twice
        finally:
            watcher.cancel()

    asyncio.run(scenario())
    assert kicked() == ["kick"]
    assert [a["kind"] for a in outbox_of(world.engine)] == ["kick"]


def outbox_of(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [orjson.loads(p) for p in conn.execute(select(t.outbox.c.payload)).scalars()]


def test_someone_blocked_before_they_came_can_be_taken_off(app: FastAPI, world: World) -> None:
    from qunzhu.store import blocklist

    runners = community_id(world.engine, "跑团")
    with world.engine.begin() as conn:
        stranger = conn.execute(
            t.members.insert().values(platform="telegram", external_id="tg9999", provisional=False)
        ).inserted_primary_key[0]
        blocklist.add(conn, runners, stranger, "别的群的骗子", added_by="cli:root")
    ops = as_user(app, "ops")
    page = ops.get("/moderation/blocklist").text
    assert "tg9999" in page and f'href="/members/{stranger}"' not in page  # no page to go to
    token = csrf(ops, "/moderation/blocklist")
    data = {"change": "remove", "community_id": runners, "member_id": stranger, "back": "list"}
    gone = ops.post(
        "/moderation/blocklist", data={**data, "csrf_token": token}, follow_redirects=False
    )
    assert gone.status_code == 303 and listed(world.engine) == []
    # taking someone off a community the operator does not see is still refused
    readers = community_id(world.engine, "读书会")
    refused = ops.post(
        "/moderation/blocklist", data={**data, "community_id": readers, "csrf_token": token}
    )
    assert refused.status_code == 404


def test_the_files_setting_counts_when_the_console_runs_with_it(world: World) -> None:
    """`qunzhu serve` with a qunzhu.toml where the group does not share bans: a ban answered
    in the console blocks nobody."""
    from qunzhu.config import parse
    from qunzhu.web.app import create_app
    from tests.web.test_settings import TG_ONLY

    group = {"name": "跑团一群", "community": "跑团", "connector": "tg", "id": RUNNERS.platform_id}
    group["policies"] = {"moderation": {"blocklist": False}}
    config = parse({**TG_ONLY, "communities": [{"name": "跑团"}], "groups": [group]})
    app = create_app(world.engine, "test-secret", config=config)
    review = decided(world.engine, msg(RUNNERS, 1, LINK))
    reply = api_label(as_user(app, "ops"), review, "ban_only")
    assert reply.status_code == 200 and reply.json()["blocked"] == 0
    assert listed(world.engine) == []


def test_forgotten_members_still_kept_out_are_counted_not_listed(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qunzhu.store import blocklist
    from qunzhu.store.privacy import forget_member

    runners, readers = community_id(world.engine, "跑团"), community_id(world.engine, "读书会")
    with world.engine.begin() as conn:
        for ref, community in (("tg9999", runners), ("tg9998", runners), ("tg9997", readers)):
            stranger = conn.execute(
                t.members.insert().values(platform="telegram", external_id=ref, provisional=False)
            ).inserted_primary_key[0]
            blocklist.add(conn, community, stranger, "骗子", added_by="cli:root")
            forget_member(conn, stranger)
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    page = as_user(app, "ops").get("/moderation/blocklist").text
    assert "tg9999" not in page and "黑名单上还没有人" in page
    assert "跑团 仍挡在门外的已删除数据的成员：2 人" in page
    assert "读书会" not in page  # ops does not see that community, nor its count
