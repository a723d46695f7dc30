"""The outbox: actions wait here until a connector has done them.

Written in the same transaction as the decision that made them, so a decision never exists
without its actions nor an action without its decision. An action is marked `in_flight` (and
committed) before the platform is called and `done` after. After a crash, what was in flight is
looked at again: deleting, muting, kicking, banning, approving twice does nothing more, so those
are retried; a message cut mid-send may have gone out, and sending it again would say it twice,
so it becomes `uncertain`, a task for a human, never a second message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, func, select, update

from qunzhu.connectors import Connector
from qunzhu.i18n import tr
from qunzhu.model.live import Action, ActionFailed, ActionKind, RateLimited
from qunzhu.store import schema as t
from qunzhu.store.bulk import insert
from qunzhu.store.db import one_statement
from qunzhu.store.prepared import Prepared

log = logging.getLogger(__name__)

PENDING, IN_FLIGHT, DONE, FAILED = "pending", "in_flight", "done", "failed"
CANCELLED = "cancelled"  # held back, then called off (a newcomer answered the captcha)
TASK, UNCERTAIN = "task", "uncertain"  # both wait for a person
HANDLED = "handled"  # a person dealt with a task, an uncertain send or a failure
FOR_A_PERSON = (TASK, UNCERTAIN, FAILED)
IDEMPOTENT = frozenset(
    {
        ActionKind.DELETE,
        ActionKind.MUTE,
        ActionKind.KICK,
        ActionKind.BAN,
        ActionKind.UNMUTE,
        ActionKind.UNBAN,
        ActionKind.APPROVE,
        ActionKind.REJECT,
        ActionKind.LOCK,
        ActionKind.UNLOCK,
    }
)
MAX_ATTEMPTS = 8
BACKOFF_S = (1, 2, 4, 8, 16, 32, 60, 120)  # after each failed attempt that may pass
DRAIN_BUDGET_S = 1.0  # how long the engine waits for the platforms before its next events
CLOSING_S = 30.0  # how long stopping waits for the actions under way

# Built once: every action passes through these, and building a statement costs more than
# running it.
_ob = t.outbox
_ADD = Prepared(_ob.insert())
_TAKE = Prepared(
    update(_ob)
    .where(_ob.c.id == bindparam("b_id"), _ob.c.status == PENDING)
    .values(status=IN_FLIGHT, attempts=_ob.c.attempts + 1)
    .returning(_ob.c.attempts)
)
_AGAIN = Prepared(
    update(_ob)
    .where(_ob.c.id == bindparam("b_id"))
    .values(status=PENDING, due_at=bindparam("b_due"), error=bindparam("b_error"))
)
_END = Prepared(
    update(_ob)
    .where(_ob.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), error=bindparam("b_error"), done_at=bindparam("b_at"))
)


def queue(
    conn: Connection,
    action: Mapping[str, Any],
    *,
    decision_id: int | None,
    can: bool,
    now_ms: int,
    delay_ms: int = 0,
) -> int:
    """Add one action (`queued`); its id."""
    return _ADD.insert(
        conn, queued(action, decision_id=decision_id, can=can, now_ms=now_ms, delay_ms=delay_ms)
    )


def queued(
    action: Mapping[str, Any],
    *,
    decision_id: int | None,
    can: bool,
    now_ms: int,
    delay_ms: int = 0,
) -> dict[str, Any]:
    """One action's row: one the connector cannot do becomes a task for a human right away,
    or when it is due if held back (it may yet be called off)."""
    status = PENDING if can or delay_ms else TASK
    error = None if can else tr("the platform cannot do this: a person has to")
    return {
        "decision_id": decision_id,
        "connector": action["connector"],
        "kind": action["kind"],
        "payload": orjson.dumps(dict(action)).decode(),
        "status": status,
        "attempts": 0,
        "due_at": now_ms + delay_ms,
        "error": error,
        "created_at": now_ms,
    }


def queue_all(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add the actions of many decisions (`queued`) in one statement: on a database across
    a network each statement is a round trip, and a batch of events makes dozens."""
    if rows:
        columns = list(rows[0])
        insert(conn, _ob, columns, [tuple(r[c] for c in columns) for r in rows], "")


def cancel(conn: Connection, connector: str, batch: str, now_ms: int) -> int:
    """Call off a connector's held-back actions of a batch that have not started (a kick
    waiting for a newcomer's answer); what the bot says for it still goes out (a question
    not yet sent when a slow engine reads the answer), and deletions of what it said happen
    now instead. Returns how many were called off. Few actions are held back at once, so
    they are read and matched here."""
    rows = conn.execute(
        select(_ob.c.id, _ob.c.kind, _ob.c.payload).where(
            _ob.c.status == PENDING,
            _ob.c.connector == connector,
            _ob.c.payload.contains(orjson.dumps(batch).decode()),
        )
    ).all()
    ours = [r for r in rows if orjson.loads(r.payload).get("batch") == batch]
    off = [r.id for r in ours if r.kind not in (ActionKind.DELETE, ActionKind.SEND)]
    now = [r.id for r in ours if r.kind == ActionKind.DELETE]
    if off:
        conn.execute(update(_ob).where(_ob.c.id.in_(off)).values(status=CANCELLED, done_at=now_ms))
    if now:
        conn.execute(update(_ob).where(_ob.c.id.in_(now)).values(due_at=now_ms))
    return len(off)


