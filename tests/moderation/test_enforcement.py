"""The ladder and the modes."""

from __future__ import annotations

from qunzhu.moderation.enforcement import (
    RUNGS,
    STRIKE_MEMORY_S,
    Action,
    Ladder,
    Mode,
    Step,
)
from qunzhu.moderation.verdicts import HAM, REVIEW, SPAM, Decision

T0 = 1_790_000_000.0


def decided(verdict: str) -> Decision:
    return Decision(verdict, 1.0 if verdict == SPAM else 0.0, (), "")


def climb(ladder: Ladder, times: list[float]) -> list[Action]:
    """What the ladder says at each time, keeping the strikes it asks to keep, as the policy
    does."""
    kept: list[float] = []
    actions = []
    for at in times:
        action = ladder.act(decided(SPAM), at, kept)
        if action.struck:
            kept.append(at)
        actions.append(action)
    return actions


def test_the_ladder_climbs() -> None:
    steps = climb(Ladder(Mode.ENFORCE), [T0 + i for i in range(7)])
    assert [(a.step, a.mute_s) for a in steps] == [
        (Step.DELETE_WARN, 0),
        (Step.MUTE, 600),
        (Step.MUTE, 3600),
        (Step.MUTE, 86400),
        (Step.KICK, 0),
        (Step.BAN, 0),
        (Step.BAN, 0),
    ]
    # the policy keeps the newest RUNGS strikes: the top is reached with exactly that many
    assert steps[RUNGS - 1].step is Step.BAN and steps[RUNGS - 2].step is not Step.BAN


def test_strikes_are_forgotten() -> None:
    *_, later = climb(Ladder(Mode.ENFORCE), [T0, T0 + 1, T0 + STRIKE_MEMORY_S + 10])
    assert later.step is Step.DELETE_WARN and later.strikes == 1
    again = Ladder(Mode.ENFORCE).act(decided(SPAM), T0 + 2, [T0, T0 + 1])
    assert again.step is Step.MUTE and again.strikes == 3


def test_modes() -> None:
    shadow = Ladder(Mode.SHADOW).act(decided(SPAM), T0)
    assert (shadow.step, shadow.would, shadow.struck) == (Step.NONE, Step.DELETE_WARN, False)
    first, second = climb(Ladder(Mode.TRAINING), [T0, T0 + 1])
    assert (first.step, first.would) == (Step.ASK_ADMIN, Step.DELETE_WARN)
    assert second.would is Step.DELETE_WARN  # nothing was enforced, so no strike stuck
    assert Ladder(Mode.ENFORCE).act(decided(REVIEW), T0).step is Step.ASK_ADMIN
    assert Ladder(Mode.SHADOW).act(decided(REVIEW), T0).step is Step.NONE
    assert Ladder(Mode.ENFORCE).act(decided(HAM), T0).struck is False
