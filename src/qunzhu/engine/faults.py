"""What keeps the engine running when something fails on the event path.

An operator's hundred groups share one engine, so whatever fails must not stop it:
- the store out of reach for a while (PostgreSQL restarting or failing over, a SQLite file
  locked by a long console query) is waited out, longer each time, and said once;
- an event the code cannot process (a bug meeting an unusual event) fails its batch every
  time: the batch is taken one event at a time up to that event, which is tried again and, at
  its `TRIES`-th failure, set aside for this process (marked so in the inbox). It stays
  unprocessed there, so nothing is lost: the next start (after the fix) tries it again;
- a bug that every event meets (or a run of them: a flood of one kind of message) fails at
  the same place each time: once one event was set aside, the next that fails at the same
  place, with none passing between, is set aside at its first failure and taken alone, not
  in a batch of hundreds tried three times. Stopping, the engine does not go on through
  such a run (`SETTLE_RUN`): what is left waits for the next start.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from qunzhu import i18n
from qunzhu.i18n import tr
from qunzhu.store.db import said

log = logging.getLogger(__name__)

TRIES = 3  # failures of one event on its own before it is set aside
STORE_WAITS_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # between tries while the store cannot be reached
SETTLE_RUN = 10  # events set aside in a run at one place: stopping leaves the rest waiting

i18n.register(
    {
        "the store cannot be reached ({why}); trying again in {wait:g} s": (
            "无法连接数据库（{why}）；{wait:g} 秒后重试"
        ),
        "the store can be reached again": "数据库已恢复连接",
        "the queued actions could not be carried out; trying again": (
            "无法执行队列中的操作；稍后重试"
        ),
        "event {id} of the inbox could not be processed ({why}); trying again": (
            "收件箱中的事件 {id} 处理失败（{why}）；稍后重试"
        ),
        "event {id} of the inbox failed {n} times and is set aside until the next start; "
        "the events after it go on": (
            "收件箱中的事件 {id} 已失败 {n} 次，本次运行暂不处理（下次启动时重试）；"
            "其后的事件照常处理"
        ),
        "event {id} of the inbox failed where the one set aside before it did ({why}) "
        "and is set aside too": (
            "收件箱中的事件 {id} 与上一个搁置的事件失败在同一处（{why}），也已搁置"
        ),
    }
)


class Faults:
    """What failed so far in this process: the store's outage, and per inbox event its
    failures; `set_aside` is what `Runtime.process` leaves out."""

    def __init__(self) -> None:
        # told of each event set aside (its inbox id and what failed): the service writes it
        # where the console shows the connectors, so the operator sees it without the log
        self.on_set_aside: Callable[[int, BaseException], None] | None = None
        self.set_aside: set[int] = set()
        self.failures: dict[int, int] = {}  # inbox id -> its failures so far
        self._outage = 0  # failed tries in a row to reach the store
        # where the last event set aside failed, while no event has passed since: the next
        # failing there is set aside at once (see the module's docstring); and how many so
        self.streak: str | None = None
        self.run = 0

    def store_down(self, exc: BaseException) -> float:
        """How long to wait before the next try; said at the first failure of an outage."""
        wait = STORE_WAITS_S[min(self._outage, len(STORE_WAITS_S) - 1)]
        if self._outage == 0:
            log.error(
                tr(
                    "the store cannot be reached ({why}); trying again in {wait:g} s",
                    why=said(exc),
                    wait=wait,
                )
            )
        self._outage += 1
        return wait

    @property
    def store_down_now(self) -> bool:
        """Whether the last try to reach the store failed."""
        return self._outage > 0

    def store_up(self) -> None:
        if self._outage:
            log.warning(tr("the store can be reached again"))
        self._outage = 0

    def passed(self, inbox_id: int | None = None) -> None:
        """Events went through (this one after all, if named): nothing to count, and what
        failed before was no bug that every event meets."""
        self.failures.pop(inbox_id, None)
        self.streak, self.run = None, 0

    def failed(self, inbox_id: int, exc: BaseException) -> bool:
        """The event failed on its own; set aside at its `TRIES`-th failure (its traceback
        logged then, once), or at its first where the last one set aside failed. Whether it
        is set aside now."""
        place = _place(exc)
        if place == self.streak:
            self.failures.pop(inbox_id, None)
            log.warning(
                tr(
                    "event {id} of the inbox failed where the one set aside before it did "
                    "({why}) and is set aside too",
                    id=inbox_id,
                    why=said(exc),
                )
            )
            self._set_aside(inbox_id, exc)
            return True
        n = self.failures[inbox_id] = self.failures.get(inbox_id, 0) + 1
        if n < TRIES:
            log.warning(
                tr(
                    "event {id} of the inbox could not be processed ({why}); trying again",
                    id=inbox_id,
                    why=said(exc),
                )
            )
            return False
        del self.failures[inbox_id]
        log.error(
            tr(
                "event {id} of the inbox failed {n} times and is set aside until the next "
                "start; the events after it go on",
                id=inbox_id,
                n=n,
            ),
            exc_info=exc,
        )
        self.streak, self.run = place, 0
        self._set_aside(inbox_id, exc)
        return True

    def _set_aside(self, inbox_id: int, exc: BaseException) -> None:
        self.set_aside.add(inbox_id)
        self.run += 1
        if self.on_set_aside is not None:
            self.on_set_aside(inbox_id, exc)


def _place(exc: BaseException) -> str:
    """Where in the code it was raised, and what: the same bug met by two events gives the
    same place whatever the message says (it often quotes the event)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}"
