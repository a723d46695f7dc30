"""The console's overview on a big community: 500 groups, 2,000,000 messages, on SQLite.

    uv run python bench/console_bench.py --groups 500 --messages 2000000 --json

The store is written straight into the tables (one pass of executemany; reused from bench/out/
across runs), with a snapshot (stage, health, advice) per group as the console's background
refresh leaves them. Then an admin's GET / (the HTML overview of every group), GET
/api/groups, GET /members (the first 50 of all 100,000 members, busiest first) and a name
search through /api/members are timed through the ASGI app, 5 times each after one warm-up.
Floor, same run: the one indexed query any overview needs, messages per group over the last
7 days.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

OUT = Path(__file__).parent / "out"
DAY_MS = 86_400_000
END = 1_796_000_000_000  # a fixed "now" of the data (ms)


def communities_and_groups(cur: Any, groups: int) -> None:
    """`groups` Telegram groups, ten to a community, ids from 1 (a DB-API cursor on SQLite)."""
    cur.executemany(
        "INSERT INTO communities (id, name, created_at) VALUES (?, ?, 0)",
        [(c + 1, f"社群{c + 1}") for c in range(groups // 10)],
    )
    cur.executemany(
        "INSERT INTO groups (id, community_id, platform, platform_id, name, kind, tz) "
        "VALUES (?, ?, 'telegram', ?, ?, 'long_term', 'Asia/Shanghai')",
        [(g + 1, g // 10 + 1, f"-100{g}", f"群{g}") for g in range(groups)],
    )


def build(path: Path, groups: int, messages: int) -> None:
    from qunzhu.store import schema as t
    from qunzhu.store.db import open_store

    engine = open_store(f"sqlite:///{path}")
    rng = random.Random(5)
    per_group = messages // groups
    members_per_group = 200
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        communities_and_groups(cur, groups)
        cur.executemany(
            "INSERT INTO members (id, platform, external_id, display_name, provisional) "
            "VALUES (?, 'telegram', ?, ?, 0)",
            [(m + 1, f"user{m}", f"成员{m}") for m in range(groups * members_per_group)],
        )
        cur.executemany(
            "INSERT INTO memberships (group_id, member_id, role, message_count) "
            "VALUES (?, ?, 'member', 0)",
            [
                (g + 1, g * members_per_group + k + 1)
                for g in range(groups)
                for k in range(members_per_group)
            ],
        )
        for g in range(groups):
            rows = []
            for i in range(per_group):
                sender = g * members_per_group + int(rng.random() ** 2 * members_per_group) + 1
                at = END - int(rng.random() * 60 * DAY_MS)
                rows.append((g + 1, f"{g}-{i}", sender, at, "text", "你好，今天一起跑步吗"))
            cur.executemany(
                "INSERT INTO messages (group_id, platform_id, sender_id, sent_at, kind, text) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        snap = orjson.dumps(
            {"kind": "long_term", "stage": "early", "health": 72, "advice": ["A", "B"]}
        ).decode()
        cur.executemany(
            "INSERT INTO group_snapshots (group_id, computed_at, data) VALUES (?, ?, ?)",
            [(g + 1, END, snap) for g in range(groups)],
        )
        cur.close()
        count = conn.execute(select(func.count()).select_from(t.messages)).scalar_one()
    assert count == per_group * groups
    engine.dispose()


def timed(call, n: int = 5) -> list[float]:  # type: ignore[no-untyped-def]
    call()  # warm-up
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"console_{args.groups}x{args.messages}.db"
    if not path.exists():
        started = time.perf_counter()
        build(path, args.groups, args.messages)
        print(f"built {path.name} in {time.perf_counter() - started:.1f} s", flush=True)

    from fastapi.testclient import TestClient

    from qunzhu.store import accounts
    from qunzhu.store import schema as t
    from qunzhu.store.db import open_store
    from qunzhu.web.app import create_app

    engine = open_store(f"sqlite:///{path}")
    with engine.begin() as conn:
        if not any(n == "bench" for n, _, _ in accounts.list_users(conn)):
            accounts.add_user(conn, "bench", "bench-password", "admin")
    client = TestClient(create_app(engine, "bench"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post(
        "/login", data={"username": "bench", "password": "bench-password", "csrf_token": token}
    )

    def page() -> None:
        response = client.get("/")
        assert response.status_code == 200 and response.text.count('data-group="') == args.groups

    def api() -> None:
        response = client.get("/api/groups")
        assert response.status_code == 200 and len(response.json()["groups"]) == args.groups

    def floor() -> None:
        m = t.messages
        with engine.connect() as conn:
            ids = list(range(1, args.groups + 1))
            end = conn.execute(select(func.max(m.c.sent_at))).scalar()
            conn.execute(
                select(m.c.group_id, func.count())
                .where(m.c.group_id.in_(ids), m.c.sent_at > end - 7 * DAY_MS)
                .group_by(m.c.group_id)
            ).all()

    def members() -> None:
        response = client.get("/members")
        assert response.status_code == 200 and 'href="/members/' in response.text

    def members_search() -> None:
        response = client.get("/api/members", params={"q": "成员12"})
        assert response.status_code == 200 and response.json()["total"] > 0

    floor_s, page_s, api_s = timed(floor), timed(page), timed(api)
    members_s, search_s = timed(members), timed(members_search)
    result = {
        "groups": args.groups,
        "messages": args.messages,
        "overview_page_s": round(statistics.median(page_s), 3),
        "overview_page_max_s": round(max(page_s), 3),
        "api_groups_s": round(statistics.median(api_s), 3),
        "members_page_s": round(statistics.median(members_s), 3),
        "members_search_api_s": round(statistics.median(search_s), 3),
        "floor_s": round(statistics.median(floor_s), 3),
        "ratio": round(statistics.median(page_s) / statistics.median(floor_s), 2),
    }
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
