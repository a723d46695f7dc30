"""The scorecard counts people's answers per check, word, contact kind and group, and says
what a group's moderation should do next."""

from __future__ import annotations

from typing import Any

import pytest

from qunzhu.moderation.scorecard import (
    DOUBT_ANSWERS,
    READY_ANSWERS,
    Fired,
    Judged,
    Tally,
    fired,
    next_step,
    score,
)


def words_check(*words: str, kinds: tuple[str, ...] = ("wechat",)) -> dict[str, Any]:
    contacts = [{"kind": k, "value": f"x-{i}"} for i, k in enumerate(kinds)]
    return {
        "name": "contacts_and_words",
        "verdict": "spam",
        "score": 0.9,
        "details": {"contacts": contacts, "words": list(words)},
    }


MODEL_HAM = {"name": "content_model", "verdict": "ham", "score": 0.1, "details": {}}
FLOOD = {"name": "flood", "verdict": "spam", "score": 1.0, "details": {"per_minute": 12}}


def test_answers_count_per_check_word_contact_kind_and_group() -> None:
    card = score(
        [
            Judged(
                1,
                fired([words_check("代购", kinds=("wechat", "wechat", "url")), MODEL_HAM]),
                "spam",
            ),
            Judged(1, fired([words_check("代购", "兼职")]), "ham"),
            Judged(1, fired([words_check("兼职"), FLOOD]), "appeal_upheld"),
            Judged(2, fired([FLOOD]), "appeal_rejected"),
            Judged(2, fired([FLOOD]), "ban_only"),  # about the person: neither agrees nor overturns
            Judged(2, fired([FLOOD]), None),
        ]
    )
    assert card.checks["contacts_and_words"] == Tally(fired=3, agreed=1, overturned=2)
    assert "content_model" not in card.checks  # kept with the decision, but it said ham
    assert card.checks["flood"] == Tally(fired=4, agreed=1, overturned=1)
    assert card.words == {
        "代购": Tally(fired=2, agreed=1, overturned=1),
        "兼职": Tally(fired=2, agreed=0, overturned=2),
    }
    assert card.contacts["wechat"] == Tally(fired=3, agreed=1, overturned=2)  # once a decision
    assert card.contacts["url"] == Tally(fired=1, agreed=1, overturned=0)
    assert card.groups == {1: Tally(3, 1, 2), 2: Tally(3, 1, 0)}


def test_odd_stored_checks_are_skipped_not_fatal() -> None:
    odd = {"name": "contacts_and_words", "verdict": "spam", "details": {"words": [3, None]}}
    card = score([Judged(1, fired([odd, {"verdict": "spam"}, "flood", None]), "spam")])
    assert card.words == {} and card.checks["contacts_and_words"].agreed == 1
    assert fired("not a list") == fired(None) == fired([]) == Fired()


def test_a_rule_is_doubtful_when_overturned_often_and_often_enough() -> None:
    assert not Tally(fired=2, agreed=0, overturned=DOUBT_ANSWERS - 1).doubtful
    assert Tally(fired=3, agreed=0, overturned=DOUBT_ANSWERS).doubtful
    assert not Tally(fired=40, agreed=37, overturned=DOUBT_ANSWERS).doubtful  # 7.5%
    assert Tally().overturned_share is None


@pytest.mark.parametrize(
    ("mode", "tally", "step"),
    [
        (None, Tally(5, 5, 0), "off"),
        ("enforce", Tally(), "quiet"),
        ("shadow", Tally(9, 0, 0), "train"),
        ("training", Tally(30, READY_ANSWERS - 1, 0), "answer"),
        ("training", Tally(30, READY_ANSWERS, 1), "ready"),  # 4.8% overturned
        ("training", Tally(30, READY_ANSWERS, 2), "check_rules"),  # 9.1%
        ("enforce", Tally(50, 1, 2), "check_rules"),
        ("enforce", Tally(50, 0, 0), "fine"),
    ],
)
def test_the_next_step_of_a_group(mode: str | None, tally: Tally, step: str) -> None:
    assert next_step(mode, tally) == step
