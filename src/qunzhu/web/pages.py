"""The console's pages: the overview of every group, and one group's page."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import select

from qunzhu.i18n import tr
from qunzhu.reports.html import (
    group_view,
    kind_names,
    page_labels,
    platform_names,
    script_json,
    stage_names,
)
from qunzhu.store import schema as t
from qunzhu.web import auth, overview
from qunzhu.web.app import groups_of, render, visible

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, user: auth.PageUser) -> HTMLResponse:
    with auth.engine_of(request).connect() as conn:
        cards, end = overview.cards(conn, groups_of(request, user))
    return render(
        request,
        "overview.html",
        {
            "cards": [_card(c) for c in cards],
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
    return render(
        request,
        "group.html",
        {
            "row": row,
            "view": view,
            "labels": page_labels(),
            "charts_json": Markup(script_json(charts)),
            "decisions": decisions,
        },
        user,
    )


def _recent_decisions(conn: Any, group_id: int, limit: int = 30) -> list[dict[str, Any]]:
    d = t.decisions
    rows = conn.execute(
        select(d.c.id, d.c.policy, d.c.verdict, d.c.reasons, d.c.at, d.c.member)
        .where(d.c.group_id == group_id, d.c.policy == "moderation")
        .order_by(d.c.id.desc())
        .limit(limit)
    )
    out = []
    for r in rows:
        reasons = orjson.loads(r.reasons)
        checks = ", ".join(c["name"] for c in reasons.get("checks", []) if c["verdict"] != "ham")
        out.append(
            {
                "id": r.id,
                "verdict": tr(r.verdict),
                "member": r.member or "",
                "step": reasons.get("step") or reasons.get("would") or "",
                "checks": checks,
                "at": overview.local_date(r.at),
            }
        )
    return out
