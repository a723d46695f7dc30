"""Telegram Desktop `result.json`: every service action and text shape the reader promises."""

from __future__ import annotations

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
from qunzhu.sources import ReadContext, SourceError, telegram
from qunzhu.store import schema as t
from tests.conftest import shared_sample

T0 = 1_788_224_400  # 2026-09-01 01:00 UTC


@pytest.fixture(autouse=True, params=["whole", "streamed"])
def parse_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both paths: files parsed whole, and files streamed (the large ones)."""
    if request.param == "streamed":
        monkeypatch.setattr(telegram, "WHOLE_FILE_LIMIT", -1)
    return str(request.param)


def msg(i: int, **fields: Any) -> dict[str, Any]:
    base = {"id": i, "type": "message", "date_unixtime": str(T0 + 60 * i)}
    base["date"] = datetime.fromtimestamp(T0 + 60 * i).isoformat()  # exporter's local time: unused
    base.update(fields)
    return base


def service(i: int, action: str, actor: str, actor_id: str, **fields: Any) -> dict[str, Any]:
    return msg(
        i,
        type="service",
        actor=actor,
        actor_id=actor_id,
        action=action,
        text="",
        text_entities=[],
        **fields,
    )


def group_export() -> dict[str, Any]:
    """A small group covering every action and text shape."""
    messages = [
        service(1, "create_group", "Alice", "user1", title="Runners", members=["Bob", "Carol"]),
        msg(2, **{"from": "Alice", "from_id": "user1", "text": "欢迎大家！请自我介绍"}),
        service(3, "join_group_by_link", "Dan", "user4", inviter="Alice"),
        msg(
            4,
            **{
                "from": "Dan",
                "from_id": "user4",
                "reply_to_message_id": 2,
                "text": ["Hi ", {"type": "mention", "text": "@alice"}, ", I'm Dan"],
            },
        ),
        msg(
            5,
            **{
                "from": "Bob",
                "from_id": "user2",
                "photo": "photos/p.jpg",
                "width": 1,
                "height": 1,
                "text": "our booth",
            },
        ),
        msg(
            6,
            **{
                "from": "Carol",
                "from_id": "user3",
                "file": "(File not included.)",
                "media_type": "sticker",
                "sticker_emoji": "😂",
                "text": "",
            },
        ),
        msg(
            7,
            **{
                "from": "Carol",
                "from_id": "user3",
                "media_type": "voice_message",
                "file": "v.ogg",
                "text": "",
            },
        ),
        msg(
            8,
            **{
                "from": "Carol",
                "from_id": "user3",
                "media_type": "video_message",
                "file": "c.mp4",
                "text": "",
            },
        ),
        msg(
            9,
            **{
                "from": "Bob",
                "from_id": "user2",
                "media_type": "video_file",
                "file": "v.mp4",
                "text": "",
            },
        ),
        msg(
            10,
            **{
                "from": "Bob",
                "from_id": "user2",
                "media_type": "animation",
                "file": "a.mp4",
                "text": "",
            },
        ),
        msg(
            11,
            **{
                "from": "Bob",
                "from_id": "user2",
                "media_type": "audio_file",
                "file": "s.mp3",
                "text": "",
            },
        ),
        msg(12, **{"from": "Bob", "from_id": "user2", "file": "rules.pdf", "text": "规则"}),
        msg(
            13,
            **{
                "from": "Dan",
                "from_id": "user4",
                "poll": {"question": "周六跑步？", "answers": []},
                "text": "",
            },
        ),
        msg(
            14,
            **{
                "from": "Dan",
                "from_id": "user4",
                "contact_information": {"first_name": "E"},
                "text": "",
            },
        ),
        msg(
            15,
            **{
                "from": "Dan",
                "from_id": "user4",
                "location_information": {"latitude": 1, "longitude": 2},
                "text": "",
            },
        ),
        msg(
            16,
            **{
                "from": "Alice",
                "from_id": "user1",
                "text": [
                    {"type": "bold", "text": "Notes"},
                    " ",
                    {"type": "link", "text": "https://example.org/v2"},
                    " and ",
                    {"type": "text_link", "text": "here", "href": "https://example.org/x"},
                ],
                "text_entities": [
                    {"type": "bold", "text": "Notes"},
                    {"type": "plain", "text": " "},
                    {"type": "link", "text": "https://example.org/v2"},
                    {"type": "plain", "text": " and "},
                    {"type": "text_link", "text": "here", "href": "https://example.org/x"},
                ],
            },
        ),
        msg(
            17,
            **{
                "from": "Alice",
                "from_id": "user1",
                "text": [{"type": "mention_name", "text": "Dan", "user_id": 4}, " 你好"],
            },
        ),
        service(18, "invite_members", "Alice", "user1", members=["Erin"]),
        msg(19, **{"from": "Erin", "from_id": "user5", "text": "谢谢邀请"}),
        service(20, "join_group_by_request", "Frank", "user6"),
        service(21, "pin_message", "Alice", "user1", message_id=2),
        service(22, "remove_members", "Carol", "user3", members=["Carol"]),
        service(23, "remove_members", "Alice", "user1", members=["Frank"]),
        msg(
            24, **{"from": "Erin", "from_id": "user5", "forwarded_from": "News", "text": "转发一条"}
        ),
        {"id": 25, "type": "unsupported", "date_unixtime": str(T0 + 1500)},
        service(26, "invite_members", "Bob", "user2", members=["Bob"]),
    ]
    return {"name": "Runners", "type": "private_supergroup", "id": 42, "messages": messages}


def write(tmp_path: Path, data: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(data))
    return path


def records(path: Path, ctx: ReadContext | None = None) -> list[Any]:
    return list(sources.read(path, "telegram", ctx or ReadContext()))


def test_text_shapes_and_media_kinds(tmp_path: Path) -> None:
    out = {
        m.platform_id: m for m in records(write(tmp_path, group_export())) if isinstance(m, Message)
    }
    assert out["2"].text == "欢迎大家！请自我介绍" and out["2"].kind is MessageKind.TEXT
    assert out["4"].text == "Hi @alice, I'm Dan"
    assert out["4"].mentions == ("@alice",) and out["4"].reply_to == "2"
    assert out["4"].sent_at == datetime.fromtimestamp(T0 + 240, UTC)
    kinds = {k: out[k].kind for k in ("5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15")}
    assert kinds == {
        "5": MessageKind.IMAGE,
        "6": MessageKind.STICKER,
        "7": MessageKind.VOICE,
        "8": MessageKind.VIDEO,
        "9": MessageKind.VIDEO,
        "10": MessageKind.VIDEO,
        "11": MessageKind.FILE,
        "12": MessageKind.FILE,
        "13": MessageKind.CARD,
        "14": MessageKind.CARD,
        "15": MessageKind.CARD,
    }
    assert out["5"].text == "our booth"
    assert out["16"].text == "Notes https://example.org/v2 and here"
    assert out["16"].urls == ("https://example.org/v2", "https://example.org/x")
    assert out["16"].kind is MessageKind.LINK
    assert out["17"].mentions == ("user4",)  # a true edge: mention_name carries the user id
    assert out["24"].text == "转发一条"
    assert out["24"].carried == ("forward",)  # a forward: a newcomer's is locked in a replay
    assert out["2"].carried == ()
    assert all(m.sender.user_id for m in out.values())
    assert "25" not in out and "21" not in out  # unsupported and pin are not messages


def test_service_actions_become_membership_events(tmp_path: Path) -> None:
    ctx = ReadContext()
    evs = [
        e for e in records(write(tmp_path, group_export()), ctx) if isinstance(e, MembershipEvent)
    ]
    got = [
        (e.member.user_id or e.member.name, e.action, e.method, e.actor and e.actor.name)
        for e in evs
    ]
    assert got == [
        ("user1", MembershipAction.JOIN, JoinMethod.CREATED, None),
        ("Bob", MembershipAction.JOIN, JoinMethod.FOUNDER, "Alice"),
        ("Carol", MembershipAction.JOIN, JoinMethod.FOUNDER, "Alice"),
        ("user4", MembershipAction.JOIN, JoinMethod.LINK, "Alice"),
        ("Erin", MembershipAction.JOIN, JoinMethod.INVITE, "Alice"),
        ("user6", MembershipAction.JOIN, JoinMethod.APPROVE, None),
        ("user3", MembershipAction.LEAVE, None, None),  # removed themselves: a leave
        ("Frank", MembershipAction.KICK, None, "Alice"),  # removed by someone else: a kick
        ("user2", MembershipAction.JOIN, JoinMethod.UNKNOWN, None),  # came back on their own
    ]
    whys = " ".join(s.why for s in ctx.skipped)
    assert "pin_message" in whys and "unsupported" in whys


def test_import_counts_and_derived_memberships(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, group_export())
    result = import_file(sqlite_engine, path)
    s = result.summary
    assert (s.format, s.groups, s.messages_added, s.membership_events_added) == (
        "telegram",
        1,
        17,
        9,
    )
    assert s.members == 6  # Alice, Bob, Carol, Dan, Erin, Frank: names resolved to ids
    with sqlite_engine.connect() as conn:
        provisional = conn.execute(
            select(func.count()).where(t.members.c.provisional.is_(True))
        ).scalar_one()
        assert provisional == 0
        ms = {
            r.external_id: r
            for r in conn.execute(
                select(t.members.c.external_id, t.memberships).join(
                    t.memberships, t.memberships.c.member_id == t.members.c.id
                )
            )
        }
    assert ms["user1"].role == "owner"
    assert ms["user3"].left_at is not None and ms["user6"].left_at is not None
    assert ms["user4"].join_method == "link" and ms["user5"].join_method == "invite"
    assert ms["user5"].inviter_id == ms["user1"].member_id
    assert ms["user2"].message_count == 5 and ms["user2"].left_at is None


def test_reimport_adds_nothing(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, group_export())
    import_file(sqlite_engine, path)
    again = import_file(sqlite_engine, path).summary
    assert (again.messages_added, again.membership_events_added) == (0, 0)
    assert again.messages_skipped == 17 and again.members == 6


def test_date_without_unixtime_uses_tz(tmp_path: Path) -> None:
    data = group_export()
    data["messages"] = [
        {
            "id": 1,
            "type": "message",
            "date": "2024-03-01T09:00:00",
            "from": "A",
            "from_id": "user1",
            "text": "hi",
        }
    ]
    ctx = ReadContext(tz=sources.zone("Asia/Shanghai"))
    [_, m] = records(write(tmp_path, data), ctx)
    assert m.sent_at == datetime(2024, 3, 1, 1, 0, tzinfo=UTC) and ctx.tz_assumed


def test_full_account_export_skips_personal_chats(sqlite_engine: Engine, tmp_path: Path) -> None:
    group = group_export()
    dm = {
        "name": "Mom",
        "type": "personal_chat",
        "id": 7,
        "messages": [msg(1, **{"from": "Mom", "from_id": "user9", "text": "吃饭了吗"})],
    }
    left = {
        "name": "Old group",
        "type": "private_group",
        "id": 8,
        "messages": [msg(1, **{"from": "Z", "from_id": "user10", "text": "bye"})],
    }
    data = {
        "about": "",
        "personal_information": {},
        "chats": {"about": "", "list": [dm, group]},
        "left_chats": {"about": "", "list": [left]},
    }
    result = import_file(sqlite_engine, write(tmp_path, data))
    assert result.summary.groups == 2 and result.summary.messages_added == 18
    assert any("personal_chat" in s.why for s in result.skipped)


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        (lambda d: d["messages"].__setitem__(3, "oops"), "message 3"),
        (lambda d: [d["messages"][4].pop(k) for k in ("date_unixtime", "date")], "message 4"),
        (lambda d: d.__setitem__("messages", {"a": 1}), "'messages'"),
        (lambda d: d.__setitem__("type", "personal_chat"), "personal_chat"),
    ],
)
def test_bad_structure_names_the_place(tmp_path: Path, mutate: Any, expect: str) -> None:
    data = group_export()
    mutate(data)
    with pytest.raises(SourceError) as err:
        records(write(tmp_path, data))
    assert expect in str(err.value) and "\n" not in str(err.value)


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (t.messages, t.membership_events, t.members, t.groups, t.memberships)
        )


def test_truncated_file_leaves_store_unchanged(
    engine: Engine, tmp_path: Path, parse_mode: str
) -> None:
    good = write(tmp_path, group_export(), "good.json")
    import_file(engine, good)
    before = _counts(engine)
    bigger = group_export()
    bigger["id"] = 43
    raw = orjson.dumps(bigger, option=orjson.OPT_INDENT_2)
    cut = tmp_path / "cut.json"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(SourceError) as err:
        import_file(engine, cut)
    kept = raw[: len(raw) * 2 // 3]
    lines, closed = kept.count(b"\n"), kept.count(b"\n    }")  # messages closed before the cut
    place = f"line {lines + 1} column" if parse_mode == "whole" else f"chat message {closed}:"
    assert f"cut.json: {place}" in str(err.value)
    assert _counts(engine) == before


def test_error_midway_through_a_valid_file_rolls_back(engine: Engine, tmp_path: Path) -> None:
    data = group_export()
    data["messages"].append(msg(99, **{"from": "A", "from_id": "user1", "text": ["x", 5]}))
    with pytest.raises(SourceError) as err:
        import_file(engine, write(tmp_path, data))
    assert "message 26" in str(err.value)
    assert _counts(engine) == (0, 0, 0, 0, 0)


def test_detects_telegram_and_refuses_other_content(tmp_path: Path) -> None:
    assert sources.detect(write(tmp_path, group_export())) == "telegram"
    other = tmp_path / "chat.csv"
    other.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"chat\.csv"):
        sources.detect(other)


def test_demo_round_trip(engine: Engine, tmp_path: Path) -> None:
    community = DemoCommunity(messages=1500, groups=2, seed=3)
    [path] = write_export("telegram", community, tmp_path / "demo")
    stats = community.stats
    s = import_file(engine, path).summary
    assert s.groups == stats.groups == 2
    assert s.messages_added == stats.messages
    assert s.membership_events_added == stats.joins + stats.leaves + stats.kicks
    assert s.members == len(stats.members)
    generated: dict[str, Message] = {}
    group = None
    for record in community:
        if isinstance(record, Group):
            group = record.name
        elif isinstance(record, Message) and group == "跑步俱乐部·城东分队":
            generated[record.platform_id] = record
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
            )
            .join(t.members, t.members.c.id == t.messages.c.sender_id)
            .join(t.groups, t.groups.c.id == t.messages.c.group_id)
            .where(t.groups.c.name == "跑步俱乐部·城东分队")
        ).all()
    assert len(rows) > 100
    for row in rows:
        want = generated[row.platform_id]
        assert row.text.endswith(want.text)  # the writer puts mention entities in front
        assert row.kind == want.kind.value
        assert row.reply_to == want.reply_to
        assert row.sent_at == int(want.sent_at.timestamp()) * 1000
        assert row.external_id == want.sender.user_id
        assert (row.mentions or "") == "\n".join(want.mentions)


def test_reference_sample_group(sqlite_engine: Engine) -> None:
    path = shared_sample("reference_synthetic/telegram_desktop_single_group_result.json")
    data = orjson.loads(path.read_bytes())
    rows = data["messages"]
    member_msgs = sum(1 for m in rows if m["type"] == "message")
    s = import_file(sqlite_engine, path).summary
    assert s.messages_added == member_msgs
    membership = {
        "create_group",
        "invite_members",
        "remove_members",
        "join_group_by_link",
        "join_group_by_request",
    }
    expected_events = sum(
        max(1, len(m.get("members", [])) + (m.get("action") == "create_group"))
        for m in rows
        if m.get("action") in membership
    )
    assert s.membership_events_added == expected_events


def test_chat_miner_minimal_exports(sqlite_engine: Engine) -> None:
    single = shared_sample("chat-miner_MIT/telegram__test_single_export.json")
    batch = shared_sample("chat-miner_MIT/telegram__test_batch_export.json")
    assert import_file(sqlite_engine, single).summary.messages_added == 2
    assert import_file(sqlite_engine, batch).summary.messages_added == 2


def test_direct_message_export_is_refused(sqlite_engine: Engine) -> None:
    dm = shared_sample("chat-analytics_AGPL-3.0/telegram__DM_2A_7M.json")
    with pytest.raises(SourceError, match="personal_chat"):
        import_file(sqlite_engine, dm)


def test_single_chat_streams_and_keeps_creation_time(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, write(tmp_path, group_export()))
    with engine.connect() as conn:
        created = conn.execute(select(t.groups.c.created_at)).scalar_one()
    assert created == T0 * 1000 + 60_000  # the create_group line, message 1


def test_truncated_account_export_names_the_place(
    engine: Engine, tmp_path: Path, parse_mode: str
) -> None:
    other = group_export()
    other["id"] = 43
    data = {"about": "", "chats": {"about": "", "list": [group_export(), other]}}
    raw = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    cut = tmp_path / "cut.json"
    cut.write_bytes(raw[: len(raw) * 3 // 4])  # inside the second chat
    with pytest.raises(SourceError) as err:
        import_file(engine, cut)
    place = "line" if parse_mode == "whole" else "chats.list[1]: "
    assert f"cut.json: {place}" in str(err.value) and "\n" not in str(err.value)
    assert _counts(engine) == (0, 0, 0, 0, 0)


def test_header_after_messages_still_imports(
    sqlite_engine: Engine, tmp_path: Path, parse_mode: str
) -> None:
    """Key order is tdesktop's habit, not a rule: a chat whose name follows its messages still
    imports; streamed, it has only a stand-in name, as the name comes after the stream."""
    data = group_export()
    reordered = {"messages": data["messages"], "name": data["name"], "id": data["id"]}
    summary = import_file(sqlite_engine, write(tmp_path, reordered)).summary
    assert summary.groups == 1 and summary.messages_added == 17
    assert summary.group_names == ["Runners" if parse_mode == "whole" else "Telegram group"]


def test_group_ids_are_the_bot_apis_so_history_and_live_events_meet(tmp_path: Path) -> None:
    def group_id(kind: str) -> str:
        data = {**group_export(), "type": kind}
        ids = {r.platform_id for r in records(write(tmp_path, data)) if isinstance(r, Group)}
        (only,) = ids  # the group comes again after membership events: the same group
        return only

    assert group_id("private_supergroup") == "-10042"
    assert group_id("public_supergroup") == "-10042"
    assert group_id("private_group") == "-42"
