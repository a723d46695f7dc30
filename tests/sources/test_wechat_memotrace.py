"""MemoTrace CSV and TXT: type codes, system lines, self, quotes, round trips, bad input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from qunzhu import sources
from qunzhu.demo import DemoCommunity, write_export
from qunzhu.demo.wechat_memotrace import write_txt
from qunzhu.importing import import_file
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
)
from qunzhu.sources import ReadContext, SourceError
from qunzhu.sources.wechat_memotrace import CSV_COLUMNS
from qunzhu.store import schema as t
from tests.conftest import shared_sample

HEADER = ",".join(CSV_COLUMNS)
T0 = 1714957200  # 2024-05-06 09:00:00 in Shanghai


def row(
    n: int,
    type_: int,
    sub: int,
    content: str,
    who: tuple[str, str, str] = ("", "", ""),
    me: int = 0,
) -> list[Any]:
    at = T0 + 60 * n
    local = (datetime.fromtimestamp(at, UTC) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    return [n, 17, type_, sub, me, at, 2, content, local, *who]


A = ("老王", "王大锤", "wxid_aaaa")
B = ("", "Bee", "wxid_bbbb")
C = ("", "Cici", "wxid_cccc")
ME = ("", "群主", "wxid_me")
ROWS = [
    row(1, 10000, 0, '"王大锤"邀请"Bee、Dan"加入了群聊'),
    row(2, 10000, 0, '"Cici"通过扫描你分享的二维码加入群聊'),
    row(3, 10000, 0, '"Eve"通过扫描"王大锤"分享的二维码加入群聊'),
    row(4, 10000, 0, '"Bee" 撤回了一条消息'),
    row(5, 10000, 0, '你撤回了一条消息<a href="weixin://revoke_edit_click">重新编辑</a>'),
    row(6, 1, 0, "大家好 https://example.org/a", B),
    row(7, 1, 0, "@Bee\u2005欢迎", ME, me=1),  # the exporting account: "你" from here on
    row(8, 3, 0, '<?xml version="1.0"?><msg><img md5="00"/></msg>', A),
    row(9, 34, 0, '<msg><voicemsg voicelength="4200"/></msg>', A),
    row(10, 43, 0, '<msg><videomsg playlength="3"/></msg>', A),
    row(11, 47, 0, '<msg><emoji type="2"/></msg>', A),
    row(12, 49, 6, "", A),
    row(13, 49, 5, "", C),
    row(14, 49, 57, "", C),
    row(15, 49, 2001, "", A),
    row(16, 49, 2000, "", A),
    row(17, 42, 0, '<msg username="wxid_x"/>', A),
    row(18, 48, 0, '<msg><location x="1"/></msg>', A),
    row(19, 49, 33, "", A),
    row(20, 10000, 0, "收到红包，请在手机上查看"),
    row(21, 10002, 0, '<sysmsg type="pat"></sysmsg>'),
    row(22, 50, 0, "<voipmsg/>", A),
    row(23, 10000, 0, '你将"Dan、Eve"移出了群聊'),
    row(24, 10000, 0, '"王大锤"将"Cici"移出了群聊'),
    row(25, 10000, 0, '"群主"邀请你和"Fay"加入了群聊'),
    row(26, 10000, 0, '你被"王大锤"移出群聊'),
    row(27, 1, 0, "多行\n消息", B),
]


def write_csv(
    path: Path, rows: list[list[Any]], header: str = HEADER, encoding: str = "utf-8-sig"
) -> Path:
    buf = io.StringIO()
    buf.write(header + "\r\n")
    csv.writer(buf).writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "wechat-memotrace", ctx or ReadContext()))


def at(n: int) -> datetime:
    return datetime.fromtimestamp(T0 + 60 * n, UTC)


def test_csv_messages_and_kinds(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "跑团_utf8.csv", ROWS)
    assert sources.detect(path) == "wechat-memotrace"
    ctx = ReadContext()
    got = records(path, ctx)
    group = got[0]
    assert isinstance(group, Group) and group.name == "跑团"
    msgs = [r for r in got if isinstance(r, Message)]
    assert [(m.sender.user_id, m.sender.name, m.kind) for m in msgs] == [
        (None, "Bee", MessageKind.RECALL),
        ("wxid_bbbb", "Bee", MessageKind.LINK),
        ("wxid_me", "群主", MessageKind.RECALL),  # "你撤回", resolved once the owner spoke
        ("wxid_me", "群主", MessageKind.TEXT),
        ("wxid_aaaa", "王大锤", MessageKind.IMAGE),
        ("wxid_aaaa", "王大锤", MessageKind.VOICE),
        ("wxid_aaaa", "王大锤", MessageKind.VIDEO),
        ("wxid_aaaa", "王大锤", MessageKind.STICKER),
        ("wxid_aaaa", "王大锤", MessageKind.FILE),
        ("wxid_cccc", "Cici", MessageKind.LINK),
        ("wxid_cccc", "Cici", MessageKind.TEXT),  # quote-reply: the CSV keeps no text
        ("wxid_aaaa", "王大锤", MessageKind.RED_PACKET),
        ("wxid_aaaa", "王大锤", MessageKind.TRANSFER),
        ("wxid_aaaa", "王大锤", MessageKind.CARD),
        ("wxid_aaaa", "王大锤", MessageKind.CARD),
        ("wxid_aaaa", "王大锤", MessageKind.CARD),
        ("wxid_bbbb", "Bee", MessageKind.TEXT),
    ]
    assert msgs[1].text == "大家好 https://example.org/a" and msgs[1].urls == (
        "https://example.org/a",
    )
    assert msgs[3].mentions == ("@Bee",) and msgs[3].sent_at == at(7)
    assert msgs[4].text == "" and msgs[-1].text == "多行\n消息"
    assert len({m.platform_id for m in msgs}) == len(msgs) and not ctx.tz_assumed


def test_csv_system_lines(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write_csv(tmp_path / "g_utf8.csv", ROWS), ctx)
    events = [
        (
            e.member.user_id or e.member.name,
            e.action,
            e.method,
            e.actor and (e.actor.user_id or e.actor.name),
        )
        for e in got
        if isinstance(e, MembershipEvent)
    ]
    me = "wxid_me"
    assert sorted(events, key=str) == sorted(
        [
            ("Bee", MembershipAction.JOIN, JoinMethod.INVITE, "王大锤"),
            ("Dan", MembershipAction.JOIN, JoinMethod.INVITE, "王大锤"),
            ("Cici", MembershipAction.JOIN, JoinMethod.LINK, me),  # "你分享的二维码"
            ("Eve", MembershipAction.JOIN, JoinMethod.LINK, "王大锤"),
            ("Dan", MembershipAction.KICK, None, me),
            ("Eve", MembershipAction.KICK, None, me),
            ("Cici", MembershipAction.KICK, None, "王大锤"),
            (me, MembershipAction.JOIN, JoinMethod.INVITE, "群主"),
            ("Fay", MembershipAction.JOIN, JoinMethod.INVITE, "群主"),
        ],
        key=str,
    )
    skipped = {s.where: s.why for s in ctx.skipped}
    assert set(skipped) == {"line 21", "line 22", "line 23", "line 27"}
    assert "not a membership change" in skipped["line 21"]  # 收到红包
    assert "XML" in skipped["line 22"] and "call" in skipped["line 23"]
    assert "removed" in skipped["line 27"]


def test_self_never_named(tmp_path: Path) -> None:
    """Without an own row, "你" stays unknown: an unknown actor, a skipped recall or join."""
    rows = [r for r in ROWS if r[4] != 1]
    ctx = ReadContext()
    got = records(write_csv(tmp_path / "g_utf8.csv", rows), ctx)
    kicks = [e for e in got if isinstance(e, MembershipEvent) and e.action is MembershipAction.KICK]
    assert {(e.member.name, e.actor and e.actor.name) for e in kicks} == {
        ("Dan", None),
        ("Eve", None),
        ("Cici", "王大锤"),
    }
    whys = " ".join(s.why for s in ctx.skipped)
    assert "recall by the exporting account" in whys and "exporting account joined" in whys


TXT = """\
2024-05-06 09:00:00 "王大锤"邀请"Bee"加入了群聊

