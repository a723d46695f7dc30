"""The event path: inbox, then one transaction that stores the event the way imports do,
runs the group's policies and queues their decisions' actions.

`receive` is what connectors call: it only writes the event to the inbox and returns, so the
connector can acknowledge it (Telegram's offset) knowing it is safe. `process` takes the inbox
in order, in batches: per batch one Ingest (the import path, so live and imported history are
the same records) and, per event, the policies' outcomes written as decisions and outbox rows,
and the inbox rows marked done, all in one commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from qunzhu.connectors import Connector
from qunzhu.engine import events, outbox
from qunzhu.engine.faults import SETTLE_RUN, Faults
from qunzhu.engine.opinions import SecondOpinions
from qunzhu.engine.policies import (
    EARLIER_COPY,
    KNOWN_PICTURE_COPY,
    Draft,
    Marks,
    ModerationPolicy,
    Outcome,
    Policy,
    RaidPolicy,
    WelcomePolicy,
    decide_all,
    is_report,
    released_mark,
)
from qunzhu.engine.reader import PictureReader
from qunzhu.i18n import tr
from qunzhu.model import CARRIED, Group, MembershipEvent, Message, Record
from qunzhu.model.live import ActionKind, Edit, JoinRequest, LiveEvent, PictureText
from qunzhu.moderation.behaviour import Behaviour
from qunzhu.moderation.enforcement import Step
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.images import fingerprints
from qunzhu.moderation.verdicts import HAM, REVIEW, SPAM, Check
from qunzhu.store import blocklist, pictures, tags
from qunzhu.store import schema as t
from qunzhu.store.bulk import insert
from qunzhu.store.db import one_statement
from qunzhu.store.db import unreachable as store_unreachable
from qunzhu.store.ingest import Ingest, place_group, rewrite, start_import
from qunzhu.store.prepared import Prepared
from qunzhu.store.queries import stored_message

log = logging.getLogger(__name__)

DRAIN_PAUSE_S = 1.0  # after the queued actions failed for something other than the store


@dataclass
class GroupSetup:
    """The policies of one group, and where its admins are told things."""

    policies: Sequence[Policy]
    admin_chat: str | None = None  # a chat on the same connector; else notes are tasks


@dataclass
class Setups:
    """Policies per (connector, group id); groups nobody configured get `default`, unless
    their connector names a community for them (`communities`): then `adopt` makes the
    group's setup at first sight, kept among `groups` so that sweeps reach it too (which is
    why those who walk `groups` from another thread walk a copy)."""

    groups: dict[tuple[str, str], GroupSetup] = field(default_factory=dict)
    default: GroupSetup = field(default_factory=lambda: GroupSetup(()))
    communities: dict[str, str] = field(default_factory=dict)  # connector -> its community
    adopt: Callable[[str], GroupSetup] | None = None  # a new setup for a connector's group
    adopted: set[tuple[str, str]] = field(default_factory=set)

    def of(self, connector: str, group_id: str) -> GroupSetup:
        found = self.groups.get((connector, group_id))
        if found is not None:
            return found
        if self.adopt is None or connector not in self.communities:
            return self.default
        self.adopted.add((connector, group_id))
        adopted = self.groups[(connector, group_id)] = self.adopt(connector)
        return adopted

    def configured(self, connector: str, group_id: str) -> bool:
        """Named by the file or the console (not adopted through its connector)."""
        key = (connector, group_id)
        return key in self.groups and key not in self.adopted


def _places(
    conn: Connection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int | None]]:
    """The stored id and community id of each (platform, platform id)."""
    g = t.groups
    rows = conn.execute(
        select(g.c.id, g.c.platform, g.c.platform_id, g.c.community_id).where(
            g.c.platform_id.in_([k[1] for k in keys])
        )
    ).all()
    return {(r.platform, r.platform_id): (r.id, r.community_id) for r in rows}


_pm = t.policy_marks
READ_AHEAD_AT_ONCE = 64  # keys in one IN list: its SQL is kept (`Prepared`), not made again
_MARK_AT = Prepared(
    select(_pm.c.at).where(
        _pm.c.group_id == bindparam("b_group"),
        _pm.c.policy == bindparam("b_policy"),
        _pm.c.key == bindparam("b_key"),
    )
)
_MARKS_AT = Prepared(
    select(_pm.c.key, _pm.c.at).where(
        _pm.c.group_id == bindparam("b_group"),
        _pm.c.policy == bindparam("b_policy"),
        _pm.c.key.in_(bindparam("b_keys", expanding=True)),
    )
)
_MARKS_AHEAD = Prepared(
    select(_pm.c.group_id, _pm.c.key, _pm.c.at).where(
        _pm.c.policy == bindparam("b_policy"),
        _pm.c.group_id.in_(bindparam("b_groups", expanding=True)),
        _pm.c.key.in_(bindparam("b_keys", expanding=True)),
    )
)
_MARK_MOVE = Prepared(
    update(_pm)
    .where(
        _pm.c.group_id == bindparam("b_group"),
        _pm.c.policy == bindparam("b_policy"),
        _pm.c.key == bindparam("b_key"),
    )
    .values(at=bindparam("b_at"))
)
_MARK_ADD = Prepared(_pm.insert())
_INBOX_ADD = Prepared(t.inbox.insert())
_DECISION_ADD = Prepared(t.decisions.insert())
_DECISIONS_ADD = t.decisions.insert().returning(t.decisions.c.id, sort_by_parameter_order=True)
# where a batch holds its decisions and actions until it writes them all at once: on its
# connection, which is the batch's alone (a sweep on another thread meanwhile writes its own)
_HELD = "qunzhu_held_decisions"


@dataclass
class _Written:
    """A decision's row and its actions' rows; its id once written."""

    row: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)
    id: int = 0


def _write_held(conn: Connection) -> None:
    """Write the decisions and actions the batch on this connection holds so far."""
    held = conn.info.get(_HELD)
    if held:
        _write_decisions(conn, held)
        held.clear()


def _write_decisions(conn: Connection, written: list[_Written]) -> None:
    """Decisions, then their actions. On a server, two statements whatever their number:
    across a network each is a round trip, and a batch of events makes dozens. On SQLite a
    statement is a call in the process: a row at a time on the cursor costs less there than
    SQLAlchemy's work to send many with their ids back (profiled, bench/RESULTS.md)."""
    if len(written) == 1 or conn.dialect.name != "postgresql":
        ids = [_DECISION_ADD.insert(conn, w.row) for w in written]
    else:
        ids = list(conn.execute(_DECISIONS_ADD, [w.row for w in written]).scalars())
    for w, decision_id in zip(written, ids, strict=True):
        w.id = decision_id
        for action in w.actions:
            action["decision_id"] = decision_id
    outbox.queue_all(conn, [a for w in written for a in w.actions])


