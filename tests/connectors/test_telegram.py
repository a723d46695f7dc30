"""The Telegram connector against a fake Bot API server speaking the documented protocol.

No pytest asyncio plugin is installed: each test runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer

from qunzhu.connectors import APPEAL_HOW
from qunzhu.connectors.cas import Cas
from qunzhu.connectors.telegram import ALLOWED_UPDATES, SECRET_HEADER, TelegramConnector
from qunzhu.i18n import tr
from qunzhu.model.live import (
    Action,
    ActionFailed,
    ActionKind,
    Appeal,
    Edit,
    JoinRequest,
    LiveEvent,
    Notice,
    RateLimited,
    Reaction,
)
from qunzhu.model.records import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from tests.connectors.fake_telegram import (
    T0,
    TOKEN,
    FakeTelegram,
    chat,
    member,
    member_updated,
    message,
    photo_sizes,
    user,
)

GROUP_ID = -1001234567890
ALICE = user(11, "Alice", "Wang", username="alice")
BOB = user(22, "Bob")
CAROL = user(33, "Carol")
SECRET = "s3cret-token"


@contextlib.asynccontextmanager
async def closing(tg: TelegramConnector) -> AsyncIterator[TelegramConnector]:
    try:
        yield tg
    finally:
        await tg.close()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


def connector(fake: FakeTelegram, **kw: Any) -> TelegramConnector:
    return TelegramConnector(
        "tg", TOKEN, api_base=fake.url, poll_timeout=1, backoff_base=0.01, **kw
    )


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def polled(
    fake: FakeTelegram,
    last_update: int,
    emit: Callable[[LiveEvent], Awaitable[None]] | None = None,
    appeals: Callable[[Appeal], Awaitable[str | None]] | None = None,
    **kw: Any,
) -> tuple[list[LiveEvent], TelegramConnector]:
    """Run the connector (handing members' private messages to `appeals`; `kw` to its
    constructor) until it has confirmed `last_update`; returns what it emitted."""
    events: list[LiveEvent] = []

    async def collect(event: LiveEvent) -> None:
        if emit is not None:
            await emit(event)
        events.append(event)

    tg = connector(fake, **kw)
    tg.appeals = appeals
    task = asyncio.create_task(tg.run(collect))
    try:
        await until(
            lambda: any((c.get("offset") or 0) > last_update for c in fake.calls_to("getUpdates"))
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return events, tg


# ---- 1. polling: a text message, and no event lost --------------------------------------


def test_the_links_of_a_messages_buttons_and_a_files_name_are_read() -> None:
    """An inline bot's answer puts its link in a button under the message, out of the text,
    and a file sent without a caption says what it says in its name: the record carries
    both, so moderation reads them."""

    async def main() -> None:
        async with FakeTelegram() as fake:
            buttons = {
                "inline_keyboard": [
                    [{"text": "领取福利", "url": "https://scam.example/x"}],
                    [{"text": "再看看", "callback_data": "more"}],
                ]
            }
            fake.queue("message", message(9, ALICE, text="点下面", reply_markup=buttons))
            document = {
                "file_id": "d1",
                "file_unique_id": "u1",
                "file_name": "兼职 加V abc12345.apk",
            }
            uid = fake.queue("message", message(10, ALICE, document=document))
            events, _tg = await polled(fake, uid)
            button, named = (e.record for e in events)
            assert isinstance(button, Message) and isinstance(named, Message)
            assert button.urls == ("https://scam.example/x",)
            assert button.kind is MessageKind.LINK
            # a file sent without a caption: its name is its text
            assert named.text == "[文件]兼职 加V abc12345.apk" and named.kind is MessageKind.FILE

    asyncio.run(main())


def test_where_a_forward_or_an_external_reply_came_from_is_kept_with_what_it_quotes() -> None:
    """A farm forwards its channel's posts into groups, or replies quoting them from another
    chat: the event names the channel as its t.me address does (a private one by its "c/" id),
    marks the external reply and the buttons for the newcomer locks, and carries the words a
    reply quotes from another chat, which the group reads under it."""

    async def main() -> None:
        async with FakeTelegram() as fake:
            channel = {
                "id": -1009876543210,
                "type": "channel",
                "title": "福利",
                "username": "FuLi_VIP",
            }
            private = {"id": -1002222222222, "type": "channel", "title": "内部"}
            q = fake.queue
            origin = {"type": "channel", "date": T0, "chat": channel, "message_id": 7}
            q("message", message(40, ALICE, text="看这里", forward_origin=origin))
            origin = {"type": "channel", "date": T0, "chat": private, "message_id": 8}
            q("message", message(41, ALICE, text="内部消息", forward_origin=origin))
            hidden = {"type": "hidden_user", "date": T0, "sender_user_name": "某人"}
            q("message", message(42, ALICE, text="转一下", forward_origin=hidden))
            external = {"origin": {"type": "channel", "date": T0, "chat": channel, "message_id": 9}}
            quote = {"text": "兼职日结 加V abc12345", "position": 0}
            q("message", message(43, ALICE, text="真的吗", external_reply=external, quote=quote))
            buttons = {"inline_keyboard": [[{"text": "投票", "callback_data": "vote"}]]}
            q("message", message(44, ALICE, text="选一个", reply_markup=buttons))
            last = q("message", message(45, ALICE, story={"chat": channel, "id": 3}))
            events, _tg = await polled(fake, last)

            forwarded, hidden_private, hidden_user, replied, voted, story = events
            assert forwarded.record.origin == "fuli_vip" and "forward" in forwarded.kinds
            assert hidden_private.record.origin == "c/2222222222"
            assert hidden_user.record.origin == "" and "forward" in hidden_user.kinds
            assert replied.record.origin == "fuli_vip"
            assert replied.kinds == frozenset({"external_reply"})
            assert [m.text for m in replied.forwarded] == ["兼职日结 加V abc12345"]
            assert replied.said() == "真的吗\n兼职日结 加V abc12345"
            assert voted.kinds == frozenset({"buttons"}) and voted.record.origin == ""
            assert forwarded.forwarded == ()  # a forward's own text is its text
            assert story.record.origin == "fuli_vip" and story.kinds == frozenset({"card"})

    run(main())


def test_text_message_is_delivered_and_redelivered_after_a_failed_emit() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            text = "😀 hi @bob and Carol see https://x.io and docs"
            entities = [
                {"type": "mention", "offset": 6, "length": 4},
                {"type": "text_mention", "offset": 15, "length": 5, "user": CAROL},
                {"type": "url", "offset": 25, "length": 12},
                {"type": "text_link", "offset": 42, "length": 4, "url": "https://d.io/"},
            ]
            reply = message(7, BOB, text="first")
            uid = fake.queue(
                "message",
                message(9, ALICE, text=text, entities=entities, reply_to_message=reply),
            )
            failed: list[LiveEvent] = []

            async def flaky(event: LiveEvent) -> None:
                if not failed:
                    failed.append(event)
                    raise RuntimeError("database is down")

            events, tg = await polled(fake, uid, flaky)

            assert len(failed) == 1
            assert len(events) == 1  # delivered again on the next poll, not lost
            event = events[0]
            assert event == failed[0]
            assert event.connector == "tg"
            assert event.group == Group(Platform.TELEGRAM, str(GROUP_ID), "Runners")
            assert event.role == "member"
            assert event.kinds == frozenset()
            assert event.images == ()
            assert event.record == Message(
                platform_id="9",
                sender=Person("user11", "Alice Wang"),
                sent_at=datetime.fromtimestamp(T0 + 9, UTC),
                kind=MessageKind.LINK,
                text=text,
                reply_to="7",
                mentions=("@bob", "user33"),
                urls=("https://x.io", "https://d.io/"),
            )
            offsets = [c.get("offset") for c in fake.calls_to("getUpdates")]
            # The failed update is asked for again (no offset yet); confirmed only after emit.
            assert offsets[:2] == [None, None]
            assert offsets[2] == uid + 1
            assert fake.allowed_updates == ALLOWED_UPDATES
            assert fake.calls_to("getUpdates")[0]["timeout"] == 1
            assert tg.bot.session._session is None or tg.bot.session._session.closed

    run(main())


def test_a_private_message_to_the_bot_is_an_appeal_answered_in_private() -> None:
    """A member who writes to the bot in private is handed to `appeals` (the engine attaches
    it to what moderation did to them), and its answer goes back to that private chat; /start
    is told what the bot is for. No event of a group comes of it."""

    async def main() -> None:
        async with FakeTelegram() as fake:
            alone = chat(11, "Alice", "private")
            fake.queue("message", message(40, ALICE, alone, text="/start"))
            fake.queue("message", message(41, ALICE, alone, text="我只是问路，不是广告"))
            last = fake.queue("message", message(42, BOB, chat(22, "Bob", "private"), text="hi"))
            heard: list[Appeal] = []

            async def appeals(appeal: Appeal) -> str | None:
                heard.append(appeal)
                return None if appeal.member.user_id == "user22" else "已转给群管理员"

            events, _tg = await polled(fake, last, appeals=appeals)
            assert events == []
            assert [(a.member, a.text, a.platform_id) for a in heard] == [
                (Person("user11", "Alice Wang"), "我只是问路，不是广告", "41"),
                (Person("user22", "Bob"), "hi", "42"),
            ]
            assert heard[0].at == datetime.fromtimestamp(T0 + 41, UTC)
            sent = [(c["chat_id"], c["text"]) for c in fake.calls_to("sendMessage")]
            assert sent[0] == (11, tr(APPEAL_HOW))  # /start: what the bot is for
            assert sent[1:] == [(11, "已转给群管理员")]  # Bob's appeal had no answer

            quiet = connector(fake)  # nobody set `appeals`: private chats are not read
            data = {"update_id": 99, "message": message(43, ALICE, alone, text="不是广告")}
            update = Update.model_validate(data, context={"bot": quiet.bot})
            assert await quiet.events(update) == []
            assert len(fake.calls_to("sendMessage")) == 2
            await quiet.close()

    run(main())


def test_a_member_is_told_the_answer_to_their_appeal_in_private() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake, closing(connector(fake)) as tg:
            told = Action(
                1, ActionKind.TELL, "tg", str(GROUP_ID), member_id="user11", text="已通过"
            )
            assert await tg.execute(told) is not None
            (call,) = fake.calls_to("sendMessage")
            assert (call["chat_id"], call["text"]) == (11, "已通过")  # the private chat

    run(main())


# ---- 2. membership and join requests ------------------------------------------------------


def test_membership_updates_and_join_requests() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            q = fake.queue
            q("message", message(20, ALICE, new_chat_members=[ALICE]))
            q("message", message(21, ALICE, new_chat_members=[BOB, CAROL]))
            q("message", message(22, BOB, left_chat_member=BOB))
            q("message", message(23, ALICE, left_chat_member=CAROL))
            q("message", message(24, ALICE, chat(5, "Alice", "private"), text="hi bot"))
            q("message", message(25, ALICE, pinned_message=message(9, ALICE, text="rules")))
            link = {
                "invite_link": "https://t.me/+abc",
                "creator": ALICE,
                "creates_join_request": False,
                "is_primary": False,
                "is_revoked": False,
            }
            q(
                "chat_member",
                member_updated(
                    BOB, member(BOB, "left"), member(BOB, "member"), date=T0 + 1, invite_link=link
                ),
            )
            q(
                "chat_member",
                member_updated(
                    ALICE,
                    member(CAROL, "kicked"),
                    member(CAROL, "member"),
                    date=T0 + 2,
                    via_join_request=True,
                ),
            )
            q("chat_member", member_updated(BOB, member(BOB, "member"), member(BOB, "left")))
            q(
                "chat_member",
                member_updated(
                    ALICE, member(CAROL, "member"), member(CAROL, "kicked"), date=T0 + 3
                ),
            )
            bot = user(123456, "Qunzhu", is_bot=True)
            q("my_chat_member", member_updated(ALICE, member(bot, "left"), member(bot, "member")))
            q(  # a restriction is not a membership change
                "chat_member",
                member_updated(ALICE, member(BOB, "member"), member(BOB, "restricted")),
            )
            q(
                "chat_join_request",
                {
                    "chat": chat(),
                    "from": CAROL,
                    "user_chat_id": 33,
                    "date": T0 + 4,
                    "bio": "I run marathons",
                },
            )
            last = q(
                "chat_join_request",
                {"chat": chat(), "from": BOB, "user_chat_id": 22, "date": T0 + 5},
            )
            events, _ = await polled(fake, last)

            alice = Person("user11", "Alice Wang")
            bob, carol = Person("user22", "Bob"), Person("user33", "Carol")
            at = datetime.fromtimestamp

            def ev(pid: str, who: Person, act: MembershipAction, when: int, **kw: Any) -> Any:
                return MembershipEvent(pid, who, act, at(when, UTC), **kw)

            # each service message is also handed on as a notice, which a group may delete
            notices = [e.record for e in events if isinstance(e.record, Notice)]
            assert notices == [
                Notice("20", alice, at(T0 + 20, UTC), MembershipAction.JOIN),
                Notice("21", bob, at(T0 + 21, UTC), MembershipAction.JOIN),
                Notice("22", bob, at(T0 + 22, UTC), MembershipAction.LEAVE),
                Notice("23", carol, at(T0 + 23, UTC), MembershipAction.KICK),
            ]
            assert [e.record for e in events if not isinstance(e.record, Notice)] == [
                ev(
                    f"cm:{GROUP_ID}:11:{T0 + 20}",
                    alice,
                    MembershipAction.JOIN,
                    T0 + 20,
                    method=JoinMethod.LINK,
                ),
                ev(
                    f"cm:{GROUP_ID}:22:{T0 + 21}",
                    bob,
                    MembershipAction.JOIN,
                    T0 + 21,
                    method=JoinMethod.INVITE,
                    actor=alice,
                ),
                ev(
                    f"cm:{GROUP_ID}:33:{T0 + 21}",
                    carol,
                    MembershipAction.JOIN,
                    T0 + 21,
                    method=JoinMethod.INVITE,
                    actor=alice,
                ),
                ev(f"cm:{GROUP_ID}:22:{T0 + 22}", bob, MembershipAction.LEAVE, T0 + 22),
                ev(
                    f"cm:{GROUP_ID}:33:{T0 + 23}",
                    carol,
                    MembershipAction.KICK,
                    T0 + 23,
                    actor=alice,
                ),
                ev(
                    f"cm:{GROUP_ID}:22:{T0 + 1}",
                    bob,
                    MembershipAction.JOIN,
                    T0 + 1,
                    method=JoinMethod.LINK,
                ),
                ev(
                    f"cm:{GROUP_ID}:33:{T0 + 2}",
                    carol,
                    MembershipAction.JOIN,
                    T0 + 2,
                    method=JoinMethod.APPROVE,
                    actor=alice,
                ),
                ev(f"cm:{GROUP_ID}:22:{T0}", bob, MembershipAction.LEAVE, T0),
                ev(f"cm:{GROUP_ID}:33:{T0 + 3}", carol, MembershipAction.KICK, T0 + 3, actor=alice),
                ev(
                    f"cm:{GROUP_ID}:123456:{T0}",
                    Person("user123456", "Qunzhu"),
                    MembershipAction.JOIN,
                    T0,
                    method=JoinMethod.INVITE,
                    actor=alice,
                ),
                JoinRequest("33", carol, at(T0 + 4, UTC), answer="I run marathons"),
                JoinRequest("22", bob, at(T0 + 5, UTC), answer=""),
            ]
            assert {e.group.platform_id for e in events} == {str(GROUP_ID)}

    run(main())


def test_a_members_bio_comes_with_their_join_and_messages_read_once_an_hour() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            fake.bios[22] = "兼职日结 加V abc12345"
            fake.fail_server("getChat")  # Alice's bio cannot be read: her join still comes
            q = fake.queue
            q("message", message(20, ALICE, new_chat_members=[ALICE]))
            q("message", message(21, ALICE, new_chat_members=[BOB]))
            q("message", message(22, BOB, text="你好"))
            q("message", message(23, BOB, text="大家好"))
            q("message", message(24, ALICE, text="欢迎"))
            bot = user(123456, "Qunzhu", is_bot=True)
            last = q(
                "chat_member", member_updated(ALICE, member(bot, "left"), member(bot, "member"))
            )
            events, _ = await polled(fake, last)
            said = [
                (e.record.platform_id, e.bio)
                for e in events
                if not isinstance(e.record, Notice) and e.record.platform_id.isdigit()
            ]
            joins = [
                (e.record.member.user_id, e.bio)
                for e in events
                if isinstance(e.record, MembershipEvent)
            ]
            asked = [c["chat_id"] for c in fake.calls_to("getChat")]

        assert said == [
            ("22", "兼职日结 加V abc12345"),
            ("23", "兼职日结 加V abc12345"),
            ("24", ""),
        ]
        assert joins == [
            ("user11", ""),
            ("user22", "兼职日结 加V abc12345"),
            ("user123456", ""),
        ]
        # once per member within the hour, a failed read included; a bot has no bio to read
        assert sorted(asked) == [11, 22]

    run(main())


def test_a_bio_is_read_again_an_hour_on_and_after_a_failure_a_minute_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from aiogram.types import User

    from qunzhu.connectors import profiles

    clock = [1000.0]
    monkeypatch.setattr(profiles, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    bob = User(id=22, is_bot=False, first_name="Bob")

    async def main() -> list[str]:
        async with FakeTelegram() as fake, closing(connector(fake)) as tg:
            fake.fail_server("getChat")
            seen = [await tg._bio(bob)]
            for step in (59, 2, 3598, 2):  # 59 s, a minute, just under the hour, past it
                clock[0] += step
                fake.bios[22] = f"跑步爱好者 {clock[0]:.0f}"
                seen.append(await tg._bio(bob))
            seen.append(str(len(fake.calls_to("getChat"))))
            return seen

    assert run(main()) == ["", "", "跑步爱好者 1061", "跑步爱好者 1061", "跑步爱好者 4661", "3"]


def test_an_edited_message_comes_as_an_edit_of_it_as_it_reads_now() -> None:
    async def main() -> list[LiveEvent]:
        async with FakeTelegram() as fake:
            fake.queue("message", message(30, ALICE, text="你好"))
            edited = message(30, ALICE, text="加微信 abc12345 领资料", edit_date=T0 + 3600)
            fake.queue("edited_message", edited)
            private = message(31, ALICE, chat(5, "Alice", "private"), text="x", edit_date=T0)
            last = fake.queue("edited_message", private)
            events, _ = await polled(fake, last)
            return events

    first, edit = run(main())
    assert isinstance(first.record, Message) and first.record.text == "你好"
    assert isinstance(edit.record, Edit)
    assert edit.record.platform_id == "30" and edit.record.member == Person("user11", "Alice Wang")
    assert edit.record.at == datetime.fromtimestamp(T0 + 3600, UTC)
    assert edit.record.message.text == "加微信 abc12345 领资料"
    assert edit.record.message.sent_at == datetime.fromtimestamp(T0 + 30, UTC)
    assert "edited_message" in ALLOWED_UPDATES


def test_after_a_flood_limit_no_bio_is_asked_for_until_it_ends(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Telegram's 429 on a read pauses every member's first read for its retry_after: after
    a downtime, a backlog's thousand first reads must not hammer the limit the bot's warnings
    and deletions share."""
    from types import SimpleNamespace

    from aiogram.types import User

    from qunzhu.connectors import profiles

    clock = [1000.0]
    monkeypatch.setattr(profiles, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    users = [User(id=n, is_bot=False, first_name=f"U{n}") for n in (21, 22, 23)]

    async def main() -> tuple[list[str], int]:
        async with FakeTelegram() as fake, closing(connector(fake)) as tg:
            fake.bios.update({21: "a", 22: "b", 23: "c"})
            fake.fail_rate_limit("getChat", retry_after=30)
            seen = [await tg._bio(users[0]), await tg._bio(users[1])]  # limited, then paused
            clock[0] += 31
            seen += [await tg._bio(users[2]), await tg._bio(users[0])]  # 21 waits its minute
            return seen, len(fake.calls_to("getChat"))

    seen, asked = run(main())
    assert seen == ["", "", "c", ""] and asked == 2


def test_a_reaction_comes_with_who_reacted_and_their_bio() -> None:
    def reacted(who: dict[str, Any] | None, new: list[dict[str, Any]], **extra: Any) -> dict:
        out = {"chat": chat(), "message_id": 30, "date": T0 + 60, "old_reaction": []}
        return out | {"new_reaction": new, **({"user": who} if who else {}), **extra}

    async def main() -> list[LiveEvent]:
        async with FakeTelegram() as fake:
            fake.bios[22] = "兼职日结 加V abc12345"
            thumbs = [{"type": "emoji", "emoji": "👍"}]
            fake.queue("message_reaction", reacted(BOB, thumbs))
            fake.queue("message_reaction", reacted(BOB, thumbs, message_id=31))  # today: once
            fake.queue("message_reaction", reacted(ALICE, []))  # taken back: nothing
            anonymous = reacted(None, thumbs, actor_chat=chat())
            last = fake.queue("message_reaction", anonymous)  # the group's own name: nothing
            events, _ = await polled(fake, last)
            return events

    (event,) = run(main())
    assert event.record == Reaction(
        "30:22", Person("user22", "Bob"), datetime.fromtimestamp(T0 + 60, UTC)
    )
    assert event.bio == "兼职日结 加V abc12345"
    assert "message_reaction" in ALLOWED_UPDATES


def test_cas_is_asked_about_members_once_a_day_where_the_operator_turned_it_on() -> None:
    asked: list[str] = []

    def cas_api(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["user_id"])
        if request.url.params["user_id"] == "22":
            return httpx.Response(200, json={"ok": True, "result": {"offenses": 2}})
        return httpx.Response(200, json={"ok": False, "description": "Record not found."})

    async def main() -> list[LiveEvent]:
        async with FakeTelegram() as fake:
            q = fake.queue
            q("message", message(20, BOB, new_chat_members=[BOB]))
            q("message", message(21, BOB, text="你好"))
            q("message", message(22, ALICE, text="欢迎"))
            q("chat_join_request", {"chat": chat(), "from": CAROL, "user_chat_id": 33, "date": T0})
            last = q("message", message(23, BOB, left_chat_member=BOB))
            cas = Cas("https://cas.test", transport=httpx.MockTransport(cas_api))
            events, _ = await polled(fake, last, cas=cas)
            return events

    events = run(main())
    listed = [
        (type(e.record).__name__, e.listed) for e in events if not isinstance(e.record, Notice)
    ]
    assert listed == [
        ("MembershipEvent", "2 offense(s)"),
        ("Message", "2 offense(s)"),
        ("Message", ""),
        ("JoinRequest", ""),
        ("MembershipEvent", ""),  # leaving: not asked about
    ]
    assert sorted(asked) == ["11", "22", "33"]  # Bob once, for his join and his message


def test_without_cas_nobody_is_asked_and_nobody_listed() -> None:
    async def main() -> list[LiveEvent]:
        async with FakeTelegram() as fake:
            last = fake.queue("message", message(21, BOB, text="你好"))
            events, _ = await polled(fake, last)
            return events

    assert [e.listed for e in run(main())] == [""]


# ---- 3. pictures, forwards and other kinds ----------------------------------------------


def test_a_batch_of_photos_is_fetched_at_once_and_delivered_in_order() -> None:
    """Each photo is a download: the connector fetches a batch's together (a raid's posters
    do not queue one behind another) and still emits the messages in the order they came."""

    async def main() -> None:
        async with FakeTelegram() as fake:
            fake.hold_downloads = asyncio.Event()
            last = 0
            for n in range(4):
                picture = f"jpeg {n}".encode()
                fake.add_file(f"p{n}-800", picture)
                sizes = photo_sizes(f"p{n}", [(800, 800, len(picture))])
                last = fake.queue("message", message(60 + n, ALICE, photo=sizes))

            async def release_when_all_are_asked(held: asyncio.Event) -> None:
                await until(lambda: fake.downloads_waiting == 4)
                held.set()

            releasing = asyncio.create_task(release_when_all_are_asked(fake.hold_downloads))
            events, _ = await polled(fake, last)
            await releasing
            assert [e.images for e in events] == [(f"jpeg {n}".encode(),) for n in range(4)]

    run(main())


def test_photo_is_downloaded_and_forward_and_media_kinds_are_marked() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            picture = b"\xff\xd8\xff\xe0 a small jpeg"
            sizes = photo_sizes("p", [(90, 90, 900), (800, 800, len(picture))])
            sizes.append(photo_sizes("p", [(2560, 2560, 6 * 2**20)])[0])  # over the 5 MB cap
            fake.add_file("p-800", picture)
            fake.add_file("p-2560", b"never fetched")
            origin = {"type": "user", "date": T0, "sender_user": BOB}
            q = fake.queue
            q(
                "message",
                message(30, ALICE, photo=sizes, caption="scan me", forward_origin=origin),
            )
            q("message", message(31, ALICE, photo=photo_sizes("gone", [(100, 100, 500)])))
            huge = photo_sizes("huge", [(4000, 4000, 0)])
            del huge[0]["file_size"]  # optional in PhotoSize: getFile tells, and it is too big
            fake.add_file("huge-4000", b"x" * (5 * 2**20 + 1))
            q("message", message(36, ALICE, photo=huge))
            document = {"file_id": "d", "file_unique_id": "ud", "file_name": "a.pdf"}
            q("message", message(32, ALICE, document=document, caption="rules"))
            q("message", message(33, ALICE, contact={"phone_number": "+100", "first_name": "X"}))
            video = {"file_id": "v", "file_unique_id": "uv", "width": 1, "height": 1}
            q("message", message(34, ALICE, video={**video, "duration": 3}))
            flags = {"type": "regular", "is_animated": False, "is_video": False}
            q("message", message(37, ALICE, sticker={**video, **flags}))
            last = q(
                "message",
                message(35, ALICE, sender_chat=chat(), text="from an anonymous admin"),
            )
            events, _ = await polled(fake, last)

            first = events[0]
            assert first.images == (picture,)
            assert fake.downloads == ["photos/file_0.jpg"]
            assert first.kinds == frozenset({"image", "forward"})
            assert isinstance(first.record, Message)
            assert (first.record.kind, first.record.text) == (MessageKind.IMAGE, "scan me")

            unfetchable = events[1]  # getFile fails: delivered all the same, without bytes
            assert unfetchable.images == ()
            assert unfetchable.kinds == frozenset({"image"})

            too_big = events[2]
            assert too_big.images == ()
            assert fake.downloads == ["photos/file_0.jpg"]

            kinds = [(e.record.kind, e.kinds) for e in events[3:7]]  # type: ignore[union-attr]
            assert kinds == [
                (MessageKind.FILE, frozenset({"file"})),
                (MessageKind.CARD, frozenset({"card"})),
                (MessageKind.VIDEO, frozenset({"video"})),
                (MessageKind.STICKER, frozenset({"sticker"})),
            ]
            anonymous = events[7]
            assert anonymous.role == "admin"
            assert anonymous.record.sender == Person("channel1234567890", "Runners")  # type: ignore[union-attr]

    run(main())


# ---- 4. actions --------------------------------------------------------------------------


def action(kind: ActionKind, **kw: Any) -> Action:
    return Action(id=1, kind=kind, connector="tg", group_id=str(GROUP_ID), **kw)


def test_a_picture_sent_as_a_file_is_fetched_like_a_photo() -> None:
    """An ad poster sent as a file skips Telegram's compression and any check of photos; a
    file that is no picture, or too large, is not fetched."""

    async def main() -> None:
        async with FakeTelegram() as fake:
            poster = b"\x89PNG\r\n\x1a\n an uncompressed poster"
            path = fake.add_file("pic", poster)
            fake.add_file("big", b"never fetched")
            sent = {"file_unique_id": "u", "file_name": "ad.png", "mime_type": "image/png"}
            q = fake.queue
            q("message", message(40, ALICE, document={**sent, "file_id": "pic", "file_size": 40}))
            large = {**sent, "file_id": "big", "file_size": 6 * 2**20}
            q("message", message(41, ALICE, document=large))
            paper = {"file_id": "pdf", "file_unique_id": "p", "mime_type": "application/pdf"}
            last = q("message", message(42, ALICE, document=paper))
            events, _ = await polled(fake, last)

            assert [e.images for e in events] == [(poster,), (), ()]
            assert fake.downloads == [path]
            pictures = frozenset({"file", "image"})  # a picture for the locks, fetched or not
            assert [e.kinds for e in events] == [pictures, pictures, frozenset({"file"})]
            assert {e.record.kind for e in events} == {MessageKind.FILE}  # type: ignore[union-attr]

    run(main())


def test_a_lock_takes_every_members_rights_and_the_unlock_gives_back_the_groups_own() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            async with closing(connector(fake)) as tg:
                before = await tg.execute(action(ActionKind.LOCK, seconds=1800))
                assert before is not None
                assert not any(fake.permissions.values())  # locked: nobody but admins posts
                # a retry that finds the group locked already keeps nothing of the lock
                assert await tg.execute(action(ActionKind.LOCK, seconds=1800)) == ""
                await tg.execute(action(ActionKind.UNLOCK, text=before))
                assert fake.permissions == {"can_send_messages": True, "can_change_info": False}
                await tg.execute(action(ActionKind.UNLOCK))  # nothing kept: members may post
                assert fake.permissions["can_send_messages"] is True
            assert [c.method for c in fake.calls].count("setChatPermissions") == 4

    run(main())


def test_each_action_makes_the_documented_bot_api_call() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            before = int(time.time())
            async with closing(connector(fake)) as tg:
                await tg.execute(action(ActionKind.DELETE, message_id="9"))
                await tg.execute(action(ActionKind.WARN, message_id="9", text="no ads please"))
                await tg.execute(action(ActionKind.MUTE, member_id="user22", seconds=600))
                await tg.execute(action(ActionKind.KICK, member_id="22"))
                await tg.execute(action(ActionKind.BAN, member_id="user33"))
                sent = await tg.execute(action(ActionKind.SEND, text="welcome"))
                assert sent is not None and sent.isdigit()  # to take it down later
                await tg.execute(action(ActionKind.APPROVE, member_id="user33", request_id="33"))
                await tg.execute(action(ActionKind.REJECT, member_id="user22", request_id="22"))
                await tg.execute(action(ActionKind.UNMUTE, member_id="user22"))
                await tg.execute(action(ActionKind.UNBAN, member_id="user33"))

            got = [(c.method, c.params) for c in fake.calls]
            assert [m for m, _ in got] == [
                "deleteMessage",
                "sendMessage",
                "restrictChatMember",
                "banChatMember",
                "unbanChatMember",
                "banChatMember",
                "sendMessage",
                "approveChatJoinRequest",
                "declineChatJoinRequest",
                "restrictChatMember",
                "unbanChatMember",
            ]
            p = [params for _, params in got]
            assert p[0] == {"chat_id": GROUP_ID, "message_id": 9}
            assert p[1]["chat_id"] == GROUP_ID
            assert p[1]["text"] == "no ads please"
            assert p[1]["reply_parameters"] == {
                "message_id": 9,
                "allow_sending_without_reply": True,
            }
            mute = p[2]
            assert (mute["chat_id"], mute["user_id"]) == (GROUP_ID, 22)
            assert mute["permissions"]
            assert not any(mute["permissions"].values())
            assert before + 600 <= mute["until_date"] <= int(time.time()) + 601
            assert p[3] == {"chat_id": GROUP_ID, "user_id": 22}
            assert p[4] == {"chat_id": GROUP_ID, "user_id": 22, "only_if_banned": True}
            assert p[5] == {"chat_id": GROUP_ID, "user_id": 33}
            assert p[6] == {"chat_id": GROUP_ID, "text": "welcome"}
            assert p[7] == {"chat_id": GROUP_ID, "user_id": 33}
            assert p[8] == {"chat_id": GROUP_ID, "user_id": 22}
            unmute = p[9]  # the sending rights back, no end date
            assert (unmute["chat_id"], unmute["user_id"]) == (GROUP_ID, 22)
            assert unmute["permissions"]["can_send_messages"] is True
            assert "until_date" not in unmute
            assert p[10] == {"chat_id": GROUP_ID, "user_id": 33, "only_if_banned": True}

    run(main())


def test_a_member_speaking_as_a_channel_is_banned_as_a_channel() -> None:
    """Members may post in a group as their channel ("channel{id}"): a chat cannot be muted or
    kicked, so the ladder's mute, kick and ban all ban it from posting here, and its
    lifting unbans it; its message is deleted as any other."""

    async def main() -> list[tuple[str, dict[str, Any]]]:
        async with FakeTelegram() as fake:
            async with closing(connector(fake)) as tg:
                for kind in (ActionKind.DELETE, ActionKind.MUTE, ActionKind.KICK, ActionKind.BAN):
                    await tg.execute(action(kind, member_id="channel1987654321", message_id="9"))
                await tg.execute(action(ActionKind.UNBAN, member_id="channel1987654321"))
            return [(c.method, c.params) for c in fake.calls]

    channel = {"chat_id": GROUP_ID, "sender_chat_id": -1001987654321}
    assert run(main()) == [
        ("deleteMessage", {"chat_id": GROUP_ID, "message_id": 9}),
        ("banChatSenderChat", channel),
        ("banChatSenderChat", channel),
        ("banChatSenderChat", channel),
        ("unbanChatSenderChat", channel),
    ]


def test_action_errors_become_rate_limits_or_failures() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake, closing(connector(fake)) as tg:
            delete = action(ActionKind.DELETE, message_id="9")

            fake.fail_rate_limit("deleteMessage", retry_after=3)
            with pytest.raises(RateLimited) as limited:
                await tg.execute(delete)
            assert limited.value.retry_after == 3

            fake.fail("deleteMessage", 400, "Bad Request: message to delete not found")
            await tg.execute(delete)  # already gone: done

            fake.fail("sendMessage", 400, "Bad Request: message to delete not found")
            with pytest.raises(ActionFailed) as other:  # only a delete may find it gone
                await tg.execute(action(ActionKind.SEND, text="x"))
            assert other.value.retry is False

            fake.fail("deleteMessage", 400, "Bad Request: message can't be deleted")
            with pytest.raises(ActionFailed) as refused:
                await tg.execute(delete)
            assert refused.value.retry is False
            assert "message can't be deleted" in str(refused.value)

            fake.fail("banChatMember", 403, "Forbidden: bot is not a member of the supergroup")
            with pytest.raises(ActionFailed) as forbidden:
                await tg.execute(action(ActionKind.BAN, member_id="22"))
            assert forbidden.value.retry is False

            fake.fail_server("restrictChatMember")
            with pytest.raises(ActionFailed) as server:
                await tg.execute(action(ActionKind.MUTE, member_id="22", seconds=60))
            assert server.value.retry is True

            fake.drop("sendMessage")
            with pytest.raises(ActionFailed) as dropped:
                await tg.execute(action(ActionKind.SEND, text="x"))
            assert dropped.value.retry is True
            assert dropped.value.unknown is True  # the server may have sent it before the drop
            assert TOKEN not in str(dropped.value)

            calls = len(fake.calls)
            for bad in (
                action(ActionKind.NOTIFY_OWNER, text="please look"),
                action(ActionKind.BAN, member_id="name:Bob"),
                action(ActionKind.SEND, text=""),
            ):
                with pytest.raises(ActionFailed) as failed:
                    await tg.execute(bad)
                assert failed.value.retry is False
            assert len(fake.calls) == calls  # nothing was sent for those

    run(main())


# ---- 5. reconnecting ---------------------------------------------------------------------


def test_polling_backs_off_and_reconnects_after_drops_and_server_errors() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            fake.drop("getUpdates")
            fake.fail_server("getUpdates")
            fake.drop("getUpdates")
            uid = fake.queue("message", message(40, ALICE, text="still here"))
            events, _ = await polled(fake, uid)
            assert [e.record.text for e in events] == ["still here"]  # type: ignore[union-attr]
            assert len(fake.calls_to("getUpdates")) >= 5

    run(main())


def test_backoff_doubles_up_to_the_cap() -> None:
    tg = TelegramConnector("tg", TOKEN, backoff_base=1, backoff_cap=30)
    assert [tg._backoff(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


# ---- 6. webhook --------------------------------------------------------------------------


def update_body(uid: int = 1) -> bytes:
    return json.dumps({"update_id": uid, "message": message(50, ALICE, text="hook")}).encode()


def test_webhook_checks_the_secret_and_the_body() -> None:
    async def main() -> None:
        events: list[LiveEvent] = []

        async def emit(event: LiveEvent) -> None:
            events.append(event)

        tg = TelegramConnector("tg", TOKEN, mode="webhook", webhook_secret=SECRET)
        app = tg.webhook_app(emit, path="/tg")
        async with closing(tg), TestClient(TestServer(app)) as client:
            ok = {SECRET_HEADER: SECRET}
            resp = await client.post("/tg", data=update_body(), headers={SECRET_HEADER: "nope"})
            assert resp.status == 401
            resp = await client.post("/tg", data=update_body())
            assert resp.status == 401
            assert events == []
            resp = await client.post("/tg", data=b"{not json", headers=ok)
            assert resp.status == 400
            resp = await client.post("/tg", data=b'{"no_update_id": 1}', headers=ok)
            assert resp.status == 400
            resp = await client.post("/tg", data=b"\xff\xfe", headers=ok)
            assert resp.status == 400
            assert events == []
            resp = await client.post("/tg", data=update_body(), headers=ok)
            assert resp.status == 200
            assert [e.record.text for e in events] == ["hook"]  # type: ignore[union-attr]

            # Header names are case-insensitive, even in a plain dict.
            lower = {SECRET_HEADER.lower(): SECRET}
            assert await tg.handle_webhook(lower, update_body(2), emit) == 200
            assert len(events) == 2

            async def broken(event: LiveEvent) -> None:
                raise RuntimeError("database is down")

            # Not stored: a 500 makes Telegram deliver the update again.
            assert await tg.handle_webhook(ok, update_body(3), broken) == 500

    run(main())


def test_webhook_mode_run_only_waits_and_needs_a_secret() -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            tg = connector(fake, mode="webhook", webhook_secret=SECRET)

            async def emit(event: LiveEvent) -> None:
                raise AssertionError("nothing to emit")

            task = asyncio.create_task(tg.run(emit))
            await asyncio.sleep(0.05)
            assert not task.done()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert fake.calls == []

    run(main())
    with pytest.raises(ValueError, match="webhook secret"):
        TelegramConnector("tg", TOKEN, mode="webhook")
    with pytest.raises(ValueError, match="mode"):
        TelegramConnector("tg", TOKEN, mode="push")
    with pytest.raises(ValueError, match="token"):
        TelegramConnector("tg", "not a token")
