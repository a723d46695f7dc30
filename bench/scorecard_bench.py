"""The moderation scorecard (/api/moderation/checks) on a big store: 500 groups and 100,000
moderation decisions in the last 30 days, 20% of them answered by a person, on SQLite.

    uv run python bench/scorecard_bench.py [--groups 500] [--decisions 100000]

Each decision keeps 1-3 checks shaped as the detector writes them (contacts and ad words with
their details, the content model's score, behaviour), its message and its deletion, done (for
the time each ad was up). An admin's GET (every group) is timed
through the ASGI app, 5 times after one warm-up (the first visit, timed apart: the process
reads every decision's checks once), and a fresh app's first visit after `scorecard.warm`
(what `qunzhu serve` does beside its start). Floor, same run: reading the same decisions
and labels with the one query the scorecard needs, without parsing or counting them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import orjson

WORDS = ["代购", "兼职", "加微信", "刷单", "日结", "私聊", "免费", "优惠"]
KINDS = ["wechat", "qq", "url", "domain", "phone"]
LABELS = ["spam", "ham", "appeal_upheld", "appeal_rejected", "ban_only"]


def build(url: str, groups: int, decisions: int) -> None:
    from console_bench import communities_and_groups  # bench/ is on the path of its scripts
    from qunzhu.store import accounts
    from qunzhu.store.db import open_store

    engine = open_store(url)
    rng = random.Random(3)
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        accounts.add_user(conn, "root", "bench password 1", "admin")
        cur = conn.connection.dbapi_connection.cursor()
        communities_and_groups(cur, groups)
        cur.executemany(
            "INSERT INTO inbox (id, connector, key, payload, received_at) "
            "VALUES (?, 'b', ?, '', 0)",
            [(i + 1, f"k{i}") for i in range(decisions)],
        )
        rows = [
            (
                i + 1,
                i + 1,
                rng.randrange(groups) + 1,
                "spam",
                orjson.dumps(reasons(rng)).decode(),
                now - rng.randrange(29 * 86_400_000),
                f"u{rng.randrange(50_000)}",
                f"m{i}",
            )
            for i in range(decisions)
        ]
        cur.executemany(
            "INSERT INTO decisions (id, inbox_id, group_id, policy, verdict, reasons, at, "
            "member, record_id) VALUES (?, ?, ?, 'moderation', ?, ?, ?, ?, ?)",
            rows,
        )
        # each decision's message, and its deletion done a few seconds to minutes after it
        cur.executemany(
            "INSERT INTO messages (group_id, platform_id, sender_id, sent_at, kind, text) "
            "VALUES (?, ?, 1, ?, 'text', '')",
            [(r[2], r[7], r[5] - rng.randrange(1_000, 600_000)) for r in rows],
        )
        cur.executemany(
            "INSERT INTO outbox (decision_id, connector, kind, payload, status, attempts, "
            "due_at, created_at, done_at) VALUES (?, 'b', 'delete', '{}', 'done', 1, ?, ?, ?)",
            [(r[0], r[5], r[5], r[5] + rng.randrange(100, 5_000)) for r in rows],
        )
        cur.executemany(
            "INSERT INTO moderation_labels (decision_id, label, text, user_name, at, note) "
            "VALUES (?, ?, '', 'root', ?, '')",
            [(i + 1, rng.choice(LABELS), now) for i in range(0, decisions, 5)],
        )
    engine.dispose()


def reasons(rng: random.Random) -> dict[str, object]:
    contacts = [{"kind": k, "value": "x"} for k in rng.sample(KINDS, rng.randrange(3))]
    checks = [
        {
            "name": "contacts_and_words",
            "verdict": "spam",
            "score": 0.9,
            "details": {"contacts": contacts, "words": rng.sample(WORDS, rng.randrange(1, 3))},
        },
        {
            "name": "content_model",
            "verdict": rng.choice(["ham", "spam"]),
            "score": 0.7,
            "details": {"spam_from": 0.9, "review_from": 0.4},
        },
    ]
    if rng.random() < 0.2:
        checks.append(
            {"name": "flood", "verdict": "review", "score": 0.6, "details": {"per_minute": 12}}
        )
    return {"score": 0.9, "step": "delete_warn", "checks": checks}


def main() -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from qunzhu.store import schema as t
    from qunzhu.store.db import open_store
    from qunzhu.web.app import create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--decisions", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'b.db'}"
        start = time.perf_counter()
        build(url, args.groups, args.decisions)
        print(f"built in {time.perf_counter() - start:.1f} s")
        engine = open_store(url)
        client = TestClient(create_app(engine, "bench-secret"))
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post(
            "/login",
            data={
                "username": "root",
                "password": "bench password 1",
                "csrf_token": token,
                "next": "/",
            },
        )
        d, ml = t.decisions, t.moderation_labels
        floor_query = select(d.c.group_id, d.c.reasons, ml.c.label).select_from(
            d.outerjoin(ml, ml.c.decision_id == d.c.id)
        )
        times, floors, cold = [], [], 0.0
        for run in range(6):
            began = time.perf_counter()
            answer = client.get("/api/moderation/checks")
            took = time.perf_counter() - began
            assert answer.status_code == 200, answer.text
            began = time.perf_counter()
            with engine.connect() as conn:
                conn.execute(floor_query).all()
            floor = time.perf_counter() - began
            if run:  # the first is the warm-up (the process reads every decision's checks)
                times.append(took)
                floors.append(floor)
            else:
                cold = took
        # what `qunzhu serve` does at start: a fresh app's caches warmed beside the start
        from qunzhu.web.scorecard import warm

        fresh = create_app(engine, "bench-secret")
        began = time.perf_counter()
        warm(fresh, engine)
        warming = time.perf_counter() - began
        fresh_client = TestClient(fresh)
        fresh_client.cookies.update(client.cookies)
        began = time.perf_counter()
        assert fresh_client.get("/api/moderation/checks").status_code == 200
        after_warm = time.perf_counter() - began
        body = answer.json()
        print(
            f"groups {len(body['groups'])}, checks {len(body['checks'])}, "
            f"words {len(body['words'])}"
        )
        print(
            f"GET /api/moderation/checks: median {statistics.median(times):.3f} s, "
            f"max {max(times):.3f} s; first visit {cold:.3f} s"
        )
        print(
            f"warming a fresh console's caches: {warming:.3f} s; its first visit {after_warm:.3f} s"
        )
        print(
            f"floor (the query alone): median {statistics.median(floors):.3f} s; ratio "
            f"{statistics.median(times) / statistics.median(floors):.1f}"
        )


if __name__ == "__main__":
    main()
