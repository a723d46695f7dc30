"""How long a join raid takes to reach the engine through the OneBot connector, when the QQ
implementation answers slowly; with `--telegram`, through the Telegram connector, whose every
newcomer's bio is read (getChat) before their join is emitted.

    uv run python bench/connector_bench.py [--joins 100] [--latency-ms 50] [--telegram|--signatures]

OneBot's join notice carries no name, so each join asks `get_group_member_info` before it can
be emitted. The project's fake OneBot server (tests/connectors/fake_onebot.py, the one the
connector's tests speak to, over a real WebSocket on loopback) answers that call after
`--latency-ms`; `--joins` join notices are pushed at once and the time until the last join is
emitted is measured, best of three. Floor, same run: the same with answers at once (the
protocol's own cost). A connector asking one name at a time would need at least joins ×
latency; the bench prints that bound beside the measurement. With `--telegram` the project's
fake Bot API server (tests/connectors/fake_telegram.py) hands over one batch of `--joins`
join messages, each followed by the newcomer's first message, and answers getChat after
`--latency-ms`: the bench counts the getChat calls too (one per newcomer). With `--signatures`
the fake OneBot server gives members' signatures as NapCat does (`get_stranger_info`'s
`long_nick`), answered after `--latency-ms` too: each join then waits for two calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fake server

from tests.connectors.fake_onebot import FakeOneBot, notice
from tests.connectors.fake_telegram import TOKEN, FakeTelegram, message, user

from qunzhu.connectors.onebot import OneBotConnector
from qunzhu.connectors.telegram import TelegramConnector
from qunzhu.model.live import LiveEvent, Notice

GROUP = 987654321
REPEATS = 3


async def raid(joins: int, latency_s: float, signatures: bool = False) -> float:
    """Seconds from the first join pushed to the last one emitted."""
    fake = FakeOneBot()
    url = await fake.start_server()
    fake.group_names[GROUP] = "跑团"
    fake.members[GROUP] = [{"user_id": n, "card": f"新人{n}"} for n in range(1, joins + 1)]
    if signatures:
        fake.signatures = {n: f"签名{n}" for n in range(joins + 1)}
    if latency_s:
        fake.latency["get_group_member_info"] = latency_s
        fake.latency["get_stranger_info"] = latency_s
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
        if signatures:
            assert [e.bio for e in got[1:]] == [f"签名{n}" for n in range(1, joins + 1)]
        return took
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await fake.close()


async def telegram_raid(joins: int, latency_s: float) -> float:
    """Seconds from the connector's start to the last of `joins` joins and first messages
    emitted (the first getUpdates answers at once: its cost is in the floor too)."""
    async with FakeTelegram() as fake:
        if latency_s:
            fake.latency["getChat"] = latency_s
        for n in range(1, joins + 1):
            fake.bios[n] = f"新人{n}"
            newcomer = user(n, f"新人{n}")
            fake.queue("message", message(2 * n, newcomer, new_chat_members=[newcomer]))
            fake.queue("message", message(2 * n + 1, newcomer, text="大家好"))
        connector = TelegramConnector("tg", TOKEN, api_base=fake.url, poll_timeout=1)
        got: list[LiveEvent] = []
        done = asyncio.Event()

        async def emit(event: LiveEvent) -> None:
            got.append(event)
            if len(got) == 3 * joins:  # each join, its notice and the first message
                done.set()

        start = time.perf_counter()
        task = asyncio.create_task(connector.run(emit))
        try:
            await asyncio.wait_for(done.wait(), 120)
            took = time.perf_counter() - start
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await connector.close()
        assert all(e.bio.startswith("新人") for e in got if not isinstance(e.record, Notice))
        assert len(fake.calls_to("getChat")) == joins, "a bio read more than once"
        return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--joins", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--telegram", action="store_true", help="bios through Telegram")
    parser.add_argument("--signatures", action="store_true", help="QQ signatures (NapCat's)")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    timed = (
        telegram_raid
        if args.telegram
        else functools.partial(raid, signatures=True)
        if args.signatures
        else raid
    )
    slow, floor = [], []
    for _ in range(REPEATS):  # alternating: the machine is shared and noisy
        slow.append(asyncio.run(timed(args.joins, latency)))
        floor.append(asyncio.run(timed(args.joins, 0.0)))
    best, best_floor = min(slow), min(floor)
    what = "bios" if args.telegram else "names and signatures" if args.signatures else "names"
    print(f"{args.joins} joins, {what} answered after {args.latency_ms:.0f} ms")
    print(f"last join emitted after {best:.3f} s (runs: {', '.join(f'{s:.3f}' for s in slow)})")
    print(f"floor, {what} answered at once: {best_floor:.3f} s; ratio {best / best_floor:.1f}")
    print(f"one at a time would need at least {args.joins * latency:.1f} s")


if __name__ == "__main__":
    main()
