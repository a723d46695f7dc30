"""Report speed against a bare SQL floor measured in the same run.

For each size a single demo group of that many messages is put in a SQLite store (once, then
reused). The floor is the least a report does: one GROUP BY over a plain two-column table
(sender, time) giving daily message counts and distinct senders. qunzhu's figure is the whole
report for that group: every metric, the graph, stage, health and advice, as the JSON dict.
Each measurement runs in its own process so that its peak memory (ru_maxrss) is its own.

    uv run python bench/report_bench.py --sizes 200000 1000000 10000000
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

from isolated import emit
from isolated import measure as isolated

OUT = Path(__file__).with_name("out")
DAY_MS = 86_400_000


def store_for(size: int) -> Path:
    """A store holding one demo group of `size` messages, and a plain copy for the floor."""
    from qunzhu.demo import DemoCommunity
    from qunzhu.store import db
    from qunzhu.store.ingest import Ingest

    path = OUT / f"report_{size}.db"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = db.open_store(f"sqlite:///{partial}")
    days = max(30, size // 5_000)  # ~5,000 messages a day: a busy group
    with engine.begin() as conn:
        Ingest(conn, "demo", "bench").run(DemoCommunity(messages=size, groups=1, days=days))
    engine.dispose()
    conn = sqlite3.connect(partial)
    with conn:
        conn.execute("CREATE TABLE plain AS SELECT sender_id, sent_at FROM messages")
    conn.close()
    partial.rename(path)
    return path


def floor(path: Path) -> float:
    conn = sqlite3.connect(path)
    start = time.perf_counter()
    rows = conn.execute(
        f"SELECT sent_at / {DAY_MS} AS day, COUNT(*), COUNT(DISTINCT sender_id) "
        "FROM plain GROUP BY day"
    ).fetchall()
    elapsed = time.perf_counter() - start
    assert rows
    conn.close()
    return elapsed


def ours(path: Path) -> tuple[float, int]:
    from qunzhu.analytics import build_report
    from qunzhu.store import db

    engine = db.open_store(f"sqlite:///{path}")
    start = time.perf_counter()
    report = build_report(engine).as_dict()
    elapsed = time.perf_counter() - start
    return elapsed, report["groups"][0]["messages"]


def one(kind: str, size: int) -> None:
    path = store_for(size)
    messages = 0
    if kind == "floor":
        seconds = floor(path)
    else:
        seconds, messages = ours(path)
    emit(seconds, messages=messages)


def measure(kind: str, size: int) -> dict:
    return isolated(__file__, "--one", kind, "--sizes", str(size))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--repeat", type=int, default=2, help="best of N for each measurement")
    parser.add_argument("--one", choices=["floor", "ours"])
    args = parser.parse_args()
    if args.one:
        one(args.one, args.sizes[0])
        return
    print("| messages | floor s | qunzhu s | ratio | qunzhu µs/message | qunzhu peak MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        store_for(size)
        floors, runs = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            floors.append(measure("floor", size))
            runs.append(measure("ours", size))
        low = min(r["seconds"] for r in floors)
        best = min(runs, key=lambda r: r["seconds"])
        print(
            f"| {best['messages']:,} | {low:.2f} | {best['seconds']:.2f} | "
            f"{best['seconds'] / low:.1f} | {best['seconds'] / best['messages'] * 1e6:.1f} | "
            f"{max(r['peak_mb'] for r in runs):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
