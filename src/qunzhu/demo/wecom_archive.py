"""Write records as a decrypted WeCom 会话内容存档 (message archive): one JSONL for the corp.

The archive is one stream in `seq` order, every group interleaved by time, so each group is first
written to a scratch file and the files are then merged by `msgtime` (streaming, as `heapq.merge`
reads lazily). What the archive cannot hold is left out, as it is in a real one: names, membership
changes, reply links. Members are written as external contacts (`wm…` ids), groups as `wr…` room
ids; `tolist` is the group's other members, cut at `TOLIST_MAX` to keep demo files small (a real
archive lists them all).
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import orjson

from qunzhu.model import (
    Group,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Record,
)

TOLIST_MAX = 100
FILE_NAME = "msgaudit_decrypted.jsonl"
_MEDIA: dict[MessageKind, tuple[str, dict[str, Any]]] = {
    MessageKind.IMAGE: ("image", {"md5sum": "0" * 32, "filesize": 48213}),
    MessageKind.VOICE: ("voice", {"voice_size": 6210, "play_length": 7, "md5sum": "1" * 32}),
    MessageKind.VIDEO: ("video", {"filesize": 2_301_822, "play_length": 31, "md5sum": "2" * 32}),
    MessageKind.STICKER: (
        "emotion",
        {"type": 1, "width": 240, "height": 240, "imagesize": 30123, "md5sum": "3" * 32},
    ),
}


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE_NAME
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        parts = _Splitter(Path(scratch)).run(records)
        with ExitStack() as stack, path.open("wb") as out:
            files = [stack.enter_context(part.open("rb")) for part in parts]
            for line in heapq.merge(*files, key=_msgtime):
                out.write(line[14:])  # drop the sort key
    return [path]


def external_id(user_id: str) -> str:
    """The demo member's external_userid, as the archive's `from` shows it."""
    return f"wm{user_id}"


def room_id(group: Group) -> str:
    return f"wr{group.platform_id}"


def message_id(room: str, platform_id: str) -> str:
    return f"{room}_{platform_id}_external"


def _msgtime(line: bytes) -> bytes:
    return line[:13]


class _Splitter:
    """Writes each group's messages, in its own time order, to a scratch file of its own."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.parts: list[Path] = []
        self.fh: IO[bytes] | None = None
        self.room = ""
        self.roster: dict[str, None] = {}  # current members, in join order
        self.names: dict[str, str] = {}  # user id -> latest name, for @mentions

    def run(self, records: Iterable[Record]) -> list[Path]:
        for record in records:
            if isinstance(record, Message):
                self._message(record)
            elif isinstance(record, MembershipEvent):
                self._event(record)
            elif isinstance(record, Group):
                self._open(record)
        if self.fh is not None:
            self.fh.close()
        return self.parts

    def _open(self, group: Group) -> None:
        if self.fh is not None:
            self.fh.close()
        part = self.scratch / f"{len(self.parts):04d}.jsonl"
        self.parts.append(part)
        self.fh = part.open("wb")
        self.room = room_id(group)
        self.roster = {}

    def _event(self, ev: MembershipEvent) -> None:
        member = ev.member.user_id
        if member is None:
            return
        if ev.member.name:
            self.names[member] = ev.member.name
        if ev.action is MembershipAction.JOIN:
            self.roster[external_id(member)] = None
        elif ev.action in (MembershipAction.LEAVE, MembershipAction.KICK):
            self.roster.pop(external_id(member), None)

    def _message(self, m: Message) -> None:
        assert self.fh is not None, "records arrived before their group"
        user_id = m.sender.user_id or m.sender.name or "unknown"
        if m.sender.name:
            self.names[user_id] = m.sender.name
        sender = external_id(user_id)
        ms = round(m.sent_at.timestamp() * 1000)
        obj: dict[str, Any] = {
            "msgid": message_id(self.room, m.platform_id),
            "action": "send",
            "from": sender,
            "tolist": list(_others(self.roster, sender)),
            "roomid": self.room,
            "msgtime": ms,
        }
        mentions = "".join(f"@{self.names.get(uid, uid)} " for uid in m.mentions)
        obj.update(self._payload(m, mentions + m.text))
        self.fh.write(b"%013d " % ms + orjson.dumps(obj) + b"\n")

    def _payload(self, m: Message, text: str) -> dict[str, Any]:
        kind = m.kind
        if kind is MessageKind.RECALL:
            pre = message_id(self.room, m.reply_to) if m.reply_to else ""
            return {"action": "recall", "msgtype": "revoke", "revoke": {"pre_msgid": pre}}
        if kind is MessageKind.IMAGE and text:  # a captioned image is 图文混排
            image = {"sdkfileid": _file_id(m), **_MEDIA[kind][1]}
            items = [
                {"type": "text", "content": orjson.dumps({"content": text}).decode()},
                {"type": "image", "content": orjson.dumps(image).decode()},
            ]
            return {"msgtype": "mixed", "mixed": {"item": items}}
        if kind in _MEDIA:  # voice, video, stickers carry no text in the archive
            msgtype, fields = _MEDIA[kind]
            return {"msgtype": msgtype, msgtype: {"sdkfileid": _file_id(m), **fields}}
        if kind is MessageKind.FILE:
            payload = {
                "filename": "活动报名表.xlsx",
                "fileext": "xlsx",
                "sdkfileid": _file_id(m),
                "filesize": 18211,
                "md5sum": "4" * 32,
            }
            return {"msgtype": "file", "file": payload}
        if kind is MessageKind.RED_PACKET:
            payload = {
                "type": 2,
                "wish": text or "恭喜发财，大吉大利",
                "totalcnt": 5,
                "totalamount": 1000,
            }
            return {"msgtype": "redpacket", "redpacket": payload}
        return {"msgtype": "text", "text": {"content": text}}  # text, and links pasted as text


def _others(roster: dict[str, None], sender: str) -> Iterator[str]:
    count = 0
    for member in roster:
        if member != sender:
            yield member
            count += 1
            if count >= TOLIST_MAX:
                return


def _file_id(m: Message) -> str:
    return f"SDKFILEID_{m.platform_id}"
