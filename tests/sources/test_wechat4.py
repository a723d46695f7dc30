"""WeChat 4.x JSON (WeFlow, EchoTrace): labels, localType, ids or content keys, streaming.

No real export was available: the fixtures follow formats-and-metrics.md A1.6 (EchoTrace-style
labels, `isSend: null` for system rows) and WeFlow's `exportJsonWriter.ts` (`platformMessageId`,
`replyToMessageId`, the "arkme" `senders` list).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from qunzhu import sources
from qunzhu.demo import DemoCommunity, write_export
from qunzhu.importing import import_file
from qunzhu.model import Group, JoinMethod, MembershipAction, MembershipEvent, Message, MessageKind
from qunzhu.sources import ReadContext, SourceError
from tests.conftest import shared_sample
from tests.sources.test_wechat_memotrace import demo_messages, event_counts

ROOM = "39876543210@chatroom"
T0 = 1735700000


def msg(
    n: int, label: str, local: int | None, content: str, sender: str = "", **kw: Any
) -> dict[str, Any]:
    out = {
        "localId": n,
        "createTime": T0 + n,
        "formattedTime": "",
        "type": label,
        "localType": local,
        "content": content,
        "isSend": kw.pop("isSend", 0),
        "senderUsername": sender,
        "senderDisplayName": kw.pop("name", sender.removeprefix("wxid_").upper()),
        "source": "",
    }
    return out | kw


ECHOTRACE = [  # no ids: content keys; labels of A1.6
    msg(1, "系统消息", 10000, '"阿A"邀请"阿B、阿C"加入了群聊', isSend=None),
    msg(2, "文本消息", 1, "大家好 https://e.org/1", "wxid_a"),
    msg(3, "图片消息", 3, "[图片]", "wxid_b"),
    msg(4, "语音消息", 34, "[语音]", "wxid_b"),
    msg(5, "视频消息", 43, "[视频]", "wxid_b"),
    msg(6, "文件消息", (6 << 32) | 49, "a.pdf", "wxid_b"),
    msg(7, "动画表情", 47, "[表情]", "wxid_b"),
    msg(8, "名片消息", 42, "[名片]", "wxid_b"),
    msg(9, "卡片式链接", (5 << 32) | 49, "标题 https://e.org/2", "wxid_c"),
    msg(10, "图文消息", 49, "图文", "wxid_c"),
    msg(11, "位置消息", 48, "[位置]", "wxid_c"),
    msg(12, "红包卡片", (2001 << 32) | 49, "[红包]", "wxid_c"),
    msg(13, "转账卡片", (2000 << 32) | 49, "[转账]", "wxid_c"),
    msg(14, "小程序分享", (33 << 32) | 49, "[小程序]", "wxid_c"),
    msg(15, "视频号直播卡片", (63 << 32) | 49, "[直播]", "wxid_c"),
    msg(16, "引用消息", (57 << 32) | 49, "同意", "wxid_c"),
    msg(17, "聊天记录合并转发", (19 << 32) | 49, "[聊天记录]", "wxid_c"),
    msg(18, "未知类型(8589934641)", (2 << 32) | 49, "?", "wxid_c"),  # unknown: localType
    msg(19, "未知类型(99)", 99, "?", "wxid_c"),
    msg(20, "系统消息", 10000, '"阿B" 撤回了一条消息', isSend=None),
    msg(21, "系统消息", 10000, '"阿C"通过扫描"阿A"分享的二维码加入群聊', isSend=None),
    msg(22, "系统消息", 10000, '你将"阿C"移出了群聊', isSend=None),
    msg(23, "文本消息", 1, "wxid_me:\n@阿B\u2005收到", "wxid_me", isSend=1),
    msg(24, "通话消息", 50, "[通话]", "wxid_a"),
    msg(25, "系统消息", 10000, "阿C与群里其他人都不是朋友关系，请注意隐私安全", isSend=None),
    msg(26, "文本消息", 1, "大家好 https://e.org/1", "wxid_a"),  # the same again: a second key
]


def write_json(
    path: Path, messages: list[dict[str, Any]], weflow: bool = False, **session: Any
) -> Path:
    doc: dict[str, Any] = {}
    if weflow:
        doc["weflow"] = {"version": "1.0", "exportTime": 1}
    doc["session"] = {
        "wxid": ROOM,
        "nickname": "跑团",
        "remark": "",
        "displayName": "跑团",
        "type": "群聊",
        "lastTimestamp": T0 + 99,
        "messageCount": len(messages),
        "avatar": "data:image/png;base64," + "A" * 70_000,  # pushes `messages` past 64 KiB
    } | session
    doc["messages"] = messages
    doc["avatars"] = {"wxid_a": "data:image/png;base64,AAAA"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "wechat4", ctx or ReadContext()))


def test_echotrace_style(tmp_path: Path) -> None:
    path = write_json(tmp_path / "跑团.json", ECHOTRACE)
    assert sources.detect(path) == "wechat4"
    ctx = ReadContext()
    got = records(path, ctx)
    assert isinstance(got[0], Group) and (got[0].platform_id, got[0].name) == (ROOM, "跑团")
    assert ctx.expected == len(ECHOTRACE)
    msgs = [r for r in got if isinstance(r, Message)]
    assert [(m.sender.user_id or m.sender.name, m.kind) for m in msgs] == [
        ("wxid_a", MessageKind.LINK),
        ("wxid_b", MessageKind.IMAGE),
        ("wxid_b", MessageKind.VOICE),
        ("wxid_b", MessageKind.VIDEO),
        ("wxid_b", MessageKind.FILE),
        ("wxid_b", MessageKind.STICKER),
        ("wxid_b", MessageKind.CARD),
        ("wxid_c", MessageKind.LINK),
        ("wxid_c", MessageKind.LINK),
        ("wxid_c", MessageKind.CARD),
        ("wxid_c", MessageKind.RED_PACKET),
        ("wxid_c", MessageKind.TRANSFER),
        ("wxid_c", MessageKind.CARD),
        ("wxid_c", MessageKind.CARD),
        ("wxid_c", MessageKind.TEXT),
        ("wxid_c", MessageKind.CARD),
        ("wxid_c", MessageKind.CARD),  # 49/2: an app message not listed is a card
        ("阿B", MessageKind.RECALL),
        ("wxid_me", MessageKind.TEXT),
        ("wxid_a", MessageKind.LINK),
    ]
    assert msgs[0].urls == ("https://e.org/1",) and msgs[7].urls == ("https://e.org/2",)
    assert msgs[18].text == "@阿B\u2005收到" and msgs[18].mentions == ("@阿B",)  # prefix gone
    assert msgs[0].sent_at == datetime.fromtimestamp(T0 + 2, UTC) and not ctx.tz_assumed
    assert msgs[0].platform_id.startswith("h:") and msgs[0].platform_id != msgs[-1].platform_id
    events = [
        (e.member.name, e.action, e.method, e.actor and (e.actor.user_id or e.actor.name))
        for e in got
        if isinstance(e, MembershipEvent)
    ]
    assert sorted(events, key=str) == sorted(
        [
            ("阿B", MembershipAction.JOIN, JoinMethod.INVITE, "阿A"),
            ("阿C", MembershipAction.JOIN, JoinMethod.INVITE, "阿A"),
            ("阿C", MembershipAction.JOIN, JoinMethod.LINK, "阿A"),
            ("阿C", MembershipAction.KICK, None, "wxid_me"),  # "你": the isSend=1 account
        ],
        key=str,
    )
    assert [(s.where, s.why.split(" ")[0]) for s in ctx.skipped] == [
        ("message 18", "unsupported"),
        ("message 23", "a"),  # a call
        ("message 24", "system"),
    ]


def test_weflow_ids_replies_and_senders(tmp_path: Path) -> None:
    messages = [
        msg(1, "文本消息", 1, "第一", "wxid_a", platformMessageId="7001"),
        msg(
            2,
            "引用消息",
            (57 << 32) | 49,
            "同意",
            "wxid_b",
            platformMessageId="7002",
            replyToMessageId="7001",
        ),
        msg(3, "系统消息", 10000, '"A"邀请"C"加入了群聊', platformMessageId="7003"),
        msg(
            4,
            "转账消息",
            49,
            "<msg><appmsg><type>2000</type></appmsg></msg>",
            "wxid_b",
            platformMessageId="7004",
        ),
    ]
    for m in messages:  # arkme: senders by number
        sender = m.pop("senderUsername")
        m.pop("senderDisplayName")
        m["senderID"] = {"wxid_a": 1, "wxid_b": 2}.get(sender, 0)
    senders = [
        {"senderID": 1, "wxid": "wxid_a", "displayName": "A"},
        {"senderID": 2, "wxid": "wxid_b", "displayName": "B"},
    ]
    path = tmp_path / "arkme.json"
    doc = {
        "weflow": {"format": "arkme-json"},
        "session": {"wxid": ROOM, "displayName": "跑团"},
        "senders": senders,
        "messages": messages,
    }
    path.write_bytes(orjson.dumps(doc))
    assert sources.detect(path) == "wechat4"
    got = records(path)
    msgs = [r for r in got if isinstance(r, Message)]
    assert [(m.platform_id, m.sender, m.kind, m.reply_to) for m in msgs] == [
        ("7001", ("wxid_a", "A"), MessageKind.TEXT, None),
        ("7002", ("wxid_b", "B"), MessageKind.TEXT, "7001"),
        ("7004", ("wxid_b", "B"), MessageKind.TRANSFER, None),
    ]
    [event] = [e for e in got if isinstance(e, MembershipEvent)]
    assert event.platform_id == "7003:0" and event.member.name == "C"


def test_sniff_is_strict() -> None:
    sniff = sources.module("wechat4").sniff
    assert sniff(orjson.dumps({"weflow": {}, "session": {"wxid": ROOM}, "messages": []}))
    assert sniff(orjson.dumps({"session": {"wxid": ROOM, "messageCount": 1}, "messages": []}))
    for other in ('{"messages": [{"date_unixtime": "1"}]}', '{"guild": {}, "channel": {}}', "[]"):
        assert not sniff(other.encode())
    for name in ("telegram", "discord", "wechat-memotrace", "wechat-pywxdump", "whatsapp"):
        probe = orjson.dumps({"weflow": {}, "session": {"wxid": ROOM}, "messages": ECHOTRACE[:3]})
        assert not sources.module(name).sniff(probe), name
    telegram = shared_sample("reference_synthetic/telegram_desktop_single_group_result.json")
    discord = shared_sample("reference_synthetic/discordchatexporter_channel.json")
    assert not sniff(telegram.read_bytes()[:65536]) and not sniff(discord.read_bytes()[:65536])


def test_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    paths = write_export("wechat4", community, tmp_path / "demo")
    stats = community.stats
    assert [p.name for p in paths] == ["跑步俱乐部·城东分队.json", "新品体验官 3 群.json"]
    assert all(sources.detect(p) == "wechat4" for p in paths)
    session = orjson.loads(paths[0].read_bytes())["session"]
    assert session["wxid"] == "1700000000@chatroom" and session["type"] == "群聊"
    results = [import_file(engine, p) for p in paths]
    assert sum(r.summary.messages_added for r in results) == stats.messages
    assert not any(r.tz_assumed or r.skipped for r in results)
    assert event_counts(engine) == {"join": stats.joins - stats.groups, "kick": stats.kicks}
    got = [r for r in records(paths[0]) if isinstance(r, Message)]
    wanted = demo_messages(community)
    assert (
        len(got)
        == len(wanted)
        == session["messageCount"]
        - (
            sum(
                1
                for m in orjson.loads(paths[0].read_bytes())["messages"]
                if m["localType"] == 10000
            )
        )
    )
    ids = {w.platform_id: h.platform_id for h, w in zip(got, wanted, strict=True)}
    for have, want in zip(got, wanted, strict=True):
        assert have.sender == (f"wxid_{want.sender.user_id}", want.sender.name)
        assert have.kind is want.kind and have.sent_at == want.sent_at.replace(microsecond=0)
        if want.kind in (MessageKind.TEXT, MessageKind.LINK):
            assert have.text.endswith(want.text) and len(have.mentions) == len(want.mentions)
        if want.kind is MessageKind.TEXT and want.reply_to is not None:
            assert have.reply_to == ids[want.reply_to]  # replyToMessageId: exact


def test_reimport_and_overlapping_exports(sqlite_engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=800, groups=1, seed=5)
    [path] = write_export("wechat4", community, tmp_path / "full")
    doc = orjson.loads(path.read_bytes())
    everything = doc["messages"]
    early, late = len(everything) * 2 // 5, len(everything) * 3 // 5
    for strip_ids in (False, True):  # WeFlow's server ids, and EchoTrace's content keys
        parts = []
        for i, part in enumerate((everything[:late], everything[early:])):
            if strip_ids:
                part = [
                    {
                        k: v
                        for k, v in m.items()
                        if k not in ("platformMessageId", "replyToMessageId")
                    }
                    for m in part
                ]
            target = tmp_path / f"{strip_ids}{i}" / path.name
            target.parent.mkdir()
            target.write_bytes(orjson.dumps(doc | {"messages": part}))
            parts.append(target)
        if strip_ids:  # a separate group: content keys never equal server ids
            for target in parts:
                d = orjson.loads(target.read_bytes())
                d["session"]["wxid"] = "other@chatroom"
                target.write_bytes(orjson.dumps(d))
        a = import_file(sqlite_engine, parts[0]).summary
        b = import_file(sqlite_engine, parts[1]).summary
        assert a.messages_added + b.messages_added == community.stats.messages
        assert b.messages_skipped > 0
        events = community.stats.joins - 1 + community.stats.kicks
        assert a.membership_events_added + b.membership_events_added == events
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.membership_events_added) == (0, 0)


def test_bad_input(sqlite_engine: Engine, tmp_path: Path) -> None:
    private = write_json(tmp_path / "friend.json", ECHOTRACE[:3], wxid="wxid_friend", type="私聊")
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, private)
    assert "friend.json: session.wxid: a one-to-one chat (wxid_friend), not a group chat" in str(
        err.value
    )
    full = write_json(tmp_path / "cut.json", ECHOTRACE).read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(full[: full.index(b'"localId": 5')])  # the writer stopped mid-message
    result = import_file(sqlite_engine, cut)
    assert result.summary.messages_added == 3
    assert [(s.where, s.why) for s in result.skipped] == [
        ("message 4", "the file ends early (truncated?): the messages after this one are missing")
    ]
    broken = tmp_path / "broken.json"
    broken.write_bytes(full.replace(b'"localId": 9,', b'"localId" 9,'))
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, broken, fmt="wechat4")
    assert "broken.json: message 8: not valid JSON" in str(err.value) and "\n" not in str(err.value)
    no_session = tmp_path / "no_session.json"
    no_session.write_bytes(b'{"messages": []}')
    with pytest.raises(SourceError, match="no 'session' object"):
        import_file(sqlite_engine, no_session, fmt="wechat4")
    bad_time = write_json(
        tmp_path / "t.json", [msg(1, "文本消息", 1, "x", "wxid_a") | {"createTime": "soon"}]
    )
    ctx = ReadContext()
    assert [r for r in records(bad_time, ctx) if isinstance(r, Message)] == []
    assert ctx.skipped[0].why == "bad time ('soon')"
