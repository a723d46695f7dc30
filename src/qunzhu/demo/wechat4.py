"""Write records as WeFlow's WeChat 4.x JSON export, one `<group>.json` per group.

Laid out as WeFlow's `exportJsonWriter.ts` builds it: `weflow`, `session` (the `…@chatroom`
wxid, names, 群聊, `lastTimestamp`, `messageCount`), then `messages` with `createTime` (epoch
seconds), `formattedTime` (the PC's local time, Asia/Shanghai), a Chinese `type` label,
`localType` (appmsg subtype in the high 32 bits), rendered `content`, `isSend`,
`senderUsername`/`senderDisplayName`, and, as newer WeFlow writes them, `platformMessageId`
and `replyToMessageId`. The exporting account is the group owner; its system lines read as
WeChat shows them to it (see the MemoTrace writer). Streamed: the session's two counts are
written as space-padded placeholders and filled in when the group is closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from qunzhu.demo.wechat_memotrace import WeChatWriter, chatroom, local, safe_name, server_id, wxid
from qunzhu.model import Group, Message, MessageKind, Record

_PAD = 20
_KINDS = {
    MessageKind.IMAGE: (3, "图片消息", "[图片]"),
    MessageKind.VOICE: (34, "语音消息", "[语音消息]"),
    MessageKind.VIDEO: (43, "视频消息", "[视频]"),
    MessageKind.STICKER: (47, "动画表情", "[动画表情]"),
    MessageKind.FILE: ((6 << 32) | 49, "文件消息", "[文件] 活动报名表.xlsx"),
    MessageKind.RED_PACKET: ((2001 << 32) | 49, "红包卡片", "[红包]恭喜发财，大吉大利"),
    MessageKind.TRANSFER: ((2000 << 32) | 49, "转账卡片", "[转账]"),
    MessageKind.CARD: ((33 << 32) | 49, "小程序分享", "[小程序]"),
}
_QUOTE = (57 << 32) | 49


class _Writer(WeChatWriter):
    def __init__(self, out_dir: Path) -> None:
        super().__init__(out_dir)
        self.fh: IO[bytes] | None = None
        self.count = 0
        self.last = 0
        self.slots: tuple[int, int] = (0, 0)
        self.room = ""

    def open(self, group: Group) -> None:
        path = self.out_dir / f"{safe_name(group.name)}.json"
        self.paths.append(path)
        fh = self.fh = path.open("wb")
        self.room = chatroom(group)
        self.count = self.last = 0
        fh.write(b'{\n  "weflow": {"version": "demo", "exportTime": 0},\n  "session": {')
        head = {
            "wxid": self.room,
            "nickname": group.name,
            "remark": "",
            "displayName": group.name,
            "type": "群聊",
        }
        fh.write(orjson.dumps(head)[1:-1] + b', "lastTimestamp": ')
        last_at = fh.tell()
        fh.write(b" " * _PAD + b', "messageCount": ')
        count_at = fh.tell()
        fh.write(b" " * _PAD + b'},\n  "messages": [')
        self.slots = (last_at, count_at)

    def close(self) -> None:
        fh = self.fh
        assert fh is not None
        fh.write(b"\n  ]\n}\n")
        for at, value in zip(self.slots, (self.last, self.count), strict=True):
            fh.seek(at)
            fh.write(str(value).ljust(_PAD).encode())
        fh.close()

    def _emit(self, at: datetime, obj: dict[str, Any]) -> None:
        assert self.fh is not None
        self.count += 1
        self.last = int(at.timestamp())
        base = {
            "localId": self.count,
            "createTime": self.last,
            "formattedTime": local(at),
        }
        self.fh.write((b",\n    " if self.count > 1 else b"\n    ") + orjson.dumps(base | obj))

    def system(self, at: datetime, text: str) -> None:
        svr = server_id(self.room, "system", str(self.count))
        self._emit(
            at,
            {
                "type": "系统消息",
                "localType": 10000,
                "content": text,
                "isSend": 0,
                "senderUsername": "",
                "senderDisplayName": "",
                "source": "",
                "platformMessageId": svr,
            },
        )

    def message(self, m: Message, target: tuple[str, str, datetime, str] | None) -> str:
        sender = wxid(m.sender)
        obj: dict[str, Any] = {}
        if m.kind in (MessageKind.TEXT, MessageKind.LINK):
            content = self.mention_prefix(m) + m.text
            if target is not None:
                obj.update(type="引用消息", localType=_QUOTE, content=content)
            else:
                obj.update(type="文本消息", localType=1, content=content)
        else:
            local_type, label, content = _KINDS[m.kind]
            obj.update(type=label, localType=local_type, content=content)
        obj.update(
            isSend=int(self.is_owner(m.sender)),
            senderUsername=sender,
            senderDisplayName=m.sender.name or sender,
            source="",
            senderAvatarKey=sender,
            platformMessageId=server_id(self.room, m.platform_id),
        )
        if target is not None:
            obj.update(
                replyToMessageId=server_id(self.room, target[3]),
                quotedSender=target[0],
                quotedContent=target[1],
            )
        self._emit(m.sent_at, obj)
        return content


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    return _Writer(out_dir).run(records)
