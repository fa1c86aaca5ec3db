"""The segment rule language: YAML mappings parsed into rule objects, with their YAML path.

{field: NAME, eq|ne|in|not_in|gt|gte|lt|lte|contains|starts_with|exists: VALUE}
{field: NAME, within|older_than: 30d}   {field: NAME, before|after: 2026-01-01}
{tag: NAME-or-GLOB, source: INSTANCE, count: {gte: 3}}
{event: TYPE-or-any, where: {PROPERTY: VALUE-or-{op: VALUE}}, within: 30d, count: {gte: 2}}
{segment: NAME}    {all: [RULE, ...]}    {any: [RULE, ...]}    {not: RULE}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from syncd.duration import parse_duration
from syncd.errors import ConfigError
from syncd.yamlsource import Loc, SourceMap

COMPARE = (
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "starts_with",
    "exists",
)
TIME = ("within", "older_than", "before", "after")
COUNT_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Compare:
    op: str
    value: Any


@dataclass(frozen=True)
class FieldRule:
    name: str
    test: Compare
    loc: Loc


@dataclass(frozen=True)
class TagRule:
    name: str
    source: str | None
    count: tuple[Compare, ...]
    loc: Loc


@dataclass(frozen=True)
class EventRule:
    type: str  # "any" for every type
    where: tuple[tuple[str, Compare], ...]
    within: timedelta | None
    count: tuple[Compare, ...]
    loc: Loc


@dataclass(frozen=True)
class SegmentRef:
    name: str
    loc: Loc


@dataclass(frozen=True)
class AllOf:
    rules: tuple[Rule, ...]
    loc: Loc


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]
    loc: Loc


@dataclass(frozen=True)
class Not:
    rule: Rule
    loc: Loc


Rule = FieldRule | TagRule | EventRule | SegmentRef | AllOf | AnyOf | Not

FORMS = ("field", "tag", "event", "segment", "all", "any", "not")


class Parser:
    """Parses rules, reporting each mistake as one ConfigError line."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source

    def error(self, loc: Loc, message: str) -> ConfigError:
        return self.source.error(loc, message)

    def rule(self, value: Any, loc: Loc) -> Rule:
        if not isinstance(value, Mapping):
            raise self.error(loc, f"a rule must be a mapping such as {{tag: VIP}}, got {value!r}")
        forms = [key for key in FORMS if key in value]
        if len(forms) != 1:
            if not forms:
                unknown = ", ".join(repr(k) for k in value)
                raise self.error(loc, f"unknown rule {unknown} (rules: {', '.join(FORMS)})")
            raise self.error(
                loc, f"a rule has one of {', '.join(FORMS)}; this one has {', '.join(forms)}"
            )
        form = forms[0]
        return getattr(self, f"_{form}")(value, loc)

    def _keys(self, value: Mapping[str, Any], loc: Loc, allowed: tuple[str, ...]) -> None:
        for key in value:
            if key not in allowed:
                raise self.error(
                    (*loc, key), f"unknown key {key!r} (allowed here: {', '.join(allowed)})"
                )

    def _name(self, value: Any, loc: Loc, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(loc, f"{what} must be a name, got {value!r}")
        return value.strip()

    def _field(self, value: Mapping[str, Any], loc: Loc) -> FieldRule:
        self._keys(value, loc, ("field", *COMPARE, *TIME))
        name = self._name(value["field"], (*loc, "field"), "field")
        tests = [k for k in value if k != "field"]
        if len(tests) != 1:
            raise self.error(
                loc, f"field {name!r}: give exactly one test ({', '.join(COMPARE + TIME)})"
            )
        op = tests[0]
        return FieldRule(name, self._compare(op, value[op], (*loc, op)), loc)

    def _compare(self, op: str, operand: Any, loc: Loc) -> Compare:
        if op in ("in", "not_in"):
            if not isinstance(operand, list) or not operand:
                raise self.error(loc, f"{op} takes a non-empty list, got {operand!r}")
        elif op == "exists":
            if not isinstance(operand, bool):
                raise self.error(loc, f"exists takes true or false, got {operand!r}")
        elif op in ("within", "older_than"):
            try:
                operand = parse_duration(operand)
            except ValueError as exc:
                raise self.error(loc, str(exc)) from None
        elif op in ("before", "after"):
            operand = self._date(operand, loc)
        elif op in ("contains", "starts_with"):
            if not isinstance(operand, str):
                raise self.error(loc, f"{op} takes text, got {operand!r}")
        elif op in ("gt", "gte", "lt", "lte"):
            if isinstance(operand, bool) or not isinstance(operand, int | float | str | date):
                raise self.error(loc, f"{op} takes a number, a date or text, got {operand!r}")
        elif isinstance(operand, dict | list):
            raise self.error(loc, f"{op} takes a single value, got {operand!r}")
        return Compare(op, operand)

    def _date(self, value: Any, loc: Loc) -> datetime:
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise self.error(loc, f"not a date: {value!r} (write 2026-01-31)") from None

    def _counts(self, value: Any, loc: Loc) -> tuple[Compare, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"gte": value}
        if not isinstance(value, Mapping) or not value:
            raise self.error(
                loc, f"count takes a number or a test such as {{gte: 3}}, got {value!r}"
            )
        out = []
        for op, operand in value.items():
            if op not in COUNT_OPS:
                raise self.error(
                    (*loc, op), f"unknown count test {op!r} (tests: {', '.join(COUNT_OPS)})"
                )
            if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
                raise self.error((*loc, op), f"count {op} takes a whole number, got {operand!r}")
            out.append(Compare(op, operand))
        return tuple(out)

    def _tag(self, value: Mapping[str, Any], loc: Loc) -> TagRule:
        self._keys(value, loc, ("tag", "source", "count"))
        name = self._name(value["tag"], (*loc, "tag"), "tag")
        source = value.get("source")
        if source is not None:
            source = self._name(source, (*loc, "source"), "source")
        counts = self._counts(value["count"], (*loc, "count")) if "count" in value else ()
        return TagRule(name, source, counts, loc)

    def _event(self, value: Mapping[str, Any], loc: Loc) -> EventRule:
        self._keys(value, loc, ("event", "where", "within", "count"))
        kind = self._name(value["event"], (*loc, "event"), "event")
        where: list[tuple[str, Compare]] = []
        raw_where = value.get("where") or {}
        if not isinstance(raw_where, Mapping):
            raise self.error((*loc, "where"), "where takes a mapping of property: value")
        for prop, test in raw_where.items():
            at = (*loc, "where", prop)
            if isinstance(test, Mapping):
                if len(test) != 1:
                    raise self.error(at, f"property {prop!r}: give exactly one test")
                op, operand = next(iter(test.items()))
                if op not in COMPARE:
                    raise self.error(
                        (*at, op), f"unknown test {op!r} (tests: {', '.join(COMPARE)})"
                    )
                where.append((str(prop), self._compare(op, operand, (*at, op))))
            else:
                where.append((str(prop), self._compare("eq", test, at)))
        within = None
        if "within" in value:
            try:
                within = parse_duration(value["within"])
            except ValueError as exc:
                raise self.error((*loc, "within"), str(exc)) from None
        counts = self._counts(value["count"], (*loc, "count")) if "count" in value else ()
        return EventRule(kind, tuple(where), within, counts, loc)

    def _segment(self, value: Mapping[str, Any], loc: Loc) -> SegmentRef:
        self._keys(value, loc, ("segment",))
        return SegmentRef(self._name(value["segment"], (*loc, "segment"), "segment"), loc)

    def _group(self, value: Mapping[str, Any], loc: Loc, key: str) -> tuple[Rule, ...]:
        self._keys(value, loc, (key,))
        items = value[key]
        if not isinstance(items, list) or not items:
            raise self.error((*loc, key), f"{key} takes a non-empty list of rules")
        return tuple(self.rule(item, (*loc, key, i)) for i, item in enumerate(items))

    def _all(self, value: Mapping[str, Any], loc: Loc) -> AllOf:
        return AllOf(self._group(value, loc, "all"), loc)

    def _any(self, value: Mapping[str, Any], loc: Loc) -> AnyOf:
        return AnyOf(self._group(value, loc, "any"), loc)

    def _not(self, value: Mapping[str, Any], loc: Loc) -> Not:
        self._keys(value, loc, ("not",))
        return Not(self.rule(value["not"], (*loc, "not")), loc)


def references(rule: Rule) -> list[SegmentRef]:
    """The segments ``rule`` refers to, directly."""
    if isinstance(rule, SegmentRef):
        return [rule]
    if isinstance(rule, AllOf | AnyOf):
        return [ref for r in rule.rules for ref in references(r)]
    if isinstance(rule, Not):
        return references(rule.rule)
    return []


def parse_segments(segments: Mapping[str, Any], source: SourceMap) -> dict[str, Rule]:
    """Parse every segment; unknown references and cycles are errors."""
    parser = Parser(source)
    rules = {name: parser.rule(value, ("segments", name)) for name, value in segments.items()}
    known = ", ".join(sorted(rules)) or "none"
    for rule in rules.values():
        for ref in references(rule):
            if ref.name not in rules:
                raise source.error(
                    (*ref.loc, "segment"), f"unknown segment {ref.name!r} (known: {known})"
                )
    for name in rules:
        _find_cycle(name, rules, [], source)
    return rules


def _find_cycle(name: str, rules: dict[str, Rule], path: list[str], source: SourceMap) -> None:
    if name in path:
        cycle = " -> ".join([*path[path.index(name) :], name])
        raise source.error(
            ("segments", path[-1]), f"segments refer to each other in a cycle: {cycle}"
        )
    for ref in references(rules[name]):
        _find_cycle(ref.name, rules, [*path, name], source)
