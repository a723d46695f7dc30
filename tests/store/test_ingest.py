"""The event log on SQLite and PostgreSQL: idempotence, names, derived tables, rollback."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from qunzhu.model import (
    Group,
    JoinMethod,
    MembershipAction,
    MembershipEvent,
    Message,
    MessageKind,
    Person,
    Platform,
    Record,
)
from qunzhu.store import db
from qunzhu.store import schema as t
from qunzhu.store.ingest import Ingest

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def group(pid: str = "g1") -> Group:
    return Group(Platform.WECHAT, pid, "读书会")


def ingest(engine: Engine, records: list[Record] | Iterator[Record]):
    with engine.begin() as conn:
        return Ingest(conn, "test", "memory").run(records)


def members(engine: Engine) -> dict[str, tuple[str | None, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.members.c.external_id, t.members.c.display_name, t.members.c.provisional)
        )
        return {r.external_id: (r.display_name, r.provisional) for r in rows}


def test_name_only_join_merges_into_member_with_id(engine: Engine) -> None:
    s = ingest(
        engine,
        [
            group(),
            MembershipEvent(
                "e1",
                Person(None, "小王"),
                MembershipAction.JOIN,
                at(0),
                method=JoinMethod.INVITE,
                actor=Person("wxid_owner", "群主"),
            ),
            Message("m1", Person("wxid_wang", "小王"), at(5), MessageKind.TEXT, "大家好"),
        ],
    )
    assert s.members == 2
    assert members(engine) == {"wxid_owner": ("群主", False), "wxid_wang": ("小王", False)}
    with engine.connect() as conn:
        row = conn.execute(
            select(t.memberships)
            .join(t.members, t.members.c.id == t.memberships.c.member_id)
            .where(t.members.c.external_id == "wxid_wang")
        ).one()
    assert row.join_method == "invite" and row.message_count == 1 and row.joined_at is not None


def test_ambiguous_name_stays_name_only(engine: Engine) -> None:
    ingest(
        engine,
        [
            group(),
            MembershipEvent("e1", Person(None, "Amy"), MembershipAction.JOIN, at(0)),
            Message("m1", Person("u1", "Amy"), at(1), MessageKind.TEXT, "hi"),
            Message("m2", Person("u2", "Amy"), at(2), MessageKind.TEXT, "hi too"),
        ],
    )
    found = members(engine)
    assert found["name:g1:Amy"] == ("Amy", True)
    assert {"u1", "u2"} <= set(found)


def test_display_name_history_and_latest_name(engine: Engine) -> None:
    ingest(
        engine,
        [
            group(),
            Message("m1", Person("u1", "跑者阿强"), at(0), MessageKind.TEXT, "a"),
            Message("m2", Person("u1", "阿强-上海"), at(10), MessageKind.TEXT, "b"),
        ],
    )
    # An older export read later must not change the latest name.
    ingest(engine, [group(), Message("m0", Person("u1", "qiang"), at(-100), MessageKind.TEXT, "c")])
    with engine.connect() as conn:
        names = dict(conn.execute(select(t.member_names.c.name, t.member_names.c.first_seen)).all())
    assert set(names) == {"跑者阿强", "阿强-上海", "qiang"}
    assert members(engine)["u1"] == ("阿强-上海", False)


def test_same_ids_in_other_group_are_other_messages(engine: Engine) -> None:
    first = ingest(engine, [group("g1"), Message("1", Person("u1", "A"), at(0), MessageKind.TEXT)])
    second = ingest(engine, [group("g2"), Message("1", Person("u1", "A"), at(0), MessageKind.TEXT)])
    assert (first.messages_added, second.messages_added) == (1, 1)
    again = ingest(engine, [group("g2"), Message("1", Person("u1", "A"), at(0), MessageKind.TEXT)])
    assert (again.messages_added, again.messages_skipped) == (0, 1)


def test_leave_then_rejoin(engine: Engine) -> None:
    u = Person("u1", "A")
    ingest(
        engine,
        [
            group(),
            MembershipEvent("e1", u, MembershipAction.JOIN, at(0), method=JoinMethod.LINK),
            MembershipEvent("e2", u, MembershipAction.LEAVE, at(10)),
            MembershipEvent("e3", u, MembershipAction.JOIN, at(20), method=JoinMethod.INVITE),
        ],
    )
    with engine.connect() as conn:
        row = conn.execute(select(t.memberships)).one()
    assert row.left_at is None and row.join_method == "invite"
    assert row.joined_at == int(at(20).timestamp() * 1000)


def test_failure_midway_rolls_everything_back(engine: Engine) -> None:
    def broken() -> Iterator[Record]:
        yield group()
        for i in range(50_000):  # more than one batch reaches the database first
            yield Message(str(i), Person(f"u{i % 97}", "x"), at(i), MessageKind.TEXT, "t")
        raise ValueError("disk on fire")

    with pytest.raises(ValueError):
        ingest(engine, broken())
    with engine.connect() as conn:
        for table in (t.messages, t.members, t.groups, t.imports, t.member_names):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_open_store_migrates_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = db.open_store(url)
    assert db.is_current(engine)
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
    assert mode == "wal"
    engine.dispose()
    assert db.is_current(db.open_store(url))


def test_bad_database_url() -> None:
    with pytest.raises(db.StoreError, match="not a database URL"):
        db.open_store("::nonsense::")


def test_migrations_match_the_schema(engine: Engine) -> None:
    """A schema change without its migration fails here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []


