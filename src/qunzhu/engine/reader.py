"""Reading the text in pictures beside the event path: about half a second a picture on one
core, which the engine's one thread of decisions cannot wait for. The message is judged at once
on its text, QR codes and fingerprints; what its pictures say comes back a moment later as a
`PictureText` event, which moderation judges as that message's text (an ad written into a
poster is deleted a second or two after it came, not never).

The reading itself runs in a child process (`ReadingProcess`): the text models take 350-650 MB,
given back when no picture came for a few minutes, and a picture from a stranger that crashes
the native decoders or models takes the child down, not the engine."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, NamedTuple

from qunzhu.i18n import tr
from qunzhu.model import Message
from qunzhu.model.live import Edit, LiveEvent, PictureText
from qunzhu.moderation.verdicts import HAM

log = logging.getLogger(__name__)

BACKLOG = 200  # pictures waiting to be read; more are let go (a flood is caught otherwise)
SKIPS_TOLD = 100  # the log says so at the first picture let go, then at every hundredth
IDLE_S = 300.0  # the child process and its models go after this long without a picture
READ_TIMEOUT_S = 60.0  # a picture taking longer (normally under 2 s) has the child stopped
CHILD_EXIT_S = 5.0  # how long a closing child may take to end before it is killed
# what the last pictures read said, by their bytes: an ad poster dropped into fifty groups, or
# the stickers a community keeps sending, are read once (QQ serves one picture as the same bytes)
TEXTS_KEPT = 4096
# reading processes, each with a thread: a core in four, so that the engine's thread and the
# store keep theirs (one on this project's 2-core machines), at most 4 (350-650 MB each while
# busy; a container may be shown its host's cores)
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
READERS = max(1, min(4, (_CORES or 1) // 4))


class PictureUnread(Exception):
    """The child failed on a picture or took too long over it (logged where it happened)."""


class ReadingProcess:
    """`picture_text` in a child process (`python -m qunzhu.moderation.images`, pictures and
    texts over its stdin and stdout), started at the first picture (1-3 s: a fresh
    interpreter, then the models) and stopped after `idle_s` without one. A child that dies
    on a picture, or takes longer than `timeout_s` over it, raises `PictureUnread` (logged);
    the next picture starts a new one. Called from one thread at a time (the reader's)."""

    def __init__(self, idle_s: float = IDLE_S, timeout_s: float = READ_TIMEOUT_S) -> None:
        self.idle_s, self.timeout_s = idle_s, timeout_s
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._idle_timer: threading.Timer | None = None
        self._busy = False

    def __call__(self, data: bytes) -> str:
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            if self._child is None or self._child.poll() is not None:
                self._child = subprocess.Popen(
                    [sys.executable, "-m", "qunzhu.moderation.images"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            child, self._busy = self._child, True
        watchdog = threading.Timer(self.timeout_s, child.kill)
        watchdog.start()
        try:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(struct.pack(">I", len(data)) + data)
            child.stdin.flush()
            (size,) = struct.unpack(">I", _exactly(child.stdout, 4))
            return _exactly(child.stdout, size).decode("utf-8", "replace")
        except (OSError, EOFError):
            log.warning(
                tr(
                    "the picture reader's process ended on a picture (it failed, or took over "
                    "{s} s); the next picture starts a new one",
                    s=round(self.timeout_s),
                )
            )
            child.kill()
            with self._lock:
                if self._child is child:
                    self._child = None
            _stop(child)  # reaped, its pipes closed
            raise PictureUnread from None
        finally:
            watchdog.cancel()
            with self._lock:
                self._busy = False
                self._idle_timer = threading.Timer(self.idle_s, self._idle)
                self._idle_timer.daemon = True
                self._idle_timer.start()

    @property
    def running(self) -> bool:
        """Whether a child process is up (with its models, once it read a picture)."""
        return self._child is not None and self._child.poll() is None

    def _idle(self) -> None:
        with self._lock:
            if self._busy:  # a picture came as the timer went off
                return
            child, self._child = self._child, None
        _stop(child)

    def close(self) -> None:
        """Stop the child, at the end."""
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            child, self._child = self._child, None
        _stop(child)


def _stop(child: subprocess.Popen[bytes] | None) -> None:
    """Closing its stdin lets the child end itself; one that does not is killed."""
    if child is None:
        return
    if child.stdin is not None:
        with contextlib.suppress(OSError):
            child.stdin.close()
    try:
        child.wait(CHILD_EXIT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


class _Picture(NamedTuple):
    key: bytes  # a hash of its bytes
    data: bytes | None  # None for a copy of one waiting before it
    counted: bool  # among the pictures waiting to be read (`_to_read`)


class PictureReader:
    """`readers` threads (each with its reading process) that read pictures in the order they
    came and hand each message's text to `deliver` (the runtime's `accept`). The same bytes
    are read once while among the last TEXTS_KEPT pictures read or waiting to be: a copy waits
    without its bytes for the text the first one leaves. Beyond `backlog` pictures waiting to
    be read, more are not read (copies still are, at no cost), nor are pictures a child failed
    on; how many, per connector, is kept in `unread` (the console shows it beside the
    connector). `read`, where given, is called from all the threads."""

    def __init__(
        self,
        deliver: Callable[[LiveEvent], object],
        read: Callable[[bytes], str] | None = None,
        backlog: int = BACKLOG,
        readers: int = READERS,
    ) -> None:
        self._processes: list[ReadingProcess] = []
        self._idle: queue.SimpleQueue[ReadingProcess] = queue.SimpleQueue()
        if read is None:  # the real reading, in child processes
            self._processes = [ReadingProcess() for _ in range(readers)]
            for process in self._processes:
                self._idle.put(process)
            read = self._read_in_child
        self.deliver = deliver
        self.read = read
        self.readers = readers
        self.backlog = backlog
        self.unread: Counter[str] = Counter()
        self.texts: OrderedDict[bytes, str] = OrderedDict()  # by the bytes' hash, oldest first
        self._pool: ThreadPoolExecutor | None = None
        self._waiting: set[Future[None]] = set()
        self._to_read: Counter[bytes] = Counter()  # pictures waiting: copies of each
        self._done_reading: dict[bytes, threading.Event] = {}  # ... set once the first is read
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, event: LiveEvent, judged: str = HAM) -> None:
        """Read the pictures of this message (its `images`) in the background; `judged`: the
        verdict the message got without them. Nothing once closed (the engine stopping still
        judges what is left in the inbox)."""
        keys = [hashlib.blake2b(data, digest_size=16).digest() for data in event.images]
        with self._lock:
            if self._closed:
                return
            fresh = any(k not in self.texts and k not in self._to_read for k in keys)
            if fresh and len(self._to_read) >= self.backlog:
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
                self._pool = ThreadPoolExecutor(self.readers, thread_name_prefix="qunzhu-pictures")
            pictures = []
            for key, data in zip(keys, event.images, strict=True):
                known = key in self.texts
                # a copy's bytes are not kept: the first one's reading leaves the text
                first = not known and key not in self._to_read
                pictures.append(_Picture(key, data if first else None, not known))
                if first:
                    self._done_reading[key] = threading.Event()
                if not known:
                    self._to_read[key] += 1
            future = self._pool.submit(self._read, event, pictures, judged)
            self._waiting.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._waiting.discard(future)

    def _read(self, event: LiveEvent, pictures: list[_Picture], judged: str) -> None:
        record = event.record
        message = record.message if isinstance(record, Edit) else record
        if not isinstance(message, Message):
            return
        at = record.at if isinstance(record, Edit) else message.sent_at  # an edit's own time
        try:
            texts = [self._text(event.connector, picture) for picture in pictures]
            text = "\n".join(t for t in texts if t).strip()
            if text and not self._closed:
                found = PictureText(
                    message.platform_id, message.sender, at, text, event.said(), judged
                )
                self.deliver(LiveEvent(event.connector, event.group, found, event.role))
        except Exception:  # the engine refusing the text must not stop the reading either
            log.exception(
                tr(
                    "cannot hand on the text of the pictures of message {id}",
                    id=record.platform_id,
                )
            )

    def _text(self, connector: str, picture: _Picture) -> str | None:
        """What a picture says: remembered, or read (None: the child failed on it, which
        counts as unread and is not remembered, so a later copy is tried again; the copies
        that waited without their bytes go unread too)."""
        try:
            if picture.data is None:  # a copy: the first one may still be read on another thread
                with self._lock:
                    reading = self._done_reading.get(picture.key)
                if reading is not None:
                    reading.wait(READ_TIMEOUT_S + CHILD_EXIT_S)
            with self._lock:
                if (text := self.texts.get(picture.key)) is not None:
                    self.texts.move_to_end(picture.key)
                    return text
            if picture.data is None:
                raise PictureUnread
            try:
                text = self.read(picture.data)
                with self._lock:
                    self.texts[picture.key] = text
                    if len(self.texts) > TEXTS_KEPT:
                        self.texts.popitem(last=False)
                return text
            finally:  # read or failed: the copies waiting for it go on
                with self._lock:
                    reading = self._done_reading.pop(picture.key, None)
                if reading is not None:
                    reading.set()
        except Exception as exc:  # one picture must not stop the reading of the next
            if not isinstance(exc, PictureUnread):
                log.exception(tr("reading a picture failed"))
            with self._lock:
                self.unread[connector] += 1
            return None
        finally:  # no longer waiting: remembered by now, or failed
            if picture.counted:
                with self._lock:
                    self._to_read[picture.key] -= 1
                    if self._to_read[picture.key] <= 0:
                        del self._to_read[picture.key]

    def _read_in_child(self, data: bytes) -> str:
        """`picture_text` in whichever reading process is free."""
        process = self._idle.get()
        try:
            return process(data)
        finally:
            self._idle.put(process)

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
        with self._lock:  # copies waiting for a first one that will not be read go on
            for reading in self._done_reading.values():
                reading.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for process in self._processes:
            process.close()
