"""How many distinct pictures a second the engine's reader reads, with one reading process
and with several (`PictureReader(readers=N)`; the engine starts one per four cores).

    uv run python bench/reader_bench.py [--readers 1,2]

The engine bench's 40 different 800×1000 JPEGs (`bench/engine.py`'s `posters()`), each a
message of its own, through a `PictureReader` whose children were started and had read one
picture first (their models loaded); timed until every text is handed on, best of two,
alternating the reader counts. Nothing else runs: on a machine with C cores, N readers use N
of them, and the engine's own thread needs one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from engine import posters
from qunzhu.engine.reader import PictureReader
from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.model.live import LiveEvent

REPEATS = 2


def read_all(pictures: list[bytes], readers: int) -> float:
    """Seconds for `readers` warmed reading processes to read every picture once."""
    handed: list[LiveEvent] = []
    reader = PictureReader(handed.append, readers=readers)
    try:
        for process in reader._processes:  # started, models loaded: not what is timed
            process(pictures[0])
        group = Group(Platform.TELEGRAM, "-1001", "跑团")
        at = datetime(2026, 12, 7, 8, tzinfo=UTC)
        start = time.perf_counter()
        for n, picture in enumerate(pictures):
            record = Message(str(n), Person("u1", "小美"), at, MessageKind.IMAGE, "")
            reader.submit(LiveEvent("tg", group, record, images=(picture,)))
        reader.wait()
        took = time.perf_counter() - start
    finally:
        reader.close()
    assert reader.unread.total() == 0, "pictures went unread"
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", default="1,2")
    args = parser.parse_args()
    counts = [int(n) for n in args.readers.split(",")]
    pictures = posters()
    best: dict[int, float] = {}
    for _ in range(REPEATS):
        for n in counts:
            took = read_all(pictures, n)
            best[n] = min(best.get(n, took), took)
    print(f"{len(pictures)} different pictures, {os.cpu_count()} cores")
    for n in counts:
        rate = len(pictures) / best[n]
        print(f"{n} reader(s): {best[n]:.2f} s, {rate:.2f} pictures a second")


if __name__ == "__main__":
    main()