class StoreMarks:
    """`Marks` of one group, read and written inside the processing transaction."""

    def __init__(self, conn: Connection, group_id: int) -> None:
        self.conn, self.group_id = conn, group_id

    def get(self, policy: str, key: str) -> float | None:
        at = _MARK_AT.scalar(
            self.conn, {"b_group": self.group_id, "b_policy": policy, "b_key": key}
        )
        return None if at is None else at / 1000

    def many(self, policy: str, keys: Sequence[str]) -> dict[str, float]:
        rows = _MARKS_AT.rows(
            self.conn, {"b_group": self.group_id, "b_policy": policy, "b_keys": list(keys)}
        )
        return {key: at / 1000 for key, at in rows}

    def put(self, policy: str, key: str, at: float) -> None:
        values = {"b_group": self.group_id, "b_policy": policy, "b_key": key}
        if not _MARK_MOVE.run(self.conn, {**values, "b_at": int(at * 1000)}).rowcount:
            _MARK_ADD.run(
                self.conn,
                {"group_id": self.group_id, "policy": policy, "key": key, "at": int(at * 1000)},
            )

    def since(self, policy: str, prefix: str, at: float) -> list[tuple[str, float]]:
        rows = self.conn.execute(
            select(_pm.c.key, _pm.c.at).where(
                _pm.c.group_id == self.group_id,
                _pm.c.policy == policy,
                # LIKE, not a range of strings: PostgreSQL databases in a locale's collation
                # order punctuation in ways a range on "joined:" would not expect
                _pm.c.key.startswith(prefix, autoescape=True),
                _pm.c.at >= int(at * 1000),
            )
        ).all()
        return [(r.key, r.at / 1000) for r in rows]


class BatchMarks:
    """The marks of one processing transaction: read through to the store, and written all at
    once when the batch is done (`flush`), in one statement instead of an UPDATE and often an
    INSERT for each (about one mark an event: joined, removed, earned …, two round trips an
    event on a database server). Later events of the batch read what earlier ones put."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending: dict[tuple[int, str, str], int] = {}  # (group, policy, key) -> at, in ms
        self.known: dict[tuple[int, str, str], float | None] = {}  # read ahead; None: unmarked

    def of(self, group_id: int) -> Marks:
        return _BatchGroupMarks(self, group_id)

    def read_ahead(self, policy: str, wanted: Collection[tuple[int, str]]) -> None:
        """Read these (group, key) marks of a policy now, together, for the batch's events to
        find: one statement for the groups of the batch (the pairs asked of all of them, then
        kept as asked)."""
        rest = sorted(w for w in wanted if (w[0], policy, w[1]) not in self.known)
        for start in range(0, len(rest), READ_AHEAD_AT_ONCE):
            chunk = rest[start : start + READ_AHEAD_AT_ONCE]
            params = {
                "b_policy": policy,
                "b_groups": _padded(sorted({g for g, _k in chunk})),
                "b_keys": _padded(sorted({k for _g, k in chunk})),
            }
            found = {(g, k): at for g, k, at in _MARKS_AHEAD.rows(self.conn, params)}
            for group, key in chunk:
                at = found.get((group, key))
                self.known[(group, policy, key)] = None if at is None else at / 1000

    def flush(self) -> None:
        rows = [(group, policy, key, at) for (group, policy, key), at in self.pending.items()]
        insert(
            self.conn,
            t.policy_marks,
            ("group_id", "policy", "key", "at"),
            rows,
            "ON CONFLICT (group_id, policy, key) DO UPDATE SET at = excluded.at",
        )
        self.pending.clear()


def _padded(values: list[Any]) -> list[Any]:
    """`values` made as long as the next power of two by repeating the last: a handful of IN
    list lengths, whose SQL `Prepared` makes once each, instead of one for every length."""
    size = 1 << (len(values) - 1).bit_length()
    return values + values[-1:] * (size - len(values))


class _BatchGroupMarks(StoreMarks):
    """One group's marks within a `BatchMarks`: what the batch put, else what it read ahead,
    else the store's."""

    def __init__(self, batch: BatchMarks, group_id: int) -> None:
        super().__init__(batch.conn, group_id)
        self.batch = batch

    def get(self, policy: str, key: str) -> float | None:
        mark = (self.group_id, policy, key)
        at = self.batch.pending.get(mark)
        if at is not None:
            return at / 1000
        if mark in self.batch.known:
            return self.batch.known[mark]
        return super().get(policy, key)

    def many(self, policy: str, keys: Sequence[str]) -> dict[str, float]:
        put, known, group = self.batch.pending, self.batch.known, self.group_id
        found = {k: put[(group, policy, k)] / 1000 for k in keys if (group, policy, k) in put}
        ahead = [k for k in keys if k not in found and (group, policy, k) in known]
        found.update({k: at for k in ahead if (at := known[(group, policy, k)]) is not None})
        rest = [k for k in keys if k not in found and k not in ahead]
        return {**(super().many(policy, rest) if rest else {}), **found}

    def put(self, policy: str, key: str, at: float) -> None:
        self.batch.pending[(self.group_id, policy, key)] = int(at * 1000)

    def since(self, policy: str, prefix: str, at: float) -> list[tuple[str, float]]:
        found = dict(super().since(policy, prefix, at))
        for (group, kept, key), put_at in self.batch.pending.items():
            if group == self.group_id and kept == policy and key.startswith(prefix):
                found[key] = put_at / 1000  # a later put moves a mark, earlier or later
        least = int(at * 1000) / 1000
        return [(key, when) for key, when in found.items() if when >= least]


