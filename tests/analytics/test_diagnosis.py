"""Each playbook rule fires on its own trigger, and only there; health scores by the cut-points."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from qunzhu.analytics import diagnosis
from qunzhu.analytics.diagnosis import Figures


def calm(**changes: Any) -> Figures:
    """A mid-sized long-term group that no rule flags."""
    base = Figures(
        name="跑步俱乐部",
        kind_setting="unknown",
        span_days=90,
        members=200,
        roster_known=True,
        active=80,
        active_recent=70,
        messages_recent=900,
        messages_before=1000,
        peak_daily=120,
        peak_day="2026-09-03",
        newcomers={"joined": 10, "never_spoke": 2, "not_welcomed": 1, "no_introduction": 2},
        ads=0,
        ad_senders=0,
        lurker_ratio=0.6,
        absence_factor=12,
        speakers=80,
        slipping_names=[],
        kol_names=["甲", "乙", "丙", "丁"],
        broadcast=0.2,
        peer=0.6,
        health_inputs={},
    )
    return replace(base, **changes)


def codes(f: Figures, kind: str = "long_term") -> set[str]:
    return {a["code"] for a in diagnosis.advice(f, kind)}


def test_a_calm_group_gets_no_advice() -> None:
    assert codes(calm()) == set()


@pytest.mark.parametrize(
    ("changes", "kind", "code"),
    [
        ({"members": 49}, "long_term", "SEED_FIRST"),
        ({"peak_daily": 5001}, "long_term", "APPOINT_VICE_OWNERS"),
        (
            {
                "newcomers": {
                    "joined": 10,
                    "never_spoke": 2,
                    "not_welcomed": 4,
                    "no_introduction": 2,
                }
            },
            "long_term",
            "WELCOME_NEWCOMERS",
        ),
        (
            {
                "newcomers": {
                    "joined": 10,
                    "never_spoke": 6,
                    "not_welcomed": 1,
                    "no_introduction": 6,
                }
            },
            "long_term",
            "ASK_INTRODUCTIONS",
        ),
        ({"ads": 3, "ad_senders": 2}, "long_term", "REMOVE_ADS"),
        ({"lurker_ratio": 0.85}, "long_term", "WAKE_LURKERS"),
        ({"absence_factor": 4}, "long_term", "FEW_CARRY_GROUP"),
        ({"active_recent": 151}, "long_term", "SPLIT_GROUP"),
        ({"span_days": 8}, "temporary", "TEMPORARY_PAST_LIFE"),
        ({"slipping_names": ["老王"]}, "long_term", "SLIPPING_KOLS"),
        ({"broadcast": 0.7, "peer": 0.1}, "long_term", "NOT_A_COMMUNITY"),
    ],
)
def test_each_rule_fires_alone(changes: dict[str, Any], kind: str, code: str) -> None:
    assert codes(calm(**changes), kind) == {code}


def test_rules_stay_quiet_just_below_their_thresholds() -> None:
    near = calm(
        members=50,
        peak_daily=5000,
        lurker_ratio=0.8,
        absence_factor=5,  # 5% of 80 speakers is 4
        active_recent=150,
        newcomers={"joined": 10, "never_spoke": 5, "not_welcomed": 3, "no_introduction": 5},
    )
    assert codes(near) == set()
    assert codes(calm(span_days=7), "temporary") == set()


def test_unknown_roster_never_calls_members_lurkers() -> None:
    assert codes(calm(lurker_ratio=0.95, roster_known=False)) == set()


def test_vice_owner_advice_names_candidates() -> None:
    (item,) = diagnosis.advice(calm(peak_daily=6200, peak_day="2026-10-01"), "long_term")
    assert "甲, 乙, 丙" in item["text"] and "丁" not in item["text"]
    assert "6200" in item["reason"] and "2026-10-01" in item["reason"]
    assert item["rule"] == "PLAYBOOK §2.2"


def test_advice_is_chinese_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNZHU_LANG", "zh")
    (item,) = diagnosis.advice(calm(members=12), "long_term")
    assert "种子成员" in item["text"] and "12" in item["reason"]


@pytest.mark.parametrize(
    ("changes", "stage"),
    [
        ({"members": 30}, "founding"),
        ({"members": 120}, "early"),
        ({"members": 350}, "mid_late"),
        ({"members": 501}, "over_capacity"),
        ({"members": 350, "messages_recent": 400, "messages_before": 1000}, "declining"),
        ({"members": 350, "messages_recent": 40, "messages_before": 90}, "mid_late"),  # too few
        ({"members": 350, "messages_recent": 0, "messages_before": None}, "mid_late"),  # unknown
    ],
)
def test_stage(changes: dict[str, Any], stage: str) -> None:
    assert diagnosis.stage(calm(**changes))[0] == stage


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"kind_setting": "temporary"}, "temporary"),
        ({"name": "双十一福利群"}, "temporary"),
        ({"span_days": 10}, "temporary"),
        ({}, "long_term"),
    ],
)
def test_kind(changes: dict[str, Any], kind: str) -> None:
    assert diagnosis.kind(calm(**changes))[0] == kind


def test_health_by_hand() -> None:
    f = calm(
        members=80,  # a small group: activity cut-points unscaled
        health_inputs={
            "monthly_active_share": 0.25,  # >= .05 .10 .20: 3
            "weekly_retention": 0.7,  # all five: 5
            "response_median_min": 20,  # <= 240 60 30: 3
            "stickiness": None,  # unknown: left out, not scored 0
        },
    )
    score, detail = diagnosis.health(f)
    assert [(d["metric"], d["score"]) for d in detail] == [
        ("monthly_active_share", 3),
        ("weekly_retention", 5),
        ("response_median_min", 3),
    ]
    assert score == round(100 * 11 / 15)


def test_health_scales_activity_for_large_groups() -> None:
    inputs = {"monthly_active_share": 0.16}
    small = diagnosis.health(calm(members=80, health_inputs=inputs))[0]
    large = diagnosis.health(calm(members=400, health_inputs=inputs))[0]
    # cut-points x0.5 above 300 members: .16 reaches .025 .05 .10 .15 (4 of 5), not 2 of 5
    assert (small, large) == (40, 80)


def test_temporary_groups_are_not_scored_on_retention() -> None:
    f = calm(health_inputs={"weekly_retention": 0.05, "stickiness": 0.4})
    assert diagnosis.health(f, "long_term")[0] == 50  # 0 of 5 and 5 of 5
    assert diagnosis.health(f, "temporary") == (
        100,
        [{"metric": "stickiness", "value": 0.4, "score": 5}],
    )
