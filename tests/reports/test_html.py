"""The HTML report: self-contained, escaped, translated, and really rendering in a browser."""

from __future__ import annotations

import random
import re
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs

from qunzhu.reports.html import render_html, script_json

HOSTILE_GROUP = "跑步群 <script>alert(1)</script>"
HOSTILE_MEMBER = "Eve</script><img src=x onerror=alert(2)>"
CHARTS_PER_GROUP = 4


def _member(rng: random.Random, i: int, name: str) -> dict[str, Any]:
    return {
        "member_id": i,
        "name": name,
        "messages": rng.randint(80, 2400),
        "level": rng.choice(["engaged", "fan", "ultra"]),
        "score": round(rng.uniform(100, 900), 1),
        "influence": round(rng.uniform(0.005, 0.1), 3),
        "reach": float(rng.randint(20, 320)),
        "replies_received": rng.randint(0, 200),
        "mentions_received": rng.randint(0, 50),
    }


def _group(
    gid: int, name: str, *, days: int, roster: str, seed: int, first_member: str
) -> dict[str, Any]:
    rng = random.Random(seed)
    start = date(2026, 9, 1)
    daily = []
    for d in range(days):
        weekend = (start + timedelta(d)).weekday() >= 5
        base = 300 if weekend else 800
        daily.append(
            {
                "date": (start + timedelta(d)).isoformat(),
                "messages": base + rng.randint(-150, 250),
                "active_members": 45 + rng.randint(0, 30),
                "joins": rng.choice([0, 0, 1, 2, 3]),
                "leaves": rng.choice([0, 0, 0, 1]),
            }
        )
    hours = [
        [
            rng.randint(0, 30) + (120 if 19 <= h <= 22 else 40 if 8 <= h <= 18 else 0)
            for h in range(24)
        ]
        for _ in range(7)
    ]
    cohorts = []
    for w in range(6):
        monday = start + timedelta(days=6 + 7 * w)
        cohorts.append(
            {
                "week": monday.isoformat(),
                "size": rng.randint(5, 20),
                "active": [1.0]
                + [round(0.7 * 0.8**k + rng.uniform(-0.05, 0.05), 2) for k in range(5 - w)],
            }
        )
    names = [first_member, "Ann", "李雷", "韩梅梅", "Bob", "张伟", "王芳", "Chen", "小明", "Lily"]
    members = [_member(rng, i + 1, n) for i, n in enumerate(names)]
    speakers_only = roster == "speakers"
    return {
        "id": gid,
        "name": name,
        "platform": "telegram" if gid == 1 else "wechat",
        "kind": "long_term" if gid == 1 else "temporary",
        "kind_reason": "活跃超过 30 天，成员持续发言" if gid == 1 else "created for one event",
        "stage": "mid_late" if gid == 1 else "declining",
        "stage_reason": "成员超过 150 人，增长放缓" if gid == 1 else "messages fell 40% in 4 weeks",
        "since": start.isoformat(),
        "until": (start + timedelta(days - 1)).isoformat(),
        "members": 1312,
        "roster": roster,
        "messages": sum(d["messages"] for d in daily),
        "active_members": 201,
        "joins": 40,
        "leaves": 12,
        "kicks": 3,
        "net_growth": 25,
        "messages_per_day": 803.5,
        "dau": 61.2,
        "wau": 140.0,
        "mau": 190.0,
        "stickiness": 0.32,
        "lurker_ratio": None if speakers_only else 0.36,
        "daily": daily,
        "hours": hours,
        "retention": {
            "weekly": [{"week": c["week"], "retained": 0.61} for c in cohorts],
            "cohorts": cohorts,
        },
        "churned": 17,
        "slipping": [{"member_id": 9, "name": "Ann"}, {"member_id": 12, "name": "<b>Zed</b>"}],
        "newcomers": {"joined": 40, "never_spoke": 22, "not_welcomed": 10, "no_introduction": 25},
        "levels": {"silent": 111, "quiet": 100, "engaged": 60, "fan": 30, "ultra": 11},
        "top_members": members,
        "kol_candidates": sorted(members, key=lambda m: -m["influence"])[:5],
        "conversations": {"count": 930, "per_day": 15.5},
        "response_time": (
            {"questions": 0, "answered": 0, "median_min": None, "p90_min": None}
            if speakers_only
            else {"questions": 2100, "answered": 1900, "median_min": 3.5, "p90_min": 41.0}
        ),
        "concentration": {"absence_factor": 9, "gini": 0.71, "top10_share": 0.58},
        "broadcast_share": 0.12,
        "member_to_member_share": 0.81,
        "graph_density": 0.04,
        "health": 64 if gid == 1 else 31,
        "health_detail": [
            {"metric": "weekly_retention", "value": 0.61, "score": 4},
            {"metric": "stickiness", "value": 0.32, "score": 3},
            {"metric": "response_median_min", "value": 3.5, "score": 5},
            {"metric": "monthly_growth", "value": 0.02, "score": 3},
            {"metric": "a_new_metric", "value": 7, "score": 1},
        ],
        "advice": [
            {
                "code": f"WELCOME_NEWCOMERS_{gid}",
                "text": "欢迎新成员：10 位新人没有人回应",
                "reason": "新人 24 小时内没有收到回复",
                "rule": "PLAYBOOK §2.2",
            },
            {
                "code": f"REVIVE_{gid}",
                "text": "Start a weekly topic <now>",
                "reason": "messages fell",
                "rule": "PLAYBOOK §3.1",
            },
        ],
    }


