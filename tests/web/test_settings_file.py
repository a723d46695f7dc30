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
