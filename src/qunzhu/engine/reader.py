"""Reading the text in pictures beside the event path: about half a second a picture on one
core, which the engine's one thread of decisions cannot wait for. The message is judged at once
on its text, QR codes and fingerprints; what its pictures say comes back a moment later as a
`PictureText` event, which moderation judges as that message's text (an ad written into a
poster is deleted a second or two after it came, not never)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from qunzhu.i18n import tr
from qunzhu.model import Message
from qunzhu.model.live import LiveEvent, PictureText
from qunzhu.moderation.images import picture_text
from qunzhu.moderation.verdicts import HAM

log = logging.getLogger(__name__)

BACKLOG = 200  # pictures waiting to be read; more are let go (a flood is caught otherwise)
SKIPS_TOLD = 100  # the log says so at the first picture let go, then at every hundredth


class PictureReader:
    """One thread that reads pictures in the order they came and hands each message's text to
    `deliver` (the runtime's `accept`). Pictures beyond `backlog` waiting are not read; how
    many, per connector, is kept in `unread` (the console shows it beside the connector)."""

    def __init__(
        self,
        deliver: Callable[[LiveEvent], object],
        read: Callable[[bytes], str] = picture_text,
        backlog: int = BACKLOG,
    ) -> None:
        self.deliver = deliver
        self.read = read
        self.backlog = backlog
        self.unread: Counter[str] = Counter()
        self._pool: ThreadPoolExecutor | None = None
        self._waiting: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, event: LiveEvent, judged: str = HAM) -> None:
        """Read the pictures of this message (its `images`) in the background; `judged`: the
        verdict the message got without them. Nothing once closed (the engine stopping still
        judges what is left in the inbox)."""
        with self._lock:
            if self._closed:
                return
            if len(self._waiting) >= self.backlog:
                self.unread[event.connector] += 1
                skipped = self.unread.total()
                if skipped % SKIPS_TOLD == 1:  # the first, then one line in a hundred
                    log.warning(
                        tr(
                            "pictures not read so far: {n} ({backlog} were waiting)",
                            n=skipped,
                            backlog=self.backlog,
                        )
                    )
                return
            if self._pool is None:  # no thread for an engine that never sees a picture
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="qunzhu-pictures")
            future = self._pool.submit(self._read, event, judged)
            self._waiting.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._waiting.discard(future)

    def _read(self, event: LiveEvent, judged: str) -> None:
        record = event.record
        if not isinstance(record, Message):
            return
        try:
            text = "\n".join(t for t in map(self.read, event.images) if t).strip()
            if text and not self._closed:
                said = "\n".join([record.text, *(m.text for m in event.forwarded)]).strip()
                found = PictureText(
                    record.platform_id, record.sender, record.sent_at, text, said, judged
                )
                self.deliver(LiveEvent(event.connector, event.group, found, event.role))
        except Exception:  # one picture must not stop the reading of the next
            log.exception("reading the pictures of message %s", record.platform_id)

    def wait(self) -> None:
        """Until every picture submitted so far is read and delivered."""
        with self._lock:
            waiting = list(self._waiting)
        for future in waiting:
            future.result()

    def close(self) -> None:
        """Stop reading: pictures still waiting are let go (their messages were judged), and
        what the picture being read says is not handed on (half a second at most)."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
