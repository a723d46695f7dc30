"""PyWxDump CSV (v3 and v2): type names, talker, quotes, Excel times, groups only, bad input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from qunzhu import sources
from qunzhu.demo import DemoCommunity, write_export
from qunzhu.importing import import_file
from qunzhu.model import Group, JoinMethod, MembershipAction, MembershipEvent, Message, MessageKind
from qunzhu.sources import ReadContext, SourceError
from qunzhu.store import schema as t
from tests.conftest import shared_sample
from tests.sources.test_wechat_memotrace import demo_messages, event_counts

V3 = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime"]
V2 = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "content", "CreateTime"]
ROOM = "20001234567@chatroom"


def v3(
    n: int, type_name: str, talker: str, msg: str, src: str = "", when: str = "", me: int = 0
) -> list[Any]:
    when = when or f"2024-10-04 11:{n:02d}:00"
    return [n, f"90000{n}", type_name, me, talker, ROOM, msg, src, when]


ROWS = [
    v3(1, "系统通知", "", '"wxid_a"邀请"Bee、Dan"加入了群聊'),
    v3(2, "系统通知", "", '"Cici"通过扫描你分享的二维码加入群聊'),
    v3(3, "文本", "wxid_b", "大家好 https://example.org/x"),
    v3(4, "文本", "我", "@Bee\u2005欢迎", me=1),
    v3(5, "图片", "wxid_b", "图片", "FileStorage\\MsgAttach\\x\\Image\\2024-10\\y.dat"),
    v3(6, "语音", "wxid_b", "语音时长：4秒\n翻译结果：你好"),
    v3(7, "视频", "wxid_b", "视频", "x.mp4"),
    v3(8, "动画表情", "wxid_b", "表情", "http://wxapp.tc.qq.com/x"),
    v3(9, "文件", "wxid_b", "a.xlsx", "a.xlsx"),
    v3(10, "(分享)卡片式链接", "wxid_c", '标题\n描述\n\n<a href="https://e.org">点击查看详情</a>'),
    v3(
        11,
        "引用回复",
        "wxid_c",
        "同意\n\n[引用](2024-10-04 11:03:00)Bee:大家好 https://example.org/x",
    ),
    v3(12, "转账", "wxid_c", "已收款：￥8.00"),
    v3(13, "微信红包", "wxid_c", "红包"),
    v3(14, "合并转发的聊天记录", "wxid_c", "聊天记录"),
    v3(15, "(分享)小程序", "wxid_c", "小程序"),
    v3(16, "位置", "wxid_c", "纬度：1 经度：2"),
    v3(17, "系统通知", "wxid_b", '<revokemsg>"Bee" 撤回了一条消息</revokemsg>'),
    v3(18, "系统通知", "我", "<revokemsg>你撤回了一条消息</revokemsg>", me=1),
    v3(19, "系统通知", "", '你将"Dan"移出了群聊'),
    v3(20, "语音通话", "wxid_b", "通话时长 00:12"),
    v3(21, "拍一拍", "", '"Bee" 拍了拍 "Cici"'),
    v3(22, "系统通知", "", "Bee与群里其他人都不是朋友关系，请注意隐私安全"),
    v3(23, "文本", "wxid_b", "Excel 存过的时间", when="2024/10/4 11:23"),
    v3(24, "未知类型", "wxid_b", "?"),
]


def write_csv(
    path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8"
) -> Path:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(header)
    out.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "wechat-pywxdump", ctx or ReadContext()))


def test_v3_messages_events_and_skips(tmp_path: Path) -> None:
    path = write_csv(tmp_path / f"{ROOM}_0_24.csv", V3, ROWS)
    assert sources.detect(path) == "wechat-pywxdump"
    ctx = ReadContext()
    got = records(path, ctx)
    assert isinstance(got[0], Group) and got[0].platform_id == got[0].name == ROOM
    msgs = [r for r in got if isinstance(r, Message)]
    assert [(m.platform_id, m.sender, m.kind) for m in msgs] == [
        ("900003", ("wxid_b", None), MessageKind.LINK),
        ("900004", (None, "我"), MessageKind.TEXT),
        ("900005", ("wxid_b", None), MessageKind.IMAGE),
        ("900006", ("wxid_b", None), MessageKind.VOICE),
        ("900007", ("wxid_b", None), MessageKind.VIDEO),
        ("900008", ("wxid_b", None), MessageKind.STICKER),
        ("900009", ("wxid_b", None), MessageKind.FILE),
        ("9000010", ("wxid_c", None), MessageKind.LINK),
        ("9000011", ("wxid_c", None), MessageKind.TEXT),
        ("9000012", ("wxid_c", None), MessageKind.TRANSFER),
        ("9000013", ("wxid_c", None), MessageKind.RED_PACKET),
        ("9000014", ("wxid_c", None), MessageKind.CARD),
        ("9000015", ("wxid_c", None), MessageKind.CARD),
        ("9000016", ("wxid_c", None), MessageKind.CARD),
        ("9000017", (None, "Bee"), MessageKind.RECALL),
        ("9000018", (None, "我"), MessageKind.RECALL),  # "你" is the exporter, 我
        ("9000023", ("wxid_b", None), MessageKind.TEXT),
    ]
    assert msgs[0].urls == ("https://example.org/x",) and msgs[1].mentions == ("@Bee",)
    assert msgs[8].text == "同意" and msgs[8].reply_to == "900003"  # quoted content found
    assert msgs[2].text == "" and ctx.tz_assumed
    assert msgs[0].sent_at == datetime(2024, 10, 4, 3, 3, tzinfo=UTC)  # Shanghai local time
    assert msgs[-1].sent_at == datetime(2024, 10, 4, 3, 23, tzinfo=UTC)  # Excel's layout
    events = [
        (e.platform_id, e.member.name, e.action, e.method, e.actor)
        for e in got
        if isinstance(e, MembershipEvent)
    ]
    me = (None, "我")
    assert sorted(events) == sorted(
        [
            ("900001:0", "Bee", MembershipAction.JOIN, JoinMethod.INVITE, (None, "wxid_a")),
            ("900001:1", "Dan", MembershipAction.JOIN, JoinMethod.INVITE, (None, "wxid_a")),
            ("900002:0", "Cici", MembershipAction.JOIN, JoinMethod.LINK, me),
            ("9000019:0", "Dan", MembershipAction.KICK, None, me),
        ]
    )
    whys = {s.where: s.why for s in ctx.skipped}
    # Physical lines: the voice, link and quote rows span 2, 4 and 3 lines.
    assert set(whys) == {"line 27", "line 28", "line 29", "line 31"}
    assert "call" in whys["line 27"] and "未知类型" in whys["line 31"]


def test_v2_json_content(tmp_path: Path) -> None:
    def content(msg: str, src: str = "") -> str:
        return orjson.dumps({"src": src, "msg": msg}).decode()

    rows = [
        [1, "81", "文本", 0, "wxid_b", ROOM, content("你好"), "2023-08-12 23:22:41"],
        [2, "82", "动画表情", 1, "我", ROOM, content("表情", "http://x"), "2023-08-12 23:22:54"],
        [3, "83", "文本", 0, "wxid_b", ROOM, '{"src": "", "msg": ', "2023-08-12 23:23:00"],
        [
            4,
            "84",
            "系统通知",
            0,
            "",
            ROOM,
            content('"wxid_b"邀请"Eve"加入了群聊'),
            "2023-08-12 23:24:00",
        ],
    ]
    path = write_csv(tmp_path / "old.csv", V2, rows)
    assert sources.detect(path) == "wechat-pywxdump"
    ctx = ReadContext()
    got = records(path, ctx)
    msgs = [(m.platform_id, m.kind, m.text) for m in got if isinstance(m, Message)]
    assert msgs == [("81", MessageKind.TEXT, "你好"), ("82", MessageKind.STICKER, "")]
    assert [e.member.name for e in got if isinstance(e, MembershipEvent)] == ["Eve"]
    assert [(s.where, s.why) for s in ctx.skipped] == [("line 4", "content is not valid JSON")]


def test_sniff_is_strict(tmp_path: Path) -> None:
    sniff = sources.module("wechat-pywxdump").sniff
    assert sniff((",".join(V3) + "\n").encode()) and sniff((",".join(V2) + "\n").encode())
    assert sniff(b"\xef\xbb\xbf" + ",".join(V3).encode())  # re-saved by Excel
    memotrace = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent\n"
    for other in (memotrace, "id,name\n1,x\n", '{"session": {}}', "2024-05-06 09:00:00 A\nx\n"):
        assert not sniff(other.encode())
    for name in ("wechat-memotrace", "wechat4", "qq-txt", "whatsapp", "telegram", "discord"):
        assert not sources.module(name).sniff((",".join(V3) + "\n").encode()), name


def test_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    paths = write_export("wechat-pywxdump", community, tmp_path / "demo")
    stats = community.stats
    assert [p.name for p in paths] == ["跑步俱乐部·城东分队.csv", "新品体验官 3 群.csv"]
    assert all(sources.detect(p) == "wechat-pywxdump" for p in paths)
    results = [import_file(engine, p) for p in paths]
    assert sum(r.summary.messages_added for r in results) == stats.messages
    assert all(r.tz_assumed and not r.skipped for r in results)
    assert event_counts(engine) == {"join": stats.joins - stats.groups, "kick": stats.kicks}
    got = records(paths[0])
    assert got[0].platform_id == "1700000000@chatroom"
    msgs = [r for r in got if isinstance(r, Message)]
    wanted = demo_messages(community)
    assert len(msgs) == len(wanted) > 500
    ids = {w.platform_id: h.platform_id for h, w in zip(msgs, wanted, strict=True)}
    replies = right = 0
    for have, want in zip(msgs, wanted, strict=True):
        mine = have.sender == (None, "我")
        assert mine or have.sender.user_id == f"wxid_{want.sender.user_id}"
        assert have.kind is want.kind
        assert have.sent_at == want.sent_at.replace(microsecond=0)
        if want.kind in (MessageKind.TEXT, MessageKind.LINK):
            assert have.text.endswith(want.text) and len(have.mentions) == len(want.mentions)
        if want.kind is MessageKind.TEXT and want.reply_to is not None:
            replies += 1
            right += have.reply_to == ids[want.reply_to]
    # Only quotes of text can be found again (by content): most replies are to text.
    assert replies > 100 and right / replies > 0.75


def test_reimport_and_overlapping_exports(sqlite_engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=800, groups=1, seed=5)
    [path] = write_export("wechat-pywxdump", community, tmp_path / "full")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    head, body = rows[0], rows[1:]
    early, late = len(body) * 2 // 5, len(body) * 3 // 5
    first = write_csv(tmp_path / "1" / path.name, head, body[:late])
    second = write_csv(tmp_path / "2" / path.name, head, body[early:])
    a = import_file(sqlite_engine, first).summary
    b = import_file(sqlite_engine, second).summary
    assert a.messages_added + b.messages_added == community.stats.messages
    assert b.messages_skipped > 0
    events = community.stats.joins - 1 + community.stats.kicks
    assert a.membership_events_added + b.membership_events_added == events
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.membership_events_added) == (0, 0)


def test_bad_input(sqlite_engine: Engine, tmp_path: Path) -> None:
    private = [v3(1, "文本", "wxid_b", "hi")]
    private[0][5] = "wxid_friend"
    path = write_csv(tmp_path / "friend.csv", V3, private)
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, path)
    assert "friend.csv: line 2: a one-to-one chat (wxid_friend), not a group chat" in str(err.value)
    two = write_csv(
        tmp_path / "two.csv",
        V3,
        [
            v3(1, "文本", "b", "x"),
            [*v3(2, "文本", "b", "y")[:5], "x@chatroom", "y", "", "2024-10-04 11:00:00"],
        ],
    )
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, two)
    assert "two.csv: line 3: rows of more than one chat" in str(err.value)
    no_time = write_csv(tmp_path / "cut.csv", V3[:-1], [])
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, no_time, fmt="wechat-pywxdump")
    assert "line 1: not a PyWxDump CSV: no 'CreateTime' column" in str(err.value)
    rows = [
        v3(1, "文本", "wxid_b", "第一条"),
        v3(2, "文本", "wxid_b", "时间", when="昨天"),
        v3(3, "文本", "wxid_b", "缺列")[:8],
        v3(4, "文本", "wxid_b", "最后"),
    ]
    path = write_csv(tmp_path / "gbk.csv", V3, rows, encoding="gb18030")
    path.write_bytes(path.read_bytes() + "5,900005,文本,0,wxid_b,".encode("gb18030"))
    result = import_file(sqlite_engine, path)
    assert result.summary.messages_added == 2
    assert {s.where: s.why for s in result.skipped} == {
        "line 3": "bad time ('昨天')",
        "line 4": "expected 9 fields, found 8",
        "line 6": "incomplete last line",
    }
    with sqlite_engine.connect() as conn:
        texts = sorted(r.text for r in conn.execute(select(t.messages.c.text)))
        assert conn.execute(select(func.count()).select_from(t.groups)).scalar_one() == 1
    assert texts == sorted(["第一条", "最后"])


def as_group(sample: Path, tmp_path: Path) -> Path:
    """The sample as if its chat were a group: the room column rewritten, nothing else."""
    with sample.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        row[5] = "sample@chatroom"
    return write_csv(tmp_path / sample.name, rows[0], rows[1:])


def test_weclone_samples(sqlite_engine: Engine, tmp_path: Path) -> None:
    v3_sample = shared_sample("WeClone_AGPL-3.0/pywxdump_v3_csv__test_person_0_730.csv")
    v2_sample = shared_sample("WeClone_AGPL-3.0/pywxdump_v2_csv__example_chat.csv")
    for sample in (v3_sample, v2_sample):
        assert sources.detect(sample) == "wechat-pywxdump"
        with pytest.raises(SourceError, match="line 2: a one-to-one chat"):
            import_file(sqlite_engine, sample)  # both are private chats
    # v3, read by hand: 96 rows: 65 文本, 23 动画表情, 5 图片, 1 引用回复 and 2 系统通知 that
    # are the exporter's own recalls (<revokemsg>你撤回了一条消息</revokemsg>, is_sender 1).
    # Times are Excel's `2024/10/4 11:42`.
    ctx = ReadContext()
    msgs = [m for m in records(as_group(v3_sample, tmp_path), ctx) if isinstance(m, Message)]
    kinds = {
        k: sum(m.kind is k for m in msgs) for k in MessageKind if any(m.kind is k for m in msgs)
    }
    assert kinds == {
        MessageKind.TEXT: 66,
        MessageKind.IMAGE: 5,
        MessageKind.STICKER: 23,
        MessageKind.RECALL: 2,
    }
    recalls = [m for m in msgs if m.kind is MessageKind.RECALL]
    assert {m.sender for m in recalls} == {("12345iru2zsmo22", None)} and not ctx.skipped
    assert msgs[0].sent_at == datetime(2024, 10, 4, 3, 42, tzinfo=UTC)
    quote = next(m for m in msgs if m.text == "（我们两个人骑）")
    assert quote.reply_to is not None  # the quoted "我之前租的时候 …" is in the file
    # v2 (8 of 35 rows): 1 系统通知 ("你已添加了…", not a membership line), 7 messages.
    ctx = ReadContext()
    msgs = [m for m in records(as_group(v2_sample, tmp_path), ctx) if isinstance(m, Message)]
    assert [m.kind for m in msgs].count(MessageKind.TEXT) == 5 and len(msgs) == 7
    assert len(ctx.skipped) == 1
