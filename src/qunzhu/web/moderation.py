"""The console's moderation page and API (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
