"""The settings page starts from qunzhu.toml's policies when the console runs with the file."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qunzhu import config
from qunzhu.web.app import create_app
from tests.web.conftest import World, login


def test_the_form_shows_the_files_policies_until_the_console_changes_them(world: World) -> None:
    cfg = config.parse(
        {
            "connectors": {"tg": {"type": "telegram"}},
            "groups": [
                {
                    "name": "跑团一群",
                    "connector": "tg",
                    "id": "-1001",
                    "policies": {"welcome": {"rules": "文件里的群规"}},
                }
            ],
        }
    )
    with_file = login(TestClient(create_app(world.engine, "k", config=cfg)), "ops")
    assert "文件里的群规" in with_file.get(f"/settings/groups/{world.runners}").text
    without = login(TestClient(create_app(world.engine, "k")), "ops")
    assert "文件里的群规" not in without.get(f"/settings/groups/{world.runners}").text


def test_a_group_a_connector_adopted_shows_its_communitys_policies(world: World) -> None:
    cfg = config.parse(
        {
            "connectors": {"tg": {"type": "telegram", "community": "跑团"}},
            "communities": [{"name": "跑团", "policies": {"welcome": {"rules": "社群的群规"}}}],
        }
    )
    client = login(TestClient(create_app(world.engine, "k", config=cfg)), "ops")
    assert "社群的群规" in client.get(f"/settings/groups/{world.runners}").text  # in 跑团
    other = config.parse(
        {**cfg.model_dump(mode="json"), "connectors": {"tg": {"type": "telegram"}}}
    )
    plain = login(TestClient(create_app(world.engine, "k", config=other)), "ops")
    assert "社群的群规" not in plain.get(f"/settings/groups/{world.runners}").text


def test_policies_through_the_api(world: World) -> None:
    from qunzhu.store import accounts
    from tests.web.conftest import PASSWORD

    client = TestClient(create_app(world.engine, "k"))
    with world.engine.begin() as conn:
        ops = accounts.authenticate(conn, "ops", PASSWORD)
        eye = accounts.authenticate(conn, "eye", PASSWORD)
        assert ops and eye
        as_ops = {"Authorization": f"Bearer {accounts.new_token(conn, ops.id)}"}
        as_eye = {"Authorization": f"Bearer {accounts.new_token(conn, eye.id)}"}
    path = f"/api/groups/{world.runners}/policies"
    got = client.get(path, headers=as_ops)
    assert got.status_code == 200 and got.json()["changed_by"] is None
    body = {"welcome": {"rules": "不发广告"}, "moderation": {"mode": "enforce"}}
    put = client.put(path, json=body, headers=as_ops)
    assert put.status_code == 200, put.text
    assert put.json()["policies"]["welcome"]["rules"] == "不发广告"
    assert put.json()["changed_by"] == "ops"
    too_long = client.put(path, json={"welcome": {"rules": "长" * 101}}, headers=as_ops)
    assert too_long.status_code == 422
    assert client.get(path, headers=as_ops).json()["policies"]["welcome"]["rules"] == "不发广告"
    assert client.put(path, json=body, headers=as_eye).status_code == 403  # a viewer
    other = f"/api/groups/{world.readers}/policies"
    assert client.get(other, headers=as_ops).status_code == 404
    assert client.put(other, json=body, headers=as_ops).status_code == 404
    by_cookie = login(TestClient(create_app(world.engine, "k")), "ops")
    assert by_cookie.put(path, json=body).status_code == 403  # no X-CSRF-Token


def test_thresholds_in_the_settings_form(world: World) -> None:
    from tests.web.conftest import csrf

    client = login(TestClient(create_app(world.engine, "k")), "ops")
    path = f"/settings/groups/{world.runners}"
    page = client.get(path).text
    assert 'name="moderation.spam_from"' in page
    form = {
        "csrf_token": csrf(client, path),
        "moderation.enabled": "on",
        "moderation.mode": "enforce",
    }
    form |= {
        "moderation.probation_h": "24",
        "moderation.reports": "2",
        "moderation.review_from": "0.3",
    }
    form |= {"welcome.batch_s": "30", "nickname.grace_h": "24", "auto_reply.cooldown_s": "300"}
    saved = client.post(path, data={**form, "moderation.spam_from": "0.45"})
    assert saved.status_code == 200 and saved.url.query == b"saved=1"
    assert 'value="0.45"' in client.get(path).text
    wrong = client.post(
        path, data={**form, "moderation.review_from": "0.9", "moderation.spam_from": "0.5"}
    )
    assert wrong.status_code == 400 and "review_from must be below spam_from" in wrong.text
