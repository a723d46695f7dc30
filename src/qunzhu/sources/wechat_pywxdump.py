"""PyWxDump CSV exports of a WeChat 3.x group (v3: 9 columns; v2: 8 columns with JSON content).

Facts this reader relies on (formats-and-metrics.md A1.5, A1.3, A1.7):
- v3 header `id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime`; v2 header
  `id,MsgSvrID,type_name,is_sender,talker,room_name,content,CreateTime` where `content` is a JSON
  string `{"src": …, "msg": …}`. UTF-8, no BOM (one is accepted, as is GB18030 after Excel);
- `MsgSvrID` is WeChat's server message id: the message's id here, stable across exports;
- `room_name` is the chat's wxid: `…@chatroom` for a group (its id here). Anything else is a
  one-to-one chat, which is not a community and is refused;
- in a group `talker` is the sender's wxid, `我` for the exporting account (or its wxid);
  the CSV carries no display names at all, so members are wxids without names;
- `type_name` is Chinese (文本, 图片, 引用回复, 系统通知, …). A quote-reply's `msg` is
  `"{title}\\n\\n[引用]({createtime}){displayname}:{content}"`: the reply is the title, and the
  quoted message is found among the recent ones by its content;
- `CreateTime` is the exporting PC's naive local time, `%Y-%m-%d %H:%M:%S`, or `2024/10/4 11:42`
  after a round trip through Excel: read in `--tz`;
- 系统通知 rows are WeChat's plain-text notices (joins, kicks, recalls), parsed as in the
  MemoTrace reader; `<revokemsg>` wrappers are stripped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import orjson

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.model import Group, Message, MessageKind, Person, Platform, Record
from qunzhu.sources import SNIFF_BYTES, ReadContext, SourceError
from qunzhu.sources.wechat_memotrace import (
    LocalClock,
    SystemLines,
    ends_with_newline,
    local_time,
    mentions,
    open_text,
    remember,
    text_kind,
)

PLATFORM = Platform.WECHAT

_ZH = {
    "not a PyWxDump CSV: no {column!r} column": "不是 PyWxDump CSV：缺少 {column!r} 列",
    "content is not valid JSON": "content 不是有效的 JSON",
    "no group chat rows in this file": "此文件中没有群聊记录",
}
i18n.register(_ZH)

_HEAD = b"id,MsgSvrID,type_name,is_sender,talker,room_name,"
_SELF = "我"
_SYSTEM_TALKER = "系统"
_KINDS = {
    "文本": MessageKind.TEXT,
    "粘贴的文本": MessageKind.TEXT,
    "引用回复": MessageKind.TEXT,
    "图片": MessageKind.IMAGE,
    "语音": MessageKind.VOICE,
    "视频": MessageKind.VIDEO,
    "动画表情": MessageKind.STICKER,
    "用户上传的GIF表情": MessageKind.STICKER,
    "文件": MessageKind.FILE,
    "卡片式链接": MessageKind.LINK,
    "(分享)卡片式链接": MessageKind.LINK,
    "分享的卡片式链接": MessageKind.LINK,
    "音乐": MessageKind.LINK,
    "(分享)音乐": MessageKind.LINK,
    "转账": MessageKind.TRANSFER,
    "微信红包": MessageKind.RED_PACKET,
    "红包": MessageKind.RED_PACKET,
    "赠送红包封面": MessageKind.RED_PACKET,
    "推荐公众号/名片": MessageKind.CARD,
    "名片": MessageKind.CARD,
    "位置": MessageKind.CARD,
    "位置共享": MessageKind.CARD,
    "合并转发的聊天记录": MessageKind.CARD,
    "(分享)笔记": MessageKind.CARD,
    "(分享)小程序": MessageKind.CARD,
    "小程序": MessageKind.CARD,
    "(分享)收藏夹": MessageKind.CARD,
    "视频号名片": MessageKind.CARD,
    "视频号视频": MessageKind.CARD,
    "接龙": MessageKind.CARD,
    "群公告": MessageKind.CARD,
    "视频号直播": MessageKind.CARD,
}
_QUOTE = re.compile(r"\n\n\[引用\]\(([^)]*)\)(.*?):(.*)\Z", re.S)
_RECENT = 20_000


def sniff(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").startswith(_HEAD)


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    complete = ends_with_newline(path)
    with open_text(path, head) as fh:
        reader = csv.reader(fh)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        cols = {name: i for i, name in enumerate(header)}
        for column in ("MsgSvrID", "type_name", "talker", "room_name", "CreateTime"):
            if column not in cols:
                raise SourceError(
                    path,
                    tr("not a PyWxDump CSV: no {column!r} column", column=column),
                    tr("line {n}", n=1),
                )
        if "msg" not in cols and "content" not in cols:
            raise SourceError(
                path,
                tr("not a PyWxDump CSV: no {column!r} column", column="msg"),
                tr("line {n}", n=1),
            )
        yield from _Rows(path, ctx, cols, len(header)).run(reader, complete)


class _Rows:
    def __init__(self, path: Path, ctx: ReadContext, cols: dict[str, int], width: int) -> None:
        self.path = path
        self.ctx = ctx
        self.width = width
        self.room: str | None = None
        self.system = SystemLines(ctx)
        # (time, content) and content -> MsgSvrID, to find the message a quote-reply quotes
        self.recent: dict[str | tuple[datetime, str], str] = {}
        self.people: dict[str, Person] = {}
        self.c_id = cols["MsgSvrID"]
        self.c_type = cols["type_name"]
        self.c_is_sender = cols.get("is_sender")
        self.c_talker = cols["talker"]
        self.c_room = cols["room_name"]
        self.c_msg = cols.get("msg")
        self.c_content = cols.get("content")
        self.c_time = cols["CreateTime"]
        self.clock = LocalClock(ctx.tz)

    def run(self, reader: Iterable[list[str]], complete: bool) -> Iterator[Record]:
        rows = iter(reader)
        line = 1
        held: tuple[int, list[str]] | None = None
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                line = reader.line_num  # type: ignore[attr-defined]
                self.ctx.skip(tr("line {n}", n=line), tr("unreadable CSV row ({why})", why=exc))
                continue
            start = line + 1
            line = reader.line_num  # type: ignore[attr-defined]
            if held is not None:
                yield from self._row(*held)
            held = (start, row) if row else None
        if held is not None:
            if complete:
                yield from self._row(*held)
            else:
                self.ctx.skip(tr("line {n}", n=held[0]), tr("incomplete last line"))
        if self.room is None:
            raise SourceError(self.path, tr("no group chat rows in this file"))
        yield from self.system.finish()

    def _group(self, line: int, room: str) -> Iterator[Record]:
        if self.room is None:
            if not room.endswith("@chatroom"):
                raise SourceError(
                    self.path,
                    tr("a one-to-one chat ({room}), not a group chat", room=room),
                    tr("line {n}", n=line),
                )
            self.room = room
            yield Group(PLATFORM, room, room)
        elif room != self.room:
            raise SourceError(
                self.path,
                tr("rows of more than one chat ({first}, {other})", first=self.room, other=room),
                tr("line {n}", n=line),
            )

    def _person(self, talker: str) -> Person:
        person = self.people.get(talker)
        if person is None:
            person = Person(None, _SELF) if talker == _SELF else Person(talker)
            self.people[talker] = person
        return person

    def _body(self, row: list[str]) -> str:
        if self.c_msg is not None:
            return row[self.c_msg]
        raw = row[self.c_content]  # type: ignore[index]
        data = orjson.loads(raw) if raw else {}
        msg = data.get("msg", "") if isinstance(data, dict) else ""
        return msg if isinstance(msg, str) else str(msg)

    def _row(self, line: int, row: list[str]) -> Iterator[Record]:
        ctx = self.ctx
        if len(row) != self.width:
            ctx.skip(
                tr("line {n}", n=line),
                tr("expected {want} fields, found {got}", want=self.width, got=len(row)),
            )
            return
        yield from self._group(line, row[self.c_room])
        try:
            at = self.clock(row[self.c_time])
        except (ValueError, OverflowError, OSError):
            ctx.skip(tr("line {n}", n=line), tr("bad time ({value!r})", value=row[self.c_time]))
            return
        if not row[self.c_time].strip().isdigit():
            ctx.tz_assumed = True
        try:
            body = self._body(row)
        except orjson.JSONDecodeError:
            ctx.skip(tr("line {n}", n=line), tr("content is not valid JSON"))
            return
        msg_id = row[self.c_id].strip() or f"row:{row[self.c_time]}:{line}"
        type_name = row[self.c_type].strip()
        talker = row[self.c_talker].strip()
        is_self = self.c_is_sender is not None and row[self.c_is_sender] == "1"
        if is_self and talker and talker != _SYSTEM_TALKER:  # "你" in system lines
            yield from self.system.learn(self._person(talker))
        if type_name == "系统通知" or "撤回" in type_name or "邀请加群" in type_name:
            yield from self.system.line(body, at, msg_id, line, tr("line {n}", n=line))
            return
        kind = _KINDS.get(type_name)
        if kind is None:
            ctx.skip(tr("line {n}", n=line), _not_a_message(type_name))
            return
        if not talker or talker == _SYSTEM_TALKER:
            ctx.skip(tr("line {n}", n=line), tr("no sender"))
            return
        sender = self._person(talker)
        yield self._message(msg_id, sender, at, kind, body, line)

    def _message(
        self, msg_id: str, sender: Person, at: datetime, kind: MessageKind, body: str, line: int
    ) -> Message:
        text, urls, reply_to = "", (), None
        if kind is MessageKind.TEXT:
            quote = _QUOTE.search(body)
            if quote is not None:
                reply_to = self._quoted(quote.group(1), quote.group(3))
                body = body[: quote.start()]
            text = body
            kind, urls = text_kind(text)
            self.recent = remember(self.recent, (at, text), msg_id, _RECENT)
            self.recent = remember(self.recent, text, msg_id, _RECENT)
        return Message(
            msg_id,
            sender,
            at,
            kind,
            text,
            reply_to=reply_to,
            mentions=mentions(text),
            urls=urls,
            row=line,
        )

    def _quoted(self, when: str, text: str) -> str | None:
        """The quoted message: by its time and content, else (Excel dropped the seconds) by
        its content alone, the latest such."""
        try:
            found = self.recent.get((local_time(when, self.ctx.tz), text))
        except (ValueError, OverflowError, OSError):
            found = None
        return found or self.recent.get(text)


def _not_a_message(type_name: str) -> str:
    if "通话" in type_name:
        return tr("a call, not a message")
    if type_name == "添加好友":
        return tr("a friend request, not a group message")
    if type_name == "拍一拍":
        return tr("system line that is not a membership change")
    return tr("unsupported message type {kind}", kind=repr(type_name))
