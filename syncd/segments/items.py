"""Rules over line items (``purchases: {where:}``, ``spent:``, ``bought:``), compiled to
selects on ``event_items``: one row per order line, typed and indexed, kept by triggers
(docs/events.md, Line items), so no rule walks the orders' JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from syncd.segments import sqlfuncs
from syncd.segments.events import compare
from syncd.segments.rules import ITEM_NUMBERS, Compare
from syncd.store.schema import event_items

Condition = ColumnElement[bool]
PURCHASE = "order_placed"


def item_test(key: str, test: Compare) -> Condition:
    """One test on a line's ``key``; ``ne`` and ``not_in`` match a line without it."""
    column = event_items.c[key]
    op, operand = test.op, test.value
    if op == "exists":
        return column.is_not(None) if operand else column.is_(None)
    if op in ("ne", "not_in"):
        positive = item_test(key, Compare("eq" if op == "ne" else "in", operand))
        return sa.or_(column.is_(None), sa.not_(positive))
    if key in ITEM_NUMBERS:
        operands = operand if op == "in" else [operand]
        if op == "in":
            return column.in_([float(v) for v in operands])
        return compare(column, op, float(operand))
    if op == "in":
        return column.in_([str(v) for v in operand])
    if op == "contains":
        return sqlfuncs.contains(column, operand)
    if op == "starts_with":
        return sqlfuncs.starts_with(column, operand)
    if op == "eq":
        return column == operand
    return compare(sqlfuncs.binary(column), op, operand)  # text order by code points


def lines(
    where: Sequence[tuple[str, Compare]], within: timedelta | None, now: datetime
) -> list[Condition]:
    """The purchase lines of contacts, at or before now (and within), passing ``where``."""
    conditions: list[Condition] = [
        event_items.c.contact_id.is_not(None),
        event_items.c.type == PURCHASE,
        event_items.c.occurred_at <= now,
    ]
    if within is not None:
        conditions.append(event_items.c.occurred_at >= now - within)
    return conditions + [item_test(key, test) for key, test in where]


def orders_with_lines(where: Sequence[tuple[str, Compare]], now: datetime) -> sa.Select[Any]:
    """The ids of the orders with a line passing ``where``."""
    return sa.select(event_items.c.event_id).where(*lines(where, None, now))


def line_total() -> Any:
    """A line's worth: price x quantity, a missing quantity one unit, a missing price 0."""
    return sa.func.coalesce(event_items.c.price, 0.0) * sa.func.coalesce(event_items.c.quantity, 1)
