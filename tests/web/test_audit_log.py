"""The audit log page and API: admins read every change, filtered and paged; no one else."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qunzhu.store import accounts
from qunzhu.web import audit_log
from tests.web.conftest import PASSWORD, World, login


def test_an_admin_reads_who_did_what(client: TestClient) -> None:
    login(TestClient(client.app), "ops")  # another browser: ops logs in too
    login(client, "root")
    page = client.get("/audit")
    assert page.status_code == 200
    assert page.text.count("<td>Logged in</td>") == 2  # root's login and ops's
    assert ">ops<" in page.text and 'href="/audit"' in page.text  # and the menu links it
    chinese = client.get("/audit?lang=zh").text
    assert "操作日志" in chinese and chinese.count("<td>登录</td>") == 2
    api = client.get("/api/audit").json()
    assert [e["user"] for e in api["entries"]] == ["root", "ops"]  # newest first
    assert {e["action"] for e in api["entries"]} == {"login"} and api["more"] is False


@pytest.mark.parametrize("name", ["ops", "eye"])
def test_only_admins_may_read_it(client: TestClient, name: str) -> None:
    login(client, name)
    page = client.get("/audit")
    assert page.status_code == 403 and "only an admin can read" in page.text
    assert client.get("/api/audit").status_code == 403
    assert 'href="/audit"' not in client.get("/").text


def test_strangers_are_sent_to_log_in(client: TestClient) -> None:
    page = client.get("/audit", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/api/audit").status_code == 401


def test_filters_and_pages(client: TestClient, world: World) -> None:
    with world.engine.begin() as conn:
        ops = accounts.authenticate(conn, "ops", PASSWORD)
        assert ops is not None
        for i in range(audit_log.PAGE_SIZE + 5):
            accounts.audit(conn, ops, "member.tags", f"member:{i}", added=[f"t{i}"], removed=[])
    login(client, "root")
    first = client.get("/api/audit", params={"action": "member.tags"}).json()
    assert len(first["entries"]) == audit_log.PAGE_SIZE and first["more"] is True
    assert first["entries"][0]["target"] == f"member:{audit_log.PAGE_SIZE + 4}"  # newest first
    assert first["entries"][0]["details"] == {
        "added": [f"t{audit_log.PAGE_SIZE + 4}"],
        "removed": [],
    }
    second = client.get("/api/audit", params={"action": "member.tags", "page": 2}).json()
    assert len(second["entries"]) == 5 and second["more"] is False
    only_root = client.get("/api/audit", params={"user": "root"}).json()["entries"]
    assert [(e["user"], e["action"]) for e in only_root] == [("root", "login")]
    page = client.get("/audit", params={"action": "member.tags"}).text
    assert "Changed a member" in page and "/audit?action=member.tags&amp;page=2" in page
    assert "Logged in</td>" not in page  # the filter holds on the page too
    bad = client.get("/api/audit", params={"page": 0})
    assert bad.status_code == 422


def test_every_action_the_console_writes_has_a_name() -> None:
    """The log page names each action in the reader's language: one written by the code but
    missing from ACTIONS would show as its raw key."""
    import re
    from pathlib import Path

    from qunzhu.web import audit_log

    source = Path(audit_log.__file__).parents[1]
    written = set()
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r"\baudit\(\s*conn,\s*\w+,\s*\"([^\"]+)\"", text))
    assert {"login", "member.trust", "member.strikes"} <= written  # the pattern still finds them
    assert written <= set(audit_log.ACTIONS)
