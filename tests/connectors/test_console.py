"""The console connector: typed lines in, events out; actions in, `[qunzhu]` lines out.

Lines come from an async generator, which may also execute actions between two lines, as the
engine would while someone types; the clock is a list the test moves by hand."""

from __future__ import annotations

import asyncio
import functools
import io
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qunzhu.connectors import GROUP_ADMIN, Connector
from qunzhu.connectors.console import PREFIX, ConsoleConnector
from qunzhu.model.live import Action, ActionFailed, ActionKind, Appeal, JoinRequest, LiveEvent
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

T0 = 1767225600.0  # 2026-01-01 00:00 UTC
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def aio(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 10))

    return run


class Script:
    """Lines for the connector, from whichever source the test sets before each `run`."""

    def __init__(self) -> None:
        self.source: AsyncIterator[str] = _feed([])

    def __aiter__(self) -> Script:
        return self

    async def __anext__(self) -> str:
        return await anext(self.source)


class Trial:
    """A connector with a hand-moved clock, its written lines and its emitted events."""

    def __init__(self, **options: Any) -> None:
        self.now = T0
        self.out: list[str] = []
        self.events: list[LiveEvent] = []
        self.script = Script()
        self.console = ConsoleConnector(
            lines=self.script, write=self.out.append, clock=lambda: self.now, **options
        )

    async def emit(self, event: LiveEvent) -> None:
        self.events.append(event)

    async def type(self, lines: Iterable[str] | AsyncIterator[str]) -> None:
        self.script.source = lines if isinstance(lines, AsyncIterator) else _feed(lines)
        await self.console.run(self.emit)

    async def act(self, kind: ActionKind, **fields: Any) -> str:
        """Execute one action and return the one line it wrote."""
        before = len(self.out)
        fields.setdefault("group_id", "console")
        await self.console.execute(Action(id=1, kind=kind, connector="console", **fields))
        assert len(self.out) == before + 1
        return self.out[-1]

    @property
    def records(self) -> list[Message | MembershipEvent | JoinRequest]:
        return [event.record for event in self.events]


