"""WeCom 会话内容存档 (message archive), decrypted: one message JSON object per line (JSONL).

Facts this reader relies on (the official message formats, mirrored by the finance SDK wrappers):
- every line is one decrypted message: `msgid, action (send|recall|switch), from, tolist[],
  roomid, msgtime, msgtype` and a payload object named after `msgtype` (a few types keep theirs
  elsewhere: `vote` at the top level, robot `markdown`/`news` under `info`);
- `msgtime` is UTC epoch milliseconds: exact, no time zone is assumed;
- `roomid` is the group's id; it is empty for 1:1 chats, which are skipped (qunzhu imports
  groups); `switch` rows (a user switching corp) and `agree`/`disagree` (archive consent) are no
  messages;
- a recall is `action=recall`, `msgtype=revoke`, `revoke.pre_msgid` = the recalled message;
- `from` is a `userid` (same corp), an `external_userid` (`wm…`/`wo…`) or a robot (`wb…`).
  Robots are kept as members: their messages are part of the group's life.

What the archive does not carry: names (of people or groups) and membership changes. Those come
from other APIs (`groupchat/get`, the `change_external_chat` callback), so members are ids only
and a group is named by its `roomid` unless a message names it (`collect.room_name`, 接龙).

The archive is one stream for the whole corp, groups interleaved. Messages are buffered per group
and handed on in batches (a Group record, then its buffered messages), so memory stays bounded and
the store still writes big batches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.model import Group, Message, MessageKind, Person, Platform, Record
from qunzhu.sources import ReadContext, SourceError

PLATFORM = Platform.WECOM
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUFFERED = 20_000  # messages held across all groups before they are handed on
_FIRST_LINE = re.compile(rb"[^\n]*")
_SNIFF_ID = re.compile(rb'"msgid"\s*:\s*"')
_SNIFF_ACTION = re.compile(rb'"action"\s*:\s*"(?:send|recall|switch)"')
_URL = re.compile(r"https?://[^\s<>()\"']+")
_MENTION = re.compile(r"(?:^|(?<=\s))@([^\s@]+)")

# msgtype -> kind. The payload's text field, if any, is picked by `_TEXT_FIELDS`.
_KINDS = {
    "text": MessageKind.TEXT,
    "markdown": MessageKind.TEXT,  # robots
    "image": MessageKind.IMAGE,
    "voice": MessageKind.VOICE,
    "video": MessageKind.VIDEO,
    "emotion": MessageKind.STICKER,
    "file": MessageKind.FILE,
    "qydiskfile": MessageKind.FILE,  # 微盘文件
    "link": MessageKind.LINK,
    "docmsg": MessageKind.LINK,
    "news": MessageKind.LINK,  # robots
    "redpacket": MessageKind.RED_PACKET,
    "external_redpacket": MessageKind.RED_PACKET,
    "card": MessageKind.CARD,
    "location": MessageKind.CARD,
    "weapp": MessageKind.CARD,
    "chatrecord": MessageKind.CARD,
    "todo": MessageKind.CARD,
    "vote": MessageKind.CARD,
    "collect": MessageKind.CARD,  # 接龙
    "meeting": MessageKind.CARD,
    "calendar": MessageKind.CARD,
    "sphfeed": MessageKind.CARD,  # 视频号
    "mixed": MessageKind.TEXT,  # refined from its items
    "revoke": MessageKind.RECALL,
}
_TEXT_FIELDS = {
    "text": "content",
    "markdown": "content",
    "file": "filename",
    "qydiskfile": "filename",
    "link": "title",
    "docmsg": "title",
    "redpacket": "wish",
    "external_redpacket": "wish",
    "location": "title",
    "weapp": "title",
    "chatrecord": "title",
    "todo": "title",
    "collect": "title",
    "meeting": "topic",
    "calendar": "title",
    "sphfeed": "feed_desc",
}
_URL_FIELDS = {"link": "link_url", "docmsg": "link_url"}
_NOT_MESSAGES = {
    "agree": "an archive consent event, not a message",
    "disagree": "an archive consent event, not a message",
    "meeting_voice_call": "a call record, not a message",
    "voip_doc_share": "a call record, not a message",
    "voiptext": "a call record, not a message",
}

_ZH = {
    "not a WeCom message archive: {why}": "不是企业微信会话内容存档：{why}",
    "the first line is not a JSON object": "第一行不是 JSON 对象",
    "the first line has no msgid and action": "第一行没有 msgid 和 action",
    "no message in the file": "文件中没有消息",
    "not a JSON object": "不是 JSON 对象",
    "a corp switch, not a message": "切换企业记录，不是消息",
    "a 1:1 chat, not a group (qunzhu imports group chats only)": (
        "单聊消息，不是群聊（群主只导入群聊）"
    ),
    "an archive consent event, not a message": "存档同意/拒绝事件，不是消息",
    "a call record, not a message": "通话记录，不是消息",
    "unknown message type {kind!r}": "未知消息类型 {kind!r}",
    "bad or missing msgtime ({value!r})": "msgtime 缺失或无效（{value!r}）",
    "no msgid": "没有 msgid",
}
i18n.register(_ZH)


def sniff(head: bytes) -> bool:
    """The first line is a JSON object with a `msgid` and an archive `action`."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not start.startswith(b"{"):
        return False
    first = _FIRST_LINE.match(start)
    line = first.group(0) if first else start
    return _SNIFF_ID.search(line) is not None and _SNIFF_ACTION.search(line) is not None


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    with path.open("rb") as fh:
        yield from _Reader(path, ctx).run(fh)


@lru_cache(maxsize=65_536)  # the same few thousand senders, a million times
def _person(user_id: str) -> Person:
    return Person(user_id)


def _when(msgtime: Any) -> datetime | None:
    if msgtime.__class__ is not int or msgtime <= 0:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=msgtime)  # exact, unlike a float timestamp
    except OverflowError:
        return None


