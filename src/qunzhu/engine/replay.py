"""Stored history through the current policies, in dry-run: what qunzhu would have done.

The same policy objects as live, fed the stored messages and membership events of the groups
in the order they happened, with the members' stored roles, their pictures' fingerprints, the
community's blocklist as it stands and, for a report, the stored message it replies to, as
the engine gives them (and the ads, contacts and pictures people confirmed, through the
policies' banks: `service.replay_policies`). Nothing is written and nothing is sent: what
policies remember ("reminded once") lives in memory for the replay only. An operator runs it
before switching moderation to `enforce`, to see every message it would have deleted and
why. Not the entry question: history holds no answers to a question nobody asked.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from qunzhu.engine.policies import (
    EARLIER_COPY,
    CaptchaPolicy,
    ModerationPolicy,
    Outcome,
    Policy,
    decide_all,
    is_report,
)
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
from qunzhu.model.live import LiveEvent
from qunzhu.moderation.verdicts import SPAM
from qunzhu.store import blocklist, pictures
from qunzhu.store import schema as t
from qunzhu.store.ingest import to_ms
from qunzhu.store.queries import stored_message

READ_AHEAD = 20_000  # stored messages read ahead, all the replayed groups together

_KINDS = {
    MessageKind.IMAGE: "image",
    MessageKind.VIDEO: "video",
    MessageKind.STICKER: "sticker",
    MessageKind.FILE: "file",
    MessageKind.CARD: "card",
    MessageKind.LINK: "link",
}


def stored_kinds(kind: str, urls: str | None, carried: str | None = None) -> frozenset[str]:
    """What a stored message's kind, links and `carried` tell the detector came with it
    (`Context.kinds`; connectors say it live), for a replay and for the day the engine reads
    back at start."""
    found = {_KINDS[MessageKind(kind)]} if kind in _KINDS else set()
    if urls:
        found.add("link")
    if carried:
        found.update(carried.split())
    return frozenset(found)


class MemoryMarks:
    """`Marks` that live as long as the replay."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], float] = {}

    def get(self, policy: str, key: str) -> float | None:
        return self._marks.get((policy, key))

    def many(self, policy: str, keys: Sequence[str]) -> dict[str, float]:
        return {k: self._marks[(policy, k)] for k in keys if (policy, k) in self._marks}

    def put(self, policy: str, key: str, at: float) -> None:
        self._marks[(policy, key)] = at

    def since(self, policy: str, prefix: str, at: float) -> list[tuple[str, float]]:
        return [
            (k, t)
            for (p, k), t in self._marks.items()
            if p == policy and k.startswith(prefix) and t >= at
        ]


@dataclass
class GroupReplay:
    """What the policies would have done in one group."""

    name: str
    platform: str
    platform_id: str
    messages: int = 0
    membership_events: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)  # "moderation:spam" -> count
    actions: Counter[str] = field(default_factory=Counter)  # "delete" -> count

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.name,
            "platform": self.platform,
            "platform_id": self.platform_id,
            "messages": self.messages,
            "membership_events": self.membership_events,
            "verdicts": dict(sorted(self.verdicts.items())),
            "actions": dict(sorted(self.actions.items())),
        }


@dataclass(frozen=True, slots=True)
class Judged:
    """One stored message and what the policies said about it (not plain ham)."""

    group: str
    message_id: str  # the platform's id
    verdict: str
    actions: tuple[str, ...]
    checks: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "message_id": self.message_id,
            "verdict": self.verdict,
            "actions": list(self.actions),
            "checks": list(self.checks),
        }


