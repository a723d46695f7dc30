"""An event survives the inbox: what goes in as JSON comes back equal, pictures aside."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from qunzhu.engine.events import decode, encode, key
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.model.live import Edit, JoinRequest, LiveEvent, Notice, PictureText, Reaction

AT = datetime(2026, 11, 20, 4, 30, tzinfo=UTC)
GROUP = Group(Platform.QQ, "123456", "读书会")
RECORDS = [
    Message(
        "9", Person("42", "张三"), AT, MessageKind.IMAGE, "看图", "8", ("43",), ("http://a.cn",)
    ),
    MembershipEvent(
        "j1", Person("44", None), MembershipAction.JOIN, AT, JoinMethod.INVITE, Person("42", "张三")
    ),
    MembershipEvent(
        "r1", Person("44", "李四"), MembershipAction.RENAME, AT, new_name="北京-IT-李四"
    ),
    JoinRequest("flag-1", Person("45", "王五"), AT, "朋友介绍"),
    Notice("9", Person("44", "李四"), AT, MembershipAction.JOIN),  # same id as the message
    PictureText("9", Person("42", "张三"), AT, "加微信 abc12345", "看图", "review"),  # ... too
    Edit(  # the same message edited: its own key, once per edit
        "9",
        Person("42", "张三"),
        AT.replace(hour=5),
        Message("9", Person("42", "张三"), AT, MessageKind.TEXT, "加微信 abc12345", urls=()),
    ),
    Reaction("9:46", Person("46", "小美"), AT),
]


@pytest.mark.parametrize("record", RECORDS)
def test_round_trip(record) -> None:  # type: ignore[no-untyped-def]
    forwarded = (RECORDS[0],) if isinstance(record, Message) else ()
    event = LiveEvent("qq", GROUP, record, "admin", frozenset({"forward"}), (b"png",), forwarded)
    event.bio = "兼职日结 加V abc12345"  # what their profile says: judged after a crash too
    event.listed = "2 offense(s)"  # and what CAS said of them
    back = decode("qq", encode(event))
    assert back.images == ()  # pictures are never written to the inbox
    back.images = event.images
    assert back == event


def test_the_key_tells_records_apart() -> None:
    keys = {key(LiveEvent("qq", GROUP, r)) for r in RECORDS}
    assert len(keys) == len(RECORDS)


def test_a_forwards_origin_is_kept_and_a_row_written_before_it_was_still_reads() -> None:
    forward = dataclasses.replace(RECORDS[0], origin="fuli_vip")
    event = LiveEvent("tg", GROUP, forward, forwarded=(forward,))
    back = decode("tg", encode(event))
    assert isinstance(back.record, Message) and back.record.origin == "fuli_vip"
    assert back.forwarded[0].origin == "fuli_vip"
    written = encode(event).replace(',"origin":"fuli_vip"', "")
    assert '"origin"' not in written
    old = decode("tg", written).record
    assert isinstance(old, Message) and old.origin == ""


def test_an_inbox_row_written_before_bios_were_kept_still_reads() -> None:
    written = encode(LiveEvent("tg", GROUP, RECORDS[0])).replace(',"bio":""', "")
    assert '"bio"' not in written
    assert decode("tg", written).bio == ""
