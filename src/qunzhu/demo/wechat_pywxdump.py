"""Write records as PyWxDump's CSV export (v3 layout), one `<group>.csv` per group.

PyWxDump writes `id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime` in UTF-8
without a BOM: `talker` is the sender's wxid (`我` for the exporting account, here the group
owner), `room_name` the `…@chatroom` id, `CreateTime` the PC's local time (Asia/Shanghai), media
rows a short `msg` and a path or URL in `src`, and a quote-reply
`"{title}\\n\\n[引用]({createtime}){displayname}:{content}"`. System notices are 系统通知 rows
worded as WeChat shows them to the owner (see the MemoTrace writer). PyWxDump pages its CSV in
files of 5,000 rows; the demo writes one file per group.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO

from qunzhu.demo.wechat_memotrace import WeChatWriter, chatroom, local, safe_name, server_id, wxid
from qunzhu.model import Group, Message, MessageKind, Record

HEADER = [
    "id",
    "MsgSvrID",
    "type_name",
    "is_sender",
    "talker",
    "room_name",
    "msg",
    "src",
    "CreateTime",
]
_MEDIA = {
    MessageKind.IMAGE: ("图片", "图片", "FileStorage\\MsgAttach\\{h}\\Image\\{month}\\{h}.dat"),
    MessageKind.VIDEO: ("视频", "视频", "FileStorage\\Video\\{month}\\{h}.mp4"),
    MessageKind.VOICE: ("语音", "语音时长：4秒\n翻译结果：", "audio\\{h}.wav"),
    MessageKind.STICKER: ("动画表情", "表情", "http://wxapp.tc.qq.com/262/20304/stodownload?m={h}"),
    MessageKind.FILE: ("文件", "活动报名表.xlsx", "FileStorage\\File\\{month}\\活动报名表.xlsx"),
    MessageKind.RED_PACKET: ("微信红包", "红包", ""),
    MessageKind.TRANSFER: ("转账", "已收款：￥88.00", ""),
    MessageKind.CARD: ("(分享)小程序", "小程序", ""),
}


class _Writer(WeChatWriter):
    def __init__(self, out_dir: Path) -> None:
        super().__init__(out_dir)
        self.fh: IO[str] | None = None
        self.out: csv.Writer | None = None  # type: ignore[name-defined]
        self.seq = 0
        self.room = ""

    def open(self, group: Group) -> None:
        path = self.out_dir / f"{safe_name(group.name)}.csv"
        self.paths.append(path)
        self.fh = path.open("w", encoding="utf-8", newline="")
        self.out = csv.writer(self.fh)
        self.out.writerow(HEADER)
        self.seq = 0
        self.room = chatroom(group)

    def close(self) -> None:
        assert self.fh is not None
        self.fh.close()

    def _row(
        self, svr: str, type_name: str, mine: bool, talker: str, msg: str, src: str, at: datetime
    ) -> None:
        assert self.out is not None
        self.seq += 1
        self.out.writerow(
            [self.seq, svr, type_name, int(mine), talker, self.room, msg, src, local(at)]
        )

    def system(self, at: datetime, text: str) -> None:
        self._row(
            server_id(self.room, "system", str(self.seq)), "系统通知", False, "", text, "", at
        )

    def message(self, m: Message, target: tuple[str, str, datetime, str] | None) -> str:
        mine = self.is_owner(m.sender)
        talker = "我" if mine else wxid(m.sender)
        svr = server_id(self.room, m.platform_id)
        if m.kind in (MessageKind.TEXT, MessageKind.LINK):
            text = self.mention_prefix(m) + m.text
            if target is not None:
                name, quoted, at, _ = target
                msg = f"{text}\n\n[引用]({local(at)}){name}:{quoted}"
                self._row(svr, "引用回复", mine, talker, msg, "", m.sent_at)
            else:
                self._row(svr, "文本", mine, talker, text, "", m.sent_at)
            return text
        type_name, msg, src = _MEDIA[m.kind]
        src = src.format(h=svr, month=m.sent_at.strftime("%Y-%m"))
        self._row(svr, type_name, mine, talker, msg, src, m.sent_at)
        return msg


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    return _Writer(out_dir).run(records)
