"""The import page: an upload read in the background, its progress and summary, its one-line
error, and who may import what where."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from qunzhu.demo import DemoCommunity, write_export
from qunzhu.store import schema as t
from qunzhu.web import imports
from tests.web.conftest import World, csrf, login


@pytest.fixture
def export(tmp_path: Path) -> bytes:
    (path,) = write_export("telegram", DemoCommunity(messages=200, groups=1), tmp_path / "demo")
    return path.read_bytes()


@pytest.fixture(autouse=True)
def uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The uploads' temporary folders go here, to see them removed."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def upload(
    client: TestClient,
    content: bytes,
    name: str = "result.json",
    token: str | None = None,
    **fields: str,
) -> Any:
    data = {"csrf_token": csrf(client, "/") if token is None else token, "tz": "Asia/Shanghai"}
    data.update(fields)
    return client.post(
        "/import",
        data=data,
        files={"file": (name, content, "application/json")},
        follow_redirects=False,
    )


def finished(client: TestClient, location: str, timeout_s: float = 30.0) -> dict[str, Any]:
    job_id = location.rsplit("/", 1)[-1]
    end = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/import/jobs/{job_id}").json()
        if job["state"] != "running":
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < end, "the import did not finish"
        time.sleep(0.05)


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (t.groups, t.messages, t.imports)
        )


def audits(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(t.audit_log).where(t.audit_log.c.action == action)).all()


def test_an_operator_imports_into_their_community(
    client: TestClient, world: World, export: bytes, uploads: Path
) -> None:
    login(client, "ops")
    form = client.get("/import")
    assert form.status_code == 200
    assert '<option value="跑团">' in form.text and "读书会" not in form.text
    assert 'name="new_community"' not in form.text  # only admins create communities

    started = upload(client, export, community="跑团")
    assert started.status_code == 303, started.text[:500]
    location = started.headers["location"]
    assert location.startswith("/import/jobs/")
    job = finished(client, location)
    assert job["state"] == "done", job
    assert job["error"] is None and job["format"] == "telegram"
    summary = job["summary"]
    assert summary["groups"] == 1 and summary["messages_added"] > 150
    assert summary["messages_skipped"] == 0 and summary["members"] > 0
    assert job["rows"] > 0

    page = client.get(location)
    assert "Imported." in page.text and summary["group_names"][0] in page.text
    groups = client.get("/api/groups").json()["groups"]
    assert summary["group_names"][0] in [g["name"] for g in groups]
    assert list(uploads.iterdir()) == []  # the temporary folder is gone
    (line,) = audits(world.engine, "import")
    assert line.user_name == "ops" and orjson.loads(line.details)["community"] == "跑团"

    again = finished(client, upload(client, export, community="跑团").headers["location"])
    assert again["summary"]["messages_added"] == 0  # the same file adds nothing


def test_a_broken_file_says_why_in_one_line_and_writes_nothing(
    client: TestClient, world: World, export: bytes, uploads: Path
) -> None:
    login(client, "ops")
    before = counts(world.engine)
    broken = export[: len(export) // 2]  # cut mid-stream: records were read before the error
    started = upload(client, broken, name="cut.json", format="telegram", community="跑团")
    assert started.status_code == 303
    job = finished(client, started.headers["location"])
    assert job["state"] == "failed" and job["summary"] is None
    assert "\n" not in job["error"] and job["error"].startswith("cut.json: ")
    assert str(uploads) not in job["error"]  # the upload's name, not the server's path
    assert counts(world.engine) == before
    assert list(uploads.iterdir()) == []
    page = client.get(started.headers["location"])
    assert "Nothing was imported" in page.text and "cut.json: " in page.text


def test_an_operator_cannot_import_elsewhere(
    client: TestClient, world: World, export: bytes
) -> None:
    login(client, "ops")
    before = counts(world.engine)
    other = upload(client, export, community="读书会")
    assert other.status_code == 403 and "only into your own communities" in other.text
    new = upload(client, export, new_community="新社群")
    assert new.status_code == 403 and "only an admin can create a community" in new.text
    none = upload(client, export, community="")
    assert none.status_code == 403 and "only an admin can import outside" in none.text
    assert counts(world.engine) == before
    assert getattr(client.app.state, "import_jobs", {}) == {}


def test_an_admin_imports_into_a_new_community(
    client: TestClient, world: World, export: bytes
) -> None:
    login(client, "root")
    started = upload(client, export, community="", new_community="晨跑群")
    job = finished(client, started.headers["location"])
    assert job["state"] == "done" and job["community"] == "晨跑群"
    with world.engine.connect() as conn:
        names = conn.execute(
            select(t.communities.c.name)
            .join(t.groups, t.groups.c.community_id == t.communities.c.id)
            .where(t.groups.c.name == job["summary"]["group_names"][0])
        ).scalars()
        assert list(names) == ["晨跑群"]


def test_bad_requests_are_refused_with_a_reason(
    client: TestClient, world: World, export: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client, "ops")
    wrong = upload(client, export, community="跑团", format="excel")
    assert wrong.status_code == 400 and "unknown format" in wrong.text
    zone = upload(client, export, community="跑团", tz="Mars/Olympus")
    assert zone.status_code == 400 and "unknown time zone" in zone.text
    monkeypatch.setattr(imports, "MAX_BYTES", 1000)
    big = upload(client, export, community="跑团")  # the body says less than it carries
    assert big.status_code == 413 and "larger than 1000 B" in big.text
    monkeypatch.setattr(imports, "MAX_BYTES", 0)
    monkeypatch.setattr(imports, "_FORM_SLACK", 0)
    declared = upload(client, b"{}", community="跑团")  # refused on its Content-Length
    assert declared.status_code == 413
    assert counts(world.engine)[2] == 3  # the fixture's three imports, nothing more


def test_a_chunked_upload_is_cut_off_at_the_limit(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Content-Length to refuse on: the body stops being read once it passes the limit,
    instead of being spooled whole to disk first. (TestClient reads a request's whole body
    before the app sees it, so this one goes through httpx's ASGI transport, chunk by chunk.)"""
    login(client, "ops")
    monkeypatch.setattr(imports, "MAX_BYTES", 10_000)
    monkeypatch.setattr(imports, "_FORM_SLACK", 1_000)
    boundary = "qunzhu-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{csrf(client, '/')}\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="result.json"\r\n'
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield head
        for _ in range(1_000):  # 1 MB in all, a hundred times the limit
            pulled += 1
            yield b"x" * 1_000

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", cookies=client.cookies
        ) as chunked:
            return await chunked.post(
                "/import",
                content=body(),
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            )

    refused = asyncio.run(post())
    assert refused.status_code == 413 and "larger than" in refused.text
    assert pulled < 20  # read up to the limit, not to the end
    assert counts(world.engine)[2] == 3


