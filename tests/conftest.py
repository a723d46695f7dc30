"""Shared fixtures: a store on SQLite (always) and on PostgreSQL (when a server is reachable)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text

from qunzhu.store import db

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PG_URL = os.environ.get("QUNZHU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def labelled_decision(
    conn: Connection,
    group_id: int,
    label: str,
    text: str,
    member: str | None = None,
    n: int = 0,
    reasons: str = "{}",
) -> int:
    """A moderation decision as the engine stores it, and a person's label on it (the console's
    queue): the training data `moderation train` reads and `forget` deletes."""
    from qunzhu.store import schema as t

    inbox = conn.execute(
        t.inbox.insert().values(connector="tg", key=f"k{n}", payload="", received_at=0)
    ).inserted_primary_key[0]
    decision = conn.execute(
        t.decisions.insert().values(
            inbox_id=inbox,
            group_id=group_id,
            policy="moderation",
            verdict="review",
            reasons=reasons,
            at=0,
            member=member,
            record_id=f"m{n}",
        )
    ).inserted_primary_key[0]
    conn.execute(
        t.moderation_labels.insert().values(
            decision_id=decision, label=label, text=text, user_name="ops", at=n, note=""
        )
    )
    return int(decision)


def shared_sample(relative: str) -> Path:
    """A file under ../shared/samples; skips the test in a clone that has no ../shared."""
    path = SHARED / "samples" / relative
    if not path.exists():
        pytest.skip(
            f"reference sample {relative} not present (../shared is absent in a user's clone)"
        )
    return path


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: no server here
        return str(exc).splitlines()[0]


_PG_PROBLEM: str | bool | None = False


def _pg_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_reachable()
    return _PG_PROBLEM  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """Assertions read English messages; tests of the Chinese texts set QUNZHU_LANG themselves."""
    monkeypatch.setenv("QUNZHU_LANG", "en")


_READERS: list[Any] = []  # the picture readers the running test made


@pytest.fixture(autouse=True)
def readers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keeps the picture readers a test's engines make, so that the store fixtures stop them
    before their store goes: a reader's thread must not write into a dropped store."""
    from qunzhu.engine.reader import PictureReader

    made = PictureReader.__init__

    def tracked(self: PictureReader, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        _READERS.append(self)

    monkeypatch.setattr(PictureReader, "__init__", tracked)
    yield
    _stop_readers()


def _stop_readers() -> None:
    while _READERS:
        _READERS.pop().close()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.open_store(f"sqlite:///{tmp_path / 'qunzhu.db'}")
    yield engine
    _stop_readers()
    engine.dispose()


@contextlib.contextmanager
def empty_pg_schema() -> Iterator[Engine]:
    """An engine on a fresh, empty schema of the PostgreSQL test database, dropped afterwards
    (the test is skipped where no server answers)."""
    problem = _pg_problem()
    if problem:
        pytest.skip(f"no PostgreSQL server reachable at {PG_URL}: {problem}")
    schema = f"qz_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    # the schema in the URL itself, so a process handed `engine.url` (the learner's) finds it
    engine = create_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        _stop_readers()
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def postgresql_engine() -> Iterator[Engine]:
    """A fresh schema in the PostgreSQL test database, dropped afterwards."""
    with empty_pg_schema() as engine:
        db.upgrade(engine)
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The store, once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_engine")
