"""Import speed against a floor measured in the same run.

The floor is the least any importer could do with the file: `orjson.loads` it and write one raw
row per exported message into a single unindexed table in one transaction (`executemany` on
SQLite, `COPY` on PostgreSQL). qunzhu does the same parse plus normalisation, member resolution,
idempotent inserts against unique keys and derived tables. Each measurement runs in its own
process so that its peak memory (ru_maxrss) is its own.

    uv run python bench/import_bench.py --sizes 200000 1000000 --pg
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

import orjson

from isolated import emit
from isolated import measure as isolated

OUT = Path(__file__).with_name("out")
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def export_for(size: int, groups: int = 0) -> Path:
    """A demo Telegram export of `size` messages in `groups` chats (default: one per 10,000
    messages, as a whole-account export; 1: a single chat's own `result.json`), generated once."""
    from qunzhu.demo import DemoCommunity, write_export

    groups = groups or max(1, size // 10_000)
    target = OUT / f"telegram_{size}_{groups}"
    path = target / "result.json"
    if not path.exists():
        write_export("telegram", DemoCommunity(messages=size, groups=groups, days=60), target)
    return path


def raw_rows(data: dict) -> list[tuple]:
    chats = data["chats"]["list"] if "chats" in data else [data]
    rows = []
    for chat in chats:
        cid = chat["id"]
        for m in chat["messages"]:
            text = m.get("text", "")
            rows.append(
                (
                    cid,
                    m["id"],
                    m["type"],
                    m["date_unixtime"],
                    m.get("from_id") or m.get("actor_id"),
                    m.get("from") or m.get("actor"),
                    text if isinstance(text, str) else orjson.dumps(text).decode(),
                )
            )
    return rows


def floor_sqlite(path: Path, db_path: Path) -> float:
    import sqlite3

    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (chat, id, type, ts, sender, name, text)")
    start = time.perf_counter()
    rows = raw_rows(orjson.loads(path.read_bytes()))
    with conn:
        conn.executemany("INSERT INTO raw VALUES (?,?,?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def floor_postgres(path: Path) -> float:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", "")) as conn:
        table = f"raw_{uuid.uuid4().hex[:8]}"
        conn.execute(
            f"CREATE TABLE {table} (chat bigint, id bigint, type text, ts text, sender text, "
            "name text, text text)"
        )
        conn.commit()
        start = time.perf_counter()
        rows = raw_rows(orjson.loads(path.read_bytes()))
        with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return elapsed


def ours(path: Path, url: str) -> tuple[float, dict]:
    from sqlalchemy import create_engine, text

    from qunzhu.importing import import_file
    from qunzhu.store import db

    schema = None
    if url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        db.upgrade(engine)
    else:
        engine = db.open_store(url)
    start = time.perf_counter()
    result = import_file(engine, path)
    elapsed = time.perf_counter() - start
    engine.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    return elapsed, result.summary.as_dict()


def one(kind: str, size: int, groups: int, backend: str) -> None:
    """Run one measurement in this process and print it as JSON."""
    path = export_for(size, groups)
    work = OUT / f"run_{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    summary: dict = {}
    if kind == "floor":
        if backend == "sqlite":
            seconds = floor_sqlite(path, work / "floor.db")
        else:
            seconds = floor_postgres(path)
    else:
        url = f"sqlite:///{work / 'qunzhu.db'}" if backend == "sqlite" else PG_URL
        seconds, summary = ours(path, url)
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    emit(seconds, summary=summary)


def measure(kind: str, size: int, groups: int, backend: str) -> dict:
    one = ["--one", kind, "--sizes", str(size), "--groups", str(groups), "--backend", backend]
    return isolated(__file__, *one)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--pg", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--repeat", type=int, default=2, help="best of N for each measurement")
    parser.add_argument("--groups", type=int, default=0, help="chats per export (0: size/10,000)")
    parser.add_argument("--one", choices=["floor", "ours"])
    parser.add_argument("--backend", default="sqlite")
    args = parser.parse_args()
    if args.one:
        one(args.one, args.sizes[0], args.groups, args.backend)
        return
    backends = ["sqlite", "postgresql"] if args.pg else ["sqlite"]
    print(
        "| messages | chats | database | floor s | qunzhu s | ratio | floor peak MB "
        "| qunzhu peak MB | file MB |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        path = export_for(size, args.groups)
        chats = args.groups or max(1, size // 10_000)
        for backend in backends:
            floors, runs = [], []
            for _ in range(args.repeat):  # interleaved, so both see the same machine load
                floors.append(measure("floor", size, args.groups, backend))
                runs.append(measure("ours", size, args.groups, backend))
            floor = min(r["seconds"] for r in floors)
            best = min(runs, key=lambda r: r["seconds"])
            file_mb = path.stat().st_size / 2**20
            print(
                f"| {best['summary']['messages_added']:,} | {chats} | {backend} | {floor:.2f} | "
                f"{best['seconds']:.2f} | {best['seconds'] / floor:.2f} | "
                f"{max(r['peak_mb'] for r in floors):.0f} | "
                f"{max(r['peak_mb'] for r in runs):.0f} | {file_mb:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
