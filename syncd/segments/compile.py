"""Rules compiled to SQL: each rule becomes a condition on ``contacts.id``, run by the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from syncd.segments.rules import (
    AllOf,
    AnyOf,
    Compare,
    EventRule,
    FieldRule,
    Not,
    Rule,
    SegmentRef,
    TagRule,
)
from syncd.store.schema import contact_fields, contacts, events, tags

Condition = ColumnElement[bool]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _glob(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


@dataclass
class Compiler:
    """Compiles rules against the segments they may refer to, at the cycle's time ``now``."""

    segments: Mapping[str, Rule]
    now: datetime

    def __post_init__(self) -> None:
        self.now = _utc(self.now)

    def members(self, rule: Rule) -> sa.Select[Any]:
        """SELECT the ids of the contacts ``rule`` selects."""
        return sa.select(contacts.c.id).where(self.condition(rule))

    def condition(self, rule: Rule) -> Condition:
        if isinstance(rule, AllOf):
            return sa.and_(*[self.condition(r) for r in rule.rules])
        if isinstance(rule, AnyOf):
            return sa.or_(*[self.condition(r) for r in rule.rules])
        if isinstance(rule, Not):
            return sa.not_(self.condition(rule.rule))
        if isinstance(rule, SegmentRef):
            return self.condition(self.segments[rule.name])
        if isinstance(rule, FieldRule):
            return self._field(rule)
        if isinstance(rule, TagRule):
            return self._tag(rule)
        if isinstance(rule, EventRule):
            return self._event(rule)
        raise TypeError(f"not a rule: {rule!r}")

    # --- fields -------------------------------------------------------------------------

    def _field(self, rule: FieldRule) -> Condition:
        op = rule.test.op
        if op == "ne":
            return sa.not_(
                self._field(FieldRule(rule.name, Compare("eq", rule.test.value), rule.loc))
            )
        if op == "not_in":
            return sa.not_(
                self._field(FieldRule(rule.name, Compare("in", rule.test.value), rule.loc))
            )
        if op == "exists":
            has = self._has_field(rule.name, sa.true())
            return has if rule.test.value else sa.not_(has)
        return self._has_field(rule.name, self._test(contact_fields.c, rule.test))

    def _has_field(self, name: str, test: Condition) -> Condition:
        return sa.exists().where(
            contact_fields.c.contact_id == contacts.c.id, contact_fields.c.name == name, test
        )

    def _test(self, columns: Any, test: Compare) -> Condition:
        """A test on a field's typed columns (value, num, ts)."""
        op, operand = test.op, test.value
        if op == "in":
            return sa.or_(*[self._test(columns, Compare("eq", v)) for v in operand])
        if op in ("within", "older_than"):
            since = self.now - operand
            return columns.ts >= since if op == "within" else columns.ts < since
        if op in ("before", "after"):
            at = _utc(operand)
            return columns.ts < at if op == "before" else columns.ts > at
        if op == "contains":
            return columns.value.contains(operand, autoescape=True)
        if op == "starts_with":
            return columns.value.startswith(operand, autoescape=True)
        column, operand = self._typed(columns, operand)
        return _compare(column, op, operand)

    def _typed(self, columns: Any, operand: Any) -> tuple[Any, Any]:
        if isinstance(operand, bool):
            return columns.value, "true" if operand else "false"
        if isinstance(operand, int | float):
            return columns.num, float(operand)
        if isinstance(operand, datetime):
            return columns.ts, _utc(operand)
        if hasattr(operand, "isoformat"):  # a date
            return columns.ts, datetime(operand.year, operand.month, operand.day, tzinfo=UTC)
        return columns.value, str(operand)

    # --- tags ---------------------------------------------------------------------------

    def _tag(self, rule: TagRule) -> Condition:
        if "*" in rule.name or "?" in rule.name:
            pattern = _glob(rule.name)
            named = sa.or_(
                tags.c.name.like(pattern, escape="\\"), tags.c.tag.like(pattern, escape="\\")
            )
        else:
            named = sa.or_(tags.c.name == rule.name, tags.c.tag == rule.name)
        where = [tags.c.contact_id == contacts.c.id, named]
        if rule.source:
            where.append(tags.c.source == rule.source)
        where.extend(_compare(sa.func.coalesce(tags.c.count, 1), c.op, c.value) for c in rule.count)
        return sa.exists().where(*where)

    # --- events -------------------------------------------------------------------------

    def _event(self, rule: EventRule) -> Condition:
        where: list[Condition] = [events.c.contact_id == contacts.c.id]
        if rule.type != "any":
            where.append(events.c.type == rule.type)
        if rule.within is not None:
            where.append(events.c.occurred_at >= self.now - rule.within)
        where.append(events.c.occurred_at <= self.now)
        for prop, test in rule.where:
            where.append(self._property(prop, test))
        if not rule.count:
            return sa.exists().where(*where)
        count = sa.select(sa.func.count()).select_from(events).where(*where).scalar_subquery()
        return sa.and_(*[_compare(count, c.op, c.value) for c in rule.count])

    def _property(self, prop: str, test: Compare) -> Condition:
        value = events.c.properties[prop]
        text = value.as_string()
        if test.op == "exists":
            return text.is_not(None) if test.value else text.is_(None)
        if test.op in ("ne", "not_in"):
            positive = Compare("eq" if test.op == "ne" else "in", test.value)
            return sa.not_(sa.func.coalesce(self._property(prop, positive), False))
        if test.op == "in":
            return sa.or_(*[self._property(prop, Compare("eq", v)) for v in test.value])
        if test.op == "contains":
            return text.contains(test.value, autoescape=True)
        if test.op == "starts_with":
            return text.startswith(test.value, autoescape=True)
        operand = test.value
        if isinstance(operand, bool):
            return value.as_boolean() == operand
        if isinstance(operand, int | float):
            return _compare(value.as_float(), test.op, float(operand))
        return _compare(text, test.op, str(operand))


def _compare(column: Any, op: str, operand: Any) -> Condition:
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
    raise ValueError(f"unknown comparison {op!r}")
