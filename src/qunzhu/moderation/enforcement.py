"""From a decision to an action: the per-group ladder and the mode.

A group starts in `shadow` (decide and log, touch nothing) so the operator can see what would
happen; `training` asks an admin about every message the detector would act on; `enforce` acts.
Strikes climb a ladder (delete and warn, mutes that grow, kick, ban) and fall back off it when a
member stays clean, so one slip months ago does not make the next one a ban. The ladder keeps no
strikes itself: the caller hands over the member's earlier ones and keeps the new one (the live
policy keeps them in the store), so neither a restart nor a settings change forgives anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from qunzhu.moderation.verdicts import REVIEW, SPAM, Decision

STRIKE_MEMORY_S = 7 * 86400  # a strike older than this no longer counts
MUTES_S = (600, 3600, 86400)  # the mutes on the way up: 10 minutes, an hour, a day
RUNGS = len(MUTES_S) + 3  # strikes that reach the top (ban): the newest RUNGS tell the rung


class Mode(StrEnum):
    SHADOW = "shadow"
    TRAINING = "training"
    ENFORCE = "enforce"


class Step(StrEnum):
    NONE = "none"
    ASK_ADMIN = "ask_admin"  # hold the message for an admin's word
    ASK_MODEL = "ask_model"  # hold the decision for a language model's reading (the policy's)
    SPARED = "spared"  # the language model read a question as normal; a person may differ
    DELETE_WARN = "delete_warn"
    MUTE = "mute"
    KICK = "kick"
    BAN = "ban"


@dataclass(frozen=True, slots=True)
class Action:
    step: Step
    mute_s: int = 0
    would: Step | None = None  # in shadow and training: what `enforce` would have done
    strikes: int = 0
    struck: bool = False  # a strike to remember: the next spam verdict climbs from it


@dataclass(frozen=True)
class Ladder:
    """The step a verdict leads to in this mode, from the member's strikes of the last
    STRIKE_MEMORY_S. Only an enforced spam verdict is a strike (`Action.struck`)."""

    mode: Mode = Mode.SHADOW

    def act(self, decision: Decision, at: float, earlier: Sequence[float] = ()) -> Action:
        if decision.verdict == REVIEW:
            return Action(Step.ASK_ADMIN if self.mode is not Mode.SHADOW else Step.NONE)
        if decision.verdict != SPAM:
            return Action(Step.NONE)
        strikes = len([t for t in earlier if t > at - STRIKE_MEMORY_S]) + 1
        step, mute = _rung(strikes)
        if decision.action:  # the policy named the step: a banned word bans at once
            step = Step.ASK_ADMIN if decision.action == "review" else Step(decision.action)
            mute = MUTES_S[min(strikes, len(MUTES_S)) - 1] if step is Step.MUTE else 0
        if self.mode is Mode.ENFORCE:
            return Action(step, mute, strikes=strikes, struck=True)
        shown = Step.ASK_ADMIN if self.mode is Mode.TRAINING else Step.NONE
        return Action(shown, would=step, strikes=strikes)

    def doubt(self) -> Action:
        """A newcomer a person should look at before anything is done (an ad for a name,
        which a real member's 城市-行业-姓名-电话 can resemble): asked about in training and
        enforce alike, recorded in shadow; a person's "spam" removes them."""
        return Action(Step.NONE if self.mode is Mode.SHADOW else Step.ASK_ADMIN, would=Step.KICK)

    def keep_out(self) -> Action:
        """A member the community blocked, seen here: removed (not banned, so that taking
        them off the list is all it takes to let them back), or what the mode allows. No
        strike: the ban that blocked them was the strike."""
        if self.mode is Mode.ENFORCE:
            return Action(Step.KICK)
        shown = Step.ASK_ADMIN if self.mode is Mode.TRAINING else Step.NONE
        return Action(shown, would=Step.KICK)


def _rung(strikes: int) -> tuple[Step, int]:
    if strikes == 1:
        return Step.DELETE_WARN, 0
    if strikes - 2 < len(MUTES_S):
        return Step.MUTE, MUTES_S[strikes - 2]
    if strikes - 2 == len(MUTES_S):
        return Step.KICK, 0
    return Step.BAN, 0
