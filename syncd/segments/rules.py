"""The segment rule language (docs/segments.md): YAML mappings parsed into rule objects.

Each rule keeps its YAML path, so every mistake is reported as one ``file:line: path`` line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from syncd.clock import as_utc
from syncd.connectors.contract import ITEM_NUMBERS, ITEM_TEXTS
from syncd.duration import parse_duration
from syncd.errors import ConfigError, did_you_mean
from syncd.segments.catalog import Catalog
from syncd.yamlsource import Loc, SourceMap

VALUE_OPS = (
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
TIME_OPS = ("within", "older_than", "within_next", "before", "after")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
RFM_CLASSES = (
    "champions",
    "loyal",
    "cant_lose_them",
    "at_risk",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "hibernating",
    "lost",
)
# what `predicted:` reads of each purchaser's predictions (syncd.segments.predict)
PREDICTED = ("churn_risk", "p_alive", "expected_orders", "value")
PROPERTY = re.compile(r"^[A-Za-z0-9_\-]+$")
ITEM_KEYS = ITEM_TEXTS + ITEM_NUMBERS
FIRST_ORDER = "first_order"  # anniversary: the time of the contact's first order
DEAL_DATES = ("created", "closed")  # a deal's times: {deal: {closed: {within: 30d}}}


@dataclass(frozen=True)
class Compare:
    op: str
    value: Any


@dataclass(frozen=True)
class Share:
    """``top: 10%`` (basis points of the candidates) or ``top: 25`` (a number of contacts)."""

    basis_points: int | None = None
    count: int | None = None


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
    score: tuple[Compare, ...] = ()  # the tool's score on the tag (a scoring tag)
    since: Compare | None = None  # when the contact got the tag: a time test


@dataclass(frozen=True)
class ListRule:
    name: str
    status: str  # subscribed | unsubscribed | any
    source: str | None
    loc: Loc
    since: Compare | None = None  # when the membership took its status: a time test


@dataclass(frozen=True)
class EventRule:
    type: str  # "any" for every type
    where: tuple[tuple[str, Compare], ...]
    within: timedelta | None
    count: tuple[Compare, ...]
    first: Compare | None
    last: Compare | None
    loc: Loc
    # only events with no event of this type after them (up to now): a cart with no order since
    not_followed_by: str | None = None


@dataclass(frozen=True)
class PurchasesRule:
    within: timedelta | None
    count: tuple[Compare, ...]
    total: tuple[Compare, ...]
    average: tuple[Compare, ...]
    first: Compare | None
    last: Compare | None
    loc: Loc
    # only the orders with a line passing every test (docs/events.md, Line items)
    where: tuple[tuple[str, Compare], ...] = ()


@dataclass(frozen=True)
class SpentRule:
    """The sum of price x quantity over the purchase lines passing ``where``."""

    where: tuple[tuple[str, Compare], ...]
    within: timedelta | None
    tests: tuple[Compare, ...]
    loc: Loc


@dataclass(frozen=True)
class BoughtRule:
    """At least one purchase line passing ``where``."""

    where: tuple[tuple[str, Compare], ...]
    within: timedelta | None
    loc: Loc


@dataclass(frozen=True)
class AnniversaryRule:
    """The date of ``of`` (a date field, or ``first_order``) recurs, year on year, in a
    window of days: ``within_next`` (today onwards) or ``within`` (up to today)."""

    of: str
    test: Compare
    loc: Loc


@dataclass(frozen=True)
class AgeRule:
    """Whole years since the date of ``of`` (a date field), as of today."""

    of: str
    tests: tuple[Compare, ...]
    loc: Loc


@dataclass(frozen=True)
class DealRule:
    tests: tuple[tuple[str, Compare], ...]  # stage, status, pipeline, owner, amount, dates
    loc: Loc


@dataclass(frozen=True)
class ChangeTest:
    over: timedelta
    tests: tuple[Compare, ...]
    top: Share | None


@dataclass(frozen=True)
class ScoreRule:
    score: str
    exists: bool | None
    tests: tuple[Compare, ...]
    top: Share | None
    change: ChangeTest | None
    loc: Loc


@dataclass(frozen=True)
class RfmRule:
    classes: tuple[str, ...]
    tests: tuple[tuple[str, Compare], ...]  # r, f, m
    loc: Loc


@dataclass(frozen=True)
class PredictedRule:
    tests: tuple[tuple[str, Compare], ...]  # (prediction, number test)
    tops: tuple[tuple[str, Share], ...]  # (prediction, top share)
    loc: Loc


@dataclass(frozen=True)
class Ago:
    """A time relative to the cycle's clock: ``now - delta`` (``ahead``: ``now + delta``)."""

    delta: timedelta
    ahead: bool = False


