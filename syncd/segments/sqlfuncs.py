"""SQL expressions that differ between SQLite and PostgreSQL, as portable elements."""

from __future__ import annotations

from collections.abc import Callable
from string import Formatter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


def per_store(cls: type, *, sqlite: str, postgresql: str) -> None:
    """Compile ``cls`` on each store from its template of ``{0}``, ``{1}``, ...: the element's
    arguments, compiled. Only those a template names are compiled, so a bound parameter one
    store does not use never reaches its statement."""
    compiles(cls, "sqlite")(_from_template(sqlite))
    compiles(cls, "postgresql")(_from_template(postgresql))


def _from_template(template: str) -> Callable[..., str]:
    named = {int(field) for _, field, _, _ in Formatter().parse(template) if field}

    def sql(element: Any, compiler: Any, **kw: Any) -> str:
        clauses = list(element.clauses)
        args = [compiler.process(c, **kw) if i in named else "" for i, c in enumerate(clauses)]
        return template.format(*args)

    return sql


class contains(FunctionElement[bool]):
    """``haystack`` contains ``needle``, case-sensitive."""

    type = sa.Boolean()
    inherit_cache = True


per_store(contains, sqlite="(instr({0}, {1}) > 0)", postgresql="(strpos({0}, {1}) > 0)")


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


per_store(_glob, sqlite="({0} GLOB {1})", postgresql="({0} LIKE {2} ESCAPE '\\')")


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


per_store(
    _json_text,
    sqlite="(CASE WHEN json_type({0}, {1}) = 'text' THEN json_extract({0}, {1}) END)",
    postgresql="(CASE WHEN jsonb_typeof({0} -> {2}) = 'string' THEN {0} ->> {2} END)",
)
per_store(
    _json_number,
    sqlite="(CASE WHEN json_type({0}, {1}) IN ('integer', 'real') THEN json_extract({0}, {1}) END)",
    postgresql="(CASE WHEN jsonb_typeof({0} -> {2}) = 'number' THEN ({0} ->> {2})::float END)",
)
per_store(
    _json_bool,
    sqlite="(CASE json_type({0}, {1}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)",
    postgresql="(CASE WHEN jsonb_typeof({0} -> {2}) = 'boolean' THEN ({0} ->> {2})::boolean END)",
)


# -- days between two times -------------------------------------------------------------------


class days_between(FunctionElement[float]):
    """(later - earlier) in days, as a fraction."""

    type = sa.Float()
    inherit_cache = True


per_store(
    days_between,
    sqlite="(julianday({0}) - julianday({1}))",
    postgresql="(EXTRACT(EPOCH FROM ({0} - {1})) / 86400.0)",
)


# -- text ordered by bytes in both stores (PostgreSQL's default collation is not) -----------


class binary(FunctionElement[str]):
    """The text, compared by code points."""

    type = sa.Text()
    inherit_cache = True


per_store(binary, sqlite="{0}", postgresql='({0} COLLATE "C")')


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


per_store(unindexed, sqlite="+{0}", postgresql="{0}")


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


per_store(
    month_day,
    sqlite="strftime('%m%d', {0})",
    postgresql="to_char({0} AT TIME ZONE 'UTC', 'MMDD')",
)


# -- a number as text with two decimals, a time as its UTC date: values sent to fields ------


class decimal_text(FunctionElement[str]):
    """A number as text with two decimals, ``0.70`` (NULL stays NULL)."""

    type = sa.Text()
    inherit_cache = True


per_store(
    decimal_text,
    sqlite="CASE WHEN {0} IS NULL THEN NULL ELSE printf('%.2f', {0}) END",
    postgresql="CAST(ROUND(CAST({0} AS NUMERIC), 2) AS TEXT)",
)


class date_text(FunctionElement[str]):
    """A stored time as its UTC date, ``2026-03-01``."""

    type = sa.Text()
    inherit_cache = True


per_store(
    date_text,
    sqlite="strftime('%Y-%m-%d', {0})",
    postgresql="to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
)
