"""Write records as legacy PC QQ 消息管理器 TXT exports: one `<群名>.txt` per group.

Laid out as QQ 9.x on Windows writes it: UTF-8 with BOM, CRLF line ends, the title line and the
`消息分组`/`消息对象` block, then `YYYY-MM-DD H:MM:SS nick(QQ号)` headers in the PC's local time
(Asia/Shanghai), the body, and a blank line. The owner's nick carries the `【群主】` title. Media
are placeholders (`[图片]`, `[表情]` …) in front of any caption; mentions are `@nick ` text.
Membership changes are `系统消息(10000)` notices; QQ shows no line for the group's creation, so
the owner's CREATED join is not written, and founders appear as invited by the owner. QQ shows
no message ids and no reply links, so neither is written. Demo user ids become QQ numbers.
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
    Person,
    Record,
    content_key,
)
from qunzhu.sources.qq_txt import TITLE_LINE

PC_TZ = ZoneInfo("Asia/Shanghai")
RULE = "=" * 64
SYSTEM = "系统消息(10000)"
_UNSAFE = re.compile(r'[\\/:*?"<>|]')
_PLACEHOLDER = {
    MessageKind.IMAGE: "[图片]",
    MessageKind.STICKER: "[表情]",
    MessageKind.VOICE: "[语音]",
    MessageKind.VIDEO: "[视频]",
    MessageKind.FILE: "[文件]",
    MessageKind.RED_PACKET: "[QQ红包]",
    MessageKind.TRANSFER: "[转账]",
    MessageKind.CARD: "[卡片消息]",
}


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out_dir)
    writer.run(records)
    return writer.paths


def qq_number(user_id: str) -> str:
    """A QQ number for a demo user id (`user10001` -> `800010001`)."""
    digits = "".join(c for c in user_id if c.isdigit())
    if not digits:
        digits = str(int(content_key(user_id)[2:12], 16) % 10**8)
    return str(800_000_000 + int(digits) % 10**8)


def stamp(at: datetime) -> str:
    """`2026-09-01 9:05:07`: the PC's local time, 24-hour, the hour without a leading zero."""
    local = at.astimezone(PC_TZ)
    return f"{local:%Y-%m-%d} {local.hour}:{local:%M:%S}"


class _Writer:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.paths: list[Path] = []
        self.fh: IO[str] | None = None
        self.owner: str | None = None
        self.names: dict[str, str] = {}  # user id -> latest nick, for @mentions

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
        path = self.out_dir / (_UNSAFE.sub("_", group.name) + ".txt")
        self.paths.append(path)
        self.fh = path.open("w", encoding="utf-8-sig", newline="\r\n")
        self.owner = None
        self.fh.write(
            f"{TITLE_LINE}\n\n{RULE}\n消息分组:我的QQ群\n{RULE}\n消息对象:{group.name}\n{RULE}\n\n"
        )

    def _entry(self, at: datetime, who: str, body: str) -> None:
        assert self.fh is not None, "records arrived before their group"
        self.fh.write(f"{stamp(at)} {who}\n{body}\n\n")

    def _who(self, person: Person) -> str:
        name = person.name or ""
        if person.user_id is None:
            return name
        if name:
            self.names[person.user_id] = name
        return f"{name}({qq_number(person.user_id)})"

    def _event(self, ev: MembershipEvent) -> None:
        member = self._who(ev.member)
        actor = self._who(ev.actor) if ev.actor else None
        if ev.action is MembershipAction.JOIN:
            if ev.method is JoinMethod.CREATED:
                self.owner = ev.member.user_id  # QQ shows no line for the creation
                return
            if ev.method in (JoinMethod.INVITE, JoinMethod.FOUNDER) and actor:
                text = f"{actor}邀请{member}加入了本群。"
            else:
                text = f"{member}加入本群。"
        elif ev.action is MembershipAction.LEAVE:
            text = f"{member}退出了群聊。"
        elif ev.action is MembershipAction.KICK:
            text = f"{member}被{actor}移出本群。" if actor else f"{member}被管理员移出本群。"
        else:
            return
        self._entry(ev.at, SYSTEM, text)

    def _message(self, m: Message) -> None:
        who = self._who(m.sender)
        if m.sender.user_id is not None and m.sender.user_id == self.owner:
            who = "【群主】" + who
        if m.kind is MessageKind.RECALL:
            self._entry(m.sent_at, who, f"{m.sender.name}撤回了一条消息")
            return
        mentions = "".join(f"@{self.names.get(uid, uid)} " for uid in m.mentions)
        body = _PLACEHOLDER.get(m.kind, "") + mentions + m.text
        self._entry(m.sent_at, who, body)
