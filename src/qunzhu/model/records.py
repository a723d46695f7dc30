"""Platform-neutral records: everything that happens in a group, whatever its source.

Importers and live connectors both produce these; the store and the engine only ever see these.
They are plain slotted dataclasses with no I/O so that millions of them stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class Platform(StrEnum):
    TELEGRAM = "telegram"
    WECHAT = "wechat"
    WECOM = "wecom"
    QQ = "qq"
    DISCORD = "discord"
    WHATSAPP = "whatsapp"
    CONSOLE = "console"  # the local connector for trying qunzhu by hand


class GroupKind(StrEnum):
    """Health is judged against the kind (PLAYBOOK §1): events live a week, bonds a month+."""

    TEMPORARY = "temporary"
    LONG_TERM = "long_term"
    UNKNOWN = "unknown"


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    STICKER = "sticker"
    LINK = "link"
    FILE = "file"
    RED_PACKET = "red_packet"
    TRANSFER = "transfer"
    CARD = "card"  # mini-program, contact card, location, poll and other structured cards
    SYSTEM = "system"
    RECALL = "recall"


CARRIED = frozenset({"forward", "buttons", "external_reply", "mini_program"})


class MembershipAction(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    KICK = "kick"
    RENAME = "rename"


class JoinMethod(StrEnum):
    INVITE = "invite"
    LINK = "link"  # QR code or invite link scan
    APPROVE = "approve"  # joined by request, approved by an admin
    CREATED = "created"  # created the group: its owner
    FOUNDER = "founder"  # listed as a member when the group was created
    UNKNOWN = "unknown"


class Role(StrEnum):
    OWNER = "owner"
    VICE_OWNER = "vice_owner"
    DUTY_OWNER = "duty_owner"
    ADMIN = "admin"
    KOL = "kol"
    MEMBER = "member"


class Person(NamedTuple):
    """Who did something, as far as the source knows: an id, a name, or both (never neither).

    `user_id` is the platform's stable id when the source has one. Name-only sources (WhatsApp,
    Telegram's invite lists) leave it None and the store resolves the name within the group.
    A tuple, not a dataclass: one is made per message and a million of them must stay cheap.
    """

    user_id: str | None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Community:
    """An operator's brand or project: a named set of groups."""

    name: str


@dataclass(slots=True)
class Group:
    platform: Platform
    platform_id: str
    name: str
    kind: GroupKind = GroupKind.UNKNOWN
    created_at: datetime | None = None
    tz: str = "Asia/Shanghai"


@dataclass(slots=True)
class Message:
    """A member-authored message. Service lines are never Messages: they become MembershipEvents."""

    platform_id: str
    sender: Person
    sent_at: datetime  # aware, UTC
    kind: MessageKind
    text: str = ""
    reply_to: str | None = None  # platform id of the message replied to
    mentions: tuple[str, ...] = ()  # user ids where known, else @names as written
    urls: tuple[str, ...] = ()
    row: int | None = None  # where in the source file (index or line): kept for audit
    # where a forwarded (or externally quoted) message came from, as its Telegram address: a
    # channel's or user's handle ("spamchan"), a private chat's "c/1234567890"; "" for none
    origin: str = ""
    # what came with it that its kind and links do not tell (`CARRIED`): "forward", "buttons",
    # "external_reply", "mini_program"; kept so that a replay applies a newcomer's locks
    carried: tuple[str, ...] = ()


@dataclass(slots=True)
class MembershipEvent:
    platform_id: str  # natural key inside the group (message id, or a content hash)
    member: Person
    action: MembershipAction
    at: datetime
    method: JoinMethod | None = None
    actor: Person | None = None  # who invited or kicked
    new_name: str | None = None  # for RENAME
    row: int | None = None  # where in the source file (index or line): kept for audit


Record = Group | Message | MembershipEvent
"""A source yields a stream of records: a Group, then that group's messages and events, and so on.

A stream rather than a list so that a 1 GB export never has to sit in memory at once."""