class Runtime:
    def __init__(
        self,
        engine: Engine,
        setups: Setups,
        connectors: Mapping[str, Connector] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.setups = setups
        self.connectors = dict(connectors or {})
        self.clock = clock
        self.executor = outbox.Executor(engine, self.connectors, clock)
        # inbox id -> pictures of the events this process accepted, until processed (they
        # are in the store too: `inbox_pictures`, for the next process after a crash)
        self._images: dict[int, tuple[bytes, ...]] = {}
        self._left_upto: int | None = None  # the newest event an earlier process left pictures of
        self.reader = PictureReader(self.accept)
        # asks the language model about the decisions moderation holds for it (set by the
        # service where qunzhu.toml names one; without it, held decisions wait for
        # `release_held`)
        self.opinions: SecondOpinions | None = None
        self._sessions: dict[str, int] = {}  # connector -> its row in `imports` for this run
        self.wake = asyncio.Event()
        self.faults = Faults()
        self._taken_back = False  # what an earlier process set aside: taken back at the start
        # members forgotten meanwhile, for the processing thread to drop from the detectors'
        # memories before its next batch (they are not to be touched from another thread)
        self._forgetting: list[Callable[[str], bool]] = []

    # -- in -------------------------------------------------------------------------------

    async def receive(self, event: LiveEvent) -> None:
        """Write the event to the inbox; a second delivery of the same event is ignored. While
        the store cannot be reached this waits and tries again: a platform that pushes events
        (OneBot) sends each once, and a connector that fetches them (Telegram) would only
        fetch the same again."""
        while True:
            try:
                self.accept(event)
                break
            except Exception as exc:
                if not store_unreachable(exc):
                    raise
                await asyncio.sleep(self.faults.store_down(exc))
        self.faults.store_up()
        self.wake.set()

    def accept(self, event: LiveEvent) -> int | None:
        """The synchronous part of `receive`: the inbox row's id, None for a duplicate.
        Every event a connector receives waits on it before it is acknowledged: one without
        pictures is one INSERT (`one_statement`)."""
        stored = self.engine.begin() if event.images else one_statement(self.engine)
        try:
            with stored as conn:
                self._earlier_pictures(conn)
                row_id = _INBOX_ADD.insert(
                    conn,
                    {
                        "connector": event.connector,
                        "key": events.key(event),
                        "payload": events.encode(event),
                        "received_at": int(self.clock() * 1000),
                    },
                )
                if event.images:
                    conn.execute(
                        t.inbox_pictures.insert(),
                        [
                            {"inbox_id": row_id, "position": i, "data": data}
                            for i, data in enumerate(event.images)
                        ],
                    )
        except IntegrityError:
            return None
        if event.images:
            self._images[row_id] = event.images
        return row_id

    def reload(self, setups: Setups) -> None:
        """Use these policies from the next batch on (settings changed in the console); a
        batch being processed finishes with the ones it started with."""
        self.setups = setups

    # -- decide ---------------------------------------------------------------------------

    def forget(self, forgotten: Callable[[str], bool]) -> None:
        """Members just forgotten (`qunzhu forget`, the console): what the connectors read
        of them lately goes now, what moderation remembers of them (today's messages and
        pictures, trust counts) before the next batch."""
        for connector in self.connectors.values():
            if (drop := getattr(connector, "forget", None)) is not None:
                drop(forgotten)
        self._forgetting.append(forgotten)

    def _forget_in_memory(self) -> None:
        forgetting, self._forgetting = self._forgetting, []
        memories: dict[int, Detector | Behaviour] = {}  # each community's once
        for setup in [*list(self.setups.groups.values()), self.setups.default]:
            for policy in setup.policies:
                if isinstance(policy, ModerationPolicy):
                    memories[id(policy.detector)] = policy.detector
                elif isinstance(policy, RaidPolicy) and policy.community is not None:
                    memories[id(policy.community)] = policy.community
        for forgotten in forgetting:
            for memory in memories.values():
                memory.forget_members(forgotten)

    def process(self, limit: int = 500) -> int:
        """Process up to `limit` inbox events in one transaction; return how many."""
        if not self._taken_back:
            self._take_back()
        if self._forgetting:
            self._forget_in_memory()
        try:
            return self._process(limit)
        except BaseException:
            self._sessions.clear()  # a session row made in the rolled-back transaction is gone
            raise

    def _process(self, limit: int) -> int:
        setups = self.setups  # one batch, one set of policies, whatever `reload` does meanwhile
        with self.engine.begin() as conn:
            rows = conn.execute(
                self._pending(t.inbox.c.id, t.inbox.c.connector, t.inbox.c.payload).limit(limit)
            ).all()
            if not rows:
                return 0
            left = self._left_pictures(conn, [r.id for r in rows if r.id not in self._images])
            batch = []
            for row in rows:
                event = events.decode(row.connector, row.payload)
                images = self._images.get(row.id) or left.get(row.id, ())
                batch.append((row.id, _with_images(event, images)))
            places = self._store(conn, [e for _, e in batch])
            _keep_pictures(conn, [e for _, e in batch], places)
            now = int(self.clock() * 1000)
            self._decide_batch(conn, batch, places, now, setups)
            conn.execute(
                update(t.inbox)
                .where(t.inbox.c.id.in_([r.id for r in rows]))
                .values(processed_at=now, payload="")  # kept only until processed
            )
            pictured = [inbox_id for inbox_id, event in batch if event.images]
            if pictured:
                conn.execute(
                    delete(t.inbox_pictures).where(t.inbox_pictures.c.inbox_id.in_(pictured))
                )
        for inbox_id in pictured:  # only once processed: a batch rolled back keeps them
            self._images.pop(inbox_id, None)
        return len(rows)

    def _decide_batch(
        self,
        conn: Connection,
        batch: list[tuple[int, LiveEvent]],
        places: dict[tuple[str, str], tuple[int, int | None]],
        now: int,
        setups: Setups,
    ) -> None:
        """Decide the batch's events in order, each seeing what the ones before it marked and
        blocked. Their decisions and actions are written together at the end, or before
        anything reads them back (a block naming its decision, a take-down asking what was
        taken down, a welcome or removal waiting in the outbox): on a database across a
        network each statement is a round trip."""
        people = {inbox_id: _person(event, places) for inbox_id, event in batch}
        kept_out = blocklist.reasons_for(conn, [p for p in people.values() if p])
        marks = BatchMarks(conn)
        _read_ahead(marks, batch, places, setups)
        conn.info[_HELD] = []
        try:
            for inbox_id, event in batch:
                gid = places[(event.group.platform.value, event.group.platform_id)][0]
                person = people[inbox_id]
                event.blocked = kept_out.get(person) if person else None
                for block in self._decide(conn, inbox_id, gid, event, now, marks, setups):
                    if person is not None:  # later events of the batch see it at once
                        blocklist.block_person(conn, *person, block)
                        kept_out[person] = block.reason
                        record = event.record
                        name = record.sender.name if isinstance(record, Message) else None
                        self._sweep(marks, person, name, block.reason, block.at, setups, gid)
            _write_held(conn)
        finally:
            conn.info.pop(_HELD)
        marks.flush()

    def _pending(self, *columns: Any) -> Any:
        """The inbox's unprocessed events, oldest first, but those set aside (`faults`)."""
        return (
            select(*columns)
            .where(t.inbox.c.processed_at.is_(None), t.inbox.c.set_aside_at.is_(None))
            .order_by(t.inbox.c.id)
        )

    def _take_back(self) -> None:
        """At a start: the events an earlier process set aside are tried again (the code
        may have been fixed since)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.inbox)
                .where(t.inbox.c.set_aside_at.is_not(None), t.inbox.c.processed_at.is_(None))
                .values(set_aside_at=None)
            )
        self._taken_back = True

    def _isolate(self, limit: int = 500) -> int:
        """After a batch failed: its events one at a time, up to the one that fails, which is
        counted (`faults`) and tried again at the next step. How many went through.

        What a failed batch's moderation counted in memory before the failure (a member's
        recent messages, the texts seen across groups, clean messages towards trust) is not
        counted again: the detector gives a message it judged the same decision
        (`Detector.check_many`)."""
        done = 0
        while done < limit:
            with self.engine.connect() as conn:
                head = conn.execute(self._pending(t.inbox.c.id).limit(1)).scalar()
            if head is None:
                break
            try:
                if not self.process(1):
                    break
            except Exception as exc:
                if store_unreachable(exc):
                    raise
                if self.faults.failed(head, exc):
                    with one_statement(self.engine) as conn:
                        conn.execute(
                            update(t.inbox)
                            .where(t.inbox.c.id == head)
                            .values(set_aside_at=int(self.clock() * 1000))
                        )
                break
            self.faults.passed(head)
            done += 1
        return done

    async def step(self) -> int:
        """Process a batch whatever fails (`engine/faults.py`): an event that cannot be
        processed is isolated and in the end set aside, a store out of reach waited for.
        How many events went through."""
        try:
            processed = await asyncio.to_thread(self._take)
        except Exception as exc:
            if not store_unreachable(exc):
                raise
            await asyncio.sleep(self.faults.store_down(exc))
            return 0
        self.faults.store_up()
        return processed

    def _take(self) -> int:
        """A batch, or its events one at a time where it fails; the next event alone where
        the last one set aside may fail the same way (`faults`): a batch would fail at its
        first event, and once one passes, batches go on."""
        if self.faults.streak:
            return self._isolate(1)
        try:
            processed = self.process()
        except Exception as exc:
            if store_unreachable(exc):
                raise
            return self._isolate()
        self.faults.failures.clear()  # the oldest events are in every batch: they passed
        self.faults.passed()
        return processed

    async def _settle(self) -> None:
        """At stop: process what is left. An event that fails is tried until it is set aside
        (`faults`), so the events after it are not left for the next start; a store out of
        reach is not waited for, nor a bug that the events met one after the other
        (`SETTLE_RUN` of them): the rest waits for the next start."""
        while True:
            aside = len(self.faults.set_aside)
            if await self.step():
                continue
            if self.faults.store_down_now or self.faults.run >= SETTLE_RUN:
                return
            if not self.faults.failures and len(self.faults.set_aside) == aside:
                return  # nothing left, nothing failing: settled

    async def _drain(self) -> int:
        """`executor.drain`, a store out of reach waited for as by `step`."""
        try:
            return await self.executor.drain()
        except Exception as exc:
            if store_unreachable(exc):
                await asyncio.sleep(self.faults.store_down(exc))
            else:  # the actions stay queued: tried again after a pause, the events go on
                log.exception(tr("the queued actions could not be carried out; trying again"))
                await asyncio.sleep(DRAIN_PAUSE_S)
            return 0

    def _left_pictures(self, conn: Connection, ids: list[int]) -> dict[int, tuple[bytes, ...]]:
        """The pictures an earlier process accepted with these events and stopped before
        processing (a crash); asked of the store only for events up to the newest it left."""
        wanted = [i for i in ids if i <= self._earlier_pictures(conn)]
        if not wanted:
            return {}
        p = t.inbox_pictures
        found: dict[int, list[bytes]] = {}
        for row in conn.execute(
            select(p.c.inbox_id, p.c.data).where(p.c.inbox_id.in_(wanted)).order_by(p.c.position)
        ):
            found.setdefault(row.inbox_id, []).append(row.data)
        return {inbox_id: tuple(images) for inbox_id, images in found.items()}

    def _earlier_pictures(self, conn: Connection) -> int:
        """The newest event whose pictures an earlier process left in the store (0: none),
        asked once, before this process stores any."""
        if self._left_upto is None:
            newest = conn.execute(select(func.max(t.inbox_pictures.c.inbox_id))).scalar()
            self._left_upto = newest or 0
        return self._left_upto

    def _store(
        self, conn: Connection, batch: list[LiveEvent]
    ) -> dict[tuple[str, str], tuple[int, int | None]]:
        """Store messages and membership events through the import path; each group's id and
        community."""
        by_connector: dict[str, list[LiveEvent]] = {}
        for event in batch:
            by_connector.setdefault(event.connector, []).append(event)
        for connector, evs in by_connector.items():
            session = self._sessions.get(connector)
            if session is None:
                session = start_import(conn, connector, f"live:{connector}")
                self._sessions[connector] = session
            ingest = Ingest(conn, f"live:{connector}", connector, import_id=session)
            grouped = _by_group(evs)
            ingest.prefetch(grouped)
            ingest.run(r for group, records in grouped for r in (group, *records))
        keys = {(e.group.platform.value, e.group.platform_id) for e in batch}
        groups = _places(conn, keys)
        if self._place_adopted(conn, batch, groups):
            groups = _places(conn, keys)
        for event in batch:
            where = groups.get((event.group.platform.value, event.group.platform_id))
            if isinstance(event.record, Edit) and where is not None:
                rewrite(conn, where[0], event.record.message)
        return groups

    def _place_adopted(
        self,
        conn: Connection,
        batch: list[LiveEvent],
        groups: dict[tuple[str, str], tuple[int, int | None]],
    ) -> bool:
        """Put the groups of this batch that no one configured, and that sit in no community
        yet, in their connector's community (`Setups.communities`); whether any was."""
        setups, placed = self.setups, False
        for event in batch:
            community = setups.communities.get(event.connector)
            key = (event.group.platform.value, event.group.platform_id)
            found = groups.get(key)
            if community is None or found is None or found[1] is not None:
                continue
            if setups.configured(event.connector, event.group.platform_id):
                continue  # the file or the console says where it belongs
            place_group(conn, key[0], key[1], event.group.name, community)
            groups[key] = (found[0], -1)  # placed: not again in this batch
            placed = True
        return placed

    def _decide(
        self,
        conn: Connection,
        inbox_id: int,
        group_id: int,
        event: LiveEvent,
        now: int,
        batch_marks: BatchMarks,
        setups: Setups | None = None,
    ) -> list[blocklist.Block]:
        """Write the policies' decisions and queue their actions; the blocks they ask for."""
        setups = self.setups if setups is None else setups
        setup = setups.of(event.connector, event.group.platform_id)
        marks = batch_marks.of(group_id)
        record = event.record
        member = _member(event)
        blocks: list[blocklist.Block] = []
        if isinstance(record, JoinRequest) and member:  # admission may go by the asker's tags
            event.tags = tags.of_person(conn, event.group.platform.value, member)
        if isinstance(record, Message) and record.reply_to and is_report(record.text):
            event.replied = stored_message(conn, group_id, record.reply_to)
            event.replied_pictures = pictures.of_message(conn, group_id, record.reply_to)
        if isinstance(record, PictureText):  # what a person's "spam" on it makes a known ad
            event.pictures = pictures.of_message(conn, group_id, record.platform_id)
        outcomes: list[Outcome] = []
        for policy, outcome in decide_all(setup.policies, event, marks):
            outcomes.append(outcome)
            if outcome.cancel is not None:
                _write_held(conn)  # what is called off may be this batch's
                outbox.cancel(conn, event.connector, outcome.cancel, now)
            about = outcome.about or (member, record.platform_id)
            where = (event.connector, event.group.platform_id)
            written = self._write(
                conn, inbox_id, group_id, where, setup, policy, outcome, about, now
            )
            if outcome.block is not None:
                _write_held(conn)  # the block names its decision
                blocks.append(blocklist.Block(outcome.block, group_id, written.id, now))
            if outcome.copies:  # the campaign's copies posted before it was called spam
                self._take_down(conn, outcome.copies, EARLIER_COPY, now)
            if outcome.ask is not None and self.opinions is not None:
                self.opinions.submit(event, outcome.ask)
        if event.images and any(
            isinstance(p, ModerationPolicy) and p.reads(event, marks, outcomes)
            for p in setup.policies
        ):
            asked = any(o.policy == ModerationPolicy.name and o.verdict == REVIEW for o in outcomes)
            self.reader.submit(event, REVIEW if asked else HAM)
        return blocks

    def _write(
        self,
        conn: Connection,
        inbox_id: int,
        group_id: int,
        where: tuple[str, str],
        setup: GroupSetup,
        policy: Policy,
        outcome: Outcome,
        about: tuple[str | None, str | None],
        now: int,
    ) -> _Written:
        """One decision (about a member and a message) in a group (its store id, and its
        connector and platform id: `where`) and its actions. A batch holds them until it
        writes them all (`_write_held`); elsewhere they are written at once."""
        written = _Written(
            {
                "inbox_id": inbox_id,
                "group_id": group_id,
                "policy": outcome.policy,
                "verdict": outcome.verdict,
                "reasons": orjson.dumps(outcome.reasons, default=str).decode(),
                "at": now,
                "member": about[0],
                "record_id": about[1],
                "step": _step_of(outcome.reasons),
            }
        )
        for draft in outcome.actions:
            row = self._action_row(conn, where, setup, policy, draft, now)
            if row is not None:
                written.actions.append(row)
        held = conn.info.get(_HELD)
        if held is None:  # a sweep, a take-down: outside a batch
            _write_decisions(conn, [written])
        else:
            held.append(written)
        return written

    def release_held(self) -> int:
        """Decisions moderation held for a language model that an earlier process stopped
        (or crashed) before its answer was judged go to a person instead: they join the
        console's queue, and an answer still to come is not acted on (the policy's
        `released` mark). How many."""
        d = t.decisions
        held = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(d.c.id, d.c.group_id, d.c.member, d.c.record_id, d.c.reasons).where(
                    d.c.policy == ModerationPolicy.name, d.c.step == Step.ASK_MODEL.value
                )
            ).all()
            for row in rows:
                later = conn.execute(
                    select(d.c.id).where(
                        d.c.group_id == row.group_id,
                        d.c.record_id == row.record_id,
                        d.c.policy == ModerationPolicy.name,
                        d.c.id > row.id,
                    )
                ).first()
                if later is not None:
                    continue  # answered, and judged
                reasons = orjson.loads(row.reasons)
                reasons.update(step=Step.ASK_ADMIN.value, released=True)
                conn.execute(
                    update(d)
                    .where(d.c.id == row.id)
                    .values(reasons=orjson.dumps(reasons).decode(), step=Step.ASK_ADMIN.value)
                )
                released = released_mark(row.record_id, row.member or "")
                StoreMarks(conn, row.group_id).put(ModerationPolicy.name, released, self.clock())
                held.append(row.id)
        if held:
            log.warning(
                tr("{n} decision(s) waiting for the language model went to a person", n=len(held))
            )
        return len(held)

    def sweep_blocks(self, since_ms: int) -> int:
        """People's blocks (the console's, the command line's) made from `since_ms` on (0:
        all, as at start, whenever they were made): each blocked member is kept out at once of
        the community's groups they are in now, as the engine's own bans are. Read from the
        open memberships' side, so a long list of people who never came costs nothing. Each
        (block, group) is swept once, whoever calls this and however often; returns the newest
        block's time (or `since_ms`), present or not."""
        b, m, ms, g = t.blocklist, t.members, t.memberships, t.groups
        made = (b.c.added_by.is_not(None), b.c.at >= since_ms)
        with self.engine.begin() as conn:
            newest = conn.execute(select(func.max(b.c.at)).where(*made)).scalar()
            if newest is None:
                return since_ms
            rows = conn.execute(
                select(b.c.community_id, b.c.reason, b.c.at, m.c.platform, m.c.external_id)
                .select_from(
                    ms.join(g, g.c.id == ms.c.group_id)
                    .join(
                        b,
                        and_(b.c.community_id == g.c.community_id, b.c.member_id == ms.c.member_id),
                    )
                    .join(m, m.c.id == b.c.member_id)
                )
                .where(ms.c.left_at.is_(None), *made)
                .distinct()
                .order_by(b.c.at)
            ).all()
            marks = BatchMarks(conn)
            for row in rows:
                person = (row.community_id, row.platform, row.external_id)
                self._sweep(marks, person, None, row.reason, row.at, self.setups)
            marks.flush()
        return newest

    def _sweep(
        self,
        marks: BatchMarks,
        person: tuple[int, str, str],
        name: str | None,
        reason: str,
        at: int,
        setups: Setups,
        skip: int | None = None,
    ) -> None:
        """A member the community blocked at `at`, in its groups they are in now (but `skip`,
        where the ban was): each group's moderation keeps them out at once. Each sweep is an
        event of that group (an inbox row of its connector, named by the block and the group,
        so it happens once), which the decision there points to."""
        conn = marks.conn
        community, platform, member = person
        g, ms, m = t.groups, t.memberships, t.members
        rows = conn.execute(
            select(g.c.id, g.c.platform_id)
            .join(ms, ms.c.group_id == g.c.id)
            .join(m, m.c.id == ms.c.member_id)
            .where(
                g.c.community_id == community,
                g.c.id != (skip or 0),
                m.c.platform == platform,
                m.c.external_id == member,
                ms.c.left_at.is_(None),
            )
        ).all()
        now = int(self.clock() * 1000)
        for row in rows:
            for (connector, group), setup in list(setups.groups.items()):
                if group != row.platform_id:
                    continue
                key = f"blocklist:{community}:{member}:{at}:{group}"
                if _seen(conn, connector, key):
                    continue
                for policy in setup.policies:
                    if not isinstance(policy, ModerationPolicy):
                        continue
                    outcome = policy.sweep(member, name, reason, marks.of(row.id))
                    if outcome is None:
                        continue
                    inbox_id = _made_event(conn, connector, key, now)
                    where = (connector, group)
                    self._write(
                        conn, inbox_id, row.id, where, setup, policy, outcome, (member, None), now
                    )

    def remove_named(self, banks: Collection[object]) -> int:
        """Members now in the groups whose moderation checks against one of `banks` (the
        communities people have just confirmed an ad name in) whose display name is close to
        a confirmed one: each group's moderation removes them (`ModerationPolicy.known_name`),
        once, as an event of that group like a sweep. The names are read and checked outside
        the transaction that writes the decisions (tens of thousands of members take seconds
        to check; the store stays free for the event path meanwhile). How many decisions."""
        watched = {
            platform_id: (connector, setup, policy)
            for (connector, platform_id), setup in list(self.setups.groups.items())
            for policy in setup.policies
            if isinstance(policy, ModerationPolicy) and policy.detector.bank in banks
        }
        if not watched:
            return 0
        ms, m, g = t.memberships, t.members, t.groups
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(g.c.id, g.c.platform_id, m.c.external_id, m.c.display_name, ms.c.role)
                .select_from(ms.join(g, g.c.id == ms.c.group_id).join(m, m.c.id == ms.c.member_id))
                .where(
                    g.c.platform_id.in_(sorted(watched)),
                    ms.c.left_at.is_(None),
                    m.c.display_name.is_not(None),
                    m.c.display_name != "",
                )
            ).all()
        names: dict[int, tuple[Detector, set[str]]] = {}  # per community's detector
        for row in rows:
            detector = watched[row.platform_id][2].detector
            names.setdefault(id(detector), (detector, set()))[1].add(row.display_name)
        known = {key: _known_names(detector, seen) for key, (detector, seen) in names.items()}
        found = [
            (connector, row.platform_id, setup, policy, row)
            for row in rows
            for connector, setup, policy in [watched[row.platform_id]]
            if row.display_name in known[id(policy.detector)]
        ]
        made, now = 0, int(self.clock() * 1000)
        with self.engine.begin() as conn:
            for connector, platform_id, setup, policy, row in found:
                marks = StoreMarks(conn, row.id)
                outcome = policy.known_name(
                    row.external_id, row.display_name, row.role or "member", marks
                )
                key = f"known_name:{platform_id}:{row.external_id}"
                if outcome is None or _seen(conn, connector, key):
                    continue
                inbox_id = _made_event(conn, connector, key, now)
                where, about = (connector, platform_id), (row.external_id, None)
                self._write(conn, inbox_id, row.id, where, setup, policy, outcome, about, now)
                made += 1
        return made

    def take_down(
        self, copies: Sequence[tuple[str, str, str]], why: Check = KNOWN_PICTURE_COPY
    ) -> int:
        """Messages (group's platform id, message id, member) posted earlier with a picture a
        person has just said is an ad (or alike to a text: `why`): each group's moderation
        deals with its copy (`ModerationPolicy.known_copy`), once, as an event of that group
        like a sweep. How many decisions were made."""
        with self.engine.begin() as conn:
            return self._take_down(conn, copies, why, int(self.clock() * 1000))

    def _take_down(
        self,
        conn: Connection,
        copies: Sequence[tuple[str, str, str]],
        why: Check,
        now: int,
    ) -> int:
        """`take_down` in an open transaction, saying `why` (a known picture, a campaign's
        earlier copy); how many decisions were made."""
        _write_held(conn)  # what moderation took down already may be this batch's
        made = 0
        for group, message, member in copies:
            for (connector, platform_id), setup in list(self.setups.groups.items()):
                key = f"known_ad:{platform_id}:{message}"
                if platform_id != group or _seen(conn, connector, key):
                    continue
                group_id = conn.execute(
                    select(t.groups.c.id).where(t.groups.c.platform_id == group)
                ).scalar()
                if group_id is None or _judged_spam(conn, group_id, message):
                    continue  # unknown here, or moderation took it down already
                for policy in setup.policies:
                    if not isinstance(policy, ModerationPolicy):
                        continue
                    inbox_id = _made_event(conn, connector, key, now)
                    outcome = policy.known_copy(member, message, why)
                    where, about = (connector, group), (member, message)
                    self._write(conn, inbox_id, group_id, where, setup, policy, outcome, about, now)
                    made += 1
        return made

    def _action_row(
        self,
        conn: Connection,
        where: tuple[str, str],
        setup: GroupSetup,
        policy: Policy,
        draft: Draft,
        now: int,
    ) -> dict[str, Any] | None:
        """The outbox row of one action; None when a newcomer joined a waiting welcome."""
        action = _action(where, draft, setup)
        if draft.batch and isinstance(policy, WelcomePolicy) and self._merge(conn, draft, policy):
            return None
        connector = self.connectors.get(where[0])
        kind = ActionKind(action["kind"])
        can = connector is not None and kind in connector.capabilities
        return outbox.queued(
            action,
            decision_id=None,  # known once the decision is written
            can=can or connector is None,  # no live connector (tests, replay): keep it queued
            now_ms=now,
            delay_ms=int(draft.delay_s * 1000),
        )

    def _merge(self, conn: Connection, draft: Draft, policy: WelcomePolicy) -> bool:
        """Add a newcomer to a welcome that is still waiting, instead of a second message."""
        _write_held(conn)  # the welcome waiting may be this batch's
        rows = conn.execute(
            select(t.outbox.c.id, t.outbox.c.payload).where(
                t.outbox.c.status == outbox.PENDING,
                t.outbox.c.kind == ActionKind.SEND.value,
                t.outbox.c.due_at > int(self.clock() * 1000),
            )
        ).all()
        for row in rows:
            payload = orjson.loads(row.payload)
            if payload.get("batch") != draft.batch:
                continue
            payload["names"] = [*payload["names"], *draft.names]
            payload["text"] = policy.merged(payload["names"])
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id == row.id)
                .values(payload=orjson.dumps(payload).decode())
            )
            return True
        return False

    # -- out ------------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event, idle_s: float = 0.2) -> None:
        """Process the inbox and drain the outbox until `stop` is set, then drain once more."""
        outbox.recover(self.engine)
        await asyncio.to_thread(self.release_held)
        while not stop.is_set():
            processed = await self.step()
            attempted = await self._drain()
            if not processed and not attempted:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), idle_s)
        self.reader.close()
        await self._settle()
        if self.opinions is not None:  # the model's answers to what was held, judged too
            await asyncio.to_thread(self.opinions.close)
            await self._settle()
        await self._drain()
        await self.executor.close()


