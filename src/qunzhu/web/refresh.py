"""Keeping the overview's stage, health and advice fresh without making a page wait for them."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Engine

from qunzhu.i18n import tr
from qunzhu.web import overview

log = logging.getLogger(__name__)

STALE_MS = 3_600_000  # a snapshot older than an hour is computed again
PAUSE_S = 60.0


async def refresh_snapshots(engine: Engine, pause_s: float = PAUSE_S) -> None:
    """Forever: recompute the stalest groups' snapshots, one at a time, in a worker thread."""
    while True:
        with engine.connect() as conn:
            due = overview.stale(conn, STALE_MS)
        for group_id in due:
            try:
                await asyncio.to_thread(overview.snapshot, engine, group_id)
            except Exception:  # one group's bad data must not stop the others
                log.exception(tr("snapshot of group {id} failed", id=group_id))
        await asyncio.sleep(pause_s)
