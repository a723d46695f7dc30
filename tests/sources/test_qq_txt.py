"""Legacy PC QQ TXT: headers, titles, bodies, placeholders, system notices, encodings, ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from qunzhu import sources
from qunzhu.demo import DemoCommunity, write_export
from qunzhu.demo.qq_txt import qq_number
from qunzhu.importing import import_file
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
)
from qunzhu.sources import ReadContext, SourceError, qq_txt
from qunzhu.store import schema as t
from tests.conftest import shared_sample

RULE = "=" * 64
BLOCK = f"""\
消息记录（此消息记录为文本格式，不支持重新导入）

{RULE}
消息分组:我的QQ群
{RULE}
消息对象:跑团(城东)
{RULE}

"""
GROUP = (
    BLOCK
    + """\
2024-03-25 9:00:00 AM 【群主】老王(10001)
欢迎大家
第二行

2024-03-25 9:00:30 AM 系统消息(10000)
小李(10002)加入本群。

2024-03-25 9:01:00 AM 系统消息(10000)
老王(10001)邀请小张(10003)、小赵(10004)加入了本群。

2024-03-25 9:01:30 AM 系统消息(10000)
阿强(10005)通过扫描老王(10001)分享的二维码加入本群。

2024-03-25 9:02:00 AM 【管理员】小李(10002)
[图片]

2024-03-25 9:02:01 AM 小张(10003)
[图片]看这双鞋

2024-03-25 9:02:02 AM 小张(10003)
[表情]

2024-03-25 9:02:03 AM 小张(10003)
[语音]

2024-03-25 9:02:04 AM 小张(10003)
[视频]

2024-03-25 9:02:05 AM 小赵(10004)
[文件]路线图.pdf

2024-03-25 9:02:06 AM 小赵(10004)
[QQ红包]我发了一个“口令红包”，请使用新版手机QQ查收红包。

2024-03-25 9:02:07 AM 小赵(10004)
[转账]

2024-03-25 9:02:08 AM 小赵(10004)
[卡片消息]

2024-03-25 9:02:09 AM 小赵(10004)
[位置]

2024-03-25 9:02:10 AM 阿强(10005)
@老王 路线在这 https://example.org/run

2024-03-25 9:02:10 AM 阿强(10005)
@老王 路线在这 https://example.org/run

2024-03-25 12:05:00 PM 跑者(小号)(10006)
中午好

2024-03-25 12:06:00 PM 路人<runner@example.com>
大家好[表情]

2024-03-25 12:07:00 PM 小张(10003)
小张撤回了一条消息

2024-03-25 12:08:00 PM 系统消息(10000)
小赵撤回了一条消息

2024-03-25 12:09:00 PM 小赵(10004)
[戳一戳]小赵戳了戳老王

2024-03-25 12:10:00 PM 小李(10002)


2024-03-25 12:11:00 PM 系统消息(10000)
老王(10001)修改了群名称

2024-03-25 12:12:00 PM 系统消息(10000)
小赵(10004)退出了群聊。

2024-03-25 12:13:00 PM 系统消息(1000000)
阿强(10005)被管理员移出本群。

2024-03-25 12:14:00 PM 系统消息(10000)
跑者(小号)(10006)被老王(10001)移出了群聊。

2024-03-25 12:15:00 PM 系统消息(10000)
你加入本群。

2024-03-26 12:30:00 AM 小李(10002)
2024-03-26 8:00:00 AM 这一行不是消息头
正常内容

"""
)
FRIEND = f"""\
{RULE}
消息分组:我的好友
{RULE}
消息对象:老同学
{RULE}

2024-03-25 10:00:00 老同学
在吗

2024-03-25 10:01:00 我
在

