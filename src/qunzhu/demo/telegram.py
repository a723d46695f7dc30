"""Write records as a Telegram Desktop export, the way tdesktop's JSON writer lays it out.

One group gives a single-chat `result.json`; several give a full-account export with
`chats.list[]`. Written as a stream, so a million-message export never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson

from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Record,
)

EXPORTER_TZ = ZoneInfo("Asia/Shanghai")  # `date` is the exporting PC's local time
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
_MEDIA = {
    MessageKind.STICKER: {
        "media_type": "sticker",
        "sticker_emoji": "😂",
        "width": 512,
        "height": 512,
    },
    MessageKind.VOICE: {
        "media_type": "voice_message",
        "mime_type": "audio/ogg",
        "duration_seconds": 7,
    },
    MessageKind.VIDEO: {
        "media_type": "video_file",
        "mime_type": "video/mp4",
        "duration_seconds": 31,
    },
}


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "result.json"
    with path.open("wb") as fh:
        _Writer(fh, full_account=groups > 1).run(records)
    return [path]


def _dates(at: datetime) -> dict[str, str]:
    local = at.astimezone(EXPORTER_TZ).replace(tzinfo=None)
    return {"date": local.isoformat(timespec="seconds"), "date_unixtime": str(int(at.timestamp()))}


class _Writer:
    def __init__(self, fh: IO[bytes], full_account: bool) -> None:
        self.fh = fh
        self.full = full_account
        self.chats = 0
        self.first_message = True
        self.pending: dict[str, Any] | None = None  # a create_group still collecting founders
        self.names: dict[str, str] = {}  # user id -> latest name, for mention entities
        self.title = ""

    def run(self, records: Iterable[Record]) -> None:
        if self.full:
            self.fh.write(b'{"about":"qunzhu demo export","chats":{"about":"","list":[')
        for record in records:
            if isinstance(record, Group):
                self._close_chat()
                self._open_chat(record)
            elif isinstance(record, MembershipEvent):
                self._event(record)
            elif isinstance(record, Message):
                self._flush_pending()
                self._emit(self._message(record))
        self._close_chat()
        if self.full:
            self.fh.write(b"]}}")

    def _open_chat(self, group: Group) -> None:
        if self.full and self.chats:
            self.fh.write(b",")
        self.chats += 1
        self.title = group.name
        head = {"name": group.name, "type": "private_supergroup", "id": int(group.platform_id)}
        self.fh.write(orjson.dumps(head)[:-1] + b',"messages":[')
        self.first_message = True

    def _close_chat(self) -> None:
        if self.chats:
            self._flush_pending()
            self.fh.write(b"\n]}")

    def _emit(self, obj: dict[str, Any]) -> None:
        self.fh.write(b"\n" if self.first_message else b",\n")
        self.fh.write(orjson.dumps(obj))
        self.first_message = False

    def _flush_pending(self) -> None:
        if self.pending is not None:
            self._emit(self.pending)
            self.pending = None

    def _event(self, ev: MembershipEvent) -> None:
        member = ev.member
        if ev.method is JoinMethod.FOUNDER and self.pending is not None:
            self.pending["members"].append(member.name)
            return
        self._flush_pending()
        msg_id = int(ev.platform_id.split(":")[0])
        base: dict[str, Any] = {"id": msg_id, "type": "service", **_dates(ev.at)}
        actor = ev.actor or member
        base["actor"] = actor.name
        base["actor_id"] = actor.user_id
        if ev.action is MembershipAction.JOIN:
            if ev.method is JoinMethod.CREATED:
                base.update(action="create_group", title=self.title, members=[])
                self.pending = base
                base["text"], base["text_entities"] = "", []
                return
            if ev.method is JoinMethod.LINK:
                base.update(actor=member.name, actor_id=member.user_id, action="join_group_by_link")
                base["inviter"] = ev.actor.name if ev.actor else None
            elif ev.method is JoinMethod.APPROVE:
                base.update(actor=member.name, actor_id=member.user_id)
                base["action"] = "join_group_by_request"
            else:
                base.update(action="invite_members", members=[member.name])
        else:  # leave (actor is the member) or kick
            base.update(action="remove_members", members=[member.name])
        base["text"], base["text_entities"] = "", []
        self._emit(base)

    def _message(self, m: Message) -> dict[str, Any]:
        sender = m.sender
        if sender.user_id and sender.name:
            self.names[sender.user_id] = sender.name
        obj: dict[str, Any] = {
            "id": int(m.platform_id),
            "type": "message",
            **_dates(m.sent_at),
            "from": sender.name,
            "from_id": sender.user_id,
        }
        if m.reply_to is not None:
            obj["reply_to_message_id"] = int(m.reply_to)
        if m.kind is MessageKind.IMAGE:
            obj.update(photo=NOT_INCLUDED, width=1280, height=960)
        elif m.kind in _MEDIA:
            obj.update(file=NOT_INCLUDED, **_MEDIA[m.kind])
        elif m.kind is MessageKind.FILE:
            obj.update(
                file=NOT_INCLUDED, file_name="活动报名表.xlsx", mime_type="application/octet-stream"
            )
        entities = self._entities(m)
        obj["text"] = _text_field(entities)
        obj["text_entities"] = entities
        return obj

    def _entities(self, m: Message) -> list[dict[str, Any]]:
        entities: list[dict[str, Any]] = []
        for user_id in m.mentions:
            name = self.names.get(user_id, user_id)
            entities.append({"type": "mention_name", "text": name, "user_id": int(user_id[4:])})
            entities.append({"type": "plain", "text": " "})
        text = m.text
        for url in m.urls:
            before, found, text = text.partition(url)
            if before:
                entities.append({"type": "plain", "text": before})
            if found:
                entities.append({"type": "link", "text": url})
        if text:
            entities.append({"type": "plain", "text": text})
        return entities


def _text_field(entities: list[dict[str, Any]]) -> str | list[Any]:
    """tdesktop writes a plain string when the text is one plain run, else a mixed list."""
    if not entities:
        return ""
    if len(entities) == 1 and entities[0]["type"] == "plain":
        return entities[0]["text"]
    return [e["text"] if e["type"] == "plain" else e for e in entities]
