"""WeChat 4.x group exports as JSON, written by WeFlow or EchoTrace (one file per chat).

Facts this reader relies on (formats-and-metrics.md A1.6 and A1.2; WeFlow's
`exportJsonWriter.ts`, read for the field names). No real export was available: see the
module's tests for what is inferred.
- top level `{"weflow": {…}, "session": {…}, "messages": […], "avatars": {…}}`; EchoTrace writes
  no `weflow`. WeFlow's "arkme" variant adds `senders: [{senderID, wxid, displayName}]` and
  gives each message a `senderID` instead of `senderUsername`;
- `session.wxid` is the chat's id: `…@chatroom` for a group (its id here); `session.type` is
  群聊 or 私聊. One-to-one chats are not communities and are refused;
- a message has `createTime` (epoch seconds: trusted), `type` (a Chinese label: 文本消息,
  图片消息, 红包卡片, 系统消息, …), `localType` (WeChat's type, appmsg subtype in the high 32 bits;
  said to be unreliable, so the label wins), `content` (rendered text), `isSend` (1 for the
  exporting account; null for a system message in older exports), `senderUsername` (wxid) and
  `senderDisplayName`. `localId` is the message's position in the export, not an id: newer
  WeFlow adds `platformMessageId` (the server id) and `replyToMessageId`, used when present;
  otherwise messages get content keys (time, sender, type, content);
- system messages carry WeChat's plain-text notices, parsed as in the MemoTrace reader.
The file is streamed with ijson: a first pass reads `session` (and `senders`), which precede
`messages`, and stops there; the second walks `messages.item`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ijson

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.model import Group, Message, MessageKind, Person, Platform, Record
from qunzhu.model.keys import ContentKeys
from qunzhu.sources import ReadContext, SourceError
from qunzhu.sources.wechat_memotrace import (
    URL,
    SystemLines,
    mentions,
    text_kind,
    wechat_kind,
)

PLATFORM = Platform.WECHAT

_ZH = {
    "not a WeChat 4.x JSON export: no 'session' object": (
        "不是微信 4.x JSON 导出：没有 'session' 对象"
    ),
    "the file ends early (truncated?): the messages after this one are missing": (
        "文件提前结束（被截断？）：此后的消息缺失"
    ),
}
i18n.register(_ZH)

_SNIFF = re.compile(rb'"(weflow|messageCount|lastTimestamp|senderUsername|localType)"\s*:')
_LABELS = {
    "文本消息": MessageKind.TEXT,
    "引用消息": MessageKind.TEXT,
    "图片消息": MessageKind.IMAGE,
    "语音消息": MessageKind.VOICE,
    "视频消息": MessageKind.VIDEO,
    "文件消息": MessageKind.FILE,
    "动画表情": MessageKind.STICKER,
    "名片消息": MessageKind.CARD,
    "位置消息": MessageKind.CARD,
    "卡片式链接": MessageKind.LINK,
    "图文消息": MessageKind.LINK,
    "链接消息": MessageKind.LINK,
    "音乐消息": MessageKind.LINK,
    "音乐分享": MessageKind.LINK,
    "红包卡片": MessageKind.RED_PACKET,
    "红包消息": MessageKind.RED_PACKET,
    "转账卡片": MessageKind.TRANSFER,
    "转账消息": MessageKind.TRANSFER,
    "小程序分享": MessageKind.CARD,
    "小程序消息": MessageKind.CARD,
    "视频号直播卡片": MessageKind.CARD,
    "聊天记录合并转发": MessageKind.CARD,
    "聊天记录": MessageKind.CARD,
    "群公告": MessageKind.CARD,
    "微信礼物": MessageKind.CARD,
}
_SYSTEM_LABEL = "系统消息"
_ID_KEYS = ("platformMessageId", "serverId", "server_id", "msgSvrId", "MsgSvrID")
_APP_TYPE = re.compile(r"<type>(\d+)</type>")


def sniff(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"{") and b'"session"' in head and _SNIFF.search(head) is not None


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    session, senders = _header(path)
    if not isinstance(session, dict):
        raise SourceError(path, tr("not a WeChat 4.x JSON export: no 'session' object"))
    room = str(session.get("wxid") or "")
    if not room.endswith("@chatroom") and session.get("type") != "群聊":
        raise SourceError(
            path, tr("a one-to-one chat ({room}), not a group chat", room=room), "session.wxid"
        )
    name = next(
        (str(session[k]) for k in ("displayName", "remark", "nickname") if session.get(k)), room
    )
    count = session.get("messageCount")
    if isinstance(count, int):
        ctx.expected += count
    yield Group(PLATFORM, room, name)
    yield from _Messages(path, ctx, room, senders).run()


def _header(path: Path) -> tuple[Any, dict[Any, dict[str, Any]]]:
    """`session` and `senders`, read up to where `messages` begins."""
    found: dict[str, Any] = {}
    try:
        with path.open("rb") as fh:
            builder: ijson.ObjectBuilder | None = None
            target = ""
            for prefix, event, value in ijson.parse(fh):
                if builder is not None:
                    builder.event(event, value)
                    if prefix == target and event in ("end_map", "end_array"):
                        found[target] = builder.value
                        builder = None
                elif prefix in ("session", "senders") and event in ("start_map", "start_array"):
                    builder = ijson.ObjectBuilder()
                    builder.event(event, value)
                    target = prefix
                elif prefix == "" and value == "messages" and "session" in found:
                    break  # `session` precedes `messages`: no need to read on
    except ijson.JSONError as exc:
        raise SourceError(path, tr("not valid JSON ({why})", why=_why(exc))) from None
    senders: dict[Any, dict[str, Any]] = {}
    for sender in found.get("senders") or []:
        if isinstance(sender, dict) and "senderID" in sender:
            senders[sender["senderID"]] = sender
    return found.get("session"), senders


def _why(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _Messages:
    def __init__(
        self, path: Path, ctx: ReadContext, room: str, senders: dict[Any, dict[str, Any]]
    ) -> None:
        self.path = path
        self.ctx = ctx
        self.room = room
        self.senders = senders
        self.keys = ContentKeys()
        self.system = SystemLines(ctx)
        self.people: dict[tuple[str, str], Person] = {}

    def run(self) -> Iterator[Record]:
        i = -1
        with self.path.open("rb") as fh:
            try:
                for i, raw in enumerate(ijson.items(fh, "messages.item", use_float=True)):
                    if not isinstance(raw, dict):
                        raise SourceError(
                            self.path, tr("a message must be an object"), tr("message {i}", i=i)
                        )
                    yield from self._message(i, raw)
            except ijson.JSONError as exc:
                if "premature EOF" not in str(exc):
                    raise SourceError(
                        self.path,
                        tr("not valid JSON ({why})", why=_why(exc)),
                        tr("message {i}", i=i + 1),
                    ) from None
                self.ctx.skip(
                    tr("message {i}", i=i + 1),
                    tr("the file ends early (truncated?): the messages after this one are missing"),
                )
        yield from self.system.finish()

    def _person(self, raw: dict[str, Any]) -> Person | None:
        wxid = raw.get("senderUsername")
        name = raw.get("senderDisplayName")
        if wxid is None and "senderID" in raw:
            sender = self.senders.get(raw["senderID"], {})
            wxid, name = sender.get("wxid"), name or sender.get("displayName")
        wxid = str(wxid) if wxid else ""
        name = str(name) if name else ""
        key = (wxid, name)
        person = self.people.get(key)
        if person is None:
            if not wxid and not name:
                return None
            person = Person(wxid or None, name or None)
            self.people[key] = person
        return person

    def _kind(self, raw: dict[str, Any], content: str) -> MessageKind | str | None:
        """The message's kind, `"system"`, or None for what is not a message."""
        label = raw.get("type")
        if label == _SYSTEM_LABEL or raw.get("isSend", 0) is None:
            return "system"
        kind = _LABELS.get(label) if isinstance(label, str) else None
        if kind is not None:
            return kind
        local = raw.get("localType")
        if not isinstance(local, int | float):
            return None
        local = int(local)
        base, sub = local & 0xFFFFFFFF, local >> 32
        if base == 10000:
            return "system"
        if base == 49 and sub == 0 and (m := _APP_TYPE.search(content)):
            sub = int(m.group(1))
        return wechat_kind(base, sub)

    def _message(self, i: int, raw: dict[str, Any]) -> Iterator[Record]:
        ctx = self.ctx
        try:
            stamp = int(raw["createTime"])
            at = datetime.fromtimestamp(stamp / 1000 if stamp > 10**11 else stamp, UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            ctx.skip(
                tr("message {i}", i=i), tr("bad time ({value!r})", value=raw.get("createTime"))
            )
            return
        content = raw.get("content")
        content = content if isinstance(content, str) else ""
        kind = self._kind(raw, content)
        msg_id = next((str(raw[k]) for k in _ID_KEYS if raw.get(k)), None)
        if kind == "system":
            base = msg_id or self.keys.key(self.room, stamp, "system", content)
            yield from self.system.line(content, at, base, i, tr("message {i}", i=i))
            return
        if not isinstance(kind, MessageKind):
            ctx.skip(tr("message {i}", i=i), _not_a_message(raw))
            return
        sender = self._person(raw)
        if sender is None:
            ctx.skip(tr("message {i}", i=i), tr("no sender"))
            return
        if raw.get("isSend") == 1 and sender.user_id:
            yield from self.system.learn(sender)
        if sender.user_id and content.startswith(sender.user_id + ":\n"):
            content = content[len(sender.user_id) + 2 :]  # the DB's group prefix, if left in
        text, urls = "", ()
        if kind is MessageKind.TEXT:
            text = content
            kind, urls = text_kind(text)
        elif kind is MessageKind.LINK:
            text = content
            link = raw.get("linkUrl")
            urls = (str(link),) if link else tuple(URL.findall(content))
        if msg_id is None:
            local = raw.get("localType", "")
            msg_id = self.keys.key(self.room, stamp, sender.user_id or sender.name, local, content)
        reply = raw.get("replyToMessageId")
        yield Message(
            msg_id,
            sender,
            at,
            kind,
            text,
            reply_to=str(reply) if reply else None,
            mentions=mentions(text),
            urls=urls,
            row=i,
        )


def _not_a_message(raw: dict[str, Any]) -> str:
    label = raw.get("type")
    local = raw.get("localType")
    if label == "通话消息" or local == 50:
        return tr("a call, not a message")
    if isinstance(local, int) and local & 0xFFFFFFFF == 10002:
        return tr("system XML notice (pat, template or revoke echo)")
    return tr("unsupported message type {kind}", kind=f"{label!r}/{local!r}")
