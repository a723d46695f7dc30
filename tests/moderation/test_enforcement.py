"""The ladder, the modes, and what admins teach back."""

from __future__ import annotations

from pathlib import Path

from qunzhu.moderation.enforcement import (
    STRIKE_MEMORY_S,
    Ladder,
    Mode,
    Step,
    Verdict,
    record_feedback,
)
from qunzhu.moderation.evaluate import read_tsv
from qunzhu.moderation.verdicts import HAM, REVIEW, SPAM, Decision

T0 = 1_790_000_000.0


def decided(verdict: str) -> Decision:
    return Decision(verdict, 1.0 if verdict == SPAM else 0.0, (), "")


def test_the_ladder_climbs() -> None:
    ladder = Ladder(Mode.ENFORCE)
    steps = [ladder.act(decided(SPAM), "g", "m", T0 + i) for i in range(6)]
    assert [(a.step, a.mute_s) for a in steps] == [
        (Step.DELETE_WARN, 0),
        (Step.MUTE, 600),
        (Step.MUTE, 3600),
        (Step.MUTE, 86400),
        (Step.KICK, 0),
        (Step.BAN, 0),
    ]
    assert ladder.act(decided(SPAM), "other-group", "m", T0).step is Step.DELETE_WARN


def test_strikes_are_forgotten_and_pardoned() -> None:
    ladder = Ladder(Mode.ENFORCE)
    ladder.act(decided(SPAM), "g", "m", T0)
    ladder.act(decided(SPAM), "g", "m", T0 + 1)
    later = ladder.act(decided(SPAM), "g", "m", T0 + STRIKE_MEMORY_S + 10)
    assert later.step is Step.DELETE_WARN and later.strikes == 1
    ladder.pardon("g", "m")
    assert ladder.act(decided(SPAM), "g", "m", T0 + STRIKE_MEMORY_S + 20).strikes == 1


def test_modes() -> None:
    shadow = Ladder(Mode.SHADOW).act(decided(SPAM), "g", "m", T0)
    assert (shadow.step, shadow.would) == (Step.NONE, Step.DELETE_WARN)
    training = Ladder(Mode.TRAINING)
    first = training.act(decided(SPAM), "g", "m", T0)
    second = training.act(decided(SPAM), "g", "m", T0 + 1)
    assert (first.step, first.would) == (Step.ASK_ADMIN, Step.DELETE_WARN)
    assert second.would is Step.DELETE_WARN  # nothing was enforced, so no strike stuck
    assert Ladder(Mode.ENFORCE).act(decided(REVIEW), "g", "m", T0).step is Step.ASK_ADMIN
    assert Ladder(Mode.SHADOW).act(decided(REVIEW), "g", "m", T0).step is Step.NONE
    assert Ladder(Mode.ENFORCE).act(decided(HAM), "g", "m", T0).step is Step.NONE


def test_feedback_trains_only_on_spam_or_not_spam(tmp_path: Path) -> None:
    path = tmp_path / "community" / "labels.tsv"
    assert record_feedback(path, "加微信\tabc12345\n代购", Verdict.SPAM)
    assert record_feedback(path, "今天的活动很好", Verdict.NOT_SPAM)
    assert not record_feedback(path, "我就是看他不顺眼", Verdict.BAN)
    texts, labels = read_tsv(path)
    assert labels == [1, 0] and texts[0] == "加微信 abc12345 代购"
