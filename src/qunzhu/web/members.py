"""The console's members page and API (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
