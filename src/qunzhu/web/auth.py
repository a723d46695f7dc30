"""Who is asking: a session cookie (pages) or a personal token (API); and the guards on top.

Sessions are Starlette's signed cookies (itsdangerous), HttpOnly and SameSite=Lax; they carry the
user's id and `session_version`, so a password change ends them. Every form carries the
session's CSRF token. Failed logins are counted per address and per name in memory: five in
five minutes and that pair waits; a single process is what the console runs as.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from sqlalchemy import Engine

from qunzhu.i18n import tr
from qunzhu.store.accounts import User, load_user, user_by_token

LOGIN_TRIES = 5
LOGIN_WINDOW_S = 300.0


class LoginRequired(Exception):
    """A page asked for without a session: the handler sends the browser to /login."""


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def session_user(request: Request) -> User | None:
    uid, version = request.session.get("uid"), request.session.get("ver")
    if uid is None:
        return None
    with engine_of(request).connect() as conn:
        user = load_user(conn, int(uid))
    if user is None or user.session_version != version:
        request.session.clear()
        return None
    return user


def bearer_user(request: Request) -> User | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    with engine_of(request).begin() as conn:
        return user_by_token(conn, token.strip())


def page_user(request: Request) -> User:
    """For pages: the logged-in user, or off to the login page."""
    user = session_user(request)
    if user is None:
        raise LoginRequired
    return user


def api_user(request: Request) -> User:
    """For the API: a bearer token or the session; else 401."""
    user = bearer_user(request)
    request.state.by_token = user is not None  # only a valid token spares the CSRF check
    user = user or session_user(request)
    if user is None:
        raise HTTPException(
            401, tr("log in or send a token"), headers={"WWW-Authenticate": "Bearer"}
        )
    return user


def may_change(user: User) -> None:
    if not user.may_change:
        raise HTTPException(403, tr("a viewer cannot change anything"))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, given: str | None) -> None:
    """A change by cookie must carry the session's token; by bearer token it need not."""
    if getattr(request.state, "by_token", False):
        return
    expected = request.session.get("csrf")
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise HTTPException(403, tr("the form is stale or forged: reload the page"))


class LoginLimiter:
    """Failed logins per key (address, name) in a sliding window."""

    def __init__(self, tries: int = LOGIN_TRIES, window_s: float = LOGIN_WINDOW_S) -> None:
        self.tries, self.window_s = tries, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        return any(len(self._recent(key, now)) >= self.tries for key in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


PageUser = Annotated[User, Depends(page_user)]
ApiUser = Annotated[User, Depends(api_user)]


class Problem(BaseModel):
    """What every API error answers: one line for a person."""

    detail: str


# Documented on every API route, so clients (and schemathesis) know what to expect.
API_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A body that cannot be read (not JSON, not UTF-8)"},
    401: {"model": Problem, "description": "Not logged in and no valid token"},
    403: {"model": Problem, "description": "A viewer, or a stale form"},
    404: {"model": Problem, "description": "No such thing, or not yours to see"},
}


# Ids in paths: positive and within what every database stores (32-bit integers on
# PostgreSQL): a larger one exists nowhere, and must not reach the database as an error.
ID_MAX = 2**31 - 1
Id = Annotated[int, PathParam(ge=1, le=ID_MAX)]
