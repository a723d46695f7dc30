"""Writing a stream of records into the event log, and bringing the derived tables up to date.

One import is one transaction: a file that fails half-way leaves the store exactly as it was.
Natural keys make it idempotent, so importing a file twice (or an overlapping later export)
adds only what is new.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, case, func, select, update

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
from qunzhu.store.prepared import Prepared

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
    "origin",
    "carried",
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

# Statements run once per group of every live batch are built once: building one costs more
# than running it, and the simplest are run on the cursor (store/prepared.py).
# the groups of some platform ids, each with its platform
_GROUPS_BY_KEY = Prepared(
    select(
        t.groups.c.platform,
        t.groups.c.platform_id,
        t.groups.c.id,
        t.groups.c.created_at,
        t.groups.c.name,
        t.groups.c.community_id,
    ).where(t.groups.c.platform_id.in_(bindparam("b_pids", expanding=True)))
)
# the names the members of some groups bore, those known by name only or the others
_KNOWN_NAMES = Prepared(
    select(t.memberships.c.group_id, t.members.c.id, t.member_names.c.name)
    .join(t.member_names, t.member_names.c.member_id == t.members.c.id)
    .join(t.memberships, t.memberships.c.member_id == t.members.c.id)
    .where(
        t.memberships.c.group_id.in_(bindparam("b_groups", expanding=True)),
        t.members.c.provisional == bindparam("b_provisional"),
    )
)
_MEMBER_IDS = Prepared(
    select(t.members.c.id, t.members.c.external_id, t.members.c.provisional).where(
        t.members.c.platform == bindparam("b_platform"),
        t.members.c.external_id.in_(bindparam("b_ids", expanding=True)),
    )
)
_MEMBER_COUNT = Prepared(
    select(func.count(func.distinct(t.memberships.c.member_id))).where(
        t.memberships.c.group_id.in_(bindparam("b_groups", expanding=True))
    )
)


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
    # Names of earlier imports are read only when a name-only reference needs them: a live
    # batch (every sender has an id) then never pays for reading the group's whole name list.
    names_loaded: bool = False
    # What this run wrote, so memberships are brought up to date for these members only.
    sent: dict[int, list[int]] = field(default_factory=dict)  # sender -> [count, first, last]
    moved: set[int] = field(default_factory=set)  # members (and actors) of membership events
    exact: bool = True  # False once a message was skipped or members merged: rebuild instead


def start_import(conn: Connection, path: str, fmt: str) -> int:
    """A new row in `imports`: where a batch of the event log came from."""
    return conn.execute(
        t.imports.insert().values(
            path=path,
            format=fmt,
            started_at=now_ms(),
            messages_added=0,
            messages_skipped=0,
            membership_events_added=0,
        )
    ).inserted_primary_key[0]


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
        import_id: int | None = None,
    ) -> None:
        """`import_id`: an import row to add to (a live session writes one row for all its
        batches, not one per batch); else a new one is started."""
        self.conn = conn
        self.summary = ImportSummary(format=fmt)
        self.community_id = _community_id(conn, community) if community else None
        self.tz = tz
        self.import_id = start_import(conn, path, fmt) if import_id is None else import_id
        self._groups: dict[int, _GroupState] = {}
        self._group: _GroupState | None = None
        self._member_ids: dict[tuple[str, str], int] = {}
        self._names: dict[tuple[int, str], list[int]] = {}  # (member, name) -> [first, last]
        self._messages: list[Message] = []
        self._events: list[MembershipEvent] = []
        self._deferred: list[tuple[_GroupState, MembershipEvent]] = []
        # rows made but not written yet, of any group: a live batch's dozen groups are then
        # written in one statement each, not one per group
        self._message_rows: list[tuple[Any, ...]] = []
        self._event_rows: list[tuple[Any, ...]] = []
        self._unwritten: dict[int, _GroupState] = {}  # the groups of the message rows
        self._name_only_senders: set[int] = set()
        # what `prefetch` read for the groups of a live batch: their rows (None: not stored
        # yet), and the members each knows only by name
        self._group_rows: dict[tuple[str, str], tuple[Any, ...] | None] = {}
        self._provisional: dict[int, dict[int, str]] = {}

    def prefetch(self, batch: Sequence[tuple[Group, Sequence[Record]]]) -> None:
        """Read what `run` will need about these groups, and store the people with ids in
        their records, in a few statements for the whole batch instead of a few for each
        group: a live batch spans a dozen groups, and on a database across a network each
        statement is a round trip. Only for records in memory (an import streams, and is
        read group by group)."""
        groups = [g for g, _records in batch]
        pids = sorted({g.platform_id for g in groups})
        if not pids:
            return
        found = _stored_groups(self.conn, pids)
        for g in groups:
            key = (g.platform.value, g.platform_id)
            self._group_rows[key] = found.get(key)
        stored = [row[0] for row in found.values()]
        if stored:
            self._provisional = {gid: {} for gid in stored}
            params = {"b_groups": stored, "b_provisional": True}
            for gid, mid, name in _KNOWN_NAMES.rows(self.conn, params):
                self._provisional[gid][mid] = name
        by_platform: dict[str, dict[str, tuple[Person, bool]]] = defaultdict(dict)
        for group, records in batch:
            people = by_platform[group.platform.value]
            for person in _people(records):
                if person.user_id is not None:
                    people[person.user_id] = (person, False)
        for platform, people in by_platform.items():
            self._store_members(platform, people)

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
        key = (group.platform.value, group.platform_id)
        if key in self._group_rows:
            row = self._group_rows.pop(key)
        else:
            row = _stored_groups(conn, [group.platform_id]).get(key)
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
            self._provisional[gid] = {}  # a group new to the store has no members yet
        else:
            gid, was_created, was_named, was_in = row
            values: dict[str, object] = {}
            if group.name != was_named:
                values["name"] = group.name
            if self.community_id is not None and self.community_id != was_in:
                values["community_id"] = self.community_id
            if created is not None and (was_created is None or created < was_created):
                values["created_at"] = created
            if values:
                conn.execute(t.groups.update().where(t.groups.c.id == gid).values(**values))
        state = self._groups.get(gid)
        if state is None:
            state = _GroupState(gid, group.platform.value, group.platform_id)
            self._load_provisional(state)
            self._groups[gid] = state
            self.summary.groups += 1
            self.summary.group_names.append(group.name)
        self._group = state

    def _known_names(self, state: _GroupState, provisional: bool) -> list[tuple[int, str]]:
        params = {"b_groups": [state.id], "b_provisional": provisional}
        return [(mid, name) for _group, mid, name in _KNOWN_NAMES.rows(self.conn, params)]

    def _load_provisional(self, state: _GroupState) -> None:
        """Members of earlier imports known only by name: this import may tell who they are."""
        prefetched = self._provisional.pop(state.id, None)
        if prefetched is not None:
            state.provisional.update(prefetched)
        else:
            state.provisional.update(self._known_names(state, True))

    def _real_names(self, state: _GroupState) -> dict[str, set[int]]:
        """Names real members bore here, so name-only references resolve across imports."""
        if not state.names_loaded:
            for mid, name in self._known_names(state, False):
                state.real_by_name[name].add(mid)
            state.names_loaded = True
        return state.real_by_name

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
                known = self._real_names(group).get(person.name)
                if known and len(known) == 1:
                    self._member_ids[(platform, self._external_id(person, group)[0])] = next(
                        iter(known)
                    )
                    continue
            ext, provisional = self._external_id(person, group)
            if (platform, ext) not in self._member_ids:
                missing[ext] = (person, provisional)
        for mid, ext in self._store_members(platform, missing):
            group.provisional[mid] = missing[ext][0].name or ext

    def _store_members(
        self, platform: str, missing: dict[str, tuple[Person, bool]]
    ) -> list[tuple[int, str]]:
        """Insert the members not stored yet (by external id: the person, and whether they
        are known by name only) and learn every id; the provisional ones, as (id, external
        id)."""
        provisional_ones = []
        keys = [k for k in missing if (platform, k) not in self._member_ids]
        for chunk in _chunks(keys, 5000):
            insert_ignore(
                self.conn,
                t.members,
                ("platform", "external_id", "display_name", "provisional"),
                [(platform, ext, missing[ext][0].name, missing[ext][1]) for ext in chunk],
            )
            rows = _MEMBER_IDS.rows(self.conn, {"b_platform": platform, "b_ids": chunk})
            for mid, ext, provisional in rows:
                self._member_ids[(platform, ext)] = mid
                if provisional:
                    provisional_ones.append((mid, ext))
        return provisional_ones

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
        if person.user_id is not None:
            return True
        return len(self._real_names(group).get(person.name, ())) == 1

    def _write_messages(self, group: _GroupState) -> None:
        """The hot loop: one pass per message, everything it needs looked up in local dicts."""
        messages = self._messages
        if not messages:
            return
        self._resolve({m.sender for m in messages if m.sender.user_id is None}, group)
        gid, iid, kinds, platform = group.id, self.import_id, _KIND_VALUES, group.platform
        ids, names, saw, sent = self._member_ids, self._names, self._saw_name, group.sent
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
            figures = sent.get(mid)
            if figures is None:
                sent[mid] = [1, stamp, stamp]
            else:
                figures[0] += 1
                if stamp < figures[1]:
                    figures[1] = stamp
                elif stamp > figures[2]:
                    figures[2] = stamp
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
                    m.origin[:100] or None,  # a handle is at most 32: never a failed batch
                    " ".join(m.carried) or None,
                )
            )
        self._message_rows += rows
        self._unwritten[gid] = group
        self._messages = []
        if len(self._message_rows) >= BATCH:
            self._write_rows()

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
            group.moved.add(mid)
            if actor is not None and ev.actor is not None:
                self._saw_name(actor, ev.actor.name, at, group)
                group.moved.add(actor)
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
        self._event_rows += rows
        self._events = []
        if len(self._event_rows) >= BATCH:
            self._write_rows()

    def _write_rows(self) -> None:
        """Write the messages and membership events made so far, of every group."""
        rows, self._message_rows = self._message_rows, []
        added = insert_ignore(self.conn, t.messages, _MESSAGE_COLUMNS, rows)
        if added != len(rows):  # which were already there is unknown: count their groups again
            for group in self._unwritten.values():
                group.exact = False
        self._unwritten = {}
        self.summary.messages_added += added
        self.summary.messages_skipped += len(rows) - added
        rows, self._event_rows = self._event_rows, []
        added = insert_ignore(self.conn, t.membership_events, _EVENT_COLUMNS, rows)
        self.summary.membership_events_added += added
        self.summary.membership_events_skipped += len(rows) - added

    # -- derived tables -------------------------------------------------------------------

    def _finish(self) -> None:
        by_group: dict[int, list[MembershipEvent]] = defaultdict(list)
        for group, event in self._deferred:  # now every name in the file is known
            by_group[group.id].append(event)
        for gid, events in by_group.items():
            self._events = events
            self._write_events(self._groups[gid])
        self._write_rows()
        self._write_names()
        for group in self._groups.values():
            self._reconcile(group)
        exact = [g for g in self._groups.values() if g.exact]
        update_memberships(self.conn, {g.id: g.sent for g in exact}, {g.id: g.moved for g in exact})
        for group in self._groups.values():
            if not group.exact:
                rebuild_memberships(self.conn, group.id)
        if self._groups:
            self.summary.members = _MEMBER_COUNT.scalar(self.conn, {"b_groups": list(self._groups)})
        s, i = self.summary, t.imports.c
        self.conn.execute(
            t.imports.update()
            .where(i.id == self.import_id)
            .values(
                finished_at=now_ms(),
                messages_added=i.messages_added + s.messages_added,
                messages_skipped=i.messages_skipped + s.messages_skipped,
                membership_events_added=i.membership_events_added + s.membership_events_added,
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
        if not group.provisional:
            return
        merges = {}
        real = self._real_names(group)
        for pid, name in list(group.provisional.items()):
            matches = real.get(name, set())
            if len(matches) == 1:
                merges[pid] = next(iter(matches))
                del group.provisional[pid]
        if not merges:
            return
        group.exact = False
        # Did any of them write messages, in this import or an earlier one?
        ms = t.memberships
        spoke = not self._name_only_senders.isdisjoint(merges) or bool(
            self.conn.execute(
                select(func.count()).where(ms.c.member_id.in_(list(merges)), ms.c.message_count > 0)
            ).scalar_one()
        )
        merge_members(self.conn, merges, messages=spoke)


def _stored_groups(conn: Connection, pids: list[str]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The stored groups of these platform ids, by (platform, platform id): their id, when
    they were created, their name and their community."""
    rows = _GROUPS_BY_KEY.rows(conn, {"b_pids": pids})
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def _people(records: Iterable[Record]) -> Iterator[Person]:
    """Everyone a group's records name: senders, members and actors."""
    for record in records:
        if isinstance(record, Message):
            yield record.sender
        elif isinstance(record, MembershipEvent):
            yield record.member
            if record.actor is not None:
                yield record.actor


