"""The group policies: each looks at one event and says what to do, and why.

A policy returns `Outcome`s: a verdict with its reasons (kept in the decisions table and shown to
admins) and the actions to queue. Policies do no I/O of their own; what one must remember across
restarts ("this member was reminded once") it asks of `Marks`, which the runtime backs with the
store. The same policies run live and in replay, where nothing is sent.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from qunzhu import i18n, patterns
from qunzhu.i18n import tr
from qunzhu.model import MembershipAction, MembershipEvent, Message, Person
from qunzhu.model.live import (
    ActionKind,
    Edit,
    JoinRequest,
    LiveEvent,
    Notice,
    Opinion,
    PictureText,
    Reaction,
)
from qunzhu.moderation import opinion
from qunzhu.moderation.behaviour import (
    Behaviour,
    Context,
    TrustBook,
    earlier_copies,
    stickers_only,
)
from qunzhu.moderation.enforcement import RUNGS, Action, Ladder, Mode, Step
from qunzhu.moderation.engine import Detector
from qunzhu.moderation.images import poster_sized
from qunzhu.moderation.labels import check_names
from qunzhu.moderation.verdicts import HAM, REVIEW, SEVERITY, SPAM, Check, Decision

log = logging.getLogger(__name__)

STAFF = frozenset({"owner", "admin"})
_KEPT_OUT_NOTES = {  # what the admins read of a member a list keeps out, by list
    "blocklist": "{member} is on the community's blocklist: {why}",
    "cas": "{member} is listed as a spam account by CAS (cas.chat): {why}",
}
PICTURE_TEXT_KEPT = 500  # characters of a picture's text kept with a decision about it
TRUSTED_ROLE = "approved"  # TrustBook trusts it; the console marks members "trusted:<id>"
PROFILE_LOOK_S = 86_400  # a member who reacts is looked at once a day, however often
# the roles (as `ModerationPolicy._role` gives them) moderation does not check: staff, members
# a person trusted, members who earned it
UNCHECKED_ROLES = frozenset({*TrustBook.STAFF, TRUSTED_ROLE, TrustBook.EARNED})
# Marks ("<kind>:<member id>") of members the detector does not look at: staff as the platform
# named them, a person's "not spam" in the console, trust earned with clean messages.
UNCHECKED = ("staff", "trusted", "earned")


@dataclass(slots=True)
class Draft:
    """An action before it has an outbox id. `delay_s` holds it back (a welcome waits for the
    others joining at the same moment); `batch` names drafts that merge while they wait."""

    kind: ActionKind
    member_id: str | None = None
    message_id: str | None = None
    text: str = ""
    seconds: int = 0
    request_id: str | None = None
    reason: str = ""
    delay_s: float = 0.0
    batch: str | None = None
    names: tuple[str, ...] = ()
    expire_s: int = 0  # undone this long after: a message sent taken down, a lock lifted


@dataclass(slots=True)
class Outcome:
    policy: str
    verdict: str
    reasons: dict[str, Any] = field(default_factory=dict)
    actions: list[Draft] = field(default_factory=list)
    block: str | None = None  # why to put the member on the community's blocklist
    # (member id, message id) the decision is about, when not the event's own: a report is
    # about the message reported, and the console's answers act on it and its author
    about: tuple[str, str] | None = None
    cancel: str | None = None  # a held-back batch of actions (Draft.batch) this calls off
    final: bool = False  # the event is dealt with: the group's later policies do not see it
    # the member's earlier copies (group's platform id, message id, member) of the campaign
    # this decision calls spam: each group's moderation takes its copy down (`known_copy`)
    copies: tuple[tuple[str, str, str], ...] = ()
    # a held decision's question for the language model (`engine/opinions.py` asks it)
    ask: Opinion | None = None


KNOWN_PICTURE_COPY = Check("same_picture", SPAM, 0.95, {"known_ad": True, "earlier_copy": True})
EARLIER_COPY = Check("earlier_copy", SPAM, 0.9)  # a copy of a campaign since called spam
# a copy of a text people have just said is an ad, posted before they said it
CONFIRMED_COPY = Check("spam_bank", SPAM, 0.95, {"known_ad": True, "earlier_copy": True})


class Marks(Protocol):
    """Small facts a policy keeps per group: has `key` been marked, and since when."""

    def get(self, policy: str, key: str) -> float | None: ...

    def many(self, policy: str, keys: Sequence[str]) -> dict[str, float]:
        """`get` of several keys at once (one round trip to a database server): the ones
        marked, with their times."""
        ...

    def put(self, policy: str, key: str, at: float) -> None: ...

    def since(self, policy: str, prefix: str, at: float) -> list[tuple[str, float]]:
        """The marks whose key starts with `prefix`, marked at `at` or later."""
        ...


class Policy(Protocol):
    name: str

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]: ...


def decide_all(
    policies: Sequence[Policy], event: LiveEvent, marks: Marks
) -> Iterator[tuple[Policy, Outcome]]:
    """Each policy's outcomes in order, up to one that deals with the event alone (a captcha
    taking down a newcomer's message leaves nothing for moderation to judge)."""
    for policy in policies:
        outcomes = policy.decide(event, marks)
        for outcome in outcomes:
            yield policy, outcome
        if any(o.final for o in outcomes):
            return


def _at(moment: datetime) -> float:
    return moment.timestamp()


def _hex(prints: tuple[int, ...]) -> list[str]:
    """Fingerprints as a decision's reasons keep them (JSON has no 64-bit integers to spare)."""
    return [f"{p:016x}" for p in prints]


# -- moderation ---------------------------------------------------------------------------

_STEP_ACTIONS: dict[Step, tuple[ActionKind, ...]] = {
    Step.ASK_ADMIN: (ActionKind.NOTIFY_OWNER,),
    Step.DELETE_WARN: (ActionKind.DELETE, ActionKind.WARN),
    Step.MUTE: (ActionKind.DELETE, ActionKind.MUTE),
    Step.KICK: (ActionKind.DELETE, ActionKind.KICK),
    Step.BAN: (ActionKind.DELETE, ActionKind.BAN),
}


_FIRST_RUNG = {
    Mode.ENFORCE: Step.DELETE_WARN,
    Mode.TRAINING: Step.ASK_ADMIN,
    Mode.SHADOW: Step.NONE,
}


# the member's warnings, in the words `tr` looks up: what was wrong, and what to do if it was not
_MISTAKE = "If we got it wrong, write to an admin or to this bot in private."
NO_ADS = f"Please do not post ads here. {_MISTAKE}"
CIVIL = f"Please keep it civil: no insults or obscenities here. {_MISTAKE}"


