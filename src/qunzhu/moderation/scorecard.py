"""How each check and each ad word fares with the people who read its decisions.

An operator retires or softens the rules that people keep overturning, and moves a group from
shadow to training to enforce once people rarely disagree with what the detector would do (the
way tg-spam's users promote a rule: run it dry first). Users of other bots asked for exactly
this: which list entry fired, and how often it was wrong. Answers count as the training data
counts them: "spam" and an upheld action agree with the detector, "not spam" and an overturned
action disagree; "ban only" is about the person, not the text, and counts as neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qunzhu.moderation.feedback import HAM_LABELS, SPAM_LABELS

READY_ANSWERS = 20  # answers in training mode before a group may be called ready to enforce
READY_OVERTURNED = 0.05  # ... and the most of them that may have disagreed
DOUBT_ANSWERS = 3  # a rule is doubtful once people overturned it this often ...
DOUBT_OVERTURNED = 0.2  # ... and in at least this share of their answers


@dataclass
class Tally:
    """Decisions a rule (or a group) took part in, and what people said about them."""

    fired: int = 0
    agreed: int = 0
    overturned: int = 0

    def count(self, label: str | None) -> None:
        self.fired += 1
        if label in SPAM_LABELS:
            self.agreed += 1
        elif label in HAM_LABELS:
            self.overturned += 1

    @property
    def answered(self) -> int:
        return self.agreed + self.overturned

    @property
    def overturned_share(self) -> float | None:
        return self.overturned / self.answered if self.answered else None

    @property
    def doubtful(self) -> bool:
        share = self.overturned_share
        return self.overturned >= DOUBT_ANSWERS and share is not None and share >= DOUBT_OVERTURNED


@dataclass
class Scorecard:
    checks: dict[str, Tally] = field(default_factory=dict)
    words: dict[str, Tally] = field(default_factory=dict)
    contacts: dict[str, Tally] = field(default_factory=dict)  # by kind: wechat, qq, url...
    groups: dict[int, Tally] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Judged:
    """One stored decision as the scorecard reads it: its group, the checks kept with it
    (`{name, verdict, score, details}`) and the person's label, if any."""

    group_id: int
    checks: list[Any]  # as stored; anything but a mapping is skipped
    label: str | None


def score(decisions: Iterable[Judged]) -> Scorecard:
    """Each check that fired (a verdict other than ham), each ad word and contact kind the
    word-and-contact check found, and each group, with the answers people gave."""
    card = Scorecard()
    for decision in decisions:
        card.groups.setdefault(decision.group_id, Tally()).count(decision.label)
        for check in decision.checks:
            if not isinstance(check, Mapping) or check.get("verdict") == "ham":
                continue  # what people's own edits or another version left: not counted
            name = str(check.get("name"))
            card.checks.setdefault(name, Tally()).count(decision.label)
            details = check.get("details")
            if name != "contacts_and_words" or not isinstance(details, Mapping):
                continue
            for word in _strings(details.get("words")):
                card.words.setdefault(word, Tally()).count(decision.label)
            kinds = {c.get("kind") for c in details.get("contacts") or [] if isinstance(c, Mapping)}
            for kind in sorted(k for k in kinds if isinstance(k, str)):
                card.contacts.setdefault(kind, Tally()).count(decision.label)
    return card


def _strings(values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def next_step(mode: str | None, tally: Tally) -> str:
    """What a group's moderation should do next, as one of: `off` (no moderation policy),
    `quiet` (nothing to judge yet), `train` (shadow mode: let people confirm what it would do),
    `answer` (training: more answers needed), `ready` (training: people agree, enforce),
    `check_rules` (people overturn too much: see the doubtful rules first), `fine` (enforcing
    and rarely overturned)."""
    if mode is None:
        return "off"
    if not tally.fired:
        return "quiet"
    if mode == "shadow":
        return "train"
    share = tally.overturned_share
    if share is not None and share > READY_OVERTURNED and tally.answered >= DOUBT_ANSWERS:
        return "check_rules"
    if mode == "training":
        return "ready" if tally.answered >= READY_ANSWERS else "answer"
    return "fine"
