"""INSERT ... ON CONFLICT for the two dialects the store runs on, one row or many at a time;
DELETE of many rows by their keys."""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from syncd.store.schema import UtcTime

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
        execute_many(conn, stmt, table, rows)
        return []
    return _many(conn, stmt, rows, returning)


def execute_many(
    conn: sa.Connection, stmt: Any, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``stmt`` once for each of ``rows`` (with the same columns), in one executemany. On
    SQLite the rows go to the driver as tuples, converted here once per value: SQLAlchemy's
    own conversion of each row's parameters costs more than SQLite's writing them."""
    plan = _driver_plan(conn.dialect, stmt, table, tuple(rows[0]))
    if plan is None:
        conn.execute(stmt, list(rows))
        return
    sql, get, convert = plan
    values = [list(get(row)) for row in rows]
    for at, f in convert:
        for row_values in values:
            row_values[at] = f(row_values[at])
    conn.exec_driver_sql(sql, [tuple(v) for v in values])


Convert = Callable[[Any], Any]


@functools.lru_cache(maxsize=256)
def _driver_plan(
    dialect: sa.Dialect, stmt: Any, table: sa.Table, keys: tuple[str, ...]
) -> tuple[str, Callable[[Any], Any], list[tuple[int, Convert]]] | None:
    """The SQL of ``stmt`` for rows of ``keys``, what takes a row's parameters in its order,
    and how to convert the parameter at each position that needs it; None when the store is
    not SQLite or a column is of a type not converted here."""
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        return None
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    names = list(compiled.positiontup or ())
    convert: list[tuple[int, Convert]] = []
    for at, name in enumerate(names):
        if name not in keys or name not in table.c:
            return None
        kind = table.c[name].type
        if isinstance(kind, UtcTime):
            convert.append((at, _sqlite_time))
        elif isinstance(kind, sa.Boolean):
            convert.append((at, _sqlite_boolean))
        elif isinstance(kind, sa.JSON):  # SQLAlchemy's own serializer: the same text stored
            process = kind.dialect_impl(dialect).bind_processor(dialect)
            if process is None:
                return None
            convert.append((at, process))
        elif not isinstance(kind, sa.String | sa.Integer | sa.Float):
            return None
    if len(names) < 2:  # itemgetter of one name gives a value, not a tuple
        return None
    return compiled.string, operator.itemgetter(*names), convert


@functools.lru_cache(maxsize=1024)  # a page's rows share their times (``updated_at``)
def _sqlite_time(at: datetime | None) -> str | None:
    """A time as SQLAlchemy writes it into SQLite (UtcTime: in UTC, without its zone)."""
    if at is None:
        return None
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d} "
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}.{at.microsecond:06d}"
    )


def _sqlite_boolean(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def delete_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Delete the rows of ``table`` equal to each of ``rows`` (each with the same columns, a
    key of ``table``) in one executemany. Each row is found through the key's index: SQLite
    answers ``(a, b) IN (VALUES ...)`` by scanning the table, a page's cost growing with it."""
    if not rows:
        return
    execute_many(conn, _deletion(table, tuple(rows[0])), table, rows)


@functools.lru_cache(maxsize=64)
def _deletion(table: sa.Table, columns: tuple[str, ...]) -> Any:
    return table.delete().where(*(table.c[name] == sa.bindparam(name) for name in columns))


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same columns) in one executemany, in their order."""
    if rows:
        execute_many(conn, _insertion(table), table, rows)


@functools.lru_cache(maxsize=64)
def _insertion(table: sa.Table) -> Any:
    return table.insert()  # one statement object, so that its driver plan is built once


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
