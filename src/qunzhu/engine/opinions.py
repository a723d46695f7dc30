"""Asking the language model beside the event path (`moderation/opinion.py` says what and why).

A call takes a second or more, which the engine's one thread of decisions cannot wait for: the
decision is held (no action yet), the question goes to a few threads here, and the answer comes
back as an `Opinion` event through the inbox, as the text read in pictures does. Whatever
happens on the way (the endpoint down, slow, over the day's budget, the backlog full) comes back
as an answer without a reading, and the held decision then stands as the detector made it: a
question goes to an admin, a removal goes ahead. One campaign posted in fifty groups is asked
about once: the same question is answered from memory, or waits for the first call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor

import orjson

from qunzhu.i18n import lang, tr
from qunzhu.model.live import LiveEvent, Opinion
from qunzhu.moderation import opinion
from qunzhu.moderation.verdicts import Decision

log = logging.getLogger(__name__)

THREADS = 4  # calls at once: the endpoint, not this machine, is the limit
BACKLOG = 200  # questions waiting; beyond, the decision stands without asking
ANSWERS_KEPT = 4096  # readings remembered, by the question asked
ERRORS_TOLD = 100  # the log says so at the first failed call, then at every hundredth
DAY_S = 86_400
CLOSING_S = 30.0  # how long stopping waits for the answers to the questions asked

Ask = Callable[[list[dict[str, str]]], str]


def read_all(
    ask: Ask, chats: list[list[dict[str, str]]], threads: int = THREADS
) -> list[tuple[opinion.Reading | None, str]]:
    """Each chat's reading, or why there is none, asked `threads` at a time (a labelled file's
    questions, `qunzhu moderation eval --ask-model`); the same chat is asked once."""
    keys = [orjson.dumps(chat) for chat in chats]
    unique = dict(zip(keys, chats, strict=True))

    def one(chat: list[dict[str, str]]) -> tuple[opinion.Reading | None, str]:
        try:
            return opinion.read(ask(chat)), ""
        except Exception as exc:  # the endpoint's or the reply's fault: no reading
            return None, str(exc)[:200] or type(exc).__name__

    with ThreadPoolExecutor(threads, thread_name_prefix="qunzhu-opinions") as pool:
        answers = dict(zip(unique, pool.map(one, unique.values()), strict=True))
    return [answers[key] for key in keys]


class SecondOpinions:
    """`submit(event, question)` asks `ask` (a `ChatEndpoint`) in the background and hands the
    answered `Opinion` to `deliver` (the runtime's `accept`). At most `daily` calls a day
    (by `clock`, in UTC days), `spent` of them already today (by an earlier process); answers
    from memory cost nothing."""

    def __init__(
        self,
        deliver: Callable[[LiveEvent], object],
        ask: Ask,
        model: str,
        daily: int = 1000,
        clock: Callable[[], float] = time.time,
        threads: int = THREADS,
        backlog: int = BACKLOG,
        spent: int = 0,
    ) -> None:
        self.deliver, self.ask, self.model = deliver, ask, model
        self.daily, self.clock, self.backlog = daily, clock, backlog
        self.calls = spent  # calls made today
        self.failed = 0  # calls without an answer since the start
        # what the console shows of the endpoint: when it last answered, why the last call
        # failed ("" once one answers again)
        self.last_answer_ms: int | None = None
        self.last_error = ""
        self._day = int(clock() // DAY_S)
        self._answers: OrderedDict[bytes, opinion.Reading] = OrderedDict()
        self._asking: dict[bytes, threading.Event] = {}  # questions being asked now
        self._waiting: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="qunzhu-opinions")
        self._closed = False

    def submit(self, event: LiveEvent, question: Opinion) -> None:
        """Ask about the held decision `question` carries; its answer is delivered later, from
        another thread (the caller may be inside a transaction the delivery must wait for)."""
        decision = Decision.from_dict(question.decision)
        chat = opinion.messages(question.said, decision, question.newcomer, lang())
        key = hashlib.blake2b(orjson.dumps(chat), digest_size=16).digest()
        with self._lock:
            if self._closed:
                return
            known = key in self._answers or key in self._asking
            if not known and len(self._waiting) >= self.backlog:
                why = "too many questions waiting"
            elif not known and not self._spend():
                why = f"the day's {self.daily} calls are spent"
            else:
                why = ""
                if not known:
                    self._asking[key] = threading.Event()
            future = self._pool.submit(self._answer, event, question, chat, key, why, known)
            self._waiting.add(future)
        future.add_done_callback(self._done)

    def _spend(self) -> bool:
        """Count a call against today's budget; False when it is spent (under the lock)."""
        day = int(self.clock() // DAY_S)
        if day != self._day:
            self._day, self.calls = day, 0
        if self.calls >= self.daily:
            if self.calls == self.daily:  # said once a day
                log.warning(tr("the language model's {n} calls for today are spent", n=self.daily))
                self.calls += 1
            return False
        self.calls += 1
        return True

    def spent_today(self) -> int:
        """The calls counted against today's budget (0 on a new day before its first)."""
        with self._lock:
            if int(self.clock() // DAY_S) != self._day:
                return 0
            return min(self.calls, self.daily)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._waiting.discard(future)

    def _answer(
        self,
        event: LiveEvent,
        question: Opinion,
        chat: list[dict[str, str]],
        key: bytes,
        why: str,
        known: bool,
    ) -> None:
        started = time.monotonic()
        reading, error = None, why
        if not why:
            reading, error = self._remembered(key) if known else self._call(chat, key)
        ms = round((time.monotonic() - started) * 1000)
        answered = dataclasses.replace(
            question,
            label=reading.label if reading else "",
            confidence=reading.confidence if reading else 0.0,
            reason=reading.reason if reading else "",
            model=self.model,
            ms=ms,
            error=error,
        )
        try:  # after `close` too: the engine judges what came in before it stops
            self.deliver(LiveEvent(event.connector, event.group, answered, event.role))
        except Exception:  # the next question must still be answered
            log.exception(
                tr(
                    "cannot hand on the language model's answer on message {id}",
                    id=question.platform_id,
                )
            )

    def _remembered(self, key: bytes) -> tuple[opinion.Reading | None, str]:
        """The answer to a question asked before, or being asked now on another thread."""
        with self._lock:
            asking = self._asking.get(key)
        if asking is not None:
            asking.wait()
        with self._lock:
            reading = self._answers.get(key)
            if reading is not None:
                self._answers.move_to_end(key)
        return reading, "" if reading else "the same question got no answer"

    def _call(self, chat: list[dict[str, str]], key: bytes) -> tuple[opinion.Reading | None, str]:
        try:
            reading = opinion.read(self.ask(chat))
        except Exception as exc:  # the endpoint's or the reply's fault: the decision stands
            with self._lock:
                self.failed += 1
                failed = self.failed
            if failed % ERRORS_TOLD == 1:
                why = tr("the language model gave no answer ({n} so far): {why}", n=failed, why=exc)
                log.warning(why)
            self.last_error = str(exc)[:200] or type(exc).__name__
            return None, self.last_error
        else:
            with self._lock:
                self._answers[key] = reading
                if len(self._answers) > ANSWERS_KEPT:
                    self._answers.popitem(last=False)
            self.last_answer_ms, self.last_error = int(self.clock() * 1000), ""
            return reading, ""
        finally:
            with self._lock:
                asking = self._asking.pop(key, None)
            if asking is not None:
                asking.set()

    def wait(self) -> None:
        """Until every question submitted so far is answered and delivered."""
        while True:
            with self._lock:
                waiting = list(self._waiting)
            if not waiting:
                return
            for future in waiting:
                future.result()

    def close(self, wait_s: float = CLOSING_S) -> None:
        """Stop: the questions asked so far are answered for up to `wait_s`; those left are
        let go, and their decisions stay held until the next start releases them to a
        person (`Runtime.release_held`)."""
        with self._lock:
            self._closed = True
            waiting = list(self._waiting)
        futures.wait(waiting, timeout=wait_s)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:  # a copy waiting for a question let go goes on without an answer
            for asking in self._asking.values():
                asking.set()
        self._pool.shutdown(wait=True)
