"""INSERT ... ON CONFLICT for the two dialects the store runs on, one row or many at a time."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

# PostgreSQL's wire protocol counts a statement's parameters in 16 bits; SQLite's limit is
# 32,766 unless it was built with another, which max_parameters reads.
PARAMETERS = 32_000
SPARE = 16  # parameters a statement has besides its rows or its IN list


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT into ``table`` in the store's own dialect, which can say ON CONFLICT."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _upsert_statement(
    conn: sa.Connection, table: sa.Table, keys: Iterable[str], update: Iterable[str] | None
) -> Any:
    return _built(conn.dialect.name, table, tuple(keys), None if update is None else tuple(update))


@functools.lru_cache(maxsize=256)
def _built(
    dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...] | None
) -> Any:
    """The upsert statement, built once per dialect, table, keys and columns (building one
    costs more than writing a page's rows of it)."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    if update:
        return stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
        )
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Iterable[str],
    update: Iterable[str] | None = None,
) -> None:
    """Insert ``rows``; on a conflict over ``keys`` update the ``update`` columns (or skip)."""
    if not rows:
        return
    conn.execute(_upsert_statement(conn, table, keys, update), list(rows))


def max_parameters(conn: sa.Connection) -> int:
    """How many parameters of rows (or of an IN list) one statement may carry on this store."""
    limit = PARAMETERS
    if conn.dialect.name == "sqlite":
        getlimit = getattr(conn.connection.driver_connection, "getlimit", None)
        limit = min(limit, getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit else 999)
    return limit - SPARE


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), max(1, size)):
        yield values[start : start + size]


def upsert_many(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Iterable[str],
    update: Iterable[str] | None = None,
    returning: Sequence[sa.ColumnElement[Any]] = (),
) -> list[sa.Row[Any]]:
    """``upsert`` of rows with the same columns, in one executemany of a statement built once
    (none with no rows). With ``returning``, in multi-row INSERTs as large as the store's
    parameter limit allows, and the ``returning`` columns of the rows written come back (none
    on an SQLite older than 3.35)."""
    if not rows:
        return []
    stmt = _upsert_statement(conn, table, keys, update)
    if not returning:
        conn.execute(stmt, list(rows))
        return []
    return _many(conn, stmt, rows, returning)


def insert_many(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> list[sa.Row[Any]]:
    """Insert ``rows`` (each with the same columns) in multi-row INSERTs."""
    return _many(conn, table.insert(), rows, list(table.primary_key))


def _many(
    conn: sa.Connection,
    stmt: Any,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[sa.ColumnElement[Any]],
) -> list[sa.Row[Any]]:
    if not rows:
        return []
    if not conn.dialect.insert_executemany_returning:  # an SQLite older than 3.35
        conn.execute(stmt, list(rows))
        return []
    # with RETURNING, SQLAlchemy sends the rows as multi-row INSERTs ("insertmanyvalues")
    # instead of one execution per row; the page size keeps each under the parameter limit
    per_statement = max(1, max_parameters(conn) // len(rows[0]))
    result = conn.execute(
        stmt.returning(*returning).execution_options(insertmanyvalues_page_size=per_statement),
        list(rows),
    )
    return list(result)
