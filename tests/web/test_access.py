"""Logging in, sessions, CSRF, rate limits, tokens, and community isolation on every route."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qunzhu.store import accounts
from tests.web.conftest import PASSWORD, World, csrf, login


def test_pages_send_strangers_to_the_login_and_the_api_says_401(client: TestClient) -> None:
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    api = client.get("/api/groups")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"


def test_login_logout_and_the_cookie(client: TestClient) -> None:
    token = csrf(client)
    wrong = client.post(
        "/login", data={"username": "root", "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 200 and "Wrong name or password" in wrong.text
    assert client.get("/api/groups").status_code == 401  # and not logged in
    login(client, "root")
    cookie = client.cookies.jar
    (session,) = [c for c in cookie if c.name == "qunzhu_session"]
    assert session.has_nonstandard_attr("HttpOnly") or "httponly" in str(session._rest).lower()
    assert client.get("/api/groups").status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf(client, "/")}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/api/groups").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    bare = client.post("/login", data={"username": "root", "password": PASSWORD})
    assert bare.status_code == 403
    login(client, "root")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403


def test_logins_are_rate_limited(client: TestClient) -> None:
    token = csrf(client)
    for _ in range(5):
        r = client.post("/login", data={"username": "ops", "password": "bad", "csrf_token": token})
        assert "Wrong name or password" in r.text
    blocked = client.post(
        "/login", data={"username": "ops", "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text


def test_a_new_password_ends_open_sessions(client: TestClient, world: World) -> None:
    login(client, "ops")
    assert client.get("/api/groups").status_code == 200
    with world.engine.begin() as conn:
        accounts.set_password(conn, "ops", "another password")
    assert client.get("/api/groups").status_code == 401


def test_an_unknown_name_is_refused_like_a_wrong_password(world: World) -> None:
    with world.engine.begin() as conn:
        assert accounts.authenticate(conn, "nobody-here", PASSWORD) is None
        assert accounts.authenticate(conn, "ops", "not the password") is None
        assert accounts.authenticate(conn, "ops", PASSWORD) is not None


def test_personal_tokens(client: TestClient, world: World) -> None:
    with world.engine.begin() as conn:
        user = accounts.authenticate(conn, "ops", PASSWORD)
        assert user is not None
        token = accounts.new_token(conn, user.id, "script")
    ok = client.get("/api/groups", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and [g["name"] for g in ok.json()["groups"]] == ["跑团一群"]
    bad = client.get("/api/groups", headers={"Authorization": "Bearer qz_nope"})
    assert bad.status_code == 401


@pytest.mark.parametrize(
    ("name", "sees"),
    [("root", {"runners", "readers", "loose"}), ("ops", {"runners"}), ("eye", {"readers"})],
)
def test_each_user_sees_only_their_communities(
    client: TestClient, world: World, name: str, sees: set[str]
) -> None:
    login(client, name)
    ids = {"runners": world.runners, "readers": world.readers, "loose": world.loose}
    listed = {g["id"] for g in client.get("/api/groups").json()["groups"]}
    assert listed == {ids[k] for k in sees}
    overview = client.get("/").text
    for key, gid in ids.items():
        allowed = key in sees
        for path in (f"/groups/{gid}", f"/api/groups/{gid}", f"/api/groups/{gid}/report"):
            status = client.get(path).status_code
            assert status == (200 if allowed else 404), (name, path, status)
        assert (f'href="/groups/{gid}"' in overview) is allowed
    assert client.get("/groups/99999").status_code == 404  # unknown looks like forbidden


def test_language_switch(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")  # what a machine without the variable has
    login(client, "root")
    assert "所有群一览" in client.get("/").text  # Chinese by default
    assert "Every group at a glance" in client.get("/?lang=en").text
    assert "Every group at a glance" in client.get("/").text  # kept in a cookie


def test_a_group_without_messages_yet_shows_on_the_overview(
    client: TestClient, world: World
) -> None:
    """`qunzhu run` stores its configured groups before their first message: an operator of
    only such groups gets the overview, not an error."""
    from qunzhu.store.ingest import place_group

    with world.engine.begin() as conn:
        place_group(conn, "telegram", "-1009", "新群", "新社群")
        accounts.add_user(conn, "new", PASSWORD, "operator", ["新社群"])
    login(client, "new")
    page = client.get("/")
    assert page.status_code == 200 and "新群" in page.text


def test_a_database_out_of_reach_gets_a_page_saying_try_again(
    client: TestClient, world: World
) -> None:
    from sqlalchemy import create_engine

    login(client, "root")
    app = client.app
    kept = app.state.engine  # type: ignore[attr-defined]
    # nothing listens on port 1: every connection is refused, as while PostgreSQL restarts
    app.state.engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")  # type: ignore[attr-defined]
    try:
        page = client.get("/?lang=zh")
        api = client.get("/api/groups?lang=en", headers={"Authorization": "Bearer nothing"})
    finally:
        app.state.engine = kept  # type: ignore[attr-defined]
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "暂时无法连接数据库，请稍后再试。" in page.text and "Traceback" not in page.text
    assert api.status_code == 503
    assert api.json() == {
        "detail": "The database cannot be reached just now; try again in a moment."
    }
    assert client.get("/").status_code == 200  # back as soon as it is
