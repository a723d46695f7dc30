"""The inbox keeps what stops a redelivery for a week, and nothing of a forgotten member."""

from __future__ import annotations

import time

import orjson
import pytest
from sqlalchemy import Engine, insert, select

from qunzhu.store import inbox
from qunzhu.store import schema as t
from qunzhu.store.privacy import forget_member

DAY_MS = 86_400_000
NOW = 1_800_000_000_000


def waiting(*person: str | None, text: str = "") -> str:
    """A payload as the engine writes one (a Person is an [id, name] list)."""
    record = {"platform_id": "m9", "sender": list(person), "text": text}
    return orjson.dumps({"group": {"platform": "qq"}, "record": record}).decode()


def add(conn, key: str, processed: bool = True, at: int = NOW, payload: str = "") -> int:  # type: ignore[no-untyped-def]
    row = {"connector": "qq", "key": key, "payload": payload, "received_at": at}
    return conn.execute(
        insert(t.inbox).values(**row, processed_at=at if processed else None)
    ).inserted_primary_key[0]


def decide(conn, inbox_id: int, group: int, member: str) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        insert(t.decisions).values(
            inbox_id=inbox_id, group_id=group, policy="moderation", verdict="spam",
            reasons="{}", at=NOW, member=member,
        )
    )  # fmt: skip


def keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.inbox.c.key).order_by(t.inbox.c.id)).scalars())


def test_old_processed_rows_no_decision_points_to_are_pruned(engine: Engine) -> None:
    with engine.begin() as conn:
        group = conn.execute(
            insert(t.groups).values(platform="qq", platform_id="g1", name="跑团")
        ).inserted_primary_key[0]
        add(conn, "g1:Message:1", at=NOW - 8 * DAY_MS)  # old: goes
        decided = add(conn, "g1:Message:2", at=NOW - 8 * DAY_MS)  # a decision points to it
        decide(conn, decided, group, "10002")
        add(conn, "g1:Message:3", at=NOW - 6 * DAY_MS)  # a redelivery may still come
        add(conn, "g1:Message:4", processed=False, at=NOW - 8 * DAY_MS, payload="{}")  # waits
        assert inbox.prune(conn, NOW) == 1
    assert keys(engine) == ["g1:Message:2", "g1:Message:3", "g1:Message:4"]


def test_forgetting_a_member_takes_them_out_of_the_inbox(engine: Engine) -> None:
    with engine.begin() as conn:
        group = conn.execute(
            insert(t.groups).values(platform="qq", platform_id="g1", name="跑团")
        ).inserted_primary_key[0]
        member = conn.execute(
            insert(t.members).values(platform="qq", external_id="10001", display_name="小美")
        ).inserted_primary_key[0]
        add(conn, "g1:MembershipEvent:join:g1:10001:1700000000")  # names them: goes
        theirs = add(conn, "g1:Reaction:777:10001")  # their own decision's: goes with it
        decide(conn, theirs, group, "10001")
        swept = add(conn, "known_name:g1:10001")  # another member's decision points here
        decide(conn, swept, group, "10009")
        add(conn, "g1:Message:100011")  # another id that only begins alike: stays
        add(conn, "g1:Message:5", processed=False, payload=waiting("10001", "小美"))  # goes
        add(conn, "g1:Message:6", processed=False, payload=waiting("10002", None, text="10001"))
        forget_member(conn, member)
    left = keys(engine)
    assert left[1:] == ["g1:Message:100011", "g1:Message:6"]
    assert left[0].startswith("forgotten:") and "10001" not in left[0]
    with engine.connect() as conn:  # the other member's decision still finds its event
        assert conn.execute(select(t.decisions.c.inbox_id)).scalars().all() == [swept]


def test_the_engine_lets_go_of_a_backlog_a_piece_at_a_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qunzhu import service

    monkeypatch.setattr(service, "PRUNE_PIECE", 2)
    with engine.begin() as conn:
        for n in range(5):
            add(conn, f"g1:Message:{n}", at=1_000)  # long ago
        add(conn, "g1:Message:new", at=int(time.time() * 1000))
    assert service._prune(engine) == 5
    assert keys(engine) == ["g1:Message:new"]