async def _feed(lines: Iterable[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line + "\n"


def test_it_is_a_connector_that_can_do_what_a_group_admin_can() -> None:
    console: Connector = ConsoleConnector()
    assert console.name == "console"
    assert console.capabilities == GROUP_ADMIN


@aio
async def test_messages_carry_member_ids_urls_and_count_up() -> None:
    trial = Trial()
    await trial.type(
        [
            "alice: hello everyone",
            "bob: join us at https://example.com/a?b=1, or http://x.cn/q.",
            "carol：@alice 你好",  # a Chinese keyboard types a full-width colon
        ]
    )
    first, second, third = trial.events
    group = Group(Platform.CONSOLE, "console", "trial group")
    assert all(event.group == group and event.connector == "console" for event in trial.events)
    assert first.record == Message(
        "1",
        Person("alice", "alice"),
        datetime(2026, 1, 1, tzinfo=UTC),
        MessageKind.TEXT,
        "hello everyone",
    )
    assert first.kinds == frozenset() and first.role == "member"
    assert isinstance(second.record, Message)
    assert second.record.platform_id == "2"
    assert second.record.kind is MessageKind.TEXT
    assert second.record.urls == ("https://example.com/a?b=1", "http://x.cn/q")
    assert second.kinds == frozenset({"link"})
    assert isinstance(third.record, Message)
    assert third.record.sender == Person("carol", "carol")
    assert third.record.mentions == ("alice",)
    assert third.record.sent_at.tzinfo is not None
    assert [line for line in trial.out if line.startswith("#")] == ["#1", "#2", "#3"]


@aio
async def test_group_id_and_name_are_the_ones_given() -> None:
    trial = Trial(name="try", group_id="g1", group_name="Tea lovers")
    await trial.type(["alice: hi"])
    assert trial.events[0].connector == "try"
    assert trial.events[0].group == Group(Platform.CONSOLE, "g1", "Tea lovers")


@aio
async def test_membership_commands_make_membership_events() -> None:
    trial = Trial()
    await trial.type(["/join bob", "/rename bob Bob Li · Shanghai", "bob: hi", "/leave bob"])
    join, rename, message, leave = trial.records
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert join == MembershipEvent(
        "j1", Person("bob", "bob"), MembershipAction.JOIN, at, method=JoinMethod.LINK
    )
    assert rename == MembershipEvent(
        "n2", Person("bob", "bob"), MembershipAction.RENAME, at, new_name="Bob Li · Shanghai"
    )
    # The id stays what was typed; the display name follows the rename.
    assert isinstance(message, Message)
    assert message.sender == Person("bob", "Bob Li · Shanghai")
    assert message.platform_id == "1"
    assert leave == MembershipEvent(
        "l3", Person("bob", "Bob Li · Shanghai"), MembershipAction.LEAVE, at
    )


@aio
async def test_join_requests_keep_their_answer() -> None:
    trial = Trial()
    await trial.type(["/request dave I run a tea shop in Hangzhou", "/request erin"])
    first, second = trial.records
    assert first == JoinRequest(
        "r1",
        Person("dave", "dave"),
        datetime(2026, 1, 1, tzinfo=UTC),
        "I run a tea shop in Hangzhou",
    )
    assert isinstance(second, JoinRequest)
    assert (second.platform_id, second.answer) == ("r2", "")
    assert any("r1" in line and "dave" in line for line in trial.out)


@aio
async def test_admin_events_carry_the_admin_role_from_then_on() -> None:
    trial = Trial()
    await trial.type(["alice: before", "/admin alice", "alice: after", "/leave alice", "bob: hi"])
    assert [event.role for event in trial.events] == ["member", "admin", "admin", "member"]


@aio
async def test_image_sends_the_file_bytes(tmp_path: Path) -> None:
    picture = tmp_path / "qr code.png"
    picture.write_bytes(PNG)
    trial = Trial()
    await trial.type([f"/image alice {picture}"])
    (event,) = trial.events
    assert isinstance(event.record, Message)
    assert event.record.kind is MessageKind.IMAGE
    assert event.record.sender == Person("alice", "alice")
    assert event.images == (PNG,)
    assert event.kinds == frozenset({"image"})


@aio
async def test_image_with_a_missing_path_writes_one_line_and_sends_nothing(
    tmp_path: Path,
) -> None:
    trial = Trial()
    missing = tmp_path / "nope.png"
    await trial.type([f"/image alice {missing}", "alice: still here"])
    (event,) = trial.events
    assert isinstance(event.record, Message)
    assert event.record.platform_id == "1"  # the failed picture used no id
    refusal = trial.out[1]
    assert refusal.startswith("cannot read the picture") and str(missing) in refusal


@aio
async def test_bad_input_writes_a_hint_and_never_raises() -> None:
    trial = Trial()
    bad = ["", "   ", "hello there", "https://example.com", "/dance", "/join", "/rename bob"]
    bad += ["/join bob extra", "alice:", "/image alice"]
    await trial.type([*bad, "alice: ok"])
    assert len(trial.events) == 1
    hints = trial.out[1:-1]  # after the greeting, before "#1"
    assert len(hints) == len(bad) - 2  # blank lines say nothing
    assert hints[0] == "not understood: hello there (type /help)"
    assert "not understood: /dance (type /help)" in hints
    assert "usage: /join NAME" in hints
    assert "usage: /rename NAME NEW" in hints
    assert "usage: /image NAME PATH" in hints


@aio
async def test_a_private_message_to_the_bot_is_an_appeal() -> None:
    """`/dm NAME TEXT` is what a member writing to the bot in private on Telegram or QQ is:
    handed to `appeals`, the answer shown as the bot's private reply; no group event."""
    trial = Trial()
    await trial.type(["/dm 小美 我发的是跑步路线"])
    assert trial.out[-1] == "nobody reads the bot's private messages here"
    heard: list[Appeal] = []

    async def appeals(appeal: Appeal) -> str | None:
        heard.append(appeal)
        return "已转给群管理员"

    trial.console.appeals = appeals
    await trial.type(["/dm 小美 我发的是跑步路线", "/dm 小美", "/dm"])
    assert trial.events == []
    assert [(a.member, a.text) for a in heard] == [(Person("小美", "小美"), "我发的是跑步路线")]
    assert trial.out[-3:] == [
        f"{PREFIX} tells 小美 in private: 已转给群管理员",
        "usage: /dm NAME TEXT",
        "usage: /dm NAME TEXT",
    ]
    told = await trial.act(ActionKind.TELL, member_id="小美", text="申诉已通过")
    assert told == f"{PREFIX} tells 小美 in private: 申诉已通过"


@aio
async def test_quit_ends_run_and_leaves_the_rest_unread() -> None:
    trial = Trial()
    read: list[str] = []

    async def lines() -> AsyncIterator[str]:
        for line in ["alice: one", "/quit", "alice: two"]:
            read.append(line)
            yield line

    await trial.type(lines())
    assert len(trial.events) == 1
    assert read == ["alice: one", "/quit"]


@aio
async def test_the_end_of_input_ends_run() -> None:
    trial = Trial()
    await trial.type(["alice: one"])  # no /quit: run returns when the lines run out
    assert len(trial.events) == 1


def test_default_input_and_output_are_stdin_and_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("alice: from the keyboard\n\n/join bob\n"))
    events: list[LiveEvent] = []

    async def emit(event: LiveEvent) -> None:
        events.append(event)

    asyncio.run(asyncio.wait_for(ConsoleConnector().run(emit), 10))
    assert [type(event.record) for event in events] == [Message, MembershipEvent]
    out = capsys.readouterr().out.splitlines()
    assert "#1" in out and "bob joined the group" in out


@aio
async def test_help_lists_every_command() -> None:
    trial = Trial()
    await trial.type(["/help"])
    text = "\n".join(trial.out)
    for syntax in ["NAME: TEXT", "/join NAME", "/leave NAME", "/rename NAME NEW"]:
        assert syntax in text
    for syntax in ["/request NAME ANSWER", "/admin NAME", "/image NAME PATH", "/help", "/quit"]:
        assert syntax in text
    assert PREFIX in text
    assert trial.events == []


@aio
async def test_a_muted_member_cannot_post_until_the_mute_ends() -> None:
    trial = Trial()

    async def lines() -> AsyncIterator[str]:
        yield "alice: buy cheap followers"
        await trial.act(ActionKind.MUTE, member_id="alice", seconds=600)
        yield "alice: why"
        yield f"/image alice {__file__}"
        yield "bob: I can still talk"
        trial.now += 600
        yield "alice: I am back"

    await trial.type(lines())
    assert [(r.sender.user_id, r.platform_id) for r in trial.records if isinstance(r, Message)] == [
        ("alice", "1"),
        ("bob", "2"),
        ("alice", "3"),
    ]
    refusals = [line for line in trial.out if "muted" in line and not line.startswith(PREFIX)]
    assert refusals == ["alice is muted for 600 more seconds: the message was not sent"] * 2


@aio
async def test_a_locked_group_hears_only_its_admins_until_unlocked() -> None:
    trial = Trial()

    async def lines() -> AsyncIterator[str]:
        yield "/admin boss"
        await trial.act(ActionKind.LOCK, seconds=600)
        yield "alice: hello?"
        yield "boss: we are under a raid, back soon"
        await trial.act(ActionKind.UNLOCK)
        yield "alice: hello again"

    await trial.type(lines())
    said = [(r.sender.user_id, r.text) for r in trial.records if isinstance(r, Message)]
    assert said == [("boss", "we are under a raid, back soon"), ("alice", "hello again")]
    assert [line for line in trial.out if line.startswith(PREFIX)] == [
        f"{PREFIX} muted the whole group: only admins may post",
        f"{PREFIX} the whole group may post again",
    ]


@aio
async def test_a_kicked_member_may_come_back_a_banned_one_may_not() -> None:
    trial = Trial()

    async def lines() -> AsyncIterator[str]:
        await trial.act(ActionKind.KICK, member_id="alice")
        await trial.act(ActionKind.BAN, member_id="mallory")
        yield "alice: let me in"
        yield "mallory: buy now"
        yield "/leave alice"
        yield "/join mallory"
        yield "/request mallory please"
        yield "/join alice"
        yield "alice: thanks"

    await trial.type(lines())
    assert [type(r).__name__ for r in trial.records] == ["MembershipEvent", "Message"]
    join, message = trial.records
    assert isinstance(join, MembershipEvent) and join.member.user_id == "alice"
    assert isinstance(message, Message) and message.text == "thanks"
    notes = [line for line in trial.out if "alice" in line or "mallory" in line]
    assert "alice was removed from the group: /join alice to come back first" in notes
    assert notes.count("mallory is banned from the group") == 3


@aio
async def test_lifting_a_mute_or_a_ban() -> None:
    trial = Trial()

    async def lines() -> AsyncIterator[str]:
        await trial.act(ActionKind.MUTE, member_id="alice", seconds=600)
        await trial.act(ActionKind.BAN, member_id="bob")
        yield "alice: still muted"
        await trial.act(ActionKind.UNMUTE, member_id="alice")
        await trial.act(ActionKind.UNBAN, member_id="bob")
        yield "alice: free again"
        yield "/join bob"

    await trial.type(lines())
    assert [type(r).__name__ for r in trial.records] == ["Message", "MembershipEvent"]
    assert trial.records[0].text == "free again"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "fields", "expected"),
    [
        (ActionKind.DELETE, {"message_id": "1"}, "message #1 deleted (alice: buy cheap followers)"),
        (
            ActionKind.WARN,
            {"member_id": "alice", "message_id": "1", "text": "No ads."},
            "warns @alice, replying to #1: No ads. (#2)",
        ),
        (ActionKind.WARN, {"member_id": "alice", "text": "No ads."}, "warns @alice: No ads. (#2)"),
        (
            ActionKind.SEND,
            {"message_id": "1", "text": "See the FAQ"},
            "says, replying to #1: See the FAQ (#2)",
        ),
        (ActionKind.SEND, {"text": "Welcome!"}, "says: Welcome! (#2)"),
        (ActionKind.MUTE, {"member_id": "alice", "seconds": 300}, "muted alice for 300 s"),
        (ActionKind.MUTE, {"member_id": "alice"}, "muted alice until the trial ends"),
        (
            ActionKind.KICK,
            {"member_id": "alice"},
            "removed alice from the group (they may /join again)",
        ),
        (
            ActionKind.BAN,
            {"member_id": "alice"},
            "banned alice: removed, and refused if they ask to join again",
        ),
        (
            ActionKind.APPROVE,
            {"request_id": "r1"},
            "approved join request r1 (dave): /join dave to have them come in",
        ),
        (ActionKind.REJECT, {"request_id": "r1"}, "rejected join request r1 (dave)"),
        (
            ActionKind.REJECT,
            {"request_id": "r1", "member_id": "dave", "reason": "no answer"},
            "rejected join request r1 (dave): no answer",
        ),
        (
            ActionKind.NOTIFY_OWNER,
            {"member_id": "alice", "text": "alice keeps posting QR codes"},
            "note for the admins: alice keeps posting QR codes",
        ),
    ],
)
@aio
async def test_each_action_writes_one_marked_line(
    kind: ActionKind, fields: dict[str, Any], expected: str
) -> None:
    trial = Trial()
    await trial.type(["alice: buy cheap followers", "/request dave tea"])
    assert await trial.act(kind, **fields) == f"{PREFIX} {expected}"