def test_a_viewer_and_a_forged_form_are_refused(
    client: TestClient, world: World, export: bytes
) -> None:
    login(client, "eye")
    assert client.get("/import").status_code == 403
    assert upload(client, export, community="读书会").status_code == 403
    ops = TestClient(client.app)
    login(ops, "ops")
    assert upload(ops, export, token="forged", community="跑团").status_code == 403
    bare = ops.post("/import", files={"file": ("a.json", export)}, data={"community": "跑团"})
    assert bare.status_code == 403
    assert counts(world.engine)[2] == 3


def test_a_job_is_seen_by_who_started_it_and_by_admins(
    client: TestClient, world: World, export: bytes
) -> None:
    login(client, "ops")
    location = upload(client, export, community="跑团").headers["location"]
    job_id = location.rsplit("/", 1)[-1]
    finished(client, location)
    for name, status in (("eye", 404), ("root", 200)):
        other = TestClient(client.app)
        login(other, name)
        assert other.get(location).status_code == status
        assert other.get(f"/api/import/jobs/{job_id}").status_code == status
    assert client.get("/import/jobs/nope").status_code == 404
    stranger = TestClient(client.app)
    assert stranger.get(f"/api/import/jobs/{job_id}").status_code == 401


def test_an_operator_cannot_pull_another_communitys_group_into_theirs(
    client: TestClient, world: World, export: bytes
) -> None:
    login(client, "root")
    first = finished(client, upload(client, export, community="读书会").headers["location"])
    assert first["state"] == "done"
    before = counts(world.engine)
    ops = TestClient(client.app)
    login(ops, "ops")
    job = finished(ops, upload(ops, export, name="same.json", community="跑团").headers["location"])
    assert job["state"] == "failed"
    assert job["error"].startswith("same.json: the export holds groups of another community")
    assert first["summary"]["group_names"][0] in job["error"]
    assert counts(world.engine) == before
    names = [g["name"] for g in ops.get("/api/groups").json()["groups"]]
    assert names == ["跑团一群"]  # still only their own
