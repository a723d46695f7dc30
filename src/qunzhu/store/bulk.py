"""Insert-or-ignore of many rows at once, the fastest way each database offers.

The ORM and even Core's per-row parameter handling cost more than the whole parse at a million
messages, so the hot path talks to the DBAPI cursor directly, inside the caller's transaction.
Returns how many rows were new: re-imports are counted, not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table


def insert_ignore(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> int:
    """Insert `rows`, skipping any that collide with a unique key; return the number inserted."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        return _postgres(conn, table, columns, rows)
    return _sqlite(conn, table, columns, rows)


def _sqlite(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> int:
    cols = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(f"INSERT OR IGNORE INTO {table.name} ({cols}) VALUES ({marks})", rows)
        return cur.rowcount
    finally:
        cur.close()


def _postgres(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> int:
    # COPY into a temporary staging table, then one INSERT ... SELECT that skips conflicts.
    cols = ", ".join(columns)
    stage = f"_stage_{table.name}"
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "
            f"SELECT {cols} FROM {table.name} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING"
        )
        return cur.rowcount
    finally:
        cur.close()
