"""The JSON API under /api: the same data the pages show, for scripts and other tools.

Authenticated by the session cookie or a personal token (`Authorization: Bearer qz_...`,
made with `qunzhu users token NAME`); anything else is 401. Ids the caller may not see are 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from qunzhu.web import auth, overview
from qunzhu.web.app import groups_of, visible

router = APIRouter(prefix="/api", tags=["api"], responses=auth.API_RESPONSES)


class GroupOut(BaseModel):
    id: int
    name: str
    platform: str
    community: str | None
    kind: str | None
    stage: str | None
    health: int | None
    advice: int | None
    members: int
    messages_7d: int
    active_7d: int
    ads_removed_7d: int
    spark: list[int]
    snapshot_at: int | None


class GroupsOut(BaseModel):
    groups: list[GroupOut]
    window_end: int | None  # ms: the 7-day figures end here


@router.get("/groups", response_model=GroupsOut)
def groups(request: Request, user: auth.ApiUser) -> dict[str, Any]:
    """Every group the caller may see, with its 7-day figures and its last verdict."""
    with auth.engine_of(request).connect() as conn:
        cards, end = overview.cards(conn, groups_of(request, user))
    return {"groups": [c.as_dict() for c in cards], "window_end": end}


@router.get("/groups/{group_id}", response_model=GroupOut)
def group(request: Request, group_id: auth.Id, user: auth.ApiUser) -> dict[str, Any]:
    visible(request, user, group_id)
    with auth.engine_of(request).connect() as conn:
        cards, _ = overview.cards(conn, [group_id])
    return cards[0].as_dict()


@router.get("/groups/{group_id}/report")
def group_report(request: Request, group_id: auth.Id, user: auth.ApiUser) -> dict[str, Any]:
    """The group's full report: figures, charts' data, stage, health and advice with reasons."""
    visible(request, user, group_id)
    return {"group": overview.snapshot(auth.engine_of(request), group_id)}