2024-05-06 09:01:37 Bee
大家好，我是Bee

2024-05-06 09:03:14 群主
欢迎欢迎
第二行

2024-05-06 09:04:51 老王
[图片]

2024-05-06 09:05:00 老王
[语音]

2024-05-06 09:05:01 老王
[视频]

2024-05-06 09:05:02 老王
[表情包]

2024-05-06 09:05:03 老王
[文件]

2024-05-06 09:05:04 老王
[音乐分享]

2024-05-06 09:08:05 Bee
好的收到
引用:群主:欢迎欢迎
第二行

2024-05-06 09:09:42 Cici
            [链接]:title:示例文章
            description:摘要
            url:https://example.org/a
            name:公众号
<12 spaces: MemoTrace indents the card's last, empty line>

2024-05-06 09:11:19 "Cici"通过扫描"王大锤"分享的二维码加入群聊

2024-05-06 09:12:56 Cici
@群主\u2005周五见

2024-05-06 09:14:33 "Bee" 撤回了一条消息

2024-05-06 09:17:47 收到红包，请在手机上查看

2024-05-06 09:21:01 你将"Cici"移出了群聊

""".replace("<12 spaces: MemoTrace indents the card's last, empty line>", " " * 12)


def test_txt(tmp_path: Path) -> None:
    path = tmp_path / "跑团.txt"
    path.write_text(TXT, encoding="utf-8")
    assert sources.detect(path) == "wechat-memotrace"
    ctx = ReadContext()
    got = records(path, ctx)
    assert got[0].name == "跑团"
    msgs = [r for r in got if isinstance(r, Message)]
    assert [(m.sender.name, m.kind, m.text) for m in msgs] == [
        ("Bee", MessageKind.TEXT, "大家好，我是Bee"),
        ("群主", MessageKind.TEXT, "欢迎欢迎\n第二行"),
        ("老王", MessageKind.IMAGE, ""),
        ("老王", MessageKind.VOICE, ""),
        ("老王", MessageKind.VIDEO, ""),
        ("老王", MessageKind.STICKER, ""),
        ("老王", MessageKind.FILE, ""),
        ("老王", MessageKind.LINK, ""),
        ("Bee", MessageKind.TEXT, "好的收到"),
        ("Cici", MessageKind.LINK, "示例文章"),
        ("Cici", MessageKind.TEXT, "@群主\u2005周五见"),
        ("Bee", MessageKind.RECALL, ""),
    ]
    assert all(m.sender.user_id is None for m in msgs) and ctx.tz_assumed
    assert msgs[8].reply_to == msgs[1].platform_id  # the quote found its message
    assert msgs[9].urls == ("https://example.org/a",) and msgs[10].mentions == ("@群主",)
    assert msgs[1].sent_at == datetime(2024, 5, 6, 1, 3, 14, tzinfo=UTC)
    events = [
        (e.member.name, e.action, e.method, e.actor) for e in got if isinstance(e, MembershipEvent)
    ]
    assert [(n, a, m) for n, a, m, _ in events] == [
        ("Bee", MembershipAction.JOIN, JoinMethod.INVITE),
        ("Cici", MembershipAction.JOIN, JoinMethod.LINK),
        ("Cici", MembershipAction.KICK, None),
    ]
    assert events[2][3] is None  # "你": a TXT never says who the exporter is
    assert [s.where for s in ctx.skipped] == ["line 47"]  # 收到红包


def test_sniff_is_strict() -> None:
    sniff = sources.module("wechat-memotrace").sniff
    assert sniff(("\ufeff" + HEADER + "\r\n").encode()) and sniff(TXT.encode())
    qq = "2020-03-04 12:12:29 AM 礼(852649)\n1\n\n2020-03-04 12:13:41 AM 围观<indo@qq.com>\n3\n"
    qq2 = "1883-03-07 11:22:33 A(123123)\nA\n\n"
    banner = (
        "消息记录（此消息记录为文本格式，不支持重新导入）\n\n2021-04-10 20:00:01 小明(10001)\nhi\n"
    )
    pywxdump = "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n"
    whatsapp = "2024-03-25, 21:00 - A: x\n"
    for other in (qq, qq2, banner, pywxdump, whatsapp, '{"session": {}}'):
        assert not sniff(other.encode()), other
    for name in ("wechat-pywxdump", "wechat4", "qq-txt", "whatsapp", "telegram", "discord"):
        other_sniff = sources.module(name).sniff
        assert not other_sniff(TXT.encode()) and not other_sniff((HEADER + "\n").encode()), name


# -- round trips ----------------------------------------------------------------------------


def demo_messages(community: DemoCommunity) -> list[Message]:
    wanted: list[Message] = []
    for record in community:
        if isinstance(record, Group) and wanted:
            break
        if isinstance(record, Message):
            wanted.append(record)
    return wanted


def event_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(t.membership_events.c.action, func.count()).group_by(
                    t.membership_events.c.action
                )
            ).all()
        )


def test_csv_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    paths = write_export("wechat-memotrace", community, tmp_path / "demo")
    stats = community.stats
    assert [p.name for p in paths] == ["跑步俱乐部·城东分队_utf8.csv", "新品体验官 3 群_utf8.csv"]
    assert all(sources.detect(p) == "wechat-memotrace" for p in paths)
    summaries = [import_file(engine, p).summary for p in paths]
    assert sum(s.messages_added for s in summaries) == stats.messages
    # WeChat announces neither the creation (one per group) nor voluntary leaves.
    assert event_counts(engine) == {"join": stats.joins - stats.groups, "kick": stats.kicks}
    got = [r for r in records(paths[0]) if isinstance(r, Message)]
    wanted = demo_messages(community)
    assert len(got) == len(wanted) > 500
    for have, want in zip(got, wanted, strict=True):
        assert have.sender == (f"wxid_{want.sender.user_id}", want.sender.name)
        assert have.sent_at == want.sent_at.replace(microsecond=0)
        if want.kind is MessageKind.TEXT and want.reply_to is not None:
            assert (have.kind, have.text) == (MessageKind.TEXT, "")  # 49/57: no text in a CSV
        elif want.kind in (MessageKind.TEXT, MessageKind.LINK):
            assert have.kind is want.kind and have.text.endswith(want.text)
            assert len(have.mentions) == len(want.mentions) and have.urls == want.urls
        else:
            assert have.kind is want.kind and have.text == ""


def test_txt_demo_round_trip(sqlite_engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    paths = write_txt(community, tmp_path / "demo", community.group_count)
    stats = community.stats
    assert all(sources.detect(p) == "wechat-memotrace" for p in paths)
    summaries = [import_file(sqlite_engine, p).summary for p in paths]
    assert sum(s.messages_added for s in summaries) == stats.messages
    assert event_counts(sqlite_engine) == {"join": stats.joins - stats.groups, "kick": stats.kicks}
    got = [r for r in records(paths[0]) if isinstance(r, Message)]
    wanted = demo_messages(community)
    assert len(got) == len(wanted)
    ids = {w.platform_id: h.platform_id for h, w in zip(got, wanted, strict=True)}
    replies = right = 0
    for have, want in zip(got, wanted, strict=True):
        assert have.sender.name == want.sender.name and have.kind is want.kind
        if want.kind in (MessageKind.TEXT, MessageKind.LINK):
            assert have.text.endswith(want.text)
        if want.kind is MessageKind.TEXT and want.reply_to is not None:
            replies += 1
            right += have.reply_to == ids[want.reply_to]
    # Quotes are matched by (name, content): a repeated "打卡 ✅" may pick the later one.
    assert replies > 100 and right / replies > 0.9


def test_reimport_and_overlapping_exports(sqlite_engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=800, groups=1, seed=5)
    [path] = write_export("wechat-memotrace", community, tmp_path / "full")
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    head, body = lines[0], lines[1:]
    early, late = len(body) * 2 // 5, len(body) * 3 // 5
    first = tmp_path / "1" / path.name
    second = tmp_path / "2" / path.name
    for target, part in ((first, body[:late]), (second, body[early:])):
        target.parent.mkdir()
        target.write_text(head + "".join(part), encoding="utf-8-sig")
    a = import_file(sqlite_engine, first).summary
    b = import_file(sqlite_engine, second).summary
    assert a.messages_added + b.messages_added == community.stats.messages
    assert b.messages_skipped > 0
    events = community.stats.joins - 1 + community.stats.kicks
    assert a.membership_events_added + b.membership_events_added == events
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.membership_events_added) == (0, 0)
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.groups)).scalar_one() == 1


# -- bad input -------------------------------------------------------------------------------


def test_gbk_half_written_and_broken_rows(sqlite_engine: Engine, tmp_path: Path) -> None:
    rows = [
        row(1, 1, 0, "第一条", B),
        [2, 17, 1, 0, 0, 1714957320, 2, "少一列", "2024-05-06 09:02:00", "", "Bee"],
        row(3, 1, 0, "时间坏了", B),
        row(4, "x", 0, "类型坏了", B),
        row(5, 1, 0, "最后一条", B),
    ]
    rows[2][5] = ""  # no CreateTime: StrTime (local) decides
    path = write_csv(tmp_path / "老群_utf8.csv", rows, encoding="gb18030")
    raw = path.read_bytes()
    path.write_bytes(raw + "6,17,1,0,0,1714957500,2,半条".encode("gb18030"))  # no newline
    assert sources.detect(path) == "wechat-memotrace"
    result = import_file(sqlite_engine, path)
    assert result.summary.messages_added == 3 and result.tz_assumed
    whys = {s.where: s.why for s in result.skipped}
    assert whys == {
        "line 3": "expected 12 fields, found 11",
        "line 5": "bad message type ('x')",
        "line 7": "incomplete last line",
    }
    with sqlite_engine.connect() as conn:
        texts = sorted(r.text for r in conn.execute(select(t.messages.c.text)))
    assert texts == sorted(["第一条", "时间坏了", "最后一条"])  # GB18030 decoded


def test_not_memotrace(sqlite_engine: Engine, tmp_path: Path) -> None:
    broken = write_csv(
        tmp_path / "x_utf8.csv", [], header="localId,TalkerId,Kind,SubType,IsSender,CreateTime"
    )
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, broken, fmt="wechat-memotrace")
    assert "x_utf8.csv: line 1: not a MemoTrace CSV: no 'Type' column" in str(err.value)
    mixed = [*ROWS[5:7], [*ROWS[7][:1], 18, *ROWS[7][2:]]]  # all chats: messages.csv
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, write_csv(tmp_path / "messages.csv", mixed))
    assert "messages.csv: line 4: rows of more than one chat (17, 18)" in str(err.value)
    txt = tmp_path / "notes.txt"
    txt.write_text("\n\nhello\n2024-05-06 09:00:00 A\nx\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, txt, fmt="wechat-memotrace")
    assert "notes.txt: line 3:" in str(err.value) and "\n" not in str(err.value)
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.groups)).scalar_one() == 0


def test_txt_bad_date_and_cut_end(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    text = (
        "2024-05-06 09:00:00 A\nok\n\n"
        "2024-02-30 09:00:00 A\nno such day\n\n"
        "2024-05-06 09:00:01 B\nhalf"
    )
    path.write_text(text, encoding="utf-8")
    ctx = ReadContext()
    msgs = [m for m in records(path, ctx) if isinstance(m, Message)]
    assert [m.text for m in msgs] == ["ok"]
    assert [(s.where, s.why) for s in ctx.skipped] == [
        ("line 4", "bad time ('2024-02-30 09:00:00')"),
        ("line 8", "incomplete last line"),
    ]


# -- the reference samples -------------------------------------------------------------------


def test_reference_synthetic_csv(sqlite_engine: Engine) -> None:
    # Read by hand: 15 rows. Messages: 2 texts, the owner's text, image, sticker, quote
    # (49/57), link (49/5), @-mention text, red packet (49/2001), voice, and Bee's recall = 10;
    # events: Bee invited, Cici by QR, Cici removed by the owner ("你"); skipped: the 收到红包
    # notice and the 10002 pat.
    path = shared_sample("reference_synthetic/wechat_memotrace_group_utf8.csv")
    assert sources.detect(path) == "wechat-memotrace"
    result = import_file(sqlite_engine, path)
    s = result.summary
    assert (s.messages_added, s.membership_events_added, len(result.skipped)) == (10, 3, 2)
    assert s.members == 4  # Bee, the owner, 王大锤, Cici: the names in events resolve to wxids
    with sqlite_engine.connect() as conn:
        kick = conn.execute(
            select(t.members.c.external_id)
            .join(t.membership_events, t.membership_events.c.actor_id == t.members.c.id)
            .where(t.membership_events.c.action == "kick")
        ).scalar_one()
    assert kick == "wxid_me000001"  # "你将…移出": the exporter, named by its own row


def test_reference_synthetic_txt(sqlite_engine: Engine) -> None:
    # Read by hand: 8 member messages (no red packet in a TXT: MemoTrace drops it) + 1 recall,
    # 3 membership lines, the 收到红包 notice skipped.
    path = shared_sample("reference_synthetic/wechat_memotrace_group.txt")
    assert sources.detect(path) == "wechat-memotrace"
    ctx = ReadContext()
    got = records(path, ctx)
    msgs = [m for m in got if isinstance(m, Message)]
    assert len(msgs) == 9 and len([e for e in got if isinstance(e, MembershipEvent)]) == 3
    quote = next(m for m in msgs if m.text == "好的收到")
    assert quote.reply_to == next(m.platform_id for m in msgs if m.text == "欢迎欢迎")
    assert [s.where for s in ctx.skipped] == ["line 33"]
    s = import_file(sqlite_engine, path).summary
    assert (s.messages_added, s.membership_events_added) == (9, 3)
