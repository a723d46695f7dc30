"""The console's pages: the overview of every group, and one group's page."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import and_, or_, select

from qunzhu.i18n import lang, tr
from qunzhu.moderation.labels import check_names
from qunzhu.reports.html import (
    group_view,
    kind_names,
    page_labels,
    platform_names,
    script_json,
    stage_names,
)
from qunzhu.store import schema as t
from qunzhu.web import auth, lockdowns, moderation, overview
from qunzhu.web.app import groups_of, render, visible
from qunzhu.web.times import moment

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, user: auth.PageUser) -> HTMLResponse:
    with auth.engine_of(request).connect() as conn:
        ids = groups_of(request, user)
        cards, end = overview.cards(conn, ids)
        waiting = moderation.waiting(conn, ids)
    return render(
        request,
        "overview.html",
        {
            "cards": [_card(c) for c in cards],
            "waiting": waiting,
            "as_of": overview.local_date(end),
            "totals": {
                "groups": len(cards),
                "members": sum(c.members for c in cards),
                "messages_7d": sum(c.messages_7d for c in cards),
                "ads_removed_7d": sum(c.ads_removed_7d for c in cards),
            },
        },
        user,
    )


def _card(card: overview.GroupCard) -> dict[str, Any]:
    peak = max(card.spark) or 1
    points = " ".join(f"{i * 6},{20 - round(v / peak * 18)}" for i, v in enumerate(card.spark))
    return {
        **card.as_dict(),
        "points": points,
        "platform_name": platform_names().get(card.platform, card.platform),
        "kind_name": kind_names().get(card.kind or ""),  # "unknown" shows as a dash
        "stage_name": stage_names().get(card.stage or "", card.stage),
    }


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(request: Request, group_id: auth.Id, user: auth.PageUser) -> HTMLResponse:
    row = visible(request, user, group_id)
    group = overview.snapshot(auth.engine_of(request), group_id)
    charts: list[dict[str, Any]] = []
    view = group_view(group, 0, charts) if group else None
    with auth.engine_of(request).connect() as conn:
        decisions = _recent_decisions(conn, group_id)
        lockdown = lockdowns.current(conn, group_id)
    return render(
        request,
        "group.html",
        {
            "row": row,
            "view": view,
            "labels": page_labels(),
            "charts_json": Markup(script_json(charts)),
            "decisions": decisions,
            "lockdown": lockdown
            and {
                "since": moment(lockdown.since),
                "until": moment(lockdown.until),
                "muted": lockdown.muted,
            },
        },
        user,
    )


# The removals at the door shown with moderation's: a newcomer who failed the entry question
# (wrong answers, or none in time: the held-back kick went out) and joins in a raid.
_AT_THE_DOOR = {
    ("captcha", "failed"): "wrong answers to the entry question",
    ("captcha", "asked"): "no answer to the entry question in time",
    ("raid", "lockdown"): "joined during a raid",
}


def _recent_decisions(conn: Any, group_id: int, limit: int = 30) -> list[dict[str, Any]]:
    """The group's last removals and questions, in the reader's words: the member by the name
    the group knows them by, the step and the checks that fired by what people call them."""
    d, o, g, m = t.decisions, t.outbox, t.groups, t.members
    timed_out = (
        select(o.c.id)
        .where(o.c.decision_id == d.c.id, o.c.kind == "kick", o.c.status == "done")
        .exists()
    )
    rows = conn.execute(
        select(
            d.c.id,
            d.c.policy,
            d.c.verdict,
            d.c.reasons,
            d.c.at,
            d.c.member,
            m.c.id.label("member_row"),
            m.c.display_name,
        )
        .select_from(
            d.join(g, g.c.id == d.c.group_id).outerjoin(
                m, and_(m.c.platform == g.c.platform, m.c.external_id == d.c.member)
            )
        )
        .where(
            d.c.group_id == group_id,
            or_(
                d.c.policy == "moderation",
                and_(d.c.policy == "captcha", d.c.verdict == "failed"),
                and_(d.c.policy == "captcha", d.c.verdict == "asked", timed_out),
                d.c.policy == "raid",
            ),
        )
        .order_by(d.c.id.desc())
        .limit(limit)
    )
    out = []
    steps, names = moderation.step_names(), check_names()
    for r in rows:
        reasons = orjson.loads(r.reasons)
        door = _AT_THE_DOOR.get((r.policy, r.verdict))
        fired = [c["name"] for c in reasons.get("checks", []) if c["verdict"] != "ham"]
        step = reasons.get("step") or reasons.get("would") or ("kick" if door else "")
        # (a timed-out question's decision is "asked": its kick, held back, is what went out)
        out.append(
            {
                "id": r.id,
                "verdict": tr(door) if door else tr(r.verdict),
                "member": r.member or "",
                "member_name": r.display_name or "",
                "member_row": r.member_row,
                "step": steps.get(step, step),
                "checks": ("、" if lang() == "zh" else ", ").join(names.get(c, c) for c in fired),
                "at": overview.local_date(r.at),
            }
        )
    return out
