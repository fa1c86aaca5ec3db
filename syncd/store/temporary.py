"""Emptying the temporary tables a compute works in, on either store."""

from __future__ import annotations

import sqlalchemy as sa


def empty(conn: sa.Connection, table: sa.Table) -> None:
    """Empty temporary ``table``. On PostgreSQL by TRUNCATE: deleted rows stay in a table and
    its index until a VACUUM, and autovacuum never visits a temporary table, so a daemon's
    long-lived session would scan ever more dead rows."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"TRUNCATE {table.name}")
    else:
        conn.execute(table.delete())
