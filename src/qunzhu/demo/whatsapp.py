"""Write records as WhatsApp Android "Export chat" files (English, 24-hour, with media).

One `WhatsApp Chat with <subject>.txt` per group, as the phone names it, in the phone's local
time (Asia/Shanghai) to the minute: `01/09/2026, 09:00 - Name: text`. The "Attach media"
variant is used, so each attachment line (`IMG-20260901-WA0003.jpg (file attached)`) keeps the
message's kind; a caption follows on the next line, as WhatsApp writes it. WhatsApp shows no
ids, no replies and no inviter for link joins, so those are not written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Record,
)

PHONE_TZ = ZoneInfo("Asia/Shanghai")
BANNER = (
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even "
    "WhatsApp, can read or listen to them. Tap to learn more."
)
_UNSAFE = re.compile(r'[\\/:*?"<>|]')
_MEDIA = {
    MessageKind.IMAGE: ("IMG", "jpg"),
    MessageKind.VIDEO: ("VID", "mp4"),
    MessageKind.VOICE: ("PTT", "opus"),
    MessageKind.STICKER: ("STK", "webp"),
}


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out_dir)
    writer.run(records)
    return writer.paths


def header(at: datetime) -> str:
    """`DD/MM/YYYY, HH:MM - ` in the phone's local time (English, 24-hour Android)."""
    return at.astimezone(PHONE_TZ).strftime("%d/%m/%Y, %H:%M - ")


class _Writer:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.paths: list[Path] = []
        self.fh: IO[str] | None = None
        self.title = ""
        self.names: dict[str, str] = {}  # user id -> latest name, for @mentions
        self.media_seq = 0

    def run(self, records: Iterable[Record]) -> None:
        for record in records:
            if isinstance(record, Message):
                self._message(record)
            elif isinstance(record, MembershipEvent):
                self._event(record)
            elif isinstance(record, Group):
                self._open(record)
        if self.fh is not None:
            self.fh.close()

    def _open(self, group: Group) -> None:
        if self.fh is not None:
            self.fh.close()
        path = self.out_dir / _UNSAFE.sub("_", f"WhatsApp Chat with {group.name}.txt")
        self.paths.append(path)
        self.fh = path.open("w", encoding="utf-8", newline="\n")
        self.title = group.name
        self.media_seq = 0
        start = group.created_at or datetime.now(PHONE_TZ)
        self._line(start, BANNER)

    def _line(self, at: datetime, text: str) -> None:
        assert self.fh is not None, "records arrived before their group"
        self.fh.write(header(at) + text + "\n")

    def _event(self, ev: MembershipEvent) -> None:
        name = ev.member.name or ev.member.user_id or "?"
        if ev.member.user_id:
            self.names[ev.member.user_id] = name
        actor = ev.actor.name if ev.actor and ev.actor.name else None
        if ev.action is MembershipAction.JOIN:
            if ev.method is JoinMethod.CREATED:
                self._line(ev.at, f'{name} created group "{self.title}"')
            elif ev.method in (JoinMethod.INVITE, JoinMethod.FOUNDER) and actor:
                self._line(ev.at, f"{actor} added {name}")
            else:  # link, approval (after asking through the link) or unknown
                self._line(ev.at, f"{name} joined using this group's invite link")
        elif ev.action is MembershipAction.LEAVE:
            self._line(ev.at, f"{name} left")
        elif ev.action is MembershipAction.KICK:
            self._line(ev.at, f"{actor or 'You'} removed {name}")

    def _message(self, m: Message) -> None:
        sender = m.sender.name or m.sender.user_id or "?"
        if m.sender.user_id:
            self.names[m.sender.user_id] = sender
        # Newer Android writes mentions as @ + the name between Unicode isolates.
        mentions = "".join(f"@\u2068{self.names.get(uid, uid)}\u2069 " for uid in m.mentions)
        text = mentions + m.text
        if m.kind is MessageKind.RECALL:
            body = "This message was deleted"
        elif m.kind in _MEDIA or m.kind is MessageKind.FILE:
            body = self._attachment(m) + (f"\n{text}" if text else "")
        else:
            body = text
        self._line(m.sent_at, f"{sender}: {body}")

    def _attachment(self, m: Message) -> str:
        if m.kind is MessageKind.FILE:
            return "活动报名表.xlsx (file attached)"
        self.media_seq += 1
        prefix, ext = _MEDIA[m.kind]
        day = m.sent_at.astimezone(PHONE_TZ).strftime("%Y%m%d")
        return f"{prefix}-{day}-WA{self.media_seq:04d}.{ext} (file attached)"
