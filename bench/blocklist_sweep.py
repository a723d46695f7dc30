"""How long keeping people's blocks out of the groups takes: at start (every block, however
old) and at each settings poll (the newest ones), with a long list of strangers on it.

    uv run python bench/blocklist_sweep.py [--groups 100] [--members 500] [--blocked 100000]
        [--present 20] [--pg URL] [--json]

One community of `groups` groups of `members` open memberships each, `blocked` strangers a
person blocked (never seen in a group) and `present` blocked members who are in one group
now. A poll reads the memberships only while a block is newer than the poll's look-back,
else it stops after asking the list for its newest block. The floor is a count over the
memberships table in the same run (the least a sweep that reads the memberships could do).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text

from qunzhu.engine.policies import ModerationPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.store import schema as t
from qunzhu.store.bulk import insert_ignore
from qunzhu.store.db import open_store
from qunzhu.store.ingest import place_group


def build(engine: Engine, groups: int, members: int, blocked: int, present: int) -> None:
    with engine.begin() as conn:
        for g in range(groups):
            place_group(conn, "telegram", f"-100{g}", f"群{g}", "bench")
        cid = conn.execute(select(t.communities.c.id)).scalar_one()
        gids = conn.execute(select(t.groups.c.id).order_by(t.groups.c.id)).scalars().all()
        people = [("telegram", f"m{g}-{i}", False) for g in range(groups) for i in range(members)]
        people += [("telegram", f"stranger{i}", False) for i in range(blocked)]
        insert_ignore(conn, t.members, ("platform", "external_id", "provisional"), people)
        ids = {r.external_id: r.id for r in conn.execute(select(t.members))}
        rows = [
            (gid, ids[f"m{g}-{i}"], "member", 0)
            for g, gid in enumerate(gids)
            for i in range(members)
        ]
        columns = ("group_id", "member_id", "role", "message_count")
        insert_ignore(conn, t.memberships, columns, rows)
        listed = [ids[f"stranger{i}"] for i in range(blocked)]
        listed += [ids[f"m{i % groups}-{i // groups}"] for i in range(present)]
        entries = [(cid, m, "bench", "ops", 1_000 + n) for n, m in enumerate(listed)]
        columns = ("community_id", "member_id", "reason", "added_by", "at")
        insert_ignore(conn, t.blocklist, columns, entries)


@contextlib.contextmanager
def store(pg: str | None, tmp: Path) -> Iterator[Engine]:
    """A new SQLite file, or a schema of its own in PostgreSQL, dropped afterwards."""
    if pg is None:
        engine = open_store(f"sqlite:///{tmp / 'sweep.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = open_store(f"{pg}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def best(fn: Any, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--blocked", type=int, default=100_000)
    parser.add_argument("--present", type=int, default=20)
    parser.add_argument(
        "--pg", help="a PostgreSQL URL: the bench makes its own schema there and drops it"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, store(args.pg, Path(tmp)) as engine:
        build(engine, args.groups, args.members, args.blocked, args.present)
        policy = ModerationPolicy(Detector(), Ladder(Mode.ENFORCE))
        setups = Setups({("tg", f"-100{g}"): GroupSetup([policy]) for g in range(args.groups)})
        rt = Runtime(engine, setups)
        start = time.perf_counter()
        newest = rt.sweep_blocks(0)  # the first: writes the sweeps
        first_s = time.perf_counter() - start
        with engine.connect() as conn:
            swept = conn.execute(select(func.count()).select_from(t.decisions)).scalar_one()
            scan = text("SELECT count(*) FROM memberships WHERE left_at IS NULL")
            floor_s = best(lambda: conn.execute(scan).scalar_one())
        again_s = best(lambda: rt.sweep_blocks(0))  # a restart: all found, nothing to write
        poll_s = best(lambda: rt.sweep_blocks(newest - 5_000))  # a poll just after a block
        idle_s = best(lambda: rt.sweep_blocks(newest + 1))  # a poll with no block since
    result = {
        "groups": args.groups,
        "memberships": args.groups * args.members,
        "blocked": args.blocked + args.present,
        "swept": swept,
        "first_ms": first_s * 1000,
        "restart_ms": again_s * 1000,
        "poll_ms": poll_s * 1000,
        "idle_poll_ms": idle_s * 1000,
        "floor_ms": floor_s * 1000,
        "restart_ratio": again_s / floor_s,
        "poll_ratio": poll_s / floor_s,
        "idle_poll_ratio": idle_s / floor_s,
    }
    if args.json:
        rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
        print(json.dumps(rounded))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