@dataclass
class ModerationPolicy:
    """The detector and the ladder of the moderation issue, per group. What must outlive a
    restart or a settings change is kept in `marks`: when each member joined (probation and
    drive-by ads: yesterday's newcomers may still not post links), who earned trust (five clean
    messages over a day are not asked again), who is staff (the platform says so on each
    message; `service.recall_behaviour` leaves their messages out, as the detector does) and
    each member's recent strikes (a restart does not take a spammer back to the ladder's first
    rung). With `blocklist`, a ban here puts the member on the community's blocklist and a
    member on it is kept out of this group (`Ladder.keep_out`), unless staff or trusted here
    by a person's word."""

    detector: Detector
    ladder: Ladder
    warning: str = ""  # empty: the default, in the interface language
    blocklist: bool = True
    reports_needed: int = 2  # trusted members whose reports send a message to the admins; 0: off
    read_pictures: bool = True  # read the text in the pictures of members it checks
    # ask a language model about its questions ("questions"), and about the removals its
    # content model alone decided ("veto"), before acting; "off": never
    second_opinion: str = "off"
    name: str = "moderation"

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        record = event.record
        key = (event.group.platform_id, _member_id(record))
        if isinstance(record, MembershipEvent):
            if record.action is MembershipAction.RENAME:
                return self._named(event, marks, key[1], record.new_name)
            if record.action is not MembershipAction.JOIN:
                return []
            marks.put(self.name, f"joined:{key[1]}", _at(record.at))
            if event.role in TrustBook.STAFF:  # the store does not keep live roles
                marks.put(self.name, f"staff:{key[1]}", _at(record.at))
            if self._kept_out(event, event.role, marks, key[1]):
                return [self._keep_out(key[1], record.member.name, None, event.kept_out())]
            return self._named(event, marks, key[1], record.member.name)
        if isinstance(record, PictureText):
            return self._picture_text(event, record, marks, key[1])
        if isinstance(record, Edit):
            return self._edited(event, record, marks, key[1])
        if isinstance(record, Reaction):
            return self._reacted(event, record, marks, key[1])
        if isinstance(record, Opinion):
            return self._opinion(event, record, marks, key[1])
        if not isinstance(record, Message):
            return []
        at = _at(record.sent_at)
        role, joined_at = self._role(event, marks, key[1])
        if role in TrustBook.STAFF and marks.get(self.name, f"staff:{key[1]}") is None:
            marks.put(self.name, f"staff:{key[1]}", at)  # the store does not keep live roles
        if self._kept_out(event, role, marks, key[1]):
            kept_out = event.kept_out()
            return [self._keep_out(key[1], record.sender.name, record.platform_id, kept_out)]
        if event.replied is not None and is_report(record.text):
            found = self._report(event.replied, marks, role, key[1], at, record.platform_id)
            for outcome in found:  # a person's answer teaches the pictures and channel too
                if event.replied_pictures and outcome.verdict == REVIEW:
                    outcome.reasons["pictures"] = _hex(event.replied_pictures)
                if event.replied.origin and outcome.verdict == REVIEW:
                    outcome.reasons["origin"] = event.replied.origin
            return found
        ctx = _context(event, record, key[1], at, role, joined_at)
        decision = self.detector.check(event.said(), ctx)
        if role not in UNCHECKED_ROLES and not _trusted(decision):
            decision = self.detector.named(decision, record.sender.name, event.bio)
        if role != TrustBook.EARNED and _trusted(decision) == "earned":
            marks.put(self.name, f"earned:{key[1]}", at)
            if self.detector.trust is not None:  # the mark decides from now on
                self.detector.trust.forget(ctx.group, ctx.member)
        # the pictures' fingerprints and the channel it was forwarded from: what a person's
        # "spam" makes a known ad picture and a known ad channel
        shown: dict[str, Any] = {"pictures": _hex(event.pictures)} if event.pictures else {}
        if record.origin:
            shown["origin"] = record.origin
        newcomer = self.detector.policy.on_probation(ctx)
        if held := self._hold(decision, record.sender, record.sent_at, shown, newcomer, event):
            return [held]
        outcomes = self._act(decision, marks, key[1], record.platform_id, at, shown)
        if decision.verdict == SPAM and (earlier := earlier_copies(decision.checks)):
            for outcome in outcomes:
                outcome.copies = tuple((group, message, key[1]) for group, message in earlier)
        return outcomes

    def _act(
        self,
        decision: Decision,
        marks: Marks,
        member: str,
        message: str,
        at: float,
        shown: dict[str, Any],
    ) -> list[Outcome]:
        """The ladder's step for a decision about a member's message, its reasons (with
        `shown` besides the checks) and the actions that carry it out."""
        strikes = _strikes(marks, self.name, member) if decision.verdict == SPAM else {}
        action = self.ladder.act(decision, at, [t for t in strikes.values() if t is not None])
        if decision.verdict == HAM and action.step is Step.NONE:
            return []
        reasons = {**_reasons(decision, action.step, action.would, action.strikes), **shown}
        if decision.verdict == SPAM:  # one message, one removal: its pictures' text and a
            once = f"removed:{message}:{member}"  # language model's reading may both say so
            if marks.get(self.name, once) is not None:
                return []
            marks.put(self.name, once, at)
        if action.struck:  # kept in the store; an upheld appeal takes it back by its time
            add_strike(marks, self.name, member, at, strikes)
            reasons["struck_at"] = int(at * 1000)
        block = _review_note(decision) if self.blocklist and action.step is Step.BAN else None
        drafts = self._drafts(action.step, member, message, decision, action.mute_s)
        return [Outcome(self.name, decision.verdict, reasons, drafts, block)]

    def read_ahead(self, event: LiveEvent) -> list[str]:
        """The marks `decide` reads for every message, join and rename (the member's role):
        the engine reads them for a whole batch at once, a round trip to a database server
        instead of one an event."""
        record = event.record
        named = isinstance(record, MembershipEvent) and record.action in _NAMED
        if not isinstance(record, Message) and not named:
            return []
        return _role_keys(_member_id(record))

    def _role(self, event: LiveEvent, marks: Marks, member: str) -> tuple[str, float | None]:
        """The member's role as moderation treats it, and when they joined (None: off
        probation)."""
        joined, trusted, earned = _role_keys(member)
        found = marks.many(self.name, [joined, trusted, earned])
        role, joined_at = event.role, found.get(joined)
        if role in TrustBook.STAFF:
            return role, joined_at
        if trusted in found:
            # an admin said "not spam" in the console: trusted like staff, off probation
            return TRUSTED_ROLE, None
        if earned in found:
            return TrustBook.EARNED, joined_at
        return role, joined_at

    def reads(self, event: LiveEvent, marks: Marks, outcomes: Sequence[Outcome]) -> bool:
        """Whether the text in this message's pictures should be read: a member moderation
        checks, a message nothing dealt with already (taken for spam, or taken down by the
        entry question or a raid lockdown before moderation saw it), from someone not blocked.
        Stickers, memes by nature, only from newcomers on probation (a poster saved as one is
        the way round the reading a bot fresh in the group would take) or when one is poster
        sized (the way round for an account that waited out its probation); the reader reads
        the same bytes once, so a sticker going round costs one reading."""
        record = event.record.message if isinstance(event.record, Edit) else event.record
        if not (self.read_pictures and event.images and isinstance(record, Message)):
            return False
        if event.kept_out() or any(o.final or o.verdict == SPAM for o in outcomes):
            return False
        role, joined = self._role(event, marks, _member_id(record))
        if role in UNCHECKED_ROLES:
            return False
        if not stickers_only(event.kinds):
            return True
        member = Context(event.group.platform_id, "", _at(record.sent_at), joined_at=joined)
        return self.detector.policy.on_probation(member) or any(map(poster_sized, event.images))

    def _picture_text(
        self, event: LiveEvent, record: PictureText, marks: Marks, member: str
    ) -> list[Outcome]:
        """The text read in a message's pictures, judged as that message's text: words and
        contacts, the domain lists, the model and the spam bank, then the ladder as for any
        message. Not the behaviour layer: the message was counted when it came."""
        role, joined = self._role(event, marks, member)
        if role in UNCHECKED_ROLES or event.kept_out():
            return []  # trusted since, or removed with the rest of what they posted
        said = "\n".join(t for t in (record.said, record.text) if t)
        decision = self.detector.check(said)
        if SEVERITY.index(decision.verdict) <= SEVERITY.index(record.judged):
            return []  # nothing the message's own decision did not say (or ask) already
        shown: dict[str, Any] = {"picture_text": record.text[:PICTURE_TEXT_KEPT]}
        if event.pictures:
            shown["pictures"] = _hex(event.pictures)
        newcomer = self._newcomer(event, _at(record.at), joined)
        if held := self._hold(decision, record.member, record.at, shown, newcomer, event, said):
            return [held]
        return self._act(decision, marks, member, record.platform_id, _at(record.at), shown)

    def _reacted(
        self, event: LiveEvent, record: Reaction, marks: Marks, member: str
    ) -> list[Outcome]:
        """Someone reacted: their name and bio are looked at as at a join (`_named`), at
        most once a day per member, whatever they react to."""
        at, looked = _at(record.at), f"profiled:{member}"
        last = marks.get(self.name, looked)
        if last is not None and at - last < PROFILE_LOOK_S:
            return []
        marks.put(self.name, looked, at)
        return self._named(event, marks, member, record.member.name)

    def _edited(self, event: LiveEvent, record: Edit, marks: Marks, member: str) -> list[Outcome]:
        """A message its sender changed, judged as a message is: the text layers, the locks
        of probation, known contacts, the model; not the behaviour layer, which counted it
        when it came. Acted on once per message and verdict: fixing a typo twice in a
        message that was a question asks nothing twice."""
        role, joined_at = self._role(event, marks, member)
        at = _at(record.at)
        ctx = _context(event, record.message, member, at, role, joined_at, edited=True)
        decision = self.detector.check(event.said(), ctx)
        seen = f"edited:{decision.verdict}:{record.platform_id}:{member}"
        if decision.verdict == HAM or marks.get(self.name, seen) is not None:
            return []
        marks.put(self.name, seen, at)
        newcomer, shown = self.detector.policy.on_probation(ctx), {"edited": True}
        if held := self._hold(decision, record.member, record.at, shown, newcomer, event):
            return [held]
        return self._act(decision, marks, member, record.platform_id, at, shown)

    def _newcomer(self, event: LiveEvent, at: float, joined: float | None) -> bool:
        """Whether the member is still on probation in this group at `at`."""
        member = Context(event.group.platform_id, "", at, joined_at=joined)
        return self.detector.policy.on_probation(member)

    def _hold(
        self,
        decision: Decision,
        sender: Person,
        moment: datetime,
        shown: dict[str, Any],
        newcomer: bool,
        event: LiveEvent,
        said: str | None = None,
    ) -> Outcome | None:
        """Where the group asks a language model (`second_opinion`) and this decision is one
        to ask about (`opinion.asks`): the decision, held (nothing done yet), with the
        question for the runtime to send. None otherwise."""
        said = event.said() if said is None else said
        veto = self.second_opinion == "veto"
        material = said or opinion.profile(decision)  # a join has a name, not a message
        if self.second_opinion == "off" or not material or not opinion.asks(decision, veto):
            return None
        reasons = {**_reasons(decision, Step.ASK_MODEL, None, 0), **shown}
        question = Opinion(
            event.record.platform_id,  # the message's, for a message, its pictures, an edit
            sender,
            moment,
            said,
            decision.as_dict(),
            shown,
            newcomer,
        )
        return Outcome(self.name, decision.verdict, reasons, ask=question)

    def _opinion(
        self, event: LiveEvent, record: Opinion, marks: Marks, member: str
    ) -> list[Outcome]:
        """The language model's answer about a held decision: the decision settled by it
        (`opinion.settle`), then the ladder as for any message; a question it was sure was
        normal is written down as settled, with nothing to do. Nothing where the member was
        trusted or blocked meanwhile."""
        role, _joined = self._role(event, marks, member)
        released = marks.get(self.name, released_mark(record.platform_id, member))
        if role in UNCHECKED_ROLES or event.kept_out() or released is not None:
            return []
        reading = (
            opinion.Reading(record.label, record.confidence, record.reason)
            if record.label
            else None
        )
        said = opinion.check(reading, record.model, record.ms, record.error)
        decision = opinion.settle(Decision.from_dict(record.decision), said)
        at_the_door = bool(record.shown.get("profile"))  # a join, a rename, a reaction
        about_the_member = at_the_door or opinion.about_the_member(decision)
        if decision.verdict == HAM:  # spared: the console lists it for a second look
            would = Step.KICK if about_the_member else None  # what a person's "spam" does
            reasons = {**_reasons(decision, Step.SPARED, would, 0), **record.shown}
            return [Outcome(self.name, HAM, reasons)]
        if about_the_member:  # the member, not their words
            first = next(c for c in decision.checks if c.name in opinion.PROFILE_CHECKS)
            action = self.ladder.keep_out() if decision.verdict == SPAM else self.ladder.doubt()
            message = None if at_the_door else record.platform_id
            note = _profile_note(first, member)
            outcome = self._remove(member, message, first, note, action, dict(record.shown))
            outcome.verdict = decision.verdict
            outcome.reasons["checks"].append(_check(said))
            return [outcome]
        at = _at(record.at)
        return self._act(decision, marks, member, record.platform_id, at, dict(record.shown))

    def _report(
        self,
        reported: Message,
        marks: Marks,
        role: str,
        reporter: str,
        at: float,
        report: str,
    ) -> list[Outcome]:
        """A member flagged the message they replied to. Counted only from members the group
        trusts (staff, trusted by a person, trust earned with clean messages: a fresh account
        cannot report a regular away), once per reporter and message, at most
        REPORTS_PER_HOUR a reporter, not from a member whose reports people overturned
        OVERTURNED_SILENCE times lately; staff's one report is enough. When `reports_needed`
        members agree, the message goes to the admins' queue (enforce also hides it at once),
        where their answer acts on the message and its author and teaches the model. The
        report that did it is answered with a short thanks, taken down after REPORT_ACK_S with
        (in enforce) the report itself, so reports do not litter the chat."""
        author, message = reported.sender.user_id, reported.platform_id
        if (
            not self.reports_needed
            or author is None
            or author == reporter
            or role not in UNCHECKED_ROLES
            or self._protected(marks, author)
            or marks.get(self.name, f"reported:{message}:{reporter}") is not None
            or (role not in TrustBook.STAFF and silenced(marks, self.name, reporter, at))
        ):
            return []
        mine = _slot_times(marks, self.name, "reports", reporter, REPORTS_PER_HOUR)
        if len([t for t in mine.values() if t is not None and t > at - 3600]) >= REPORTS_PER_HOUR:
            return []
        marks.put(self.name, min(mine, key=lambda k: mine[k] or 0.0), at)
        marks.put(self.name, f"reported:{message}:{reporter}", at)
        counted = _slot_times(marks, self.name, "reporters", message, REPORTS_MAX)
        count = min(len([t for t in counted.values() if t is not None]) + 1, REPORTS_MAX)
        marks.put(self.name, min(counted, key=lambda k: counted[k] or 0.0), at)
        staff = role in TrustBook.STAFF
        if marks.get(self.name, f"sent:{message}"):
            return []
        if count < self.reports_needed and not staff:
            return self._noted(author, message, reporter, report, count)
        marks.put(self.name, f"sent:{message}", at)
        enforce = self.ladder.mode is Mode.ENFORCE
        step = Step.NONE if self.ladder.mode is Mode.SHADOW else Step.ASK_ADMIN
        details = {"reporters": count, "needed": self.reports_needed, "staff": staff}
        check = {"name": "reports", "verdict": REVIEW, "score": 1.0, "details": details}
        reasons: dict[str, Any] = {"score": 1.0, "step": step.value, "checks": [check]}
        drafts = []
        if enforce:  # members agree it is bad: out of sight now, the admins decide the rest
            reasons["hidden"] = True
            drafts.append(Draft(ActionKind.DELETE, member_id=author, message_id=message))
        if step is Step.ASK_ADMIN:
            note = tr(
                "{n} members reported a message by {author}: {text}",
                n=count,
                author=reported.sender.name or author,
                text=reported.text[:200],
            )
            drafts.append(Draft(ActionKind.NOTIFY_OWNER, member_id=author, text=note))
            thanks = tr("Thank you: the admins will look at it.")
            drafts.append(
                Draft(ActionKind.SEND, message_id=report, text=thanks, expire_s=REPORT_ACK_S)
            )
        if enforce:
            drafts.append(self._tidy(reporter, report))
        return [Outcome(self.name, REVIEW, reasons, drafts, about=(author, message))]

    def _noted(
        self, author: str, message: str, reporter: str, report: str, count: int
    ) -> list[Outcome]:
        """A counted report short of `reports_needed`: the reporter hears it was counted and
        how many more it takes (a report met with silence is reported again, or not at all),
        and the reply goes, with the report in enforce, after REPORT_ACK_S. Its decision is the
        reports' own, not moderation's: nothing is waiting for an admin. Shadow says nothing."""
        if self.ladder.mode is Mode.SHADOW:
            return []
        reasons = {"reporters": count, "needed": self.reports_needed}
        text = tr(
            "Noted ({n} of {needed}): the admins are asked once {needed} members report it.",
            n=count,
            needed=self.reports_needed,
        )
        drafts = [Draft(ActionKind.SEND, message_id=report, text=text, expire_s=REPORT_ACK_S)]
        if self.ladder.mode is Mode.ENFORCE:
            drafts.append(self._tidy(reporter, report))
        return [Outcome(REPORTS_POLICY, "noted", reasons, drafts, about=(author, message))]

    @staticmethod
    def _tidy(reporter: str, report: str) -> Draft:
        """The report taken down once its reply has been read."""
        return Draft(
            ActionKind.DELETE,
            member_id=reporter,
            message_id=report,
            delay_s=REPORT_ACK_S,
            reason="report",
        )

    def known_name(self, member: str, name: str, role: str, marks: Marks) -> Outcome | None:
        """A member already in the group whose name is close to one people have just said
        was an ad (the farm's other accounts, in before anyone knew): removed as at the door
        (`_named`); None for staff, trusted members and names that are no known ad."""
        if role in TrustBook.STAFF or self._protected(marks, member):
            return None
        check = self.detector.name_check(name)
        if check is None or check.verdict != SPAM:
            return None
        note = tr("{member}'s name is an ad people confirmed: {name}", member=member, name=name)
        return self._remove(member, None, check, note, self.ladder.keep_out(), {})

    def known_copy(self, member: str, message: str, check: Check = KNOWN_PICTURE_COPY) -> Outcome:
        """A message posted earlier with a picture a person has just said is an ad, or a
        member's copy of a campaign posted before it was called spam (`EARLIER_COPY`): dealt
        with as that verdict's first rung (enforce takes it down and warns, training asks,
        shadow records), without a strike: nobody knew it was an ad then."""
        decision = Decision(SPAM, check.score, (check,), "")
        step = _FIRST_RUNG[self.ladder.mode]
        would = None if step is Step.DELETE_WARN else Step.DELETE_WARN
        drafts = self._drafts(step, member, message, decision)
        return Outcome(self.name, SPAM, _reasons(decision, step, would, 0), drafts)

    def _drafts(
        self, step: Step, member: str, message: str, decision: Decision, mute_s: int = 0
    ) -> list[Draft]:
        """The actions of a ladder step on a message: the warning in the group's words, the
        admins' note saying why."""
        return [
            Draft(
                kind,
                member_id=member,
                message_id=message,
                text=self._warning(decision) if kind is ActionKind.WARN else _review_note(decision),
                seconds=mute_s,
                reason=decision.verdict,
            )
            for kind in _STEP_ACTIONS.get(step, ())
        ]

    def _warning(self, decision: Decision) -> str:
        """What the member is told: the group's warning (written for ads) or the default one,
        and a word on manners where only abuse made it spam."""
        if opinion.abuse_only(decision):
            return tr(CIVIL)
        return self.warning or tr(NO_ADS)

    def _kept_out(self, event: LiveEvent, role: str, marks: Marks, member: str) -> bool:
        """Blocked in the community, and neither staff here nor trusted here by a person (the
        console's "not spam" in this group outweighs a ban elsewhere)."""
        return (
            self.blocklist
            and event.kept_out() is not None
            and role not in TrustBook.STAFF
            and role != TRUSTED_ROLE
            and marks.get(self.name, f"trusted:{member}") is None
        )

    def sweep(self, member: str, name: str | None, why: str, marks: Marks) -> Outcome | None:
        """The community has just blocked a member of this group: keep them out now, as their
        next message would, instead of waiting for it (Rose's federation bans act at once
        too). None where this group does not share bans or the member is staff or trusted
        here."""
        if not self.blocklist or self._protected(marks, member):
            return None
        return self._keep_out(member, name, None, ("blocklist", why))

    def _protected(self, marks: Marks, member: str) -> bool:
        """Staff here, or trusted here by a person's word."""
        return any(
            marks.get(self.name, f"{kind}:{member}") is not None for kind in ("staff", "trusted")
        )

    def _keep_out(
        self, member: str, name: str | None, message: str | None, why: tuple[str, str] | None
    ) -> Outcome:
        """Remove a member a list keeps out (and their message), or what the mode allows: the
        check and the reasons name the list, the community's own or CAS."""
        listing, said = why or ("blocklist", "")
        check = Check(listing, SPAM, 1.0, {"reason": said})
        template = _KEPT_OUT_NOTES.get(listing, _KEPT_OUT_NOTES["blocklist"])
        note = tr(template, member=name or member, why=said)
        action = self.ladder.keep_out()
        return self._remove(member, message, check, note, action, {listing: said})

    def _named(
        self, event: LiveEvent, marks: Marks, member: str, name: str | None
    ) -> list[Outcome]:
        """A member moderation checks who joins, or renames themselves, with an ad for a name
        or in their bio (a contact and ad words): a question for a person, whose "spam"
        removes them; with a name or bio people already said was an ad: removed as a blocked
        member is (enforce kicks, training asks)."""
        role, _joined = self._role(event, marks, member)
        if role in UNCHECKED_ROLES:
            return []
        checks = self.detector.profile_checks(name, event.bio)
        if not checks:
            return []
        check = checks[0]
        confirmed = check.verdict == SPAM
        if not confirmed and isinstance(record := event.record, MembershipEvent | Reaction):
            question = Decision(REVIEW, check.score, (check,), "")
            joined = isinstance(record, MembershipEvent) and record.action is MembershipAction.JOIN
            person, shown = Person(member, name), {"profile": True}
            if held := self._hold(question, person, record.at, shown, joined, event, ""):
                return [held]
        action = self.ladder.keep_out() if confirmed else self.ladder.doubt()
        return [self._remove(member, None, check, _profile_note(check, member), action, {})]

    def _remove(
        self,
        member: str,
        message: str | None,
        check: Check,
        note: str,
        action: Action,
        shown: dict[str, Any],
    ) -> Outcome:
        """Remove a member (and their message) without a strike, or ask, as `action` says."""
        reasons: dict[str, Any] = {
            "score": check.score,
            "step": action.step.value,
            "checks": [_check(check)],
            **shown,
        }
        if action.would is not None:
            reasons["would"] = action.would.value
        drafts = [
            Draft(kind, member_id=member, message_id=message, text=note, reason=check.name)
            for kind in _STEP_ACTIONS.get(action.step, ())
            if kind is not ActionKind.DELETE or message is not None  # a join has nothing to delete
        ]
        return Outcome(self.name, check.verdict, reasons, drafts)


