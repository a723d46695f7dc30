"""How long a join raid takes to reach the engine through the OneBot connector, when the QQ
implementation answers slowly.

    uv run python bench/connector_bench.py [--joins 100] [--latency-ms 50]

OneBot's join notice carries no name, so each join asks `get_group_member_info` before it can
be emitted. The project's fake OneBot server (tests/connectors/fake_onebot.py, the one the
connector's tests speak to, over a real WebSocket on loopback) answers that call after
`--latency-ms`; `--joins` join notices are pushed at once and the time until the last join is
emitted is measured, best of three. Floor, same run: the same with answers at once (the
protocol's own cost). A connector asking one name at a time would need at least joins ×
latency; the bench prints that bound beside the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fake server

from tests.connectors.fake_onebot import FakeOneBot, notice

from qunzhu.connectors.onebot import OneBotConnector
from qunzhu.model.live import LiveEvent

GROUP = 987654321
REPEATS = 3


async def raid(joins: int, latency_s: float) -> float:
    """Seconds from the first join pushed to the last one emitted."""
    fake = FakeOneBot()
    url = await fake.start_server()
    fake.group_names[GROUP] = "跑团"
    fake.members[GROUP] = [{"user_id": n, "card": f"新人{n}"} for n in range(1, joins + 1)]
    if latency_s:
        fake.latency["get_group_member_info"] = latency_s
    connector = OneBotConnector("qq", url=url, fetch_images=False)
    got: list[LiveEvent] = []
    done = asyncio.Event()

    async def emit(event: LiveEvent) -> None:
        got.append(event)
        if len(got) == joins + 1:  # the warm-up message, then every join
            done.set()

    task = asyncio.create_task(connector.run(emit))
    try:
        # one message first: the connection is up and the group's name known before timing
        await fake.push(notice("group_increase", "approve", group_id=GROUP, user_id=0))
        while not got:
            await asyncio.sleep(0.005)
        start = time.perf_counter()
        for n in range(1, joins + 1):
            await fake.push(notice("group_increase", "approve", group_id=GROUP, user_id=n))
        await asyncio.wait_for(done.wait(), 120)
        took = time.perf_counter() - start
        order = [e.record.member.user_id for e in got[1:]]  # type: ignore[union-attr]
        assert order == [str(n) for n in range(1, joins + 1)], "joins out of order"
        return took
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--joins", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    slow, floor = [], []
    for _ in range(REPEATS):  # alternating: the machine is shared and noisy
        slow.append(asyncio.run(raid(args.joins, latency)))
        floor.append(asyncio.run(raid(args.joins, 0.0)))
    best, best_floor = min(slow), min(floor)
    print(f"{args.joins} joins, names answered after {args.latency_ms:.0f} ms")
    print(f"last join emitted after {best:.3f} s (runs: {', '.join(f'{s:.3f}' for s in slow)})")
    print(f"floor, names answered at once: {best_floor:.3f} s; ratio {best / best_floor:.1f}")
    print(f"one name at a time would need at least {args.joins * latency:.1f} s")


if __name__ == "__main__":
    main()
