"""What waits for a person, found in a big store: members' appeals and the console's counts.

An appeal (`store/appeals.receive`) looks up the newest unanswered removal of one member among
all of moderation's decisions; every moderation page and the overview count the questions,
appeals and model-spared messages waiting (`web/moderation.waiting`) and list a tab. This fills
a store with N decisions (100 groups, 20,000 members over 30 days: 40% removals, 0.2%
questions still waiting, 0.1% spared by a model, the rest recorded only, as in shadow mode)
and 1% of the removals appealed, then times appeals from random members against a floor
measured in the same run (reading one decision by its primary key), the counts and each
tab's first page; then the appeals again without the index on the decisions' member
(dropped), as before migration 0018.

    uv run python bench/appeals_bench.py [--decisions 300000] [--pg URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, insert, select, text

from qunzhu.store import appeals, db
from qunzhu.store import schema as t

GROUPS, MEMBERS = 100, 20_000
STEPS = ("delete_warn", "ask_admin", "spared", "none")
WEIGHTS = (0.4, 0.002, 0.001, 0.597)


def fill(engine: Engine, n: int, now_ms: int) -> None:
    """N decisions of moderation in 100 groups, each with its inbox row, over 30 days."""
    rng = random.Random(0)
    with engine.begin() as conn:
        conn.execute(
            insert(t.groups),
            [
                {"platform": "telegram", "platform_id": f"-{g}", "name": f"群{g}"}
                for g in range(GROUPS)
            ],
        )
        groups = list(conn.execute(select(t.groups.c.id)).scalars())
        for start in range(0, n, 20_000):
            size = min(20_000, n - start)
            at = [now_ms - rng.randrange(30 * 86_400_000) for _ in range(size)]
            conn.execute(
                insert(t.inbox),
                [
                    {"connector": "tg", "key": f"k{start + i}", "payload": "", "received_at": at[i]}
                    for i in range(size)
                ],
            )
            first = conn.execute(
                select(t.inbox.c.id).where(t.inbox.c.key == f"k{start}")
            ).scalar_one()
            rows = []
            for i in range(size):
                step = rng.choices(STEPS, WEIGHTS)[0]
                reasons = {"score": 0.9, "step": step, "checks": []}
                rows.append(
                    {
                        "inbox_id": first + i,
                        "group_id": rng.choice(groups),
                        "policy": "moderation",
                        "verdict": "spam" if step == "delete_warn" else "review",
                        "reasons": orjson.dumps(reasons).decode(),
                        "at": at[i],
                        "member": f"user{rng.randrange(MEMBERS)}",
                        "record_id": str(start + i),
                        "step": step,
                    }
                )
            conn.execute(insert(t.decisions), rows)
        removed = select(t.decisions.c.id).where(t.decisions.c.step == "delete_warn")
        conn.execute(
            insert(t.appeals),
            [
                {"decision_id": i, "connector": "tg", "text": "不是广告", "at": now_ms}
                for i in conn.execute(removed).scalars()
                if rng.random() < 0.01
            ],
        )


def timed(engine: Engine, tries: int, now_ms: int) -> tuple[list[float], list[float]]:
    """Milliseconds of each appeal, and of each floor read, alternating."""
    rng = random.Random(1)
    top = 0
    with engine.connect() as conn:
        top = conn.execute(select(t.decisions.c.id).order_by(t.decisions.c.id.desc())).scalar()
    appeal_ms, floor_ms = [], []
    for _ in range(tries):
        member = f"user{rng.randrange(MEMBERS)}"
        start = time.perf_counter()
        with engine.begin() as conn:
            appeals.receive(conn, "tg", member, "不是广告", now_ms)
        appeal_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(select(t.decisions).where(t.decisions.c.id == rng.randint(1, top))).first()
        floor_ms.append((time.perf_counter() - start) * 1000)
    return appeal_ms, floor_ms


def console(engine: Engine, tries: int = 5) -> dict[str, float]:
    """Milliseconds, median of `tries`: the counts of what waits, and each tab's first page."""
    from qunzhu.web import moderation

    with engine.connect() as conn:
        ids = list(conn.execute(select(t.groups.c.id)).scalars())
        out = {}
        for name, work in (
            ("counts", lambda: moderation.waiting(conn, ids)),
            *(
                (tab, lambda tab=tab: moderation._listing(conn, ids, tab, 50))
                for tab in ("queue", "appealed", "appeals", "spared")
            ),
        ):
            took = []
            for _ in range(tries):
                start = time.perf_counter()
                work()
                took.append((time.perf_counter() - start) * 1000)
            out[name] = statistics.median(took)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=300_000)
    parser.add_argument("--tries", type=int, default=200)
    parser.add_argument("--pg", help="a PostgreSQL server's URL: a schema of its own there")
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as folder:
        schema = f"bench_appeals_{int(time.time())}"
        if args.pg:
            with create_engine(args.pg).begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            url = f"{args.pg}?options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{Path(folder) / 'appeals.db'}"
        try:
            engine = db.open_store(url)
            start = time.perf_counter()
            fill(engine, args.decisions, now_ms)
            filled = time.perf_counter() - start
            if args.pg:  # the statistics autovacuum keeps on a store that has run a while
                with engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
            shown = console(engine)
            figures = {"with the index": timed(engine, args.tries, now_ms)}
            with engine.begin() as conn:
                conn.execute(text("DROP INDEX ix_decisions_member"))
            figures["without it"] = timed(engine, args.tries, now_ms)
        finally:
            if args.pg:
                with create_engine(args.pg).begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    where = "PostgreSQL" if args.pg else "SQLite"
    print(f"{where}: {args.decisions:,} decisions (filled in {filled:.0f} s)")
    print("  console, ms (median of 5): " + ", ".join(f"{k} {v:.1f}" for k, v in shown.items()))
    for name, (appeal_ms, floor_ms) in figures.items():
        appeal_ms.sort()
        p50, p99 = statistics.median(appeal_ms), appeal_ms[int(len(appeal_ms) * 0.99) - 1]
        floor = statistics.median(floor_ms)
        print(
            f"  {name}: an appeal p50 {p50:.2f} ms, p99 {p99:.2f} ms; the floor (one decision "
            f"by id) p50 {floor:.2f} ms; ratio {p50 / floor:.1f}"
        )


if __name__ == "__main__":
    main()
