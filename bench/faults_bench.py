"""A bug that every event meets: how long the engine takes to get past N events it cannot
process, against the floor of the same N events processed without the bug in the same run.

Each event is a message in one of 10 groups from one of 50 members; the bug is a policy that
raises on every message (`Runtime.step` as `qunzhu run` calls it, on SQLite). Counted: the
steps, the batches the engine asked for and the events those batches held, and the events
set aside (`engine/faults.py`).

    uv run python bench/faults_bench.py [--events 300] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.model.live import LiveEvent
from qunzhu.store import db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GROUPS = [Group(Platform.TELEGRAM, f"-100{g}", f"跑步群{g}") for g in range(10)]


class Buggy:
    """A policy whose bug every message meets (or none, for the floor)."""

    name = "buggy"

    def __init__(self, broken: bool) -> None:
        self.broken = broken

    def decide(self, event: LiveEvent, marks: Any) -> list[Any]:
        if self.broken:
            raise ValueError("a bug every message meets")
        return []


def events(n: int) -> list[LiveEvent]:
    return [
        LiveEvent(
            "tg",
            GROUPS[i % len(GROUPS)],
            Message(
                str(i),
                Person(f"u{i % 50}", f"跑友{i % 50}"),
                T0 + timedelta(seconds=i),
                MessageKind.TEXT,
                f"第{i}条：今晚七点老地方见",
            ),
        )
        for i in range(n)
    ]


def through(n: int, broken: bool) -> dict[str, Any]:
    """Steps until every event is processed or set aside."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.open_store(f"sqlite:///{Path(tmp) / 'faults.db'}")
        policy = Buggy(broken)
        setups = Setups({("tg", g.platform_id): GroupSetup([policy]) for g in GROUPS})
        rt = Runtime(engine, setups, {}, lambda: T0.timestamp())
        for event in events(n):
            rt.accept(event)
        asked: list[int] = []
        process = rt.process

        def counting(limit: int = 500) -> int:
            asked.append(limit)
            return process(limit)

        rt.process = counting  # type: ignore[method-assign]
        done = steps = 0
        start = time.perf_counter()
        while done + len(rt.faults.set_aside) < n:
            done += asyncio.run(rt.step())
            steps += 1
        seconds = time.perf_counter() - start
        engine.dispose()
    return {
        "seconds": round(seconds, 3),
        "processed": done,
        "set_aside": len(rt.faults.set_aside),
        "steps": steps,
        "batches": len(asked),
        "events_asked": sum(min(limit, n) for limit in asked),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # one line per event set aside: the counts say it
    floor = min(
        (through(args.events, False) for _ in range(args.repeat)), key=lambda r: r["seconds"]
    )
    bug = min((through(args.events, True) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    print(
        json.dumps(
            {
                "events": args.events,
                "floor": floor,
                "bug": bug,
                "ratio_to_floor": round(bug["seconds"] / floor["seconds"], 2),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