REPORT_WORDS = frozenset({"举报", "/举报", "/report", "!report"})
REPORTS_PER_HOUR = 10  # what one member may report in an hour; more are not counted
REPORTS_MAX = 20  # reports of one message counted (the most `moderation.reports` may ask)
REPORT_ACK_S = 60  # the thanks for a report, and the report itself, stay this long
REPORTS_POLICY = "reports"  # decisions on reports that did not yet send a message to the admins
# a member whose reports people overturned this often within this time is not counted until
# the older overturn ages out (tg-spam's answer to false reports is to ban the reporter)
OVERTURNED_SILENCE = 2
OVERTURNED_MEMORY_S = 30 * 86400


def report_overturned(marks: Marks, policy: str, reporter: str, at: float) -> None:
    """A person said a message this member reported was fine: keep the time among the
    member's newest overturned reports (marks ending with their id, so forgetting them takes
    these along)."""
    kept = _slot_times(marks, policy, "overturned", reporter, OVERTURNED_SILENCE)
    marks.put(policy, min(kept, key=lambda k: kept[k] or 0.0), at)


def silenced(marks: Marks, policy: str, reporter: str, at: float) -> bool:
    """Whether this member's reports no longer count: each of their newest overturned
    reports is younger than OVERTURNED_MEMORY_S."""
    kept = _slot_times(marks, policy, "overturned", reporter, OVERTURNED_SILENCE).values()
    return all(x is not None and x > at - OVERTURNED_MEMORY_S for x in kept)


