"""A store with two communities and users of every role, and a browser-less client."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from qunzhu.model import Group, Message, MessageKind, Person, Platform
from qunzhu.store import accounts, db
from qunzhu.store import schema as t
from qunzhu.store.ingest import Ingest
from qunzhu.web.app import create_app

PASSWORD = "correct horse 1"
T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


@dataclass
class World:
    engine: Engine
    runners: int  # a group of the community "跑团"
    readers: int  # a group of the community "读书会"
    loose: int  # a group in no community (admins only)


def fill(engine: Engine) -> World:
    def group(pid: str, name: str, community: str | None, who: str) -> None:
        records = [Group(Platform.TELEGRAM, pid, name)]
        records += [
            Message(
                f"{pid}-{i}",
                Person(f"{who}{i % 3}", f"{who}{i % 3}"),
                T0 + timedelta(hours=i),
                MessageKind.TEXT,
                f"消息 {i}",
            )
            for i in range(30)
        ]
        with engine.begin() as conn:
            Ingest(conn, "test", "memory", community=community).run(records)

    group("-1001", "跑团一群", "跑团", "run")
    group("-1002", "读书会", "读书会", "read")
    group("-1003", "散群", None, "loose")
    with engine.begin() as conn:
        ids = dict(conn.execute(select(t.groups.c.platform_id, t.groups.c.id)).all())
        accounts.add_user(conn, "root", PASSWORD, "admin")
        accounts.add_user(conn, "ops", PASSWORD, "operator", ["跑团"])
        accounts.add_user(conn, "eye", PASSWORD, "viewer", ["读书会"])
    return World(engine, ids["-1001"], ids["-1002"], ids["-1003"])


@pytest.fixture(scope="session")
def _world_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Filled once (three argon2 hashes and three imports); each test gets its own copy."""
    path = tmp_path_factory.mktemp("world") / "web.db"
    engine = db.open_store(f"sqlite:///{path}")
    made = fill(engine)
    engine.dispose()
    return path, made


@pytest.fixture
def world(tmp_path: Path, _world_file: tuple[Path, World]) -> Iterator[World]:
    source, made = _world_file
    copy = tmp_path / "web.db"
    shutil.copyfile(source, copy)  # WAL checkpointed at dispose: the file is whole
    engine = db.open_store(f"sqlite:///{copy}")
    yield World(engine, made.runners, made.readers, made.loose)
    engine.dispose()


def csrf(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": csrf(client), "next": "/"},
    )
    assert response.status_code == 200 and response.url.path == "/", response.text[:300]
    return client


@pytest.fixture
def app(world: World):  # type: ignore[no-untyped-def]
    return create_app(world.engine, "test-secret")


@pytest.fixture
def client(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app)
