"""Telegram Desktop exports (`result.json`): one chat, or the whole account (`chats.list[]`).

Facts this reader relies on (tdesktop's JSON writer):
- `date_unixtime` is epoch seconds as a string and is trusted; `date` is the exporting PC's local
  time without offset, used (in `--tz`) only when `date_unixtime` is missing (old exports);
- `text` is a string or a list of strings and entity objects; `text_entities` is always objects;
- service `members[]` lists hold display names, not ids: only the actor has an id. A
  `remove_members` whose actor is the removed member is a leave, otherwise a kick.
Only group chats are imported: personal chats, bots and channels are not communities.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

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
    content_key,
)
from qunzhu.sources import ReadContext, SourceError

PLATFORM = Platform.TELEGRAM
NOT_GROUP_TYPES = {
    "personal_chat",
    "bot_chat",
    "saved_messages",
    "replies",
    "verification_codes",
    "private_channel",
    "public_channel",
}
_MEDIA_KINDS = {
    "sticker": MessageKind.STICKER,
    "voice_message": MessageKind.VOICE,
    "video_message": MessageKind.VIDEO,
    "video_file": MessageKind.VIDEO,
    "animation": MessageKind.VIDEO,
    "audio_file": MessageKind.FILE,
}
_CARD_KEYS = (
    "contact_information",
    "location_information",
    "poll",
    "place_name",
    "game_title",
    "invoice_information",
    "giveaway_information",
    "todo_list",
)
_SNIFF = re.compile(rb'"(date_unixtime|text_entities|personal_information|from_id)"\s*:')


def sniff(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"{") and _SNIFF.search(head) is not None


# Up to this size a file is parsed whole (orjson, the fastest, at about 9 bytes of memory per
# byte of file); above it, streamed (ijson, about 1.6x slower, in memory bounded by one chat).
WHOLE_FILE_LIMIT = 64 * 2**20

Chat = tuple[str, dict[str, Any], Iterable[Any]]  # (where, the chat's header keys, its messages)


def read(path: Path, ctx: ReadContext) -> Iterator[Record]:
    kinds: list[str] = []
    chats = _loaded(path) if path.stat().st_size <= WHOLE_FILE_LIMIT else _streamed(path)
    for where, chat, messages in chats:
        kinds.append(str(chat.get("type")))
        if _is_group(chat):
            yield from _read_chat(path, where, chat, messages, ctx)
        else:
            ctx.skip(where, tr("not a group chat ({kind})", kind=chat.get("type")))
    if not any(_is_group({"type": kind}) for kind in kinds):
        # Raised after the stream: the import is one transaction, so nothing stays written.
        raise SourceError(
            path,
            tr(
                "no group chat in this export (chat types: {kinds})",
                kinds=", ".join(sorted(set(kinds)) or ["none"]),
            ),
        )


def _loaded(path: Path) -> Iterator[Chat]:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise SourceError(
            path,
            tr("not valid JSON ({why}; truncated?)", why=exc.msg),
            tr("line {line} column {col}", line=exc.lineno, col=exc.colno),
        ) from None
    if not isinstance(data, dict):
        raise SourceError(path, tr("not a Telegram Desktop export: the top level is not an object"))
    if "messages" in data:
        if not isinstance(data["messages"], list):
            raise SourceError(path, tr("'messages' is not a list"), "messages")
        yield "chat", data, data["messages"]
        return
    if "chats" not in data and "left_chats" not in data:
        raise SourceError(
            path, tr("not a Telegram Desktop export: no 'messages' and no 'chats.list'")
        )
    for section in ("chats", "left_chats"):
        part = data.get(section) or {}
        listed = part.get("list") if isinstance(part, dict) else None
        for i, chat in enumerate(listed if isinstance(listed, list) else []):
            yield _checked(path, f"{section}.list[{i}]", chat)


def _checked(path: Path, where: str, chat: Any) -> Chat:
    if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
        raise SourceError(path, tr("a chat must be an object with a 'messages' list"), where)
    return where, chat, chat["messages"]


def _streamed(path: Path) -> Iterator[Chat]:
    """One message at a time for a chat's own `result.json`; one chat at a time for a
    whole-account export (`chats.list[]`, then `left_chats.list[]`)."""
    with path.open("rb") as fh:
        header = _header(path, fh)
    if header is not None:
        yield "chat", header, _stream_messages(path)
        return
    for section in ("chats", "left_chats"):
        if not _mentions(path, f'"{section}"'.encode()):  # each section costs a whole parse
            continue
        with path.open("rb") as fh:
            chats = ijson.items(fh, f"{section}.list.item", use_float=True)
            where = partial("{}.list[{}]".format, section)
            for i, chat in enumerate(_json(path, chats, where)):
                yield _checked(path, where(i), chat)


def _mentions(path: Path, needle: bytes) -> bool:
    """Whether the file holds `needle` anywhere: a byte search, far cheaper than a parse."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(needle) >= 0


