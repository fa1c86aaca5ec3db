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


class glob(FunctionElement[bool]):
    type = sa.Boolean()
    inherit_cache = True


def _glob_to_like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _glob_for_sqlite(pattern: str) -> str:
    # in SQLite's GLOB, [ opens a character class: make it a literal
    return "".join("[[]" if ch == "[" else ch for ch in pattern)


@compiles(glob, "sqlite")
def _glob_sqlite(element: glob, compiler: Any, **kw: Any) -> str:
    column, pattern = list(element.clauses)
    text = _glob_for_sqlite(pattern.value)
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(sa.literal(text), **kw)})"


@compiles(glob, "postgresql")
def _glob_pg(element: glob, compiler: Any, **kw: Any) -> str:
    column, pattern = list(element.clauses)
    like = compiler.process(sa.literal(_glob_to_like(pattern.value)), **kw)
    return f"({compiler.process(column, **kw)} LIKE {like} ESCAPE '\\')"


# -- typed reads of one JSON property ---------------------------------------------------------


class json_text(FunctionElement[str]):
    """The property as text when it is a JSON string, else NULL."""

    type = sa.Text()
    inherit_cache = True


class json_number(FunctionElement[float]):
    """The property as a number when it is a JSON number, else NULL."""

    type = sa.Float()
    inherit_cache = True


class json_bool(FunctionElement[bool]):
    """The property as a boolean when it is a JSON true/false, else NULL."""

    type = sa.Boolean()
    inherit_cache = True


def _path(key: Any) -> str:
    return '$."' + str(key.value) + '"'


@compiles(json_text, "sqlite")
def _jt_sqlite(element: json_text, compiler: Any, **kw: Any) -> str:
    doc, key = list(element.clauses)
    d, p = compiler.process(doc, **kw), compiler.process(sa.literal(_path(key)), **kw)
    return f"(CASE WHEN json_type({d}, {p}) = 'text' THEN json_extract({d}, {p}) END)"


@compiles(json_number, "sqlite")
def _jn_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    doc, key = list(element.clauses)
    d, p = compiler.process(doc, **kw), compiler.process(sa.literal(_path(key)), **kw)
    return f"(CASE WHEN json_type({d}, {p}) IN ('integer', 'real') THEN json_extract({d}, {p}) END)"


@compiles(json_bool, "sqlite")
def _jb_sqlite(element: json_bool, compiler: Any, **kw: Any) -> str:
    doc, key = list(element.clauses)
    d, p = compiler.process(doc, **kw), compiler.process(sa.literal(_path(key)), **kw)
    return f"(CASE json_type({d}, {p}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"


def _pg_parts(element: Any, compiler: Any, kw: Any) -> tuple[str, str]:
    doc, key = list(element.clauses)
    return compiler.process(doc, **kw), compiler.process(sa.literal(str(key.value)), **kw)


@compiles(json_text, "postgresql")
def _jt_pg(element: json_text, compiler: Any, **kw: Any) -> str:
    d, k = _pg_parts(element, compiler, kw)
    return f"(CASE WHEN jsonb_typeof({d} -> {k}) = 'string' THEN {d} ->> {k} END)"


@compiles(json_number, "postgresql")
def _jn_pg(element: json_number, compiler: Any, **kw: Any) -> str:
    d, k = _pg_parts(element, compiler, kw)
    return f"(CASE WHEN jsonb_typeof({d} -> {k}) = 'number' THEN ({d} ->> {k})::float END)"


@compiles(json_bool, "postgresql")
def _jb_pg(element: json_bool, compiler: Any, **kw: Any) -> str:
    d, k = _pg_parts(element, compiler, kw)
    return f"(CASE WHEN jsonb_typeof({d} -> {k}) = 'boolean' THEN ({d} ->> {k})::boolean END)"


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
    doc, needle = list(element.clauses)
    return f"(instr({compiler.process(doc, **kw)}, {compiler.process(needle, **kw)}) > 0)"


@compiles(raw_has, "postgresql")
def _raw_has_pg(element: raw_has, compiler: Any, **kw: Any) -> str:
    return "true"


def literal_in_json(text: str) -> bool:
    """Whether ``text`` appears as itself in the JSON the store keeps of a string holding it
    (written by ``json.dumps``: ASCII as is, but quotes, backslashes and control characters
    escaped, and other characters as \\u escapes)."""
    return text.isascii() and all(ch >= " " and ch not in '"\\' for ch in text)
