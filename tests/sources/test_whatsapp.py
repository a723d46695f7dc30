"""WhatsApp TXT: header layouts, date order over the whole file, system lines, placeholders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from qunzhu import sources
from qunzhu.demo import DemoCommunity, write_export
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
from qunzhu.store import schema as t
from tests.conftest import shared_sample

LRM = "\u200e"
ANDROID = """\
25/03/2024, 09:00 - Messages and calls are end-to-end encrypted. No one outside of this chat, \
not even WhatsApp, can read or listen to them. Tap to learn more.
25/03/2024, 09:00 - Alice created group "Runners"
25/03/2024, 09:00 - Alice added Bob, Carol and Dan
25/03/2024, 09:01 - Erin joined using this group's invite link
25/03/2024, 09:02 - Alice changed the subject from "Runners" to "Runners: Club"
25/03/2024, 09:02 - Alice changed this group's icon
25/03/2024, 09:03 - Your security code with Bob changed. Tap to learn more.
25/03/2024, 09:03 - Bob changed their phone number to a new number. Tap to message or add the \
new number.
25/03/2024, 09:04 - Alice: Welcome all!
Second line: still Alice
25/03/2024, 09:05 - Bob: <Media omitted>
25/03/2024, 09:05 - Bob: IMG-20240325-WA0001.jpg (file attached)
our booth
25/03/2024, 09:06 - Carol: PTT-20240325-WA0002.opus (file attached)
25/03/2024, 09:06 - Carol: VID-20240325-WA0003.mp4 (file attached)
25/03/2024, 09:06 - Carol: STK-20240325-WA0004.webp (file attached)
25/03/2024, 09:07 - Dan: rules.pdf (file attached)
25/03/2024, 09:07 - Dan: Frank.vcf (file attached)
25/03/2024, 09:08 - Dan: location: https://maps.google.com/?q=1,2
25/03/2024, 09:09 - Bob: This message was deleted
25/03/2024, 09:09 - Alice: You deleted this message
25/03/2024, 09:10 - Erin: @\u2068Alice Li\u2069 see https://example.org/x <This message was edited>
25/03/2024, 09:10 - Erin: hi @Bob, ok
25/03/2024, 09:10 - Erin: hi @Bob, ok
25/03/2024, 09:11 - You added Frank
25/03/2024, 09:12 - Alice added you
26/03/2024, 08:00 - Alice removed Dan
26/03/2024, 21:30 - Carol left
26/03/2024, 21:31 - You left
"""
IOS = f"""\
[25/03/2024, 09:00:00] Runners: {LRM}Messages and calls are end-to-end encrypted. No one \
outside of this chat, not even WhatsApp, can read or listen to them.
[25/03/2024, 09:00:00] Alice: {LRM}Alice created this group
{LRM}[25/03/2024, 09:00:05] Alice: {LRM}Alice added Bob
[25/03/2024, 09:02:11] Carol: {LRM}Carol joined using this group’s invite link
[25/03/2024, 09:03:40] Alice: Welcome!
[25/03/2024, 09:04:02] Carol: {LRM}image omitted
[25/03/2024, 09:04:03] Carol: {LRM}video omitted
[25/03/2024, 09:04:04] Carol: {LRM}audio omitted
[25/03/2024, 09:04:05] Carol: {LRM}sticker omitted
[25/03/2024, 09:04:06] Carol: {LRM}Report.pdf • 3 pages {LRM}document omitted
[25/03/2024, 09:04:30] Carol: {LRM}<attached: 00000012-PHOTO-2024-03-25-09-04-30.jpg>
[25/03/2024, 09:05:00] Bob: {LRM}This message was deleted.
[25/03/2024, 09:05:30] Alice: {LRM}Missed voice call
[25/03/2024, 09:06:00] Alice: {LRM}Alice removed Bob
[26/03/2024, 21:30:00] Carol: {LRM}Carol left
"""
SHANGHAI = timedelta(hours=8)


def write(
    tmp_path: Path, text: str, name: str = "WhatsApp Chat with Runners.txt", **kw: Any
) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=kw.get("encoding", "utf-8"), newline="\n")
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "whatsapp", ctx or ReadContext()))


def local(*parts: int) -> datetime:
    """A Shanghai wall-clock time (the default --tz) as the UTC moment the reader returns."""
    return datetime(*parts, tzinfo=UTC) - SHANGHAI  # type: ignore[misc]


def test_android_messages_and_kinds(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write(tmp_path, ANDROID), ctx)
    group = got[0]
    assert isinstance(group, Group) and group.name == "Runners: Club"  # the latest subject
    msgs = [r for r in got if isinstance(r, Message)]
    assert [(m.sender.name, m.kind) for m in msgs] == [
        ("Alice", MessageKind.TEXT),
        ("Bob", MessageKind.FILE),
        ("Bob", MessageKind.IMAGE),
        ("Carol", MessageKind.VOICE),
        ("Carol", MessageKind.VIDEO),
        ("Carol", MessageKind.STICKER),
        ("Dan", MessageKind.FILE),
        ("Dan", MessageKind.CARD),
        ("Dan", MessageKind.CARD),
        ("Bob", MessageKind.RECALL),
        ("Alice", MessageKind.RECALL),
        ("Erin", MessageKind.LINK),
        ("Erin", MessageKind.TEXT),
        ("Erin", MessageKind.TEXT),
    ]
    assert all(m.sender.user_id is None for m in msgs)
    assert msgs[0].text == "Welcome all!\nSecond line: still Alice"
    assert msgs[0].sent_at == local(2024, 3, 25, 9, 4) and ctx.tz_assumed
    assert msgs[2].text == "our booth" and msgs[1].text == ""
    assert msgs[11].text == "@\u2068Alice Li\u2069 see https://example.org/x"  # edit mark dropped
    assert msgs[11].mentions == ("@Alice Li",) and msgs[11].urls == ("https://example.org/x",)
    assert msgs[12].mentions == ("@Bob",)
    assert len({m.platform_id for m in msgs}) == len(msgs)  # identical lines stay two
    assert msgs[12].platform_id.startswith("h:") and ctx.expected == 27  # header lines


def test_android_system_lines(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write(tmp_path, ANDROID), ctx)
    events = [
        (e.member.name, e.action, e.method, e.actor and e.actor.name)
        for e in got
        if isinstance(e, MembershipEvent)
    ]
    assert events == [
        ("Alice", MembershipAction.JOIN, JoinMethod.CREATED, None),
        ("Bob", MembershipAction.JOIN, JoinMethod.INVITE, "Alice"),
        ("Carol", MembershipAction.JOIN, JoinMethod.INVITE, "Alice"),
        ("Dan", MembershipAction.JOIN, JoinMethod.INVITE, "Alice"),
        ("Erin", MembershipAction.JOIN, JoinMethod.LINK, None),
        ("Frank", MembershipAction.JOIN, JoinMethod.INVITE, None),  # "You": the actor is unknown
        ("Dan", MembershipAction.KICK, None, "Alice"),
        ("Carol", MembershipAction.LEAVE, None, None),
    ]
    skipped = {s.where: s.why for s in ctx.skipped}
    assert set(skipped) == {"line 1", "line 5", "line 6", "line 7", "line 8", "line 26", "line 29"}
    assert "security code" in skipped["line 7"] and "you" in skipped["line 26"]


def test_ios_system_lines_and_placeholders(tmp_path: Path) -> None:
    ctx = ReadContext()
    got = records(write(tmp_path, IOS, "_chat.txt"), ctx)
    assert got[0].name == "Runners"  # the banner's "author" is the group
    msgs = [(m.sender.name, m.kind, m.text) for m in got if isinstance(m, Message)]
    assert msgs == [
        ("Alice", MessageKind.TEXT, "Welcome!"),
        ("Carol", MessageKind.IMAGE, ""),
        ("Carol", MessageKind.VIDEO, ""),
        ("Carol", MessageKind.VOICE, ""),
        ("Carol", MessageKind.STICKER, ""),
        ("Carol", MessageKind.FILE, ""),
        ("Carol", MessageKind.IMAGE, ""),
        ("Bob", MessageKind.RECALL, ""),
    ]
    events = [
        (e.member.name, e.action, e.method, e.at) for e in got if isinstance(e, MembershipEvent)
    ]
    assert events == [
        ("Alice", MembershipAction.JOIN, JoinMethod.CREATED, local(2024, 3, 25, 9, 0, 0)),
        ("Bob", MembershipAction.JOIN, JoinMethod.INVITE, local(2024, 3, 25, 9, 0, 5)),
        ("Carol", MembershipAction.JOIN, JoinMethod.LINK, local(2024, 3, 25, 9, 2, 11)),
        ("Bob", MembershipAction.KICK, None, local(2024, 3, 25, 9, 6, 0)),
        ("Carol", MembershipAction.LEAVE, None, local(2024, 3, 26, 21, 30, 0)),
    ]
    assert [s.where for s in ctx.skipped] == ["line 1", "line 13"]  # banner, missed call


@pytest.mark.parametrize(
    ("lines", "first"),
    [
        (["3/25/24, 9:00\u202fPM - A: x"], (2024, 3, 25, 21, 0)),
        (["25.03.24, 21:00 - A: x"], (2024, 3, 25, 21, 0)),
        (["2024-03-25, 21:00 - A: x"], (2024, 3, 25, 21, 0)),
        (["2024/3/25 下午9:00 - A: x"], (2024, 3, 25, 21, 0)),
        (["[25/03/2024, 21:00:07] A: x"], (2024, 3, 25, 21, 0, 7)),
        (["25/3/2024, 9:00 p. m. - A: x"], (2024, 3, 25, 21, 0)),
        (["25/3/2024, 12:05 a. m. - A: x"], (2024, 3, 25, 0, 5)),
        ([f"{LRM}[3/25/24, 9:00:00\u00a0PM] A: x"], (2024, 3, 25, 21, 0)),
        (["[15-01-20 02:22:56] A: x"], (2020, 1, 15, 2, 22, 56)),
        # Ambiguous first lines, decided by a later one: the order is the whole file's.
        (["12/03/2024, 10:00 - A: x", "13/03/2024, 10:00 - A: y"], (2024, 3, 12, 10, 0)),
        (["12/03/2024, 10:00 - A: x", "12/13/2024, 10:00 - A: y"], (2024, 12, 3, 10, 0)),
        # Nothing above 12: the field that changes more often is the day.
        (["01/02/2024, 10:00 - A: x", "01/03/2024, 10:00 - A: y"], (2024, 1, 2, 10, 0)),
        (["02/01/2024, 10:00 - A: x", "03/01/2024, 10:00 - A: y"], (2024, 1, 2, 10, 0)),
        # No clue at all: US AM/PM with slashes is month first, anything else day first.
        (["1/2/24, 10:00\u202fAM - A: x"], (2024, 1, 2, 10, 0)),
        (["1/2/24, 10:00 - A: x"], (2024, 2, 1, 10, 0)),
    ],
)
def test_header_layouts(tmp_path: Path, lines: list[str], first: tuple[int, ...]) -> None:
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert sources.detect(path) == "whatsapp"
    msgs = [r for r in records(path) if isinstance(r, Message)]
    assert len(msgs) == len(lines) and msgs[0].text == "x"
    assert msgs[0].sent_at == local(*first)


def test_group_id_is_the_subject_not_the_path(tmp_path: Path) -> None:
    android = records(write(tmp_path / "a", ANDROID, "whatever.txt"))[0]
    ios = records(write(tmp_path / "b", IOS, "_chat.txt"))[0]
    later = ANDROID.split("\n", 8)[8]  # a later export that lacks the creation line
    named = records(write(tmp_path / "c", later, "WhatsApp Chat with Runners.txt"))[0]
    ios_folder = records(write(tmp_path / "WhatsApp Chat - Runners", later, "_chat.txt"))[0]
    assert android.platform_id == ios.platform_id == named.platform_id == ios_folder.platform_id
    other = records(write(tmp_path / "d", later, "WhatsApp Chat with Walkers.txt"))[0]
    assert other.platform_id != android.platform_id


def test_import_reimport_and_names(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, ANDROID)
    s = import_file(sqlite_engine, path).summary
    assert (s.format, s.groups, s.messages_added, s.membership_events_added) == (
        "whatsapp",
        1,
        14,
        8,
    )
    assert s.members == 6  # Alice, Bob, Carol, Dan, Erin, Frank: by name
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.membership_events_added, again.messages_skipped) == (
        0,
        0,
        14,
    )


def minute_boundaries(lines: list[str]) -> list[int]:
    """Indexes of header lines whose minute differs from the header before them."""
    out, last = [], None
    for i, line in enumerate(lines):
        if line[:2].isdigit() and " - " in line:
            stamp = line.split(" - ", 1)[0]
            if last is not None and stamp != last:
                out.append(i)
            last = stamp
    return out


def test_overlapping_exports_add_the_union(sqlite_engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=600, groups=1, seed=5)
    [path] = write_export("whatsapp", community, tmp_path / "full")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cuts = minute_boundaries(lines)
    early, late = cuts[len(cuts) * 2 // 5], cuts[len(cuts) * 3 // 5]
    first = write(tmp_path / "1", "".join(lines[:late]), path.name)
    second = write(tmp_path / "2", "".join(lines[early:]), path.name)  # no creation line
    a = import_file(sqlite_engine, first).summary
    b = import_file(sqlite_engine, second).summary
    assert a.groups == b.groups == 1
    assert a.messages_added + b.messages_added == community.stats.messages
    assert b.messages_skipped > 0
    events = community.stats.joins + community.stats.leaves + community.stats.kicks
    assert a.membership_events_added + b.membership_events_added == events
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.groups)).scalar_one() == 1


def test_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    paths = write_export("whatsapp", community, tmp_path / "demo")
    stats = community.stats
    assert len(paths) == 2 and all(sources.detect(p) == "whatsapp" for p in paths)
    summaries = [import_file(engine, p).summary for p in paths]
    assert sum(s.messages_added for s in summaries) == stats.messages
    assert sum(s.membership_events_added for s in summaries) == (
        stats.joins + stats.leaves + stats.kicks
    )
    with engine.connect() as conn:
        actions = dict(
            conn.execute(
                select(t.membership_events.c.action, func.count()).group_by(
                    t.membership_events.c.action
                )
            ).all()
        )
    assert actions == {"join": stats.joins, "leave": stats.leaves, "kick": stats.kicks}
    # Field by field, in file order: WhatsApp keeps minutes, names and kinds, no ids.
    wanted = []
    for record in community:
        if isinstance(record, Group) and wanted:
            break
        if isinstance(record, Message):
            wanted.append(record)
    got = [r for r in records(paths[0]) if isinstance(r, Message)]
    assert len(got) == len(wanted) > 500
    for have, want in zip(got, wanted, strict=True):
        assert have.sender.name == want.sender.name
        assert have.kind is want.kind
        assert have.text.endswith(want.text)  # mentions are written in front as @name
        assert have.sent_at == want.sent_at.replace(second=0, microsecond=0)
        assert len(have.mentions) == len(want.mentions)


def test_bad_input(sqlite_engine: Engine, tmp_path: Path) -> None:
    not_wa = write(tmp_path, "hello there\n25/03/2024, 09:00 - A: x\n", "notes.txt")
    with pytest.raises(SourceError) as err:
        import_file(sqlite_engine, not_wa, fmt="whatsapp")
    assert "notes.txt: line 1:" in str(err.value) and "\n" not in str(err.value)
    text = (
        "\ufeff13/03/2024, 10:00 - A: first\n"
        "31/02/2024, 10:01 - A: no such day\n"
        "and its second line\n"
        "14/03/2024, 10:02 - B: caf\udcff\n"
        "15/03/2024, 10:03 - B: last\n"
        "15/03/2024, 10:"
    )
    path = tmp_path / "bad.txt"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    result = import_file(sqlite_engine, path)
    assert result.summary.messages_added == 3
    whys = {s.where: s.why for s in result.skipped}
    assert whys == {"line 2": whys["line 2"], "line 6": "incomplete last line"}
    assert "31/02/2024" in whys["line 2"]
    with sqlite_engine.connect() as conn:
        texts = [r.text for r in conn.execute(select(t.messages.c.text))]
    assert texts == ["first", "caf\ufffd", "last"]  # invalid bytes replaced, not a crash


def test_detection_is_strict(tmp_path: Path) -> None:
    sniff = sources.module("whatsapp").sniff
    assert sniff(ANDROID.encode()) and sniff(IOS.encode()) and sniff(b"\xef\xbb\xbf" + IOS.encode())
    qq = (
        "消息记录（此消息记录为文本格式，不支持重新导入）\n\n2019-09-23 8:43:38 PM 骰娘(87200175)\n"
    )
    memotrace = '2024-05-06 09:01:37 Bee\n大家好\n\n2024-05-06 09:00:00 "x"邀请"Bee"加入了群聊\n'
    for other in (qq, memotrace, "2020-03-04 12:12:29 AM kp(100550)\n2\n", '{"a": 1}'):
        assert not sniff(other.encode())


def test_chat_miner_samples_match_their_expected_parse() -> None:
    target = json.loads(shared_sample("chat-miner_MIT/whatsapp__target.json").read_text("utf-8"))
    want = sorted(
        (row["timestamp"], row["author"], row["message"]) for row in target
    )  # 6 messages: "John Doe:." and the system lines are not messages
    for name in (
        "brackets_mmddyy_24hrs",
        "ddmmyy_24hrs",
        "mmddyy_24hrs",
        "mmddyyyy_12hrs",
        "yyyymmdd_24hrs",
    ):
        path = shared_sample(f"chat-miner_MIT/whatsapp__test_{name}.txt")
        ctx = ReadContext(tz=sources.zone("UTC"))
        got = sorted(
            (
                m.sent_at.replace(tzinfo=None).isoformat(),
                m.sender.name,
                m.text.replace("\n", " "),
            )
            for m in records(path, ctx)
            if isinstance(m, Message)
        )
        assert got == want, name


def test_reference_synthetic_samples(sqlite_engine: Engine) -> None:
    # Read by hand. Android dd/mm: 4 messages (a two-line welcome, media, a deletion, a link),
    # 5 membership lines (created, added, invite link, removed, left). iOS: 4 messages
    # (welcome, two images, a deletion), 3 membership lines; both are the group "Demo Builders".
    android = shared_sample("reference_synthetic/whatsapp_android_en_ddmmyyyy_24h.txt")
    ios = shared_sample("reference_synthetic/whatsapp_ios_en_brackets_seconds.txt")
    us = shared_sample("reference_synthetic/whatsapp_android_en_US_mdyy_12h_nnbsp.txt")
    a = import_file(sqlite_engine, android).summary
    assert (a.messages_added, a.membership_events_added, a.group_names) == (
        4,
        5,
        ["Demo Builders"],
    )
    i = import_file(sqlite_engine, ios).summary
    # The same group, exported again from an iPhone: what both files time to the same second
    # (the deletion at 09:05:00, the creation at 09:00:00, Carol leaving at 21:30:00) is
    # recognised as already there; the rest has seconds the Android file does not show.
    assert (i.messages_added, i.membership_events_added) == (3, 1)
    assert (i.messages_skipped, i.membership_events_skipped) == (1, 2)
    u = import_file(sqlite_engine, us).summary
    assert u.messages_added == 3  # welcome, an image, "lunch?"
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.groups)).scalar_one() == 2  # +US
        times = conn.execute(
            select(t.messages.c.sent_at).where(t.messages.c.text == "lunch?")
        ).scalar_one()
    assert times == int(local(2024, 3, 25, 13, 8).timestamp() * 1000)  # 1:08 PM


def test_other_samples() -> None:
    # whatstk: 300 lines, one message each, `[DD-MM-YY HH:MM:SS]` (15-01-20 is 15 January).
    lorem = shared_sample("whatstk_GPL-3.0/whatsapp__lorem_first300lines.txt")
    msgs = [
        m for m in records(lorem, ReadContext(tz=sources.zone("UTC"))) if isinstance(m, Message)
    ]
    assert len(msgs) == 300
    assert msgs[0].sent_at == datetime(2020, 1, 15, 2, 22, 56, tzinfo=UTC)
    assert msgs[-1].sent_at == datetime(2020, 3, 8, 22, 38, 36, tzinfo=UTC)
    # chat-analytics: "11M" and "5M" in the names are their message counts.
    four = shared_sample("chat-analytics_AGPL-3.0/whatsapp__4A_11M.txt")
    got = records(four)
    assert got[0].name == "Some cool group chat"
    assert sum(isinstance(m, Message) for m in got) == 11
    two = shared_sample("chat-analytics_AGPL-3.0/whatsapp__2A_5M.txt")
    kinds = [m.kind for m in records(two) if isinstance(m, Message)]
    assert len(kinds) == 5 and kinds.count(MessageKind.FILE) == 1  # <media omitted>