def recover(engine: Engine) -> dict[str, int]:
    """After a crash: in-flight actions that are safe to repeat go back in the queue; sends
    become `uncertain`."""
    with engine.begin() as conn:
        rows = conn.execute(
            select(t.outbox.c.id, t.outbox.c.kind).where(t.outbox.c.status == IN_FLIGHT)
        ).all()
        again = [r.id for r in rows if r.kind in IDEMPOTENT]
        unsure = [r.id for r in rows if r.kind not in IDEMPOTENT]
        if again:
            conn.execute(update(t.outbox).where(t.outbox.c.id.in_(again)).values(status=PENDING))
        if unsure:
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_(unsure))
                .values(status=UNCERTAIN, error=tr("interrupted while sending: check by hand"))
            )
    return {"retried": len(again), "uncertain": len(unsure)}


def waiting(engine: Engine) -> int:
    """Actions still to do: pending (perhaps held back on purpose) or cut while in flight."""
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(t.outbox.c.status.in_([PENDING, IN_FLIGHT]))
        ).scalar_one()


@dataclass(frozen=True, slots=True)
class Task:
    """An action waiting for a person: one the platform cannot do, a send that may or may not
    have gone out, or one the platform refused."""

    id: int
    status: str
    kind: str
    connector: str
    group_id: str
    member_id: str | None
    text: str
    error: str | None
    created_at: int  # ms

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tasks(engine: Engine, limit: int = 500) -> list[Task]:
    """What waits for a person, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_ob.c.id, _ob.c.status, _ob.c.payload, _ob.c.error, _ob.c.created_at)
            .where(_ob.c.status.in_(FOR_A_PERSON))
            .order_by(_ob.c.id)
            .limit(limit)
        ).all()
    found = []
    for row in rows:
        action = orjson.loads(row.payload)
        found.append(
            Task(
                row.id,
                row.status,
                action["kind"],
                action["connector"],
                action["group_id"],
                action.get("member_id"),
                action.get("text") or "",
                row.error,
                row.created_at,
            )
        )
    return found


def handled(engine: Engine, ids: list[int], now_ms: int) -> int:
    """Mark tasks as dealt with by a person; returns how many were waiting."""
    with engine.begin() as conn:
        return conn.execute(
            update(_ob)
            .where(_ob.c.id.in_(ids), _ob.c.status.in_(FOR_A_PERSON))
            .values(status=HANDLED, done_at=now_ms)
        ).rowcount


def to_action(row_id: int, payload: str) -> Action:
    data = orjson.loads(payload)
    data.pop("batch", None)
    data.pop("names", None)
    return Action(id=row_id, **{**data, "kind": ActionKind(data["kind"])})


class Executor:
    """Runs due actions through their connectors: one at a time per connector, in the order
    they were queued, connectors side by side; honouring each platform's "retry after" and
    backing off on passing failures."""

    def __init__(
        self,
        engine: Engine,
        connectors: Mapping[str, Connector],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.connectors = connectors
        self.clock = clock
        self._paused_until: dict[str, float] = {}
        self._lanes: dict[str, asyncio.Task[None]] = {}  # connector -> its actions being done

    async def drain(self, limit: int = 200, budget_s: float | None = DRAIN_BUDGET_S) -> int:
        """Start every action that is due now, each connector's in a lane of its own, and wait
        for the lanes up to `budget_s` (None: until they end). A platform that answers slowly
        (an OneBot implementation hanging each call to its timeout) then holds up neither the
        other platforms nor the engine's next events: its lane goes on meanwhile, and its
        connector gets no new lane until it ends. How many actions were taken on."""
        busy = self._reap()
        now = self.clock()
        query = (
            select(_ob.c.id, _ob.c.decision_id, _ob.c.connector, _ob.c.kind, _ob.c.payload)
            .where(t.outbox.c.status == PENDING, t.outbox.c.due_at <= int(now * 1000))
            .order_by(t.outbox.c.id)
            .limit(limit)
        )
        if busy:
            query = query.where(_ob.c.connector.not_in(busy))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        lanes: dict[str, list[Any]] = {}
        for row in rows:
            if self._paused_until.get(row.connector, 0) > now:
                continue  # the platform asked us to wait; the rest of the queue waits too
            connector = self.connectors.get(row.connector)
            if connector is None:
                self._finish(row.id, TASK, tr("no such connector is running"))
            elif row.kind not in connector.capabilities:  # held back until now, then a person's
                self._finish(row.id, TASK, tr("the platform cannot do this: a person has to"))
            else:
                lanes.setdefault(row.connector, []).append(row)
        for name, todo in lanes.items():
            self._lanes[name] = asyncio.create_task(self._lane(self.connectors[name], todo))
        running = [lane for lane in self._lanes.values() if not lane.done()]
        if running and budget_s != 0:
            await asyncio.wait(running, timeout=budget_s)
        self._reap()
        return sum(map(len, lanes.values()))

    async def close(self, wait_s: float = CLOSING_S) -> None:
        """At stop: the lanes still running get `wait_s` to end, then are cancelled (an action
        left in flight is for `recover` to decide at the next start)."""
        running = [lane for lane in self._lanes.values() if not lane.done()]
        if running:
            _done, late = await asyncio.wait(running, timeout=wait_s)
            for lane in late:
                lane.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        self._lanes.clear()

    def _reap(self) -> list[str]:
        """Forget the lanes that ended (raising what one of them raised: the store out of
        reach, for the caller to wait out); the connectors whose lane still runs."""
        ended = [name for name, lane in self._lanes.items() if lane.done()]
        failed = None
        for name in ended:
            lane = self._lanes.pop(name)
            if not lane.cancelled() and lane.exception() is not None:
                failed = failed or lane.exception()
        if failed is not None:
            raise failed
        return list(self._lanes)

    async def _lane(self, connector: Connector, rows: list[Any]) -> None:
        for row in rows:
            if self._paused_until.get(connector.name, 0) > self.clock():
                return  # a 429 meanwhile: the rest waits, as queued
            await self._run(connector, row, to_action(row.id, row.payload))

    async def _run(self, connector: Connector, row: Any, action: Action) -> None:
        row_id = row.id
        with one_statement(self.engine) as conn:
            attempts = _TAKE.scalar(conn, {"b_id": row_id})
        if attempts is None:
            return  # another worker took it
        try:
            sent = await connector.execute(action)
        except RateLimited as exc:
            until = self.clock() + exc.retry_after
            self._paused_until[connector.name] = until
            self._retry(row_id, until, str(exc))
        except ActionFailed as exc:
            if exc.unknown and action.kind not in IDEMPOTENT:  # it may be out: never twice
                self._finish(
                    row_id, UNCERTAIN, f"{tr('may have been sent: check by hand')} ({exc})"
                )
            elif exc.retry and attempts < MAX_ATTEMPTS:
                wait = BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1]
                self._retry(row_id, self.clock() + wait, str(exc))
            else:
                self._finish(row_id, FAILED, str(exc))
        except asyncio.CancelledError:
            raise  # left in flight: recover() decides at the next start
        except Exception as exc:  # a connector bug must not stop the queue
            log.exception(
                tr("connector {name} failed on action {id}", name=connector.name, id=row_id)
            )
            self._finish(row_id, FAILED, f"{type(exc).__name__}: {exc}")
        else:
            self._finish(row_id, DONE, None, _undo(action, sent, connector, row))

    def _retry(self, row_id: int, at: float, error: str) -> None:
        with one_statement(self.engine) as conn:
            _AGAIN.run(conn, {"b_id": row_id, "b_due": int(at * 1000), "b_error": error})

    def _finish(
        self,
        row_id: int,
        status: str,
        error: str | None,
        then: tuple[dict[str, Any], int | None, int] | None = None,
    ) -> None:
        """End an action; `then`, an action it leads to (its payload, decision and delay in
        ms), is queued in the same commit."""
        with self.engine.begin() if then else one_statement(self.engine) as conn:
            at = int(self.clock() * 1000)
            _END.run(conn, {"b_id": row_id, "b_status": status, "b_error": error, "b_at": at})
            if then is not None:
                action, decision_id, delay_ms = then
                queue(conn, action, decision_id=decision_id, can=True, now_ms=at, delay_ms=delay_ms)


def _undo(
    action: Action, sent: str | None, connector: Connector, row: Any
) -> tuple[dict[str, Any], int | None, int] | None:
    """What an action with `expire_s` asked to have undone that long after: a sent message
    taken down, when the platform gave its id and can delete (no task for a person: tidying
    is not worth one); a locked group unlocked, with what the platform said to restore. It
    keeps the action's batch, so calling the batch off brings it forward."""
    if not action.expire_s:
        return None
    if action.kind is ActionKind.LOCK:
        kind, message, text = ActionKind.UNLOCK, None, sent or ""
    elif sent is not None:
        kind, message, text = ActionKind.DELETE, sent, ""
    else:
        return None
    if kind not in connector.capabilities:
        return None
    undo: dict[str, Any] = {
        "kind": kind.value,
        "connector": action.connector,
        "group_id": action.group_id,
        "member_id": None,
        "message_id": message,
        "text": text,
        "seconds": 0,
        "request_id": None,
        "reason": "expired",
    }
    if batch := orjson.loads(row.payload).get("batch"):
        undo["batch"], undo["names"] = batch, []
    return undo, row.decision_id, action.expire_s * 1000