def _json(path: Path, items: Iterator[Any], where: Callable[[int], str]) -> Iterator[Any]:
    """`items`, with the parser's complaint turned into a one-line error naming the item it was
    reading when the JSON broke (or ended early)."""
    n = 0
    try:
        for item in items:
            yield item
            n += 1
    except ijson.JSONError as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(
            path, tr("not valid JSON ({why}; truncated?)", why=why), where(n)
        ) from None


def _header(path: Path, fh: IO[bytes]) -> dict[str, Any] | None:
    """A single chat's `name`, `type` and `id`, read up to where its `messages` begin; None for
    a whole-account export (`chats.list`). tdesktop writes these keys before `messages`."""
    header: dict[str, Any] = {}
    events = _json(path, ijson.parse(fh, use_float=True), lambda _: tr("top level"))
    for prefix, event, value in events:
        if prefix == "" and event != "start_map" and event != "map_key":
            if event == "end_map":
                break
            raise SourceError(
                path, tr("not a Telegram Desktop export: the top level is not an object")
            )
        if prefix in ("name", "type", "id") and event in ("string", "number"):
            header[prefix] = value
        elif prefix == "messages":
            if event != "start_array":
                raise SourceError(path, tr("'messages' is not a list"), "messages")
            return header
        elif prefix in ("chats", "left_chats"):
            return None
    raise SourceError(path, tr("not a Telegram Desktop export: no 'messages' and no 'chats.list'"))


def _stream_messages(path: Path) -> Iterator[Any]:
    with path.open("rb") as fh:
        items = ijson.items(fh, "messages.item", use_float=True)
        yield from _json(path, items, lambda n: _at("chat", n))


def _group(chat: dict[str, Any], created: datetime | None = None) -> Group:
    name = chat.get("name") or "Telegram group"
    return Group(
        PLATFORM, bot_api_id(chat) or content_key("telegram-chat", name), name, created_at=created
    )


def bot_api_id(chat: dict[str, Any]) -> str | None:
    """The chat's id as the Bot API (and so the live connector) writes it. The export has the
    bare peer id; the Bot API puts -100 before a supergroup's and a minus before a basic
    group's, and imported history must land in the same group as live events."""
    chat_id, kind = chat.get("id"), str(chat.get("type") or "")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        return None if chat_id is None else str(chat_id)
    if chat_id > 0 and kind.endswith("supergroup"):
        return f"-100{chat_id}"
    if chat_id > 0 and kind.endswith("_group"):
        return f"-{chat_id}"
    return str(chat_id)


def _is_group(chat: dict[str, Any]) -> bool:
    # Minimal exports leave out `type`; treat those as groups rather than drop them.
    return chat.get("type") not in NOT_GROUP_TYPES