@dataclass(frozen=True)
class SqlRule:
    sql: str
    loc: Loc
    # named parameters beyond :now and :today, bound by syncd (syncd.segments.sqlrule)
    params: tuple[tuple[str, Any], ...] = ()


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


Rule = (
    FieldRule
    | TagRule
    | ListRule
    | EventRule
    | PurchasesRule
    | SpentRule
    | BoughtRule
    | AnniversaryRule
    | AgeRule
    | DealRule
    | ScoreRule
    | RfmRule
    | PredictedRule
    | SqlRule
    | SegmentRef
    | AllOf
    | AnyOf
    | Not
)

FORMS = (
    "field", "tag", "list", "event", "purchases", "spent", "bought", "anniversary", "birthday",
    "age", "deal", "score", "rfm", "predicted", "sql",
    "segment", "all", "any", "not",
)  # fmt: skip


def as_time(value: Any) -> datetime | None:
    """A YAML date or datetime, or ISO text, as an aware UTC time; None if it is none."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            return as_time(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def kind_of(value: Any) -> str:
    """The type of a rule's operand: number, bool, date or text."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, date | datetime):
        return "date"
    return "text"


class Parser:
    """Parses rules against a catalog; each mistake is one ConfigError line."""

    def __init__(self, source: SourceMap, catalog: Catalog, scores: Sequence[str] = ()) -> None:
        self.source = source
        self.catalog = catalog
        self.scores = set(scores)

    def error(self, loc: Loc, message: str) -> ConfigError:
        return self.source.error(loc, message)

    def rule(self, value: Any, loc: Loc) -> Rule:
        if not isinstance(value, Mapping):
            raise self.error(loc, f"a rule must be a mapping such as {{tag: VIP}}, got {value!r}")
        forms = [key for key in FORMS if key in value]
        if forms == ["tag", "score"]:
            forms = ["tag"]  # {tag: X, score: {gte: 10}}: the tag's own score, a test of it
        if not forms:
            unknown = ", ".join(repr(k) for k in value) or "nothing"
            raise self.error(loc, f"unknown rule {unknown} (rules: {', '.join(FORMS)})")
        if len(forms) > 1:
            raise self.error(
                loc, f"a rule has one of {', '.join(FORMS)}; this one has {', '.join(forms)}"
            )
        return getattr(self, f"_{forms[0]}")(value, loc)

    # --- pieces -------------------------------------------------------------------------

    def _keys(self, value: Mapping[str, Any], loc: Loc, allowed: Sequence[str]) -> None:
        for key in value:
            if key not in allowed:
                raise self.error(
                    (*loc, key), f"unknown key {key!r} (allowed here: {', '.join(allowed)})"
                )

    def _name(self, value: Any, loc: Loc, what: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise self.error(loc, f"{what} must be a name, got {value!r}")
        return str(value).strip()

    def _duration(self, value: Any, loc: Loc) -> timedelta:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(loc, str(exc)) from None

    def _instance(self, value: Any, loc: Loc) -> str:
        name = self._name(value, loc, "source")
        if not self.catalog.open and name not in self.catalog.instances:
            known = ", ".join(sorted(self.catalog.instances)) or "none"
            raise self.error(loc, f"unknown source {name!r} (connector instances: {known})")
        return name

    def _value_test(self, op: str, operand: Any, loc: Loc) -> Compare:
        """One test of VALUE_OPS or TIME_OPS, its operand checked."""
        if op in ("in", "not_in"):
            if not isinstance(operand, list) or not operand:
                raise self.error(loc, f"{op} takes a non-empty list, got {operand!r}")
            for item in operand:
                if isinstance(item, dict | list) or item is None:
                    raise self.error(loc, f"{op} takes a list of single values, got {item!r}")
        elif op == "exists":
            if not isinstance(operand, bool):
                raise self.error(loc, f"exists takes true or false, got {operand!r}")
        elif op in ("within", "older_than", "within_next"):
            operand = self._duration(operand, loc)
        elif op in ("before", "after"):
            at = as_time(operand)
            if at is None:
                raise self.error(loc, f"{op} takes a date such as 2026-01-31, got {operand!r}")
            operand = at
        elif op in ("contains", "starts_with"):
            if not isinstance(operand, str) or not operand:
                raise self.error(loc, f"{op} takes text, got {operand!r}")
        elif operand is None or isinstance(operand, dict | list):
            raise self.error(loc, f"{op} takes a single value, got {operand!r}")
        elif op in ("gt", "gte", "lt", "lte") and isinstance(operand, bool):
            raise self.error(loc, f"{op} takes a number, a date or text, got {operand!r}")
        if isinstance(operand, date) and op in ("eq", "ne", "gt", "gte", "lt", "lte"):
            operand = as_time(operand)
        if op in ("in", "not_in"):
            operand = [as_time(v) if isinstance(v, date) else v for v in operand]
        return Compare(op, operand)

    def _number_tests(
        self, value: Any, loc: Loc, *, whole: bool, bare_gte: bool = True
    ) -> tuple[Compare, ...]:
        if bare_gte and isinstance(value, int | float) and not isinstance(value, bool):
            value = {"gte": value}
        if not isinstance(value, Mapping) or not value:
            raise self.error(loc, f"takes a number or tests such as {{gte: 3}}, got {value!r}")
        out = []
        for op, operand in value.items():
            if op not in NUMBER_OPS:
                raise self.error(
                    (*loc, op), f"unknown test {op!r} (tests: {', '.join(NUMBER_OPS)})"
                )
            if isinstance(operand, bool) or not isinstance(operand, int | float):
                raise self.error((*loc, op), f"{op} takes a number, got {operand!r}")
            if whole and (not isinstance(operand, int) or operand < 0):
                raise self.error((*loc, op), f"{op} takes a whole number, got {operand!r}")
            out.append(Compare(op, operand))
        return tuple(out)

    def _time_test(self, value: Any, loc: Loc) -> Compare:
        if not isinstance(value, Mapping) or len(value) != 1:
            raise self.error(loc, f"takes one time test ({', '.join(TIME_OPS[:2] + TIME_OPS[3:])})")
        op, operand = next(iter(value.items()))
        if op not in ("within", "older_than", "before", "after"):
            raise self.error(
                (*loc, op), f"unknown time test {op!r} (tests: within, older_than, before, after)"
            )
        return self._value_test(op, operand, (*loc, op))

    def _share(self, value: Any, loc: Loc) -> Share:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return Share(count=value)
        match = (
            re.fullmatch(r"\s*(\d+(?:\.\d{1,2})?)\s*%\s*", str(value))
            if isinstance(value, str)
            else None
        )
        if not match or not 0 < float(match.group(1)) <= 100:
            raise self.error(
                loc, f"top takes a share such as 10% or a number of contacts, got {value!r}"
            )
        return Share(basis_points=round(float(match.group(1)) * 100))

    # --- forms --------------------------------------------------------------------------

    def _field(self, value: Mapping[str, Any], loc: Loc) -> FieldRule:
        self._keys(value, loc, ("field", *VALUE_OPS, *TIME_OPS))
        name = self._name(value["field"], (*loc, "field"), "field")
        declared = self.catalog.field_type(name)
        if declared is None and not self.catalog.open:
            known = ", ".join(sorted(self.catalog.fields))
            raise self.error(
                (*loc, "field"),
                f"unknown field {name!r} (declare it under fields:; known: {known})",
            )
        tests = [k for k in value if k != "field"]
        if len(tests) != 1:
            raise self.error(
                loc, f"field {name!r}: give exactly one test ({', '.join(VALUE_OPS + TIME_OPS)})"
            )
        op = tests[0]
        test = self._value_test(op, value[op], (*loc, op))
        if declared:
            self._check_type(name, declared, test, (*loc, op))
        return FieldRule(name, test, loc)

    def _check_type(self, name: str, declared: str, test: Compare, loc: Loc) -> None:
        op = test.op
        if op == "exists":
            return
        if op in TIME_OPS:
            if declared != "date":
                raise self.error(loc, f"field {name!r} is {declared}; {op} needs a date field")
            return
        if op in ("contains", "starts_with"):
            if declared != "text":
                raise self.error(loc, f"field {name!r} is {declared}; {op} needs a text field")
            return
        operands = test.value if op in ("in", "not_in") else [test.value]
        for operand in operands:
            kind = "date" if isinstance(operand, datetime) else kind_of(operand)
            if declared == "text" and kind == "text":
                continue
            if declared == "text" and kind == "number":
                continue  # a text field may hold numbers written as text: compare as numbers
            if kind != declared:
                raise self.error(
                    loc, f"field {name!r} is {declared}, compared with {kind} {operand!r}"
                )
            if declared == "bool" and op not in ("eq", "ne", "in", "not_in"):
                raise self.error(loc, f"field {name!r} is bool; use eq or ne")

    def _tag(self, value: Mapping[str, Any], loc: Loc) -> TagRule:
        self._keys(value, loc, ("tag", "source", "count", "score", "since"))
        name = self._name(value["tag"], (*loc, "tag"), "tag")
        source = self._instance(value["source"], (*loc, "source")) if "source" in value else None
        count = (
            self._number_tests(value["count"], (*loc, "count"), whole=True)
            if "count" in value
            else ()
        )
        score = (
            self._number_tests(value["score"], (*loc, "score"), whole=False)
            if "score" in value
            else ()
        )
        since = self._since(value["since"], (*loc, "since")) if "since" in value else None
        return TagRule(name, source, count, loc, score, since)

    def _since(self, value: Any, loc: Loc) -> Compare:
        """``since:`` of a tag or list: ``30d`` (within), a date (on or after it), or one
        time test."""
        if isinstance(value, Mapping):
            if len(value) != 1 or next(iter(value)) not in TIME_OPS:
                raise self.error(loc, f"since takes 30d, a date or one of {', '.join(TIME_OPS)}")
            op, operand = next(iter(value.items()))
            return self._value_test(op, operand, (*loc, op))
        at = as_time(value) if isinstance(value, date | str) else None
        if at is not None:
            return Compare("gte", at)
        return Compare("within", self._duration(value, loc))

    def _list(self, value: Mapping[str, Any], loc: Loc) -> ListRule:
        self._keys(value, loc, ("list", "status", "source", "since"))
        name = self._name(value["list"], (*loc, "list"), "list")
        status = value.get("status", "subscribed")
        if status not in ("subscribed", "unsubscribed", "any"):
            raise self.error(
                (*loc, "status"), f"status is subscribed, unsubscribed or any, got {status!r}"
            )
        source = self._instance(value["source"], (*loc, "source")) if "source" in value else None
        since = self._since(value["since"], (*loc, "since")) if "since" in value else None
        return ListRule(name, status, source, loc, since)

    def event_type(self, value: Any, loc: Loc) -> str:
        kind = self._name(value, loc, "event")
        if kind != "any" and not self.catalog.open and kind not in self.catalog.event_types:
            known = ", ".join(sorted(self.catalog.event_types))
            raise self.error(
                loc, f"unknown event type {kind!r} (declare it under event_types:; known: {known})"
            )
        return kind

    def where(self, value: Any, loc: Loc) -> tuple[tuple[str, Compare], ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.error(loc, "where takes a mapping of property: value")
        out = []
        for prop, test in value.items():
            at = (*loc, prop)
            if not PROPERTY.match(str(prop)):
                raise self.error(at, f"bad property name {prop!r}: use letters, digits, _ and -")
            if isinstance(test, Mapping):
                if len(test) != 1:
                    raise self.error(at, f"property {prop!r}: give exactly one test")
                op, operand = next(iter(test.items()))
                if op not in VALUE_OPS:
                    raise self.error(
                        (*at, op), f"unknown test {op!r} (tests: {', '.join(VALUE_OPS)})"
                    )
                out.append((str(prop), self._value_test(op, operand, (*at, op))))
            else:
                out.append((str(prop), self._value_test("eq", test, at)))
        return tuple(out)

    def _event(self, value: Mapping[str, Any], loc: Loc) -> EventRule:
        self._keys(
            value, loc, ("event", "where", "within", "count", "first", "last", "not_followed_by")
        )
        later = value.get("not_followed_by")
        return EventRule(
            type=self.event_type(value["event"], (*loc, "event")),
            where=self.where(value.get("where"), (*loc, "where")),
            within=self._duration(value["within"], (*loc, "within")) if "within" in value else None,
            count=self._number_tests(value["count"], (*loc, "count"), whole=True)
            if "count" in value
            else (),
            first=self._time_test(value["first"], (*loc, "first")) if "first" in value else None,
            last=self._time_test(value["last"], (*loc, "last")) if "last" in value else None,
            loc=loc,
            not_followed_by=None
            if later is None
            else self.event_type(later, (*loc, "not_followed_by")),
        )

    def _purchases(self, value: Mapping[str, Any], loc: Loc) -> PurchasesRule:
        self._keys(value, loc, ("purchases",))
        body = value["purchases"]
        at = (*loc, "purchases")
        if not isinstance(body, Mapping) or not body:
            raise self.error(
                at, "purchases takes tests: count, total, average, first, last, within"
            )
        self._keys(body, at, ("where", "within", "count", "total", "average", "first", "last"))

        def numbers(key: str, whole: bool) -> tuple[Compare, ...]:
            return self._number_tests(body[key], (*at, key), whole=whole) if key in body else ()

        rule = PurchasesRule(
            within=self._duration(body["within"], (*at, "within")) if "within" in body else None,
            count=numbers("count", True),
            total=numbers("total", False),
            average=numbers("average", False),
            first=self._time_test(body["first"], (*at, "first")) if "first" in body else None,
            last=self._time_test(body["last"], (*at, "last")) if "last" in body else None,
            loc=loc,
            where=self.item_where(body["where"], (*at, "where")) if "where" in body else (),
        )
        if not (rule.count or rule.total or rule.average or rule.first or rule.last):
            if rule.where:  # "bought from the category": at least one such order
                return dataclasses.replace(rule, count=(Compare("gte", 1),))
            raise self.error(at, "purchases needs a test: count, total, average, first or last")
        return rule

    def item_where(self, value: Any, loc: Loc) -> tuple[tuple[str, Compare], ...]:
        """Tests on the keys of a line item: ``{category: Running, price: {gte: 50}}``."""
        if not isinstance(value, Mapping) or not value:
            raise self.error(loc, f"takes tests on a line's {', '.join(ITEM_KEYS)}")
        out = []
        for key, test in value.items():
            at = (*loc, key)
            if key not in ITEM_KEYS:
                raise self.error(
                    at, f"unknown line item key {key!r} (keys: {', '.join(ITEM_KEYS)})"
                )
            op, operand = next(iter(test.items())) if isinstance(test, Mapping) else ("eq", test)
            if isinstance(test, Mapping):
                if len(test) != 1:
                    raise self.error(at, f"{key}: give exactly one test")
                at = (*at, op)
                if op not in VALUE_OPS:
                    raise self.error(at, f"unknown test {op!r} (tests: {', '.join(VALUE_OPS)})")
            compared = self._value_test(op, operand, at)
            out.append((str(key), self._item_operand(str(key), compared, at)))
        return tuple(out)

    def _item_operand(self, key: str, test: Compare, loc: Loc) -> Compare:
        """A line's text keys compare with text (a bare whole number, as a SKU 12345 is
        written, is its text), its quantity and price with numbers."""
        if test.op == "exists":
            return test
        operands = test.value if test.op in ("in", "not_in") else [test.value]
        fixed = []
        for operand in operands:
            number = isinstance(operand, int | float) and not isinstance(operand, bool)
            if key in ITEM_NUMBERS:
                if not number or test.op in ("contains", "starts_with"):
                    raise self.error(loc, f"{key} is a number, compared with {operand!r}")
            elif isinstance(operand, int) and not isinstance(operand, bool):
                operand = str(operand)
            elif not isinstance(operand, str):
                raise self.error(loc, f"{key} is text, compared with {operand!r}")
            fixed.append(operand)
        return Compare(test.op, fixed if test.op in ("in", "not_in") else fixed[0])

    def _line_body(self, value: Mapping[str, Any], loc: Loc, key: str) -> Mapping[str, Any]:
        body = value[key]
        if not isinstance(body, Mapping) or not body:
            raise self.error((*loc, key), f"{key} takes tests on a line item, e.g. {{sku: X}}")
        return body

    def _spent(self, value: Mapping[str, Any], loc: Loc) -> SpentRule:
        self._keys(value, loc, ("spent",))
        body, at = self._line_body(value, loc, "spent"), (*loc, "spent")
        self._keys(body, at, ("where", "within", *NUMBER_OPS))
        numbers = {k: v for k, v in body.items() if k in NUMBER_OPS}
        if not numbers:
            raise self.error(at, "spent needs a test on the sum: gt, gte, lt, lte, eq or ne")
        return SpentRule(
            where=self.item_where(body["where"], (*at, "where")) if "where" in body else (),
            within=self._duration(body["within"], (*at, "within")) if "within" in body else None,
            tests=self._number_tests(numbers, at, whole=False),
            loc=loc,
        )

    def _bought(self, value: Mapping[str, Any], loc: Loc) -> BoughtRule:
        self._keys(value, loc, ("bought",))
        body, at = self._line_body(value, loc, "bought"), (*loc, "bought")
        self._keys(body, at, ("within", *ITEM_KEYS))
        tests = {k: v for k, v in body.items() if k != "within"}
        return BoughtRule(
            where=self.item_where(tests, at) if tests else (),
            within=self._duration(body["within"], (*at, "within")) if "within" in body else None,
            loc=loc,
        )

    def _date_field(self, value: Any, loc: Loc, first_order: bool = False) -> str:
        name = self._name(value, loc, "date field")
        if first_order and name == FIRST_ORDER:
            return name
        declared = self.catalog.field_type(name)
        if declared is None and not self.catalog.open:
            raise self.error(loc, f"unknown field {name!r} (declare it under fields: as date)")
        if declared is not None and declared != "date":
            raise self.error(loc, f"field {name!r} is {declared}; it needs a date field")
        return name

    def _recurring(self, value: Mapping[str, Any], loc: Loc, of: str) -> AnniversaryRule:
        tests = [k for k in value if k in ("within_next", "within")]
        if len(tests) != 1:
            raise self.error(loc, "give one window: within_next: 7d (coming) or within: 7d (past)")
        op = tests[0]
        test = self._value_test(op, value[op], (*loc, op))
        return AnniversaryRule(of, test, loc)

    def _anniversary(self, value: Mapping[str, Any], loc: Loc) -> AnniversaryRule:
        self._keys(value, loc, ("anniversary", "within_next", "within"))
        of = self._date_field(value["anniversary"], (*loc, "anniversary"), first_order=True)
        return self._recurring(value, loc, of)

    def _birthday(self, value: Mapping[str, Any], loc: Loc) -> AnniversaryRule:
        self._keys(value, loc, ("birthday",))
        body, at = value["birthday"], (*loc, "birthday")
        if not isinstance(body, Mapping):
            raise self.error(at, "birthday takes a window, e.g. {within_next: 7d}")
        self._keys(body, at, ("within_next", "within", "of"))
        of = self._date_field(body.get("of", "birthday"), (*at, "of"))
        return self._recurring(body, at, of)

    def _age(self, value: Mapping[str, Any], loc: Loc) -> AgeRule:
        self._keys(value, loc, ("age",))
        body, at = value["age"], (*loc, "age")
        if not isinstance(body, Mapping):
            raise self.error(at, "age takes tests such as {gte: 18} (and of: a date field)")
        self._keys(body, at, ("of", *NUMBER_OPS))
        numbers = {k: v for k, v in body.items() if k in NUMBER_OPS}
        of = self._date_field(body.get("of", "birthday"), (*at, "of"))
        return AgeRule(of, self._number_tests(numbers, at, whole=True, bare_gte=False), loc)

    def _deal(self, value: Mapping[str, Any], loc: Loc) -> DealRule:
        self._keys(value, loc, ("deal",))
        body = value["deal"]
        at = (*loc, "deal")
        if not isinstance(body, Mapping) or not body:
            raise self.error(
                at,
                "deal takes tests: stage, status, pipeline, owner, amount, created, closed",
            )
        self._keys(body, at, ("stage", "status", "pipeline", "owner", "amount", *DEAL_DATES))
        tests: list[tuple[str, Compare]] = []
        for key, operand in body.items():
            if key in DEAL_DATES:
                if not isinstance(operand, Mapping) or len(operand) != 1:
                    raise self.error(
                        (*at, key), f"{key} takes one time test ({', '.join(TIME_OPS)})"
                    )
                op, when = next(iter(operand.items()))
                if op not in TIME_OPS:
                    raise self.error(
                        (*at, key, op), f"unknown time test {op!r} (tests: {', '.join(TIME_OPS)})"
                    )
                tests.append((key, self._value_test(op, when, (*at, key, op))))
                continue
            if key == "amount":
                tests += [
                    ("amount", c)
                    for c in self._number_tests(operand, (*at, key), whole=False, bare_gte=False)
                ]
                continue
            if isinstance(operand, list):
                tests.append((key, self._value_test("in", [str(v) for v in operand], (*at, key))))
            else:
                tests.append((key, Compare("eq", self._name(operand, (*at, key), key))))
            if key == "status":
                for status in operand if isinstance(operand, list) else [operand]:
                    if status not in ("open", "won", "lost"):
                        raise self.error(
                            (*at, key), f"deal status is open, won or lost, got {status!r}"
                        )
        return DealRule(tuple(tests), loc)

    def _score(self, value: Mapping[str, Any], loc: Loc) -> ScoreRule:
        self._keys(value, loc, ("score", "exists", "top", "change", *NUMBER_OPS))
        name = self._name(value["score"], (*loc, "score"), "score")
        if name not in self.scores:
            known = ", ".join(sorted(self.scores)) or "none"
            raise self.error((*loc, "score"), f"unknown score {name!r} (scores: {known})")
        exists = value.get("exists")
        if exists is not None and not isinstance(exists, bool):
            raise self.error((*loc, "exists"), f"exists takes true or false, got {exists!r}")
        numbers = {k: v for k, v in value.items() if k in NUMBER_OPS}
        tests = self._number_tests(numbers, loc, whole=False) if numbers else ()
        top = self._share(value["top"], (*loc, "top")) if "top" in value else None
        change = self._change(value["change"], (*loc, "change")) if "change" in value else None
        if exists is None and not tests and top is None and change is None:
            raise self.error(loc, f"score {name!r}: give a test (exists, gte..., top or change)")
        return ScoreRule(name, exists, tests, top, change, loc)

    def _change(self, value: Any, loc: Loc) -> ChangeTest:
        if not isinstance(value, Mapping) or "over" not in value:
            raise self.error(
                loc, "change takes over: DURATION and a test, e.g. {over: 30d, top: 10%}"
            )
        self._keys(value, loc, ("over", "top", *NUMBER_OPS))
        numbers = {k: v for k, v in value.items() if k in NUMBER_OPS}
        tests = self._number_tests(numbers, loc, whole=False) if numbers else ()
        top = self._share(value["top"], (*loc, "top")) if "top" in value else None
        if not tests and top is None:
            raise self.error(loc, "change needs a test: top, or gt/gte/lt/lte/eq/ne")
        return ChangeTest(self._duration(value["over"], (*loc, "over")), tests, top)

    def _rfm(self, value: Mapping[str, Any], loc: Loc) -> RfmRule:
        self._keys(value, loc, ("rfm",))
        body = value["rfm"]
        at = (*loc, "rfm")
        if not isinstance(body, Mapping) or not body:
            raise self.error(at, "rfm takes tests: class, r, f, m")
        self._keys(body, at, ("class", "r", "f", "m"))
        classes: tuple[str, ...] = ()
        if "class" in body:
            raw = body["class"] if isinstance(body["class"], list) else [body["class"]]
            for name in raw:
                if name not in RFM_CLASSES:
                    raise self.error(
                        (*at, "class"),
                        f"unknown RFM class {name!r} (classes: {', '.join(RFM_CLASSES)})",
                    )
            classes = tuple(raw)
        tests = [
            (metric, c)
            for metric in ("r", "f", "m")
            if metric in body
            for c in self._number_tests(body[metric], (*at, metric), whole=True, bare_gte=False)
        ]
        return RfmRule(classes, tuple(tests), loc)

    def _predicted(self, value: Mapping[str, Any], loc: Loc) -> PredictedRule:
        self._keys(value, loc, ("predicted",))
        body = value["predicted"]
        at = (*loc, "predicted")
        if not isinstance(body, Mapping) or not body:
            raise self.error(at, f"predicted takes tests on {', '.join(PREDICTED)}")
        self._keys(body, at, PREDICTED)
        tests: list[tuple[str, Compare]] = []
        tops: list[tuple[str, Share]] = []
        for name, test in body.items():
            where = (*at, name)
            if isinstance(test, Mapping) and "top" in test:
                tops.append((name, self._share(test["top"], (*where, "top"))))
                test = {k: v for k, v in test.items() if k != "top"}
                if not test:
                    continue
            tests += [
                (name, c) for c in self._number_tests(test, where, whole=False, bare_gte=False)
            ]
        return PredictedRule(tuple(tests), tuple(tops), loc)

    def _sql(self, value: Mapping[str, Any], loc: Loc) -> SqlRule:
        from syncd.segments.sqlrule import parameters_of

        self._keys(value, loc, ("sql", "params"))
        sql = value["sql"]
        if not isinstance(sql, str) or not sql.strip().lower().startswith(("select", "with")):
            raise self.error((*loc, "sql"), "sql takes one SELECT returning a contact_id column")
        if ";" in sql.strip().rstrip(";"):
            raise self.error((*loc, "sql"), "sql takes one statement, without ';' inside")
        params = self._sql_params(value.get("params", {}), (*loc, "params"))
        used, bound = parameters_of(sql), {"now", "today", *(k for k, _ in params)}
        unbound = sorted(used - bound)
        if unbound:
            name = unbound[0]
            raise self.error(
                (*loc, "sql"),
                f"the SQL uses :{name}, which syncd does not bind (bound: "
                f"{', '.join(':' + b for b in sorted(bound))}; give it under params:)",
            )
        for name, _ in params:
            if name not in used:
                raise self.error((*loc, "params", name), f"the SQL does not use :{name}")
        return SqlRule(sql.strip().rstrip(";"), loc, params)

    def _sql_params(self, value: Any, loc: Loc) -> tuple[tuple[str, Any], ...]:
        """``params:`` of a sql rule: name -> a value, a date, or ``{ago: 30d}`` /
        ``{ahead: 7d}`` (a time from the cycle's clock)."""
        if not isinstance(value, Mapping):
            raise self.error(loc, "params takes a mapping of name: value")
        out: list[tuple[str, Any]] = []
        for name, operand in value.items():
            at = (*loc, str(name))
            if not re.fullmatch(r"[A-Za-z_]\w*", str(name)) or name in ("now", "today"):
                raise self.error(
                    at,
                    f"bad parameter name {name!r} (letters, digits, _; now and today are "
                    "syncd's own)",
                )
            if isinstance(operand, Mapping):
                if len(operand) != 1 or next(iter(operand)) not in ("ago", "ahead"):
                    raise self.error(at, "a time parameter is {ago: 30d} or {ahead: 7d}")
                kind, delta = next(iter(operand.items()))
                bound: Any = Ago(self._duration(delta, (*at, kind)), ahead=kind == "ahead")
            elif isinstance(operand, date):
                bound = as_time(operand)
            elif operand is None or isinstance(operand, list):
                raise self.error(at, f"a parameter takes one value, got {operand!r}")
            else:
                bound = operand
            out.append((str(name), bound))
        return tuple(out)

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


def moves_with_clock(rule: Rule) -> bool:
    """Whether ``rule`` (a leaf) reads a time the change tracker's time edges do not follow:
    a deal's dates (a segment holding one is computed whole, like recurring dates). Since
    when a tag or list is held has edges (syncd.segments.incremental)."""
    if isinstance(rule, DealRule):
        return any(key in DEAL_DATES for key, _ in rule.tests)
    return False


def children(rule: Rule) -> tuple[Rule, ...]:
    if isinstance(rule, AllOf | AnyOf):
        return rule.rules
    if isinstance(rule, Not):
        return (rule.rule,)
    return ()


def leaves(rule: Rule) -> Iterator[Rule]:
    """``rule`` and every part of it, each ``all``, ``any`` and ``not`` with what it holds."""
    stack = [rule]
    while stack:
        part = stack.pop()
        stack.extend(children(part))
        yield part


def references(rule: Rule) -> list[SegmentRef]:
    """The segments ``rule`` refers to, directly."""
    if isinstance(rule, SegmentRef):
        return [rule]
    return [ref for child in children(rule) for ref in references(child)]


def without_description(value: Any) -> Any:
    """A segment's rule, without the ``description:`` a segment may carry beside it."""
    if isinstance(value, Mapping) and "description" in value:
        return {k: v for k, v in value.items() if k != "description"}
    return value


def description(value: Any) -> str | None:
    """The ``description:`` of a segment, if it has one."""
    if isinstance(value, Mapping) and isinstance(value.get("description"), str):
        return " ".join(str(value["description"]).split())
    return None


def parse_segments(
    segments: Mapping[str, Any],
    source: SourceMap,
    catalog: Catalog | None = None,
    scores: Sequence[str] = (),
) -> dict[str, Rule]:
    """Parse every segment; unknown references and cycles are errors. The result is in an
    order where each segment comes after the segments it refers to."""
    parser = Parser(source, catalog or Catalog.permissive(), scores)
    rules = {
        name: parser.rule(without_description(value), ("segments", name))
        for name, value in segments.items()
    }
    known = sorted(rules)
    for rule in rules.values():
        for ref in references(rule):
            if ref.name not in rules:
                raise source.error((*ref.loc, "segment"), did_you_mean("segment", ref.name, known))
    ordered: dict[str, Rule] = {}
    for name in rules:
        _visit(name, rules, [], ordered, source)
    return ordered


def _visit(
    name: str, rules: dict[str, Rule], path: list[str], out: dict[str, Rule], source: SourceMap
) -> None:
    if name in out:
        return
    if name in path:
        cycle = " -> ".join([*path[path.index(name) :], name])
        raise source.error(
            ("segments", path[-1]), f"segments refer to each other in a cycle: {cycle}"
        )
    for ref in references(rules[name]):
        _visit(ref.name, rules, [*path, name], out, source)
    out[name] = rules[name]
