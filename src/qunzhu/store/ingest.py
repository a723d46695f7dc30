"""Writing a stream of records into the event log, and bringing the derived tables up to date.

One import is one transaction: a file that fails half-way leaves the store exactly as it was.
Natural keys make it idempotent, so importing a file twice (or an overlapping later export)
adds only what is new.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, case, func, select, update

from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Record,
    Role,
)
from qunzhu.store import schema as t
from qunzhu.store.bulk import insert, insert_ignore, largest, smallest

_T = TypeVar("_T")
BATCH = 20_000
_MESSAGE_COLUMNS = (
    "group_id",
    "platform_id",
    "sender_id",
    "sent_at",
    "kind",
    "text",
    "reply_to",
    "mentions",
    "urls",
    "import_id",
    "source_row",
)
_EVENT_COLUMNS = (
    "group_id",
    "platform_id",
    "member_id",
    "action",
    "at",
    "method",
    "actor_id",
    "new_name",
    "import_id",
    "source_row",
)


_KIND_VALUES = {kind: kind.value for kind in MessageKind}  # Enum.value is slow per row


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ImportSummary:
    format: str
    groups: int = 0
    messages_added: int = 0
    messages_skipped: int = 0
    membership_events_added: int = 0
    membership_events_skipped: int = 0
    members: int = 0
    group_names: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _GroupState:
    """What the import knows about one group while it streams through it."""

    id: int
    platform: str
    platform_id: str
    real_by_name: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    provisional: dict[int, str] = field(default_factory=dict)  # member id -> name


class Ingest:
    """Feeds records into the store inside the caller's transaction.

    Usage: `Ingest(conn, fmt, path).run(records)`; the caller commits, or rolls back on error.
    """

    def __init__(
        self,
        conn: Connection,
        fmt: str,
        path: str,
        community: str | None = None,
        tz: str | None = None,
    ) -> None:
        self.conn = conn
        self.summary = ImportSummary(format=fmt)
        self.community_id = _community_id(conn, community) if community else None
        self.tz = tz
        self.import_id = conn.execute(
            t.imports.insert().values(path=path, format=fmt, started_at=now_ms())
        ).inserted_primary_key[0]
        self._groups: dict[int, _GroupState] = {}
        self._group: _GroupState | None = None
        self._member_ids: dict[tuple[str, str], int] = {}
        self._names: dict[tuple[int, str], list[int]] = {}  # (member, name) -> [first, last]
        self._messages: list[Message] = []
        self._events: list[MembershipEvent] = []
        self._deferred: list[tuple[_GroupState, MembershipEvent]] = []
        self._name_only_senders: set[int] = set()

    def run(self, records: Iterable[Record]) -> ImportSummary:
        for record in records:
            if isinstance(record, Message):
                self._messages.append(record)
                if len(self._messages) >= BATCH:
                    self._flush()
            elif isinstance(record, MembershipEvent):
                self._events.append(record)
                if len(self._events) >= BATCH:
                    self._flush()
            elif isinstance(record, Group):
                self._flush()
                self._start_group(record)
            else:  # a source bug, not a user mistake
                raise TypeError(f"not a record: {record!r}")
        self._flush()
        self._finish()
        return self.summary

    # -- groups ---------------------------------------------------------------------------

    def _start_group(self, group: Group) -> None:
        conn = self.conn
        row = conn.execute(
            select(t.groups.c.id, t.groups.c.created_at).where(
                t.groups.c.platform == group.platform.value,
                t.groups.c.platform_id == group.platform_id,
            )
        ).first()
        created = to_ms(group.created_at) if group.created_at else None
        if row is None:
            gid = conn.execute(
                t.groups.insert().values(
                    community_id=self.community_id,
                    platform=group.platform.value,
                    platform_id=group.platform_id,
                    name=group.name,
                    kind=group.kind.value,
                    created_at=created,
                    tz=self.tz or group.tz,
                )
            ).inserted_primary_key[0]
        else:
            gid = row.id
            values: dict[str, object] = {"name": group.name}
            if self.community_id is not None:
                values["community_id"] = self.community_id
            if created is not None and (row.created_at is None or created < row.created_at):
                values["created_at"] = created
            conn.execute(t.groups.update().where(t.groups.c.id == gid).values(**values))
        state = self._groups.get(gid)
        if state is None:
            state = _GroupState(gid, group.platform.value, group.platform_id)
            self._load_known_names(state)
            self._groups[gid] = state
            self.summary.groups += 1
            self.summary.group_names.append(group.name)
        self._group = state

    def _load_known_names(self, state: _GroupState) -> None:
        """Names already seen in this group, so name-only references resolve across imports."""
        rows = self.conn.execute(
            select(t.members.c.id, t.members.c.provisional, t.member_names.c.name)
            .join(t.member_names, t.member_names.c.member_id == t.members.c.id)
            .join(t.memberships, t.memberships.c.member_id == t.members.c.id)
            .where(t.memberships.c.group_id == state.id)
        )
        for mid, provisional, name in rows:
            if provisional:
                state.provisional[mid] = name
            else:
                state.real_by_name[name].add(mid)

    # -- members --------------------------------------------------------------------------

    def _external_id(self, person: Person, group: _GroupState) -> tuple[str, bool]:
        if person.user_id is not None:
            return person.user_id, False
        assert person.name is not None
        return f"name:{group.platform_id}:{person.name}", True

    def _resolve(self, people: Iterable[Person], group: _GroupState) -> None:
        """Make sure every person has a member id in the cache, inserting new members."""
        platform = group.platform
        missing: dict[str, tuple[Person, bool]] = {}
        for person in people:
            if person.user_id is None:
                assert person.name is not None
                known = group.real_by_name.get(person.name)
                if known and len(known) == 1:
                    self._member_ids[(platform, self._external_id(person, group)[0])] = next(
                        iter(known)
                    )
                    continue
            ext, provisional = self._external_id(person, group)
            if (platform, ext) not in self._member_ids:
                missing[ext] = (person, provisional)
        if not missing:
            return
        keys = list(missing)
        for chunk in _chunks(keys, 5000):
            insert_ignore(
                self.conn,
                t.members,
                ("platform", "external_id", "display_name", "provisional"),
                [(platform, ext, missing[ext][0].name, missing[ext][1]) for ext in chunk],
            )
            rows = self.conn.execute(
                select(t.members.c.id, t.members.c.external_id, t.members.c.provisional).where(
                    t.members.c.platform == platform, t.members.c.external_id.in_(chunk)
                )
            )
            for mid, ext, provisional in rows:
                self._member_ids[(platform, ext)] = mid
                if provisional:
                    group.provisional[mid] = missing[ext][0].name or ext

    def _member(self, person: Person, group: _GroupState) -> int:
        if person.user_id is not None:
            return self._member_ids[(group.platform, person.user_id)]
        return self._member_ids[(group.platform, f"name:{group.platform_id}:{person.name}")]

    def _saw_name(self, mid: int, name: str | None, at: int, group: _GroupState) -> None:
        if not name:
            return
        span = self._names.get((mid, name))
        if span is None:
            self._names[(mid, name)] = [at, at]
            if mid not in group.provisional:
                group.real_by_name[name].add(mid)
        elif at < span[0]:
            span[0] = at
        elif at > span[1]:
            span[1] = at

    # -- batches --------------------------------------------------------------------------

    def _flush(self) -> None:
        if not self._messages and not self._events:
            return
        group = self._group
        if group is None:
            raise ValueError("records arrived before their group")
        # People with ids first, so that the names they bear can resolve name-only references.
        people = {m.sender for m in self._messages}
        for ev in self._events:
            people.add(ev.member)
            if ev.actor is not None:
                people.add(ev.actor)
        self._resolve([p for p in people if p.user_id is not None], group)
        self._write_messages(group)
        ready = []
        for ev in self._events:
            if self._resolvable(ev.member, group) and (
                ev.actor is None or self._resolvable(ev.actor, group)
            ):
                ready.append(ev)
            else:  # a name not seen yet: wait, the member may speak (with an id) later on
                self._deferred.append((group, ev))
        self._events = ready
        self._write_events(group)

    def _resolvable(self, person: Person, group: _GroupState) -> bool:
        return person.user_id is not None or len(group.real_by_name.get(person.name, ())) == 1

    def _write_messages(self, group: _GroupState) -> None:
        """The hot loop: one pass per message, everything it needs looked up in local dicts."""
        messages = self._messages
        if not messages:
            return
        self._resolve({m.sender for m in messages if m.sender.user_id is None}, group)
        gid, iid, kinds, platform = group.id, self.import_id, _KIND_VALUES, group.platform
        ids, names, saw = self._member_ids, self._names, self._saw_name
        rows = []
        append = rows.append
        for m in messages:
            sender = m.sender
            mid = ids[(platform, sender.user_id)] if sender.user_id is not None else None
            if mid is None:
                mid = self._member(sender, group)
                self._name_only_senders.add(mid)
            stamp = round(m.sent_at.timestamp() * 1000)
            span = names.get((mid, sender.name))
            if span is None:
                saw(mid, sender.name, stamp, group)
            elif stamp > span[1]:
                span[1] = stamp
            elif stamp < span[0]:
                span[0] = stamp
            append(
                (
                    gid,
                    m.platform_id,
                    mid,
                    stamp,
                    kinds[m.kind],
                    m.text,
                    m.reply_to,
                    "\n".join(m.mentions) if m.mentions else None,
                    "\n".join(m.urls) if m.urls else None,
                    iid,
                    m.row,
                )
            )
        added = insert_ignore(self.conn, t.messages, _MESSAGE_COLUMNS, rows)
        self.summary.messages_added += added
        self.summary.messages_skipped += len(rows) - added
        self._messages = []

    def _write_events(self, group: _GroupState) -> None:
        if not self._events:
            return
        names_only = [p for ev in self._events for p in (ev.member, ev.actor) if p is not None]
        self._resolve([p for p in names_only if p.user_id is None], group)
        rows = []
        for ev in self._events:
            mid = self._member(ev.member, group)
            at = to_ms(ev.at)
            self._saw_name(mid, ev.member.name, at, group)
            if ev.new_name:
                self._saw_name(mid, ev.new_name, at, group)
            actor = self._member(ev.actor, group) if ev.actor is not None else None
            if actor is not None and ev.actor is not None:
                self._saw_name(actor, ev.actor.name, at, group)
            rows.append(
                (
                    group.id,
                    ev.platform_id,
                    mid,
                    ev.action.value,
                    at,
                    ev.method.value if ev.method else None,
                    actor,
                    ev.new_name,
                    self.import_id,
                    ev.row,
                )
            )
        added = insert_ignore(self.conn, t.membership_events, _EVENT_COLUMNS, rows)
        self.summary.membership_events_added += added
        self.summary.membership_events_skipped += len(rows) - added
        self._events = []

    # -- derived tables -------------------------------------------------------------------

    def _finish(self) -> None:
        by_group: dict[int, list[MembershipEvent]] = defaultdict(list)
        for group, event in self._deferred:  # now every name in the file is known
            by_group[group.id].append(event)
        for gid, events in by_group.items():
            self._events = events
            self._write_events(self._groups[gid])
        self._write_names()
        for group in self._groups.values():
            self._reconcile(group)
        for group in self._groups.values():
            rebuild_memberships(self.conn, group.id)
        if self._groups:
            self.summary.members = self.conn.execute(
                select(func.count(func.distinct(t.memberships.c.member_id))).where(
                    t.memberships.c.group_id.in_(list(self._groups))
                )
            ).scalar_one()
        s = self.summary
        self.conn.execute(
            t.imports.update()
            .where(t.imports.c.id == self.import_id)
            .values(
                finished_at=now_ms(),
                messages_added=s.messages_added,
                messages_skipped=s.messages_skipped,
                membership_events_added=s.membership_events_added,
            )
        )

    def _write_names(self) -> None:
        """Every name each member bore, with when it was first and last seen, across imports."""
        if not self._names:
            return
        rows = [(mid, name, span[0], span[1]) for (mid, name), span in self._names.items()]
        least, most = smallest(self.conn), largest(self.conn)
        insert(
            self.conn,
            t.member_names,
            ("member_id", "name", "first_seen", "last_seen"),
            rows,
            "ON CONFLICT (member_id, name) DO UPDATE SET "
            f"first_seen = {least}(member_names.first_seen, excluded.first_seen), "
            f"last_seen = {most}(member_names.last_seen, excluded.last_seen)",
        )
        touched = {mid for mid, _ in self._names}
        refresh_display_names(self.conn, touched)

    def _reconcile(self, group: _GroupState) -> None:
        """Merge members known only by name into the one real member who bore that name here."""
        merges = {}
        for pid, name in list(group.provisional.items()):
            matches = group.real_by_name.get(name, set())
            if len(matches) == 1:
                merges[pid] = next(iter(matches))
                del group.provisional[pid]
        if not merges:
            return
        # Did any of them write messages, in this import or an earlier one?
        ms = t.memberships
        spoke = not self._name_only_senders.isdisjoint(merges) or bool(
            self.conn.execute(
                select(func.count()).where(ms.c.member_id.in_(list(merges)), ms.c.message_count > 0)
            ).scalar_one()
        )
        merge_members(self.conn, merges, messages=spoke)


def merge_members(conn: Connection, merges: dict[int, int], messages: bool = True) -> None:
    """Repoint everything of each source member to its target member, then delete the source.

    One statement per table for all merges: the message log has no index on the sender (see
    schema), so a merge must never cost one scan of it per member, and callers that know the
    sources wrote nothing pass `messages=False` to skip that scan altogether.
    """
    if not merges:
        return
    sources = list(merges)
    ms, ev = t.memberships, t.membership_events
    if messages:
        sender = t.messages.c.sender_id
        conn.execute(
            update(t.messages)
            .where(sender.in_(sources))
            .values(sender_id=case(merges, value=sender))
        )
    for column in (ev.c.member_id, ev.c.actor_id):
        conn.execute(
            update(ev).where(column.in_(sources)).values({column.name: case(merges, value=column)})
        )
    conn.execute(
        update(ms)
        .where(ms.c.inviter_id.in_(sources))
        .values(inviter_id=case(merges, value=ms.c.inviter_id))
    )
    conn.execute(ms.delete().where(ms.c.member_id.in_(sources)))
    for source, target in merges.items():
        _move_names(conn, source, target)
    conn.execute(t.members.delete().where(t.members.c.id.in_(sources)))


def _move_names(conn: Connection, source: int, target: int) -> None:
    names = t.member_names
    theirs = {
        r.name: r
        for r in conn.execute(select(names).where(names.c.member_id.in_([source, target])))
        if r.member_id == target
    }
    for row in conn.execute(select(names).where(names.c.member_id == source)).all():
        mine = theirs.get(row.name)
        if mine is None:
            conn.execute(
                names.insert().values(
                    member_id=target,
                    name=row.name,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                )
            )
        elif row.first_seen < mine.first_seen:
            conn.execute(
                names.update()
                .where(names.c.member_id == target, names.c.name == row.name)
                .values(first_seen=row.first_seen)
            )
    conn.execute(names.delete().where(names.c.member_id == source))


def refresh_display_names(conn: Connection, member_ids: Iterable[int]) -> None:
    """A member's display name is the name they bore most recently."""
    names, members = t.member_names, t.members
    latest = (
        select(names.c.name)
        .where(names.c.member_id == members.c.id)
        .order_by(names.c.last_seen.desc(), names.c.name)
        .limit(1)
        .scalar_subquery()
    )
    for chunk in _chunks(sorted(member_ids), 5000):
        conn.execute(update(members).where(members.c.id.in_(chunk)).values(display_name=latest))