def _read_chat(
    path: Path, where: str, chat: dict[str, Any], messages: Iterable[Any], ctx: ReadContext
) -> Iterator[Record]:
    group = _group(chat)
    yield group
    for i, raw in enumerate(messages):
        if raw.__class__ is dict and raw.get("type", "message") == "message":  # most rows
            message = _message(path, where, i, raw, ctx)
            if message is not None:
                yield message
        elif not isinstance(raw, dict):
            raise SourceError(path, tr("a message must be an object"), _at(where, i))
        elif raw.get("type") == "service":
            if raw.get("action") == "create_group" and group.created_at is None:
                group = replace(group, created_at=_when(path, where, i, raw, ctx))
                yield group  # again: the store keeps the earliest creation time it is told
            yield from _service(path, where, i, raw, ctx)
        else:
            ctx.skip(_at(where, i), tr("unsupported message type {kind!r}", kind=raw.get("type")))


def _at(where: str, i: int) -> str:
    return f"{where} {tr('message {i}', i=i)}"


def _when(path: Path, where: str, i: int, raw: dict[str, Any], ctx: ReadContext) -> datetime:
    stamp = raw.get("date_unixtime")
    try:
        if stamp is not None:
            return datetime.fromtimestamp(int(stamp), UTC)
        local = raw.get("date")
        if not isinstance(local, str):
            raise ValueError("no date")
        ctx.tz_assumed = True
        return datetime.fromisoformat(local).replace(tzinfo=ctx.tz).astimezone(UTC)
    except (ValueError, TypeError, OverflowError):
        raise SourceError(
            path,
            tr("bad or missing date ({value!r})", value=stamp or raw.get("date")),
            _at(where, i),
        ) from None


@lru_cache(maxsize=65_536)  # the same few thousand senders, a million times
def _person(user_id: Any, name: Any) -> Person | None:
    if user_id is not None:
        return Person(str(user_id), name if isinstance(name, str) else None)
    if isinstance(name, str) and name:
        return Person(None, name)
    return None


def _message(
    path: Path, where: str, i: int, raw: dict[str, Any], ctx: ReadContext
) -> Message | None:
    sender = _person(raw.get("from_id"), raw.get("from"))
    if sender is None:
        ctx.skip(_at(where, i), tr("no sender"))
        return None
    stamp = raw.get("date_unixtime")
    if stamp.__class__ is str and stamp.isdigit():  # the common case, without a call
        sent_at = datetime.fromtimestamp(int(stamp), UTC)
    else:
        sent_at = _when(path, where, i, raw, ctx)
    msg_id = raw.get("id")
    reply = raw.get("reply_to_message_id")
    text = raw.get("text", "")
    carried = _carried(raw)
    if isinstance(text, str):  # one plain run: tdesktop writes no other entity then
        return Message(
            platform_id=str(msg_id) if msg_id is not None else content_key(sent_at, sender, i),
            sender=sender,
            sent_at=sent_at,
            kind=_kind(raw, ()),
            text=text,
            reply_to=str(reply) if reply is not None else None,
            row=i,
            carried=carried,
        )
    entities = raw.get("text_entities")
    if not isinstance(entities, list):
        entities = _entities(text)
    text_parts: list[str] = []
    mentions: list[str] = []
    urls: list[str] = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise SourceError(path, tr("a text entity must be an object"), _at(where, i))
        etext = entity.get("text", "")
        text_parts.append(etext)
        etype = entity.get("type")
        if etype == "plain":
            continue
        if etype == "mention":
            mentions.append(etext)
        elif etype == "mention_name":
            uid = entity.get("user_id")
            mentions.append(f"user{uid}" if uid is not None else etext)
        elif etype == "link":
            urls.append(etext)
        elif etype == "text_link":
            urls.append(entity.get("href") or etext)
    return Message(
        platform_id=str(msg_id) if msg_id is not None else content_key(sent_at, sender, i),
        sender=sender,
        sent_at=sent_at,
        kind=_kind(raw, urls),
        text="".join(text_parts),
        reply_to=str(reply) if reply is not None else None,
        mentions=tuple(mentions),
        urls=tuple(urls),
        row=i,
        carried=carried,
    )


