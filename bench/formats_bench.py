"""Import throughput and peak memory for every export format, against a same-run floor.

For each format the demo community is written out with that format's writer (one or more files),
then imported into a fresh SQLite store in a process of its own, so that ru_maxrss is the import's
peak. The floor, timed in the same run, is the least work any importer does with the same files:
split them into units with the fastest general parser (orjson for JSON documents, a line split
for JSON-lines and text, `csv.reader` for CSV) and `executemany` one raw row per unit into one
unindexed SQLite table.

    uv run python bench/formats_bench.py --size 1000000
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import time
import uuid
from pathlib import Path

import orjson

from isolated import emit
from isolated import measure as isolated

OUT = Path(__file__).with_name("out")


def export_for(fmt: str, size: int) -> list[Path]:
    """The demo community of `size` messages in format `fmt` (written once, then reused)."""
    from qunzhu.demo import DemoCommunity, write_export

    target = OUT / f"{fmt}_{size}"
    listing = target / "files.txt"
    if not listing.exists():
        groups = max(1, size // 10_000)
        paths = write_export(fmt, DemoCommunity(messages=size, groups=groups, days=60), target)
        listing.write_text("\n".join(str(p) for p in paths))
    return [Path(p) for p in listing.read_text().splitlines()]


def units(path: Path) -> list[tuple]:
    """One raw row per unit of the file, by the cheapest parser that fits its shape."""
    raw = path.read_bytes()
    head = raw[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    if path.suffix == ".csv":
        text = raw.decode("utf-8-sig")
        return [tuple(row[:8]) for row in csv.reader(text.splitlines())]
    if head.startswith(b"{") and path.suffix != ".jsonl":
        data = orjson.loads(raw)
        if "chats" in data:  # telegram full-account export
            items = [m for chat in data["chats"]["list"] for m in chat["messages"]]
        else:
            items = data["messages"]
        return [(orjson.dumps(m).decode(),) for m in items]
    return [(line,) for line in raw.decode("utf-8", "replace").splitlines()]


def floor(paths: list[Path], db_path: Path) -> float:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (a, b, c, d, e, f, g, h)")
    start = time.perf_counter()
    with conn:
        for path in paths:
            rows = units(path)
            width = len(rows[0]) if rows else 1
            cols = ",".join("abcdefgh"[:width])
            marks = ",".join("?" * width)
            padded = [r + ("",) * (width - len(r)) if len(r) < width else r[:width] for r in rows]
            conn.executemany(f"INSERT INTO raw ({cols}) VALUES ({marks})", padded)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def ours(fmt: str, paths: list[Path], db_path: Path) -> tuple[float, dict]:
    from qunzhu.importing import import_file
    from qunzhu.store import db

    engine = db.open_store(f"sqlite:///{db_path}")
    totals: dict[str, int] = {}
    start = time.perf_counter()
    for path in paths:
        result = import_file(engine, path, fmt=fmt)
        for key, value in result.summary.as_dict().items():
            if isinstance(value, int):
                totals[key] = totals.get(key, 0) + value
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, totals


def one(kind: str, fmt: str, size: int) -> None:
    """One measurement in this process, printed as JSON."""
    paths = export_for(fmt, size)
    work = OUT / f"run_{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    summary: dict = {}
    if kind == "floor":
        seconds = floor(paths, work / "floor.db")
    else:
        seconds, summary = ours(fmt, paths, work / "qunzhu.db")
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    emit(seconds, summary=summary)


def measure(kind: str, fmt: str, size: int) -> dict:
    return isolated(__file__, "--one", kind, "--format", fmt, "--size", str(size))


def main() -> None:
    from qunzhu.demo import WRITERS

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--formats", nargs="+", default=list(WRITERS))
    parser.add_argument("--repeat", type=int, default=1, help="best of N for each measurement")
    parser.add_argument("--one", choices=["floor", "ours"])
    parser.add_argument("--format")
    args = parser.parse_args()
    if args.one:
        one(args.one, args.format, args.size)
        return
    print(
        "| format | files | file MB | messages added | floor s | qunzhu s | ratio | "
        "messages/s | peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fmt in args.formats:
        paths = export_for(fmt, args.size)
        floors, runs = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            floors.append(measure("floor", fmt, args.size))
            runs.append(measure("ours", fmt, args.size))
        low = min(r["seconds"] for r in floors)
        best = min(runs, key=lambda r: r["seconds"])
        added = best["summary"].get("messages_added", 0)
        mb = sum(p.stat().st_size for p in paths) / 2**20
        print(
            f"| {fmt} | {len(paths)} | {mb:.0f} | {added:,} | {low:.2f} | {best['seconds']:.2f} | "
            f"{best['seconds'] / low:.2f} | {added / best['seconds']:,.0f} | "
            f"{max(r['peak_mb'] for r in runs):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