def rebuild_memberships(conn: Connection, group_id: int) -> None:
    """Recompute a group's memberships from its messages and membership events.

    Derived, so it can always be thrown away and rebuilt; roles set by the operator are kept.
    """
    ms = t.memberships
    roles = dict(
        conn.execute(select(ms.c.member_id, ms.c.role).where(ms.c.group_id == group_id)).all()
    )
    rows: dict[int, dict[str, object]] = {}

    def row(mid: int) -> dict[str, object]:
        if mid not in rows:
            rows[mid] = {
                "group_id": group_id,
                "member_id": mid,
                "joined_at": None,
                "left_at": None,
                "join_method": None,
                "inviter_id": None,
                "role": roles.get(mid, Role.MEMBER.value),
                "message_count": 0,
                "first_message_at": None,
                "last_message_at": None,
            }
        return rows[mid]

    m = t.messages
    for sender, count, first, last in conn.execute(
        select(m.c.sender_id, func.count(), func.min(m.c.sent_at), func.max(m.c.sent_at))
        .where(m.c.group_id == group_id)
        .group_by(m.c.sender_id)
    ):
        r = row(sender)
        r.update(message_count=count, first_message_at=first, last_message_at=last)
    ev = t.membership_events
    for mid, action, at, method, actor in conn.execute(
        select(ev.c.member_id, ev.c.action, ev.c.at, ev.c.method, ev.c.actor_id)
        .where(ev.c.group_id == group_id)
        .order_by(ev.c.at, ev.c.id)
    ):
        r = row(mid)
        if actor is not None:
            row(actor)  # whoever invites or removes someone is in the group themselves
        if action == MembershipAction.JOIN.value:
            r.update(joined_at=at, left_at=None, join_method=method, inviter_id=actor)
            if method == JoinMethod.CREATED.value:
                r["role"] = Role.OWNER.value
        elif action in (MembershipAction.LEAVE.value, MembershipAction.KICK.value):
            r["left_at"] = at
    conn.execute(ms.delete().where(ms.c.group_id == group_id))
    for chunk in _chunks(list(rows.values()), 5000):
        conn.execute(ms.insert(), chunk)


def _community_id(conn: Connection, name: str) -> int:
    found = conn.execute(
        select(t.communities.c.id).where(t.communities.c.name == name)
    ).scalar_one_or_none()
    if found is not None:
        return found
    return conn.execute(
        t.communities.insert().values(name=name, created_at=now_ms())
    ).inserted_primary_key[0]


def _chunks(items: list[_T], size: int) -> Iterable[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