class _Reader:
    def __init__(self, path: Path, ctx: ReadContext) -> None:
        self.path = path
        self.ctx = ctx
        self.buffers: dict[str, list[Message]] = {}
        self.names: dict[str, str] = {}  # roomid -> name, when a message gives one
        self.buffered = 0
        self.seen_object = False

    def run(self, fh: Any) -> Iterator[Record]:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            obj = self._parse(n, line)
            if obj is None:
                continue
            message = self._message(n, obj)
            if message is None:
                continue
            room = obj["roomid"]
            buffer = self.buffers.get(room)
            if buffer is None:
                buffer = self.buffers[room] = []
            buffer.append(message)
            self.buffered += 1
            if self.buffered >= BUFFERED:
                yield from self._hand_on()
        if not self.seen_object:
            raise SourceError(
                self.path,
                tr("not a WeCom message archive: {why}", why=tr("no message in the file")),
            )
        yield from self._hand_on()

    def _hand_on(self) -> Iterator[Record]:
        for room, messages in self.buffers.items():
            if messages:
                yield Group(PLATFORM, room, self.names.get(room, room))
                yield from messages
        self.buffers = {}
        self.buffered = 0

    def _parse(self, n: int, line: bytes) -> dict[str, Any] | None:
        """The line's object; None (noted) for a broken line; SourceError when the very first
        line already shows that this is no archive."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if not self.seen_object:
                raise self._not_archive(n, tr("the first line is not a JSON object")) from None
            if not line.endswith(b"\n"):
                self.ctx.skip(tr("line {n}", n=n), tr("incomplete last line"))
            else:
                self.ctx.skip(tr("line {n}", n=n), tr("not valid JSON ({why})", why=exc.msg))
            return None
        if obj.__class__ is not dict:
            if not self.seen_object:
                raise self._not_archive(n, tr("the first line is not a JSON object"))
            self.ctx.skip(tr("line {n}", n=n), tr("not a JSON object"))
            return None
        if not self.seen_object:
            if "msgid" not in obj or "action" not in obj:
                raise self._not_archive(n, tr("the first line has no msgid and action"))
            self.seen_object = True
        return obj

    def _not_archive(self, n: int, why: str) -> SourceError:
        return SourceError(
            self.path, tr("not a WeCom message archive: {why}", why=why), tr("line {n}", n=n)
        )

    def _message(self, n: int, obj: dict[str, Any]) -> Message | None:
        found = message(obj, n, self.ctx.skip)
        if found is not None and obj.get("msgtype") == "collect":
            self._note_room_name(obj["roomid"], obj.get("collect"))
        return found

    def _note_room_name(self, room: str, payload: Any) -> None:
        if isinstance(payload, dict):
            name = payload.get("room_name")
            if isinstance(name, str) and name.strip():
                self.names[room] = name.strip()


def message(obj: dict[str, Any], n: int, skip: Callable[[str, str], None]) -> Message | None:
    """The member message one archive line holds (its object; `n` its line), or None (and a
    `skip(where, why)` note) when it holds none: the importer's reading, and the live
    WeCom connector's."""
    action = obj.get("action")
    if action == "switch":
        skip(tr("line {n}", n=n), tr("a corp switch, not a message"))
        return None
    room = obj.get("roomid")
    if not room or not isinstance(room, str):
        skip(tr("line {n}", n=n), tr("a 1:1 chat, not a group (qunzhu imports group chats only)"))
        return None
    msgtype = obj.get("msgtype")
    if msgtype in _NOT_MESSAGES:
        skip(tr("line {n}", n=n), tr(_NOT_MESSAGES[msgtype]))
        return None
    kind = _KINDS.get(msgtype) if action != "recall" else MessageKind.RECALL
    if kind is None:
        skip(tr("line {n}", n=n), tr("unknown message type {kind!r}", kind=msgtype))
        return None
    msgid = obj.get("msgid")
    if not msgid or not isinstance(msgid, str):
        skip(tr("line {n}", n=n), tr("no msgid"))
        return None
    sender = obj.get("from")
    if not sender or not isinstance(sender, str):
        skip(tr("line {n}", n=n), tr("no sender"))
        return None
    sent_at = _when(obj.get("msgtime"))
    if sent_at is None:
        skip(
            tr("line {n}", n=n),
            tr("bad or missing msgtime ({value!r})", value=obj.get("msgtime")),
        )
        return None
    if kind is MessageKind.RECALL:
        revoke = obj.get("revoke")
        pre = revoke.get("pre_msgid") if isinstance(revoke, dict) else None
        return Message(
            msgid,
            _person(sender),
            sent_at,
            kind,
            reply_to=pre if isinstance(pre, str) and pre else None,
            row=n,
        )
    kind, text, urls = _content(msgtype, obj, kind)
    mentions = tuple("@" + m for m in _MENTION.findall(text)) if "@" in text else ()
    if kind is MessageKind.TEXT and "http" in text:
        urls = tuple(_URL.findall(text))
        if urls:
            kind = MessageKind.LINK
    return Message(
        msgid,
        _person(sender),
        sent_at,
        kind,
        text,
        mentions=mentions,
        urls=urls,
        row=n,
    )