def _read_ahead(
    marks: BatchMarks,
    batch: list[tuple[int, LiveEvent]],
    places: dict[tuple[str, str], tuple[int, int | None]],
    setups: Setups,
) -> None:
    """The marks the policies say they read for each event (`read_ahead`), read for the whole
    batch in a statement per policy."""
    wanted: dict[str, set[tuple[int, str]]] = {}
    for _inbox_id, event in batch:
        group_id = places[(event.group.platform.value, event.group.platform_id)][0]
        for policy in setups.of(event.connector, event.group.platform_id).policies:
            ahead = getattr(policy, "read_ahead", None)  # a policy may read nothing ahead
            if ahead is not None:
                wanted.setdefault(policy.name, set()).update((group_id, k) for k in ahead(event))
    for name, pairs in wanted.items():
        marks.read_ahead(name, pairs)


def _seen(conn: Connection, connector: str, key: str) -> bool:
    """Whether an event of this key came through the inbox already."""
    inbox = t.inbox
    found = select(inbox.c.id).where(inbox.c.connector == connector, inbox.c.key == key)
    return conn.execute(found).first() is not None


def _made_event(conn: Connection, connector: str, key: str, now: int) -> int:
    """An event the engine makes itself (a sweep, an earlier copy taken down): an inbox row,
    processed already, that its decisions point to and that keeps it from happening twice."""
    return int(
        _INBOX_ADD.insert(
            conn,
            {
                "connector": connector,
                "key": key,
                "payload": "",
                "received_at": now,
                "processed_at": now,
            },
        )
    )