def is_report(text: str) -> bool:
    """A reply that flags the message it answers: 举报 or /report, alone but for @mentions (a
    command may carry the bot's @name, 举报 may @ an admin or the author)."""
    words = [w for w in text.casefold().split() if not w.startswith("@")]
    return len(words) == 1 and words[0].split("@", 1)[0] in REPORT_WORDS


def _profile_note(check: Check, member: str) -> str:
    """What the admins are told of a member whose name or bio is an ad, or looks like one."""
    confirmed = check.verdict == SPAM
    if check.name == "bio":
        bio = str(check.details.get("bio", ""))
        if confirmed:
            return tr("{member}'s bio is an ad people confirmed: {bio}", member=member, bio=bio)
        return tr("{member}'s bio looks like an ad: {bio}", member=member, bio=bio)
    name = str(check.details.get("name", ""))
    if confirmed:
        return tr("{member}'s name is an ad people confirmed: {name}", member=member, name=name)
    return tr("{member}'s name looks like an ad: {name}", member=member, name=name)


def released_mark(message: str, member: str) -> str:
    """The mark of a decision held for a language model that went to a person before the
    model's answer was judged (`Runtime.release_held`): the answer, if it comes, is not acted on."""
    return f"released:{message}:{member}"


def _slots(kind: str, owner: str, n: int) -> list[str]:
    """Marks that keep the times of an owner's newest n events of a kind."""
    return [f"{kind}{i}:{owner}" for i in range(n)]