def rewrite(conn: Connection, group_id: int, message: Message) -> int:
    """A message its sender edited on the platform: the store keeps what it says now (what
    the console shows beside its decision, what a replay judges); how many rows changed (0
    for a message sent before the store knew the group)."""
    m = t.messages
    done = conn.execute(
        update(m)
        .where(m.c.group_id == group_id, m.c.platform_id == message.platform_id)
        .values(
            text=message.text,
            urls="\n".join(message.urls) if message.urls else None,
            mentions="\n".join(message.mentions) if message.mentions else None,
        )
    )
    return done.rowcount


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


_ms, _ev = t.memberships, t.membership_events
_KEPT = (
    _ms.c.group_id,
    _ms.c.member_id,
    _ms.c.role,
    _ms.c.message_count,
    _ms.c.first_message_at,
    _ms.c.last_message_at,
)
_EVENT_FIELDS = (
    _ev.c.group_id,
    _ev.c.member_id,
    _ev.c.action,
    _ev.c.at,
    _ev.c.method,
    _ev.c.actor_id,
)
# a whole group's rows; or those of some members in some groups (a superset of the pairs
# wanted when several groups are asked at once: the caller keeps its pairs)
_MS_OF_GROUP = Prepared(select(*_KEPT).where(_ms.c.group_id == bindparam("b_group")))
_MS_OF_SOME = Prepared(
    select(*_KEPT).where(
        _ms.c.group_id.in_(bindparam("b_groups", expanding=True)),
        _ms.c.member_id.in_(bindparam("b_members", expanding=True)),
    )
)
_MS_DROP_GROUP = Prepared(_ms.delete().where(_ms.c.group_id == bindparam("b_group")))
_EVENTS_OF_GROUP = Prepared(
    select(*_EVENT_FIELDS)
    .where(_ev.c.group_id == bindparam("b_group"))
    .order_by(_ev.c.at, _ev.c.id)
)
_EVENTS_OF_SOME = Prepared(
    select(*_EVENT_FIELDS)
    .where(
        _ev.c.group_id.in_(bindparam("b_groups", expanding=True)),
        _ev.c.member_id.in_(bindparam("b_members", expanding=True)),
    )
    .order_by(_ev.c.at, _ev.c.id)
)
_MS_COLUMNS = (
    "group_id",
    "member_id",
    "joined_at",
    "left_at",
    "join_method",
    "inviter_id",
    "role",
    "message_count",
    "first_message_at",
    "last_message_at",
)
_MS_REPLACE = "ON CONFLICT (group_id, member_id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _MS_COLUMNS[2:]
)
_Pair = tuple[int, int]  # (group, member)


