"""Inserting many rows at once, the fastest way each database offers.

The ORM and even Core's per-row parameter handling cost more than the whole parse at a million
messages, so the hot path talks to the DBAPI cursor directly, inside the caller's transaction:
`executemany` on SQLite, `COPY` into a staging table then one `INSERT ... SELECT` on PostgreSQL.
Both speak the same `ON CONFLICT` clause, so callers say once what a collision means.
Returns how many rows were written: re-imports are counted, not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table

_COPY_FROM = 1000  # rows; measured on PostgreSQL 15 (bench/import_bench.py)


def insert_ignore(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> int:
    """Insert `rows`, skipping any that collide with a unique key; return the number inserted."""
    return insert(conn, table, columns, rows, "ON CONFLICT DO NOTHING")


def insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple], on_conflict: str
) -> int:
    """Insert `rows` with the given `ON CONFLICT ...` clause; return the rows written."""
    if not rows:
        return 0
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cols = ", ".join(columns)
    try:
        if conn.dialect.name != "postgresql":
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) {on_conflict}"
            cur.executemany(sql, rows)
            return cur.rowcount
        if len(rows) < _COPY_FROM:  # a staging table costs more than it saves on a few rows
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) {on_conflict}"
            cur.executemany(sql, rows)
            return cur.rowcount
        stage = f"_stage_{table.name}"
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
            f"SELECT {cols} FROM {table.name} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {stage} {on_conflict}")
        return cur.rowcount
    finally:
        cur.close()


def smallest(conn: Connection) -> str:
    """The SQL function for the smaller of two values (SQLite's min(a, b), PostgreSQL's LEAST)."""
    return "LEAST" if conn.dialect.name == "postgresql" else "min"


def largest(conn: Connection) -> str:
    return "GREATEST" if conn.dialect.name == "postgresql" else "max"