def _judged_spam(conn: Connection, group_id: int, message: str) -> bool:
    d = t.decisions
    return (
        conn.execute(
            select(d.c.id).where(
                d.c.group_id == group_id,
                d.c.record_id == message,
                d.c.policy == ModerationPolicy.name,
                d.c.verdict == SPAM,
            )
        ).first()
        is not None
    )


def _member(event: LiveEvent) -> str | None:
    record = event.record
    return (record.sender if isinstance(record, Message) else record.member).user_id


def _known_names(detector: Detector, names: set[str]) -> set[str]:
    """Those of these display names the detector calls a known ad (each checked once,
    however many members carry it)."""
    checked = {name: detector.name_check(name) for name in names}
    return {name for name, check in checked.items() if check is not None and check.verdict == SPAM}


def _person(
    event: LiveEvent, places: dict[tuple[str, str], tuple[int, int | None]]
) -> tuple[int, str, str] | None:
    """(community, platform, member id): how the community's blocklist knows the event's
    member; None for a group in no community or a member without an id."""
    platform = event.group.platform.value
    community = places[(platform, event.group.platform_id)][1]
    member = _member(event)
    return None if community is None or member is None else (community, platform, member)


def _with_images(event: LiveEvent, images: tuple[bytes, ...]) -> LiveEvent:
    """The event with the pictures `accept` held in memory, and their fingerprints."""
    if images:
        event.images = images
        event.pictures = fingerprints(images)
    return event