_NAMED = (MembershipAction.JOIN, MembershipAction.RENAME)  # moderation reads the new name


def _role_keys(member: str) -> list[str]:
    return [f"{kind}:{member}" for kind in ("joined", "trusted", "earned")]


def _slot_times(
    marks: Marks, policy: str, kind: str, owner: str, n: int
) -> dict[str, float | None]:
    """Each of those marks and when it was put (None: free)."""
    return _times(marks, policy, _slots(kind, owner, n))


def _times(marks: Marks, policy: str, keys: list[str]) -> dict[str, float | None]:
    """When each of these marks was put (None: never), read together: one round trip to a
    database server instead of one a mark (a spammer's strikes are six)."""
    found = marks.many(policy, keys)
    return {key: found.get(key) for key in keys}


def trust_marks(member: str) -> dict[str, str]:
    """The marks that make a member trusted in a group, and why: a person said "not spam" in
    the console, or the member earned it with clean messages. The console shows them and can
    take them back."""
    return {f"trusted:{member}": "console", f"earned:{member}": "earned"}


def _trusted(decision: Decision) -> str | None:
    """Why the detector trusted the sender ("staff", "earned"), if it did."""
    first = decision.checks[0] if decision.checks else None
    return first.details.get("trusted") if first is not None and first.name == "trust" else None


def strike_keys(member: str) -> list[str]:
    """The marks a member's newest strikes are kept in. They end with the member's id, as
    every mark about a member does, so forgetting the member takes them along."""
    return _slots("strike", member, RUNGS)


def add_strike(
    marks: Marks,
    policy: str,
    member: str,
    at: float,
    strikes: dict[str, float | None] | None = None,
) -> None:
    """Keep a strike at `at` in a free place or over the oldest kept one. Called by the
    policy for an enforced spam verdict and by the console when a person confirms spam the
    detector held for them; `strikes` spares looking up what the caller has just read."""
    strikes = _strikes(marks, policy, member) if strikes is None else strikes
    marks.put(policy, min(strikes, key=lambda k: strikes[k] or 0.0), at)


def _strikes(marks: Marks, policy: str, member: str) -> dict[str, float | None]:
    """Each of a member's strike marks and when it was (None: free)."""
    return _times(marks, policy, strike_keys(member))


def _check(c: Check) -> dict[str, Any]:
    """A check as a decision's reasons keep it."""
    return {"name": c.name, "verdict": c.verdict, "score": round(c.score, 3), "details": c.details}


def _reasons(decision: Decision, step: Step, would: Step | None, strikes: int) -> dict[str, Any]:
    shown = ("content_model", opinion.NAME)  # shown even where they found nothing
    checks = [_check(c) for c in decision.checks if c.verdict != HAM or c.name in shown]
    out: dict[str, Any] = {"score": round(decision.score, 3), "step": step.value, "checks": checks}
    if would is not None:
        out["would"] = would.value
    if strikes:
        out["strikes"] = strikes
    return out


def _review_note(decision: Decision) -> str:
    """What the admins are told of a decision (the admin chat, a WeCom group's owner, the
    blocklist's reason): what it looks like, which checks said so, in their words, and the
    text."""
    names, between = check_names(), "、" if i18n.lang() == "zh" else ", "
    fired = between.join(names.get(c.name, c.name) for c in decision.checks if c.verdict != HAM)
    looks = tr("Looks like an ad or abuse") if decision.verdict == SPAM else tr("Needs a look")
    return tr("{looks} ({checks}): {text}", looks=looks, checks=fired, text=_quoted(decision))


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _quoted(decision: Decision) -> str:
    """The message as its sender wrote it, which is how the admins will find it in the group;
    the normalised text where direction marks would turn the note itself around, or where the
    decision has no message of its own."""
    if not decision.raw or _BIDI.search(decision.raw):
        return decision.normalized[:200]
    return decision.raw[:200]


# -- welcome ------------------------------------------------------------------------------

SAME_JOIN_S = 60  # a second join of a member this soon is the same join told twice


@dataclass
class WelcomePolicy:
    """Greet newcomers by name, ask for a self-introduction, show the rules (PLAYBOOK: the
    first minutes decide whether a newcomer ever speaks). Joins within `batch_s` of each other
    get one message naming them all, not a wall of greetings. A newcomer asked the entry
    question (`CaptchaPolicy`, which runs first) is welcomed when they answer it, not before:
    an introduction written before the answer would be taken down."""

    template: str = ""  # empty: the default, in the interface language
    rules: str = ""
    batch_s: float = 30.0
    delete_after_s: int = 0  # take the welcome down this long after (Marie's cleanwelcome)
    after_captcha: bool = False  # the group asks the entry question (it spares a look-up)
    name: str = "welcome"

    def read_ahead(self, event: LiveEvent) -> list[str]:
        """When a newcomer was last welcomed, read for a batch's joins at once."""
        record = event.record
        if isinstance(record, MembershipEvent) and record.action is MembershipAction.JOIN:
            return [f"welcomed:{_member_id(record)}"]
        return []

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        record = event.record
        member = _member_id(record) if isinstance(record, Message | MembershipEvent) else None
        if isinstance(record, Message):  # welcomed once the entry question is answered
            if not self.after_captcha:
                return []
            passed = marks.get(CaptchaPolicy.name, f"passed:{member}")
            if passed is None or abs(passed - _at(record.sent_at)) > 0.001:
                return []
            person = record.sender
        elif isinstance(record, MembershipEvent) and record.action is MembershipAction.JOIN:
            at = _at(record.at)
            last = marks.get(self.name, f"welcomed:{member}")
            marks.put(self.name, f"welcomed:{member}", at)
            if last is not None and at - last < SAME_JOIN_S:
                return []  # Telegram tells one join twice (service message, member update)
            asked = marks.get(CaptchaPolicy.name, f"asked:{member}") if self.after_captcha else None
            if asked is not None and abs(asked - at) <= 0.001:
                return []  # asked the entry question at this join: a welcome would come first
            person = record.member
        else:
            return []
        who = person.name or person.user_id or "?"
        draft = Draft(
            ActionKind.SEND,
            member_id=person.user_id,
            text=welcome_text(self.template, self.rules, [who]),
            delay_s=self.batch_s,
            expire_s=self.delete_after_s,
            batch=f"welcome:{event.group.platform_id}",
            names=(who,),
        )
        return [Outcome(self.name, "welcome", {"member": who}, [draft])]

    def merged(self, names: Sequence[str]) -> str:
        return welcome_text(self.template, self.rules, names)


def welcome_text(template: str, rules: str, names: Sequence[str]) -> str:
    template = template or tr(
        "Welcome %NICKNAME%! Please introduce yourself: your city, your trade, and what you "
        "hope to find here."
    )
    text = template.replace("%NICKNAME%", "、".join(f"@{n}" for n in names))
    return f"{text}\n{rules}" if rules else text


# -- the platform's notices -----------------------------------------------------------------


@dataclass
class NoticePolicy:
    """Take down the platform's own "X joined the group" and "X left" (tg-spam's
    `--delete.join-messages`, Rose's cleanservice, anchors §9.4): in a busy group they bury the
    conversation, and the welcome already says who came."""

    name: str = "notices"

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        record = event.record
        if not isinstance(record, Notice):
            return []
        draft = Draft(ActionKind.DELETE, message_id=record.platform_id, reason="notice")
        return [Outcome(self.name, "deleted", {"action": record.action.value}, [draft])]


