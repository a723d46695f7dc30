"""What live connectors hand the engine, and what the engine asks them to do.

Connectors turn a platform's updates into these (NoneBot's adapter idea: the protocol stays in the
connector), so the engine, the policies and replay never see a Telegram `Update` or a OneBot
`post_type`. Messages, joins, leaves and renames reuse the import records; a join request and a
platform's notice of a change have no import counterpart, so each is its own record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from qunzhu.model.records import Group, MembershipAction, MembershipEvent, Message, Person


@dataclass(slots=True)
class JoinRequest:
    """Someone asks to join; an admission policy approves or rejects it."""

    platform_id: str  # the platform's handle for this request (OneBot `flag`, Telegram user id)
    member: Person
    at: datetime
    answer: str = ""  # what they wrote in the request (OneBot `comment`, Telegram bio)


@dataclass(slots=True)
class Notice:
    """The platform's own message telling the group of a membership change (Telegram's "X
    joined the group"), which a group may take down. Never stored: the change itself comes as
    a MembershipEvent."""

    platform_id: str  # the notice's message id
    member: Person
    at: datetime
    action: MembershipAction


@dataclass(slots=True)
class PictureText:
    """The text the engine read in a message's pictures, after the message itself was judged
    (reading takes half a second a picture, so it happens beside the event path). Moderation
    judges it with the message's own text ("日结 300，详情看图" beside a poster giving the
    WeChat id), acting only where that says more than the message said alone; never stored."""

    platform_id: str  # the message's id
    member: Person  # who sent the message
    at: datetime  # when they sent it
    text: str  # what was read
    said: str = ""  # the message's own text (a caption)
    judged: str = "ham"  # the verdict the message got alone: ham or review


@dataclass(slots=True)
class Opinion:
    """A language model's reading of a message moderation was unsure of, asked beside the
    event path (a second or more a call). Asked with the answer fields empty: the decision it
    is about, held meanwhile, and what that decision showed besides its checks; it comes back
    with them filled in, and moderation settles the decision (`moderation/opinion.py`). Never
    stored."""

    platform_id: str  # the message's id
    member: Person  # who sent it
    at: datetime  # the moment the held decision was made for (the message's, the edit's)
    said: str  # the text the model reads
    decision: dict[str, Any]  # the detector's decision (`Decision.as_dict`)
    shown: dict[str, Any] = field(default_factory=dict)  # the held decision's other reasons
    newcomer: bool = False
    label: str = ""  # what the model said: ad, abuse, normal; "" for no answer
    confidence: float = 0.0
    reason: str = ""
    model: str = ""
    ms: int = 0  # how long the answer took
    error: str = ""  # why there is no answer


@dataclass(frozen=True, slots=True)
class Appeal:
    """A member wrote to the bot in private (Telegram's private chat, QQ's private message):
    what moderation did to them was wrong. Not an event of a group: the engine attaches it to
    the newest thing moderation did to them that nobody answered yet (`store/appeals.py`),
    where the admins find it in the console's appeals."""

    platform_id: str  # the private message's id
    member: Person
    at: datetime
    text: str


@dataclass(slots=True)
class Reaction:
    """A member reacted to a message (Telegram tells a bot that is an admin): accounts that
    never post but react, so that members open their profile and read the ad in their name
    or bio. Moderation looks at who reacted, at most once a day per member; never stored."""

    platform_id: str  # "<message id>:<member id>"
    member: Person
    at: datetime