def _keep_pictures(
    conn: Connection, batch: list[LiveEvent], places: dict[tuple[str, str], tuple[int, int | None]]
) -> None:
    """Keep the fingerprints of the batch's stored messages with them."""
    by_group: dict[int, dict[str, tuple[int, ...]]] = {}
    for event in batch:
        if event.pictures and isinstance(event.record, Message):
            gid = places[(event.group.platform.value, event.group.platform_id)][0]
            by_group.setdefault(gid, {})[event.record.platform_id] = event.pictures
    for gid, prints in by_group.items():
        pictures.keep(conn, gid, prints)


def _by_group(batch: list[LiveEvent]) -> list[tuple[Group, list[Record]]]:
    """Each group of the batch with its records, in the order they came (Ingest reads a
    group, then its records)."""
    by_group: dict[tuple[str, str], tuple[Group, list[Record]]] = {}
    for event in batch:
        k = (event.group.platform.value, event.group.platform_id)
        entry = by_group.setdefault(k, (event.group, []))
        if isinstance(event.record, Message) and (carried := event.kinds & CARRIED):
            event.record.carried = tuple(sorted(carried))  # what the store keeps of the kinds
        if isinstance(event.record, Message | MembershipEvent):
            entry[1].append(event.record)
    return list(by_group.values())


def _action(where: tuple[str, str], draft: Draft, setup: GroupSetup) -> dict[str, Any]:
    """The outbox payload of a draft for a group (`where`: its connector and platform id)."""
    kind, group_id, text = draft.kind, where[1], draft.text
    if kind is ActionKind.NOTIFY_OWNER and setup.admin_chat:
        kind, group_id = ActionKind.SEND, setup.admin_chat  # tell the admins where they are
    action: dict[str, Any] = {
        "kind": kind.value,
        "connector": where[0],
        "group_id": group_id,
        "member_id": draft.member_id,
        "message_id": draft.message_id,
        "text": text,
        "seconds": draft.seconds,
        "request_id": draft.request_id,
        "reason": draft.reason,
    }
    if draft.batch:
        action["batch"], action["names"] = draft.batch, list(draft.names)
    if draft.expire_s:
        action["expire_s"] = draft.expire_s
    return action


def _step_of(reasons: dict[str, Any]) -> str | None:
    """The ladder's step a decision's reasons name, for its indexed column."""
    step = reasons.get("step")
    return step[:40] if isinstance(step, str) else None
