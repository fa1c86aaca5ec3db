"""A plain-Python evaluator of the segment language, written from docs/segments.md alone (its
RFM table is read from there).

It is the oracle the SQL compiler is checked against. Scores with a half-life are sums of
decayed floats that SQL and Python round differently, so a comparison within ``EPS`` of its
threshold is *unknown*: each rule yields the contacts it surely selects and those it may.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from syncd.segments.rules import (
    FIRST_ORDER,
    ITEM_NUMBERS,
    AgeRule,
    AllOf,
    AnniversaryRule,
    AnyOf,
    BoughtRule,
    ChangeTest,
    Compare,
    DealRule,
    EventRule,
    FieldRule,
    ListRule,
    Not,
    PredictedRule,
    PurchasesRule,
    RfmRule,
    Rule,
    ScoreRule,
    SegmentRef,
    Share,
    SpentRule,
    SqlRule,
    TagRule,
)
from syncd.segments.scores import ScoreModel
from tests.segment_data import Contact, Dataset, Deal, Event, FieldValue, split_tag

EPS = 1e-7
PURCHASE = "order_placed"
ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
Truth = bool | None  # None: too close to call (see EPS)
Scores = tuple[int, int]  # the lowest and highest of a score 1-5 that a class takes
DOCS = Path(__file__).resolve().parents[1] / "docs" / "segments.md"


def score_range(cell: str) -> Scores:
    """A cell of the RFM table: ``4-5`` (written with an en dash), ``3`` or ``any``."""
    if cell == "any":
        return 1, 5
    low, _, high = cell.partition("\N{EN DASH}")
    return int(low), int(high or low)


def rfm_table() -> tuple[tuple[str, Scores, Scores, Scores], ...]:
    """The RFM classes as docs/segments.md ("rfm") tables them: the first row that fits."""
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    first = lines.index("| class | r | f | m |") + 2  # past the header and its rule
    rows = []
    for line in itertools.takewhile(lambda text: text.startswith("|"), lines[first:]):
        name, r, f, m = (cell.strip().strip("`") for cell in line.strip("|").split("|"))
        rows.append((name, score_range(r), score_range(f), score_range(m)))
    return tuple(rows)


RFM_TABLE = rfm_table()


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def kleene_and(parts: Iterable[Truth]) -> Truth:
    out: Truth = True
    for part in parts:
        if part is False:
            return False
        if part is None:
            out = None
    return out


def number_test(value: float, test: Compare, eps: float = 0.0) -> Truth:
    """A number test (eq ne gt gte lt lte); unknown when ``value`` is within ``eps``."""
    if eps and abs(value - test.value) <= eps:
        return None
    if test.op == "eq":
        return value == test.value
    if test.op == "ne":
        return value != test.value
    return ORDER[test.op](value, test.value)


def count_test(count: int, tests: Iterable[Compare]) -> bool:
    return all(number_test(count, t) for t in tests)


def in_window(at: datetime, op: str, operand: Any, now: datetime) -> bool:
    """A time test of docs/segments.md "Time"."""
    if op == "within":
        return now - operand <= at <= now
    if op == "older_than":
        return at < now - operand
    if op == "within_next":
        return now <= at <= now + operand
    if op == "before":
        return at < operand
    if op == "after":
        return at > operand
    raise ValueError(op)


def glob_matches(pattern: str, text: str) -> bool:
    """``*`` any text, ``?`` one character; everything else literal and case-sensitive."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


# --- values -------------------------------------------------------------------------------


def field_eq(value: FieldValue, operand: Any) -> bool:
    """``eq``: a number numerically, true/false as a boolean, a date as a time, else text."""
    if isinstance(operand, bool):
        return value.text == ("true" if operand else "false")
    if is_number(operand):
        return value.num is not None and value.num == operand
    if isinstance(operand, datetime):
        return value.ts is not None and value.ts == operand
    return value.text == operand


def by_equality(op: str, operand: Any, eq: Callable[[Any], bool]) -> bool | None:
    """``eq``, ``in``, ``ne`` and ``not_in``, each from what equals one value; None for
    another op."""
    if op == "eq":
        return eq(operand)
    if op == "in":
        return any(eq(x) for x in operand)
    if op == "ne":
        return not eq(operand)
    if op == "not_in":
        return not any(eq(x) for x in operand)
    return None