@dataclass(slots=True)
class Edit:
    """A member changed a message they had sent (Telegram): an approved "你好" edited into an
    ad hours later is an old trick. Moderation judges what the message says now as it judges
    a message, without counting it again; the store keeps the new words in place of the old.
    Never stored as a message of its own."""

    platform_id: str  # the message's id
    member: Person  # who sent it
    at: datetime  # when it was edited
    message: Message  # the message as it reads now


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One member a platform lists in a group now (OneBot's group member list)."""

    member: Person
    joined_at: datetime | None = None  # when the platform says they joined, if it says


@dataclass(slots=True)
class LiveEvent:
    """One thing that happened in one group, as a connector saw it.

    `record` is a Message, a MembershipEvent (join, leave, kick, rename) or a JoinRequest.
    `role` is the author's role in the group where the platform says it (OneBot `sender.role`,
    Telegram chat member status), `kinds` what came with a message besides text ("image",
    "sticker", "card", "mini_program", "forward", "file", "video", "buttons",
    "external_reply"), `images` the pictures' bytes where the connector could fetch them (for
    QR codes), `bio` what the member says of themselves on their profile where the connector
    could read it (Telegram's bio: accounts that join and say "你好" carry their ad there)."""

    connector: str  # name of the connector in qunzhu.toml
    group: Group
    record: (
        Message | MembershipEvent | JoinRequest | Notice | PictureText | Edit | Reaction | Opinion
    )
    role: str = "member"
    kinds: frozenset[str] = frozenset()
    images: tuple[bytes, ...] = ()
    forwarded: tuple[Message, ...] = ()  # messages inside a merged forward, expanded
    bio: str = ""
    tags: frozenset[str] = frozenset()  # the member's tags, filled in by the engine from the store
    # why the member is on the blocklist of the group's community (filled in by the engine)
    blocked: str | None = None
    # what a shared list of spam accounts the connector asked says of the member (CAS): ""
    # where it does not list them, was not asked or did not answer
    listed: str = ""
    pictures: tuple[int, ...] = ()  # the fingerprints of `images` (filled in by the engine)
    # the message a report replies to, as stored (filled in by the engine for a report)
    replied: Message | None = None
    replied_pictures: tuple[int, ...] = ()  # ... and the fingerprints of its pictures

    def kept_out(self) -> tuple[str, str] | None:
        """Why the member is kept out, and by which list: the community's blocklist ("blocklist")
        before a shared list of spam accounts ("cas"); None where neither names them."""
        if self.blocked is not None:
            return "blocklist", self.blocked
        return ("cas", self.listed) if self.listed else None

    def said(self) -> str:
        """What a message says, as moderation reads it: its text, the texts it forwards, and
        the links it carries that its text does not show (a Telegram link behind a word,
        where a QQ card leads), which the domain lists and the contact checks must see; ""
        for what is not a message."""
        record = self.record.message if isinstance(self.record, Edit) else self.record
        if not isinstance(record, Message):
            return ""
        hidden = [url for url in record.urls if url not in record.text]
        return "\n".join([record.text, *(m.text for m in self.forwarded), *hidden]).strip()


class ActionKind(StrEnum):
    DELETE = "delete"
    WARN = "warn"  # a reply to the member; needs only `send`
    MUTE = "mute"
    KICK = "kick"
    BAN = "ban"
    SEND = "send"
    UNMUTE = "unmute"  # lift a mute (an appeal upheld)
    UNBAN = "unban"  # lift a ban: they may join again
    APPROVE = "approve"
    REJECT = "reject"
    NOTIFY_OWNER = "notify_owner"  # a task for a human: what the platform cannot do
    LOCK = "lock"  # nobody but the admins may post (全员禁言: a join raid)
    UNLOCK = "unlock"  # the group may post again; `text`: what the platform said to restore
    TELL = "tell"  # a private message to the member (`text`): how their appeal was answered


@dataclass(slots=True)
class Action:
    """One thing to do on a platform. `id` is the outbox row's id: connectors may use it to
    recognise a retry of the same action."""

    id: int
    kind: ActionKind
    connector: str
    group_id: str  # the platform's group id
    member_id: str | None = None  # the platform's user id
    message_id: str | None = None  # the platform's message id (delete, reply)
    text: str = ""
    seconds: int = 0  # mute length
    request_id: str | None = None  # JoinRequest.platform_id (approve, reject)
    reason: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    expire_s: int = 0  # SEND, WARN: take the message down this long after it went out (0: keep)


class RateLimited(Exception):
    """The platform said "too many requests": try again after `retry_after` seconds
    (Telegram's 429 `parameters.retry_after`)."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        super().__init__(message or f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class ActionFailed(Exception):
    """The platform refused the action for good (no rights, no such message): do not retry.
    `retry` True marks a passing failure (a 5xx, a dropped connection): retry with backoff.
    `unknown` True says the request may have reached the platform before the answer was lost
    (a timeout after sending): a message is then not sent again, a person checks instead."""

    def __init__(self, message: str, retry: bool = False, unknown: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        self.unknown = unknown
