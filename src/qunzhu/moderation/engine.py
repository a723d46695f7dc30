"""One call, `Detector.check(text)`, returns the verdict and every layer's result.

Explanations are data (tg-spam's detector does the same): each layer adds a `Check` with its own
verdict, score and details, and the decision keeps them all, so an admin sees why a message was
held and the console can show it. Layers run cheapest first; the combined score is the highest
layer score and the verdict the most severe layer's, so one strong signal (a denied domain, a
contact with an ad word) is enough.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from qunzhu.i18n import tr
from qunzhu.moderation.behaviour import (
    Behaviour,
    Context,
    SpamBank,
    TrustBook,
    origin_contacts,
)
from qunzhu.moderation.contacts import Contact, extract
from qunzhu.moderation.images import qr_payloads
from qunzhu.moderation.model import ContentModel
from qunzhu.moderation.normalize import Normalized, normalize
from qunzhu.moderation.verdicts import HAM, REVIEW, SEVERITY, SPAM, Check, Decision
from qunzhu.moderation.wordlists import ACTIONS, DEFAULT_ABUSE, DEFAULT_KEYWORDS, Entry, WordList

REVIEW_FROM, SPAM_FROM = 0.5, 0.8  # combined score thresholds

CONTACT_SCORE = 0.5  # a contact alone deserves a look ...
CONTACT_WITH_WORD_SCORE = 0.9  # ... a contact with an ad word is an ad
QR_WITH_CONTACT_SCORE = 0.9  # a QR code leading to a person, a group or a site
QR_SCORE = 0.6  # any other QR code from someone not yet trusted
LOCK_SCORE = 0.85
COUNTED_KEPT = 2000  # decisions remembered against a retry (a batch holds 500 events at most)
# Many members @-mentioned in one message (tg-spam's mentions limit): each of them is notified,
# which is what an ad pushed at a group wants; QQ's @全体成员 ("all") counts as many. A roll
# call by an organiser reads the same, so alone it is a question; with a contact, an ad.
MENTIONS_MANY = 5
MENTIONS_SCORE = 0.6
MENTIONS_WITH_CONTACT_SCORE = 0.9

# What a newcomer on probation may not post (Shieldy's and tg-spam's "restrict" idea); "link"
# and "qr" are found in the text and pictures, the others are what the platform says the message
# carries (Context.kinds). "buttons": links or actions in buttons under a Telegram message (an
# inline bot's ad); "external_reply": a Telegram reply quoting a message of another chat (an ad
# channel's post shown in the group without a forward).
LOCKABLE = frozenset(
    {
        "link",
        "qr",
        "card",
        "mini_program",
        "forward",
        "buttons",
        "external_reply",
        "image",
        "sticker",
        "file",
        "video",
    }
)
DEFAULT_LOCKED = frozenset(
    {"link", "qr", "card", "mini_program", "forward", "buttons", "external_reply"}
)


class Policy:
    """A group's rules: weighted keywords of ads and of abuse, each with an action of its own
    if it needs one ({"weight": 1.0, "action": "ban"}: a word no one says by accident),
    allowed and denied domains, and what newcomers may not post during their first
    `probation_h` hours."""

    def __init__(
        self,
        keywords: Mapping[str, float | Mapping[str, Any]] | None = None,
        allow_domains: Iterable[str] = (),
        deny_domains: Iterable[str] = (),
        locked: Iterable[str] = DEFAULT_LOCKED,
        probation_h: float = 24.0,
        review_from: float | None = None,
        spam_from: float | None = None,
        abuse: Mapping[str, float | Mapping[str, Any]] | None = None,
    ) -> None:
        """`keywords` and `abuse` replace the built-in lists (None: the built-in ones, an
        empty list: none). `review_from` and `spam_from` move where a score becomes "review"
        and "spam" for this group, for the word lists and the content model alike (None: the
        defaults, and the thresholds the model was trained to)."""
        self._keywords = WordList(DEFAULT_KEYWORDS if keywords is None else keywords)
        self.keywords = self._keywords.entries
        self._abuse = WordList(DEFAULT_ABUSE if abuse is None else abuse)
        self.allow_domains = {d.lower() for d in allow_domains}
        self.deny_domains = {d.lower() for d in deny_domains}
        self.locked = frozenset(locked)
        if unknown := self.locked - LOCKABLE:
            kinds = ", ".join(sorted(unknown))
            raise ValueError(tr("cannot lock {kinds}: not a kind of message", kinds=kinds))
        self.probation_s = probation_h * 3600
        if review_from is not None and spam_from is not None and review_from >= spam_from:
            raise ValueError(tr("review_from must be below spam_from"))
        self.review_from, self.spam_from = review_from, spam_from

    def words(self, n: Normalized) -> dict[str, Entry]:
        """The ad words in the text, each with its weight and action."""
        return self._keywords.find(n)

    def abusive(self, n: Normalized) -> dict[str, Entry]:
        """The words of abuse in the text, each with its weight and action."""
        return self._abuse.find(n)

    def on_probation(self, ctx: Context) -> bool:
        return ctx.joined_at is not None and 0 <= ctx.at - ctx.joined_at < self.probation_s


NAME_SCORE = 0.6  # an ad for a name: a question for a person, never a removal by itself ...
KNOWN_NAME_SCORE = 0.95  # ... unless people said this name (or a text like it) is an ad
_RANK = {verdict: rank for rank, verdict in enumerate(SEVERITY)}


def _model_lines(model: ContentModel, policy: Policy) -> tuple[float, float]:
    """Where the model's score becomes spam and review: a trained model chose its own
    (model.py), unless the group moved them."""
    spam = model.spam_from if policy.spam_from is None else policy.spam_from
    review = model.review_from if policy.review_from is None else policy.review_from
    return spam, review


def _model_check(p: float, lines: tuple[float, float], shown: dict[str, float]) -> Check:
    """The thresholds go with the score: an admin reading "0.91" needs to know where spam
    began."""
    spam, review = lines
    verdict = SPAM if p >= spam else REVIEW if p >= review else HAM
    return Check("content_model", verdict, p, dict(shown))


def _verdict(score: float, policy: Policy) -> str:
    spam = SPAM_FROM if policy.spam_from is None else policy.spam_from
    review = REVIEW_FROM if policy.review_from is None else policy.review_from
    return SPAM if score >= spam else REVIEW if score >= review else HAM


class Detector:
    """The layers in order. Without `behaviour` and `trust` (a TSV, one message at a time) only
    the text layers run; the live runtime passes both, with each message's `Context`."""

    def __init__(
        self,
        policy: Policy | None = None,
        model: ContentModel | None = None,
        behaviour: Behaviour | None = None,
        trust: TrustBook | None = None,
        bank: SpamBank | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.model = model
        self.behaviour = behaviour
        self.trust = trust
        self.bank = bank
        # The decisions of the last messages the memory layers counted, by group and message
        # id: a batch that failed after them is processed again, and its messages must not be
        # counted twice (a flood, a repeat, a cross-group copy, a clean message towards trust)
        # nor be judged by what the failed try had noted of themselves.
        self._counted: OrderedDict[tuple[str, str], Decision] = OrderedDict()

    def check(self, text: str, ctx: Context | None = None) -> Decision:
        return self.check_many([text], [ctx] if ctx else None)[0]

    def forget_members(self, forgotten: Callable[[str], bool]) -> None:
        """Drop what the behaviour and trust layers keep of members just forgotten."""
        for layer in (self.behaviour, self.trust):
            if layer is not None:
                layer.forget_members(forgotten)
        self._counted.clear()  # decisions quote earlier messages: kept a few seconds anyway

    def check_many(
        self, texts: Sequence[str], contexts: Sequence[Context | None] | None = None
    ) -> list[Decision]:
        """Several messages at once, in the order they were sent: the content model scores
        them in one matrix product."""
        normalized = [normalize(t if isinstance(t, str) else str(t)) for t in texts]
        found = [extract(n) for n in normalized]
        model_scores = self.model.scores(normalized, found) if self.model else None
        if self.model is not None:
            lines = _model_lines(self.model, self.policy)
            shown = {"spam_from": round(lines[0], 3), "review_from": round(lines[1], 3)}
        demote = self.model is not None and self.model.combiner is not None
        decisions = []
        for i, n in enumerate(normalized):
            ctx = contexts[i] if contexts else None
            counted = ctx is not None and not ctx.edited  # an edit was counted as it came
            key = (ctx.group, ctx.message) if ctx and counted and ctx.message else None
            if key is not None and key in self._counted:
                decisions.append(self._counted[key])  # judged in a try that failed after it
                continue
            trusted = self.trust.trusted(ctx) if self.trust and ctx else None
            if trusted:  # staff and proven members skip the checks (tg-spam's approved users)
                decisions.append(self._trusted(n, trusted, ctx, demote))
                continue
            contacts = found[i]
            if self.policy.allow_domains:
                contacts = [c for c in contacts if not self._allowed(c)]
            payloads = [p for image in ctx.images for p in qr_payloads(image)] if ctx else []
            heuristic = self._contacts_and_words(n, contacts)
            if demote and heuristic.verdict == SPAM:
                # A model that chose its lines on the community's own messages knows its talk
                # better than a fixed word list (bank notifications say 退订 too): alone, the
                # list can only ask for review. A model trained on a handful keeps the list's.
                heuristic = Check(heuristic.name, REVIEW, heuristic.score, heuristic.details)
            checks = [heuristic, self._domains(contacts)]
            if abuse := self.policy.abusive(n):
                checks.append(self._abuse(abuse, demote))
            if payloads:
                checks.append(self._qr(payloads))
            if ctx is not None and self.policy.on_probation(ctx):
                checks.append(self._locks(ctx, contacts, payloads))
            if ctx is not None and _many_mentioned(ctx):
                checks.append(self._mentions(ctx, contacts))
            if self.model is not None and model_scores is not None:
                score = model_scores[i]
                checks.append(_model_check(score.probability, lines, shown | score.near))
            if self.bank is not None and len(self.bank):
                checks.append(self.bank.match(n))
                if known := _known(self.bank, n, contacts, ctx):
                    checks.append(known)
            if self.trust and ctx and counted:
                checks.append(self.trust.probing(n, ctx))
            if self.behaviour and ctx and counted:
                signals = self.behaviour.observe(n, ctx)
                checks.extend(signals)
                if contacts and any(c.name == "first_message_after_join" for c in signals):
                    newcomer = {"contacts": len(contacts)}
                    checks.append(Check("newcomer_with_contact", SPAM, 0.9, newcomer))
            score = max([c.score for c in checks])
            verdict = SEVERITY[max([_RANK[c.verdict] for c in checks])]
            if self.trust and ctx and counted:
                self.trust.record(n, ctx, verdict)
            decisions.append(Decision(verdict, score, tuple(checks), n.text, n.raw))
            if key is not None and (self.behaviour or self.trust):
                self._counted[key] = decisions[-1]
                if len(self._counted) > COUNTED_KEPT:
                    self._counted.popitem(last=False)
        return decisions

    def _trusted(self, n: Normalized, trusted: str, ctx: Context | None, demote: bool) -> Decision:
        """A trusted sender's message: no check for ads, but manners are everyone's, so the
        words of abuse still count for all but the group's admins (trust is earned, or given
        by a person, for not advertising)."""
        checks = [Check("trust", HAM, 0.0, {"trusted": trusted})]
        admin = ctx is not None and ctx.role in TrustBook.ADMINS
        if not admin and (abuse := self.policy.abusive(n)):
            checks.append(self._abuse(abuse, demote))
        verdict = SEVERITY[max(_RANK[c.verdict] for c in checks)]
        return Decision(verdict, max(c.score for c in checks), tuple(checks), n.text, n.raw)

    def name_check(self, name: str | None) -> Check | None:
        """An ad written into a member's display name ("兼职日结 加V abc12345"), which every
        member reads without the account posting a word (tg-spam checks user names too).
        Counted only where the name carries a contact and the words-and-contacts layer would
        call the same text spam: a contact alone is how some communities ask members to name
        themselves (城市-行业-姓名-电话), and a trade word alone (代购小王) is a shop's name.
        Even then only a question for a person: "杭州-贷款顾问-赵六 139…" reads like an ad and
        may be a member of a business network, named as its rules ask. A name close to one
        people said was an ad (the spam bank: the next account of a bot farm, named the same)
        is spam. A name giving a contact from a confirmed ad is a question, however short
        ("加V abc12345"): it may be a member named by their own number, who advertised once,
        for whom the ladder, not a removal, is the answer."""
        return self._profile_check(name, "display_name", "name")

    def bio_check(self, bio: str | None) -> Check | None:
        """An ad in the member's profile bio, judged as a name is (`name_check`): accounts
        that join, say "你好" or nothing, and wait for members to open their profile. A bio is
        where a real member may well give their WeChat id, so a contact alone is nothing."""
        return self._profile_check(bio, "bio", "bio")

    def request_check(self, answer: str | None) -> Check | None:
        """An ad in a join request's words (QQ's verification answer, Telegram's bio, which
        the request carries), judged as a name is."""
        return self._profile_check(answer, "join_request", "answer")

    def _profile_check(self, said: str | None, check: str, key: str) -> Check | None:
        if not said:
            return None
        n = normalize(said)
        contacts = [c for c in extract(n) if not self._allowed(c)]
        found = self._contacts_and_words(n, contacts)
        shown = {key: said[:80], **found.details}
        if self.bank is not None and len(self.bank):
            alike = self.bank.match(n)
            if alike.verdict == SPAM:
                return Check(check, SPAM, KNOWN_NAME_SCORE, shown | alike.details)
            if given := self.bank.known_contacts(n, contacts):
                return Check(check, REVIEW, NAME_SCORE, shown | given.details)
        if not contacts or found.verdict != SPAM:
            return None
        return Check(check, REVIEW, NAME_SCORE, shown)

    def profile_checks(
        self, name: str | None, bio: str | None = None, request: str | None = None
    ) -> list[Check]:
        """What the member's display name, bio and join request say, the harsher first
        (`name_check`, `bio_check`, `request_check`)."""
        checks = (self.name_check(name), self.bio_check(bio), self.request_check(request))
        found = [c for c in checks if c is not None]
        return sorted(found, key=lambda c: (-_RANK[c.verdict], -c.score))

    def named(self, decision: Decision, name: str | None, bio: str | None = None) -> Decision:
        """A message's decision with its sender's display name and bio checked too
        (`profile_checks`): "大家好" from "兼职日结 加V abc12345" is a question at least, from
        a name people said was an ad spam."""
        checks = self.profile_checks(name, bio)
        if not checks:
            return decision
        verdict = max(decision.verdict, checks[0].verdict, REVIEW, key=SEVERITY.index)
        score = max(decision.score, *(c.score for c in checks))
        both = (*decision.checks, *checks)
        return Decision(verdict, score, both, decision.normalized, decision.raw)

    def _allowed(self, contact: Contact) -> bool:
        """Links to the group's own domains are not contacts to worry about."""
        return contact.kind in ("url", "domain") and any(
            _listed(d, self.policy.allow_domains) for d in _hosts(contact)
        )

    def _contacts_and_words(self, n: Normalized, contacts: list[Contact]) -> Check:
        words = self.policy.words(n)
        word_score = max((weight for weight, _action in words.values()), default=0.0)
        if contacts and words:
            score = max(CONTACT_WITH_WORD_SCORE, word_score)
        elif contacts:
            score = max(CONTACT_SCORE, word_score)
        else:
            score = word_score
        details: dict[str, Any] = {
            "contacts": [_contact(c) for c in contacts],
            "words": sorted(words),
        }
        actions = [action for _weight, action in words.values() if action]
        if actions:  # the harshest wins; the ladder applies it instead of its next rung
            details["action"] = max(actions, key=ACTIONS.index)
        return Check("contacts_and_words", _verdict(score, self.policy), score, details)

    def _abuse(self, words: dict[str, Entry], demote: bool) -> Check:
        """Insults and obscenities (`wordlists.DEFAULT_ABUSE`): the strongest word decides,
        its own action where it has one; never mixed with the ad words, since an insult next
        to a phone number is no ad. Beside a model that chose its lines on the community's
        own messages, only a question, as the ad words are (a group of friends' banter)."""
        score = max(weight for weight, _action in words.values())
        details: dict[str, Any] = {"abusive": sorted(words)}
        actions = [action for _weight, action in words.values() if action]
        if actions:
            details["action"] = max(actions, key=ACTIONS.index)
        verdict = _verdict(score, self.policy)
        return Check("abuse", REVIEW if demote and verdict == SPAM else verdict, score, details)

    def _qr(self, payloads: list[str]) -> Check:
        """A QR code that leads somewhere (a WeChat group, a person, a site) is an ad."""
        inside = [c for p in payloads for c in extract(normalize(p)) if not self._allowed(c)]
        details = {
            "payloads": [p[:200] for p in payloads],
            "contacts": [_contact(c) for c in inside],
        }
        score = QR_WITH_CONTACT_SCORE if inside else QR_SCORE
        return Check("qr_code", _verdict(score, self.policy), score, details)

    def _locks(self, ctx: Context, contacts: list[Contact], payloads: list[str]) -> Check:
        present = set(ctx.kinds)
        if any(c.kind in ("url", "domain") for c in contacts):
            present.add("link")
        if payloads:
            present.add("qr")
        hit = sorted(present & self.policy.locked)
        if not hit:
            return Check("type_lock", HAM, 0.0)
        hours = round((ctx.at - (ctx.joined_at or ctx.at)) / 3600, 1)
        return Check("type_lock", SPAM, LOCK_SCORE, {"locked": hit, "hours_in_group": hours})

    def _mentions(self, ctx: Context, contacts: list[Contact]) -> Check:
        score = MENTIONS_WITH_CONTACT_SCORE if contacts else MENTIONS_SCORE
        details = {"mentioned": len(_others(ctx)), "all": "all" in ctx.mentions}
        return Check("mentions", _verdict(score, self.policy), score, details)

    def _domains(self, contacts: list[Contact]) -> Check:
        denied: list[str] = []
        if contacts and self.policy.deny_domains:
            domains = {c.value for c in contacts if c.kind == "domain"}
            denied = sorted(d for d in domains if _listed(d, self.policy.deny_domains))
        score = 1.0 if denied else 0.0
        return Check("domains", _verdict(score, self.policy), score, {"denied": denied})


def _many_mentioned(ctx: Context) -> bool:
    return "all" in ctx.mentions or len(_others(ctx)) >= MENTIONS_MANY


def _others(ctx: Context) -> set[str]:
    """The members a message mentions, not counting its sender."""
    return set(ctx.mentions) - {ctx.member}


def _known(
    bank: SpamBank, n: Normalized, contacts: list[Contact], ctx: Context | None
) -> Check | None:
    """The known contacts the message gives, and the channel it was forwarded from when that
    is one (a farm forwards its channel's posts in new words each time): only here, not in the
    other layers, where a forward from any news channel would count as a link to it."""
    origin = origin_contacts(ctx.origin) if ctx else []
    known = bank.known_contacts(n, [*contacts, *origin])
    if known is not None and origin:
        given = {(c["kind"], c["value"]) for c in known.details["contacts"]}
        if (origin[0].kind, origin[0].value) in given:
            known.details["origin"] = origin[0].value
    return known


def _hosts(contact: Contact) -> list[str]:
    if contact.kind == "domain":
        return [contact.value]
    host = contact.value.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return [host.lower()]


def _listed(domain: str, listed: set[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in listed)


def _contact(c: Contact) -> dict[str, str]:
    return {"kind": c.kind, "value": c.value}
