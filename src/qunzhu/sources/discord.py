"""DiscordChatExporter JSON: one file per channel (Tyrrrz/DiscordChatExporter, `JsonMessageWriter`).

Facts this reader relies on (the exporter's writer code):
- the file opens with `guild` and `channel`, then the `messages` array, then `messageCount`:
  the head is read with ijson's event parser and the messages streamed one by one, so a
  multi-gigabyte export never sits in memory;
- `timestamp` is ISO-8601 with an offset (the exporter's local time, or UTC with `--utc`), so
  no `--tz` is needed; a stamp without an offset (hand-edited files) is read in `--tz`;
- `type` is a MessageKind name, or the number for kinds the exporter does not name. Only
  `Default` and `Reply` are member messages; `GuildMemberJoin` is a join, `RecipientAdd` and
  `RecipientRemove` (group DMs) carry the added or removed user in `mentions[0]` and the one
  who did it as `author`. Everything else (calls, pins, renames, threads, slash-command and
  boost notices) is a system line and is skipped;
- `content` has user mentions rendered as `@name` (or raw `<@id>` with markdown formatting
  off); the ids come from `mentions[]`, which are true edges.
Discord never writes leaves or kicks of guild members into history, so a guild channel yields
joins only. A one-to-one DM (`DirectTextChat`) is not a community and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import ijson

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
    Record,
)
from qunzhu.sources import ReadContext, SourceError

PLATFORM = Platform.DISCORD
DISCORD_EPOCH_MS = 1_420_070_400_000  # snowflakes count milliseconds from 2015-01-01 UTC
MESSAGE_TYPES = {"Default", "Reply", "0", "19"}  # numbers: exports older than the names
JOIN_TYPES = {"GuildMemberJoin", "7"}
ADD_TYPES = {"RecipientAdd", "1"}
REMOVE_TYPES = {"RecipientRemove", "2"}
_IMAGE_EXT = {"jpg", "jpeg", "png", "gif", "webp", "bmp", "heic", "avif", "svg"}
_VIDEO_EXT = {"mp4", "mov", "webm", "mkv", "avi", "m4v"}
_SNIFF = re.compile(rb'^\{\s*"guild"\s*:\s*\{')
_URL = re.compile(r"https?://[^\s<>()\"']+")
_COUNT = re.compile(rb'"messageCount"\s*:\s*(\d+)')

_ZH = {
    "a one-to-one direct message, not a group chat": "这是一对一私聊，不是群聊",
    "not a DiscordChatExporter export: no 'channel' before 'messages'": (
        "不是 DiscordChatExporter 导出：'messages' 之前没有 'channel'"
    ),
    "not a DiscordChatExporter export: no 'messages' list": (
        "不是 DiscordChatExporter 导出：没有 'messages' 列表"
    ),
    "system message {kind!r} is not a membership change": "系统消息 {kind!r} 不是成员变动",
    "{kind} without the user it names": "{kind} 缺少被操作的用户",
    "bad or missing timestamp ({value!r})": "时间戳缺失或无效（{value!r}）",
}
i18n.register(_ZH)


def sniff(head: bytes) -> bool:
    """DiscordChatExporter always writes `guild` first: `{"guild": {...}, "channel": ...`."""
    return _SNIFF.match(head.lstrip(b"\xef\xbb\xbf \t\r\n")) is not None


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    with path.open("rb") as fh:
        head = _head(path, fh)
    channel = head.get("channel")
    if not isinstance(channel, dict):
        raise SourceError(
            path, tr("not a DiscordChatExporter export: no 'channel' before 'messages'")
        )
    if channel.get("type") == "DirectTextChat":
        raise SourceError(path, tr("a one-to-one direct message, not a group chat"), "channel.type")
    guild = head.get("guild") if isinstance(head.get("guild"), dict) else {}
    ctx.expected += _message_count(path)
    yield _group(channel, guild)
    yield from _messages(path, ctx)


def _head(path: Path, fh: IO[bytes]) -> dict[str, Any]:
    """`guild` and `channel`, read with the event parser up to the start of `messages`."""
    found: dict[str, Any] = {}
    builder: ijson.ObjectBuilder | None = None
    key = ""
    try:
        for prefix, event, value in ijson.parse(fh, use_float=True):
            if builder is not None:
                builder.event(event, value)
                if prefix == key and event == "end_map":
                    found[key] = builder.value
                    builder = None
            elif event == "start_map" and prefix in ("guild", "channel"):
                key, builder = prefix, ijson.ObjectBuilder()
                builder.event(event, value)
            elif prefix == "messages" and event == "start_array":
                return found
    except ijson.JSONError as exc:
        raise SourceError(path, tr("not valid JSON ({why}; truncated?)", why=_why(exc))) from None
    raise SourceError(path, tr("not a DiscordChatExporter export: no 'messages' list"))


def _why(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _message_count(path: Path) -> int:
    """`messageCount` closes the file: read its tail rather than wait for the stream's end."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 512))
        found = _COUNT.search(fh.read())
    return int(found.group(1)) if found else 0


def _group(channel: dict[str, Any], guild: dict[str, Any]) -> Group:
    channel_id = str(channel.get("id") or "")
    channel_name = channel.get("name") or channel_id
    guild_name = guild.get("name")
    if str(guild.get("id", "0")) == "0" or not guild_name:  # group DMs live in no guild
        name = channel_name
    else:
        name = f"{guild_name} / {channel_name}"
    return Group(PLATFORM, channel_id, name, created_at=snowflake_time(channel_id))


def snowflake_time(snowflake: str) -> datetime | None:
    """The moment a Discord id was made: the channel's creation time, for free."""
    if not snowflake.isdigit():
        return None
    ms = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC)


