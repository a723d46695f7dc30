"""Write records as DiscordChatExporter JSON, one file per channel, as its `JsonMessageWriter` does.

Each demo group becomes its own server (guild) whose `general` channel is the system channel,
so joins show up as `GuildMemberJoin` ("Joined the server."). Discord keeps no trace of leaves
and kicks in a channel's history, so those records are not written: an import of these files
has the community's joins and messages, not its departures. Ids are made snowflake-shaped
(`user_snowflake`, `message_snowflake`) so the files look like the real thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson

from qunzhu.model import Group, MembershipAction, MembershipEvent, Message, MessageKind, Record

EXPORTER_TZ = ZoneInfo("Asia/Shanghai")  # timestamps carry the exporting PC's offset
USER_BASE = 300_000_000_000_000_000
AVATAR = "https://cdn.discordapp.com/embed/avatars/0.png"
CDN = "https://cdn.discordapp.com/attachments"
_UNSAFE = re.compile(r'[\\/:*?"<>|]')
_ATTACHMENTS = {
    MessageKind.IMAGE: ("IMG_2041.jpg", 482_113),
    MessageKind.VIDEO: ("run.mp4", 5_812_344),
    MessageKind.VOICE: ("voice-message.ogg", 38_912),
    MessageKind.FILE: ("活动报名表.xlsx", 12_288),
}
_ROLES = [{"id": "900000000000000001", "name": "Member", "color": None, "position": 1}]


def write(records: Iterable[Record], out_dir: Path, groups: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out_dir)
    writer.run(records)
    return writer.paths


def user_snowflake(user_id: str) -> str:
    """A demo user id (`user10001`) as a Discord-shaped id."""
    return str(USER_BASE + int(user_id.removeprefix("user")))


def message_snowflake(channel_id: str, msg_id: str) -> str:
    """A demo message or event id (`42`, `42:0`) as an id unique across the demo channels."""
    seq = int(msg_id.split(":")[0])
    return str(1_300_000_000_000_000_000 + int(channel_id) % 10_000 * 10**10 + seq)


def channel_snowflake(group: Group) -> str:
    return str(1_100_000_000_000_000_000 + int(group.platform_id))


def _stamp(at: datetime) -> str:
    """Discord keeps milliseconds; .NET leaves the fraction out when it is zero."""
    local = at.astimezone(EXPORTER_TZ)
    return local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")


class _Writer:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.paths: list[Path] = []
        self.fh: IO[bytes] | None = None
        self.count = 0
        self.channel_id = ""
        self.guild_id = ""
        self.names: dict[str, str] = {}  # user id -> latest name, for mentions

    def run(self, records: Iterable[Record]) -> None:
        for record in records:
            if isinstance(record, Message):
                self._emit(self._message(record))
            elif isinstance(record, MembershipEvent):
                if record.action is MembershipAction.JOIN:
                    self._emit(self._join(record))
            elif isinstance(record, Group):
                self._close()
                self._open(record)
        self._close()

    def _open(self, group: Group) -> None:
        self.channel_id = channel_snowflake(group)
        self.guild_id = str(1_200_000_000_000_000_000 + int(group.platform_id))
        name = f"{group.name} - Text Channels - general [{self.channel_id}].json"
        path = self.out_dir / _UNSAFE.sub("_", name)
        self.paths.append(path)
        self.fh = path.open("wb")
        self.count = 0
        preamble = {
            "guild": {"id": self.guild_id, "name": group.name, "iconUrl": AVATAR},
            "channel": {
                "id": self.channel_id,
                "type": "GuildTextChat",
                "categoryId": str(int(self.channel_id) - 1),
                "category": "Text Channels",
                "name": "general",
                "topic": None,
            },
            "dateRange": {"after": None, "before": None},
            "exportedAt": datetime.now(EXPORTER_TZ).isoformat(),
        }
        body = orjson.dumps(preamble, option=orjson.OPT_INDENT_2)
        self.fh.write(body[:-2] + b',\n  "messages": [')

    def _close(self) -> None:
        if self.fh is None:
            return
        self.fh.write(b'\n  ],\n  "messageCount": %d\n}\n' % self.count)
        self.fh.close()
        self.fh = None

    def _emit(self, obj: dict[str, Any]) -> None:
        assert self.fh is not None, "records arrived before their group"
        self.fh.write(b"\n" if self.count == 0 else b",\n")
        self.fh.write(orjson.dumps(obj))
        self.count += 1

    def _user(self, user_id: str, name: str | None) -> dict[str, Any]:
        self.names[user_id] = name or user_id
        flake = user_snowflake(user_id)
        return {
            "id": flake,
            "name": f"u{flake[-5:]}",
            "discriminator": "0000",
            "nickname": name,
            "color": None,
            "isBot": False,
            "roles": _ROLES,
            "avatarUrl": AVATAR,
        }

    def _base(self, msg_id: str, kind: str, at: datetime, content: str, author: Any) -> dict:
        return {
            "id": message_snowflake(self.channel_id, msg_id),
            "type": kind,
            "timestamp": _stamp(at),
            "timestampEdited": None,
            "callEndedTimestamp": None,
            "isPinned": False,
            "content": content,
            "author": author,
            "attachments": [],
            "embeds": [],
            "stickers": [],
            "reactions": [],
            "mentions": [],
            "inlineEmojis": [],
        }

    def _join(self, ev: MembershipEvent) -> dict[str, Any]:
        author = self._user(ev.member.user_id or "user0", ev.member.name)
        return self._base(ev.platform_id, "GuildMemberJoin", ev.at, "Joined the server.", author)

    def _message(self, m: Message) -> dict[str, Any]:
        author = self._user(m.sender.user_id or "user0", m.sender.name)
        # The exporter renders user mentions as "@display name" in `content`.
        prefix = "".join(f"@{self.names.get(uid, uid)} " for uid in m.mentions)
        obj = self._base(
            m.platform_id, "Reply" if m.reply_to else "Default", m.sent_at, prefix + m.text, author
        )
        if m.mentions:
            obj["mentions"] = [self._user(uid, self.names.get(uid)) for uid in m.mentions]
        if m.kind in _ATTACHMENTS:
            file_name, size = _ATTACHMENTS[m.kind]
            attachment_id = message_snowflake(self.channel_id, m.platform_id)
            obj["attachments"] = [
                {
                    "id": attachment_id,
                    "url": f"{CDN}/{self.channel_id}/{attachment_id}/{file_name}",
                    "fileName": file_name,
                    "fileSizeBytes": size,
                }
            ]
        elif m.kind is MessageKind.STICKER:
            obj["stickers"] = [
                {
                    "id": "749054660769218631",
                    "name": "Wave",
                    "format": "Apng",
                    "sourceUrl": "https://media.discordapp.net/stickers/749054660769218631.png",
                }
            ]
        for url in m.urls:
            obj["embeds"].append(_link_embed(url))
        if m.reply_to is not None:
            obj["reference"] = {
                "type": "Default",
                "messageId": message_snowflake(self.channel_id, m.reply_to),
                "channelId": self.channel_id,
                "guildId": self.guild_id,
            }
        return obj


def _link_embed(url: str) -> dict[str, Any]:
    return {
        "title": "Example page",
        "url": url,
        "timestamp": None,
        "description": "",
        "images": [],
        "fields": [],
        "inlineEmojis": [],
    }