def test_name_only_sender_merges_with_messages_across_imports(engine: Engine) -> None:
    ingest(engine, [group(), Message("m1", Person(None, "Bo"), at(0), MessageKind.TEXT, "hi")])
    assert members(engine) == {"name:g1:Bo": ("Bo", True)}
    ingest(engine, [group(), Message("m2", Person("u9", "Bo"), at(5), MessageKind.TEXT, "again")])
    assert members(engine) == {"u9": ("Bo", False)}
    with engine.connect() as conn:
        senders = conn.execute(select(t.messages.c.sender_id).distinct()).scalars().all()
        count = conn.execute(select(t.memberships.c.message_count)).scalar_one()
    assert len(senders) == 1 and count == 2


def memberships(engine: Engine) -> set[tuple]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(t.memberships))}


@pytest.mark.parametrize("groups_a_batch", [1, 3])
def test_small_batches_keep_memberships_equal_to_a_full_rebuild(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, groups_a_batch: int
) -> None:
    """Live batches update only the members they touch; the result must be the rebuild's.
    With several groups a batch, the same people in each, their rows are recomputed
    together: one group's events must not reach another's rows."""
    import random

    from qunzhu.store import ingest as module
    from qunzhu.store.ingest import rebuild_memberships

    together: list[int] = []  # how many groups each update recomputed members of
    update = module.update_memberships
    monkeypatch.setattr(
        module,
        "update_memberships",
        lambda conn, sent, moved: (together.append(len(moved)), update(conn, sent, moved))[1],
    )
    rng = random.Random(3)
    people = [Person(f"u{i}", f"P{i}") for i in range(12)]
    sent: list[Record] = []
    for batch in range(30):
        records: list[Record] = []
        for pid in rng.sample(["g1", "g2", "g3"][: groups_a_batch + 1], groups_a_batch):
            records.append(group(pid))
            for _ in range(rng.randrange(1, 8)):
                n, who = batch * 100 + len(records), rng.choice(people)
                when = at(n + rng.randrange(-20, 20))  # a little out of order, as platforms are
                roll = rng.random()
                if roll < 0.15 / groups_a_batch and sent:  # a redelivery: must not be counted twice
                    records.append(rng.choice(sent))
                    continue
                if roll < 0.6:
                    record: Record = Message(f"m{n}", who, when, MessageKind.TEXT, "hi")
                elif roll < 0.75:
                    actor = rng.choice([None, rng.choice(people)])
                    record = MembershipEvent(
                        f"e{n}", who, MembershipAction.JOIN, when, JoinMethod.INVITE, actor
                    )
                elif roll < 0.9:
                    record = MembershipEvent(f"e{n}", who, MembershipAction.LEAVE, when)
                else:
                    record = MembershipEvent(f"e{n}", who, MembershipAction.KICK, when, actor=who)
                sent.append(record)
                records.append(record)
        ingest(engine, records)
        if batch == 10:
            with engine.begin() as conn:  # a role the operator set survives both paths
                conn.execute(
                    t.memberships.update()
                    .values(role="admin")
                    .where(
                        t.memberships.c.member_id
                        == select(func.min(t.members.c.id)).scalar_subquery()
                    )
                )
        live = memberships(engine)
        with engine.begin() as conn:
            for gid in conn.execute(select(t.groups.c.id)).scalars().all():
                rebuild_memberships(conn, gid)
        assert memberships(engine) == live, f"batch {batch}"
    assert any(row[6] == "admin" for row in live)
    assert max(together) == groups_a_batch


