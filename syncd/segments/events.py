"""Conditions on events shared by event rules, purchases and scores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from syncd.clock import as_utc
from syncd.segments import sqlfuncs
from syncd.segments.rules import Compare
from syncd.store.schema import events

Condition = ColumnElement[bool]


def compare(column: Any, op: str, operand: Any) -> Condition:
    """``column op operand`` for the ordering and equality tests."""
    if op == "eq":
        return column == operand
    if op == "ne":
        return column != operand
    if op == "gt":
        return column > operand
    if op == "gte":
        return column >= operand
    if op == "lt":
        return column < operand
    if op == "lte":
        return column <= operand
    raise ValueError(f"not a comparison: {op!r}")


def holds_for(op: str, operand: float, value: float) -> bool:
    """Whether ``value op operand`` holds (used to know if zero passes a count test)."""
    return {
        "eq": value == operand,
        "ne": value != operand,
        "gt": value > operand,
        "gte": value >= operand,
        "lt": value < operand,
        "lte": value <= operand,
    }[op]


def time_test(column: Any, test: Compare, now: datetime) -> Condition:
    """A time test (within, older_than, within_next, before, after) on ``column``."""
    op, operand = test.op, test.value
    if op == "within":
        return sa.and_(column >= now - operand, column <= now)
    if op == "older_than":
        return column < now - operand
    if op == "within_next":
        return sa.and_(column >= now, column <= now + operand)
    if op == "before":
        return column < as_utc(operand)
    if op == "after":
        return column > as_utc(operand)
    raise ValueError(f"not a time test: {op!r}")


def property_test(prop: str, test: Compare) -> Condition:
    """A ``where:`` test on one JSON property of an event."""
    doc = events.c.properties
    op, operand = test.op, test.value
    if op == "exists":
        present = sa.or_(
            sqlfuncs.json_text(doc, prop).is_not(None),
            sqlfuncs.json_number(doc, prop).is_not(None),
            sqlfuncs.json_bool(doc, prop).is_not(None),
        )
        return present if operand else sa.not_(present)
    if op in ("ne", "not_in"):
        positive = property_test(prop, Compare("eq" if op == "ne" else "in", operand))
        return sa.not_(sa.func.coalesce(positive, False))
    if op == "in":
        return sa.or_(*[property_test(prop, Compare("eq", v)) for v in operand])
    if op in ("contains", "starts_with"):
        exact = (sqlfuncs.contains if op == "contains" else sqlfuncs.starts_with)(
            sqlfuncs.json_text(doc, prop), operand
        )
        if sqlfuncs.literal_in_json(operand):
            return sa.and_(sqlfuncs.raw_has(doc, operand), exact)
        return exact
    if isinstance(operand, bool):
        return compare(sqlfuncs.json_bool(doc, prop), op, operand)
    if isinstance(operand, int | float):
        return compare(sqlfuncs.json_number(doc, prop), op, float(operand))
    if isinstance(operand, datetime):
        operand = operand.isoformat()
    text = sqlfuncs.json_text(doc, prop)
    exact = compare(text if op in ("eq", "ne") else sqlfuncs.binary(text), op, str(operand))
    if op == "eq" and sqlfuncs.literal_in_json(str(operand)):
        return sa.and_(sqlfuncs.raw_has(doc, f'"{operand}"'), exact)
    return exact


def matching(kind: str, where: Sequence[tuple[str, Compare]], now: datetime) -> list[Condition]:
    """Events of ``kind`` (every kind for "any"), at or before now, passing ``where``."""
    conditions: list[Condition] = [events.c.contact_id.is_not(None), events.c.occurred_at <= now]
    if kind != "any":
        conditions.append(events.c.type == kind)
    conditions += [property_test(prop, test) for prop, test in where]
    return conditions
