"""WeCom 会话内容存档 JSONL: payload kinds, recalls, robots, skipped lines, interleaved groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from qunzhu import sources
from qunzhu.demo import DemoCommunity, write_export
from qunzhu.demo.wecom_archive import external_id, message_id, room_id
from qunzhu.importing import import_file
from qunzhu.model import Group, Message, MessageKind
from qunzhu.sources import ReadContext, SourceError, wecom_archive
from qunzhu.store import schema as t
from tests.conftest import shared_sample

T0 = 1_717_380_000_000  # 2024-06-03 02:00:00 UTC, in ms


def row(n: int, msgtype: str, payload: Any = None, **kw: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "msgid": f"M{n:03d}",
        "action": "send",
        "from": kw.pop("sender", "zhangsan"),
        "tolist": ["lisi", "wmEXT01"],
        "roomid": kw.pop("roomid", "wrROOM_A"),
        "msgtime": T0 + n * 1000 + 7,
        "msgtype": msgtype,
    }
    if payload is not None:
        obj[msgtype] = payload
    obj.update(kw)
    return obj


def mixed(*items: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"item": [{"type": k, "content": orjson.dumps(v).decode()} for k, v in items]}


ROWS = [
    row(1, "text", {"content": "@李四 看看 https://example.org/x 这个"}),
    row(2, "image", {"sdkfileid": "F", "md5sum": "0", "filesize": 1}, sender="wmEXT01"),
    row(3, "voice", {"sdkfileid": "F", "voice_size": 1, "play_length": 3, "md5sum": "0"}),
    row(4, "video", {"sdkfileid": "F", "filesize": 1, "play_length": 3, "md5sum": "0"}),
    row(5, "emotion", {"type": 1, "width": 1, "height": 1, "sdkfileid": "F"}),
    row(6, "file", {"filename": "报名表.xlsx", "fileext": "xlsx", "sdkfileid": "F"}),
    row(7, "link", {"title": "文章", "description": "d", "link_url": "https://example.org/a"}),
    row(8, "weapp", {"title": "小程序", "description": "", "username": "u", "displayname": "d"}),
    row(9, "card", {"corpname": "公司", "userid": "wangwu"}),
    row(10, "location", {"longitude": 1.0, "latitude": 2.0, "address": "a", "title": "门店"}),
    row(11, "chatrecord", {"title": "群聊的聊天记录", "item": []}),
    row(12, "todo", {"title": "周报", "content": "周五前交"}),
    row(13, "vote", None, votetitle="周末去哪", voteitem=["爬山", "看电影"], votetype=101),
    row(14, "collect", {"room_name": "跑步群", "creator": "zhangsan", "title": "报名接龙"}),
    row(15, "redpacket", {"type": 2, "wish": "恭喜发财", "totalcnt": 5, "totalamount": 1000}),
    row(16, "external_redpacket", {"type": 1, "wish": "新年快乐", "totalcnt": 1}),
    row(17, "meeting", {"topic": "周会", "starttime": 1, "endtime": 2}),
    row(18, "docmsg", {"title": "文档", "link_url": "https://doc.example/1"}),
    row(19, "markdown", None, sender="wbROBOT01", info={"content": "**提醒**"}),
    row(
        20,
        "news",
        None,
        sender="wbROBOT01",
        info={"item": [{"title": "新闻", "url": "https://n/1"}]},
    ),
    row(21, "calendar", {"title": "日程", "creatorname": "张三"}),
    row(22, "mixed", mixed(("text", {"content": "看图"}), ("image", {"sdkfileid": "X"}))),
    row(23, "revoke", {"pre_msgid": "M001"}, action="recall"),
    row(24, "text", {"content": "另一个群"}, roomid="wrROOM_B", sender="lisi"),
    row(25, "agree", {"userid": "wmEXT01", "agree_time": 1}),
    row(26, "text", {"content": "单聊"}, roomid=""),
    {"msgid": "M027_external", "action": "switch", "time": T0 + 27_000, "user": "zhangsan"},
    row(28, "sphfeed_v2", {"feed_type": 4}),
    row(29, "meeting_voice_call", {"endtime": 1}),
    row(30, "text", {"content": "收到"}, sender="wmEXT01"),
]
KINDS = [
    MessageKind.LINK,
    MessageKind.IMAGE,
    MessageKind.VOICE,
    MessageKind.VIDEO,
    MessageKind.STICKER,
    MessageKind.FILE,
    MessageKind.LINK,
    MessageKind.CARD,
    MessageKind.CARD,
    MessageKind.CARD,
    MessageKind.CARD,
    MessageKind.CARD,
    MessageKind.CARD,
    MessageKind.CARD,
    MessageKind.RED_PACKET,
    MessageKind.RED_PACKET,
    MessageKind.CARD,
    MessageKind.LINK,
    MessageKind.TEXT,
    MessageKind.LINK,
    MessageKind.CARD,
    MessageKind.IMAGE,
    MessageKind.RECALL,
    MessageKind.TEXT,  # group B
    MessageKind.TEXT,  # line 30
]


def write(tmp_path: Path, rows: list[dict[str, Any]], name: str = "archive.jsonl") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "wecom-archive", ctx or ReadContext()))


def test_every_payload_kind(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write(tmp_path, ROWS), ctx)
    msgs = [r for r in got if isinstance(r, Message)]
    assert [m.kind for m in msgs] == KINDS
    by_id = {m.platform_id: m for m in msgs}
    first = by_id["M001"]
    assert first.sender.user_id == "zhangsan" and first.sender.name is None
    assert first.mentions == ("@李四",) and first.urls == ("https://example.org/x",)
    assert first.sent_at == datetime(2024, 6, 3, 2, 0, 1, 7000, tzinfo=UTC)  # exact ms, UTC
    assert not ctx.tz_assumed
    assert by_id["M006"].text == "报名表.xlsx"
    assert (by_id["M007"].text, by_id["M007"].urls) == ("文章", ("https://example.org/a",))
    assert by_id["M013"].text == "周末去哪"
    assert by_id["M015"].text == "恭喜发财"
    assert by_id["M019"].sender.user_id == "wbROBOT01"  # robots are members too
    assert by_id["M020"].urls == ("https://n/1",)
    assert by_id["M022"].text == "看图"
    recall = by_id["M023"]
    assert recall.kind is MessageKind.RECALL and recall.reply_to == "M001"
    assert recall.sender.user_id == "zhangsan" and recall.row == 23
    groups = {g.platform_id: g.name for g in got if isinstance(g, Group)}
    assert groups == {"wrROOM_A": "跑步群", "wrROOM_B": "wrROOM_B"}  # named by 接龙, else roomid
    skipped = {s.where: s.why for s in ctx.skipped}
    assert set(skipped) == {"line 25", "line 26", "line 27", "line 28", "line 29"}
    assert "consent" in skipped["line 25"] and "1:1" in skipped["line 26"]
    assert "switch" in skipped["line 27"] and "sphfeed_v2" in skipped["line 28"]
    assert "call" in skipped["line 29"]


def test_interleaved_groups_are_handed_on_in_batches(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        row(i, "text", {"content": f"m{i}"}, roomid="wrA" if i % 3 else "wrB") for i in range(1, 31)
    ]
    monkeypatch.setattr(wecom_archive, "BUFFERED", 4)
    path = write(tmp_path, rows)
    got = records(path)
    assert sum(isinstance(r, Group) for r in got) > 2  # the groups come back, batch by batch
    assert sum(isinstance(r, Message) for r in got) == 30
    summary = import_file(sqlite_engine, path).summary
    assert (summary.groups, summary.messages_added) == (2, 30)
    with sqlite_engine.connect() as conn:
        per_group = dict(
            conn.execute(
                select(t.groups.c.platform_id, func.count())
                .join(t.messages, t.messages.c.group_id == t.groups.c.id)
                .group_by(t.groups.c.platform_id)
            ).all()
        )
    assert per_group == {"wrA": 20, "wrB": 10}


def test_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    [path] = write_export("wecom-archive", community, tmp_path / "demo")
    stats = community.stats
    assert sources.detect(path) == "wecom-archive"
    times = [orjson.loads(line)["msgtime"] for line in path.read_bytes().splitlines()]
    assert times == sorted(times)  # one archive, groups interleaved in time order
    summary = import_file(engine, path).summary
    assert summary.messages_added == stats.messages
    assert summary.membership_events_added == 0  # the archive carries no membership changes
    assert summary.groups == 2
    # Field by field: the archive keeps ids, exact times and kinds; names are not in it.
    got = {m.platform_id: m for m in records(path) if isinstance(m, Message)}
    room = ""
    compared = 0
    for record in community:
        if isinstance(record, Group):
            room = room_id(record)
            continue
        if not isinstance(record, Message):
            continue
        have = got[message_id(room, record.platform_id)]
        assert have.sender.user_id == external_id(record.sender.user_id or "")
        assert have.kind is record.kind
        assert abs(have.sent_at - record.sent_at) <= timedelta(microseconds=500)  # to the ms
        if record.kind in (MessageKind.TEXT, MessageKind.LINK, MessageKind.IMAGE):
            assert len(have.mentions) == len(record.mentions)
            assert have.text.endswith(record.text)  # mentions are written in front as @name
            assert have.urls == record.urls
        compared += 1
    assert compared == stats.messages


def test_reimport_and_overlapping_archives(sqlite_engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=800, groups=2, seed=11)
    [path] = write_export("wecom-archive", community, tmp_path / "full")
    lines = path.read_bytes().splitlines(keepends=True)
    cut_a, cut_b = len(lines) * 3 // 5, len(lines) * 2 // 5
    first = tmp_path / "1.jsonl"
    second = tmp_path / "2.jsonl"
    first.write_bytes(b"".join(lines[:cut_a]))
    second.write_bytes(b"".join(lines[cut_b:]))
    a = import_file(sqlite_engine, first).summary
    b = import_file(sqlite_engine, second).summary
    assert a.messages_added + b.messages_added == community.stats.messages
    assert b.messages_skipped == cut_a - cut_b
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.messages_skipped) == (0, community.stats.messages)


def test_bad_input(sqlite_engine: Engine, tmp_path: Path) -> None:
    cases = {
        "text.jsonl": b"hello\n" + orjson.dumps(ROWS[0]) + b"\n",
        "array.jsonl": b"[1, 2]\n",
        "other.jsonl": b'{"id": 1, "text": "x"}\n',
        "empty.jsonl": b"\n\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(SourceError) as err:
            import_file(sqlite_engine, path, fmt="wecom-archive")
        message = str(err.value)
        assert name in message and "\n" not in message
        assert ("line 1:" in message) == (name != "empty.jsonl"), message
    broken = tmp_path / "broken.jsonl"
    no_time = {**ROWS[1], "msgtime": "yesterday"}
    no_sender = {k: v for k, v in ROWS[2].items() if k != "from"}
    broken.write_bytes(
        orjson.dumps(ROWS[0])
        + b"\n{not json}\n[3]\n"
        + orjson.dumps(no_time)
        + b"\n"
        + orjson.dumps(no_sender)
        + b"\n"
        + orjson.dumps(ROWS[3])
        + b"\n"
        + orjson.dumps(ROWS[4])[:40]  # the archive was cut off mid-write
    )
    result = import_file(sqlite_engine, broken, fmt="wecom-archive")
    assert result.summary.messages_added == 2
    whys = {s.where: s.why for s in result.skipped}
    assert set(whys) == {"line 2", "line 3", "line 4", "line 5", "line 7"}
    assert whys["line 2"].startswith("not valid JSON") and whys["line 3"] == "not a JSON object"
    assert "yesterday" in whys["line 4"] and whys["line 5"] == "no sender"
    assert whys["line 7"] == "incomplete last line"


def test_chinese_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    ctx = ReadContext()
    records(write(tmp_path, [ROWS[0], ROWS[25]]), ctx)
    assert [(s.where, s.why) for s in ctx.skipped] == [
        ("第 2 行", "单聊消息，不是群聊（群主只导入群聊）")
    ]


def test_detection(tmp_path: Path) -> None:
    sniff = wecom_archive.sniff
    assert sniff(write(tmp_path, ROWS).read_bytes())
    assert sniff(b"\xef\xbb\xbf" + orjson.dumps(ROWS[-4]))  # a switch row first, with a BOM
    not_ours = [
        b'{"name": "g", "type": "private_group", "id": 1, "messages": [{"id": 1, "action": "x"}]}',
        b'{"msgid": "1", "from": "a", "roomid": "r"}\n',  # no archive action
        b'{"guild": {"id": "1"}, "channel": {}, "messages": []}',
        "消息记录（此消息记录为文本格式，不支持重新导入）\n".encode(),
        b"25/03/2024, 09:00 - Alice: hi\n",
        b'[{"msgid": "1", "action": "send"}]',
    ]
    for head in not_ours:
        assert not sniff(head), head
    for fmt in ("telegram", "whatsapp"):
        for other in write_export(fmt, DemoCommunity(messages=50, groups=1), tmp_path / fmt):
            assert not sniff(other.read_bytes()[: sources.SNIFF_BYTES])
    assert sources.detect(write(tmp_path, ROWS)) == "wecom-archive"


def test_reference_sample(sqlite_engine: Engine) -> None:
    # Read by hand: 9 lines. Group wrROOM0001: text, image, link, a recall of CAQQ0003, a red
    # packet, a robot's markdown, a mixed text+image (7 messages from zhangsan, lisi,
    # wmEXTERNAL001, wbROBOT0001). Line 7 is a 1:1 chat (empty roomid), line 9 a switch.
    path = shared_sample("reference_synthetic/wecom_msgaudit_decrypted.jsonl")
    assert sources.detect(path) == "wecom-archive"
    ctx = ReadContext()
    msgs = [m for m in records(path, ctx) if isinstance(m, Message)]
    assert [(m.platform_id, m.kind) for m in msgs] == [
        ("CAQQ0001", MessageKind.TEXT),
        ("CAQQ0002", MessageKind.IMAGE),
        ("CAQQ0003", MessageKind.LINK),
        ("CAQQ0004", MessageKind.RECALL),
        ("CAQQ0005", MessageKind.RED_PACKET),
        ("CAQQ0006", MessageKind.TEXT),
        ("CAQQ0008", MessageKind.IMAGE),
    ]
    assert msgs[3].reply_to == "CAQQ0003" and msgs[5].sender.user_id == "wbROBOT0001"
    assert msgs[0].sent_at == datetime(2024, 6, 3, 2, 0, tzinfo=UTC)  # 1717380000000 ms
    assert [s.where for s in ctx.skipped] == ["line 7", "line 9"]
    summary = import_file(sqlite_engine, path).summary
    assert (summary.groups, summary.messages_added, summary.members) == (1, 7, 4)
    assert summary.group_names == ["wrROOM0001"]
