"""Who posts what, how fast and where: the layers that need memory of earlier messages.

A text alone cannot show a flood, a member repeating themselves, or the same ad dropped into
every group of a community (no anchor bot does this last one: each guards one group). These
checks keep short windows of recent activity, bounded in time, so memory stays flat however long
the process runs. Near-identical texts across groups are found with MinHash-LSH over character
3-grams of the separator-free text, so "加V abc" and "加 v . abc !" collide.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qunzhu.moderation.contacts import Contact, extract
from qunzhu.moderation.normalize import Normalized
from qunzhu.moderation.verdicts import HAM, REVIEW, SPAM, Check

FLOOD_WINDOW_S, FLOOD_COUNT = 60, 10  # more than this many messages a minute is a flood
REPEAT_WINDOW_S, REPEAT_COUNT = 600, 3  # the same text this often in ten minutes
CROSS_WINDOW_S, CROSS_GROUPS = 24 * 3600, 3  # near-identical text in this many groups a day
# a member's copies posted before their campaign was called spam, listed with its decision to be
# taken down too (the first ones, which stayed up: later ones are spam themselves)
EARLIER_KEPT = 20
# the contacts of a confirmed ad that mark its sender: not its links' domains, nor links to a
# whole site, which an ad shares with everyone (a public account's articles, a shop's platform)
KNOWN_CONTACT_KINDS = frozenset({"phone", "qq", "wechat", "telegram", "url", "code"})
KNOWN_CONTACT_SCORE = 0.95
# ... unless the message warns the group about it ("别加 abc12345，骗子"): members do that with
# a scammer's id, and a person then decides
# words of a member warning the group about a contact ("别加 abc12345，骗子"; not "别信", "谨防":
# an ad says "认准本号，谨防假冒")
WARNINGS = (
    "骗子",
    "诈骗",
    "被骗",
    "骗人",
    "骗钱",
    "别加",
    "不要加",
    "小心",
    "警惕",
    "曝光",
    "举报",
    "拉黑",
    "是假的",
    "上当",
)
WARNING_SCORE = 0.6
# a known id this long is found written alone too; a number only from BARE_MIN_DIGITS (a
# short one is also an order number, a price, a room: 123456)
BARE_MIN_CHARS, BARE_MIN_DIGITS = 6, 8
JOINS_KEPT_S = 3600  # newcomers remembered across the community (a raid's window is shorter)
CROSS_MIN_CHARS = 12  # shorter texts ("早上好", "收到") are alike everywhere by nature
CROSS_SIMILARITY, PERMUTATIONS = 0.7, 64  # Jaccard of 3-grams; one word changed stays above
SAME_PICTURE_BITS = 6  # fingerprints this close (of 64 bits) are one picture, recompressed
# a fingerprint is indexed by its 8 bytes: two within SAME_PICTURE_BITS share at least 2 of them
BANDS, SHARED_BANDS = 8, 2
NEWCOMER_S = 600  # a first message this soon after joining is the classic drive-by ad

if TYPE_CHECKING:
    from datasketch import MinHash, MinHashLSH


@dataclass(frozen=True, slots=True)
class Context:
    """Who sent a message, where and when (seconds since the epoch), and what came with the
    text, as the platform says: `kinds` such as "image", "sticker", "card", "mini_program",
    "forward", "buttons", "external_reply", "file", "video"; `images` the bytes of pictures
    where the platform hands them over (QR codes are read from them), `pictures` their
    fingerprints (`images.fingerprints`: the store keeps those, not the bytes, so a restart
    can give the behaviour layer its day back)."""

    group: str
    member: str
    at: float
    joined_at: float | None = None
    role: str = "member"
    kinds: frozenset[str] = frozenset()
    images: tuple[bytes, ...] = ()
    pictures: tuple[int, ...] = ()
    message: str = ""  # the platform's id of the message, where there is one
    origin: str = ""  # the Telegram channel or user it was forwarded from (Message.origin)
    mentions: tuple[str, ...] = ()  # whom it @-mentions (Message.mentions; QQ's @全体成员 "all")
    edited: bool = False  # a message judged again as edited: counted once, when it came


def stickers_only(kinds: frozenset[str]) -> bool:
    """Whether a message's pictures are all what the platform calls stickers (QQ's 表情):
    memes that travel between groups by nature, so neither counted as one picture going round
    nor read for text; they are still compared with pictures people said were ads, and their
    QR codes still read."""
    return "sticker" in kinds and "image" not in kinds


def _index() -> MinHashLSH:
    """datasketch is imported here, not at the top: it pulls in scipy (1.7 s), which a
    one-off `qunzhu moderation check` without behaviour layers should not wait for."""
    from datasketch import MinHashLSH

    return MinHashLSH(threshold=CROSS_SIMILARITY, num_perm=PERMUTATIONS)


def shingles(n: Normalized) -> MinHash:
    """MinHash of the character 3-grams of the separator-free text. The behaviour layer and
    the spam bank both ask for the message being checked: the last few are remembered."""
    return _sketch(n.compact)


@functools.lru_cache(maxsize=64)
def _sketch(text: str) -> MinHash:
    from datasketch import MinHash

    # the permutations drawn once: a MinHash draws its own at every construction (115 µs of
    # the 150 a message took), the same ones each time for the same seed
    base = _permutations()
    sketch = MinHash(num_perm=PERMUTATIONS, permutations=base.permutations, scheme=base.scheme)
    sketch.update_batch([text[i : i + 3].encode() for i in range(max(1, len(text) - 2))])
    return sketch


@functools.cache
def _permutations() -> MinHash:
    from datasketch import MinHash

    return MinHash(num_perm=PERMUTATIONS)


class SpamBank:
    """Texts admins confirmed as spam; a new message close to one of them is spam too, however
    it was reworded to slip past the words and the model. And their contacts (KNOWN_CONTACT_
    KINDS): a farm rewrites its ads but keeps the WeChat id it sells through, so a message or
    a poster giving a known one is spam, however short or new its wording, even with no marker
    before it ("找 abc12345"); one warning the group about it is a question (the detector asks
    about a display name giving one). A "not spam" takes the texts close to it, and its
    contacts, out again. The console's labels arrive while the engine checks messages in its
    own thread, hence the lock."""

    def __init__(self) -> None:
        self._lsh = _index()
        self._texts: dict[str, str] = {}  # LSH key -> the confirmed text
        # -> the confirmed text it was in, and the decision people confirmed (where known)
        self._contacts: dict[Contact, tuple[str, int | None]] = {}
        self._written: Any = None  # an automaton of the ids and numbers among them, bare
        self._keys = itertools.count()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._texts) + len(self._contacts)

    def add(self, n: Normalized, decision: int | None = None, origin: str = "") -> int:
        """Keep a confirmed ad (of this decision, where known), and the channel it was
        forwarded from (`origin`: the farm's channel is its contact too); how many of its
        contacts are new to the bank."""
        marks = [c for c in extract(n) if c.kind in KNOWN_CONTACT_KINDS and not _shared(c)]
        marks += origin_contacts(origin)
        with self._lock:
            new = sum(c not in self._contacts for c in marks)
            self._contacts.update(dict.fromkeys(marks, (n.text[:80], decision)))
            if new:
                self._written = _bare(self._contacts)
        if len(n.compact) < CROSS_MIN_CHARS:
            return new
        sketch = shingles(n)
        with self._lock:
            key = str(next(self._keys))
            self._lsh.insert(key, sketch)
            self._texts[key] = n.compact
        return new

    def learn(
        self, n: Normalized, spam: bool, decision: int | None = None, origin: str = ""
    ) -> None:
        """A person's answer on a text (forwarded from `origin`, if any): spam keeps it and
        its contacts, not spam takes back the texts alike and the contacts it gives."""
        if spam:
            self.add(n, decision, origin)
        else:
            self.remove_like(n, origin)

    def remove_like(self, n: Normalized, origin: str = "") -> int:
        """Take out every text close to this one, and the known contacts it gives (as
        contacts or bare: the ones a decision it is the answer to was made on; the channel
        it was forwarded from); how many went."""
        with self._lock:
            given = {*extract(n), *self._written_in(n), *origin_contacts(origin)}
            gone = sum(self._contacts.pop(c, None) is not None for c in given)
            if gone:
                self._written = _bare(self._contacts)
        if len(n.compact) < CROSS_MIN_CHARS:
            return gone
        sketch = shingles(n)
        with self._lock:
            found = self._lsh.query(sketch)
            for key in found:
                self._lsh.remove(key)
                del self._texts[key]
        return gone + len(found)

    def clear(self) -> None:
        with self._lock:
            self._lsh = _index()
            self._texts.clear()
            self._contacts.clear()
            self._written = None

    def known_contacts(self, n: Normalized, contacts: Sequence[Contact]) -> Check | None:
        """Spam where the message gives a contact from a confirmed ad, as a contact or as a
        bare id or number (a question where it warns about it: WARNINGS); None where it gives
        none."""
        with self._lock:
            known = {
                c: self._contacts[c][0]
                for c in [*contacts, *self._written_in(n)]
                if c in self._contacts
            }
        if not known:
            return None
        details: dict[str, Any] = {
            "contacts": [{"kind": c.kind, "value": c.value} for c in known],
            "like": next(iter(known.values())),
        }
        if warning := next((w for w in WARNINGS if w in n.compact), None):
            return Check("known_contact", REVIEW, WARNING_SCORE, details | {"warning": warning})
        return Check("known_contact", SPAM, KNOWN_CONTACT_SCORE, details)

    def contacts(self) -> list[tuple[Contact, str, int | None]]:
        """The known contacts, each with the confirmed text it was in and its decision."""
        with self._lock:
            return [(c, text, decision) for c, (text, decision) in self._contacts.items()]

    def _written_in(self, n: Normalized) -> list[Contact]:
        """The known ids and numbers written bare in the message (the lock held)."""
        found = []
        if self._written is not None:
            for text in (n.text, n.compact):
                for end, contact in self._written.iter(text):
                    if _alone(text, end + 1 - len(contact.value), end):
                        found.append(contact)
        return found

    def match(self, n: Normalized) -> Check:
        if len(n.compact) < CROSS_MIN_CHARS or not self._texts:
            return Check("spam_bank", HAM, 0.0)
        sketch = shingles(n)
        with self._lock:
            found = self._lsh.query(sketch)
            like = self._texts[min(found, key=int)] if found else ""
        if not found:
            return Check("spam_bank", HAM, 0.0)
        return Check("spam_bank", SPAM, 0.95, {"like": like[:80]})


def _earlier(copies: list[list[str]]) -> dict[str, Any]:
    """A campaign check's detail naming the member's earlier copies ([group, message], oldest
    first), for the engine to take down with this one; nothing where there are none."""
    return {"earlier": copies} if copies else {}


def earlier_copies(checks: Sequence[Check]) -> list[tuple[str, str]]:
    """(group, message) of the earlier copies a decision's campaign checks name (`_earlier`),
    each once."""
    found = (tuple(pair) for c in checks for pair in c.details.get("earlier", ()))
    return list(dict.fromkeys((str(g), str(m)) for g, m in found))


def origin_contacts(origin: str) -> list[Contact]:
    """The contact a forwarded message's origin is (`Message.origin`): a Telegram handle or
    private chat, as `extract` reads one from its t.me link, so a confirmed ad forwarded from a
    channel and a later message linking that channel meet."""
    return [Contact("telegram", origin.lower())] if origin else []


def _shared(contact: Contact) -> bool:
    """A contact that marks no sender: a link to a whole site, not to a page ("wap.10010.com",
    "https://shop.example/": a carrier's or a shop's address is in its notices as in its
    promotions), or a 400/800 hotline (a registered company's, which phishing quotes beside
    its own link to look genuine: "your card is frozen, call 400-820-8820 or log in at …")."""
    if contact.kind == "phone":
        return len(contact.value) == 10 and contact.value.startswith(("400", "800"))
    if contact.kind != "url":
        return False
    rest = contact.value.split("://", 1)[-1]
    return not rest.split("/", 1)[-1].strip("/") if "/" in rest else True


def _bare(contacts: dict[Contact, Any]) -> Any:
    """An Aho-Corasick automaton of the known ids and numbers (not links, which are only
    known as themselves), for any number of them in one pass over a message; None for none."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for contact in contacts:
        least = BARE_MIN_DIGITS if contact.value.isdigit() else BARE_MIN_CHARS
        if contact.kind != "url" and len(contact.value) >= least:
            automaton.add_word(contact.value, contact)
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _alone(text: str, start: int, end: int) -> bool:
    """Whether text[start:end + 1] is not part of a longer id or number."""
    before = text[start - 1] if start > 0 else ""
    after = text[end + 1] if end + 1 < len(text) else ""
    return before not in _ID_CHARS and after not in _ID_CHARS


class Behaviour:
    """Recent activity per member and group, and a community-wide index of recent texts, and
    the community's newcomers of the last hour (join raids spread over its groups)."""

    def __init__(self) -> None:
        self._joins: deque[tuple[float, str, str]] = deque()  # (at, group, member), oldest first
        self._times: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        # (at, digest of the text, message id) per member and group
        self._texts: dict[tuple[str, str], deque[tuple[float, str, str]]] = defaultdict(deque)
        self._spoken: set[tuple[str, str]] = set()
        self._lsh = _index()
        # key -> (group, member, at, message id)
        self._posted: dict[str, tuple[str, str, float, str]] = {}
        self._expiry: deque[tuple[float, str]] = deque()
        self._keys = itertools.count()
        # pictures of the last CROSS_WINDOW_S: id -> (at, group, member, fingerprint, message),
        # the ids oldest first, and per byte of a fingerprint the ids having that value there
        self._pictures: dict[int, tuple[float, str, str, int, str]] = {}
        self._picture_order: deque[int] = deque()
        self._bands: list[defaultdict[int, set[int]]] = [defaultdict(set) for _ in range(BANDS)]
        self._spam_pictures: list[int] = []  # pictures people said were ads, however old
        self._fine_pictures: list[int] = []  # ... and said were not: no more questions
        self._asked: dict[int, float] = {}  # pictures put to the admins today -> when
        self._asked_texts: set[str] = set()  # the day's texts (LSH keys) put to the admins

    def observe(self, n: Normalized, ctx: Context) -> list[Check]:
        """Record the message and return what its sender's recent behaviour says."""
        self._expire(ctx.at)
        who = (ctx.group, ctx.member)
        signals = [self._flood(who, ctx.at), self._repeat(who, n, ctx)]
        signals.append(self._cross_group(n, ctx))
        if ctx.pictures:
            signals.append(self._same_picture(ctx))
        first = who not in self._spoken
        self._spoken.add(who)
        if first and ctx.joined_at is not None and 0 <= ctx.at - ctx.joined_at <= NEWCOMER_S:
            signals.append(
                Check("first_message_after_join", HAM, 0.3, {"seconds": ctx.at - ctx.joined_at})
            )
        return [s for s in signals if s.score > 0]

    def _flood(self, who: tuple[str, str], at: float) -> Check:
        times = self._times[who]
        times.append(at)
        while times and times[0] < at - FLOOD_WINDOW_S:
            times.popleft()
        n = len(times)
        if n > 2 * FLOOD_COUNT:
            return Check("flood", SPAM, 0.9, {"per_minute": n})
        if n > FLOOD_COUNT:
            return Check("flood", REVIEW, 0.6, {"per_minute": n})
        return Check("flood", HAM, 0.0)

    def _repeat(self, who: tuple[str, str], n: Normalized, ctx: Context) -> Check:
        texts = self._texts[who]
        digest = hashlib.blake2b(n.compact.encode("utf-8", "ignore"), digest_size=8).hexdigest()
        texts.append((ctx.at, digest, ctx.message))
        while texts and texts[0][0] < ctx.at - REPEAT_WINDOW_S:
            texts.popleft()
        same = [message for _t, d, message in texts if d == digest]
        if not n.compact or len(same) < REPEAT_COUNT:
            return Check("repeat", HAM, 0.0)
        if len(same) < 2 * REPEAT_COUNT:
            return Check("repeat", REVIEW, 0.6, {"times": len(same)})
        earlier = [[ctx.group, m] for m in same if m and m != ctx.message][:EARLIER_KEPT]
        return Check("repeat", SPAM, 0.9, {"times": len(same)} | _earlier(earlier))

    def _cross_group(self, n: Normalized, ctx: Context) -> Check:
        """The same text (or nearly) in many groups of the community within a day, as for
        pictures (`_same_picture`): one member's in three groups is spam, in two a question;
        posted by different members in three groups only a question, asked once a day per
        text (a notice or a joke travels between groups by different hands: the admins'
        "spam" makes it a known ad, spam wherever it comes again, and takes the day's copies
        down: `texts_like`)."""
        if len(n.compact) < CROSS_MIN_CHARS:
            return Check("cross_group", HAM, 0.0)
        sketch = shingles(n)
        found = self._lsh.query(sketch)
        groups, own_groups = {ctx.group}, {ctx.group}
        own: list[tuple[float, str, str]] = []  # the member's earlier copies
        for key in found:
            group, member, at, message = self._posted[key]
            groups.add(group)
            if member == ctx.member:
                own_groups.add(group)
                if message and (group, message) != (ctx.group, ctx.message):
                    own.append((at, group, message))
        key = str(next(self._keys))
        self._lsh.insert(key, sketch)
        self._posted[key] = (ctx.group, ctx.member, ctx.at, ctx.message)
        self._expiry.append((ctx.at, key))
        if len(own_groups) >= CROSS_GROUPS:
            earlier = [[group, message] for _at, group, message in sorted(own)[:EARLIER_KEPT]]
            shown = {"groups": len(own_groups), "same_member": True} | _earlier(earlier)
            return Check("cross_group", SPAM, 0.9, shown)
        if len(own_groups) > 1 or len(groups) >= CROSS_GROUPS:
            asked = not self._asked_texts.isdisjoint(found)
            self._asked_texts.update([*found, key])
            if asked:  # asked once: the answer decides them all
                return Check("cross_group", HAM, 0.0)
            return Check("cross_group", REVIEW, 0.5, {"groups": len(groups)})
        return Check("cross_group", HAM, 0.0)

    def joined(self, group: str, member: str, at: float) -> None:
        """A newcomer in one of the community's groups (`RaidPolicy` says so)."""
        self._joins.append((at, group, member))
        while self._joins and self._joins[0][0] < at - JOINS_KEPT_S:
            self._joins.popleft()

    def newcomers_since(self, since: float) -> int:
        """The community's newcomers from `since` on (the last hour at most): one account
        joining three groups is three newcomers, as each group sees it."""
        return len({(group, member) for at, group, member in self._joins if at >= since})

    def _same_picture(self, ctx: Context) -> Check:
        """One picture in many groups of the community within a day: an ad account dropping
        the same poster everywhere, which no text check sees. One member's picture in three
        groups is spam, in two a question for the admins; posted by different members in
        three groups it is only a question (a popular picture travels between groups by
        different hands; an admin's "spam" then makes it a known ad, removed wherever it comes
        again, and takes down the day's copies). A question is asked once a day per picture:
        the tenth group's copy of a meme does not make the tenth question. Small pictures
        (stickers, memes) have no fingerprint, so are not counted."""
        prints = set(ctx.pictures)
        if stickers_only(ctx.kinds):
            return self._known_picture(prints) or Check("same_picture", HAM, 0.0)
        groups, own = {ctx.group}, {ctx.group}
        for print_ in prints:
            for key in self._like(print_):
                _at, group, member, _seen, _message = self._pictures[key]
                groups.add(group)
                if member == ctx.member:
                    own.add(group)
        for print_ in prints:
            key = next(self._keys)
            self._pictures[key] = (ctx.at, ctx.group, ctx.member, print_, ctx.message)
            self._picture_order.append(key)
            for band, value in enumerate(print_.to_bytes(BANDS)):
                self._bands[band][value].add(key)
        if known := self._known_picture(prints):
            return known
        if len(own) >= CROSS_GROUPS:
            return Check("same_picture", SPAM, 0.9, {"groups": len(own), "same_member": True})
        if len(own) > 1 or len(groups) >= CROSS_GROUPS:
            if any(_near(p, q) for p in prints for q in self._asked):
                return Check("same_picture", HAM, 0.0)  # asked once: the answer decides them all
            self._asked.update(dict.fromkeys(prints, ctx.at))
            return Check("same_picture", REVIEW, 0.6, {"groups": len(groups)})
        return Check("same_picture", HAM, 0.0)

    def _known_picture(self, prints: set[int]) -> Check | None:
        """What people said of these pictures: an ad wherever it goes, or fine (no more
        questions); None where they said nothing of them."""
        if any(_near(p, q) for p in prints for q in self._spam_pictures):
            return Check("same_picture", SPAM, 0.95, {"known_ad": True})
        if prints and all(any(_near(p, q) for q in self._fine_pictures) for p in prints):
            return Check("same_picture", HAM, 0.0)
        return None

    def _like(self, print_: int) -> list[int]:
        """The recent pictures within SAME_PICTURE_BITS of this fingerprint: only those that
        share SHARED_BANDS of its bytes are compared (6 flipped bits leave 2 of 8 bytes as
        they were), so a day of 100,000 pictures is not read for each new one."""
        shared: Counter[int] = Counter()
        for band, value in enumerate(print_.to_bytes(BANDS)):
            shared.update(self._bands[band].get(value, ()))
        return [
            key
            for key, n in shared.items()
            if n >= SHARED_BANDS and _near(self._pictures[key][3], print_)
        ]

    def texts_like(self, n: Normalized) -> list[tuple[str, str, str]]:
        """(group, message, member) of the day's messages alike to this text (the copies of
        an ad people have just confirmed, posted by other hands before anyone answered)."""
        if len(n.compact) < CROSS_MIN_CHARS:
            return []
        found = {
            (group, message, member)
            for key in self._lsh.query(shingles(n))
            for group, member, _at, message in [self._posted[key]]
            if message
        }
        return sorted(found)

    def copies_of(self, prints: Sequence[int]) -> list[tuple[str, str, str]]:
        """(group, message, member) of the day's messages carrying one of these pictures."""
        found = {
            (group, message, member)
            for p in prints
            for key in self._like(p)
            for _at, group, member, _seen, message in [self._pictures[key]]
            if message
        }
        return sorted(found)

    def learn_pictures(self, prints: Sequence[int], spam: bool) -> None:
        """A person said a message with these pictures was an ad (the same picture is spam
        from now on, in every group of the community), or was not (it is not, and its spread
        over groups is no longer asked about)."""
        learnt, other = (
            (self._spam_pictures, self._fine_pictures)
            if spam
            else (self._fine_pictures, self._spam_pictures)
        )
        other[:] = [q for q in other if not any(_near(p, q) for p in prints)]
        learnt.extend(p for p in prints if p not in learnt)

    def forget_learnt_pictures(self) -> None:
        self._spam_pictures.clear()
        self._fine_pictures.clear()

    def forget_members(self, forgotten: Callable[[str], bool]) -> None:
        """Drop what is kept of members just forgotten (`qunzhu forget`): their recent
        messages' times and digests, the texts and pictures they posted today (no later copy
        then points at theirs), their joins."""
        ask = functools.cache(forgotten)
        for who in [w for w in {*self._times, *self._texts, *self._spoken} if ask(w[1])]:
            self._times.pop(who, None)
            self._texts.pop(who, None)
            self._spoken.discard(who)
        self._joins = deque(j for j in self._joins if not ask(j[2]))
        posted = {key for key, (_g, member, _at, _m) in self._posted.items() if ask(member)}
        for key in posted:
            self._lsh.remove(key)
            del self._posted[key]
            self._asked_texts.discard(key)
        self._expiry = deque(e for e in self._expiry if e[1] not in posted)
        pictures = {key for key, p in self._pictures.items() if ask(p[2])}
        for key in pictures:
            _at, _group, _member, print_, _message = self._pictures.pop(key)
            self._drop_bands(key, print_)
        self._picture_order = deque(k for k in self._picture_order if k not in pictures)

    def _drop_bands(self, key: int, print_: int) -> None:
        for band, value in enumerate(print_.to_bytes(BANDS)):
            ids = self._bands[band][value]
            ids.discard(key)
            if not ids:
                del self._bands[band][value]

    def _expire(self, now: float) -> None:
        for print_, at in list(self._asked.items()):
            if at < now - CROSS_WINDOW_S:
                del self._asked[print_]
        while (
            self._picture_order and self._pictures[self._picture_order[0]][0] < now - CROSS_WINDOW_S
        ):
            key = self._picture_order.popleft()
            _at, _group, _member, print_, _message = self._pictures.pop(key)
            self._drop_bands(key, print_)
        while self._expiry and self._expiry[0][0] < now - CROSS_WINDOW_S:
            _at, key = self._expiry.popleft()
            self._lsh.remove(key)
            del self._posted[key]
            self._asked_texts.discard(key)
        if len(self._times) > 10_000:  # forget members quiet for longer than every window
            quiet = [w for w, t in self._times.items() if not t or t[-1] < now - REPEAT_WINDOW_S]
            for who in quiet:
                self._times.pop(who, None)
                self._texts.pop(who, None)


def _near(a: int, b: int) -> bool:
    return (a ^ b).bit_count() <= SAME_PICTURE_BITS


class TrustBook:
    """tg-spam's "first messages" idea: a member is checked until they have posted
    `clean_messages` clean messages over at least `hours`; a spam verdict starts them over.
    Staff are trusted from the start.

    Short messages ("在吗", "1", a sticker) do not count towards trust, or a spammer could earn
    it with "好的" five times and then post the ad; a member who has posted only short
    messages, many of them, is probing the group and gets a look (tg-spam's short-message
    flood). Only a look: shy newcomers write "谢谢" and "收到" too."""

    ADMINS = frozenset({"owner", "vice_owner", "duty_owner", "admin"})
    STAFF = ADMINS | {"approved"}  # and members a person trusted
    EARNED = "earned"  # the role of a member who earned trust before (the caller remembers)
    SHORT_CHARS = 5  # fewer characters than this, once separators are gone, is short
    PROBING = 8  # this many short messages and nothing longer yet

    def __init__(self, clean_messages: int = 5, hours: float = 24) -> None:
        self.clean_messages = clean_messages
        self.seconds = hours * 3600
        self._clean: dict[tuple[str, str], tuple[int, float]] = {}  # -> (count, first clean at)
        self._short: dict[tuple[str, str], int] = {}  # members who have posted only short ones

    def probing(self, n: Normalized, ctx: Context) -> Check:
        """Count a short message from a member who has said nothing longer yet."""
        who = (ctx.group, ctx.member)
        if len(n.compact) >= self.SHORT_CHARS:
            self._short[who] = -1  # said something real: never a prober
            return Check("short_probing", HAM, 0.0)
        if self._short.get(who, 0) < 0:
            return Check("short_probing", HAM, 0.0)
        count = self._short[who] = self._short.get(who, 0) + 1
        if count >= self.PROBING:
            return Check("short_probing", REVIEW, 0.6, {"short_messages": count})
        return Check("short_probing", HAM, 0.0)

    def trusted(self, ctx: Context) -> str | None:
        """Why the sender is trusted ("staff", "earned"), or None."""
        if ctx.role in self.STAFF:
            return "staff"
        if ctx.role == self.EARNED:
            return "earned"
        count, since = self._clean.get((ctx.group, ctx.member), (0, ctx.at))
        if count >= self.clean_messages and ctx.at - since >= self.seconds:
            return "earned"
        return None

    def forget(self, group: str, member: str) -> None:
        """Drop what was counted for the member: the caller keeps earned trust from now on (in
        the store), so taking it back there makes them start over."""
        self._clean.pop((group, member), None)
        self._short.pop((group, member), None)

    def forget_members(self, forgotten: Callable[[str], bool]) -> None:
        """Members just forgotten (`qunzhu forget`) start over."""
        for book in (self._clean, self._short):
            for who in [w for w in book if forgotten(w[1])]:
                del book[who]

    def record(self, n: Normalized, ctx: Context, verdict: str) -> None:
        who = (ctx.group, ctx.member)
        if verdict == SPAM:
            self._clean.pop(who, None)
        elif verdict == HAM and len(n.compact) >= self.SHORT_CHARS:
            count, since = self._clean.get(who, (0, ctx.at))
            self._clean[who] = (count + 1, since)