def rebuild_memberships(conn: Connection, group_id: int) -> None:
    """Recompute a group's memberships from its messages and membership events.

    Derived, so it can always be thrown away and rebuilt; roles set by the operator are kept.
    """
    old = {
        (g, mid): tuple(kept) for g, mid, *kept in _MS_OF_GROUP.rows(conn, {"b_group": group_id})
    }
    rows = _Memberships(old, keep_counts=False)
    m = t.messages
    for sender, count, first, last in conn.execute(
        select(m.c.sender_id, func.count(), func.min(m.c.sent_at), func.max(m.c.sent_at))
        .where(m.c.group_id == group_id)
        .group_by(m.c.sender_id)
    ):
        rows.of((group_id, sender)).update(
            message_count=count, first_message_at=first, last_message_at=last
        )
    rows.fold(_EVENTS_OF_GROUP.rows(conn, {"b_group": group_id}), whole=True)
    _MS_DROP_GROUP.run(conn, {"b_group": group_id})
    insert(conn, _ms, _MS_COLUMNS, rows.table(), "")


def update_memberships(
    conn: Connection,
    sent: Mapping[int, Mapping[int, Sequence[int]]],
    moved: Mapping[int, Iterable[int]],
) -> None:
    """Bring memberships up to date after writing, in each group, `sent` (per sender: count,
    first, last of the messages just written) and the membership events of `moved`.

    What a live batch costs is then what it touched, not the groups' whole history, and the
    same few statements for all its groups (on a database across a network each statement is
    a round trip): message figures move on in one, and only the members with new events are
    recomputed, from their rows and events read for every group at once.
    """
    least, most = smallest(conn), largest(conn)
    insert(
        conn,
        t.memberships,
        ("group_id", "member_id", "role", "message_count", "first_message_at", "last_message_at"),
        [(g, mid, Role.MEMBER.value, *f) for g, by in sent.items() for mid, f in by.items()],
        "ON CONFLICT (group_id, member_id) DO UPDATE SET "
        "message_count = memberships.message_count + excluded.message_count, "
        f"first_message_at = {least}(coalesce(memberships.first_message_at, "
        "excluded.first_message_at), excluded.first_message_at), "
        f"last_message_at = {most}(coalesce(memberships.last_message_at, "
        "excluded.last_message_at), excluded.last_message_at)",
    )
    wanted = {(g, mid) for g, mids in moved.items() for mid in mids}
    if not wanted:
        return
    groups = sorted({g for g, _ in wanted})
    old: dict[_Pair, tuple[Any, ...]] = {}
    events: list[Sequence[Any]] = []
    for chunk in _chunks(sorted({mid for _, mid in wanted}), 5000):
        params = {"b_groups": groups, "b_members": chunk}
        for g, mid, *kept in _MS_OF_SOME.rows(conn, params):
            if (g, mid) in wanted:
                old[(g, mid)] = tuple(kept)
        events += [e for e in _EVENTS_OF_SOME.rows(conn, params) if (e[0], e[1]) in wanted]
    rows = _Memberships(old, keep_counts=True)  # their message figures stay
    for pair in sorted(wanted):
        rows.of(pair)
    events.sort(key=lambda e: e[3])  # by time, as each chunk was (a stable sort keeps ids' order)
    rows.fold(events, whole=False)
    insert(conn, _ms, _MS_COLUMNS, rows.table(), _MS_REPLACE)


