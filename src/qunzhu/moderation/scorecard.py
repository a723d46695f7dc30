"""How each check and each ad word fares with the people who read its decisions.

An operator retires or softens the rules that people keep overturning, and moves a group from
shadow to training to enforce once people rarely disagree with what the detector would do (the
way tg-spam's users promote a rule: run it dry first). Users of other bots asked for exactly
this: which list entry fired, and how often it was wrong. Answers count as the training data
counts them: "spam" and an upheld action agree with the detector, "not spam" and an overturned
action disagree; "ban only" is about the person, not the text, and counts as neither.
"""

from __future__ import annotations

from collections import Counter
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

    def count(self, label: str | None, times: int = 1) -> None:
        self.fired += times
        if label in SPAM_LABELS:
            self.agreed += times
        elif label in HAM_LABELS:
            self.overturned += times

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
class Fired:
    """What one decision counts for: the checks that fired in it (a verdict other than ham),
    and the ad words and contact kinds its word-and-contact check found. Decisions are never
    rewritten, so this is worked out once per decision (`fired`) and may be kept."""

    checks: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()


def fired(checks: Any) -> Fired:
    """The checks as a decision keeps them (`{name, verdict, score, details}`); anything but
    a list of mappings (people's own edits, another version's shape) counts for nothing."""
    names: list[str] = []
    words: list[str] = []
    contacts: set[str] = set()
    for check in checks if isinstance(checks, list) else ():
        if not isinstance(check, Mapping) or check.get("verdict") == "ham":
            continue
        name = str(check.get("name"))
        names.append(name)
        details = check.get("details")
        if name != "contacts_and_words" or not isinstance(details, Mapping):
            continue
        words.extend(_strings(details.get("words")))
        found = details.get("contacts")
        for contact in found if isinstance(found, list) else ():
            if isinstance(contact, Mapping) and isinstance(contact.get("kind"), str):
                contacts.add(contact["kind"])
    return Fired(tuple(names), tuple(words), tuple(sorted(contacts)))


@dataclass(frozen=True, slots=True)
class Judged:
    """One stored decision as the scorecard reads it: its group, what it counts for and the
    person's label, if any."""

    group_id: int
    fired: Fired
    label: str | None
    decision_id: int = 0  # where it is stored: how the times of its deletion are found
    at: int = 0


def score(decisions: Iterable[Judged]) -> Scorecard:
    """Each check that fired, each ad word and contact kind the word-and-contact check found,
    and each group, with the answers people gave. Alike decisions are counted together: a
    month of a big community is a few hundred kinds of decision, not 100,000."""
    card = Scorecard()
    by_group: Counter[tuple[int, str | None]] = Counter()
    alike: Counter[tuple[Fired, str | None]] = Counter()
    for decision in decisions:
        by_group[decision.group_id, decision.label] += 1
        alike[decision.fired, decision.label] += 1
    for (group_id, label), times in by_group.items():
        card.groups.setdefault(group_id, Tally()).count(label, times)
    for (what, label), times in alike.items():
        for tallies, keys in (
            (card.checks, what.checks),
            (card.words, what.words),
            (card.contacts, what.contacts),
        ):
            for key in keys:
                tallies.setdefault(key, Tally()).count(label, times)
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