def sample_report() -> dict[str, Any]:
    """Two groups: one with a roster, one known only from speakers and with hostile names."""
    return {
        "generated_at": "2026-11-23T10:00:00+08:00",
        "tz": "Asia/Shanghai",
        "since": "2026-09-01",
        "until": "2026-10-30",
        "groups": [
            _group(1, "跑步群", days=60, roster="events", seed=1, first_member="Ann"),
            _group(
                2, HOSTILE_GROUP, days=30, roster="speakers", seed=2, first_member=HOSTILE_MEMBER
            ),
        ],
    }


@pytest.fixture
def report() -> dict[str, Any]:
    return sample_report()


def test_self_contained_and_plotly_once(report: dict[str, Any]) -> None:
    html = render_html(report)
    bundle = get_plotlyjs()[:400]
    assert html.count(bundle) == 1
    assert html.count("Plotly.newPlot(") == 1  # one loop over every chart
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    # Outside the plotly bundle (which names URLs for features the page does not use, and the
    # page's Content-Security-Policy blocks), the page names no address at all.
    start = html.index(bundle)
    end = html.index("</script>", start)
    rest = html[:start] + html[end:]
    assert "http://" not in rest and "https://" not in rest
    assert "default-src 'none'" in rest


def test_hostile_names_are_escaped(report: dict[str, Any]) -> None:
    html = render_html(report)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "Eve&lt;/script&gt;" in html
    assert "<b>Zed</b>" not in html
    assert "Start a weekly topic &lt;now&gt;" in html
    # Every </script> in the page closes one of the page's own three script elements.
    assert html.lower().count("</script") == 3


def test_script_json_cannot_close_the_script() -> None:
    text = script_json({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text


def test_every_advice_code_appears(report: dict[str, Any]) -> None:
    html = render_html(report)
    for group in report["groups"]:
        for item in group["advice"]:
            assert item["code"] in html
            assert item["rule"] in html


def test_chinese_by_default(report: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUNZHU_LANG")
    html = render_html(report)
    assert '<html lang="zh-CN">' in html
    for label in ("健康度", "现在该做什么", "关键数字", "目录", "未知：没有成员名单", "长期群"):
        assert label in html
    assert "Health score" not in html


def test_english_on_request(report: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "en")
    html = render_html(report)
    assert '<html lang="en">' in html
    for label in ("Health score", "What to do now", "Key figures", "unknown: no roster"):
        assert label in html
    assert "1,312" in html  # thousands separators
    assert "36%" in html  # lurker ratio of the group with a roster
    assert "3.5 min" in html
    assert "Kind: long-term" in html and "Stage: mid-to-late" in html
    assert "weekly retention" in html and "+2.0%" in html  # health inputs in their own units
    assert "a_new_metric" in html  # an unknown health metric shows its code
    assert "&#34;" not in html.split("</style>")[0]  # the font stack reaches CSS unescaped


def test_single_group_has_no_table_of_contents(report: dict[str, Any]) -> None:
    report["groups"] = report["groups"][:1]
    assert 'class="toc"' not in render_html(report)


def test_empty_data_shows_a_note_instead_of_a_chart(report: dict[str, Any]) -> None:
    group = report["groups"][0]
    group.update(daily=[], hours=[], retention={"weekly": [], "cohorts": []}, levels={})
    report["groups"] = [group]
    html = render_html(report)
    assert html.count("No data in this window.") == 4
    assert '"id":"g0-' not in html


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium executable on PATH (apt-get install chromium)")
    return found


def test_renders_in_a_real_browser(report: dict[str, Any], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = _chromium()
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(report), encoding="utf-8")
    expected = CHARTS_PER_GROUP * len(report["groups"])
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
            )
            page.on(
                "request",
                lambda req: (
                    errors.append(f"request: {req.url}")
                    if not req.url.startswith(("file:", "data:", "blob:"))
                    else None
                ),
            )
            page.goto(page_file.as_uri())
            page.wait_for_function(
                "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
                arg=expected,
                timeout=30_000,
            )
            rendered = page.eval_on_selector_all(
                ".js-plotly-plot",
                "els => els.filter(e => e.querySelector('.trace, .hm image')).length",
            )
            assert rendered == expected
            assert page.locator(".chart").count() == expected
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
