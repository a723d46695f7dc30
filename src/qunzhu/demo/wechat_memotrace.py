"""Write records as WeChatMsg / MemoTrace exports: `<group>_utf8.csv` (and `<group>.txt`).

The export is the group owner's (the operator running qunzhu), so system lines say "你" for
the owner, as WeChat shows them to that account: `你邀请"A、B"加入了群聊`, `"B"通过扫描你分享的
二维码加入群聊`, `你将"X"移出了群聊`. WeChat announces no voluntary leaves and never the group's
creation, so those are not written; a join approved without an inviter is written as a QR scan
of the owner's code (the usual way into a WeChat group without a personal invitation).
The CSV has WeChat's epoch `CreateTime` and the PC's local `StrTime` (Asia/Shanghai); media
rows carry the XML WeChat stores; quote-replies are 49/57 rows with no text (MemoTrace drops
`CompressContent`). `WeChatWriter` is shared by the PyWxDump and WeChat 4.x writers.
"""

from __future__ import annotations

import csv
import hashlib
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
)

PC_TZ = ZoneInfo("Asia/Shanghai")
_UNSAFE = re.compile(r'[\\/:*?"<>|]')
_RECENT = 2000


def safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name)


def wxid(person: Person) -> str:
    uid = person.user_id or person.name or "unknown"
    return uid if uid.startswith("wxid_") else f"wxid_{uid}"


def chatroom(group: Group) -> str:
    pid = group.platform_id
    return pid if pid.endswith("@chatroom") else f"{pid}@chatroom"


def server_id(*parts: str) -> str:
    """A made-up but stable 63-bit server message id (WeChat's MsgSvrID)."""
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    return str(int.from_bytes(digest, "big") >> 1)


def local(at: datetime) -> str:
    return at.astimezone(PC_TZ).strftime("%Y-%m-%d %H:%M:%S")


