"""The inbox in a big store: letting go of a month of rows, and forgetting a member in it.

Every live event leaves an inbox row whose key stops a redelivery; keys name people, so
`qunzhu forget` takes the member's out (`store/inbox.forget`: a scan of the keys with LIKE),
and `qunzhu run` lets go, once an hour, of rows a week old that no decision points to
(`store/inbox.prune`). This fills a store with N processed rows over 30 days from 100 groups
and 20,000 members (messages, joins with the member in the key, reactions), 5% of them
pointed to by a decision; then times forgetting members against a floor measured in the
same run (counting the keys that match one LIKE pattern, the scan any key search costs),
and the first prune.

    uv run python bench/inbox_bench.py [--rows 1000000] [--pg URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, insert, select, text

from qunzhu.store import db, inbox
from qunzhu.store import schema as t

GROUPS, MEMBERS, DAY_MS = 100, 20_000, 86_400_000


def fill(engine: Engine, n: int, now_ms: int) -> None:
    rng = random.Random(0)
    with engine.begin() as conn:
        conn.execute(
            insert(t.groups),
            [{"platform": "qq", "platform_id": f"{g}", "name": f"群{g}"} for g in range(GROUPS)],
        )
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
        for start in range(0, n, 20_000):
            rows, decided = [], []
            for i in range(start, min(n, start + 20_000)):
                g, who = rng.randrange(GROUPS), 100_000 + rng.randrange(MEMBERS)
                at = now_ms - rng.randrange(30 * DAY_MS)
                kind = rng.random()
                if kind < 0.8:
                    key = f"{g}:Message:{i}"
                elif kind < 0.9:
                    key = f"{g}:MembershipEvent:join:{g}:{who}:{at // 1000}"
                else:
                    key = f"{g}:Reaction:{i}:{who}"
                rows.append(
                    {"connector": "qq", "key": key, "payload": "", "received_at": at,
                     "processed_at": at}
                )  # fmt: skip
                if rng.random() < 0.05:
                    decided.append((len(rows) - 1, g, str(who), at))
            conn.execute(insert(t.inbox), rows)
            first = conn.execute(
                select(t.inbox.c.id).where(t.inbox.c.key == rows[0]["key"])
            ).scalar_one()
            conn.execute(
                insert(t.decisions),
                [
                    {"inbox_id": first + offset, "group_id": groups[g], "policy": "moderation",
                     "verdict": "spam", "reasons": "{}", "at": at, "member": who}
                    for offset, g, who, at in decided
                ],
            )  # fmt: skip


def timed(work, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        took.append(time.perf_counter() - start)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default=None)
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as folder:
        schema = None
        if args.pg:
            schema = f"qz_inbox_{int(time.time())}"
            with create_engine(args.pg).begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            url = f"{args.pg}?options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{Path(folder) / 'inbox.db'}"
        engine = db.open_store(url)
        try:
            start = time.perf_counter()
            fill(engine, args.rows, now_ms)
            print(f"filled {args.rows:,} rows in {time.perf_counter() - start:.1f} s")
            rng = random.Random(1)
            members = [str(100_000 + rng.randrange(MEMBERS)) for _ in range(5)]

            def floor() -> None:
                with engine.connect() as conn:
                    like = t.inbox.c.key.like(f"%:{members[0]}%")
                    conn.execute(select(func.count()).where(like)).scalar()

            def forget() -> None:
                with engine.begin() as conn:
                    inbox.forget(conn, "qq", members.pop())

            base = timed(floor, 3)
            took = timed(forget, 5)
            print(
                f"forget one member in the inbox: median {statistics.median(took):.3f} s; "
                f"floor (one LIKE count over the keys) {statistics.median(base):.3f} s; "
                f"ratio {statistics.median(took) / statistics.median(base):.1f}"
            )
            start, gone, pieces = time.perf_counter(), 0, []
            while True:  # as `qunzhu run` does: a piece at a time
                began = time.perf_counter()
                with engine.begin() as conn:
                    n = inbox.prune(conn, now_ms)
                pieces.append(time.perf_counter() - began)
                gone += n
                if n < 10_000:
                    break
            pruned_s = time.perf_counter() - start
            with engine.connect() as conn:
                left = conn.execute(select(func.count()).select_from(t.inbox)).scalar()
            print(
                f"prune: {gone:,} rows let go in {pruned_s:.1f} s, {len(pieces)} transactions "
                f"of at most {max(pieces) * 1000:.0f} ms, {left:,} left"
            )
            members = [str(100_000 + rng.randrange(MEMBERS)) for _ in range(3)]
            took = timed(forget, 3)
            print(f"forget after the prune: median {statistics.median(took):.3f} s")
        finally:
            engine.dispose()
            if schema:
                with create_engine(args.pg).begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
