"""Statements the live path runs a few times per event, compiled once and run on the cursor.

For a one-row statement SQLAlchemy's per-execution work (cache key, execution context, result
object) costs about ten times what SQLite takes to run it (bench/engine.py profile), and the
live engine runs several per event. A `Prepared` keeps the SQL text each database dialect
compiles the statement to and hands it straight to the DBAPI cursor, inside the caller's
transaction, as `bulk.py` does for many rows. Only plain values go through: no type
processing, which the columns these statements touch (integers and text) do not need.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import Executable


class Prepared:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, list[str] | None, dict]] = {}

    def _compile(
        self, conn: Connection, keys: tuple[str, ...]
    ) -> tuple[str, list[str] | None, dict[str, Any]]:
        found = self._compiled.get((conn.dialect.name, keys))
        if found is None:
            inserting = isinstance(self.statement, Insert)
            compiled = self.statement.compile(  # type: ignore[attr-defined]
                dialect=conn.dialect, column_keys=list(keys) if inserting else None
            )
            defaults = {k: v for k, v in compiled.params.items() if k not in keys}
            positions = list(compiled.positiontup) if compiled.positiontup else None
            found = (str(compiled), positions, defaults)
            self._compiled[(conn.dialect.name, keys)] = found
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Execute with `params`; return the DBAPI cursor (fetch from it, or read rowcount)."""
        sql, positions, defaults = self._compile(conn, tuple(params))
        values = {**defaults, **params} if defaults else params
        args = [values[k] for k in positions] if positions else values
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        dbapi = conn.dialect.dbapi
        try:
            cursor.execute(sql, args)
        except dbapi.Error as exc:  # type: ignore[union-attr]
            # the error SQLAlchemy would have raised (IntegrityError for a duplicate, ...)
            raise DBAPIError.instance(sql, args, exc, dbapi.Error) from exc  # type: ignore[union-attr]
        return cursor

    def insert(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Insert one row; return its id."""
        cursor = self.run(conn, params)
        if conn.dialect.name == "postgresql":  # the compiled INSERT ends in RETURNING id
            return int(cursor.fetchone()[0])
        return int(cursor.lastrowid)

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.run(conn, params).fetchone()
        return None if row is None else row[0]
