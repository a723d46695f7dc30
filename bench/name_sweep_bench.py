"""How long removing the members already in who are named like a confirmed ad name takes
(`Runtime.remove_named`), after each confirmed name and at start: every current member of
every group whose community learnt one is read and their name checked.

    uv run python bench/name_sweep_bench.py [--groups 300] [--members 200] [--named 30]

One community of `groups` Telegram groups of `members` open memberships each, on SQLite;
`named` of the members carry the farm's name (a digit apart). The floor, same run: reading
the same memberships with their names, nothing checked.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from qunzhu.engine.policies import ModerationPolicy
from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
from qunzhu.moderation.behaviour import Behaviour, SpamBank, TrustBook
from qunzhu.moderation.enforcement import Ladder, Mode
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.normalize import normalize
from qunzhu.store import schema as t
from qunzhu.store.db import open_store

FARM = "兼职日结 加V abc1234{}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--named", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{Path(tmp) / 'b.db'}")
        total = args.groups * args.members
        with engine.begin() as conn:
            cur = conn.connection.dbapi_connection.cursor()
            cur.execute("INSERT INTO communities (id, name, created_at) VALUES (1, '社群', 0)")
            cur.executemany(
                "INSERT INTO groups (id, community_id, platform, platform_id, name, kind, tz) "
                "VALUES (?, 1, 'telegram', ?, ?, 'long_term', 'Asia/Shanghai')",
                [(g + 1, f"-100{g}", f"群{g}") for g in range(args.groups)],
            )
            step = max(total // max(args.named, 1), 1)
            cur.executemany(
                "INSERT INTO members (id, platform, external_id, display_name, provisional) "
                "VALUES (?, 'telegram', ?, ?, 0)",
                [
                    (m + 1, f"u{m}", FARM.format(m % 10) if m % step == 0 else f"上海-跑步-成员{m}")
                    for m in range(total)
                ],
            )
            cur.executemany(
                "INSERT INTO memberships (group_id, member_id, role, message_count) "
                "VALUES (?, ?, 'member', 0)",
                [(m // args.members + 1, m + 1) for m in range(total)],
            )
            cur.close()
        bank = SpamBank()
        detector = Detector(behaviour=Behaviour(), trust=TrustBook(), bank=bank)
        policy = ModerationPolicy(detector, Ladder(Mode.ENFORCE))
        setups = Setups({("tg", f"-100{g}"): GroupSetup([policy]) for g in range(args.groups)})
        rt = Runtime(engine, setups)
        ms, m = t.memberships, t.members
        began = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(
                select(ms.c.group_id, m.c.external_id, m.c.display_name, ms.c.role).join(
                    m, m.c.id == ms.c.member_id
                )
            ).all()
        floor = time.perf_counter() - began
        began = time.perf_counter()
        nothing = rt.remove_named([bank])  # nothing confirmed yet: every name checked
        idle = time.perf_counter() - began
        bank.add(normalize(FARM.format(0)))
        began = time.perf_counter()
        removed = rt.remove_named([bank])
        took = time.perf_counter() - began
        began = time.perf_counter()
        again = rt.remove_named([bank])
        repeat = time.perf_counter() - began
        print(f"{args.groups} groups, {total} members, {args.named} named like the farm")
        print(f"nothing confirmed: {idle:.2f} s ({nothing} removed)")
        print(f"one name confirmed: {took:.2f} s ({removed} removed)")
        print(f"the same again: {repeat:.2f} s ({again} removed)")
        print(f"floor (reading the memberships): {floor:.3f} s; ratio {took / floor:.1f}")


if __name__ == "__main__":
    main()