def field_test(value: FieldValue | None, test: Compare, now: datetime) -> bool:
    op, operand = test.op, test.value
    if op == "exists":
        return (value is not None) == operand
    equal = by_equality(op, operand, lambda x: value is not None and field_eq(value, x))
    if equal is not None:
        return equal
    if value is None:
        return False
    if op in ORDER:
        if is_number(operand):
            return value.num is not None and ORDER[op](value.num, operand)
        if isinstance(operand, datetime):
            return value.ts is not None and ORDER[op](value.ts, operand)
        return ORDER[op](value.text, operand)
    if op == "contains":
        return operand in value.text
    if op == "starts_with":
        return value.text.startswith(operand)
    return value.ts is not None and in_window(value.ts, op, operand, now)


_ABSENT = object()


def property_eq(prop: Any, operand: Any) -> bool:
    """A number only with a number property, text only with text, a boolean with a boolean."""
    if isinstance(operand, bool):
        return isinstance(prop, bool) and prop == operand
    if is_number(operand):
        return is_number(prop) and prop == operand
    if isinstance(operand, datetime):
        raise NotImplementedError("docs/segments.md does not say how a property is a date")
    return isinstance(prop, str) and prop == operand


def property_test(prop: Any, test: Compare) -> bool:
    """One ``where:`` test; ``prop`` is ``_ABSENT`` when the event lacks the property."""
    op, operand = test.op, test.value
    if op == "exists":
        return (prop is not _ABSENT) == operand
    equal = by_equality(op, operand, lambda x: property_eq(prop, x))
    if equal is not None:
        return equal
    if op in ORDER:
        if is_number(operand):
            return is_number(prop) and ORDER[op](prop, operand)
        if isinstance(operand, str):
            return isinstance(prop, str) and ORDER[op](prop, operand)
        raise NotImplementedError(f"{op} {operand!r} on a property")
    if op == "contains":
        return isinstance(prop, str) and operand in prop
    if op == "starts_with":
        return isinstance(prop, str) and prop.startswith(operand)
    raise ValueError(op)


def event_matches(kind: str, where: Iterable[tuple[str, Compare]], event: Event) -> bool:
    """Of the type (every type for ``any``) and passing every ``where:`` test."""
    if kind != "any" and event.type != kind:
        return False
    props = event.properties or {}
    return all(property_test(props.get(name, _ABSENT), test) for name, test in where)


def item_value(item: Mapping[str, Any], key: str) -> Any:
    """A line's value as docs/events.md keeps it: of its documented type, else missing."""
    value = item.get(key, _ABSENT)
    if key == "quantity":
        whole = is_number(value) and float(value).is_integer()
        return int(value) if whole else _ABSENT
    if key in ITEM_NUMBERS:
        return value if is_number(value) else _ABSENT
    return value if isinstance(value, str) else _ABSENT


def item_matches(item: Mapping[str, Any], where: Iterable[tuple[str, Compare]]) -> bool:
    return all(property_test(item_value(item, key), test) for key, test in where)


def order_lines(event: Event) -> list[Mapping[str, Any]]:
    """The lines of an event: the mappings of its ``items`` list."""
    found = (event.properties or {}).get("items")
    return [i for i in found if isinstance(i, Mapping)] if isinstance(found, list) else []


def line_total(item: Mapping[str, Any]) -> float:
    price, quantity = item_value(item, "price"), item_value(item, "quantity")
    return (0.0 if price is _ABSENT else price) * (1 if quantity is _ABSENT else quantity)


def recurring(born: date, year: int) -> date:
    """The day ``born`` recurs on in ``year``: 29 February on 28 February of a common year."""
    if (born.month, born.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, born.month, born.day)


def recurs_within(born: date, first: date, last: date) -> bool:
    """An anniversary of ``born`` (one year on at least) falls on a day from first to last."""
    return any(
        first <= recurring(born, year) <= last
        for year in range(max(born.year + 1, first.year - 1), last.year + 2)
        if year <= 9999
    )