class WeChatWriter:
    """Records as WeChat shows them to the group owner; subclasses lay out the rows.

    Hooks: `open(group)`, `close()`, `system(at, text)` and `message(m, target)`, where
    `target` is the quoted message `(name, body, at, id)` of a quote-reply, else None.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.paths: list[Path] = []
        self.group: Group | None = None
        self.owner: str | None = None  # user id of the exporting account
        self.names: dict[str, str] = {}  # user id -> latest name, for @mentions
        self.founders: list[str] = []
        self.founded_at: datetime | None = None
        self.recent: dict[str, tuple[str, str, datetime, str]] = {}

    def run(self, records: Iterable[Record]) -> list[Path]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for record in records:
            if isinstance(record, Message):
                self._flush_founders()
                self._message(record)
            elif isinstance(record, MembershipEvent):
                self._event(record)
            elif isinstance(record, Group):
                self._flush_founders()
                if self.group is not None:
                    self.close()
                self.group, self.owner, self.recent = record, None, {}
                self.open(record)
        self._flush_founders()
        if self.group is not None:
            self.close()
        return self.paths

    # -- hooks ----------------------------------------------------------------------------

    def open(self, group: Group) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def system(self, at: datetime, text: str) -> None:
        raise NotImplementedError

    def message(self, m: Message, target: tuple[str, str, datetime, str] | None) -> str:
        """Write `m`; return its body as a quote of it would show it."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------

    def is_owner(self, person: Person | None) -> bool:
        return person is not None and person.user_id is not None and person.user_id == self.owner

    def who(self, person: Person | None) -> str:
        """How a system line names someone: "你" for the owner, else the quoted name."""
        if self.is_owner(person):
            return "你"
        assert person is not None
        return f'"{person.name or person.user_id}"'

    def mention_prefix(self, m: Message) -> str:
        return "".join(f"@{self.names.get(uid, uid)}\u2005" for uid in m.mentions)

    def _flush_founders(self) -> None:
        if self.founders and self.founded_at is not None:
            self.system(self.founded_at, f'你邀请"{"、".join(self.founders)}"加入了群聊')
        self.founders, self.founded_at = [], None

    def _event(self, ev: MembershipEvent) -> None:
        member = ev.member
        if member.user_id and member.name:
            self.names[member.user_id] = member.name
        if ev.action is MembershipAction.JOIN:
            if ev.method is JoinMethod.CREATED:
                self.owner = member.user_id
                return
            if ev.method is JoinMethod.FOUNDER and self.is_owner(ev.actor):
                self.founders.append(member.name or member.user_id or "?")
                self.founded_at = ev.at
                return
            self._flush_founders()
            if ev.method in (JoinMethod.INVITE, JoinMethod.FOUNDER) and ev.actor is not None:
                self.system(ev.at, f"{self.who(ev.actor)}邀请{self.who(member)}加入了群聊")
            else:  # link, approval, unknown: a scan of the owner's QR code
                actor = ev.actor if ev.actor is not None else Person(self.owner)
                self.system(
                    ev.at, f"{self.who(member)}通过扫描{self.who(actor)}分享的二维码加入群聊"
                )
        elif ev.action is MembershipAction.KICK:
            self._flush_founders()
            actor = ev.actor if ev.actor is not None else Person(self.owner)
            self.system(ev.at, f"{self.who(actor)}将{self.who(member)}移出了群聊")
        # LEAVE and RENAME: WeChat tells the group nothing.

    def _message(self, m: Message) -> None:
        if m.sender.user_id and m.sender.name:
            self.names[m.sender.user_id] = m.sender.name
        if m.kind is MessageKind.RECALL:
            self.system(m.sent_at, f"{self.who(m.sender)} 撤回了一条消息")
            return
        target = None
        if m.reply_to is not None and m.kind is MessageKind.TEXT:
            target = self.recent.get(m.reply_to)
        body = self.message(m, target)
        recent = self.recent
        recent[m.platform_id] = (m.sender.name or "", body, m.sent_at, m.platform_id)
        if len(recent) > _RECENT:  # keep the newest half (cheaper than one at a time)
            self.recent = dict(list(recent.items())[-(_RECENT // 2) :])


# -- CSV -------------------------------------------------------------------------------------

HEADER = [
    "localId",
    "TalkerId",
    "Type",
    "SubType",
    "IsSender",
    "CreateTime",
    "Status",
    "StrContent",
    "StrTime",
    "Remark",
    "NickName",
    "Sender",
]
_IMAGE = '<?xml version="1.0"?><msg><img aeskey="{h}" length="182934" md5="{h}"/></msg>'
_VOICE = '<msg><voicemsg voicelength="4200" length="6000" clientmsgid="{h}"/></msg>'
_VIDEO = '<?xml version="1.0"?><msg><videomsg length="1048576" playlength="12" md5="{h}"/></msg>'
_EMOJI = '<msg><emoji fromusername="{sender}" tousername="{room}" type="2" md5="{h}"/></msg>'
_ROW_TYPES = {
    MessageKind.IMAGE: (3, 0, _IMAGE),
    MessageKind.VOICE: (34, 0, _VOICE),
    MessageKind.VIDEO: (43, 0, _VIDEO),
    MessageKind.STICKER: (47, 0, _EMOJI),
    MessageKind.FILE: (49, 6, ""),
    MessageKind.RED_PACKET: (49, 2001, ""),
    MessageKind.TRANSFER: (49, 2000, ""),
    MessageKind.CARD: (49, 33, ""),
}


class _CsvWriter(WeChatWriter):
    def __init__(self, out_dir: Path) -> None:
        super().__init__(out_dir)
        self.fh: IO[str] | None = None
        self.out: csv.Writer | None = None  # type: ignore[name-defined]
        self.local_id = 0
        self.talker_id = 16

    def open(self, group: Group) -> None:
        path = self.out_dir / f"{safe_name(group.name)}_utf8.csv"
        self.paths.append(path)
        self.fh = path.open("w", encoding="utf-8-sig", newline="")
        self.out = csv.writer(self.fh)
        self.out.writerow(HEADER)
        self.local_id = 0
        self.talker_id += 1

    def close(self) -> None:
        assert self.fh is not None
        self.fh.close()

    def _row(
        self, type_: int, sub: int, is_sender: int, at: datetime, content: str, who: list[str]
    ) -> None:
        assert self.out is not None
        self.local_id += 1
        stamp = int(at.timestamp())
        row = [self.local_id, self.talker_id, type_, sub, is_sender, stamp, 2, content, local(at)]
        self.out.writerow([*row, *who])

    def system(self, at: datetime, text: str) -> None:
        self._row(10000, 0, 0, at, text, ["", "", ""])

    def message(self, m: Message, target: tuple[str, str, datetime, str] | None) -> str:
        assert self.group is not None
        sender = wxid(m.sender)
        who = ["", m.sender.name or "", sender]
        mine = int(self.is_owner(m.sender))
        if target is not None:
            self._row(49, 57, mine, m.sent_at, "", who)
            return m.text
        if m.kind in (MessageKind.TEXT, MessageKind.LINK):
            text = self.mention_prefix(m) + m.text
            self._row(1, 0, mine, m.sent_at, text, who)
            return text
        type_, sub, xml = _ROW_TYPES[m.kind]
        h = server_id(self.group.platform_id, m.platform_id)
        content = xml.format(h=h, sender=sender, room=chatroom(self.group))
        self._row(type_, sub, mine, m.sent_at, content, who)
        return ""


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    """One `<group>_utf8.csv` per group, as MemoTrace's CSV export writes it."""
    return _CsvWriter(out_dir).run(records)


# -- TXT -------------------------------------------------------------------------------------

_PLACEHOLDER = {
    MessageKind.IMAGE: "[图片]",
    MessageKind.VOICE: "[语音]",
    MessageKind.VIDEO: "[视频]",
    MessageKind.STICKER: "[表情包]",
    MessageKind.FILE: "[文件]",
}


class _TxtWriter(WeChatWriter):
    def __init__(self, out_dir: Path) -> None:
        super().__init__(out_dir)
        self.fh: IO[str] | None = None

    def open(self, group: Group) -> None:
        path = self.out_dir / f"{safe_name(group.name)}.txt"
        self.paths.append(path)
        self.fh = path.open("w", encoding="utf-8", newline="\n")

    def close(self) -> None:
        assert self.fh is not None
        self.fh.close()

    def system(self, at: datetime, text: str) -> None:
        assert self.fh is not None
        self.fh.write(f"{local(at)} {text}\n\n")

    def message(self, m: Message, target: tuple[str, str, datetime, str] | None) -> str:
        assert self.fh is not None
        if m.kind in (MessageKind.TEXT, MessageKind.LINK):
            body = self.mention_prefix(m) + m.text
        elif m.kind in _PLACEHOLDER:
            body = _PLACEHOLDER[m.kind]
        else:  # MemoTrace's TXT drops red packets, transfers and cards
            return ""
        shown = body
        if target is not None:
            shown = f"{body}\n引用:{target[0]}:{target[1]}"
        self.fh.write(f"{local(m.sent_at)} {m.sender.name}\n{shown}\n\n")
        return body


def write_txt(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    """One `<group>.txt` per group, as MemoTrace's TXT export writes it."""
    return _TxtWriter(out_dir).run(records)
