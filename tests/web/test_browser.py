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


def review_decision(world: World) -> None:
    """A newcomer's link in 跑团一群, judged in training mode: it waits for a person."""
    from datetime import UTC, datetime, timedelta

    from qunzhu.engine.policies import ModerationPolicy
    from qunzhu.engine.runtime import GroupSetup, Runtime, Setups
    from qunzhu.model import Group, Message, MessageKind, Person, Platform
    from qunzhu.model.live import LiveEvent
    from qunzhu.moderation.enforcement import Ladder, Mode
    from qunzhu.moderation.engine import Detector

    group = Group(Platform.TELEGRAM, "-1001", "跑团一群")
    setup = GroupSetup([ModerationPolicy(Detector(), Ladder(Mode.TRAINING))])
    rt = Runtime(world.engine, Setups({("tg", "-1001"): setup}))
    at = datetime(2026, 11, 20, 12, tzinfo=UTC)
    text = "代购名牌包包，加微信 abc12345 详聊"
    rt.accept(
        LiveEvent("tg", group, Message("ad1", Person("u9", "小美"), at, MessageKind.TEXT, text))
    )
    rt.accept(
        LiveEvent(
            "tg",
            group,
            Message(
                "ad2",
                Person("u8", "路人"),
                at + timedelta(minutes=1),
                MessageKind.TEXT,
                "看看这个 https://example.com/x",
            ),
            kinds=frozenset({"link"}),
        )
    )
    rt.process()


def test_each_page_and_acting_on_it(
    server: str, browser_page, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    review_decision(world)
    page, errors = browser_page
    page.goto(server + "/login")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")

    page.goto(server + "/members")
    assert page.locator("table tbody tr").count() >= 3
    shot(page, "members")
    page.locator("table tbody tr a").first.click()
    page.wait_for_load_state()
    shot(page, "member")
    blocking = page.locator("section.blocklist form[action='/moderation/blocklist']").first
    blocking.locator("input[name=reason]").fill("在别的群发广告")
    blocking.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "在别的群发广告" in page.inner_text("section.blocklist")
    page.goto(server + "/moderation/blocklist")
    assert page.locator("table.blocklist tbody tr").count() == 1
    shot(page, "blocklist")
    page.locator("table.blocklist button[type=submit]").click()
    page.wait_for_url(server + "/moderation/blocklist")
    assert page.locator("table.blocklist").count() == 0 and "黑名单上还没有人" in page.inner_text(
        "main"
    )

    page.goto(server + "/moderation")
    forms = page.locator("form[action^='/moderation/']")
    waiting = forms.count()
    assert waiting >= 1
    shot(page, "moderation")
    forms.first.locator("button[value=spam]").click()
    page.wait_for_load_state()
    assert page.locator("form[action^='/moderation/']").count() == waiting - 1
    page.goto(server + "/moderation/audit")
    assert "ops" in page.inner_text("main")
    shot(page, "moderation-audit")
    page.goto(server + "/moderation")
    page.click("a[href='/moderation/checks']")
    page.wait_for_url(server + "/moderation/checks")
    row = page.locator(f"tr[data-group='{world.runners}']")
    assert row.locator("td").nth(3).inner_text() == "1"  # the one answer just given
    assert "联系方式与广告词" in page.inner_text("main")
    shot(page, "moderation-checks")

    page.goto(server + f"/settings/groups/{world.runners}")
    page.fill("[name='welcome.rules']", "不发广告，友善交流")
    page.locator("form.settings-form button[type=submit]").click()
    page.wait_for_url("**saved=1")
    assert page.input_value("[name='welcome.rules']") == "不发广告，友善交流"
    shot(page, "settings")
    page.fill("[name='welcome.rules']", "长" * 101)
    page.locator("form.settings-form button[type=submit]").click()
    page.wait_for_load_state()
    assert "100" in page.inner_text("main")  # the one line saying what is wrong, and where
    shot(page, "settings-error")

    page.goto(server + "/import")
    assert page.locator("input[type=file]").count() == 1
    shot(page, "import")
    # the 400 of the refused settings form is the only error the browser saw
    assert [e for e in errors if "400" not in e] == []
