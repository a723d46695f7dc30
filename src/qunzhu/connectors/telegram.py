"""Telegram through the Bot API: updates in by long polling or a webhook, Bot API calls out.

Why aiogram's raw methods and not its Dispatcher: the engine owns the loop, and "no event lost"
needs the getUpdates offset to move only once the engine has stored every event of an update. A
dispatcher confirms updates as soon as it has handed them to its handlers; we confirm them (by
asking for `offset = update_id + 1`) only after `emit` has returned.

Ids follow the Telegram export reader (`qunzhu.sources.telegram`), so that a member seen live is
the member imported from an export: a person is `user{id}` (a channel or an anonymous admin
speaking in the group is `channel{id}`, with the export's bare id), a message is its message id,
a text mention is `user{id}`. A group is the Bot API chat id as a string (`-100…` for a
supergroup), because actions need it as it is; an export names the same group by its bare id.

A user's Bot API id is a plain number; `execute` takes it either way (`123` or `user123`).

A member's profile bio (getChat) comes with their join and their messages, read as
`connectors/profiles.py` says (at most once an hour per member). A bio Telegram does not give
(the member's privacy settings) or a call that fails is "", and never holds up an update.
An edited message comes as an `Edit` of it as it reads now, its pictures fetched again (QR
codes and the text in a replaced picture are read; a picture read before is not read twice).
A reaction comes as a `Reaction`, once a day per member and group (Telegram tells only a bot
that is an admin), with the member's bio.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    Chat,
    ChatJoinRequest,
    ChatMemberUpdated,
    ChatPermissions,
    Document,
    MessageEntity,
    MessageReactionUpdated,
    PhotoSize,
    ReplyParameters,
    Update,
    User,
)
from aiogram.types import Message as TgMessage
from aiogram.utils.token import TokenValidationError
from aiohttp import web
from pydantic import ValidationError

from qunzhu.connectors import APPEAL_HOW, GROUP_ADMIN, Appeals, Emit
from qunzhu.connectors.cas import CAS_TTL_S, Cas
from qunzhu.connectors.profiles import BIO_TIMEOUT, Bios, Reactions
from qunzhu.i18n import tr
from qunzhu.model.live import (
    Action,
    ActionFailed,
    ActionKind,
    Appeal,
    Edit,
    JoinRequest,
    LiveEvent,
    Notice,
    RateLimited,
    Reaction,
)
from qunzhu.model.records import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    "message",
    "edited_message",
    "message_reaction",
    "chat_member",
    "chat_join_request",
    "my_chat_member",
]
"""What we ask Telegram for. `chat_member` must be named: Telegram leaves it out by default."""

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_IMAGE_BYTES = 5 * 2**20  # pictures are fetched for QR codes; bigger ones are not worth it
DOWNLOAD_TIMEOUT = 15  # seconds: a download holds up the batch of updates it is in
CONVERTING = 16  # updates of a batch read at once (pictures fetched), emitted in order
MIN_MUTE = 35  # seconds: Telegram takes a restriction shorter than 30 s as "forever"
GROUP_TYPES = frozenset({"group", "supergroup"})
INSIDE = frozenset({"creator", "administrator", "member"})  # and "restricted" with is_member

_CARD_FIELDS = (
    "contact",
    "venue",
    "location",
    "poll",
    "dice",
    "game",
    "invoice",
    "giveaway",
    "checklist",
    "story",
)
_CONTENT_FIELDS = (
    "text",
    "caption",
    "photo",
    "sticker",
    "voice",
    "video",
    "video_note",
    "animation",
    "document",
    "audio",
    "paid_media",
    *_CARD_FIELDS,
)
_SENDING = ChatPermissions(
    can_send_messages=True,
    can_send_audios=True,
    can_send_documents=True,
    can_send_photos=True,
    can_send_videos=True,
    can_send_video_notes=True,
    can_send_voice_notes=True,
    can_send_polls=True,
    can_send_other_messages=True,
    can_add_web_page_previews=True,
    can_react_to_messages=True,
)
_NO_PERMISSIONS = ChatPermissions(
    can_send_messages=False,
    can_send_audios=False,
    can_send_documents=False,
    can_send_photos=False,
    can_send_videos=False,
    can_send_video_notes=False,
    can_send_voice_notes=False,
    can_send_polls=False,
    can_send_other_messages=False,
    can_add_web_page_previews=False,
    can_react_to_messages=False,
    can_change_info=False,
    can_invite_users=False,
    can_pin_messages=False,
    can_manage_topics=False,
)


def person(user: User) -> Person:
    """A Telegram user as the export reader names them: `user{id}` and their full name."""
    return Person(f"user{user.id}", user.full_name)


def chat_person(chat: Chat) -> Person:
    """A chat speaking in a group (a linked channel, an anonymous admin), as exports name it:
    `channel{bare id}` for channels and supergroups, `chat{bare id}` for basic groups."""
    if chat.type == "group":
        return Person(f"chat{-chat.id}", chat.title)
    bare = -chat.id - 1_000_000_000_000 if chat.id < -1_000_000_000_000 else abs(chat.id)
    return Person(f"channel{bare}", chat.title)


def user_id(value: str | None, what: str = "member_id") -> int:
    """A Bot API user id from `123` or the `user123` of a Person."""
    text = (value or "").strip()
    text = text.removeprefix("user")
    try:
        return int(text)
    except ValueError:
        raise ActionFailed(
            tr("{what} {value!r} is not a Telegram user id", what=what, value=value)
        ) from None


def chat_id(value: str) -> int | str:
    """A Bot API chat id: a number, or a public `@username` left as it is."""
    try:
        return int(value)
    except ValueError:
        return value


def _at(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


class _TooBig(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """A download target that stops the download once it passes `MAX_IMAGE_BYTES`."""

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > MAX_IMAGE_BYTES:
            raise _TooBig
        return super().write(data)


class TelegramConnector:
    """One Telegram bot: its updates become `LiveEvent`s, `Action`s become Bot API calls.

    `mode` "polling" (the default) makes `run` poll getUpdates itself. "webhook" makes `run`
    only wait until cancelled: the caller serves `webhook_app(...)` (and sets the webhook, e.g.
    with `set_webhook`), because the web server is shared with other connectors and the CLI
    knows the address and port. `backoff_base` and `backoff_cap` (seconds) pace reconnection
    after a failure: base, 2×base, 4×base… up to the cap.
    """

    capabilities: frozenset[ActionKind] = GROUP_ADMIN

    def __init__(
        self,
        name: str,
        token: str,
        *,
        api_base: str = "https://api.telegram.org",
        mode: str = "polling",
        webhook_secret: str | None = None,
        poll_timeout: int = 25,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        cas: Cas | None = None,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(
                tr(
                    "Telegram connector {name}: mode must be polling or webhook, not {mode!r}",
                    name=name,
                    mode=mode,
                )
            )
        if mode == "webhook" and not webhook_secret:
            # Without a secret anyone who guesses the address could post forged updates.
            raise ValueError(
                tr("Telegram connector {name}: webhook mode needs a webhook secret", name=name)
            )
        self.name = name
        self.mode = mode
        self.webhook_secret = webhook_secret
        self.poll_timeout = poll_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._token = token
        self._bios = Bios(self._read_bio)  # type: ignore[arg-type]
        self._reactions = Reactions()
        self._cas = cas
        self._listings = Bios(cas, ttl_s=CAS_TTL_S) if cas is not None else None
        self.appeals: Appeals | None = None  # set by the engine: members' private messages
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
        try:
            self.bot = Bot(token, session=session)
        except TokenValidationError:
            raise ValueError(
                tr("Telegram connector {name}: the bot token is malformed", name=name)
            ) from None

    # ---- receiving -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        """Deliver updates until cancelled. In webhook mode, just wait: see the class doc."""
        try:
            if self.mode == "webhook":
                await asyncio.Event().wait()  # never set: cancellation ends it
            else:
                await self._poll(emit)
        finally:
            await self.close()

    async def _poll(self, emit: Emit) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=self.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=self.poll_timeout + 15,
                )
            except TelegramRetryAfter as exc:
                log.warning(
                    tr(
                        "Telegram {name}: too many requests; polling again in {delay}s",
                        name=self.name,
                        delay=exc.retry_after,
                    )
                )
                await asyncio.sleep(exc.retry_after)
                continue
            except Exception as exc:  # network, 5xx, 409, a garbled answer: never give up
                delay = self._backoff(failures)
                failures += 1
                log.warning(
                    tr(
                        "Telegram {name}: cannot get updates ({why}); retrying in {delay}s",
                        name=self.name,
                        why=self._redact(exc),
                        delay=delay,
                    )
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            limit = asyncio.Semaphore(CONVERTING)
            converted = await asyncio.gather(*(self._converted(u, limit) for u in updates))
            for update, events in zip(updates, converted, strict=True):
                try:
                    for event in events:
                        await emit(event)
                except Exception as exc:
                    # Not confirmed: the next getUpdates with the old offset brings it back.
                    delay = self._backoff(failures)
                    failures += 1
                    log.error(
                        tr(
                            "Telegram {name}: storing update {id} failed ({why}); "
                            "fetching it again in {delay}s",
                            name=self.name,
                            id=update.update_id,
                            why=exc,
                            delay=delay,
                        )
                    )
                    await asyncio.sleep(delay)
                    break
                offset = update.update_id + 1  # only now: every event of it is stored

    async def _converted(self, update: Update, limit: asyncio.Semaphore) -> list[LiveEvent]:
        """`events`, CONVERTING of a batch at once (each photo is a download: one at a time, a
        raid's pictures would hold up everything behind them)."""
        async with limit:
            return await self._readable(update) or []

    async def _readable(self, update: Update) -> list[LiveEvent] | None:
        """`events`, or None (logged) for an update this code cannot read: a bug on one
        update must not stop the others."""
        try:
            return await self.events(update)
        except Exception:
            log.exception(
                tr(
                    "Telegram {name}: cannot read update {id}; skipped",
                    name=self.name,
                    id=update.update_id,
                )
            )
            return None

    def _backoff(self, failures: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2**failures)

    def _redact(self, exc: object) -> str:
        """An error's text without the bot token (aiohttp puts URLs, and so the token, in it)."""
        return str(exc).replace(self._token, "***")

    def forget(self, forgotten: Callable[[str], bool]) -> None:
        """Members just forgotten (`qunzhu forget`): their bios, CAS listings and reactions
        read lately are dropped."""
        for kept in (self._bios, self._listings, self._reactions):
            if kept is not None:
                kept.forget(forgotten)

    async def close(self) -> None:
        """Close the HTTP session (a later call opens a new one)."""
        await self.bot.session.close()
        if self._cas is not None:
            await self._cas.close()

    async def events(self, update: Update) -> list[LiveEvent]:
        """What one update means to the engine: zero, one or several events, each with what
        CAS says of its member where the operator asks CAS."""
        found = await self._events(update)
        if self._listings is not None:
            for event in found:
                member = _member_of(event)
                event.listed = await self._listings(member) if member else ""
        return found

    async def _events(self, update: Update) -> list[LiveEvent]:
        if update.message is not None:
            if update.message.chat.type == "private":
                await self._appeal(update.message)
                return []  # a member's word to the bot, not an event of a group
            return await self._message_events(update.message)
        if update.edited_message is not None:
            return await self._edit_events(update.edited_message)
        if update.message_reaction is not None:
            return await self._reaction_events(update.message_reaction)
        if update.chat_member is not None:
            return await self._member_events(update.chat_member)
        if update.my_chat_member is not None:  # the bot itself added or removed
            return await self._member_events(update.my_chat_member)
        if update.chat_join_request is not None:
            return self._join_request_events(update.chat_join_request)
        return []

    async def _appeal(self, msg: TgMessage) -> None:
        """A member wrote to the bot in private: handed to `appeals` (an appeal against what
        moderation did to them), whose answer is sent back; /start is answered with what the
        bot is for. Nothing where nobody set `appeals` (the bot reads groups only)."""
        said = (msg.text or msg.caption or "").strip()
        user = msg.from_user
        if self.appeals is None or user is None or user.is_bot or not said:
            return
        if said.startswith(("/start", "/help")):
            answer: str | None = tr(APPEAL_HOW)
        else:
            answer = await self.appeals(
                Appeal(str(msg.message_id), person(user), _at(msg.date), said)
            )
        if answer:
            try:
                await self.bot.send_message(chat_id=msg.chat.id, text=answer)
            except Exception as exc:  # the member blocked the bot meanwhile, a network error
                log.warning(
                    tr(
                        "Telegram {name}: cannot answer {user} in private: {why}",
                        name=self.name,
                        user=user.id,
                        why=self._redact(exc),
                    )
                )

    def _group(self, chat: Chat) -> Group:
        return Group(Platform.TELEGRAM, str(chat.id), chat.title or str(chat.id))

    async def _message_events(self, msg: TgMessage) -> list[LiveEvent]:
        if msg.chat.type not in GROUP_TYPES:
            return []  # private chats and channels are not communities
        group = self._group(msg.chat)
        at = _at(msg.date)
        actor = person(msg.from_user) if msg.from_user is not None else None

        def membership(user: User, action: MembershipAction, bio: str = "", **kw: Any) -> LiveEvent:
            # named as the member update of the same change names it: Telegram tells a join
            # or a leave both ways, and the engine keeps the first it reads of one key
            record = MembershipEvent(
                _change_id(msg.chat.id, user.id, at), person(user), action, at, **kw
            )
            return LiveEvent(self.name, group, record, bio=bio)

        def notice(user: User, action: MembershipAction) -> LiveEvent:
            # the service message itself, which a group may have taken down
            return LiveEvent(
                self.name, group, Notice(str(msg.message_id), person(user), at, action)
            )

        if msg.new_chat_members:
            joins = [
                membership(m, MembershipAction.JOIN, await self._bio(m), method=JoinMethod.LINK)
                if msg.from_user is None or msg.from_user.id == m.id
                else membership(
                    m,
                    MembershipAction.JOIN,
                    await self._bio(m),
                    method=JoinMethod.INVITE,
                    actor=actor,
                )
                for m in msg.new_chat_members
            ]
            return [*joins, notice(msg.new_chat_members[0], MembershipAction.JOIN)]
        if msg.left_chat_member is not None:
            gone = msg.left_chat_member
            if msg.from_user is None or msg.from_user.id == gone.id:
                return [
                    membership(gone, MembershipAction.LEAVE),
                    notice(gone, MembershipAction.LEAVE),
                ]
            kicked = membership(gone, MembershipAction.KICK, actor=actor)
            return [kicked, notice(gone, MembershipAction.KICK)]
        if (msg.group_chat_created or msg.supergroup_chat_created) and msg.from_user is not None:
            return [membership(msg.from_user, MembershipAction.JOIN, method=JoinMethod.CREATED)]
        if all(getattr(msg, f, None) in (None, "", []) for f in _CONTENT_FIELDS):
            return []  # other service messages: pins, title changes, topics, video chats
        return [await self._message_event(group, msg)]

    async def _reaction_events(self, update: MessageReactionUpdated) -> list[LiveEvent]:
        """Someone reacted (`Reaction`), with their bio; a reaction taken back, or given in
        a channel's or an anonymous admin's name, says nothing about a member."""
        user = update.user
        if update.chat.type not in GROUP_TYPES or user is None or not update.new_reaction:
            return []
        if not self._reactions.due((update.chat.id, user.id)):
            return []
        record = Reaction(f"{update.message_id}:{user.id}", person(user), _at(update.date))
        bio = await self._bio(user)
        return [LiveEvent(self.name, self._group(update.chat), record, bio=bio)]

    async def _edit_events(self, msg: TgMessage) -> list[LiveEvent]:
        """A message a member changed, as it reads now (`Edit`)."""
        if msg.chat.type not in GROUP_TYPES:
            return []
        event = await self._message_event(self._group(msg.chat), msg)
        record = cast(Message, event.record)
        edited = datetime.fromtimestamp(msg.edit_date, UTC) if msg.edit_date else record.sent_at
        event.record = Edit(record.platform_id, record.sender, edited, record)
        return [event]

    async def _message_event(self, group: Group, msg: TgMessage) -> LiveEvent:
        role = "member"
        bio = ""
        if msg.sender_chat is not None:
            sender = chat_person(msg.sender_chat)
            # The group itself (an anonymous admin) or its linked channel: staff, not members.
            if msg.sender_chat.id == msg.chat.id or msg.is_automatic_forward:
                role = "admin"
        elif msg.from_user is not None:
            sender = person(msg.from_user)
            bio = await self._bio(msg.from_user)
        else:
            sender = Person(None, "?")
        text = msg.text if msg.text is not None else (msg.caption or _file_text(msg))
        entities = (msg.entities if msg.text is not None else msg.caption_entities) or []
        mentions, urls = _entities(text, entities)
        urls = (*urls, *_button_urls(msg))
        kind, kinds = _kind(msg, urls)
        reply = msg.reply_to_message
        if reply is not None and reply.forum_topic_created is not None:
            reply = None  # in a forum every message "replies" to its topic's first message
        record = Message(
            platform_id=str(msg.message_id),
            sender=sender,
            sent_at=_at(msg.date),
            kind=kind,
            text=text,
            reply_to=str(reply.message_id) if reply is not None else None,
            mentions=mentions,
            urls=urls,
            origin=_origin(msg),
        )
        if msg.photo:
            images = await self._photo(msg.photo)
        elif msg.document is not None and _picture_file(msg.document):
            small = (msg.document.file_size or 0) <= MAX_IMAGE_BYTES  # unknown: getFile tells
            images = await self._download(msg.document.file_id) if small else ()
        else:
            images = ()
        return LiveEvent(
            self.name,
            group,
            record,
            role=role,
            kinds=kinds,
            images=images,
            forwarded=_quoted(msg),
            bio=bio,
        )

    async def _bio(self, user: User) -> str:
        """The member's profile bio (`connectors/profiles.py`)."""
        if user.is_bot:
            return ""  # a bot has a description, set by whoever made it, not a bio
        return await self._bios(user.id)

    async def _read_bio(self, user: int) -> str | None:
        """The bio ("" for none shown), None where the call failed."""
        try:
            found = await self.bot.get_chat(chat_id=user, request_timeout=BIO_TIMEOUT)
        except TelegramRetryAfter as exc:  # the bot's other calls matter more than bios
            self._bios.pause(exc.retry_after)
            return None
        except Exception as exc:  # a lost connection, a user gone
            log.debug("Telegram %s: no bio for %s (%s)", self.name, user, self._redact(exc))
            return None
        return found.bio or ""

    async def _photo(self, sizes: list[PhotoSize]) -> tuple[bytes, ...]:
        """The largest size of a picture that fits `MAX_IMAGE_BYTES`, or nothing."""
        fitting = [s for s in sizes if s.file_size is None or s.file_size <= MAX_IMAGE_BYTES]
        if not fitting:
            return ()
        best = max(fitting, key=lambda s: (s.width * s.height, s.file_size or 0))
        return await self._download(best.file_id)

    async def _download(self, file_id: str) -> tuple[bytes, ...]:
        """A picture's bytes, or nothing: a picture we cannot fetch is judged on its caption
        alone, it never holds up the updates."""
        try:
            file = await self.bot.get_file(file_id, request_timeout=DOWNLOAD_TIMEOUT)
            if not file.file_path or (file.file_size or 0) > MAX_IMAGE_BYTES:
                return ()
            buffer = _CappedBuffer()
            await self.bot.download_file(file.file_path, buffer, timeout=DOWNLOAD_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except _TooBig:
            return ()
        except Exception as exc:
            log.warning(
                tr(
                    "Telegram {name}: cannot download a picture ({why})",
                    name=self.name,
                    why=self._redact(exc),
                )
            )
            return ()
        return (buffer.getvalue(),)

    async def _member_events(self, update: ChatMemberUpdated) -> list[LiveEvent]:
        if update.chat.type not in GROUP_TYPES:
            return []
        old, new = update.old_chat_member, update.new_chat_member
        was, now = _inside(old), _inside(new)
        if was == now:
            return []  # a promotion or a restriction: not a membership change
        user = new.user
        by = person(update.from_user) if update.from_user.id != user.id else None
        if now:
            action = MembershipAction.JOIN
            if update.via_join_request:
                method = JoinMethod.APPROVE
            elif by is not None:
                method = JoinMethod.INVITE
            else:
                method = JoinMethod.LINK
        else:
            method = None
            kicked = new.status == "kicked" or by is not None
            action = MembershipAction.KICK if kicked else MembershipAction.LEAVE
        at = _at(update.date)
        record = MembershipEvent(
            _change_id(update.chat.id, user.id, at),
            person(user),
            action,
            at,
            method=method,
            actor=by,
        )
        bio = await self._bio(user) if action is MembershipAction.JOIN else ""
        return [LiveEvent(self.name, self._group(update.chat), record, bio=bio)]

    def _join_request_events(self, request: ChatJoinRequest) -> list[LiveEvent]:
        if request.chat.type not in GROUP_TYPES:
            return []
        record = JoinRequest(
            platform_id=str(request.from_user.id),
            member=person(request.from_user),
            at=_at(request.date),
            answer=request.bio or "",
        )
        return [LiveEvent(self.name, self._group(request.chat), record)]

    # ---- webhook ---------------------------------------------------------------------------

    async def handle_webhook(self, headers: Mapping[str, str], body: bytes, emit: Emit) -> int:
        """One webhook delivery; returns the HTTP status to answer. 500 when `emit` fails, so
        that Telegram delivers the update again (it retries anything but a 2xx)."""
        given = _header(headers, SECRET_HEADER)
        if (
            self.webhook_secret is None
            or given is None
            or not hmac.compare_digest(given.encode(), self.webhook_secret.encode())
        ):
            return 401
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                return 400
            update = Update.model_validate(data, context={"bot": self.bot})
        except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError too
            return 400
        events = await self._readable(update)
        if events is None:
            return 200  # the same update would fail again: do not make Telegram resend it
        try:
            for event in events:
                await emit(event)
        except Exception as exc:
            log.error(
                tr(
                    "Telegram {name}: storing update {id} failed ({why}); Telegram will resend it",
                    name=self.name,
                    id=update.update_id,
                    why=exc,
                )
            )
            return 500
        return 200

    def webhook_app(self, emit: Emit, path: str = "/telegram") -> web.Application:
        """An aiohttp application that feeds POSTs on `path` to `handle_webhook`."""

        async def receive(request: web.Request) -> web.Response:
            body = await request.read()
            return web.Response(status=await self.handle_webhook(request.headers, body, emit))

        app = web.Application()
        app.router.add_post(path, receive)
        return app

    async def set_webhook(self, url: str) -> None:
        """Point Telegram at `url` with our secret and the updates we need (Telegram does not
        send `chat_member` updates unless asked)."""
        await self.bot.set_webhook(
            url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES
        )

    # ---- acting ----------------------------------------------------------------------------

    async def execute(self, action: Action) -> str | None:
        """Do one action; the id of a message sent. A message already gone counts as deleted:
        the action is a retry, or someone was quicker. Raises `RateLimited` or `ActionFailed`
        (with `retry` for passing failures: a 5xx, a dropped connection)."""
        if action.kind not in self.capabilities:
            raise ActionFailed(
                tr("Telegram cannot do {kind}: a task for a human", kind=action.kind.value)
            )
        try:
            return await self._call(action)
        except TelegramRetryAfter as exc:
            raise RateLimited(float(exc.retry_after), self._redact(exc.message)) from exc
        except TelegramBadRequest as exc:
            gone = "message to delete not found" in exc.message.lower()
            if action.kind is ActionKind.DELETE and gone:
                return None
            raise ActionFailed(self._refused(action, exc)) from exc
        except TelegramEntityTooLarge as exc:
            raise ActionFailed(self._refused(action, exc)) from exc
        except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
            # the request may have been carried out before the answer was lost
            raise ActionFailed(self._unanswered(action, exc), retry=True, unknown=True) from exc
        except TelegramAPIError as exc:  # 401, 403, 404, 409, a migrated group
            raise ActionFailed(self._refused(action, exc)) from exc
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            raise ActionFailed(self._unanswered(action, exc), retry=True) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ActionFailed(self._unanswered(action, exc), retry=True, unknown=True) from exc

    def _refused(self, action: Action, exc: TelegramAPIError) -> str:
        return tr(
            "Telegram refused to {kind}: {why}",
            kind=action.kind.value,
            why=self._redact(exc.message),
        )

    def _unanswered(self, action: Action, exc: BaseException) -> str:
        why = exc.message if isinstance(exc, TelegramAPIError) else exc
        return tr(
            "Telegram did not answer {kind}: {why}",
            kind=action.kind.value,
            why=self._redact(why) or type(exc).__name__,
        )

    async def _lock(self, chat: int) -> str:
        """Take every member's rights away (admins keep theirs); what the group allowed
        before, for the unlock to restore. A retry finding the group locked already returns
        "" (restore the sending rights) rather than the lock itself."""
        try:
            before = (await self.bot.get_chat(chat_id=chat)).permissions
        except ClientDecodeError:  # a chat this aiogram cannot read: lock all the same
            log.warning(
                tr(
                    "Telegram {name}: cannot read the rights of chat {chat} before locking it",
                    name=self.name,
                    chat=chat,
                )
            )
            before = None
        await self.bot.set_chat_permissions(chat_id=chat, permissions=_NO_PERMISSIONS)
        kept = before.model_dump_json(exclude_none=True) if before is not None else ""
        return "" if kept == _LOCKED else kept

    async def _call(self, action: Action) -> str | None:
        bot, chat, kind = self.bot, chat_id(action.group_id), action.kind
        sender = _sender_chat(action.member_id)
        if sender is not None and kind in _MEMBER_ACTIONS:
            return await self._channel(chat, sender, kind)
        if kind is ActionKind.DELETE:
            message = user_id(action.message_id, "message_id")
            await bot.delete_message(chat_id=chat, message_id=message)
        elif kind is ActionKind.WARN or kind is ActionKind.SEND:
            if not action.text:
                raise ActionFailed(tr("Telegram: nothing to send, the text is empty"))
            reply = None
            if kind is ActionKind.WARN and action.message_id:
                # Sent even when the message is gone: the warning usually follows its deletion.
                reply = ReplyParameters(
                    message_id=user_id(action.message_id, "message_id"),
                    allow_sending_without_reply=True,
                )
            sent = await bot.send_message(chat_id=chat, text=action.text, reply_parameters=reply)
            return str(sent.message_id)
        elif kind is ActionKind.MUTE:
            until = int(time.time()) + max(action.seconds, MIN_MUTE) if action.seconds > 0 else None
            await bot.restrict_chat_member(
                chat_id=chat,
                user_id=user_id(action.member_id),
                permissions=_NO_PERMISSIONS,
                until_date=until,  # None: until an admin lifts it
            )
        elif kind is ActionKind.KICK:  # Telegram has no kick: ban, then lift the ban
            member = user_id(action.member_id)
            await bot.ban_chat_member(chat_id=chat, user_id=member)
            await bot.unban_chat_member(chat_id=chat, user_id=member, only_if_banned=True)
        elif kind is ActionKind.BAN:
            await bot.ban_chat_member(chat_id=chat, user_id=user_id(action.member_id))
        elif kind is ActionKind.UNMUTE:  # the sending rights back; the group's defaults rule
            await bot.restrict_chat_member(
                chat_id=chat, user_id=user_id(action.member_id), permissions=_SENDING
            )
        elif kind is ActionKind.UNBAN:
            member = user_id(action.member_id)
            await bot.unban_chat_member(chat_id=chat, user_id=member, only_if_banned=True)
        elif kind is ActionKind.LOCK:
            return await self._lock(chat)
        elif kind is ActionKind.UNLOCK:  # what the group allowed before the lock
            restore = ChatPermissions.model_validate_json(action.text) if action.text else _SENDING
            await bot.set_chat_permissions(
                chat_id=chat, permissions=restore, use_independent_chat_permissions=True
            )
        elif kind is ActionKind.TELL:  # a private chat's id is the member's
            sent = await bot.send_message(chat_id=user_id(action.member_id), text=action.text)
            return str(sent.message_id)
        elif kind is ActionKind.APPROVE:
            member = user_id(action.request_id or action.member_id, "request_id")
            await bot.approve_chat_join_request(chat_id=chat, user_id=member)
        elif kind is ActionKind.REJECT:
            member = user_id(action.request_id or action.member_id, "request_id")
            await bot.decline_chat_join_request(chat_id=chat, user_id=member)
        return None

    async def _channel(self, chat: int | str, sender: int, kind: ActionKind) -> None:
        """A member speaking as a channel ("channel{id}", Telegram lets members post in a
        group as their channel): a chat cannot be muted or kicked, only banned from posting
        here (`banChatSenderChat`), so every rung past the warning bans it; UNMUTE and UNBAN
        lift that."""
        if kind in (ActionKind.UNMUTE, ActionKind.UNBAN):
            await self.bot.unban_chat_sender_chat(chat_id=chat, sender_chat_id=sender)
        else:
            await self.bot.ban_chat_sender_chat(chat_id=chat, sender_chat_id=sender)


def _sender_chat(member: str | None) -> int | None:
    """The Bot API id of a channel a member speaks as (`chat_person`'s "channel{bare id}"),
    None for a user."""
    if not member or not member.startswith("channel") or not member[7:].isdigit():
        return None
    return -(int(member[7:]) + 1_000_000_000_000)


# what is done to a member, which for a channel is a ban or its lifting
_MEMBER_ACTIONS = frozenset(
    {ActionKind.MUTE, ActionKind.KICK, ActionKind.BAN, ActionKind.UNMUTE, ActionKind.UNBAN}
)
_LOCKED = _NO_PERMISSIONS.model_dump_json(exclude_none=True)


def _change_id(chat: int, user: int, at: datetime) -> str:
    """One membership change's id, the same from a service message and a member update."""
    return f"cm:{chat}:{user}:{int(at.timestamp())}"


def _inside(member: Any) -> bool:
    status = str(getattr(member.status, "value", member.status))
    return status in INSIDE or (status == "restricted" and bool(member.is_member))


def _member_of(event: LiveEvent) -> int | None:
    """The account an event is about, where CAS could list it: the user who wrote, joined,
    asked to join or reacted (`person` names them user{id}); not a channel or the group
    posting in its own name, and not someone leaving."""
    record = event.record.message if isinstance(event.record, Edit) else event.record
    if isinstance(record, Message) and event.role == "member":
        person = record.sender
    elif isinstance(record, JoinRequest | Reaction) or (
        isinstance(record, MembershipEvent) and record.action is MembershipAction.JOIN
    ):
        person = record.member
    else:
        return None
    user = (person.user_id or "").removeprefix("user")
    return int(user) if user.isdigit() else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, ignoring case (aiohttp's headers do; a plain dict does not)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _file_text(msg: TgMessage) -> str:
    """A file sent without a caption, by its name ("[文件]兼职名单 加V abc12345.xlsx", as QQ
    shows one): a name carries an ad as a caption would."""
    name = msg.document.file_name if msg.document is not None else None
    return f"[文件]{name}" if name and name.strip() else ""


def _origin(msg: TgMessage) -> str:
    """Where a forwarded or externally quoted message, or a shared story, came from, as its
    t.me address names it (`Message.origin`): a channel's, group's or user's handle, a
    private channel's or group's "c/<id>" (how t.me/c/ links name them); "" for a hidden
    user or none."""
    origin = msg.forward_origin
    if origin is None and msg.external_reply is not None:
        origin = msg.external_reply.origin
    if origin is None:
        story = msg.story or msg.reply_to_story
        return _address(story.chat) if story is not None else ""
    chat = getattr(origin, "chat", None) or getattr(origin, "sender_chat", None)
    if chat is not None:
        return _address(chat)
    user = getattr(origin, "sender_user", None)
    return user.username.lower() if user is not None and user.username else ""


def _address(chat: Chat) -> str:
    """A chat as its t.me address names it: its handle, or "c/<id>" for a private channel or
    supergroup; "" for a chat that has neither."""
    if chat.username:
        return chat.username.lower()
    return f"c/{-chat.id - 10**12}" if chat.id < -(10**12) else ""


def _quoted(msg: TgMessage) -> tuple[Message, ...]:
    """The words a reply quotes from another chat's message: the group reads them under the
    reply, so moderation does (an ad channel's post shown without forwarding it)."""
    quote = msg.quote
    if msg.external_reply is None or quote is None or not quote.text.strip():
        return ()
    sender = Person(None, "?")
    return (
        Message(f"{msg.message_id}:quote", sender, _at(msg.date), MessageKind.TEXT, quote.text),
    )


def _button_urls(msg: TgMessage) -> tuple[str, ...]:
    """The links of the buttons under a message (an inline bot's answer, a channel post
    forwarded with them): where an ad puts its link, out of the text."""
    markup = msg.reply_markup
    rows = getattr(markup, "inline_keyboard", None) or []
    return tuple(b.url for row in rows for b in row if getattr(b, "url", None))


def _entities(text: str, entities: list[MessageEntity]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Mentions (`@name` as written, `user{id}` for a mention by name) and links. Offsets are
    in UTF-16 units: `extract_from` counts them right for emoji and other astral characters."""
    mentions: list[str] = []
    urls: list[str] = []
    for entity in entities:
        if entity.type == "mention":
            mentions.append(entity.extract_from(text))
        elif entity.type == "text_mention" and entity.user is not None:
            mentions.append(f"user{entity.user.id}")
        elif entity.type == "url":
            urls.append(entity.extract_from(text))
        elif entity.type == "text_link" and entity.url:
            urls.append(entity.url)
    return tuple(mentions), tuple(urls)


def _picture_file(document: Document) -> bool:
    """A picture sent as a file: the way an ad poster skips Telegram's compression, and any
    check that looks at photos only."""
    return (document.mime_type or "").startswith("image/")


def _kind(msg: TgMessage, urls: tuple[str, ...]) -> tuple[MessageKind, frozenset[str]]:
    """The message's kind and what came with it besides text. An animation also carries a
    `document` (Bot API, for old clients), so it is looked at first."""
    kinds: set[str] = set()
    if msg.forward_origin is not None:
        kinds.add("forward")
    if msg.external_reply is not None:
        kinds.add("external_reply")
    if getattr(msg.reply_markup, "inline_keyboard", None):
        kinds.add("buttons")
    if msg.photo:
        kind = MessageKind.IMAGE
        kinds.add("image")
    elif msg.sticker is not None:
        kind = MessageKind.STICKER
        kinds.add("sticker")
    elif msg.voice is not None:
        kind = MessageKind.VOICE
    elif msg.video is not None or msg.video_note is not None or msg.animation is not None:
        kind = MessageKind.VIDEO
        kinds.add("video")
    elif msg.document is not None or msg.audio is not None:
        kind = MessageKind.FILE
        kinds.add("file")
        if msg.document is not None and _picture_file(msg.document):
            kinds.add("image")  # a picture sent as a file, uncompressed: a picture all the same
    elif any(getattr(msg, f, None) is not None for f in _CARD_FIELDS):
        kind = MessageKind.CARD
        kinds.add("card")
    else:
        kind = MessageKind.LINK if urls else MessageKind.TEXT
    return kind, frozenset(kinds)