class _Memberships:
    """Membership rows being recomputed, from the rows stored before (`old`: role, count,
    first, last) and the membership events folded in."""

    def __init__(self, old: Mapping[_Pair, tuple[Any, ...]], keep_counts: bool) -> None:
        self.old, self.keep_counts = old, keep_counts
        self.rows: dict[_Pair, dict[str, object]] = {}

    def of(self, pair: _Pair) -> dict[str, object]:
        found = self.rows.get(pair)
        if found is None:
            before = self.old.get(pair)
            kept = before if self.keep_counts else None
            found = self.rows[pair] = {
                "group_id": pair[0],
                "member_id": pair[1],
                "joined_at": None,
                "left_at": None,
                "join_method": None,
                "inviter_id": None,
                "role": before[0] if before else Role.MEMBER.value,
                "message_count": kept[1] if kept else 0,
                "first_message_at": kept[2] if kept else None,
                "last_message_at": kept[3] if kept else None,
            }
        return found

    def fold(self, events: Iterable[Sequence[Any]], whole: bool) -> None:
        """Apply membership events in time order. Whoever invites or removes someone is in the
        group themselves: a row for them too, over a whole group, or if recomputed anyway."""
        for g, mid, action, at, method, actor in events:
            r = self.of((g, mid))
            if actor is not None and (whole or (g, actor) in self.rows):
                self.of((g, actor))
            if action == MembershipAction.JOIN.value:
                r.update(joined_at=at, left_at=None, join_method=method, inviter_id=actor)
                if method == JoinMethod.CREATED.value:
                    r["role"] = Role.OWNER.value
            elif action in (MembershipAction.LEAVE.value, MembershipAction.KICK.value):
                r["left_at"] = at

    def table(self) -> list[tuple[Any, ...]]:
        return [tuple(r[c] for c in _MS_COLUMNS) for r in self.rows.values()]


def place_group(
    conn: Connection, platform: str, platform_id: str, name: str, community: str | None
) -> None:
    """Make sure a configured group is stored, in its community when the configuration names
    one: a live group is otherwise stored at its first message in no community, where the
    console hides it from that community's operators and the engine files people's answers
    about it under no community. A stored name is kept (the platform's title wins)."""
    g = t.groups
    where = (g.c.platform == platform, g.c.platform_id == platform_id)
    row = conn.execute(select(g.c.id, g.c.community_id).where(*where)).first()
    community_id = _community_id(conn, community) if community else None
    if row is None:
        conn.execute(
            g.insert().values(
                platform=platform, platform_id=platform_id, name=name, community_id=community_id
            )
        )
    elif community_id is not None and row.community_id != community_id:
        conn.execute(g.update().where(g.c.id == row.id).values(community_id=community_id))


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