def test_a_live_batch_over_many_groups_reads_them_all_at_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prefetch` reads the groups, the members they know by name only and stores the people
    with ids for the whole batch, and the batch's messages, membership events and
    memberships are written together: a dozen groups cost the statements of one, and what is
    stored is what group-by-group writing stores (the name-only member of an earlier import
    merged into the member with an id who bears the name)."""
    from qunzhu.store import ingest as module

    ingest(  # an earlier import: 小王 known by name only in g0
        engine,
        [group("g0"), MembershipEvent("e1", Person(None, "小王"), MembershipAction.JOIN, at(0))],
    )
    calls: dict[str, int] = {"group": 0, "names": 0}

    def counting(name: str, run):  # type: ignore[no-untyped-def]
        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return run(*args, **kwargs)

        return counted

    monkeypatch.setattr(module._GROUPS_BY_KEY, "run", counting("group", module._GROUPS_BY_KEY.run))
    monkeypatch.setattr(module._KNOWN_NAMES, "run", counting("names", module._KNOWN_NAMES.run))
    written: list[str] = []  # the table of each insert, of one row or many
    for name in ("insert_ignore", "insert"):
        monkeypatch.setattr(
            module,
            name,
            functools.partial(
                lambda write, conn, table, *a: (written.append(table.name), write(conn, table, *a))[
                    1
                ],
                getattr(module, name),
            ),
        )
    batch: list[tuple[Group, list[Record]]] = []
    for g in range(12):
        said = [
            Message(
                f"m{g}", Person(f"wxid_{g % 5}", f"成员{g % 5}"), at(10 + g), MessageKind.TEXT, "早"
            )
        ]
        if g == 0:
            said.append(
                Message("m-wang", Person("wxid_wang", "小王"), at(30), MessageKind.TEXT, "在")
            )
        joined = MembershipEvent(f"j{g}", Person(f"new_{g}", "新人"), MembershipAction.JOIN, at(20))
        batch.append((group(f"g{g}"), [*said, joined]))
    with engine.begin() as conn:
        live = Ingest(conn, "live:test", "memory")
        live.prefetch(batch)
        summary = live.run(r for g, records in batch for r in (g, *records))
    # one of each for the batch (group by group: 12, 12 and 12), and the one group with a
    # name-only member reads its other members' names, to merge
    assert calls == {"group": 1, "names": 2}
    # the 12 groups' rows: one insert of each (and g0, with a member merged, rebuilt alone)
    assert Counter(written) == {
        "members": 1,
        "messages": 1,
        "membership_events": 1,
        "member_names": 1,
        "memberships": 3,  # the message figures, the members who joined, g0's rebuild
    }
    assert (summary.groups, summary.messages_added) == (12, 13)
    assert summary.membership_events_added == 12
    assert members(engine) == {
        **{f"wxid_{i}": (f"成员{i}", False) for i in range(5)},
        "wxid_wang": ("小王", False),  # the name-only 小王 of g0 merged into them
        **{f"new_{g}": ("新人", False) for g in range(12)},
    }
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.groups)).scalar() == 12