# -- admission ----------------------------------------------------------------------------


@dataclass
class AdmissionPolicy:
    """Join requests: reject someone the community blocked, or on a listed word (the request
    itself advertising) or a tag an operator gave the asker ("广告"); approve on a tag
    ("老学员") or a right answer to the group's question or captcha; otherwise ask an admin.
    With moderation's detector, an ad in the asker's name or request (QQ's answer, Telegram's
    bio) is judged as at a join: one people confirmed is rejected, one that looks like an ad
    goes to an admin even with the right answer (bots learn answers)."""

    answers: tuple[str, ...] = ()
    reject_words: tuple[str, ...] = ()
    approve_tags: tuple[str, ...] = ()
    reject_tags: tuple[str, ...] = ()
    blocklist: bool = True  # reject whoever the community blocked
    detector: Detector | None = None
    name: str = "admission"

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        record = event.record
        if not isinstance(record, JoinRequest):
            return []
        answer = record.answer.strip()[:100]
        who = record.member.user_id

        def outcome(kind: ActionKind, verdict: str, reasons: dict[str, Any]) -> list[Outcome]:
            draft = Draft(kind, member_id=who, request_id=record.platform_id)
            return [Outcome(self.name, verdict, reasons, [draft])]

        if self.blocklist and (kept_out := event.kept_out()) is not None:
            listing, why = kept_out
            return outcome(ActionKind.REJECT, "reject", {listing: why})
        if hit := next((w for w in self.reject_words if w.casefold() in answer.casefold()), None):
            return outcome(ActionKind.REJECT, "reject", {"word": hit})
        if tag := next((x for x in self.reject_tags if x in event.tags), None):
            return outcome(ActionKind.REJECT, "reject", {"tag": tag})
        if tag := next((x for x in self.approve_tags if x in event.tags), None):
            return outcome(ActionKind.APPROVE, "approve", {"tag": tag})
        ads = self._ads(record, event.bio)
        if ads and ads[0].verdict == SPAM:
            return outcome(ActionKind.REJECT, "reject", {"checks": [_check(ads[0])]})
        if not ads and any(a.casefold() in answer.casefold() for a in self.answers):
            return outcome(ActionKind.APPROVE, "approve", {"answer": record.answer[:100]})
        note = tr("join request from {who}: {answer}", who=record.member.name or who, answer=answer)
        draft = Draft(ActionKind.NOTIFY_OWNER, member_id=who, text=note)
        reasons: dict[str, Any] = {"answer": record.answer[:100]}
        if ads:
            reasons["checks"] = [_check(c) for c in ads]
        return [Outcome(self.name, "ask_admin", reasons, [draft])]

    def _ads(self, record: JoinRequest, bio: str) -> list[Check]:
        """What moderation makes of the asker's name, bio (QQ's signature) and request, the
        harsher first."""
        if self.detector is None:
            return []
        return self.detector.profile_checks(record.member.name, bio, record.answer)


# -- join raids ---------------------------------------------------------------------------


@dataclass
class RaidPolicy:
    """Join raids (anchors §9.1 item 4; Rose's antiraid, Shieldy's underAttack): `joins`
    newcomers within `window_s` seconds start a lockdown of `lock_min` minutes, during which
    enforce removes every newcomer as they arrive (a kick: a real member may come back once it
    ends), training asks the admins, shadow records. The admins are told once, when it starts.
    With `mute_all`, enforce also mutes the whole group for the lockdown (全员禁言; anchors
    §9.1 item 4: the raiders who came before it started cannot post either), lifted when it
    ends. Off unless configured: a referral campaign brings bursts of joins on purpose. Runs
    before the entry question and the welcome, which a removed newcomer does not need.

    A raid spread over a community's groups (five bots in each of ten groups) reaches no
    group's `joins`: with `community_joins`, that many newcomers within `window_s` across the
    groups sharing `community` (the community's behaviour memory) start a lockdown in each
    group a newcomer then joins, this one first."""

    mode: Mode = Mode.SHADOW
    joins: int = 20
    window_s: int = 60
    lock_min: int = 30
    mute_all: bool = False
    community_joins: int = 0  # 0: groups are counted alone
    community: Behaviour | None = None
    name: str = "raid"

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        record = event.record
        if not isinstance(record, MembershipEvent) or record.member.user_id is None:
            return []
        at, member = _at(record.at), record.member.user_id
        if record.action in (MembershipAction.LEAVE, MembershipAction.KICK):
            if marks.get(self.name, f"joined:{member}") is not None:  # gone: not in a wave
                marks.put(self.name, f"left:{member}", at)
            return []
        if record.action is not MembershipAction.JOIN or event.role in STAFF:
            return []
        since = marks.get(self.name, "lockdown")
        if since is not None and since <= at < since + self.lock_min * 60:
            return [self._remove(member, record.member.name, since, None)]
        last = marks.get(self.name, f"joined:{member}")
        marks.put(self.name, f"joined:{member}", at)
        if last is not None and at - last < self.window_s:
            return []  # counted already (Telegram tells one join twice), or back and forth
        times = _times(marks, self.name, [f"join{i}" for i in range(self.joins)])
        marks.put(self.name, min(times, key=lambda k: times[k] or 0.0), at)
        recent = len([x for x in times.values() if x is not None and x > at - self.window_s]) + 1
        crowd = self._crowd(event.group.platform_id, member, at)
        if recent >= self.joins:
            crowd = None  # the group's own count started it
        elif crowd is None:
            return []
        marks.put(self.name, "lockdown", at)
        started = self._remove(member, record.member.name, at, recent, crowd)
        return [started, *self._wave(event, marks, member, at)]

    def _crowd(self, group: str, member: str, at: float) -> int | None:
        """The community's newcomers within the window, this one counted, where they are
        enough for a lockdown; None otherwise (or where groups are counted alone)."""
        if self.community is None or not self.community_joins:
            return None
        self.community.joined(group, member, at)
        crowd = self.community.newcomers_since(at - self.window_s)
        return crowd if crowd >= self.community_joins else None

    def _wave(self, event: LiveEvent, marks: Marks, member: str, at: float) -> list[Outcome]:
        """Enforce also removes the newcomers of the window that started the lockdown: the
        raid's first bots are in the group by then. Not those who answered the entry question
        (a person) or whom staff or a person vouch for. Each is its own decision, which calls
        off their pending entry question (its removal would come twice)."""
        if self.mode is not Mode.ENFORCE:
            return []
        out = []
        for key, joined in sorted(marks.since(self.name, "joined:", at - self.window_s)):
            other = key.split(":", 1)[1]
            left = marks.get(self.name, f"left:{other}")
            if other == member or (left is not None and left >= joined):
                continue  # this one, or gone already (a kick would fail, or ask a person)
            if _vouched(marks, other, joined):
                continue
            reasons = {"lockdown_since": int(at * 1000), "wave": True, "step": Step.KICK.value}
            kick = Draft(ActionKind.KICK, member_id=other, reason="raid")
            about = (other, event.record.platform_id)
            cancel = _batch(event, other)
            out.append(Outcome(self.name, "lockdown", reasons, [kick], about=about, cancel=cancel))
        return out

    def _remove(
        self,
        member: str,
        name: str | None,
        since: float,
        started: int | None,
        crowd: int | None = None,
    ) -> Outcome:
        """A newcomer during a lockdown; `started`: the joins that began it with this one
        (`crowd`: the community's, where they began it)."""
        reasons: dict[str, Any] = {"lockdown_since": int(since * 1000), "minutes": self.lock_min}
        drafts = []
        if started is not None:
            reasons["joins"], reasons["window_s"] = crowd or started, self.window_s
            if crowd is not None:
                reasons["community"] = True
            told = {"n": crowd or started, "s": self.window_s, "m": self.lock_min}
            if self.mode is Mode.TRAINING:
                note = tr(
                    "Join raid: {n} newcomers within {s} s. Remove the newcomers of the next "
                    "{m} minutes?",
                    **told,
                )
            elif self.mute_all:
                note = tr(
                    "Join raid: {n} newcomers within {s} s. Newcomers are removed and the group "
                    "is muted for the next {m} minutes.",
                    **told,
                )
            else:
                note = tr(
                    "Join raid: {n} newcomers within {s} s. Newcomers are removed for the next "
                    "{m} minutes.",
                    **told,
                )
            if crowd is not None:
                note = f"{note} {tr('(Counted across the community’s groups.)')}"
            if self.mode is not Mode.SHADOW:
                drafts.append(Draft(ActionKind.NOTIFY_OWNER, text=note, reason="raid"))
            if self.mute_all:
                reasons["mute_all"] = True
                if self.mode is Mode.ENFORCE:
                    lock_s = self.lock_min * 60
                    drafts.append(
                        Draft(ActionKind.LOCK, seconds=lock_s, expire_s=lock_s, reason="raid")
                    )
        enforce = self.mode is Mode.ENFORCE
        if enforce:
            drafts.append(Draft(ActionKind.KICK, member_id=member, reason="raid"))
            reasons["step"] = Step.KICK.value
        else:
            reasons["would"] = Step.KICK.value
        return Outcome(self.name, "lockdown", reasons, drafts, final=enforce)


