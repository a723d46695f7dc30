"""The console in a real browser (Playwright driving Debian's Chromium): log in, open each page,
act on it. Screenshots are kept in $QUNZHU_ARTIFACTS (default: test-artifacts/) to be looked at."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from qunzhu.web.app import create_app
from tests.web.conftest import PASSWORD, World

ARTIFACTS = Path(os.environ.get("QUNZHU_ARTIFACTS", "test-artifacts"))


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium executable on PATH (apt-get install chromium)")
    return found


@pytest.fixture
def server(world: World) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(world.engine, "browser-secret"), host="127.0.0.1", port=port, log_level="error"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(5)


@pytest.fixture
def browser_page():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = _chromium()
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.on(
                "request",
                lambda r: (
                    errors.append(f"outside request: {r.url}")
                    if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                    else None
                ),
            )
            yield page, errors
        finally:
            browser.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_log_in_and_walk_the_console(
    server: str, browser_page, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    page, errors = browser_page
    page.goto(server + "/")
    assert page.url.startswith(server + "/login")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert page.locator(".error").is_visible()
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    assert "所有群一览" in page.content()
    rows = page.locator("table.groups tbody tr")
    assert rows.count() == 1  # ops sees 跑团 only
    shot(page, "overview")
    page.click("table.groups a")
    page.wait_for_selector("h1")
    assert "跑团一群" in page.inner_text("h1")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1")
    shot(page, "group")
    page.goto(server + "/?lang=en")
    assert "Every group at a glance" in page.content()
    assert errors == []
    page.goto(server + f"/groups/{world.readers}")
    assert "404" in page.inner_text("h1")  # another community's group does not exist for ops