def age_on(born: date, today: date) -> int:
    """Whole years from ``born`` to ``today``: one more each time the date recurs."""
    years = today.year - born.year
    return years if recurring(born, today.year) <= today else years - 1


# --- the evaluator ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The contacts a rule surely selects, and those too close to call."""

    yes: frozenset[int]
    maybe: frozenset[int] = frozenset()


def share_size(share: Share, candidates: int) -> int:
    if share.count is not None:
        return share.count
    assert share.basis_points is not None
    return -(-share.basis_points * candidates // 10000)  # ceil(P% x n), exactly


def top_truths(values: Mapping[int, float], share: Share, eps: float) -> dict[int, Truth]:
    """Rank 1 for the highest, ties sharing the better rank; in when the rank is at most
    the share. Values within ``eps`` of each other may rank either way."""
    size = share_size(share, len(values))
    return ranked_truths(values, values, values, (size, size), eps)


def rising_top_truths(
    changes: Mapping[int, float], scores: Mapping[int, float], share: Share, eps: float
) -> dict[int, Truth]:
    """A change's ``top:``, among the contacts whose change and score now are above 0."""
    sure = {c: v for c, v in changes.items() if v > eps and scores[c] > eps}
    maybe = {c: v for c, v in changes.items() if v > -eps and scores[c] > -eps}
    sizes = share_size(share, len(sure)), share_size(share, len(maybe))
    return ranked_truths(changes, sure, maybe, sizes, eps)


def ranked_truths(
    values: Mapping[int, float],
    sure: Mapping[int, float],
    maybe: Mapping[int, float],
    sizes: tuple[int, int],
    eps: float,
) -> dict[int, Truth]:
    """In when ranked within the share among the ``sure`` candidates (of ``sizes[0]``), out
    when ranked past it even among the ``maybe`` ones (of ``sizes[1]``), else unknown."""
    low, high = sizes
    out: dict[int, Truth] = {}
    for c, v in values.items():
        if c not in maybe:
            out[c] = False
            continue
        surely_above = sum(1 for o, w in sure.items() if o != c and w > v + eps)
        maybe_above = sum(1 for o, w in maybe.items() if o != c and w > v - eps)
        if c in sure and 1 + maybe_above <= low:
            out[c] = True
        elif 1 + surely_above > high:
            out[c] = False
        else:
            out[c] = None
    return out


@dataclass(frozen=True)
class Rfm:
    r: int
    f: int
    m: int
    klass: str


def quintiles(metric: Mapping[int, Any]) -> dict[int, int]:
    """``1 + floor(5 (rank - 1) / n)``, ranked ascending, ties sharing the lower rank."""
    n = len(metric)
    return {c: 1 + 5 * sum(1 for w in metric.values() if w < v) // n for c, v in metric.items()}


def rfm_class(r: int, f: int, m: int) -> str:
    for name, (r0, r1), (f0, f1), (m0, m1) in RFM_TABLE:
        if r0 <= r <= r1 and f0 <= f <= f1 and m0 <= m <= m1:
            return name
    raise AssertionError(f"no RFM class fits r={r} f={f} m={m}")


class Reference:
    """Evaluates rules over one dataset at ``data.now``."""

    def __init__(
        self,
        data: Dataset,
        models: Mapping[str, ScoreModel] | None = None,
        sql: Mapping[str, Callable[[Dataset], Iterable[int]]] | None = None,
        predictions: Mapping[int, Mapping[str, float | None]] | None = None,
    ) -> None:
        self.data = data
        self.now = data.now
        self.models = dict(models or {})
        self.sql = dict(sql or {})
        self.universe = frozenset(c.id for c in data.contacts)
        self.contacts: dict[int, Contact] = {c.id: c for c in data.contacts}
        # events at or before now, of contacts; everything else ignores the rest
        self.events: dict[int, list[Event]] = {c: [] for c in self.universe}
        for e in data.events:
            if e.at <= self.now and e.contact_id in self.events:
                self.events[e.contact_id].append(e)
        self.deals: dict[int, list[Deal]] = {c: [] for c in self.universe}
        for d in data.deals:
            for cid in d.contact_ids:
                self.deals[cid].append(d)
        self.rfm = self._rfm()
        # each purchaser's predictions (docs/segments.md, "predicted"), worked out by the
        # caller from the fitted model; a contact without is in no predicted: rule
        self.predictions = {c: p for c, p in (predictions or {}).items() if c in self.universe}
        self._segments: dict[str, Verdict] = {}
        self._rules: Mapping[str, Rule] = {}

    # --- segments -----------------------------------------------------------------------

    def evaluate(self, rules: Mapping[str, Rule]) -> dict[str, Verdict]:
        self._rules = rules
        self._segments = {}
        return {name: self._segment(name) for name in rules}

    def _segment(self, name: str) -> Verdict:
        if name not in self._segments:
            self._segments[name] = self.verdict(self._rules[name])
        return self._segments[name]

    def verdict(self, rule: Rule) -> Verdict:
        if isinstance(rule, SegmentRef):
            return self._segment(rule.name)
        if isinstance(rule, AllOf | AnyOf):
            parts = [self.verdict(r) for r in rule.rules]
            if isinstance(rule, AllOf):
                yes = frozenset.intersection(*(p.yes for p in parts))
                no = frozenset.union(*(self.universe - p.yes - p.maybe for p in parts))
            else:
                yes = frozenset.union(*(p.yes for p in parts))
                no = frozenset.intersection(*(self.universe - p.yes - p.maybe for p in parts))
            return Verdict(yes, self.universe - yes - no)
        if isinstance(rule, Not):
            inner = self.verdict(rule.rule)
            return Verdict(self.universe - inner.yes - inner.maybe, inner.maybe)
        if isinstance(rule, SqlRule):
            return Verdict(frozenset(self.sql[rule.sql](self.data)) & self.universe)
        if isinstance(rule, ScoreRule | PredictedRule):
            truths = self._score(rule) if isinstance(rule, ScoreRule) else self._predicted(rule)
            return Verdict(
                frozenset(c for c, t in truths.items() if t is True),
                frozenset(c for c, t in truths.items() if t is None),
            )
        test = self._predicate(rule)
        return Verdict(frozenset(c for c in self.universe if test(c)))

    def _predicate(self, rule: Rule) -> Callable[[int], bool]:
        if isinstance(rule, FieldRule):
            return lambda c: field_test(self.contacts[c].fields.get(rule.name), rule.test, self.now)
        if isinstance(rule, TagRule):
            return lambda c: self._tag(self.contacts[c], rule)
        if isinstance(rule, ListRule):
            return lambda c: any(
                name == rule.name
                and (rule.source is None or source == rule.source)
                and (rule.status == "any" or status == rule.status)
                and self._since(self.contacts[c].list_since.get((source, name)), rule.since)
                for (source, name), status in self.contacts[c].lists.items()
            )
        if isinstance(rule, EventRule):
            return lambda c: self._event(c, rule)
        if isinstance(rule, PurchasesRule):
            return lambda c: self._purchases(c, rule)
        if isinstance(rule, SpentRule):
            return lambda c: all(
                number_test(sum(line_total(i) for i in self._lines(c, rule)), t) for t in rule.tests
            )
        if isinstance(rule, BoughtRule):
            return lambda c: bool(self._lines(c, rule))
        if isinstance(rule, AnniversaryRule):
            return lambda c: self._anniversary(c, rule)
        if isinstance(rule, AgeRule):
            return lambda c: self._age(c, rule)
        if isinstance(rule, DealRule):
            return lambda c: any(self._deal(d, rule) for d in self.deals[c])
        if isinstance(rule, RfmRule):
            return lambda c: self._rfm_test(c, rule)
        raise TypeError(f"no reference for {rule!r}")

    # --- forms --------------------------------------------------------------------------

    def _tag(self, contact: Contact, rule: TagRule) -> bool:
        counters = []
        for source, tag in contact.tags:
            name, count = split_tag(tag)
            if rule.source is not None and source != rule.source:
                continue
            score = contact.tag_scores.get((source, tag))
            if rule.score and (score is None or not all(number_test(score, t) for t in rule.score)):
                continue  # a tag without a score passes no score test
            if not self._since(contact.tag_since.get((source, tag)), rule.since):
                continue
            if glob_matches(rule.name, name) or glob_matches(rule.name, tag):
                counters.append(1 if count is None else count)
        if not rule.count:
            return bool(counters)  # (with a score test: a tag with a passing score)
        if not counters:
            return False  # docs/segments.md, tag: no matching tag never matches
        return any(count_test(n, rule.count) for n in counters)

    def _since(self, at: datetime | None, test: Compare | None) -> bool:
        """A tag's or list's ``since:`` test (none: every link passes); a link the dataset
        gives no time began at ``now`` (syncd saw it first at this pull)."""
        if test is None:
            return True
        at = self.now if at is None else at
        if test.op == "gte":
            return at >= test.value
        return in_window(at, test.op, test.value, self.now)

    def _event(self, c: int, rule: EventRule) -> bool:
        times = [
            e.at
            for e in self.events[c]
            if event_matches(rule.type, rule.where, e)
            and (rule.within is None or self.now - rule.within <= e.at)
        ]
        checks = []
        if rule.count:
            checks.append(count_test(len(times), rule.count))
        for test, pick in ((rule.first, min), (rule.last, max)):
            if test is not None:
                checks.append(bool(times) and in_window(pick(times), test.op, test.value, self.now))
        if not checks:
            return bool(times)
        return all(checks)

    def _orders(self, c: int, within: timedelta | None) -> list[Event]:
        return [
            e
            for e in self.events[c]
            if e.type == PURCHASE and (within is None or self.now - within <= e.at)
        ]

    def _date_of(self, c: int, of: str) -> date | None:
        """The UTC day of ``of`` for the contact: a date field, or the first order."""
        if of == FIRST_ORDER:
            orders = self._orders(c, None)
            return min(e.at for e in orders).astimezone(UTC).date() if orders else None
        value = self.contacts[c].fields.get(of)
        return None if value is None or value.ts is None else value.ts.astimezone(UTC).date()

    def _anniversary(self, c: int, rule: AnniversaryRule) -> bool:
        born = self._date_of(c, rule.of)
        if born is None:
            return False
        today = self.now.astimezone(UTC).date()
        if rule.test.op == "within_next":
            first, last = today, (self.now + rule.test.value).astimezone(UTC).date()
        else:
            first, last = (self.now - rule.test.value).astimezone(UTC).date(), today
        return recurs_within(born, first, last)

    def _age(self, c: int, rule: AgeRule) -> bool:
        born = self._date_of(c, rule.of)
        if born is None:
            return False
        age = age_on(born, self.now.astimezone(UTC).date())
        return all(number_test(age, t) for t in rule.tests)

    def _lines(self, c: int, rule: SpentRule | BoughtRule) -> list[Mapping[str, Any]]:
        return [
            item
            for e in self._orders(c, rule.within)
            for item in order_lines(e)
            if item_matches(item, rule.where)
        ]

    def _purchases(self, c: int, rule: PurchasesRule) -> bool:
        orders = self._orders(c, rule.within)
        if rule.where:
            orders = [e for e in orders if any(item_matches(i, rule.where) for i in order_lines(e))]
        count = len(orders)
        total = sum((e.value or 0.0) for e in orders)
        checks = [count_test(count, rule.count), all(number_test(total, t) for t in rule.total)]
        if rule.average:
            checks.append(count > 0 and all(number_test(total / count, t) for t in rule.average))
        for test, pick in ((rule.first, min), (rule.last, max)):
            if test is not None:
                checks.append(
                    count > 0
                    and in_window(pick(e.at for e in orders), test.op, test.value, self.now)
                )
        return all(checks)

    def _deal(self, deal: Deal, rule: DealRule) -> bool:
        for key, test in rule.tests:
            if key in ("created", "closed"):
                at = deal.created_at if key == "created" else deal.closed_at
                if at is None or not in_window(at, test.op, test.value, self.now):
                    return False
                continue
            if key == "amount":
                if deal.amount is None or not number_test(deal.amount, test):
                    return False
                continue
            value = getattr(deal, key)
            allowed = test.value if test.op == "in" else [test.value]
            if value is None or value not in allowed:
                return False
        return True

    # --- scores -------------------------------------------------------------------------

    def score_values(self, model: ScoreModel, at: datetime) -> dict[int, float]:
        """Each scored contact's score at ``at``: events at or before ``at``, aged from it."""
        out: dict[int, float] = {}
        for c, evs in self.events.items():
            for e in evs:
                if e.at > at:
                    continue
                earned = [p for p in model.points if event_matches(p.event, p.where, e)]
                if not earned:
                    continue
                points = sum(p.points for p in earned)
                if model.half_life is not None:
                    points *= 0.5 ** ((at - e.at) / model.half_life)
                out[c] = out.get(c, 0.0) + points
        return out

    def _score(self, rule: ScoreRule) -> dict[int, Truth]:
        model = self.models[rule.score]
        eps = EPS if model.half_life is not None else 0.0
        values = self.score_values(model, self.now)
        top = top_truths(values, rule.top, eps) if rule.top else {}
        change = self._change(model, rule.change, values, eps) if rule.change else {}
        out: dict[int, Truth] = {}
        for c in self.universe:
            has = c in values
            parts: list[Truth] = []
            if rule.exists is not None:
                parts.append(has == rule.exists)
            if rule.tests or rule.top or rule.change:
                if not has:
                    parts.append(False)
                else:
                    parts += [number_test(values[c], t, eps) for t in rule.tests]
                    if rule.top:
                        parts.append(top[c])
                    if rule.change:
                        parts.append(change[c])
            out[c] = kleene_and(parts)
        return out

    def _change(
        self, model: ScoreModel, test: ChangeTest, values: Mapping[int, float], eps: float
    ) -> dict[int, Truth]:
        then = self.score_values(model, self.now - test.over)
        changes = {c: v - then.get(c, 0.0) for c, v in values.items()}
        top = rising_top_truths(changes, values, test.top, eps) if test.top else {}
        return {
            c: kleene_and(
                [*(number_test(v, t, eps) for t in test.tests), *([top[c]] if test.top else [])]
            )
            for c, v in changes.items()
        }

    # --- RFM ----------------------------------------------------------------------------

    def _predicted(self, rule: PredictedRule) -> dict[int, Truth]:
        """Each prediction test; a top share ranks the purchasers with that prediction. The
        predictions are floats the store rounds as it will: within EPS is unknown."""
        parts: dict[int, list[Truth]] = {c: [] for c in self.predictions}
        for name, test in rule.tests:
            for c, p in self.predictions.items():
                value = p[name]
                parts[c].append(False if value is None else number_test(value, test, EPS))
        for name, share in rule.tops:
            values = {c: p[name] for c, p in self.predictions.items() if p[name] is not None}
            top = top_truths(values, share, EPS)  # type: ignore[arg-type]
            for c in self.predictions:
                parts[c].append(top.get(c, False))
        return {c: kleene_and(truths) for c, truths in parts.items()}

    def _rfm(self) -> dict[int, Rfm]:
        recency: dict[int, datetime] = {}
        frequency: dict[int, int] = {}
        monetary: dict[int, float] = {}
        for c in self.universe:
            orders = self._orders(c, None)
            if orders:
                recency[c] = max(e.at for e in orders)
                frequency[c] = len(orders)
                monetary[c] = sum((e.value or 0.0) for e in orders)
        if not recency:
            return {}
        r, f, m = quintiles(recency), quintiles(frequency), quintiles(monetary)
        return {c: Rfm(r[c], f[c], m[c], rfm_class(r[c], f[c], m[c])) for c in recency}

    def _rfm_test(self, c: int, rule: RfmRule) -> bool:
        rfm = self.rfm.get(c)
        if rfm is None:
            return False
        if rule.classes and rfm.klass not in rule.classes:
            return False
        return all(number_test(getattr(rfm, metric), t) for metric, t in rule.tests)