def _messages(path: Path, ctx: ReadContext) -> Iterator[Record]:
    i = 0
    with path.open("rb") as fh:
        try:
            for i, raw in enumerate(ijson.items(fh, "messages.item", use_float=True)):
                record = _record(path, i, raw, ctx)
                if record is not None:
                    yield record
        except ijson.JSONError as exc:
            raise SourceError(
                path,
                tr("not valid JSON ({why}; truncated?)", why=_why(exc)),
                tr("message {i}", i=i + 1),
            ) from None


def _record(path: Path, i: int, raw: Any, ctx: ReadContext) -> Record | None:
    if not isinstance(raw, dict):
        raise SourceError(path, tr("a message must be an object"), tr("message {i}", i=i))
    kind = str(raw.get("type", "Default"))
    if kind in MESSAGE_TYPES:
        return _message(path, i, raw, ctx)
    if kind in JOIN_TYPES or kind in ADD_TYPES or kind in REMOVE_TYPES:
        return _membership(path, i, kind, raw, ctx)
    ctx.skip(
        tr("message {i}", i=i), tr("system message {kind!r} is not a membership change", kind=kind)
    )
    return None


@lru_cache(maxsize=65_536)  # the same few thousand authors, a million times
def _person(user_id: str, name: str | None) -> Person:
    return Person(user_id, name)


def _author(raw: Any) -> Person | None:
    if not isinstance(raw, dict) or raw.get("id") in (None, ""):
        return None
    name = raw.get("nickname") or raw.get("name")
    return _person(str(raw["id"]), name if isinstance(name, str) else None)


def _when(path: Path, i: int, raw: dict[str, Any], ctx: ReadContext) -> datetime:
    stamp = raw.get("timestamp")
    try:
        moment = datetime.fromisoformat(stamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SourceError(
            path, tr("bad or missing timestamp ({value!r})", value=stamp), tr("message {i}", i=i)
        ) from None
    if moment.tzinfo is None:
        ctx.tz_assumed = True
        moment = moment.replace(tzinfo=ctx.tz)
    return moment.astimezone(UTC)


def _message(path: Path, i: int, raw: dict[str, Any], ctx: ReadContext) -> Message | None:
    sender = _author(raw.get("author"))
    if sender is None:
        ctx.skip(tr("message {i}", i=i), tr("no sender"))
        return None
    text = raw.get("content") or ""
    forwarded = raw.get("forwardedMessage")
    if not text and isinstance(forwarded, dict):
        text = forwarded.get("content") or ""
    urls = tuple(_URL.findall(text)) if "http" in text else ()
    reply_to = None
    reference = raw.get("reference")
    if isinstance(reference, dict) and reference.get("type") != "Forward":
        target = reference.get("messageId")
        reply_to = str(target) if target else None
    mentioned = raw.get("mentions")
    mentions = (
        tuple(str(m["id"]) for m in mentioned if isinstance(m, dict) and m.get("id"))
        if mentioned
        else ()
    )
    return Message(
        platform_id=str(raw.get("id")),
        sender=sender,
        sent_at=_when(path, i, raw, ctx),
        kind=_kind(raw, urls),
        text=text,
        reply_to=reply_to,
        mentions=mentions,
        urls=urls,
        row=i,
    )


def _kind(raw: dict[str, Any], urls: tuple[str, ...]) -> MessageKind:
    if raw.get("stickers"):
        return MessageKind.STICKER
    attachments = raw.get("attachments")
    if attachments and isinstance(attachments[0], dict):
        return _attachment_kind(str(attachments[0].get("fileName") or ""))
    if urls:
        return MessageKind.LINK
    if raw.get("embeds") and not raw.get("content"):
        return MessageKind.CARD  # a bot's rich embed with no text of its own
    return MessageKind.TEXT


def _attachment_kind(file_name: str) -> MessageKind:
    lower = file_name.lower()
    if lower.startswith("voice-message"):  # what the client names recorded voice messages
        return MessageKind.VOICE
    ext = lower.rpartition(".")[2]
    if ext in _IMAGE_EXT:
        return MessageKind.IMAGE
    if ext in _VIDEO_EXT:
        return MessageKind.VIDEO
    return MessageKind.FILE


def _membership(
    path: Path, i: int, kind: str, raw: dict[str, Any], ctx: ReadContext
) -> MembershipEvent | None:
    author = _author(raw.get("author"))
    if author is None:
        ctx.skip(tr("message {i}", i=i), tr("no sender"))
        return None
    at = _when(path, i, raw, ctx)
    msg_id = str(raw.get("id"))
    if kind in JOIN_TYPES:  # "Joined the server.": the text never says how
        return MembershipEvent(
            msg_id, author, MembershipAction.JOIN, at, method=JoinMethod.UNKNOWN, row=i
        )
    mentioned = raw.get("mentions") or ()
    target = _author(mentioned[0]) if mentioned else None
    if kind in ADD_TYPES:
        if target is None:
            ctx.skip(tr("message {i}", i=i), tr("{kind} without the user it names", kind=kind))
            return None
        return MembershipEvent(
            msg_id, target, MembershipAction.JOIN, at, JoinMethod.INVITE, actor=author, row=i
        )
    if target is None and not str(raw.get("content", "")).startswith("Left"):
        ctx.skip(tr("message {i}", i=i), tr("{kind} without the user it names", kind=kind))
        return None
    if target is None or target.user_id == author.user_id:  # "Left the group."
        return MembershipEvent(msg_id, author, MembershipAction.LEAVE, at, row=i)
    return MembershipEvent(msg_id, target, MembershipAction.KICK, at, actor=author, row=i)
