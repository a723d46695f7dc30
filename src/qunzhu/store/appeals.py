"""Members' appeals: a member who wrote to the bot in private that moderation got it wrong.

The warning a removal sends tells the member to say so if it was a mistake; a member who writes
to the bot gets their words attached to the newest thing moderation did to them through that
bot in the last 30 days that nobody answered yet, and the console's appeals show them there. A
member writing again replaces their earlier words; a member nothing was done to is told so.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, func, select, update

from qunzhu.store import schema as t

POLICY = "moderation"
ACTED = ("delete_warn", "mute", "kick", "ban")  # the ladder's steps that did something
APPEAL_DAYS = 30  # how long what moderation did can be appealed (and the console lists it)
TEXT_KEPT = 1000  # characters of what the member wrote


def acted() -> ColumnElement[bool]:
    """Decisions whose step did something. Most decisions did, so this is written as an
    expression no database answers with the step index (made for the few that wait for a
    person): walking back from the newest, or a member's own, finds them faster than reading
    them all through the index and sorting."""
    return func.coalesce(t.decisions.c.step, "").in_(ACTED)


@dataclass(frozen=True)
class Appealed:
    """The decision an appeal went to, and the group it was made in."""

    decision_id: int
    group_name: str


def receive(
    conn: Connection, connector: str, member_id: str, text: str, at_ms: int
) -> Appealed | None:
    """Attach what the member wrote to the newest unanswered decision that acted on them
    through `connector` in the last APPEAL_DAYS days; None where there is none."""
    d, i, ml, g = t.decisions, t.inbox, t.moderation_labels, t.groups
    found = conn.execute(
        select(d.c.id, g.c.name)
        .select_from(
            d.join(i, i.c.id == d.c.inbox_id)
            .join(g, g.c.id == d.c.group_id)
            .outerjoin(ml, ml.c.decision_id == d.c.id)
        )
        .where(
            d.c.policy == POLICY,  # what moderation did, as the console's appeals list it
            i.c.connector == connector,
            d.c.member == member_id,
            d.c.at >= at_ms - APPEAL_DAYS * 86_400_000,
            ml.c.decision_id.is_(None),
            acted(),
        )
        .order_by(d.c.id.desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    a = t.appeals
    words = {"connector": connector, "text": text[:TEXT_KEPT], "at": at_ms}
    if not conn.execute(update(a).where(a.c.decision_id == found.id).values(**words)).rowcount:
        conn.execute(a.insert().values(decision_id=found.id, **words))
    return Appealed(found.id, found.name)
