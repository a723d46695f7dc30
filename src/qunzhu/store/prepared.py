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

_CACHED_LIST = 64  # the longest IN list whose SQL is kept


class Prepared:
    """One statement; `run` it with plain values. A list value fills an expanding IN
    (`bindparam(..., expanding=True)`): the SQL for each list length is made once."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[Any, ...], tuple[str, list[str] | None, dict[str, Any]]] = {}

    def _compile(
        self, conn: Connection, keys: tuple[str, ...], lists: tuple[tuple[str, int], ...]
    ) -> tuple[str, list[str] | None, dict[str, Any]]:
        cache_key = (conn.dialect.name, keys, lists)
        found = self._compiled.get(cache_key)
        if found is None:
            inserting = isinstance(self.statement, Insert)
            compiled = self.statement.compile(  # type: ignore[attr-defined]
                dialect=conn.dialect, column_keys=list(keys) if inserting else None
            )
            defaults = {k: v for k, v in compiled.params.items() if k not in keys}
            sql, positions = str(compiled), compiled.positiontup
            if lists:
                sample = {**compiled.params, **{k: [None] * n for k, n in lists}}
                state = compiled.construct_expanded_state(sample)
                sql, positions = state.statement, state.positiontup
            found = (sql, list(positions) if positions else None, defaults)
            if all(n <= _CACHED_LIST for _, n in lists):  # not one entry per length of a bulk IN
                self._compiled[cache_key] = found
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Execute with `params`; return the DBAPI cursor (fetch from it, or read rowcount)."""
        lists = tuple((k, len(v)) for k, v in params.items() if isinstance(v, list | tuple))
        sql, positions, defaults = self._compile(conn, tuple(params), lists)
        values = {**defaults, **params} if defaults else dict(params)
        for name, _ in lists:
            values.update({f"{name}_{i}": v for i, v in enumerate(values.pop(name), 1)})
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

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return list(self.run(conn, params).fetchall())
