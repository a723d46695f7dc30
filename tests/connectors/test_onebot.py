"""The OneBot v11 connector against a fake implementation speaking the protocol over real
WebSockets on loopback: events in, actions out, reconnects, reverse mode and access tokens.

No async test plugin is installed, so each test is a plain function running its coroutine with
`asyncio.run` (the `aio` decorator), under a 10 s limit."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from websockets.exceptions import InvalidStatus

from qunzhu.connectors.onebot import OneBotConnector, parse_message
from qunzhu.model import (
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.model.live import (
    Action,
    ActionFailed,
    ActionKind,
    Appeal,
    JoinRequest,
    LiveEvent,
    Reaction,
)

from .fake_onebot import SELF_ID, FakeOneBot, group_message, group_request, notice, seg

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 600  # 150 KB: more than one read
IMAGE_CAP = 200_000
GROUP = 987654321
AT = datetime(2026, 1, 1, tzinfo=UTC)  # 1767225600, the time the fake's events carry
MINI_PROGRAM = (
    '{"app":"com.tencent.miniapp_01","desc":"","view":"view_8C8E89B49BE609866298ADDFF2DBABA4",'
    '"meta":{"detail_1":{"appid":"1109937557","title":"兼职日结","desc":"点击领取",'
    '"qqdocurl":"https://b23.tv/abc"}}}'
)


def aio(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 10))

    return run


@contextlib.asynccontextmanager
async def running(connector: OneBotConnector) -> AsyncIterator[asyncio.Queue[LiveEvent]]:
    """Run the connector, collecting what it emits; on exit cancel it, which must end it
    cleanly (an exception it died of fails the test)."""
    events: asyncio.Queue[LiveEvent] = asyncio.Queue()
    task = asyncio.create_task(connector.run(events.put))
    try:
        yield events
    finally:
        assert not task.done(), "run() ended by itself"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def fake_server(token: str | None = None) -> AsyncIterator[tuple[FakeOneBot, str]]:
    fake = FakeOneBot(access_token=token)
    url = await fake.start_server()
    try:
        yield fake, url
    finally:
        await fake.close()


@contextlib.asynccontextmanager
async def image_server() -> AsyncIterator[str]:
    """A tiny local HTTP server in place of QQ's picture CDN."""

    async def picture(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def huge(request: web.Request) -> web.Response:  # says its size up front
        return web.Response(body=b"x" * (IMAGE_CAP + 1), content_type="image/png")

    async def endless(request: web.Request) -> web.StreamResponse:  # chunked: no size given
        response = web.StreamResponse()
        response.content_type = "image/png"
        await response.prepare(request)
        for _ in range(4):
            await response.write(b"y" * 65536)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/qr.png", picture)
    app.router.add_get("/huge.png", huge)
    app.router.add_get("/endless.png", endless)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def next_event(events: asyncio.Queue[LiveEvent]) -> LiveEvent:
    return await asyncio.wait_for(events.get(), 3)


def message_of(event: LiveEvent) -> Message:
    assert isinstance(event.record, Message)
    return event.record


# -- events -------------------------------------------------------------------------------


@aio
async def test_forward_group_message_with_segments_and_image() -> None:
    async with fake_server("s3cret") as (fake, url), image_server() as images:
        fake.group_names[GROUP] = "城市交流群"
        connector = OneBotConnector(
            "qq", url=url, access_token="s3cret", image_max_bytes=IMAGE_CAP, reconnect_base_s=0.05
        )
        async with running(connector) as events:
            await fake.push(
                group_message(
                    [
                        seg("reply", id="111"),
                        seg("at", qq="66666"),
                        seg("text", text=" 看看这个 https://example.com/x?a=1，加V了解"),
                        seg("image", file="abc.image", url=f"{images}/qr.png"),
                    ],
                    role="admin",
                    card="上海-电商-张三",
                    nickname="zhang",
                )
            )
            event = await next_event(events)
            assert event.connector == "qq"
            assert event.group.platform is Platform.QQ
            assert event.group.platform_id == str(GROUP)
            assert event.group.name == "城市交流群"
            assert event.role == "admin"
            assert event.kinds == frozenset({"image"})
            assert event.images == (PNG,)
            assert event.forwarded == ()
            assert message_of(event) == Message(
                platform_id="123456",
                sender=Person("55555", "上海-电商-张三"),
                sent_at=AT,
                kind=MessageKind.IMAGE,
                text="看看这个 https://example.com/x?a=1，加V了解",
                reply_to="111",
                mentions=("66666",),
                urls=("https://example.com/x?a=1",),
            )
            assert fake.handshakes[0]["Authorization"] == "Bearer s3cret"
            info = await fake.wait_call("get_group_info")
            assert info["params"] == {"group_id": GROUP}

            # A mini-program card; the name falls back to the nickname; role member.
            await fake.push(
                group_message(
                    [seg("json", data=MINI_PROGRAM)], message_id=124, role="member", user_id=7
                )
            )
            event = await next_event(events)
            assert event.kinds == frozenset({"card", "mini_program"})
            assert event.role == "member"
            record = message_of(event)
            assert record.kind is MessageKind.CARD
            assert record.sender == Person("7", "someone")
            assert record.urls == ("https://b23.tv/abc",)

            # The bot's own message is not emitted; pictures over the cap (sized or chunked)
            # and one that cannot be fetched are left out; a CQ-code string is plain text;
            # the group name was asked for only once.
            await fake.push(group_message("mine", message_id=125, user_id=SELF_ID))
            await fake.push(
                group_message(
                    [
                        seg("text", text="hi"),
                        seg("image", url=f"{images}/huge.png"),
                        seg("image", url=f"{images}/endless.png"),
                        seg("image", url="http://127.0.0.1:9/nothing-listens-here.png"),
                    ],
                    message_id=126,
                    role="owner",
                )
            )
            await fake.push(group_message("[CQ:face,id=1]hello", message_id=127))
            event = await next_event(events)
            assert message_of(event).platform_id == "126"
            assert event.role == "owner"
            assert event.kinds == frozenset({"image"})
            assert event.images == ()
            event = await next_event(events)
            assert message_of(event).text == "[CQ:face,id=1]hello"
            assert message_of(event).kind is MessageKind.TEXT
            # the fake keeps signatures to itself, as go-cqhttp does: asked once, then no more
            assert [c["action"] for c in fake.calls] == ["get_group_info", "get_stranger_info"]


@aio
async def test_a_wave_of_joins_asks_their_names_at_once_and_keeps_their_order() -> None:
    """Each join waits for the newcomer's name: the connector asks for the next ones before
    the first answer comes (a raid reaches the engine in one round trip, not one per bot),
    and still emits the joins in the order they came."""
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        fake.group_names[GROUP] = "跑团"
        fake.members[GROUP] = [{"user_id": n, "card": f"新人{n}"} for n in range(1, 6)]
        fake.held.add("get_group_member_info")
        async with running(connector) as events:
            for n in range(1, 6):
                await fake.push(notice("group_increase", "approve", group_id=GROUP, user_id=n))
            for _ in range(5):  # all five asked while none is answered
                await fake.wait_call("get_group_member_info")
            assert events.empty()
            fake.release.set()
            got = [await next_event(events) for _ in range(5)]
        assert [e.record.member for e in got] == [  # type: ignore[union-attr]
            Person(str(n), f"新人{n}") for n in range(1, 6)
        ]


@aio
async def test_notices_and_join_requests() -> None:
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        # the join notice has no name: asked for (card, else nickname); unknown to the fake: none
        fake.members[GROUP] = [{"user_id": 1, "card": "", "nickname": "兼职日结 加V abc12345"}]
        async with running(connector) as events:
            for event in (
                notice("group_increase", "approve", group_id=GROUP, operator_id=777, user_id=1),
                notice("group_increase", "invite", group_id=GROUP, operator_id=888, user_id=2),
                notice("group_decrease", "leave", group_id=GROUP, operator_id=3, user_id=3),
                notice("group_decrease", "kick", group_id=GROUP, operator_id=777, user_id=4),
                notice("group_card", "", group_id=GROUP, user_id=5, card_new="北京-设计-李四"),
                notice("group_recall", "", group_id=GROUP, user_id=5, message_id=1),
                {"post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 5000},
                group_request("invite", flag="f-invite", user_id=9, comment=""),
                group_request("add", flag="flag-123", user_id=6, comment="问题：城市\n答案：上海"),
            ):
                await fake.push(event)
            got = [await next_event(events) for _ in range(6)]
            await asyncio.sleep(0.1)
            assert events.empty()
        assert [e.group.platform_id for e in got] == [str(GROUP)] * 6
        assert [e.record for e in got] == [
            MembershipEvent(
                f"inc:{GROUP}:1:1767225600",
                Person("1", "兼职日结 加V abc12345"),
                MembershipAction.JOIN,
                AT,
                JoinMethod.APPROVE,
                Person("777"),
            ),
            MembershipEvent(
                f"inc:{GROUP}:2:1767225600",
                Person("2"),
                MembershipAction.JOIN,
                AT,
                JoinMethod.INVITE,
                Person("888"),
            ),
            MembershipEvent(f"dec:{GROUP}:3:1767225600", Person("3"), MembershipAction.LEAVE, AT),
            MembershipEvent(
                f"dec:{GROUP}:4:1767225600",
                Person("4"),
                MembershipAction.KICK,
                AT,
                actor=Person("777"),
            ),
            MembershipEvent(
                f"card:{GROUP}:5:1767225600",
                Person("5"),
                MembershipAction.RENAME,
                AT,
                new_name="北京-设计-李四",
            ),
            JoinRequest("flag-123", Person("6"), AT, "问题：城市\n答案：上海"),
        ]
        # no group name known: the fake answers get_group_info with 1404, the id stands in
        assert got[0].group.name == str(GROUP)
        asked = [c["params"] for c in fake.calls if c["action"] == "get_group_member_info"]
        assert asked == [
            {"group_id": GROUP, "user_id": 1, "no_cache": True},
            {"group_id": GROUP, "user_id": 2, "no_cache": True},
        ]


@aio
async def test_a_members_signature_comes_with_their_join_and_messages() -> None:
    """NapCat's get_stranger_info gives the signature (个性签名): an ad bot's profile text. Read
    once per member for the hour (the second message asks nothing), for the newcomer at the
    door too; a call that fails is no signature and is tried again later."""
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        fake.signatures = {55555: "兼职日结，加V abc12345", 2: "热爱跑步", 3: "有签名", 4: "刷单"}
        fake.group_names[GROUP] = "跑团"  # known: the failure below is the signature's
        async with running(connector) as events:
            await fake.push(group_message([seg("text", text="你好")], message_id=1))
            first = await next_event(events)
            await fake.push(group_message([seg("text", text="在吗")], message_id=2))
            second = await next_event(events)
            await fake.push(notice("group_increase", "approve", group_id=GROUP, user_id=2))
            joined = await next_event(events)
            fake.fail_next(1200)
            await fake.push(group_message([seg("text", text="hi")], message_id=3, user_id=3))
            failed = await next_event(events)
            await fake.push(group_request("add", flag="f4", user_id=4, comment="跑步"))
            asked = await next_event(events)
        assert first.bio == second.bio == "兼职日结，加V abc12345" and asked.bio == "刷单"
        assert joined.bio == "热爱跑步" and failed.bio == ""
        calls = [c["params"]["user_id"] for c in fake.calls if c["action"] == "get_stranger_info"]
        assert calls == [55555, 2, 3, 4]


@aio
async def test_a_reaction_hands_on_who_reacted_once_a_day() -> None:
    """Accounts that only tap emoji so that members open their profile: NapCat's and
    Lagrange's notices both name the member, with their name and signature; taken-back
    reactions, the bot's own and a second tap the same day hand on nothing."""
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        fake.members[GROUP] = [{"user_id": 7, "card": "", "nickname": "看我签名"}]
        fake.signatures = {7: "兼职日结，加V abc12345", 8: "热爱跑步"}
        likes = [{"emoji_id": "76", "count": 1}]
        async with running(connector) as events:
            for event in (
                notice(
                    "group_msg_emoji_like",
                    "",
                    group_id=GROUP,
                    user_id=7,
                    message_id=11,
                    likes=likes,
                ),
                notice(
                    "group_msg_emoji_like",
                    "",
                    group_id=GROUP,
                    user_id=7,
                    message_id=12,
                    likes=likes,
                ),  # the same member again today
                notice(
                    "group_msg_emoji_like",
                    "",
                    group_id=GROUP,
                    user_id=9,
                    message_id=12,
                    likes=likes,
                    is_add=False,
                ),
                notice(
                    "reaction",
                    "remove",
                    group_id=GROUP,
                    operator_id=9,
                    message_id=13,
                    code="66",
                    count=0,
                ),
                notice(
                    "reaction",
                    "add",
                    group_id=GROUP,
                    operator_id=SELF_ID,
                    message_id=13,
                    code="66",
                    count=1,
                ),
                notice(
                    "reaction",
                    "add",
                    group_id=GROUP,
                    operator_id=8,
                    message_id=13,
                    code="66",
                    count=2,
                ),
            ):
                await fake.push(event)
            got = [await next_event(events) for _ in range(2)]
            await asyncio.sleep(0.1)
            assert events.empty()
        assert [e.record for e in got] == [
            Reaction("11:7", Person("7", "看我签名"), AT),
            Reaction("13:8", Person("8"), AT),
        ]
        assert [e.bio for e in got] == ["兼职日结，加V abc12345", "热爱跑步"]


@aio
async def test_merged_forward_is_expanded() -> None:
    async with fake_server() as (fake, url):
        fake.forwards["fw-1"] = [
            {
                "type": "node",
                "data": {
                    "user_id": "20001",
                    "nickname": "推广员",
                    "content": [seg("text", text="兼职日结，加V: abc123")],
                },
            },
            {
                "type": "node",
                "data": {
                    "user_id": "20002",
                    "nickname": "路人",
                    "content": [seg("json", data=MINI_PROGRAM)],
                },
            },
            {"type": "node", "data": {"user_id": "20003", "nickname": "旧版", "content": "你好"}},
        ]
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        async with running(connector) as events:
            await fake.push(group_message([seg("forward", id="fw-1")]))
            event = await next_event(events)
            assert (await fake.wait_call("get_forward_msg"))["params"] == {"id": "fw-1"}
            # a forward the implementation cannot find: still an event, with nothing inside
            await fake.push(group_message([seg("forward", id="gone")], message_id=2))
            missing = await next_event(events)
        assert message_of(event).kind is MessageKind.CARD
        assert event.kinds == frozenset({"forward", "card", "mini_program"})
        assert [(m.sender, m.text, m.kind) for m in event.forwarded] == [
            (Person("20001", "推广员"), "兼职日结，加V: abc123", MessageKind.TEXT),
            (Person("20002", "路人"), "兼职日结 点击领取", MessageKind.CARD),  # its words
            (Person("20003", "旧版"), "你好", MessageKind.TEXT),
        ]
        assert [m.platform_id for m in event.forwarded] == ["fw-1:0", "fw-1:1", "fw-1:2"]
        assert all(m.sent_at == AT for m in event.forwarded)
        assert missing.forwarded == ()
        assert missing.kinds == frozenset({"forward"})


def upload(file_id: str, name: str, user_id: int = 66666) -> dict[str, Any]:
    """go-cqhttp's `group_upload` notice (NapCat and LLOneBot send it too)."""
    file = {"id": file_id, "name": name, "size": 2048, "busid": 102}
    return notice("group_upload", "", group_id=GROUP, user_id=user_id, file=file)


@aio
async def test_an_uploaded_file_is_one_message_named_by_the_file() -> None:
    async with fake_server() as (fake, url):
        fake.members[GROUP] = [{"user_id": 66666, "card": "", "nickname": "资料君"}]
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        named = [seg("file", file="兼职名单 加V abc12345.xlsx", file_id="/f-2")]
        async with running(connector) as events:
            # go-cqhttp, Lagrange: the notice alone
            await fake.push(upload("/f-1", "兼职名单 加V abc12345.xlsx"))
            alone = await next_event(events)
            # NapCat, LLOneBot: a message and the notice, in either order; one event each
            await fake.push(group_message(named, message_id=7, user_id=66666))
            await fake.push(upload("/f-2", "兼职名单 加V abc12345.xlsx"))
            await fake.push(upload("/f-3", "课件.pdf"))
            await fake.push(group_message([seg("file", file="课件.pdf", file_id="/f-3")]))
            await fake.push(upload("/f-4", ""))
            got = [await next_event(events) for _ in range(3)]
            await asyncio.sleep(0.1)
            assert events.empty()
        record = message_of(alone)
        assert record.platform_id == "file:102:/f-1"
        assert (record.kind, record.text) == (MessageKind.FILE, "[文件]兼职名单 加V abc12345.xlsx")
        assert record.sender == Person("66666", "资料君")
        assert record.sent_at == AT
        assert alone.kinds == frozenset({"file"})
        assert alone.group.platform_id == str(GROUP)
        assert [message_of(e).platform_id for e in got] == ["7", "file:102:/f-3", "file:102:/f-4"]
        assert message_of(got[2]).text == ""  # a file without a name says nothing


@aio
async def test_deleting_an_uploaded_file_takes_it_out_of_the_group_files() -> None:
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        async with running(connector):
            await connector.wait_connected(3)
            await connector.execute(act(ActionKind.DELETE, message_id="file:102:/f-1"))
            deleted = fake.calls[-1]
            await connector.execute(
                act(ActionKind.WARN, member_id="1", message_id="file:102:/f-1", text="x")
            )
            warned = fake.calls[-1]
        assert (deleted["action"], deleted["params"]) == (
            "delete_group_file",
            {"group_id": GROUP, "file_id": "/f-1", "busid": 102},
        )
        assert warned["params"]["message"] == [seg("at", qq="1"), seg("text", text=" x")]
        bad = connector.request_for
        with pytest.raises(ActionFailed):
            bad(act(ActionKind.DELETE, message_id="file:x:/f-1"))


@aio
async def test_a_failing_emit_does_not_stop_delivery() -> None:
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        seen: asyncio.Queue[str] = asyncio.Queue()

        async def emit(event: LiveEvent) -> None:
            text = message_of(event).text
            await seen.put(text)
            if text == "first":
                raise RuntimeError("the engine failed")

        task = asyncio.create_task(connector.run(emit))
        await fake.push(group_message("first", message_id=1))
        await fake.push(group_message("second", message_id=2))
        assert [await asyncio.wait_for(seen.get(), 3) for _ in range(2)] == ["first", "second"]
        assert not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_parse_message_kinds() -> None:
    assert parse_message([seg("face", id="1")]).kind is MessageKind.STICKER
    assert parse_message([seg("text", text="hi"), seg("face", id="1")]).kind is MessageKind.TEXT
    assert parse_message([seg("record", file="a.amr")]).kind is MessageKind.VOICE
    assert parse_message([seg("video", file="a.mp4")]).kinds == frozenset({"video"})
    assert parse_message([seg("file", file="a.zip")]).kind is MessageKind.FILE
    share = parse_message([seg("share", url="https://ad.example/", title="赚钱")])
    assert (share.kind, share.kinds, share.urls) == (
        MessageKind.CARD,
        frozenset({"card"}),
        ("https://ad.example/",),
    )
    contact = parse_message([seg("contact", type="group", id="123")])
    assert contact.kinds == frozenset({"card"})
    plain_json = parse_message([seg("json", data='{"app":"com.tencent.structmsg"}')])
    assert plain_json.kinds == frozenset({"card"}) and plain_json.text == ""


def test_what_a_card_says_is_its_text() -> None:
    """A card (or a file) is a message of its own in QQ; its words (a file's name) are the
    message's text, as QQ's chat history shows them, so moderation reads a shared ad, a
    recommended group's number and a file named after a WeChat id."""
    share = parse_message([seg("share", url="https://ad.example/", title="赚钱", content="日结")])
    assert share.text == "赚钱 日结"
    assert parse_message([seg("contact", type="group", id="123456789")]).text == (
        "推荐群聊 QQ群：123456789"
    )
    assert parse_message([seg("contact", type="qq", id="10001")]).text == "推荐联系人 QQ：10001"
    group_card = (
        '{"app":"com.tencent.contact.lua","prompt":"推荐群聊：兼职日结群",'
        '"meta":{"contact":{"nickname":"兼职日结群","contact":"群号：123456789",'
        '"jumpUrl":"https://qm.qq.com/q/abc"}}}'
    )
    card = parse_message([seg("json", data=group_card)])
    assert card.text == "推荐群聊：兼职日结群 兼职日结群 群号：123456789"
    assert card.urls == ("https://qm.qq.com/q/abc",)
    xml = '<msg brief="[分享]兼职日结"><item><title>日赚300</title><summary>加V abc12345</summary>'
    assert parse_message([seg("xml", data=xml + "</item></msg>")]).text == (
        "[分享]兼职日结 日赚300 加V abc12345"
    )
    named = parse_message([seg("file", file="兼职名单 加V abc12345.xlsx", file_id="f1")])
    assert named.text == "[文件]兼职名单 加V abc12345.xlsx" and named.kind is MessageKind.FILE
    assert parse_message([seg("file", file_id="f2")]).text == ""  # no name given
    mixed = parse_message(
        [seg("text", text="看看"), seg("share", url="https://a.example/", title="x")]
    )
    assert mixed.text == "看看"  # a message's own words come first
    long = parse_message([seg("share", url="https://a.example/", title="广" * 5000)])
    assert len(long.text) == 2000
    assert parse_message([seg("at", qq="all")]).mentions == ("all",)


def test_a_picture_qq_calls_a_sticker_is_a_sticker() -> None:
    """A 表情 from a member's favourites or the shop is marked as each implementation says it
    (NapCat: sub_type 1 and the summary; go-cqhttp: subType "1"); its picture is still fetched
    (for QR codes and known ad pictures). A photo beside it keeps the message a picture."""
    url = "https://multimedia.nt.qq.com.cn/download?id=1"
    for data in (
        {"file": "a.gif", "url": url, "sub_type": 1, "summary": "[动画表情]"},
        {"file": "a.gif", "url": url, "subType": "1"},
        {"file": "a.gif", "url": url, "summary": "[动画表情]"},
    ):
        parsed = parse_message([seg("image", **data)])
        assert (parsed.kind, parsed.kinds, parsed.image_urls) == (
            MessageKind.STICKER,
            frozenset({"sticker"}),
            (url,),
        )
    photo = seg("image", file="b.jpg", url=url, sub_type=0, summary="")
    assert parse_message([photo]).kinds == frozenset({"image"})
    both = parse_message([seg("image", file="a.gif", sub_type=1), photo])
    assert (both.kind, both.kinds) == (MessageKind.IMAGE, frozenset({"image", "sticker"}))
    captioned = parse_message([seg("text", text="哈哈"), seg("image", file="a.gif", sub_type=1)])
    assert (captioned.kind, captioned.kinds) == (MessageKind.TEXT, frozenset({"sticker"}))
    assert parse_message([seg("mface", emoji_id="x", summary="[开心]")]).kinds == {"sticker"}


# -- actions ------------------------------------------------------------------------------


def act(kind: ActionKind, **fields: Any) -> Action:
    return Action(1, kind, "qq", str(GROUP), **fields)


@aio
async def test_every_action_sends_the_right_call() -> None:
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        assert ActionKind.NOTIFY_OWNER not in connector.capabilities
        assert ActionKind.UNBAN not in connector.capabilities  # QQ keeps no ban list
        assert len(connector.capabilities) == 12
        async with running(connector):
            await connector.wait_connected(3)
            cases = [
                (act(ActionKind.DELETE, message_id="654321"), "delete_msg", {"message_id": 654321}),
                (
                    act(ActionKind.WARN, member_id="55555", message_id="123456", text="请勿发广告"),
                    "send_group_msg",
                    {
                        "group_id": GROUP,
                        "message": [
                            seg("reply", id="123456"),
                            seg("at", qq="55555"),
                            seg("text", text=" 请勿发广告"),
                        ],
                    },
                ),
                (
                    act(ActionKind.SEND, text="欢迎新朋友"),
                    "send_group_msg",
                    {"group_id": GROUP, "message": [seg("text", text="欢迎新朋友")]},
                ),
                (
                    act(ActionKind.MUTE, member_id="55555", seconds=600),
                    "set_group_ban",
                    {"group_id": GROUP, "user_id": 55555, "duration": 600},
                ),
                (
                    act(ActionKind.MUTE, member_id="55555", seconds=90 * 86400),
                    "set_group_ban",
                    {"group_id": GROUP, "user_id": 55555, "duration": 30 * 86400 - 1},
                ),
                (
                    act(ActionKind.UNMUTE, member_id="55555"),
                    "set_group_ban",
                    {"group_id": GROUP, "user_id": 55555, "duration": 0},
                ),
                (
                    act(ActionKind.KICK, member_id="55555"),
                    "set_group_kick",
                    {"group_id": GROUP, "user_id": 55555, "reject_add_request": False},
                ),
                (
                    act(ActionKind.LOCK, seconds=1800),  # 全员禁言 has no duration: unlocked
                    "set_group_whole_ban",
                    {"group_id": GROUP, "enable": True},
                ),
                (
                    act(ActionKind.UNLOCK),
                    "set_group_whole_ban",
                    {"group_id": GROUP, "enable": False},
                ),
                (
                    act(ActionKind.BAN, member_id="55555"),
                    "set_group_kick",
                    {"group_id": GROUP, "user_id": 55555, "reject_add_request": True},
                ),
                (
                    act(ActionKind.APPROVE, member_id="6", request_id="flag-123"),
                    "set_group_add_request",
                    {"flag": "flag-123", "sub_type": "add", "approve": True, "reason": ""},
                ),
                (
                    act(ActionKind.REJECT, member_id="6", request_id="flag-9", reason="广告"),
                    "set_group_add_request",
                    {"flag": "flag-9", "sub_type": "add", "approve": False, "reason": "广告"},
                ),
                (
                    act(ActionKind.TELL, member_id="55555", text="申诉已通过"),
                    "send_private_msg",
                    {"user_id": 55555, "message": [seg("text", text="申诉已通过")]},
                ),
            ]
            sent = []
            for action, name, params in cases:
                sent.append(await connector.execute(action))
                call = fake.calls[-1]
                assert (call["action"], call["params"]) == (name, params), action.kind
            # the ids of the messages it sent (the engine may take them down later), no other
            assert sent[:3] == [None, "9000", "9001"] and set(sent[3:]) == {None}
            # DELETE_WARN: the warning does not quote the message just deleted
            await connector.execute(act(ActionKind.DELETE, message_id="777"))
            await connector.execute(act(ActionKind.WARN, member_id="1", message_id="777", text="x"))
            assert fake.calls[-1]["params"]["message"] == [
                seg("at", qq="1"),
                seg("text", text=" x"),
            ]
            echoes = [c["echo"] for c in fake.calls]
            assert len(set(echoes)) == len(echoes)


@aio
async def test_a_private_message_to_the_bot_is_an_appeal_answered_in_private() -> None:
    """A member writing to the bot's QQ account in private (a friend, a group's temporary
    chat) is handed to `appeals`; its answer goes back with send_private_msg. No event of a
    group comes of it, and the bot's own private lines are not appeals."""
    heard: list[Appeal] = []

    async def appeals(appeal: Appeal) -> str | None:
        heard.append(appeal)
        return "已转给群管理员"

    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        connector.appeals = appeals
        async with running(connector) as events:
            await connector.wait_connected(3)
            said = group_message([seg("text", text="我发的是跑步路线，不是广告")], message_id=31)
            await fake.push({**said, "message_type": "private", "sub_type": "friend"})
            mine = group_message("我自己", message_id=32, user_id=SELF_ID)
            await fake.push({**mine, "message_type": "private", "sub_type": "friend"})
            reply = await fake.wait_call("send_private_msg")
            assert reply["params"] == {
                "user_id": 55555,
                "message": [seg("text", text="已转给群管理员")],
            }
            temporary = group_message("再说一次", message_id=34, user_id=66666)
            await fake.push({**temporary, "message_type": "private", "sub_type": "group"})
            reply = await fake.wait_call("send_private_msg")
            assert (reply["params"]["user_id"], reply["params"]["group_id"]) == (66666, GROUP)
            await fake.push(group_message("在群里说话", message_id=33))
            event = await asyncio.wait_for(events.get(), 3)
            assert message_of(event).platform_id == "33"  # the first event: the group's
        assert [(a.member, a.text, a.platform_id) for a in heard] == [
            (Person("55555", "someone"), "我发的是跑步路线，不是广告", "31"),
            (Person("66666", "someone"), "再说一次", "34"),
        ]
        assert heard[0].at == datetime.fromtimestamp(1767225600, UTC)


@aio
async def test_action_failures() -> None:
    async with fake_server() as (fake, url):
        connector = OneBotConnector("qq", url=url, fetch_images=False, action_timeout_s=0.3)
        kick = act(ActionKind.KICK, member_id="55555")
        with pytest.raises(ActionFailed) as failed:
            await connector.execute(kick)  # not running yet: not connected
        assert failed.value.retry is True and failed.value.unknown is False  # nothing went out
        async with running(connector):
            await connector.wait_connected(3)

            fake.fail_next(1403)
            with pytest.raises(ActionFailed) as failed:
                await connector.execute(kick)
            assert failed.value.retry is False

            fake.fail_next(1400, message="bad user_id")
            with pytest.raises(ActionFailed, match="bad user_id") as failed:
                await connector.execute(kick)
            assert failed.value.retry is False

            fake.fail_next(1500)
            with pytest.raises(ActionFailed) as failed:
                await connector.execute(kick)
            assert failed.value.retry is True

            fake.fail_next(1, status="async")  # accepted, done later: a success
            await connector.execute(kick)

            # an already recalled message: deleting it again is done, not a failure
            fake.fail_next(100, message="MESSAGE_NOT_FOUND")
            await connector.execute(act(ActionKind.DELETE, message_id="5"))
            fake.fail_next(1500, message="timeout")  # not gone: may pass
            with pytest.raises(ActionFailed) as failed:
                await connector.execute(act(ActionKind.DELETE, message_id="5"))
            assert failed.value.retry is True

            calls = len(fake.calls)
            for bad in (
                act(ActionKind.KICK, member_id="not-a-number"),
                act(ActionKind.DELETE, message_id=None),
                act(ActionKind.MUTE, member_id="1", seconds=0),
                act(ActionKind.APPROVE, request_id=None),
                act(ActionKind.SEND, text="  "),
                Action(1, ActionKind.SEND, "qq", "some-group", text="x"),
            ):
                with pytest.raises(ActionFailed) as failed:
                    await connector.execute(bad)
                assert failed.value.retry is False, bad
            assert len(fake.calls) == calls  # none of them reached the implementation

            fake.silent.add("set_group_kick")
            started = asyncio.get_running_loop().time()
            with pytest.raises(ActionFailed, match="no answer") as failed:
                await connector.execute(kick)
            assert failed.value.retry is True
            assert failed.value.unknown is True  # sent, unanswered: it may have been done
            assert 0.25 < asyncio.get_running_loop().time() - started < 2


# -- connections --------------------------------------------------------------------------


@aio
async def test_forward_reconnects_after_a_drop() -> None:
    async with fake_server() as (fake, url):
        fake.group_names[GROUP] = "群"
        connector = OneBotConnector("qq", url=url, fetch_images=False, reconnect_base_s=0.05)
        async with running(connector) as events:
            await fake.push(group_message("before", message_id=1))
            assert message_of(await next_event(events)).text == "before"

            fake.silent.add("delete_msg")
            pending = asyncio.create_task(connector.execute(act(ActionKind.DELETE, message_id="1")))
            await fake.wait_call("delete_msg")
            await fake.drop()
            with pytest.raises(ActionFailed) as failed:
                await asyncio.wait_for(pending, 2)  # well before the 10 s call timeout
            assert failed.value.retry is True and failed.value.unknown is True

            await fake.push(group_message("after", message_id=2))  # waits for the reconnect
            assert message_of(await next_event(events)).text == "after"
            assert len(fake.handshakes) == 2
            fake.silent.clear()
            await connector.execute(act(ActionKind.DELETE, message_id="2"))
        await asyncio.sleep(0.1)
        assert not connector.connected
        assert fake.open_connections == 0  # cancelling closed the socket


@aio
async def test_forward_wrong_or_missing_token_keeps_retrying() -> None:
    async with fake_server("right") as (fake, url):
        wrong = OneBotConnector(
            "qq", url=url, access_token="wrong", reconnect_base_s=0.05, fetch_images=False
        )
        async with running(wrong) as events:
            await asyncio.sleep(0.5)
            assert len(fake.refused) >= 2
            assert set(fake.refused) == {403}
            assert not wrong.connected
            assert events.empty()
        fake.refused.clear()
        missing = OneBotConnector("qq", url=url, reconnect_base_s=0.05, fetch_images=False)
        async with running(missing):
            await asyncio.sleep(0.3)
            assert len(fake.refused) >= 2
            assert set(fake.refused) == {401}
        assert fake.handshakes == []


@aio
async def test_reverse_mode() -> None:
    connector = OneBotConnector(
        "qq", mode="reverse", port=0, access_token="s3cret", fetch_images=False
    )
    first, second, intruder = FakeOneBot(), FakeOneBot(), FakeOneBot()
    try:
        async with running(connector) as events:
            await asyncio.wait_for(connector.listening.wait(), 3)
            url = f"ws://127.0.0.1:{connector.port}/onebot/v11/ws"

            with pytest.raises(InvalidStatus) as refused:
                await intruder.connect_to(url, token="wrong")
            assert refused.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as refused:
                await intruder.connect_to(url)
            assert refused.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as refused:
                await intruder.connect_to(url, token="s3cret", role="API")
            assert refused.value.response.status_code == 400

            await first.connect_to(url, token="s3cret")
            first.group_names[GROUP] = "反向群"
            await first.push(group_message("hello", message_id=10))
            event = await next_event(events)
            assert message_of(event).text == "hello"
            assert event.group.name == "反向群"
            assert connector.self_id == str(SELF_ID)
            await connector.execute(act(ActionKind.KICK, member_id="55555"))
            assert first.calls[-1]["params"] == {
                "group_id": GROUP,
                "user_id": 55555,
                "reject_add_request": False,
            }

            # the implementation restarts and connects again: the new connection takes over
            await second.connect_to(url, token="s3cret")
            await second.push(group_message("again", message_id=11))
            assert message_of(await next_event(events)).text == "again"
            await connector.execute(act(ActionKind.MUTE, member_id="55555", seconds=60))
            assert second.calls[-1]["action"] == "set_group_ban"
            asked = [c["action"] for c in first.calls]
            assert asked == ["get_group_info", "get_stranger_info", "set_group_kick"]
            await asyncio.sleep(0.1)
            assert first.open_connections == 0  # the old one was closed
            assert intruder.calls == []
            assert events.empty()
    finally:
        for fake in (first, second, intruder):
            await fake.close()


def test_bad_configuration() -> None:
    with pytest.raises(ValueError):
        OneBotConnector("qq")  # forward mode without a url
    with pytest.raises(ValueError):
        OneBotConnector("qq", mode="http", url="ws://127.0.0.1:1")


@aio
async def test_the_roster_lists_everyone_in_the_group() -> None:
    async with fake_server() as (fake, url):
        fake.members[GROUP] = [
            {
                "user_id": 111,
                "nickname": "阿明",
                "card": "城东-设计-阿明",
                "join_time": 1_700_000_000,
            },
            {"user_id": 222, "nickname": "小红", "card": "", "join_time": 0},
            {"nickname": "no id"},
            "not a member",
        ]
        connector = OneBotConnector("qq", url=url, fetch_images=False)
        async with running(connector):
            await connector.wait_connected(3)
            found = await connector.roster(str(GROUP))
        # asked past the implementation's cache (go-cqhttp, NapCat): a stale list reads as leaves
        assert fake.calls[-1]["params"] == {"group_id": GROUP, "no_cache": True}
        assert [(e.member.user_id, e.member.name) for e in found] == [
            ("111", "城东-设计-阿明"),
            ("222", "小红"),  # no card: the nickname
        ]
        assert found[0].joined_at == datetime.fromtimestamp(1_700_000_000, UTC)
        assert found[1].joined_at is None  # 0: the implementation does not know
        with pytest.raises(ActionFailed):
            await OneBotConnector("qq2", url=url).roster(str(GROUP))  # never connected