def replay(
    engine: Engine,
    policies_for: Callable[[str, str], Sequence[Policy]],
    groups: Sequence[int],
    since: date | None = None,
    on_message: Callable[[Judged], None] | None = None,
) -> list[GroupReplay]:
    """Replay the groups (store ids) through `policies_for(platform, platform id)`; call
    `on_message` for every message some policy did more than let pass. `since` is a day in
    each group's own time zone. The groups' events are replayed together in the order they
    happened, as the engine met them: the groups of a community share what moderation
    remembers (the same ad in three groups within a day), which one group after another would
    have mixed up, a group's last day meeting the next group's first."""
    with engine.connect() as conn:
        # every group's messages are read at once: the rows held at a time are shared out
        chunk = max(200, READ_AHEAD // max(1, len(groups)))
        replays = [
            _GroupReplaying(conn, group_id, policies_for, since, chunk) for group_id in groups
        ]
        by_id = {r.result.platform_id: r for r in replays}
        streams = [_timed(i, r.events) for i, r in enumerate(replays)]
        for *_key, i, event in heapq.merge(*streams, key=lambda x: x[:3]):
            for outcome in replays[i].play(conn, event, on_message):
                # a member's earlier copies of a campaign called spam, as the engine takes
                # them down in their groups (`Runtime._take_down`)
                for group, message, member in outcome.copies:
                    if group in by_id:
                        by_id[group].take_down(member, message, on_message)
    return [r.result for r in replays]


class _GroupReplaying:
    """One group of a replay: its stored events, policies, marks and figures."""

    def __init__(
        self,
        conn: Connection,
        group_id: int,
        policies_for: Callable[[str, str], Sequence[Policy]],
        since: date | None,
        chunk: int,
    ) -> None:
        row = conn.execute(select(t.groups).where(t.groups.c.id == group_id)).one()
        group = Group(
            Platform(row.platform), row.platform_id, row.name, GroupKind(row.kind), tz=row.tz
        )
        self.group_id, self.name = group_id, row.name
        self.result = GroupReplay(row.name, row.platform, row.platform_id)
        # history holds no answers to a question nobody asked: a captcha would remove every
        # newcomer of the past, which says nothing about the group
        self.policies = [
            p
            for p in policies_for(row.platform, row.platform_id)
            if not isinstance(p, CaptchaPolicy)
        ]
        self.marks = MemoryMarks()
        self.removed: set[str] = set()  # messages moderation called spam here
        start = datetime.combine(since, time(), ZoneInfo(row.tz)) if since else None
        self.events = _events(conn, group_id, group, start, chunk)

    def play(
        self, conn: Connection, event: LiveEvent, on_message: Callable[[Judged], None] | None
    ) -> list[Outcome]:
        result = self.result
        if isinstance(event.record, Message):
            result.messages += 1
            record = event.record
            if record.reply_to and is_report(record.text):
                event.replied = stored_message(conn, self.group_id, record.reply_to)
                event.replied_pictures = pictures.of_message(conn, self.group_id, record.reply_to)
        else:
            result.membership_events += 1
        outcomes = [o for _, o in decide_all(self.policies, event, self.marks)]
        self._count(outcomes)
        if isinstance(event.record, Message):
            if any(o.policy == ModerationPolicy.name and o.verdict == SPAM for o in outcomes):
                self.removed.add(event.record.platform_id)
            if on_message and outcomes:
                on_message(_judged(self.name, event.record.platform_id, outcomes))
        return outcomes

    def take_down(
        self, member: str, message: str, on_message: Callable[[Judged], None] | None
    ) -> None:
        """An earlier copy of a campaign called spam, unless moderation removed it already."""
        policy = next((p for p in self.policies if isinstance(p, ModerationPolicy)), None)
        if policy is None or message in self.removed:
            return
        self.removed.add(message)
        outcome = policy.known_copy(member, message, EARLIER_COPY)
        self._count([outcome])
        if on_message:
            on_message(_judged(self.name, message, [outcome]))

    def _count(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.result.verdicts[f"{outcome.policy}:{outcome.verdict}"] += 1
            self.result.actions.update(d.kind.value for d in outcome.actions)


def _timed(
    position: int, events: Iterator[LiveEvent]
) -> Iterator[tuple[datetime, int, int, LiveEvent]]:
    """A group's events keyed for merging with the other groups': when, a join before a
    message of the same moment, then the group's place in the replay (never the event)."""
    for event in events:
        yield (*_when(event), position, event)


def _when(event: LiveEvent) -> tuple[datetime, int]:
    record = event.record
    if isinstance(record, Message):
        return record.sent_at, 1
    if isinstance(record, MembershipEvent):
        return record.at, 0
    raise TypeError(f"a replay reads messages and membership events, not {record!r}")


def _judged(group: str, message: str, outcomes: list[Outcome]) -> Judged:
    main = next((o for o in outcomes if o.policy == "moderation"), outcomes[0])
    checks = tuple(c for o in outcomes for c in o.reasons.get("checks", ()))
    actions = tuple(d.kind.value for o in outcomes for d in o.actions)
    return Judged(group, message, main.verdict, actions, checks)


def _events(
    conn: Connection, group_id: int, group: Group, since: datetime | None, chunk: int
) -> Iterator[LiveEvent]:
    """The group's messages and membership events in time order, as connectors deliver them."""
    people = {
        r.id: Person(r.external_id, r.display_name)
        for r in conn.execute(
            select(t.members.c.id, t.members.c.external_id, t.members.c.display_name)
            .join(t.memberships, t.memberships.c.member_id == t.members.c.id)
            .where(t.memberships.c.group_id == group_id)
        )
    }
    roles = dict(
        conn.execute(
            select(t.memberships.c.member_id, t.memberships.c.role).where(
                t.memberships.c.group_id == group_id
            )
        ).all()
    )
    start = to_ms(since) if since else None
    m, ev = t.messages, t.membership_events
    messages = select(m).where(m.c.group_id == group_id).order_by(m.c.sent_at, m.c.id)
    changes = select(ev).where(ev.c.group_id == group_id).order_by(ev.c.at, ev.c.id)
    if start is not None:
        messages = messages.where(m.c.sent_at >= start)
        changes = changes.where(ev.c.at >= start)

    prints = pictures.of_group(conn, group_id, start)
    community = conn.execute(
        select(t.groups.c.community_id).where(t.groups.c.id == group_id)
    ).scalar_one()
    platform = group.platform.value
    kept_out = (
        blocklist.reasons_for(
            conn, [(community, platform, p.user_id) for p in people.values() if p.user_id]
        )
        if community is not None
        else {}
    )

    def blocked(member: Person) -> str | None:
        return kept_out.get((community, platform, member.user_id)) if member.user_id else None

    def person(member_id: int | None) -> Person:
        return people.get(member_id or -1) or Person(None, "?")

    def said() -> Iterator[tuple[int, int, LiveEvent]]:
        for r in conn.execute(messages.execution_options(yield_per=chunk)):
            urls = tuple(r.urls.split("\n")) if r.urls else ()
            record = Message(
                r.platform_id,
                person(r.sender_id),
                _time(r.sent_at),
                MessageKind(r.kind),
                r.text,
                r.reply_to,
                tuple(r.mentions.split("\n")) if r.mentions else (),
                urls,
                origin=r.origin or "",
            )
            role = roles.get(r.sender_id, "member")
            kinds = stored_kinds(r.kind, r.urls, r.carried)
            event = LiveEvent("replay", group, record, role, kinds)
            event.pictures = prints.get(r.platform_id, ())
            event.blocked = blocked(record.sender)
            yield r.sent_at, 1, event

    def moved() -> Iterator[tuple[int, int, LiveEvent]]:
        for r in conn.execute(changes).all():  # few: read whole, the message cursor stays open
            record = MembershipEvent(
                r.platform_id,
                person(r.member_id),
                MembershipAction(r.action),
                _time(r.at),
                JoinMethod(r.method) if r.method else None,
                person(r.actor_id) if r.actor_id else None,
                r.new_name,
            )
            event = LiveEvent("replay", group, record, roles.get(r.member_id, "member"))
            event.blocked = blocked(record.member)
            yield r.at, 0, event

    # a join before the messages of the same millisecond: the newcomer is new when they speak
    for _at, _order, event in heapq.merge(moved(), said(), key=lambda x: (x[0], x[1])):
        yield event


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
