"""DiscordChatExporter JSON: message and system kinds, replies, mentions, streaming, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from qunzhu import sources
from qunzhu.demo import DemoCommunity, write_export
from qunzhu.demo.discord import channel_snowflake, message_snowflake, user_snowflake
from qunzhu.importing import import_file
from qunzhu.model import Group, JoinMethod, MembershipAction, MembershipEvent, Message, MessageKind
from qunzhu.sources import ReadContext, SourceError
from qunzhu.store import schema as t
from qunzhu.store.ingest import to_ms
from tests.conftest import shared_sample

T0 = datetime(2024, 3, 25, 1, 0, tzinfo=UTC)
CHANNEL = "810000000000000000"


def user(n: int, nick: str | None = None, bot: bool = False) -> dict[str, Any]:
    return {
        "id": f"10000000000000000{n}",
        "name": f"user{n}",
        "discriminator": "0000",
        "nickname": nick,
        "color": None,
        "isBot": bot,
        "roles": [],
        "avatarUrl": "https://cdn.discordapp.com/embed/avatars/0.png",
    }


def msg(i: int, kind: str, author: dict[str, Any], content: str = "", **extra: Any) -> dict:
    base = {
        "id": f"83000000000000000{i:02d}",
        "type": kind,
        "timestamp": (T0 + timedelta(minutes=i)).astimezone().isoformat(),  # any offset
        "timestampEdited": None,
        "callEndedTimestamp": None,
        "isPinned": False,
        "content": content,
        "author": author,
        "attachments": [],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
        "inlineEmojis": [],
    }
    base.update(extra)
    return base


def attach(name: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "840000000000000001",
            "url": f"https://x/{name}",
            "fileName": name,
            "fileSizeBytes": 9,
        }
    ]


ALICE, BOB, CAROL, BOT = user(1, "Alice"), user(2, "Bobby"), user(3), user(9, "Helper", bot=True)


def channel_export() -> dict[str, Any]:
    """A guild channel with every message and system kind the reader handles."""
    ref = {"type": "Default", "messageId": "8300000000000000002", "channelId": CHANNEL}
    messages = [
        msg(1, "GuildMemberJoin", CAROL, "Joined the server."),
        msg(2, "Default", ALICE, "Welcome @user3!", mentions=[CAROL]),
        msg(3, "Reply", CAROL, "thanks!", mentions=[ALICE], reference=ref),
        msg(4, "Default", BOB, "our booth", attachments=attach("booth.JPG")),
        msg(5, "Default", BOB, "", attachments=attach("run.mp4")),
        msg(6, "Default", BOB, "", attachments=attach("voice-message.ogg")),
        msg(7, "Default", BOB, "表格", attachments=attach("rules.pdf")),
        msg(8, "Default", CAROL, "", stickers=[{"id": "1", "name": "Wave", "format": "Png"}]),
        msg(9, "Default", ALICE, "see https://example.org/a and http://x.cn/b", embeds=[{}]),
        msg(10, "Default", BOT, "", embeds=[{"title": "Daily stats"}]),
        msg(11, "ChannelPinnedMessage", ALICE, "Pinned a message.", reference=ref),
        msg(12, "20", BOT, "Pong!"),
        msg(13, "Call", ALICE, "Started a call that lasted 3 minutes."),
        msg(14, "ThreadCreated", ALICE, "Started a thread."),
        msg(15, "Default", BOT, "beep"),
        msg(
            16,
            "Default",
            BOB,
            "",
            reference={"type": "Forward", "messageId": "1"},
            forwardedMessage={"content": "转发的内容"},
        ),
    ]
    return {
        "guild": {"id": "800000000000000000", "name": "Demo Builders", "iconUrl": None},
        "channel": {
            "id": CHANNEL,
            "type": "GuildTextChat",
            "categoryId": "1",
            "category": "Community",
            "name": "general",
            "topic": None,
        },
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2024-04-01T00:00:00+00:00",
        "messages": messages,
        "messageCount": len(messages),
    }


def group_dm_export() -> dict[str, Any]:
    data = channel_export()
    data["guild"] = {"id": "0", "name": "Direct Messages", "iconUrl": None}
    data["channel"].update(type="DirectGroupTextChat", name="周末跑团", category="Group")
    data["messages"] = [
        msg(1, "RecipientAdd", ALICE, "Added Bobby to the group.", mentions=[BOB]),
        msg(2, "Default", BOB, "hi"),
        msg(3, "RecipientRemove", BOB, "Left the group.", mentions=[BOB]),
        msg(4, "RecipientAdd", ALICE, "Added Carol to the group.", mentions=[CAROL]),
        msg(5, "RecipientRemove", ALICE, "Removed Carol from the group.", mentions=[CAROL]),
        msg(6, "RecipientAdd", ALICE, "Added a recipient."),  # no mentions: nobody to name
        msg(7, "RecipientRemove", CAROL, "Left the group."),  # older exports: no mentions
    ]
    return data


def write(tmp_path: Path, data: Any, name: str = "general.json", indent: bool = True) -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 if indent else 0))
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "discord", ctx or ReadContext()))


def test_group_and_message_kinds(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write(tmp_path, channel_export()), ctx)
    group = got[0]
    assert isinstance(group, Group)
    assert (group.platform_id, group.name) == (CHANNEL, "Demo Builders / general")
    assert group.created_at == datetime(2021, 2, 13, 4, 10, 49, 72000, tzinfo=UTC)  # snowflake
    out = {m.platform_id[-2:]: m for m in got if isinstance(m, Message)}
    assert sorted(out) == ["02", "03", "04", "05", "06", "07", "08", "09", "10", "15", "16"]
    assert out["02"].sender == (ALICE["id"], "Alice") and out["02"].mentions == (CAROL["id"],)
    assert out["02"].sent_at == T0 + timedelta(minutes=2) and not ctx.tz_assumed
    assert out["03"].reply_to == "8300000000000000002" and out["03"].sender.name == "user3"
    kinds = {k: out[k].kind for k in out}
    assert kinds == {
        "02": MessageKind.TEXT,
        "03": MessageKind.TEXT,
        "04": MessageKind.IMAGE,
        "05": MessageKind.VIDEO,
        "06": MessageKind.VOICE,
        "07": MessageKind.FILE,
        "08": MessageKind.STICKER,
        "09": MessageKind.LINK,
        "10": MessageKind.CARD,
        "15": MessageKind.TEXT,  # bots' own messages are kept: they are in the channel
        "16": MessageKind.TEXT,
    }
    assert out["09"].urls == ("https://example.org/a", "http://x.cn/b")
    assert out["04"].text == "our booth"
    assert out["16"].text == "转发的内容" and out["16"].reply_to is None  # a forward, no reply
    whys = " ".join(s.why for s in ctx.skipped)
    for kind in ("ChannelPinnedMessage", "'20'", "Call", "ThreadCreated"):
        assert kind in whys
    assert len(ctx.skipped) == 4 and ctx.expected == 16


def test_join_and_group_dm_membership(tmp_path: Path) -> None:
    [join] = [
        e for e in records(write(tmp_path, channel_export())) if isinstance(e, MembershipEvent)
    ]
    assert (join.member.user_id, join.action, join.method) == (
        CAROL["id"],
        MembershipAction.JOIN,
        JoinMethod.UNKNOWN,
    )
    ctx = ReadContext()
    got = records(write(tmp_path, group_dm_export(), "dm.json"), ctx)
    assert got[0].name == "周末跑团"  # a group DM belongs to no server
    events = [
        (e.member.user_id[-1], e.action, e.method, e.actor and e.actor.user_id[-1])
        for e in got
        if isinstance(e, MembershipEvent)
    ]
    assert events == [
        ("2", MembershipAction.JOIN, JoinMethod.INVITE, "1"),
        ("2", MembershipAction.LEAVE, None, None),
        ("3", MembershipAction.JOIN, JoinMethod.INVITE, "1"),
        ("3", MembershipAction.KICK, None, "1"),
        ("3", MembershipAction.LEAVE, None, None),
    ]
    assert [s.where for s in ctx.skipped] == ["message 5"]


def test_timestamp_without_offset_uses_tz(tmp_path: Path) -> None:
    data = channel_export()
    data["messages"] = [msg(1, "Default", ALICE, "hi", timestamp="2024-03-01T09:00:00")]
    ctx = ReadContext(tz=sources.zone("Asia/Shanghai"))
    [_, m] = records(write(tmp_path, data), ctx)
    assert m.sent_at == datetime(2024, 3, 1, 1, 0, tzinfo=UTC) and ctx.tz_assumed


def test_import_and_reimport(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, channel_export())
    s = import_file(sqlite_engine, path).summary
    assert (s.format, s.groups, s.messages_added, s.membership_events_added) == (
        "discord",
        1,
        11,
        1,
    )
    assert s.members == 4  # Alice, Bobby, user3, the bot
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.membership_events_added, again.messages_skipped) == (
        0,
        0,
        11,
    )


def test_overlapping_exports_add_the_union(sqlite_engine: Engine, tmp_path: Path) -> None:
    full = channel_export()
    first, second = channel_export(), channel_export()
    first["messages"] = full["messages"][:10]
    second["messages"] = full["messages"][6:]
    a = import_file(sqlite_engine, write(tmp_path, first, "a.json")).summary
    b = import_file(sqlite_engine, write(tmp_path, second, "b.json")).summary
    assert (a.messages_added, b.messages_added, b.messages_skipped) == (9, 2, 4)
    assert a.membership_events_added + b.membership_events_added == 1


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda d: d["messages"].__setitem__(3, "oops"), "message 3"),
        (lambda d: d["messages"][4].__setitem__("timestamp", "yesterday"), "message 4"),
        (lambda d: d.pop("channel"), "'channel'"),
        (lambda d: d.pop("messages"), "'messages'"),
        (lambda d: d["channel"].__setitem__("type", "DirectTextChat"), "channel.type"),
    ],
)
def test_bad_structure_names_the_place(tmp_path: Path, mutate: Any, expect: str) -> None:
    data = channel_export()
    mutate(data)
    with pytest.raises(SourceError) as err:
        records(write(tmp_path, data))
    assert expect in str(err.value) and "\n" not in str(err.value)


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (t.messages, t.membership_events, t.members, t.groups)
        )


def test_truncated_file_rolls_back_and_names_the_message(engine: Engine, tmp_path: Path) -> None:
    raw = orjson.dumps(channel_export(), option=orjson.OPT_INDENT_2)
    cut = tmp_path / "cut.json"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(SourceError) as err:
        import_file(engine, cut)
    text = str(err.value)
    assert "cut.json" in text and "truncated" in text and "message " in text and "\n" not in text
    assert _counts(engine) == (0, 0, 0, 0)
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b'{"guild": {"id": "1", oops')
    with pytest.raises(SourceError, match="not valid JSON"):
        import_file(engine, garbage, fmt="discord")


def test_detection(tmp_path: Path) -> None:
    assert sources.detect(write(tmp_path, channel_export())) == "discord"
    assert sources.detect(write(tmp_path, channel_export(), "flat.json", indent=False)) == "discord"
    telegram_like = {"name": "x", "type": "private_group", "id": 1, "messages": []}
    assert not sources.module("discord").sniff(orjson.dumps(telegram_like))
    assert not sources.module("discord").sniff(b'{"messages": [], "guild": {}}')


def test_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    paths = write_export("discord", community, tmp_path / "demo")
    stats = community.stats
    assert len(paths) == 2 and all(sources.detect(p) == "discord" for p in paths)
    added = events = members = 0
    for path in paths:
        s = import_file(engine, path).summary
        added, events, members = (
            added + s.messages_added,
            events + s.membership_events_added,
            members + s.members,
        )
    assert added == stats.messages
    assert events == stats.joins  # Discord keeps no leaves or kicks in channel history
    assert members == len(stats.members)
    generated: dict[str, tuple[str, Message]] = {}
    channel = ""
    for record in community:
        if isinstance(record, Group):
            channel = channel_snowflake(record)
        elif isinstance(record, Message):
            generated[message_snowflake(channel, record.platform_id)] = (channel, record)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                t.messages.c.platform_id,
                t.messages.c.text,
                t.messages.c.kind,
                t.messages.c.reply_to,
                t.messages.c.sent_at,
                t.messages.c.mentions,
                t.members.c.external_id,
            ).join(t.members, t.members.c.id == t.messages.c.sender_id)
        ).all()
    assert len(rows) == stats.messages
    for row in rows:
        channel, want = generated[row.platform_id]
        assert row.text.endswith(want.text)  # the exporter writes mentions as "@name " first
        assert row.kind == want.kind.value
        if want.reply_to is None:
            assert row.reply_to is None
        else:
            assert row.reply_to == message_snowflake(channel, want.reply_to)
        at = want.sent_at
        assert row.sent_at == to_ms(at.replace(microsecond=at.microsecond // 1000 * 1000))
        assert row.external_id == user_snowflake(want.sender.user_id or "")
        assert (row.mentions or "") == "\n".join(user_snowflake(u) for u in want.mentions)


def test_reference_sample_channel(sqlite_engine: Engine) -> None:
    # Read by hand: 6 messages; 1 join, 3 member messages (text, reply, image), a pin and a
    # slash-command response ("20") that are system lines.
    path = shared_sample("reference_synthetic/discordchatexporter_channel.json")
    result = import_file(sqlite_engine, path)
    s = result.summary
    assert (s.messages_added, s.membership_events_added, s.members) == (3, 1, 3)
    assert s.group_names == ["Demo Builders / general"] and len(result.skipped) == 2


def test_chat_analytics_group_dm_and_dm(sqlite_engine: Engine) -> None:
    # Older schema (no reference.type). GC: 6 entries, of which a channel rename, an icon
    # change and a call are system lines; the 3 others are messages, one a reply.
    gc = shared_sample("chat-analytics_AGPL-3.0/discord__GC_3A_5M.json")
    result = import_file(sqlite_engine, gc)
    assert result.summary.messages_added == 3 and result.summary.group_names == ["a group chat"]
    with sqlite_engine.connect() as conn:
        replies = conn.execute(
            select(t.messages.c.reply_to).where(t.messages.c.reply_to.isnot(None))
        )
        assert [r.reply_to for r in replies] == ["1064990824305274930"]
    dm = shared_sample("chat-analytics_AGPL-3.0/discord__DM_2A_2M.json")
    with pytest.raises(SourceError, match="one-to-one"):
        import_file(sqlite_engine, dm)