@aio
async def test_a_deleted_message_is_gone() -> None:
    trial = Trial()
    await trial.type(["alice: " + "spam " * 20])
    deleted = await trial.act(ActionKind.DELETE, message_id="1")
    assert deleted.endswith("…)") and len(deleted) < 100  # a long message is quoted short
    assert await trial.act(ActionKind.DELETE, message_id="1") == (
        f"{PREFIX} message #1 was already gone"
    )
    # A warning after the deletion does not quote what is gone.
    warn = await trial.act(ActionKind.WARN, member_id="alice", message_id="1", text="No ads.")
    assert warn == f"{PREFIX} warns @alice: No ads. (#2)"
    assert trial.console.deleted == {"1"}
    # the bot's own message can be deleted like any other
    assert await trial.act(ActionKind.DELETE, message_id="2") == (
        f"{PREFIX} message #2 deleted (qunzhu: No ads.)"
    )


@aio
async def test_an_action_for_another_group_fails_for_good() -> None:
    trial = Trial()
    with pytest.raises(ActionFailed) as failed:
        await trial.act(ActionKind.SEND, group_id="elsewhere", text="hello")
    assert failed.value.retry is False
    assert "elsewhere" in str(failed.value)
    assert trial.out == []


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (ActionKind.DELETE, {}),
        (ActionKind.MUTE, {"seconds": 60}),
        (ActionKind.KICK, {}),
        (ActionKind.APPROVE, {}),
        (ActionKind.SEND, {"text": "  "}),
    ],
)
@aio
async def test_an_action_missing_what_it_needs_fails_for_good(
    kind: ActionKind, fields: dict[str, Any]
) -> None:
    trial = Trial()
    with pytest.raises(ActionFailed) as failed:
        await trial.act(kind, **fields)
    assert failed.value.retry is False
    assert trial.console.muted_until == {} and trial.console.kicked == set()


@aio
async def test_chinese_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    trial = Trial()
    assert trial.console.group.name == "试验群"

    async def lines() -> AsyncIterator[str]:
        await trial.act(ActionKind.MUTE, member_id="小明", seconds=60)
        yield "小明：在吗"

    await trial.type(lines())
    assert trial.events == []
    assert f"{PREFIX} 已禁言 小明 60 秒" in trial.out
    assert "小明 还在禁言中（剩余 60 秒）：消息未发出" in trial.out