def _vouched(marks: Marks, member: str, joined: float) -> bool:
    """Staff, trusted by a person, or answered the entry question since joining."""
    passed = marks.get(CaptchaPolicy.name, f"passed:{member}")
    return (passed is not None and passed >= joined) or any(
        marks.get(ModerationPolicy.name, f"{kind}:{member}") is not None
        for kind in ("staff", "trusted")
    )


# -- captcha ------------------------------------------------------------------------------

_CN_NUMBERS = "零一二三四五六七八九十"
# a newcomer's first message this soon after joining was written before the question reached
# them (a greeting pasted at once, or read in the same batch as the join): taken down, but not
# counted as a wrong answer
UNSEEN_S = 3.0
ANSWER_TIDY_CHARS = 12  # a right answer this short is taken down with the question
_CN_RUN = re.compile(f"[{_CN_NUMBERS}两]+")
_DIGITS = re.compile(r"\d+")


@dataclass
class CaptchaPolicy:
    """Entry check (入群验证): a newcomer answers a question in the chat within `timeout_s`,
    or is removed (anchors §9.1 item 1; Shieldy's captcha). The question is the group's own
    (`question`, any of `answers` passes: stock captchas are what bots learnt to pass) or a sum
    in Chinese numerals drawn for each newcomer. Until they answer, enforce takes their other
    messages down (Shieldy left them up, #69) and `tries` wrong ones remove them at once;
    training sends the question and asks an admin instead of removing; shadow only records.
    Removal is a kick, not a ban: they may join again and answer. Staff, members a person
    trusted, members who passed here before and members the blocklist keeps out (moderation
    removes them) are not asked. The timeout is an action held back in the outbox, called off
    by a right answer or by leaving, which also take the question down."""

    mode: Mode = Mode.SHADOW
    timeout_s: int = 180
    question: str = ""
    answers: tuple[str, ...] = ()
    tries: int = 3
    name: str = "captcha"

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        record = event.record
        if isinstance(record, MembershipEvent):
            if record.action is MembershipAction.JOIN:
                return self._ask(event, record, marks)
            member = record.member.user_id
            gone = record.action in (MembershipAction.LEAVE, MembershipAction.KICK)
            if gone and member and self._pending(marks, member, _at(record.at)) is not None:
                marks.put(self._space, f"done:{member}", _at(record.at))  # nothing to wait for
                return [Outcome(self.name, "left", {}, cancel=_batch(event, member))]
            return []
        if not isinstance(record, Message) or record.sender.user_id is None:
            return []
        member, at = record.sender.user_id, _at(record.sent_at)
        asked = self._pending(marks, member, at)
        if asked is None:
            return []
        if self._right(record.text, event.group.platform_id, member, asked):
            marks.put(self._space, f"passed:{member}", at)  # not asked again in this group
            marks.put(self._space, f"done:{member}", at)
            drafts = []
            if self.mode is Mode.ENFORCE and len(record.text.strip()) <= ANSWER_TIDY_CHARS:
                # the bare answer goes with the question (a longer one may introduce them)
                drafts.append(
                    Draft(
                        ActionKind.DELETE,
                        member_id=member,
                        message_id=record.platform_id,
                        reason="answer",
                    )
                )
            return [Outcome(self.name, "passed", {}, drafts, cancel=_batch(event, member))]
        enforce = self.mode is Mode.ENFORCE
        # enforce takes down what they write meanwhile; it needs no other policy's look
        take_down = Draft(
            ActionKind.DELETE, member_id=member, message_id=record.platform_id, reason="captcha"
        )
        drafts = [take_down] if enforce else []
        early = marks.get(self._space, f"early:{member}")
        if at - asked < UNSEEN_S and (early is None or early < asked):
            # one message written before the question reached them (a greeting pasted at
            # once) is not a try; a burst is a bot's, and counts
            marks.put(self._space, f"early:{member}", at)
            reasons: dict[str, Any] = {"tries": 0, "of": self.tries, "before_question": True}
            return [Outcome(self.name, "unanswered", reasons, drafts, final=enforce)]
        tries = _slot_times(marks, self._space, "try", member, self.tries)
        marks.put(self._space, min(tries, key=lambda k: tries[k] or 0.0), at)
        wrong = len([t for t in tries.values() if t is not None and t >= asked]) + 1
        reasons = {"tries": wrong, "of": self.tries}
        if wrong < self.tries:
            return [Outcome(self.name, "unanswered", reasons, drafts, final=enforce)]
        marks.put(self._space, f"done:{member}", at)  # asked again only if they join again
        if self.mode is Mode.SHADOW:
            return [Outcome(self.name, "failed", {**reasons, "would": "kick"})]
        reasons["step"] = Step.KICK.value if enforce else Step.ASK_ADMIN.value
        drafts.append(self._removal(record.sender.name or member, member))
        cancel = _batch(event, member)
        return [Outcome(self.name, "failed", reasons, drafts, cancel=cancel, final=enforce)]

    @property
    def _space(self) -> str:
        """Where its marks are kept: a shadow's asks are not asks, and the welcome, which waits
        for an answer to a real one, must not see them."""
        return f"{self.name}_shadow" if self.mode is Mode.SHADOW else self.name

    def _ask(self, event: LiveEvent, record: MembershipEvent, marks: Marks) -> list[Outcome]:
        member = record.member.user_id
        if (
            member is None
            or event.role in STAFF
            or event.kept_out() is not None
            or marks.get(self._space, f"passed:{member}") is not None
            or marks.get(ModerationPolicy.name, f"trusted:{member}") is not None
            or marks.get(ModerationPolicy.name, f"staff:{member}") is not None
            # asked already: Telegram tells one join twice (the service message and the
            # member update); a second question would make the first one's answer wrong
            or self._pending(marks, member, _at(record.at)) is not None
        ):
            return []
        marks.put(self._space, f"asked:{member}", _at(record.at))
        # the sum is drawn from the time as kept (the store keeps whole milliseconds), the
        # same the answer's check reads back
        asked = marks.get(self._space, f"asked:{member}") or _at(record.at)
        who = record.member.name or member
        question = self._question(event.group.platform_id, member, _ms(asked))
        reasons = {"question": question, "timeout_s": self.timeout_s}
        if self.mode is Mode.SHADOW:
            return [Outcome(self.name, "asked", {**reasons, "would": "ask"})]
        text = tr(
            "@{name} welcome! To show you are not an ad bot, answer within {minutes} minutes "
            "(just send the answer): {question}",
            name=who,
            minutes=max(1, round(self.timeout_s / 60)),
            question=question,
        )
        # the question goes when it is answered, or when the time is up
        batch = _batch(event, member)
        ask = Draft(
            ActionKind.SEND, member_id=member, text=text, expire_s=self.timeout_s, batch=batch
        )
        timeout = self._removal(who, member)
        timeout.delay_s, timeout.batch = float(self.timeout_s), batch
        return [Outcome(self.name, "asked", reasons, [ask, timeout])]

    def _removal(self, who: str, member: str) -> Draft:
        """Enforce removes; training asks an admin to."""
        if self.mode is Mode.ENFORCE:
            return Draft(ActionKind.KICK, member_id=member, reason="captcha")
        note = tr("{name} did not pass the entry question: remove them?", name=who)
        return Draft(ActionKind.NOTIFY_OWNER, member_id=member, text=note, reason="captcha")

    def _pending(self, marks: Marks, member: str, at: float) -> float | None:
        """When the member was asked, if the question is still open at `at` (not answered,
        not given up, not timed out: after the timeout the removal has been queued)."""
        asked = marks.get(self._space, f"asked:{member}")
        if asked is None or at > asked + self.timeout_s:
            return None
        done = marks.get(self._space, f"done:{member}")
        return None if done is not None and done >= asked else asked

    def _question(self, group: str, member: str, asked_ms: int) -> str:
        if self.question:
            return self.question
        a, b = _addends(group, member, asked_ms)
        return tr("What is {a} plus {b}?", a=a, b=b, zh_a=_CN_NUMBERS[a], zh_b=_CN_NUMBERS[b])

    def _right(self, text: str, group: str, member: str, asked: float) -> bool:
        if self.question:
            said = text.casefold()
            return any(a.casefold() in said for a in self.answers)
        a, b = _addends(group, member, _ms(asked))
        return _number(text) == a + b


