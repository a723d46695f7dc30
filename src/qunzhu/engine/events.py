"""LiveEvent to JSON and back, for the inbox: the event must survive a crash between its
arrival and its processing. Pictures are not kept (they are personal data and large); a
recovered event is judged on its text alone."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from qunzhu.model import (
    Group,
    GroupKind,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
)
from qunzhu.model.live import Edit, JoinRequest, LiveEvent, Notice, Opinion, PictureText, Reaction


def key(event: LiveEvent) -> str:
    """The event's natural key: a platform delivering it twice gives the same key."""
    record = event.record
    kind = type(record).__name__
    # asked again after a refusal, edited again, the pictures of an edit read
    if isinstance(record, JoinRequest | Edit | PictureText):
        return f"{event.group.platform_id}:{kind}:{record.platform_id}:{record.at.timestamp()}"
    if isinstance(record, Opinion):  # a message's own text and its pictures' are asked apart
        said = hashlib.blake2b(record.said.encode(), digest_size=8).hexdigest()
        return f"{event.group.platform_id}:{kind}:{record.platform_id}:{said}"
    return f"{event.group.platform_id}:{kind}:{record.platform_id}"


def encode(event: LiveEvent) -> str:
    data = {
        "group": event.group,
        "type": type(event.record).__name__,
        "record": event.record,
        "role": event.role,
        "kinds": sorted(event.kinds),
        "forwarded": list(event.forwarded),
        "bio": event.bio,
        "listed": event.listed,
    }
    return orjson.dumps(data, default=_plain).decode()


def _plain(value: object) -> object:
    if isinstance(value, tuple):  # Person, a NamedTuple, which orjson leaves to us
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the inbox")


def decode(connector: str, payload: str) -> LiveEvent:
    data = orjson.loads(payload)
    g = data["group"]
    group = Group(
        platform=Platform(g["platform"]),
        platform_id=g["platform_id"],
        name=g["name"],
        kind=GroupKind(g["kind"]),
        created_at=_time(g["created_at"]),
        tz=g["tz"],
    )
    builders = {
        "Message": _message,
        "MembershipEvent": _membership,
        "JoinRequest": _request,
        "Notice": _notice,
        "PictureText": _picture_text,
        "Edit": _edit,
        "Reaction": _reaction,
        "Opinion": _opinion,
    }
    return LiveEvent(
        connector=connector,
        group=group,
        record=builders[data["type"]](data["record"]),
        role=data["role"],
        kinds=frozenset(data["kinds"]),
        forwarded=tuple(_message(m) for m in data["forwarded"]),
        bio=data.get("bio", ""),  # absent from an inbox row written before it was kept
        listed=data.get("listed", ""),
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _person(value: list[Any] | None) -> Person | None:
    return Person(value[0], value[1]) if value else None


def _message(r: dict[str, Any]) -> Message:
    return Message(
        platform_id=r["platform_id"],
        sender=Person(*r["sender"]),
        sent_at=datetime.fromisoformat(r["sent_at"]),
        kind=MessageKind(r["kind"]),
        text=r["text"],
        reply_to=r["reply_to"],
        mentions=tuple(r["mentions"]),
        urls=tuple(r["urls"]),
        origin=r.get("origin", ""),  # absent from an inbox row written before it was kept
        carried=tuple(r.get("carried", ())),
    )


def _membership(r: dict[str, Any]) -> MembershipEvent:
    return MembershipEvent(
        platform_id=r["platform_id"],
        member=Person(*r["member"]),
        action=MembershipAction(r["action"]),
        at=datetime.fromisoformat(r["at"]),
        method=JoinMethod(r["method"]) if r["method"] else None,
        actor=_person(r["actor"]),
        new_name=r["new_name"],
    )


def _notice(r: dict[str, Any]) -> Notice:
    return Notice(
        platform_id=r["platform_id"],
        member=Person(*r["member"]),
        at=datetime.fromisoformat(r["at"]),
        action=MembershipAction(r["action"]),
    )


def _picture_text(r: dict[str, Any]) -> PictureText:
    return PictureText(
        platform_id=r["platform_id"],
        member=Person(*r["member"]),
        at=datetime.fromisoformat(r["at"]),
        text=r["text"],
        said=r["said"],
        judged=r["judged"],
    )


def _request(r: dict[str, Any]) -> JoinRequest:
    return JoinRequest(
        platform_id=r["platform_id"],
        member=Person(*r["member"]),
        at=datetime.fromisoformat(r["at"]),
        answer=r["answer"],
    )


def _edit(r: dict[str, Any]) -> Edit:
    return Edit(
        platform_id=r["platform_id"],
        member=Person(*r["member"]),
        at=datetime.fromisoformat(r["at"]),
        message=_message(r["message"]),
    )


def _reaction(r: dict[str, Any]) -> Reaction:
    return Reaction(r["platform_id"], Person(*r["member"]), datetime.fromisoformat(r["at"]))


def _opinion(r: dict[str, Any]) -> Opinion:
    return Opinion(**{**r, "member": Person(*r["member"]), "at": datetime.fromisoformat(r["at"])})