def _content(
    msgtype: str, obj: dict[str, Any], kind: MessageKind
) -> tuple[MessageKind, str, tuple[str, ...]]:
    """(kind, text, urls) of a message's payload."""
    if msgtype == "vote":
        title = obj.get("votetitle")
        return kind, title if isinstance(title, str) else "", ()
    if msgtype in ("markdown", "news"):
        payload = obj.get("info") or obj.get(msgtype)
    else:
        payload = obj.get(msgtype)
    if not isinstance(payload, dict):
        return kind, "", ()
    if msgtype == "mixed":
        return _mixed(payload)
    if msgtype == "news":
        items = payload.get("item")
        first = items[0] if isinstance(items, list) and items else {}
        if not isinstance(first, dict):
            return kind, "", ()
        url = first.get("url")
        title = first.get("title")
        return (
            kind,
            title if isinstance(title, str) else "",
            (url,) if isinstance(url, str) and url else (),
        )
    field = _TEXT_FIELDS.get(msgtype)
    text = payload.get(field, "") if field else ""
    if not isinstance(text, str):
        text = ""
    url_field = _URL_FIELDS.get(msgtype)
    url = payload.get(url_field) if url_field else None
    return kind, text, (url,) if isinstance(url, str) and url else ()


def _mixed(payload: dict[str, Any]) -> tuple[MessageKind, str, tuple[str, ...]]:
    """图文混排: the text of its text items; the kind of its first other item (a captioned
    image is an image), or text when it has only text."""
    items = payload.get("item")
    texts: list[str] = []
    kind: MessageKind | None = None
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        itype = item.get("type")
        if itype == "text":
            try:
                content = orjson.loads(item.get("content") or "{}")
            except orjson.JSONDecodeError:
                continue
            if isinstance(content, dict) and isinstance(content.get("content"), str):
                texts.append(content["content"])
        elif kind is None and itype in _KINDS:
            kind = _KINDS[itype]
    return kind or MessageKind.TEXT, "\n".join(texts), ()
