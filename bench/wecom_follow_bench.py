"""How fast the WeCom connector follows the message archive's file: a backlog of N lines
(customers' messages in 200 groups, staff's among them, a few pictures and mini-programs)
read into events by `read_new` as `qunzhu run` would after a stop, against a floor measured
in the same run: `orjson.loads` of every line alone. No network: the connector has no app.

    uv run python bench/wecom_follow_bench.py [--lines 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

import orjson

from qunzhu.connectors.wecom import WeComConnector
from qunzhu.model.live import LiveEvent

TEXTS = (
    "周六几点集合？",
    "收到，谢谢群主",
    "兼职日结，日赚300，加V abc12345",
    "今天的课件在群文件里",
)


def archive(path: Path, lines: int) -> None:
    rng = random.Random(7)
    with path.open("wb") as fh:
        for n in range(lines):
            kind = rng.choices(("text", "image", "weapp"), (90, 8, 2))[0]
            obj = {
                "msgid": f"m{n}",
                "action": "send",
                "from": f"wm{rng.randrange(5000)}" if rng.random() < 0.9 else "zhangsan",
                "tolist": ["zhangsan"],
                "roomid": f"wr{rng.randrange(200):04d}",
                "msgtime": 1767225600000 + n * 1000,
                "msgtype": kind,
                kind: {"content": rng.choice(TEXTS)} if kind == "text" else {"title": "红包"},
            }
            fh.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")


async def follow(path: Path) -> tuple[int, float]:
    connector = WeComConnector("bench", path)
    count = 0

    async def emit(event: LiveEvent) -> None:
        nonlocal count
        count += 1

    start = time.perf_counter()
    offset, size = 0, path.stat().st_size
    while offset != size:  # a backlog goes in 4 MB pieces
        offset = await connector.read_new(offset, emit)
    took = time.perf_counter() - start
    await connector.close()
    return count, took


def floor(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as fh:
        for line in fh:
            orjson.loads(line)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "archive.jsonl"
        archive(path, args.lines)
        size_mb = path.stat().st_size / 2**20
        base = min(floor(path) for _ in range(3))
        runs = [asyncio.run(follow(path)) for _ in range(3)]
        events, took = min(runs, key=lambda r: r[1])
    print(f"{args.lines:,} lines ({size_mb:.1f} MB), {events:,} events")
    print(
        f"follow: {args.lines / took:,.0f} lines/s; floor (orjson.loads alone): "
        f"{args.lines / base:,.0f} lines/s; ratio {took / base:.1f}"
    )


if __name__ == "__main__":
    main()
