"""``sql:`` rules: the user's SELECT over the store's views, with named parameters bound by
syncd, so one query runs unchanged on SQLite and PostgreSQL (docs/segments.md, sql)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.errors import first_line
from syncd.segments.rules import Ago, Rule, SqlRule
from syncd.store.schema import Time
from syncd.yamlsource import SourceMap

# a bind parameter as SQLAlchemy's text() reads one: ``:name``, not ``::cast`` nor ``\:``
_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
DIALECTS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def parameters_of(sql: str) -> set[str]:
    """The names of the ``:name`` parameters ``sql`` uses."""
    return set(_PARAM.findall(sql))


def bound_values(rule: SqlRule, now: datetime) -> dict[str, Any]:
    """Every parameter ``rule`` uses, as the value bound at the cycle's time ``now``."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    values: dict[str, Any] = {"now": now, "today": today}
    for name, value in rule.params:
        if isinstance(value, Ago):
            value = now + value.delta if value.ahead else now - value.delta
        values[name] = value
    used = parameters_of(rule.sql)
    return {k: v for k, v in values.items() if k in used}


def _typed(name: str, value: Any) -> sa.BindParameter[Any]:
    """A parameter with the type its column is compared as: a time as the store keeps
    times (text on SQLite, a timestamp on PostgreSQL), a flag as a boolean."""
    if isinstance(value, datetime):
        return sa.bindparam(name, value, type_=Time)
    if isinstance(value, bool):
        return sa.bindparam(name, value, type_=sa.Boolean())
    if isinstance(value, int):
        return sa.bindparam(name, value, type_=sa.BigInteger())
    if isinstance(value, float):
        return sa.bindparam(name, value, type_=sa.Float())
    return sa.bindparam(name, str(value), type_=sa.Text())


def sql_text(rule: SqlRule, now: datetime) -> Any:
    """The user's SELECT as a selectable with one column, contact_id; its parameters bound."""
    text = sa.text(rule.sql)
    params = [_typed(k, v) for k, v in bound_values(rule, now).items()]
    if params:
        text = text.bindparams(*params)
    return text.columns(sa.column("contact_id"))


def check_sql(rules: Iterable[Rule], engine: sa.Engine, source: SourceMap, now: datetime) -> None:
    """Run every ``sql:`` rule once on the configured store, returning no rows: a query its
    database refuses (a function of the other dialect, a column no view has) is a mistake
    naming the segment and the database."""
    from syncd.config import mistake

    sql = [r for r in rules if isinstance(r, SqlRule)]
    if not sql:
        return
    dialect = DIALECTS.get(engine.dialect.name, engine.dialect.name)
    with engine.connect() as conn:  # one connection for all of them
        for rule in sql:
            sub = sql_text(rule, now).subquery()
            probe = sa.select(sub.c.contact_id).where(sa.false())
            try:
                with conn.begin():
                    conn.execute(probe)
            except sa.exc.DBAPIError as exc:
                segment = rule.loc[1] if len(rule.loc) > 1 else "?"
                mistake(
                    source.error(
                        (*rule.loc, "sql"),
                        f"segment {segment!r}: the SQL fails on {dialect}: {first_line(exc)}",
                    )
                )