def _carried(raw: dict[str, Any]) -> tuple[str, ...]:
    """What the export says came with a message that its kind does not tell: a forward
    (`forwarded_from`, which names the author, not a handle), an inline bot's buttons."""
    found: tuple[str, ...] = ()
    if "forwarded_from" in raw:
        found = ("forward",)
    if "inline_bot_buttons" in raw:
        found = (*found, "buttons")
    return found


def _entities(text: Any) -> list[dict[str, Any]]:
    """`text` as entity objects, for exports that lack `text_entities`."""
    if isinstance(text, str):
        return [{"type": "plain", "text": text}] if text else []
    if isinstance(text, list):
        return [{"type": "plain", "text": p} if isinstance(p, str) else p for p in text]
    return [{"type": "plain", "text": str(text)}]


def _kind(raw: dict[str, Any], urls: list[str] | tuple[()]) -> MessageKind:
    if "photo" in raw:
        return MessageKind.IMAGE
    media = raw.get("media_type")
    if media is not None:
        return _MEDIA_KINDS.get(media, MessageKind.FILE)
    if "file" in raw:
        return MessageKind.FILE
    for key in _CARD_KEYS:
        if key in raw:
            return MessageKind.CARD
    return MessageKind.LINK if urls else MessageKind.TEXT


def _service(
    path: Path, where: str, i: int, raw: dict[str, Any], ctx: ReadContext
) -> Iterator[MembershipEvent]:
    action = raw.get("action")
    actor = _person(raw.get("actor_id"), raw.get("actor"))
    handled = {
        "create_group",
        "invite_members",
        "remove_members",
        "join_group_by_link",
        "join_group_by_request",
    }
    if action not in handled:
        ctx.skip(
            _at(where, i), tr("service action {action!r} is not a membership change", action=action)
        )
        return
    if actor is None:
        ctx.skip(_at(where, i), tr("{action} without an actor", action=action))
        return
    at = _when(path, where, i, raw, ctx)
    base = str(raw.get("id", content_key(at, action, i)))
    names = raw.get("members") or []
    if not isinstance(names, list):
        raise SourceError(path, tr("'members' is not a list"), _at(where, i))
    names = [n for n in names if isinstance(n, str) and n]

    def event(n: int, member: Person, act: MembershipAction, **kw: Any) -> MembershipEvent:
        return MembershipEvent(f"{base}:{n}", member, act, at, row=i, **kw)

    if action == "join_group_by_link":
        inviter = raw.get("inviter")
        by = Person(None, inviter) if isinstance(inviter, str) and inviter else None
        yield event(0, actor, MembershipAction.JOIN, method=JoinMethod.LINK, actor=by)
    elif action == "join_group_by_request":
        yield event(0, actor, MembershipAction.JOIN, method=JoinMethod.APPROVE)
    elif action == "create_group":
        yield event(0, actor, MembershipAction.JOIN, method=JoinMethod.CREATED)
        for n, name in enumerate((x for x in names if x != actor.name), start=1):
            yield event(
                n, Person(None, name), MembershipAction.JOIN, method=JoinMethod.FOUNDER, actor=actor
            )
    elif action == "invite_members":
        for n, name in enumerate(names):
            if name == actor.name:  # came back on their own
                yield event(n, actor, MembershipAction.JOIN, method=JoinMethod.UNKNOWN)
            else:
                yield event(
                    n,
                    Person(None, name),
                    MembershipAction.JOIN,
                    method=JoinMethod.INVITE,
                    actor=actor,
                )
    else:  # remove_members
        for n, name in enumerate(names):
            if name == actor.name:
                yield event(n, actor, MembershipAction.LEAVE)
            else:
                yield event(n, Person(None, name), MembershipAction.KICK, actor=actor)
