"""The console: FastAPI, server-rendered pages, a JSON API under /api, behind a login.

`create_app(engine)` is the whole application; `qunzhu serve` runs it with uvicorn on loopback.
Pages are Jinja2 templates with a little hand-written JavaScript; charts use the plotly bundle of
the installed package, served from /static, so nothing is fetched from elsewhere. Chinese by
default; `?lang=en` (kept in a cookie) switches a browser to English.

Isolation: every route that takes an id asks `visible` first and answers 404 for anything the
user may not see, so ids cannot be probed.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.middleware.sessions import SessionMiddleware

from qunzhu import i18n
from qunzhu.config import Config
from qunzhu.i18n import tr
from qunzhu.reports.html import plotly_js
from qunzhu.store import schema as t
from qunzhu.store.accounts import User, audit, authenticate, visible_groups
from qunzhu.store.db import said
from qunzhu.web import auth, texts  # noqa: F401  (texts registers the Chinese)
from qunzhu.web.auth import LoginLimiter, LoginRequired

log = logging.getLogger(__name__)

SESSION_COOKIE = "qunzhu_session"
LANG_COOKIE = "qunzhu_lang"
SESSION_MAX_AGE_S = 12 * 3600
RETRY_LATER = {"Retry-After": "5"}  # seconds: a database restarting is back by then, mostly

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_TEMPLATES.env.globals.update(tr=tr, lang=i18n.lang)


def create_app(
    engine: Engine,
    secret_key: str | None = None,
    secure_cookies: bool = False,
    config: Config | None = None,
) -> FastAPI:
    """The console for this store. Without `secret_key` ($QUNZHU_SECRET_KEY) a random one is
    made: sessions then end when the process does. `config` (qunzhu.toml) lets the settings
    page start from the file's policies."""
    from qunzhu.web import (
        api,
        audit_log,
        blocklist,
        contacts,
        imports,
        lockdowns,
        members,
        moderation,
        pages,
        scorecard,
        settings,
    )

    app = FastAPI(
        title="qunzhu",
        description=tr("The qunzhu console's API: groups, reports, members, decisions, policies."),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.engine = engine
    app.state.config = config
    app.state.limiter = LoginLimiter()
    key = secret_key or os.environ.get("QUNZHU_SECRET_KEY") or secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=secure_cookies,
    )

    @app.middleware("http")
    async def language(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        wanted = request.query_params.get("lang")
        chosen = wanted if wanted in ("zh", "en") else request.cookies.get(LANG_COOKIE)
        token = i18n.REQUEST_LANG.set(chosen)
        try:
            response = await call_next(request)
        finally:
            i18n.REQUEST_LANG.reset(token)
        if wanted in ("zh", "en"):
            response.set_cookie(LANG_COOKIE, wanted, max_age=365 * 86400, samesite="lax")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api"):
            from fastapi.responses import JSONResponse

            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail},
            status=exc.status_code,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def store_down(request: Request, exc: DBAPIError) -> Response:
        """PostgreSQL restarting, SQLite locked past its busy timeout: a page that says to try
        again (the pool connects anew on the next request), not a bare 500."""
        log.warning(i18n.told("console: the store cannot be reached ({why})", why=said(exc)))
        detail = tr("The database cannot be reached just now; try again in a moment.")
        if request.url.path.startswith("/api"):
            from fastapi.responses import JSONResponse

            return JSONResponse({"detail": detail}, status_code=503, headers=RETRY_LATER)
        page = render(request, "error.html", {"status": 503, "detail": detail}, status=503)
        page.headers.update(RETRY_LATER)
        return page

    for module in (
        pages,
        api,
        members,
        moderation,
        blocklist,
        contacts,
        scorecard,
        settings,
        imports,
        audit_log,
        lockdowns,
    ):
        app.include_router(module.router)
    _login_routes(app)
    _static_routes(app)
    return app


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    user: User | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _TEMPLATES.TemplateResponse(
        request,
        template,
        {"user": user, "csrf": auth.csrf_token(request), "path": request.url.path, **context},
        status_code=status,
    )


def visible(request: Request, user: User, group_id: int) -> Any:
    """The group's row, or 404 when it does not exist or the user may not see it."""
    with auth.engine_of(request).connect() as conn:
        row = conn.execute(select(t.groups).where(t.groups.c.id == group_id)).first()
    if row is None or not user.sees(row.community_id):
        raise HTTPException(404, tr("no such group"))
    return row


def groups_of(request: Request, user: User) -> list[int]:
    with auth.engine_of(request).connect() as conn:
        return visible_groups(conn, user)


def _login_routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return render(request, "login.html", {"next": _safe_next(next), "error": None})

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(
        request: Request,
        username: str = Form(...),
        password: str = Form(...),
        csrf_token: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        auth.check_csrf(request, csrf_token)
        limiter: LoginLimiter = request.app.state.limiter
        keys = (f"ip:{request.client.host if request.client else '?'}", f"user:{username}")
        if limiter.blocked(*keys):
            error = tr("Too many failed logins: wait a few minutes.")
            return render(request, "login.html", {"next": next, "error": error}, status=429)
        with auth.engine_of(request).begin() as conn:
            user = authenticate(conn, username, password)
            if user is not None:
                audit(conn, user, "login")
        if user is None:
            limiter.failed(*keys)
            error = tr("Wrong name or password.")  # the form again, said plainly (200)
            return render(request, "login.html", {"next": next, "error": error})
        limiter.succeeded(*keys)
        request.session.clear()  # a new session id for a new login
        request.session.update(uid=user.id, ver=user.session_version)
        auth.csrf_token(request)
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        auth.check_csrf(request, csrf_token)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _static_routes(app: FastAPI) -> None:
    @app.get("/static/plotly.js", include_in_schema=False)
    def plotly() -> Response:
        return Response(
            _plotly_bundle(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/static/app.css", include_in_schema=False)
    def css() -> Response:
        return Response(_css(), media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")


@lru_cache(maxsize=1)
def _plotly_bundle() -> bytes:
    return plotly_js().encode()


@lru_cache(maxsize=1)
def _css() -> str:
    return (Path(__file__).parent / "static" / "app.css").read_text(encoding="utf-8")
