"""Migrations that move data, run on a store an earlier version left."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, create_engine, insert, select, text

from qunzhu.store import db
from qunzhu.store import schema as t
from tests.conftest import empty_pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store with no schema yet, on SQLite and on PostgreSQL."""
    if request.param == "postgresql":
        with empty_pg_schema() as engine:
            yield engine
        return
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    yield engine
    engine.dispose()


def test_decisions_stored_before_keep_their_step_in_its_column(empty: Engine) -> None:
    """0019 copies each decision's step out of its JSON, so the console's questions, appeals
    and what a model spared are still found after the upgrade."""
    db.upgrade(empty, "0018")
    stored = {
        "ask_admin": {"step": "ask_admin", "checks": []},
        "delete_warn": {"step": "delete_warn", "score": 0.9},
        None: {"checks": []},  # a welcome's decision names no step
    }
    with empty.begin() as conn:
        conn.execute(insert(t.groups).values(platform="telegram", platform_id="-1", name="跑团"))
        group = conn.execute(select(t.groups.c.id)).scalar_one()
        for n, reasons in enumerate(stored.values()):
            inbox = conn.execute(
                t.inbox.insert().values(connector="tg", key=f"k{n}", payload="", received_at=0)
            ).inserted_primary_key[0]
            conn.execute(
                text(
                    "INSERT INTO decisions (inbox_id, group_id, policy, verdict, reasons, at) "
                    "VALUES (:inbox, :group, 'moderation', 'review', :reasons, 0)"
                ),
                {"inbox": inbox, "group": group, "reasons": orjson.dumps(reasons).decode()},
            )
        conn.execute(  # a decision whose reasons are not JSON at all
            text(
                "INSERT INTO decisions (inbox_id, group_id, policy, verdict, reasons, at) "
                "VALUES (:inbox, :group, 'moderation', 'review', 'not json', 0)"
            ),
            {"inbox": inbox, "group": group},
        )
    db.upgrade(empty)
    with empty.connect() as conn:
        steps = conn.execute(select(t.decisions.c.step).order_by(t.decisions.c.id)).scalars()
        assert list(steps) == [*stored, None]
    assert db.is_current(empty)


def test_the_migrations_make_the_schema_the_code_declares(empty: Engine) -> None:
    """Every table, column and index of `schema.py` is made by a migration, as declared
    (a column or index added to one and not the other is found here, not in a user's store)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db.upgrade(empty)
    with empty.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
