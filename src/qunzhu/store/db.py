"""Opening the store: pick the database, tune SQLite, and bring the schema up to date.

The schema is migrated on first use, so `qunzhu import` on a fresh machine just works, while
`qunzhu db upgrade` exists for operators who want to migrate explicitly (e.g. before a deploy).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from qunzhu.i18n import tr

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///qunzhu.db"
MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(Exception):
    """A problem with the database the user pointed us at (bad URL, unreachable server)."""


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be used now (PostgreSQL restarting, a SQLite
    file locked past the busy timeout): any statement would fail alike, so it is waited out
    or reported as "try again", not blamed on what was being done."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def said(exc: BaseException) -> str:
    """A database error in one line: drivers' messages run over several, with the statement."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:200]


def database_url(explicit: str | None = None) -> str:
    """`--db` wins over `QUNZHU_DATABASE_URL`, which wins over ./qunzhu.db."""
    url = explicit or os.environ.get("QUNZHU_DATABASE_URL") or DEFAULT_URL
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(tr("not a database URL: {url!r}", url=url)) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the driver we ship; the bare scheme would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _tune_sqlite(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute(
        "PRAGMA cache_size=-65536"
    )  # 64 MiB: unique-key lookups on big imports stay in memory
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def create(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    return engine


def one_statement(engine: Engine) -> AbstractContextManager[Connection]:
    """A connection for a single statement that must stand or fall alone. On a database
    server it runs on its own (autocommit): one round trip instead of three (BEGIN, the
    statement, COMMIT), which the engine pays for every event and twice for every action.
    SQLite has no round trips to save, and taking its connection in and out of autocommit
    costs more than the transaction (bench/engine.py: 20% fewer events a second)."""
    if engine.dialect.name == "sqlite":
        return engine.begin()
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _alembic_config(engine: Engine) -> Config:
    """Alembic is imported here, when a store is opened, not with this module: it takes half
    a second, which commands that never touch the store (`--help`, `moderation check`) skip."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def is_current(engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """The schema brought to `revision` (an earlier one: what an older version left)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def open_store(url: str | None = None) -> Engine:
    """An engine on an up-to-date schema."""
    engine = create(database_url(url))
    try:
        if not is_current(engine):
            upgrade(engine)
    except Exception as exc:
        engine.dispose()
        if isinstance(exc, StoreError):
            raise
        safe = engine.url.render_as_string(hide_password=True)
        raise StoreError(
            tr("cannot open the database {url}: {why}", url=safe, why=_why(engine, exc))
        ) from exc
    return engine


def _why(engine: Engine, exc: BaseException) -> str:
    """Why the store did not open: SQLite says "unable to open database file" of a file in
    a folder that does not exist, which is the usual mistake in a path."""
    folder = Path(engine.url.database or "").parent
    if engine.dialect.name == "sqlite" and engine.url.database and not folder.is_dir():
        return tr("the folder {folder} does not exist", folder=folder)
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