"""
SHANGHAI = timedelta(hours=8)


def local(*parts: int) -> datetime:
    """A Shanghai wall-clock time (the default --tz) as the UTC moment the reader returns."""
    return datetime(*parts, tzinfo=UTC) - SHANGHAI  # type: ignore[misc]


def write(tmp_path: Path, text: str, name: str = "群聊.txt", encoding: str = "utf-8-sig") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding, newline="\r\n")
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "qq-txt", ctx or ReadContext()))


def test_messages_kinds_and_names(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write(tmp_path, GROUP + FRIEND), ctx)
    groups = [r for r in got if isinstance(r, Group)]
    assert [g.name for g in groups] == ["跑团(城东)"]  # the friend chat is not imported
    msgs = [m for m in got if isinstance(m, Message)]
    assert [(m.sender.user_id, m.sender.name, m.kind, m.text) for m in msgs] == [
        ("10001", "老王", MessageKind.TEXT, "欢迎大家\n第二行"),  # title dropped
        ("10002", "小李", MessageKind.IMAGE, ""),
        ("10003", "小张", MessageKind.IMAGE, "看这双鞋"),
        ("10003", "小张", MessageKind.STICKER, ""),
        ("10003", "小张", MessageKind.VOICE, ""),
        ("10003", "小张", MessageKind.VIDEO, ""),
        ("10004", "小赵", MessageKind.FILE, "路线图.pdf"),
        (
            "10004",
            "小赵",
            MessageKind.RED_PACKET,
            "我发了一个“口令红包”，请使用新版手机QQ查收红包。",
        ),
        ("10004", "小赵", MessageKind.TRANSFER, ""),
        ("10004", "小赵", MessageKind.CARD, ""),
        ("10004", "小赵", MessageKind.CARD, ""),
        ("10005", "阿强", MessageKind.LINK, "@老王 路线在这 https://example.org/run"),
        ("10005", "阿强", MessageKind.LINK, "@老王 路线在这 https://example.org/run"),
        ("10006", "跑者(小号)", MessageKind.TEXT, "中午好"),  # the last (digits) is the id
        ("runner@example.com", "路人", MessageKind.TEXT, "大家好[表情]"),
        ("10003", "小张", MessageKind.RECALL, ""),
        (None, "小赵", MessageKind.RECALL, ""),  # told by the system: a name only
        ("10002", "小李", MessageKind.TEXT, ""),  # a message whose content was not exported
        ("10002", "小李", MessageKind.TEXT, "2024-03-26 8:00:00 AM 这一行不是消息头\n正常内容"),
    ]
    assert msgs[0].sent_at == local(2024, 3, 25, 9, 0, 0) and ctx.tz_assumed
    assert msgs[13].sent_at == local(2024, 3, 25, 12, 5, 0)  # 12 PM is noon
    assert msgs[-1].sent_at == local(2024, 3, 26, 0, 30, 0)  # 12 AM is midnight
    assert msgs[11].mentions == ("@老王",) and msgs[11].urls == ("https://example.org/run",)
    assert len({m.platform_id for m in msgs}) == len(msgs)  # identical lines stay two
    assert all(m.platform_id.startswith("h:") for m in msgs)
    assert msgs[0].row == 9


def test_system_notices(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write(tmp_path, GROUP + FRIEND), ctx)
    events = [
        (e.member, e.action, e.method, e.actor) for e in got if isinstance(e, MembershipEvent)
    ]
    wang = Person("10001", "老王")
    assert events == [
        (Person("10002", "小李"), MembershipAction.JOIN, JoinMethod.UNKNOWN, None),
        (Person("10003", "小张"), MembershipAction.JOIN, JoinMethod.INVITE, wang),
        (Person("10004", "小赵"), MembershipAction.JOIN, JoinMethod.INVITE, wang),
        (Person("10005", "阿强"), MembershipAction.JOIN, JoinMethod.LINK, wang),
        (Person("10004", "小赵"), MembershipAction.LEAVE, None, None),
        (Person("10005", "阿强"), MembershipAction.KICK, None, None),
        (Person("10006", "跑者(小号)"), MembershipAction.KICK, None, wang),
    ]
    skipped = {s.where: s.why for s in ctx.skipped}
    assert set(skipped) == {"line 70", "line 76", "line 88", "line 101"}
    assert skipped["line 70"] == "a poke, not a message"
    assert "修改了群名称" in skipped["line 76"]
    assert "own membership" in skipped["line 88"]
    assert "老同学" in skipped["line 101"] and "private chat" in skipped["line 101"]


def test_import_and_reimport(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, GROUP + FRIEND)
    s = import_file(sqlite_engine, path).summary
    assert (s.format, s.groups, s.messages_added, s.membership_events_added) == (
        "qq-txt",
        1,
        19,
        7,
    )
    # 老王 小李 小张 小赵 阿强 跑者 路人: the name-only recall by 小赵 resolves to 10004
    assert s.members == 7
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.membership_events_added) == (0, 0)
    assert (again.messages_skipped, again.membership_events_skipped) == (19, 7)


def test_group_id_is_the_name_not_the_path(tmp_path: Path) -> None:
    a = records(write(tmp_path / "a", GROUP, "export.txt"))[0]
    b = records(write(tmp_path / "b", GROUP, "跑团 (2).txt", encoding="gb18030"))[0]
    assert a.platform_id == b.platform_id and a.name == b.name == "跑团(城东)"
    other = records(write(tmp_path / "c", GROUP.replace("跑团(城东)", "跑团(城西)")))[0]
    assert other.platform_id != a.platform_id


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, GROUP, encoding=encoding)
    assert sources.detect(path) == "qq-txt"
    msgs = [m for m in records(path) if isinstance(m, Message)]
    assert len(msgs) == 19 and msgs[0].text == "欢迎大家\n第二行"


def minute_boundaries(lines: list[str]) -> list[int]:
    """Indexes of header lines whose time differs from the header before them."""
    out, last = [], None
    for i, line in enumerate(lines):
        if line[:2] == "20" and line[4:5] == "-":
            stamp = line[:19]
            if last is not None and stamp != last:
                out.append(i)
            last = stamp
    return out


def test_overlapping_exports_add_the_union(sqlite_engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=600, groups=1, seed=5)
    [path] = write_export("qq-txt", community, tmp_path / "full")
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    block = lines[:8]
    assert block[5].startswith("消息对象:")
    cuts = minute_boundaries(lines)
    early, late = cuts[len(cuts) * 2 // 5], cuts[len(cuts) * 3 // 5]
    first = write(tmp_path / "1", "".join(lines[:late]), path.name)
    second = write(tmp_path / "2", "".join(block + lines[early:]), "later.txt")
    a = import_file(sqlite_engine, first).summary
    b = import_file(sqlite_engine, second).summary
    assert a.groups == b.groups == 1 and b.messages_skipped > 0
    stats = community.stats
    assert a.messages_added + b.messages_added == stats.messages
    events = stats.joins - stats.groups + stats.leaves + stats.kicks  # no line for creation
    assert a.membership_events_added + b.membership_events_added == events
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.groups)).scalar_one() == 1


def test_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    paths = write_export("qq-txt", community, tmp_path / "demo")
    stats = community.stats
    assert len(paths) == 2 and all(sources.detect(p) == "qq-txt" for p in paths)
    assert paths[0].read_bytes().startswith(b"\xef\xbb\xbf" + qq_txt.TITLE_LINE.encode())
    summaries = [import_file(engine, p).summary for p in paths]
    assert sum(s.messages_added for s in summaries) == stats.messages
    assert sum(s.membership_events_added for s in summaries) == (
        stats.joins - stats.groups + stats.leaves + stats.kicks
    )
    with engine.connect() as conn:
        actions = dict(
            conn.execute(
                select(t.membership_events.c.action, func.count()).group_by(
                    t.membership_events.c.action
                )
            ).all()
        )
    assert actions == {
        "join": stats.joins - stats.groups,  # QQ writes no line for the group's creation
        "leave": stats.leaves,
        "kick": stats.kicks,
    }
    wanted = []
    for record in community:
        if isinstance(record, Group) and wanted:
            break
        if isinstance(record, Message):
            wanted.append(record)
    got = [r for r in records(paths[0]) if isinstance(r, Message)]
    assert len(got) == len(wanted) > 500
    for have, want in zip(got, wanted, strict=True):
        assert have.sender == Person(qq_number(want.sender.user_id or ""), want.sender.name)
        assert have.kind is want.kind
        assert have.text.endswith(want.text)  # mentions are written in front as @name
        assert have.sent_at == want.sent_at.replace(microsecond=0)
        assert len(have.mentions) == len(want.mentions)
        assert have.urls == want.urls


def test_bad_input(sqlite_engine: Engine, tmp_path: Path) -> None:
    not_qq = write(tmp_path, "hello there\n2024-03-25 9:00:00 A(10001)\nx\n", "notes.txt")
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, not_qq, fmt="qq-txt")
    assert "notes.txt: line 1:" in str(err.value) and "\n" not in str(err.value)
    only_block = write(tmp_path, BLOCK, "empty.txt")
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, only_block, fmt="qq-txt")
    assert "no message header" in str(err.value)
    text = (
        BLOCK + "2024-03-25 10:00:00 A(10001)\nfirst\n\n"
        "2024-02-30 10:01:00 A(10001)\nno such day\nand its second line\n\n"
        "2024-03-25 13:02:00 PM B(10002)\nno such hour\n\n"
        "2024-03-25 10:03:00 B(10002)\ncaf\udcff\n\n"
        "2024-03-25 10:04:00 B(10002)\nlast\n\n"
        "2024-03-25 10:05:00 B(100"
    )
    path = tmp_path / "bad.txt"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    result = import_file(sqlite_engine, path)
    assert result.summary.messages_added == 3
    whys = {s.where: s.why for s in result.skipped}
    assert set(whys) == {"line 12", "line 16", "line 25"}
    assert "2024-02-30" in whys["line 12"] and "13:02:00 PM" in whys["line 16"]
    assert whys["line 25"] == "incomplete last line"
    with sqlite_engine.connect() as conn:
        texts = [r.text for r in conn.execute(select(t.messages.c.text).order_by(t.messages.c.id))]
    assert texts == ["first", "caf\ufffd", "last"]  # invalid bytes replaced, not a crash


def test_chinese_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    ctx = ReadContext()
    assert records(write(tmp_path, FRIEND), ctx) == []
    assert [(s.where, s.why) for s in ctx.skipped] == [
        ("第 7 行", "已跳过私聊 '老同学'：群主只导入群聊")
    ]


def test_detection(tmp_path: Path) -> None:
    sniff = qq_txt.sniff
    assert sniff(GROUP.encode()) and sniff(GROUP.encode("gb18030"))
    assert sniff(GROUP.encode("utf-16")) and sniff(b"\xef\xbb\xbf" + GROUP.encode())
    assert sniff(b"2020-03-04 12:12:29 AM kp(100550)\n2\n")  # a snippet without the block
    assert sniff(b"2020-03-04 12:13:41 AM x<indo@qq.com>\n3\n")
    not_ours = [
        # MemoTrace TXT
        '2024-05-06 09:01:37 Bee\n大家好\n\n2024-05-06 09:00:00 "x"邀请"Bee"加入了群聊\n',
        "25/03/2024, 09:00 - Alice: hi\n",
        '{"msgid": "1", "action": "send"}\n',
        "2024-05-06 09:01:37 小明(小号)\n你好\n",  # no number in the brackets
        "id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime\n",
    ]
    for head in not_ours:
        assert not sniff(head.encode()), head
    for fmt in ("telegram", "whatsapp", "wecom-archive"):
        for other in write_export(fmt, DemoCommunity(messages=50, groups=1), tmp_path / fmt):
            assert not sniff(other.read_bytes()[: sources.SNIFF_BYTES]), fmt
    assert sources.detect(write(tmp_path, GROUP)) == "qq-txt"


def test_reference_synthetic_sample(sqlite_engine: Engine) -> None:
    # Read by hand: group 示例技术交流群; 小明's welcome (title 【管理员】), 小红 joins (system),
    # 小红's two-line hello, 阿强<email> sends [图片], 小明 @小红, 小红 recalls, 阿强(10003)
    # leaves. 5 messages (one a recall), 2 membership events; times are Shanghai local.
    path = shared_sample("reference_synthetic/qq_pc_legacy_group_export.txt")
    assert sources.detect(path) == "qq-txt"
    got = records(path)
    assert got[0].name == "示例技术交流群"
    msgs = [m for m in got if isinstance(m, Message)]
    assert [(m.sender.name, m.kind) for m in msgs] == [
        ("小明", MessageKind.TEXT),
        ("小红", MessageKind.TEXT),
        ("阿强", MessageKind.IMAGE),
        ("小明", MessageKind.TEXT),
        ("小红", MessageKind.RECALL),
    ]
    assert msgs[0].sent_at == local(2021, 4, 10, 20, 0, 1)
    assert msgs[1].text == "大家好\n我是新来的" and msgs[2].sender.user_id == "aqiang@example.com"
    assert msgs[3].mentions == ("@小红",)
    s = import_file(sqlite_engine, path).summary
    assert (s.messages_added, s.membership_events_added) == (5, 2)


def test_other_samples() -> None:
    # log-painter: three messages in 12-hour time, the third from an e-mail sender.
    painter = shared_sample("log-painter_MIT/qq_txt_email_sender__parser_chat_test.txt")
    msgs = [m for m in records(painter) if isinstance(m, Message)]
    assert [(m.sender.user_id, m.sender.name, m.text) for m in msgs] == [
        ("852649", "礼", "1"),
        ("100550", "kp", "2"),
        ("indo@qq.com", "围观", "3"),
    ]
    assert msgs[0].sent_at == local(2020, 3, 4, 0, 12, 29)  # 12:12:29 AM
    # qq-chat-history: a remark between `===` rules, then A and B.
    history = shared_sample("qq-chat-history_MIT/qq_txt__file.txt")
    ctx = ReadContext(tz=sources.zone("UTC"))
    msgs = [m for m in records(history, ctx) if isinstance(m, Message)]
    assert [(m.sender.user_id, m.text) for m in msgs] == [("123123", "A"), ("456456", "B")]
    assert msgs[1].sent_at == datetime(1883, 3, 7, 12, 34, 56, tzinfo=UTC)
    assert [s.where for s in ctx.skipped] == ["line 2"]
