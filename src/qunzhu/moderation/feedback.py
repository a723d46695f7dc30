"""What people said about the detector's decisions, as training data for the content model.

The console's moderation queue writes one `moderation_labels` row per decision a person looked
at, with the message's text as it was judged. "spam" and a rejected appeal (the action stood)
say the text is spam; "ham" and an upheld appeal (the action was wrong) say it is not. "ban_only"
is about the person, not the text, so it teaches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, func, select

from qunzhu.moderation.behaviour import SpamBank
from qunzhu.moderation.normalize import normalize
from qunzhu.store import schema as t

SPAM_LABELS = frozenset({"spam", "appeal_rejected"})
HAM_LABELS = frozenset({"ham", "appeal_upheld"})
LABELS = ("spam", "ham", "ban_only", "appeal_upheld", "appeal_rejected")
TEACHING = sorted(SPAM_LABELS | HAM_LABELS)  # the labels that say what a text is


def labelled(labels: Iterable[HumanLabel]) -> list[tuple[int, str]]:
    """(1 for spam, 0 for ham, text) of the labels with a text, as the content model learns
    them: a picture alone has no text to learn from."""
    return [(int(v.spam), v.text) for v in labels if v.text.strip()]


def bank_of(labels: Iterable[HumanLabel]) -> SpamBank:
    """Labels (`labels_since`) as the running engine's spam bank holds them, in the order
    given: the confirmed ads' texts and contacts, and the channels they were forwarded from,
    less what a "not spam" took back."""
    bank = SpamBank()
    for v in labels:
        bank.learn(normalize(v.text), v.spam, v.decision_id, v.origin)
    return bank


@dataclass(frozen=True, slots=True)
class HumanLabel:
    """A person's spam / not-spam word on one decision, and the community of its group: what
    the running engine's spam bank learns from."""

    at: int
    decision_id: int
    spam: bool
    text: str
    community: str | None
    pictures: tuple[int, ...] = ()  # fingerprints of the message's pictures, where known
    group: str | None = None  # the platform's ids of the group and message judged
    record: str | None = None
    named: bool = False  # the decision was about the member's display name
    origin: str = ""  # the Telegram channel or user the message was forwarded from


def stamp(conn: Connection, group_ids: Iterable[int] | None = None) -> tuple[int, int | None]:
    """How many spam and not-spam labels there are (of `group_ids`, when given), and the
    newest one's time: changes whenever one is added or removed (a forgotten member takes
    theirs along)."""
    ml, d = t.moderation_labels, t.decisions
    query = select(func.count(), func.max(ml.c.at)).where(ml.c.label.in_(TEACHING))
    if group_ids is not None:
        query = query.join_from(ml, d, d.c.id == ml.c.decision_id).where(
            d.c.group_id.in_(list(group_ids))
        )
    count, last = conn.execute(query).one()
    return int(count), last


def labels_since(
    conn: Connection, at: int | None, group_ids: Iterable[int] | None = None
) -> list[HumanLabel]:
    """Spam and not-spam labels from `at` on (all when None), oldest first; only those of
    `group_ids` when given (one community's groups, a user's)."""
    ml, d, g, c = t.moderation_labels, t.decisions, t.groups, t.communities
    query = (
        select(
            ml.c.at,
            ml.c.decision_id,
            ml.c.label,
            ml.c.text,
            c.c.name,
            d.c.reasons,
            g.c.platform_id,
            d.c.record_id,
        )
        .select_from(
            ml.join(d, d.c.id == ml.c.decision_id)
            .join(g, g.c.id == d.c.group_id)
            .outerjoin(c, c.c.id == g.c.community_id)
        )
        .where(ml.c.label.in_(TEACHING))
        .order_by(ml.c.at, ml.c.decision_id)
    )
    if at is not None:
        query = query.where(ml.c.at >= at)
    if group_ids is not None:
        query = query.where(d.c.group_id.in_(list(group_ids)))
    return [
        HumanLabel(
            row.at,
            row.decision_id,
            row.label in SPAM_LABELS,
            row.text or "",
            row.name,
            _pictures(row.reasons),
            row.platform_id,
            row.record_id,
            '"display_name"' in (row.reasons or ""),
            _origin(row.reasons),
        )
        for row in conn.execute(query)
    ]


def _pictures(reasons: str | None) -> tuple[int, ...]:
    """The picture fingerprints a decision kept (hex), unreadable ones left out."""
    found = _reason(reasons, "pictures")
    if not isinstance(found, list):
        return ()
    try:
        return tuple(int(p, 16) for p in found if isinstance(p, str))
    except ValueError:
        return ()


def _origin(reasons: str | None) -> str:
    """The channel or user a decision's message was forwarded from, as it kept it ("")."""
    found = _reason(reasons, "origin")
    return found if isinstance(found, str) else ""


def _reason(reasons: str | None, key: str) -> object:
    """One entry of a decision's stored reasons; None where it has none or they are odd."""
    if not reasons or f'"{key}"' not in reasons:
        return None
    try:
        kept = orjson.loads(reasons)
    except orjson.JSONDecodeError:
        return None
    return kept.get(key) if isinstance(kept, dict) else None
