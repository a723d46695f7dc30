"""The WeCom connector: following the message archive's file as the puller appends to it, and
telling a group's owner through the corp's app (the API stood in for by httpx's mock
transport)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, select

from qunzhu.connectors import wecom
from qunzhu.connectors.wecom import WeComConnector
from qunzhu.engine import outbox
from qunzhu.engine.policies import ModerationPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.model import JoinMethod, MembershipAction, MembershipEvent, MessageKind, Person
from qunzhu.model.live import Action, ActionFailed, ActionKind, LiveEvent, RateLimited
from qunzhu.moderation.behaviour import TrustBook
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.store import schema as t

from .fake_wecom import (
    AT_MS,
    AT_S,
    ENCODING_AES_KEY,
    ROOM,
    TOKEN,
    FakeWeCom,
    app,
    change,
    encrypt,
    line,
    post,
    signed,
)


def recall(msgid: str, of: str) -> bytes:
    obj = {"msgid": msgid, "action": "recall", "from": "wmA", "roomid": ROOM, "msgtime": AT_MS,
           "msgtype": "revoke", "revoke": {"pre_msgid": of}}  # fmt: skip
    return json.dumps(obj).encode() + b"\n"


def read(connector: WeComConnector, offset: int | None) -> tuple[list[LiveEvent], int | None]:
    got: list[LiveEvent] = []

    async def emit(event: LiveEvent) -> None:
        got.append(event)

    async def main() -> int | None:
        try:
            return await connector.read_new(offset, emit)
        finally:
            await connector.close()

    return got, asyncio.run(main())


def no_calls(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no call expected: {request.url}")


def reader(path: Path) -> WeComConnector:
    return WeComConnector("wecom", path, transport=httpx.MockTransport(no_calls))


def test_new_complete_lines_are_followed_from_where_it_left_off(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(line("old1", "wmOld") + line("old2", "wmOld"))
    events, offset = read(reader(archive), None)  # the first start begins at the end
    assert events == [] and offset == archive.stat().st_size
    kept = reader(archive).offset_file.read_text().split()  # the place, in which file
    assert kept == [str(offset), str(archive.stat().st_ino)]

    with archive.open("ab") as fh:
        fh.write(line("m1", "wmCustomer", content="兼职日结，加V abc12345"))
        fh.write(line("m2", "zhangsan", content="周六七点集合"))  # staff
        fh.write(line("m3", "wmCustomer", "weapp", title="点击领取红包", username="gh_x@app"))
        fh.write(recall("m4", of="m1"))  # a recall is no event
        fh.write(line("m5", "wmCustomer", room=""))  # a 1:1 chat is no group's
        fh.write(b"{not json\n")
        fh.write(line("m6", "wmCustomer")[:40])  # still being written
    events, offset = read(reader(archive), offset)
    assert [(e.record.platform_id, e.role, e.kinds) for e in events] == [
        ("m1", "member", frozenset()),
        ("m2", "admin", frozenset()),
        ("m3", "member", frozenset({"mini_program"})),
    ]
    first = events[0]
    assert first.record.sender == Person("wmCustomer") and first.group.platform_id == ROOM
    assert first.group.name == ROOM  # no app to ask groupchat/get: the id names it
    assert first.record.kind is MessageKind.TEXT and first.said() == "兼职日结，加V abc12345"

    with archive.open("ab") as fh:
        fh.write(line("m6", "wmCustomer")[40:])  # the rest of the line
    restarted = reader(archive)  # a new process: the place comes from the offset file
    events, offset = read(restarted, restarted._load_offset())
    assert [e.record.platform_id for e in events] == ["m6"]
    assert offset == archive.stat().st_size


def test_a_file_that_got_shorter_is_read_from_its_start(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(line("a1", "wmA") * 3)
    _, offset = read(reader(archive), None)
    archive.write_bytes(line("b1", "wmB"))  # rotated: a new, shorter file
    events, _ = read(reader(archive), offset)
    assert [e.record.platform_id for e in events] == ["b1"]


def poll(connector: WeComConnector, offset: int | None) -> tuple[list[str], int | None]:
    """One look at the file by a connector that goes on running: its file stays open."""
    got: list[str] = []

    async def emit(event: LiveEvent) -> None:
        got.append(event.record.platform_id)

    return got, asyncio.run(connector.read_new(offset, emit))


def polls(connector: WeComConnector, offset: int | None, n: int) -> tuple[list[str], int | None]:
    seen: list[str] = []
    for _ in range(n):
        got, offset = poll(connector, offset)
        seen += got
    return seen, offset


def test_the_last_lines_before_a_rotation_are_read_and_then_the_new_file(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(line("a1", "wmA") * 3)
    connector = reader(archive)
    try:
        _, offset = poll(connector, None)
        with archive.open("ab") as fh:  # written after the last look, before the rotation
            fh.write(line("a2", "wmA") + line("a3", "wmA")[:-1])  # a moved file's end is whole
        archive.rename(tmp_path / "archive.jsonl.1")  # logrotate's way: moved, a new file made
        archive.write_bytes(line("b1", "wmB"))
        seen, offset = polls(connector, offset, 3)
        with archive.open("ab") as fh:
            fh.write(line("b2", "wmB"))
        got, offset = poll(connector, offset)
    finally:
        asyncio.run(connector.close())
    assert seen + got == ["a2", "a3", "b1", "b2"]
    assert offset == archive.stat().st_size


def test_a_new_file_already_past_the_old_place_is_read_from_its_start(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(line("a1", "wmA"))
    connector = reader(archive)
    try:
        _, offset = poll(connector, None)
        archive.rename(tmp_path / "archive.jsonl.1")
        archive.write_bytes(b"".join(line(f"b{n}", "wmB") for n in range(1, 4)))  # longer
        seen, offset = polls(connector, offset, 3)
    finally:
        asyncio.run(connector.close())
    assert seen == ["b1", "b2", "b3"]
    assert offset == archive.stat().st_size


def test_a_place_kept_by_an_earlier_version_is_still_followed(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(line("a1", "wmA"))
    restarted = reader(archive)
    restarted.offset_file.write_text(str(archive.stat().st_size))  # the offset alone
    with archive.open("ab") as fh:
        fh.write(line("a2", "wmA"))
    events, offset = read(restarted, restarted._load_offset())
    assert [e.record.platform_id for e in events] == ["a2"]
    kept = restarted.offset_file.read_text().split()  # kept again with the file's identity
    assert kept == [str(offset), str(archive.stat().st_ino)]


def test_a_start_that_finds_another_file_reads_it_from_its_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(line("a1", "wmA"))
    read(reader(archive), None)  # stopped here
    archive.rename(tmp_path / "archive.jsonl.1")  # rotated while stopped; the new file is
    archive.write_bytes(b"".join(line(f"b{n}", "wmB") for n in range(1, 4)))  # past the place
    restarted = reader(archive)
    try:
        with caplog.at_level(logging.WARNING, logger="qunzhu.connectors.wecom"):
            seen, offset = polls(restarted, restarted._load_offset(), 3)
    finally:
        asyncio.run(restarted.close())
    assert seen == ["b1", "b2", "b3"]
    assert offset == archive.stat().st_size
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(told) == 1 and str(archive) in told[0]


def test_a_missing_file_waits_and_an_engine_failure_reads_the_lines_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive.jsonl"
    monkeypatch.setattr(wecom, "RETRY_S", 0.01)
    connector = WeComConnector(
        "wecom", archive, poll_s=0.01, transport=httpx.MockTransport(no_calls)
    )
    connector._save_offset(0)  # a place kept from before the file appeared
    got: list[str] = []
    failures = [RuntimeError("the store is down")]

    async def emit(event: LiveEvent) -> None:
        if failures:
            raise failures.pop()
        got.append(event.record.platform_id)

    async def main() -> None:
        task = asyncio.create_task(connector.run(emit))
        await asyncio.sleep(0.05)  # no file yet: nothing, no crash
        archive.write_bytes(line("m1", "wmA") + line("m2", "wmA"))
        for _ in range(200):
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert got == ["m1", "m2"]


def notify(group_id: str = ROOM, n: int = 1) -> Action:
    text = "wmCustomer 发了广告（兼职日结，加V abc12345），请处理"
    return Action(n, ActionKind.NOTIFY_OWNER, "wecom", group_id, "wmCustomer", text=text)


def test_the_owner_is_told_through_the_app_and_the_group_named(tmp_path: Path) -> None:
    fake = FakeWeCom()
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(b"")
    connector = app(fake, archive)
    assert connector.capabilities == {ActionKind.NOTIFY_OWNER}

    async def main() -> list[LiveEvent]:
        got: list[LiveEvent] = []

        async def emit(event: LiveEvent) -> None:
            got.append(event)

        try:
            archive.write_bytes(
                line("m1", "wmCustomer")
                + line("m2", "wmOld")
                + line("m3", "wmCustomer")
                + line("m4", "wmNew")  # not listed yet: read again a minute on, not now
            )
            await connector.read_new(0, emit)
            await connector.execute(notify())
            fake.send_errors = [42001]  # the token expired meanwhile: a new one, once
            await connector.execute(notify(n=2))
            fake.send_errors = [45009]
            with pytest.raises(RateLimited):
                await connector.execute(notify(n=3))
            fake.send_errors = [60020]  # the server's address is not allowed: for good
            with pytest.raises(ActionFailed) as refused:
                await connector.execute(notify(n=4))
            assert not refused.value.retry and "60020" in str(refused.value)
            with pytest.raises(ActionFailed):  # an internal group: groupchat/get knows no owner
                await connector.execute(notify("wrInternal", n=5))
            with pytest.raises(ActionFailed):  # nothing but telling the owner
                await connector.execute(Action(6, ActionKind.KICK, "wecom", ROOM, "wmCustomer"))
            return got
        finally:
            await connector.close()

    events = asyncio.run(main())
    assert {e.group.name for e in events} == {"跑团客户群"}
    joined, *said = events
    assert joined.record == MembershipEvent(
        f"join:{ROOM}:wmCustomer:{AT_S - 600}",
        Person("wmCustomer", "兼职日结加V"),  # an ad in a name: judged at the join
        MembershipAction.JOIN,
        datetime.fromtimestamp(AT_S - 600, UTC),
        JoinMethod.LINK,
    )
    assert [e.record.sender for e in said] == [  # type: ignore[union-attr]
        Person("wmCustomer", "兼职日结加V"),
        Person("wmOld", "上海-跑步-老王"),  # joined a month ago: no join handed on
        Person("wmCustomer", "兼职日结加V"),  # the join once only
        Person("wmNew", None),
    ]
    sent = [body for path, body in fake.calls if path == "/cgi-bin/message/send"]
    assert sent[0] == {
        "touser": "lisi",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {
            "content": "【跑团客户群】兼职日结加V: wmCustomer 发了广告（兼职日结，加V abc12345），"
            "请处理\nPlease deal with it in WeCom (recall the message or remove the member); "
            "the qunzhu console shows why."
        },
    }
    assert fake.tokens == 2  # one at first, one after 42001
    groups = [b["chat_id"] for p, b in fake.calls if p.endswith("groupchat/get")]
    assert groups == [ROOM, "wrInternal"]  # each group read once (an hour)


def test_without_the_app_it_only_reads(tmp_path: Path) -> None:
    connector = reader(tmp_path / "archive.jsonl")
    assert connector.capabilities == frozenset()
    with pytest.raises(ActionFailed):
        asyncio.run(connector.execute(notify()))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (Mode.TRAINING, {"notify_owner": outbox.DONE}),  # the owner is asked at once
        (Mode.ENFORCE, {"delete": outbox.TASK, "warn": outbox.TASK}),  # a person acts
    ],
)
def test_an_ad_in_a_customer_group_reaches_its_owner_or_a_person(
    engine: Engine, tmp_path: Path, mode: Mode, expected: dict[str, str]
) -> None:
    fake = FakeWeCom()
    archive = tmp_path / "archive.jsonl"
    connector = app(fake, archive)
    moderation = ModerationPolicy(Detector(trust=TrustBook()), Ladder(mode))
    setups = Setups({("wecom", ROOM): GroupSetup([moderation])})
    rt = Runtime(engine, setups, {"wecom": connector})
    ad = "兼职日结，日赚300，加V abc12345 详聊"
    archive.write_bytes(line("m1", "wmCustomer", content=ad) + line("m2", "zhangsan", content=ad))

    async def main() -> None:
        async def emit(event: LiveEvent) -> None:
            rt.accept(event)

        try:
            await connector.read_new(0, emit)
            rt.process()
            await rt.executor.drain()
        finally:
            await connector.close()

    asyncio.run(main())
    with engine.connect() as conn:
        decided = conn.execute(select(t.decisions.c.member, t.decisions.c.verdict)).all()
        queued = conn.execute(select(t.outbox.c.kind, t.outbox.c.status)).all()
    assert [d.member for d in decided] == ["wmCustomer"]  # staff saying the same: not judged
    assert {q.kind: q.status for q in queued} == expected
    told = [b for p, b in fake.calls if p == "/cgi-bin/message/send"]
    if mode is Mode.TRAINING:
        (sent,) = told
        assert sent["touser"] == "lisi" and sent["text"]["content"].startswith("【跑团客户群】")
        assert "abc12345" in sent["text"]["content"]
    else:
        assert told == []


# ---- callbacks: joins and leaves ----------------------------------------------------------


def callbacks(fake: FakeWeCom, path: Path) -> WeComConnector:
    return app(fake, path, callback_token=TOKEN, callback_aes_key=ENCODING_AES_KEY)


def test_the_callback_url_is_checked_and_only_wecom_is_answered(tmp_path: Path) -> None:
    connector = callbacks(FakeWeCom(), tmp_path / "archive.jsonl")
    echo = encrypt(b"1234567890")

    async def ask(method: str, query: dict[str, str], body: bytes = b"") -> tuple[int, str]:
        async def emit(event: LiveEvent) -> None:
            raise AssertionError("nothing to hand on")

        return await connector.handle_callback(method, query, body, emit)

    async def main() -> list[tuple[int, str]]:
        async with TestClient(TestServer(connector.callback_app(lambda e: None))) as client:
            served = await client.get("/wecom", params=signed(echo, echostr=echo))
            through_http = (served.status, await served.text())
        forged = signed(echo, echostr=echo) | {"msg_signature": "0" * 40}
        other_corp = encrypt(change("add_member", "wmX"), corp="ww9999")
        try:
            return [
                through_http,
                await ask("GET", forged),
                await ask("POST", signed(other_corp), post(other_corp)),
                await ask("POST", signed("x"), b"not xml"),
            ]
        finally:
            await connector.close()

    assert asyncio.run(main()) == [(200, "1234567890"), (403, ""), (400, ""), (400, "")]
    plain = reader(tmp_path / "archive.jsonl")
    assert asyncio.run(plain.handle_callback("GET", {}, b"", None)) == (404, "")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="43 characters"):
        WeComConnector(
            "wecom",
            tmp_path / "a.jsonl",
            corp_id="ww1234",
            agent_id=1,
            secret="s",
            callback_token=TOKEN,
            callback_aes_key="too short",
        )


def test_joins_and_leaves_come_from_the_callback_once(tmp_path: Path) -> None:
    fake = FakeWeCom()
    archive = tmp_path / "archive.jsonl"
    connector = callbacks(fake, archive)
    new = {"userid": "wmNew", "type": 2, "join_time": AT_S + 100, "join_scene": 3, "name": "新朋友"}
    got: list[LiveEvent] = []

    async def emit(event: LiveEvent) -> None:
        got.append(event)

    async def tell(body: bytes) -> tuple[int, str]:
        encrypted = encrypt(body)
        return await connector.handle_callback("POST", signed(encrypted), post(encrypted), emit)

    async def main() -> list[tuple[int, str]]:
        try:
            answers = [await tell(change("add_member"))]  # the list read first: no change yet
            fake.members.append(new)
            answers.append(await tell(change("add_member", "wmNew")))
            archive.write_bytes(line("m1", "wmNew"))  # their first message: no second join
            await connector.read_new(0, emit)
            fake.members = [m for m in fake.members if m["userid"] != "wmOld"]
            answers.append(await tell(change("del_member", quit_scene=1)))  # no list: a diff
            return answers
        finally:
            await connector.close()

    assert asyncio.run(main()) == [(200, "success")] * 3
    joined, said, kicked = got
    assert joined.record == MembershipEvent(
        f"join:{ROOM}:wmNew:{AT_S + 100}",
        Person("wmNew", "新朋友"),
        MembershipAction.JOIN,
        datetime.fromtimestamp(AT_S + 100, UTC),
        JoinMethod.LINK,
    )
    assert joined.group.name == "跑团客户群" and joined.role == "member"
    assert said.record.platform_id == "m1"
    assert kicked.record == MembershipEvent(
        f"quit:{ROOM}:wmOld:1767225700",
        Person("wmOld", "上海-跑步-老王"),
        MembershipAction.KICK,
        datetime.fromtimestamp(1767225700, UTC),
    )


def test_a_callback_the_engine_could_not_take_is_asked_for_again(tmp_path: Path) -> None:
    fake = FakeWeCom()
    connector = callbacks(fake, tmp_path / "archive.jsonl")
    encrypted = encrypt(change("add_member", "wmCustomer"))

    async def emit(event: LiveEvent) -> None:
        raise RuntimeError("the store is down")

    async def main() -> tuple[int, str]:
        try:
            return await connector.handle_callback("POST", signed(encrypted), post(encrypted), emit)
        finally:
            await connector.close()

    assert asyncio.run(main()) == (500, "")  # WeCom calls again