def _batch(event: LiveEvent, member: str) -> str:
    return f"captcha:{event.group.platform_id}:{member}"


def _ms(at: float) -> int:
    """A mark's time in whole milliseconds, as the store keeps it (rounded: a float read back
    from milliseconds may fall just short)."""
    return round(at * 1000)


def _addends(group: str, member: str, asked_ms: int) -> tuple[int, int]:
    """Two numbers from 1 to 9, the same for the same newcomer and join, different across
    joins: drawn from a hash, so nothing but the join's mark needs keeping."""
    digest = hashlib.blake2b(f"{group}:{member}:{asked_ms}".encode(), digest_size=2).digest()
    return 1 + digest[0] % 9, 1 + digest[1] % 9


def _number(text: str) -> int | None:
    """The last number in an answer, in digits (full-width too) or Chinese up to 十九."""
    text = unicodedata.normalize("NFKC", text)
    if digits := _DIGITS.findall(text):
        return int(digits[-1])
    runs = _CN_RUN.findall(text)
    if not runs:
        return None
    run = runs[-1].replace("两", "二")
    if "十" not in run:
        return _CN_NUMBERS.index(run[-1])
    tens, _, ones = run.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    return (_CN_NUMBERS.index(tens) if tens else 1) * 10 + (_CN_NUMBERS.index(ones) if ones else 0)


# -- nickname -----------------------------------------------------------------------------


@dataclass
class NicknamePolicy:
    """Group nicknames like 城市-行业-姓名 make a group of strangers a network (PLAYBOOK §2).
    A member whose name does not fit is reminded once; if it still does not fit `grace_h` hours
    later, the admins are told, once. The operator's pattern reads names members choose, so it
    is matched in bounded time (qunzhu/patterns.py); a name it cannot decide on in time counts
    as fitting: no member is reminded because of a slow pattern."""

    pattern: str
    example: str = "城市-行业-姓名"
    grace_h: float = 24.0
    name: str = "nickname"
    _regex: patterns.Pattern = field(init=False, repr=False)
    _slow_said: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = patterns.compile_bounded(self.pattern)

    def _fits(self, name: str) -> bool:
        fits = patterns.fullmatch(self._regex, name)
        if fits is None and not self._slow_said:
            self._slow_said = True
            log.warning(
                tr(
                    "The nickname pattern {pattern} took too long on a {n}-character name; "
                    "such names are not checked. Simplify the pattern.",
                    pattern=self.pattern,
                    n=len(name),
                )
            )
        return fits is not False

    def read_ahead(self, event: LiveEvent) -> list[str]:
        """Whether each speaker was reminded, read for a batch at once (also for names that
        fit, which `decide` does not ask about: one statement either way)."""
        spoke = self._speaker(event)
        return [] if spoke is None else [f"remind:{spoke[0].user_id}"]

    def _speaker(self, event: LiveEvent) -> tuple[Person, float] | None:
        """Who the event shows under a name, with that name, and when; None where no one is
        checked (staff, an event without a name)."""
        record = event.record
        if isinstance(record, Message):
            person, at = record.sender, _at(record.sent_at)
        elif isinstance(record, MembershipEvent) and record.action is MembershipAction.RENAME:
            person, at = record.member._replace(name=record.new_name), _at(record.at)
        else:
            return None
        if event.role in STAFF or person.user_id is None:
            return None
        return person, at

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        spoke = self._speaker(event)
        if spoke is None:
            return []
        person, at = spoke
        name = person.name or ""
        if self._fits(name):
            return []
        reminded = marks.get(self.name, f"remind:{person.user_id}")
        if reminded is None:
            marks.put(self.name, f"remind:{person.user_id}", at)
            text = tr(
                "@{name} please set your group nickname as {example}, so members know who you are.",
                name=name,
                example=self.example,
            )
            draft = Draft(ActionKind.SEND, member_id=person.user_id, text=text)
            return [Outcome(self.name, "remind", {"nickname": name}, [draft])]
        if at - reminded < self.grace_h * 3600 or marks.get(self.name, f"told:{person.user_id}"):
            return []
        marks.put(self.name, f"told:{person.user_id}", at)
        note = tr(
            "{name} ({id}) has not changed the group nickname after a reminder",
            name=name,
            id=person.user_id,
        )
        draft = Draft(ActionKind.NOTIFY_OWNER, member_id=person.user_id, text=note)
        return [Outcome(self.name, "tell_admins", {"nickname": name}, [draft])]


# -- auto-reply ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    keywords: tuple[str, ...]
    text: str


@dataclass
class AutoReplyPolicy:
    """Answers to the questions every group hears daily (几点开始, 怎么报名), each at most
    once per `cooldown_s` in a group, so the bot never floods the chat it keeps tidy."""

    answers: tuple[Answer, ...]
    cooldown_s: float = 300.0
    name: str = "auto_reply"

    def read_ahead(self, event: LiveEvent) -> list[str]:
        """When each answer was last given, read for a batch's messages at once (all of a
        group's answers: which one a message asks for is known only once it is matched)."""
        record = event.record
        if not isinstance(record, Message) or not record.text:
            return []
        return [f"answer:{number}" for number in range(len(self.answers))]

    def decide(self, event: LiveEvent, marks: Marks) -> list[Outcome]:
        record = event.record
        if not isinstance(record, Message) or not record.text:
            return []
        text = record.text.casefold()
        for number, answer in enumerate(self.answers):
            if not any(k.casefold() in text for k in answer.keywords):
                continue
            at, key = _at(record.sent_at), f"answer:{number}"
            last = marks.get(self.name, key)
            if last is not None and at - last < self.cooldown_s:
                return [Outcome(self.name, "cooling_down", {"answer": number}, [])]
            marks.put(self.name, key, at)
            draft = Draft(ActionKind.SEND, message_id=record.platform_id, text=answer.text)
            return [Outcome(self.name, "answer", {"answer": number}, [draft])]
        return []


def _context(
    event: LiveEvent,
    message: Message,
    member: str,
    at: float,
    role: str,
    joined_at: float | None,
    edited: bool = False,
) -> Context:
    """What moderation knows of a message beside its words."""
    return Context(
        group=event.group.platform_id,
        member=member,
        at=at,
        joined_at=joined_at,
        role=role,
        kinds=event.kinds,
        images=event.images,
        pictures=event.pictures,
        message=message.platform_id,
        origin=message.origin,
        mentions=message.mentions,
        edited=edited,
    )


def _member_id(
    record: Message
    | MembershipEvent
    | JoinRequest
    | Notice
    | PictureText
    | Edit
    | Reaction
    | Opinion,
) -> str:
    person = record.sender if isinstance(record, Message) else record.member
    return person.user_id or f"name:{person.name}"
