"""SQL expressions that differ between SQLite and PostgreSQL, as portable elements."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

# -- text contains, case-sensitive in both stores (SQLite's LIKE is not) --------------------


class contains(FunctionElement[bool]):
    """``haystack`` contains ``needle``, case-sensitive."""

    type = sa.Boolean()
    inherit_cache = True


@compiles(contains, "sqlite")
def _contains_sqlite(element: contains, compiler: Any, **kw: Any) -> str:
    hay, needle = list(element.clauses)
    return f"(instr({compiler.process(hay, **kw)}, {compiler.process(needle, **kw)}) > 0)"


@compiles(contains, "postgresql")
def _contains_pg(element: contains, compiler: Any, **kw: Any) -> str:
    hay, needle = list(element.clauses)
    return f"(strpos({compiler.process(hay, **kw)}, {compiler.process(needle, **kw)}) > 0)"


def starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    """Case-sensitive prefix test, portable through substr."""
    return sa.func.substr(column, 1, len(prefix)) == prefix


# -- glob over tag names (* and ?), case-sensitive -----------------------------------------


class _glob(FunctionElement[bool]):
    """column, the pattern for SQLite's GLOB, the pattern for LIKE: both bound parameters,
    made before compiling, so a cached statement never keeps an earlier pattern."""

    type = sa.Boolean()
    inherit_cache = True


def glob(column: Any, pattern: str) -> ColumnElement[bool]:
    """``column`` matches the glob ``pattern`` (* any text, ? one character), case-sensitive."""
    return _glob(column, _glob_for_sqlite(pattern), _glob_to_like(pattern))


def _glob_to_like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _glob_for_sqlite(pattern: str) -> str:
    # in SQLite's GLOB, [ opens a character class: make it a literal
    return "".join("[[]" if ch == "[" else ch for ch in pattern)


@compiles(_glob, "sqlite")
def _glob_sqlite(element: _glob, compiler: Any, **kw: Any) -> str:
    column, pattern, _like = list(element.clauses)
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(pattern, **kw)})"


@compiles(_glob, "postgresql")
def _glob_pg(element: _glob, compiler: Any, **kw: Any) -> str:
    column, _pattern, like = list(element.clauses)
    return f"({compiler.process(column, **kw)} LIKE {compiler.process(like, **kw)} ESCAPE '\\')"


# -- typed reads of one JSON property ---------------------------------------------------------


class _json_text(FunctionElement[str]):
    type = sa.Text()
    inherit_cache = True


class _json_number(FunctionElement[float]):
    type = sa.Float()
    inherit_cache = True


class _json_bool(FunctionElement[bool]):
    type = sa.Boolean()
    inherit_cache = True


# Each takes (document, SQLite JSON path, PostgreSQL key): both bound parameters made before
# compiling, so a cached statement never keeps an earlier property's name.


def _args(doc: Any, key: str) -> tuple[Any, str, str]:
    # ``key`` is a property name as rules.PROPERTY allows, so without quotes: SQLite's JSON
    # paths have no escape for one, a backslash would only make the path find nothing
    return doc, '$."' + key + '"', key


def json_text(doc: Any, key: str) -> ColumnElement[str]:
    """The property as text when it is a JSON string, else NULL."""
    return _json_text(*_args(doc, key))


def json_number(doc: Any, key: str) -> ColumnElement[float]:
    """The property as a number when it is a JSON number, else NULL."""
    return _json_number(*_args(doc, key))


def json_bool(doc: Any, key: str) -> ColumnElement[bool]:
    """The property as a boolean when it is a JSON true/false, else NULL."""
    return _json_bool(*_args(doc, key))


def _json_reads(cls: type, sqlite_sql: str, pg_sql: str) -> None:
    """Compile ``cls`` with ``sqlite_sql`` (of {d}, the document, and {p}, the JSON path)
    and ``pg_sql`` (of {d} and {k}, the key)."""

    @compiles(cls, "sqlite")
    def _sqlite(element: Any, compiler: Any, **kw: Any) -> str:
        doc, path, _key = list(element.clauses)  # an unused parameter is not compiled
        return sqlite_sql.format(d=compiler.process(doc, **kw), p=compiler.process(path, **kw))

    @compiles(cls, "postgresql")
    def _pg(element: Any, compiler: Any, **kw: Any) -> str:
        doc, _path, key = list(element.clauses)
        return pg_sql.format(d=compiler.process(doc, **kw), k=compiler.process(key, **kw))


_json_reads(
    _json_text,
    "(CASE WHEN json_type({d}, {p}) = 'text' THEN json_extract({d}, {p}) END)",
    "(CASE WHEN jsonb_typeof({d} -> {k}) = 'string' THEN {d} ->> {k} END)",
)
_json_reads(
    _json_number,
    "(CASE WHEN json_type({d}, {p}) IN ('integer', 'real') THEN json_extract({d}, {p}) END)",
    "(CASE WHEN jsonb_typeof({d} -> {k}) = 'number' THEN ({d} ->> {k})::float END)",
)
_json_reads(
    _json_bool,
    "(CASE json_type({d}, {p}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)",
    "(CASE WHEN jsonb_typeof({d} -> {k}) = 'boolean' THEN ({d} ->> {k})::boolean END)",
)


# -- days between two times -------------------------------------------------------------------


class days_between(FunctionElement[float]):
    """(later - earlier) in days, as a fraction."""

    type = sa.Float()
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(days_between, "postgresql")
def _days_pg(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


# -- text ordered by bytes in both stores (PostgreSQL's default collation is not) -----------


class binary(FunctionElement[str]):
    """The text, compared by code points."""

    type = sa.Text()
    inherit_cache = True


@compiles(binary, "sqlite")
def _binary_sqlite(element: binary, compiler: Any, **kw: Any) -> str:
    (text,) = list(element.clauses)
    return str(compiler.process(text, **kw))


@compiles(binary, "postgresql")
def _binary_pg(element: binary, compiler: Any, **kw: Any) -> str:
    (text,) = list(element.clauses)
    return f'({compiler.process(text, **kw)} COLLATE "C")'


# -- a cheap first look at raw JSON text, before parsing it ----------------------------------


class raw_has(FunctionElement[bool]):
    """The JSON document's text contains ``needle``: true for every document on PostgreSQL.

    On SQLite, JSON is stored as text; parsing it for every event is the cost of a ``where:``
    test, so this cheap test goes first and the exact test only runs on documents that pass.
    """

    type = sa.Boolean()
    inherit_cache = True


@compiles(raw_has, "sqlite")
def _raw_has_sqlite(element: raw_has, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(contains(*element.clauses), **kw))


@compiles(raw_has, "postgresql")
def _raw_has_pg(element: raw_has, compiler: Any, **kw: Any) -> str:
    return "true"


def literal_in_json(text: str) -> bool:
    """Whether ``text`` appears as itself in the JSON the store keeps of a string holding it
    (written by ``json.dumps``: ASCII as is, but quotes, backslashes and control characters
    escaped, and other characters as \\u escapes)."""
    return text.isascii() and all(ch >= " " and ch not in '"\\' for ch in text)


# -- a column SQLite must not look up through an index -------------------------------------


class unindexed(FunctionElement[Any]):
    """The column, written ``+column`` on SQLite so its planner scans the table in order.

    Reading a large share of a table's rows through an index visits them in random order;
    for the events whose JSON properties a rule reads, one pass over the table is faster.
    """

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    return f"+{compiler.process(column, **kw)}"


@compiles(unindexed, "postgresql")
def _unindexed_pg(element: unindexed, compiler: Any, **kw: Any) -> str:
    (column,) = list(element.clauses)
    return str(compiler.process(column, **kw))


# -- integer division, truncated toward zero in both stores ---------------------------------


class int_div(FunctionElement[int]):
    """``a / b`` of two integers, truncated toward zero (-1 / 10000 is 0)."""

    type = sa.Integer()
    inherit_cache = True


@compiles(int_div)
def _int_div(element: int_div, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({a}) / ({b}))"


# -- the month and day of a time, as text "MMDD" (in UTC) -----------------------------------


class month_day(FunctionElement[str]):
    """``MMDD`` of a stored time, in UTC: what a date recurring each year compares."""

    type = sa.Text()
    inherit_cache = True


@compiles(month_day, "sqlite")
def _month_day_sqlite(element: month_day, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    return f"strftime('%m%d', {compiler.process(ts, **kw)})"


@compiles(month_day, "postgresql")
def _month_day_pg(element: month_day, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    return f"to_char({compiler.process(ts, **kw)} AT TIME ZONE 'UTC', 'MMDD')"


# -- a number as text with two decimals, a time as its UTC date: values sent to fields ------


class decimal_text(FunctionElement[str]):
    """A number as text with two decimals, ``0.70`` (NULL stays NULL)."""

    type = sa.Text()
    inherit_cache = True


@compiles(decimal_text, "sqlite")
def _decimal_text_sqlite(element: decimal_text, compiler: Any, **kw: Any) -> str:
    (x,) = list(element.clauses)
    value = compiler.process(x, **kw)
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE printf('%.2f', {value}) END"


@compiles(decimal_text, "postgresql")
def _decimal_text_pg(element: decimal_text, compiler: Any, **kw: Any) -> str:
    (x,) = list(element.clauses)
    return f"CAST(ROUND(CAST({compiler.process(x, **kw)} AS NUMERIC), 2) AS TEXT)"


class date_text(FunctionElement[str]):
    """A stored time as its UTC date, ``2026-03-01``."""

    type = sa.Text()
    inherit_cache = True


@compiles(date_text, "sqlite")
def _date_text_sqlite(element: date_text, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    return f"strftime('%Y-%m-%d', {compiler.process(ts, **kw)})"


@compiles(date_text, "postgresql")
def _date_text_pg(element: date_text, compiler: Any, **kw: Any) -> str:
    (ts,) = list(element.clauses)
    return f"to_char({compiler.process(ts, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
