"""Rules compiled to SQL: each rule becomes a set of contact ids, selected by the store.

Every rule is a ``SELECT contact_id`` built from set operations: a condition reads only the
rows of the table it is about (events of one type, tags of one name), and ``all`` / ``any`` /
``not`` are INTERSECT / UNION / EXCEPT. This keeps the work proportional to the rows that
matter instead of probing every contact once per rule.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeGuard

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from syncd.clock import as_utc
from syncd.segments import dates, items, sqlfuncs, sqlrule
from syncd.segments.events import compare, holds_for, matching, time_test
from syncd.segments.rules import (
    DEAL_DATES,
    FIRST_ORDER,
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
    children,
)
from syncd.segments.scores import ScoreModel, growth
from syncd.store.schema import (
    contact_fields,
    contact_predictions,
    contact_rfm,
    contact_score_changes,
    contact_scores,
    contacts,
    deal_contacts,
    deals,
    event_items,
    events,
    memberships,
    segment_members,
    tags,
)
from syncd.yamlsource import SourceMap

Condition = ColumnElement[bool]
AntiJoin = Literal["not_in", "not_exists"]  # see Compiler.anti_join
Members = sa.Select[Any]  # one column, contact_id
PURCHASE = "order_placed"


def _every_rule(rules: Iterable[Rule]) -> Iterator[Rule]:
    """``rules`` and every rule they contain."""
    stack = list(rules)
    while stack:
        rule = stack.pop()
        stack.extend(children(rule))
        yield rule


def score_windows(rules: Iterable[Rule]) -> dict[str, set[timedelta]]:
    """The windows each score's change is asked over, by the rules and what they contain."""
    out: dict[str, set[timedelta]] = {}
    for rule in _every_rule(rules):
        if isinstance(rule, ScoreRule) and rule.change is not None:
            out.setdefault(rule.score, set()).add(rule.change.over)
    return out


def kept_changes(rules: Iterable[Rule]) -> dict[tuple[str, timedelta], frozenset[str] | None]:
    """For each score's window, the tests against 0 (``gt``, ``lte``...) that every change a
    rule may select passes one of; None where any change may be selected.

    A score's change is stored only where one of them holds (syncd.segments.scores): with a
    half-life a threshold moves with the clock, but never across 0, so a test ``gt: 5``
    never selects a change at or below 0, nor the top share of the risers.
    """
    out: dict[tuple[str, timedelta], frozenset[str] | None] = {}
    for rule in _every_rule(rules):
        if isinstance(rule, ScoreRule) and rule.change is not None:
            key = (rule.score, rule.change.over)
            sign = _sign_of(rule.change)
            if sign is None or (key in out and out[key] is None):
                out[key] = None
            else:
                out[key] = (out.get(key) or frozenset()) | {sign}
    return out


def _sign_of(change: ChangeTest) -> str | None:
    """A test against 0 that every change ``change`` selects passes; None if none."""
    if change.top is not None:
        return "gt"  # a riser: its change is above 0
    for test in change.tests:
        value = float(test.value)
        if test.op in ("gt", "gte") and value >= 0:
            return test.op if value == 0 else "gt"
        if test.op in ("lt", "lte") and value <= 0:
            return test.op if value == 0 else "lt"
    return None


def reading(rules: Mapping[str, Rule], kinds: tuple[type, ...]) -> set[str]:
    """The segments of ``rules`` (in dependency order) that hold a rule of one of ``kinds``,
    or refer to a segment that does."""
    out: set[str] = set()
    for name, rule in rules.items():
        for part in _every_rule([rule]):
            if isinstance(part, kinds) or (isinstance(part, SegmentRef) and part.name in out):
                out.add(name)
                break
    return out


def _type_only(rule: Rule) -> TypeGuard[EventRule]:
    """An event test of one type that reads nothing but the type and a window."""
    return (
        isinstance(rule, EventRule)
        and rule.type != "any"
        and not rule.where
        and not rule.count
        and rule.first is None
        and rule.last is None
        and rule.not_followed_by is None
    )


def _one(selectable: Any) -> Members:
    """A compound SELECT as a plain one, so it nests in SQLite too."""
    sub = selectable.subquery()
    return sa.select(sub.c.contact_id)


def _everyone() -> Members:
    return sa.select(contacts.c.id.label("contact_id"))


def _except(base: Members, *removed: Members) -> Members:
    if not removed:
        return base
    gone = removed[0] if len(removed) == 1 else _one(sa.union(*removed))
    return _one(sa.except_(base, gone))


def _shape(rule: Rule) -> Any:
    """``rule`` without the places in the YAML it was read from: equal shapes select the
    same contacts."""
    if isinstance(rule, AllOf | AnyOf):
        return (type(rule), tuple(_shape(r) for r in rule.rules))
    if isinstance(rule, Not):
        return (Not, _shape(rule.rule))
    return dataclasses.replace(rule, loc=())


def _ids(column: Any, *where: Any, distinct: bool = True) -> Members:
    found = sa.select(column.label("contact_id")).where(*where)
    return found.distinct() if distinct else found


def _ranked_top(values: Any, share: Share) -> Members:
    """Contacts whose rank by ``values.c.value`` (highest first, ties share) is in the top."""
    rank = sa.func.rank().over(order_by=values.c.value.desc())
    ranked = sa.select(
        values.c.contact_id,
        rank.label("rank"),
        sa.func.count().over().label("n"),
    ).subquery("ranked")
    if share.count is not None:
        limit: Any = sa.literal(share.count)
    else:  # ceil(n * bp / 10000) in integers
        limit = (ranked.c.n * (share.basis_points or 0) + 9999) // 10000
    return sa.select(ranked.c.contact_id).where(ranked.c.rank <= limit)


def top_key(rule: ScoreRule, kind: str) -> str:
    """A name for the top share of ``rule`` (``top`` or ``change``), the same in every run."""
    text = repr((kind, dataclasses.replace(rule, loc=())))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _top_reaching(values: Any, share: Share) -> Members:
    """What ``_ranked_top`` selects, for ``values`` cheap to read more than once.

    A rank of at most L is a value of at least the L-th highest: one bounded sort finds that
    value, and a pass keeps who reaches it, instead of ranking every candidate.
    """
    return sa.select(values.c.contact_id).where(values.c.value >= threshold(values, share))


def threshold(values: Any, share: Share, count: int | None = None) -> Any:
    """The least value in the top ``share`` of ``values`` (the L-th highest; the lowest with
    fewer candidates than L; NULL with none), as a scalar subquery. ``count``: the number of
    candidates, when known (else counted here)."""
    if share.count is not None:  # at least 1
        place: Any = sa.literal(share.count - 1)
    elif count is not None:  # as below
        place = sa.literal(max((count * (share.basis_points or 0) - 1) // 10000, 0))
    else:  # ceil(n * bp / 10000) - 1, which is (n * bp - 1) / 10000 for n >= 1, and 0 for n = 0
        n = sa.select(sa.func.count()).select_from(values).scalar_subquery()
        place = sqlfuncs.int_div(n * (share.basis_points or 0) - 1, 10000)
    lowest = sa.select(sa.func.min(values.c.value)).scalar_subquery()
    last = (
        sa.select(values.c.value)
        .order_by(values.c.value.desc())
        .limit(1)
        .offset(place)
        .scalar_subquery()
    )
    # with fewer candidates than the limit, no value at its place: everyone is in
    return sa.func.coalesce(last, lowest)


@dataclass
class Compiler:
    """Compiles rules at the cycle's time ``now``.

    ``materialized`` names the segments whose members are already stored in
    ``segment_members`` (compute runs segments in dependency order): a reference to one reads
    the stored members instead of compiling the rule again.
    """

    segments: Mapping[str, Rule]
    now: datetime
    scores: Mapping[str, ScoreModel] = field(default_factory=dict)
    materialized: set[str] = field(default_factory=set)
    # every contact but some as an anti-join, not EXCEPT, which copies every contact into a
    # temporary b-tree or hash: "not_in" for SQLite, which then reads the contacts in order
    # and probes the others once; "not_exists" for PostgreSQL, which plans a hash anti-join
    anti_join: AntiJoin | None = None
    # a table of contact ids: when given, only these contacts are selected (an incremental
    # compute re-evaluates them alone); each condition reads only their rows
    scope: sa.Table | None = None
    # the least value of each top share, by top_key, when known already (found before the
    # scope's members are selected): compared with it instead of ranking the candidates
    known_tops: Mapping[str, Any] = field(default_factory=dict)
    # the shape of each stored segment's rule, worked out once: see _materialized_as
    _shapes: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    # False while a NOT IN list is compiled (see _listed)
    _distinct: bool = field(default=True, init=False, repr=False)

    def __post_init__(self) -> None:
        self.now = as_utc(self.now)

    def members(self, rule: Rule) -> Members:
        """SELECT contact_id of the contacts ``rule`` selects."""
        same = self._materialized_as(rule)
        if same is not None:
            return self._ids(segment_members.c.contact_id, segment_members.c.segment == same)
        if isinstance(rule, AllOf):
            return self._all(rule.rules)
        if isinstance(rule, AnyOf):
            parts = self._any(rule.rules)
            return parts[0] if len(parts) == 1 else _one(sa.union(*parts))
        if isinstance(rule, Not):
            return self._all_but(self._listed(rule.rule))
        if isinstance(rule, SegmentRef):  # not stored yet: its rule, compiled here
            return self.members(self.segments[rule.name])
        method = getattr(self, f"_{type(rule).__name__}", None)
        if method is None:
            raise TypeError(f"not a rule: {rule!r}")
        result: Members = method(rule)
        return result

    def _ids(self, column: Any, *where: Any) -> Members:
        if self.scope is not None:
            where = (*where, column.in_(sa.select(self.scope.c.contact_id)))
        return _ids(column, *where, distinct=self._distinct)

    def _listed(self, rule: Rule) -> Members:
        """``rule``'s members for the list of a NOT IN, which ignores repeats: without
        DISTINCT, a temporary b-tree less (a ``dormant_*`` at a million contacts: 1.1
        against 1.5 CPU s)."""
        if self.anti_join != "not_in":
            return self.members(rule)
        was, self._distinct = self._distinct, False
        try:
            return self.members(rule)
        finally:
            self._distinct = was

    def _everyone(self) -> Members:
        if self.scope is not None:
            return sa.select(self.scope.c.contact_id.label("contact_id"))
        return _everyone()

    def _materialized_as(self, rule: Rule) -> str | None:
        """A stored segment that ``rule`` refers to, or whose rule is ``rule`` written
        elsewhere (``not: {any: [...]}`` next to the same ``any``): its members are read
        instead of selected again."""
        if isinstance(rule, SegmentRef):
            return rule.name if rule.name in self.materialized else None
        if not self.materialized:
            return None
        shape = _shape(rule)
        for name in self.materialized:
            if name not in self._shapes:
                self._shapes[name] = _shape(self.segments[name])
            if self._shapes[name] == shape:
                return name
        return None

    def sql_of(self, rule: Rule, dialect: Any) -> str:
        """The SQL of ``rule`` for ``dialect``, with its values written in where possible."""
        statement = self.members(rule)
        try:
            return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        except (sa.exc.CompileError, NotImplementedError, TypeError):
            compiled = statement.compile(dialect=dialect)
            params = ", ".join(f"{k}={v!r}" for k, v in compiled.params.items())
            return f"{compiled}\n-- parameters: {params}"

    def condition(self, rule: Rule, contact_id: Any = contacts.c.id) -> Condition:
        """``rule`` as a condition on a contact id column."""
        return contact_id.in_(self.members(rule))

    def _all_but(self, *removed: Members) -> Members:
        """Every contact but the ``removed``."""
        if not self.anti_join or not removed:
            return _except(self._everyone(), *removed)
        gone = (removed[0] if len(removed) == 1 else sa.union(*removed)).subquery()
        ids = contacts.c.id if self.scope is None else self.scope.c.contact_id
        if self.anti_join == "not_exists":
            there = sa.exists().where(gone.c.contact_id == ids)
            return sa.select(ids.label("contact_id")).where(~there)
        probe = sa.select(gone.c.contact_id).where(gone.c.contact_id.is_not(None))
        return sa.select(ids.label("contact_id")).where(ids.not_in(probe.correlate(None)))

    def _any(self, rules: Sequence[Rule]) -> list[Members]:
        """The parts of an ``any:``; its events of several types in one window (``{event:
        email_clicked, within: 30d}``, ``{event: page_visited, within: 30d}``, …) are one
        SELECT of every type together: one pass over the window instead of one a type."""
        windows: dict[timedelta | None, list[str]] = {}
        rest = []
        for r in rules:
            if _type_only(r) and self._materialized_as(r) is None:
                windows.setdefault(r.within, []).append(r.type)
            else:
                rest.append(r)
        parts = [self.members(r) for r in rest]
        for within, types in windows.items():
            where = [*matching("any", (), self.now), events.c.type.in_(types)]
            if within is not None:
                where.append(events.c.occurred_at >= self.now - within)
            parts.append(self._ids(events.c.contact_id, *where))
        return parts

    def _all(self, rules: Sequence[Rule]) -> Members:
        positive = [self.members(r) for r in rules if not isinstance(r, Not)]
        negative = [self.members(r.rule) for r in rules if isinstance(r, Not)]
        if not positive:
            return self._all_but(*negative)
        base = positive[0] if len(positive) == 1 else _one(sa.intersect(*positive))
        return _except(base, *negative)

    # --- fields -------------------------------------------------------------------------

    def _FieldRule(self, rule: FieldRule) -> Members:
        op = rule.test.op
        negated = {"ne": "eq", "not_in": "in"}
        if op in negated:
            positive = FieldRule(rule.name, Compare(negated[op], rule.test.value), rule.loc)
            return self._all_but(self._FieldRule(positive))
        if op == "exists":
            present = self._ids(contact_fields.c.contact_id, contact_fields.c.name == rule.name)
            return present if rule.test.value else self._all_but(present)
        return self._ids(
            contact_fields.c.contact_id,
            contact_fields.c.name == rule.name,
            self._value_test(contact_fields.c, rule.test),
        )

    def _value_test(self, columns: Any, test: Compare) -> Condition:
        """A test on a typed value: text in ``value``, number in ``num``, time in ``ts``."""
        op, operand = test.op, test.value
        if op == "in":
            return sa.or_(*[self._value_test(columns, Compare("eq", v)) for v in operand])
        if op in ("within", "older_than", "within_next", "before", "after"):
            return time_test(columns.ts, test, self.now)
        if op == "contains":
            return sqlfuncs.contains(columns.value, operand)
        if op == "starts_with":
            return sqlfuncs.starts_with(columns.value, operand)
        if isinstance(operand, bool):
            return compare(columns.value, op, "true" if operand else "false")
        if isinstance(operand, int | float):
            return compare(columns.num, op, float(operand))
        if isinstance(operand, datetime):
            return compare(columns.ts, op, as_utc(operand))
        if op in ("eq", "ne"):
            return compare(columns.value, op, str(operand))
        return compare(sqlfuncs.binary(columns.value), op, str(operand))

    # --- tags and lists -------------------------------------------------------------------

    def _TagRule(self, rule: TagRule) -> Members:
        if "*" in rule.name or "?" in rule.name:
            named = sa.or_(
                sqlfuncs.glob(tags.c.name, rule.name), sqlfuncs.glob(tags.c.tag, rule.name)
            )
        else:
            named = sa.or_(tags.c.name == rule.name, tags.c.tag == rule.name)
        where: list[Any] = [named]
        if rule.source:
            where.append(tags.c.source == rule.source)
        counter = sa.func.coalesce(tags.c.count, 1)
        where += [compare(counter, c.op, c.value) for c in rule.count]
        # a tag without a score passes no score test (NULL compares to nothing)
        where += [compare(tags.c.score, c.op, c.value) for c in rule.score]
        if rule.since is not None:
            where.append(self._since(tags.c.since, rule.since))
        return self._ids(tags.c.contact_id, *where)

    def _since(self, column: Any, test: Compare) -> Condition:
        """``since:`` of a tag or list: a time test, or on or after a date (``gte``)."""
        if test.op == "gte":
            return compare(column, "gte", as_utc(test.value))
        return time_test(column, test, self.now)

    def _ListRule(self, rule: ListRule) -> Members:
        where: list[Any] = [
            sqlfuncs.glob(memberships.c.list, rule.name)
            if "*" in rule.name or "?" in rule.name
            else memberships.c.list == rule.name
        ]
        if rule.status != "any":
            where.append(memberships.c.status == rule.status)
        if rule.source:
            where.append(memberships.c.source == rule.source)
        if rule.since is not None:
            where.append(self._since(memberships.c.since, rule.since))
        return self._ids(memberships.c.contact_id, *where)

    # --- events and purchases ---------------------------------------------------------------

    def _EventRule(self, rule: EventRule) -> Members:
        where = matching(rule.type, rule.where, self.now)
        if rule.within is not None:
            where.append(events.c.occurred_at >= self.now - rule.within)
        if rule.not_followed_by is not None:
            later = events.alias("later")
            conditions = [
                later.c.contact_id == events.c.contact_id,
                later.c.occurred_at > events.c.occurred_at,
                later.c.occurred_at <= self.now,
            ]
            if rule.not_followed_by != "any":
                conditions.append(later.c.type == rule.not_followed_by)
            where.append(sa.not_(sa.exists().where(*conditions)))
        having: list[Condition] = [compare(sa.func.count(), c.op, c.value) for c in rule.count]
        for test, agg in ((rule.first, sa.func.min), (rule.last, sa.func.max)):
            if test is not None:
                having.append(time_test(agg(events.c.occurred_at), test, self.now))
        if not having:
            return self._ids(events.c.contact_id, *where)
        zero_passes = (
            rule.first is None
            and rule.last is None
            and all(holds_for(c.op, c.value, 0) for c in rule.count)
        )
        return self._grouped(where, having, zero_passes)

    def _grouped(self, where: list[Any], having: list[Condition], zero_passes: bool) -> Members:
        """Contacts whose events under ``where`` pass ``having``; with ``zero_passes``, also
        the contacts with no such event."""
        if self.scope is not None:
            where = [*where, events.c.contact_id.in_(sa.select(self.scope.c.contact_id))]
        grouped = sa.select(events.c.contact_id).where(*where).group_by(events.c.contact_id)
        if not zero_passes:
            return grouped.having(sa.and_(*having))
        failing = grouped.having(sa.not_(sa.and_(*having)))
        return self._all_but(failing)

    def _PurchasesRule(self, rule: PurchasesRule) -> Members:
        where = matching(PURCHASE, (), self.now)
        if rule.within is not None:
            where.append(events.c.occurred_at >= self.now - rule.within)
        if rule.where:
            where.append(events.c.id.in_(items.orders_with_lines(rule.where, self.now)))
        value = sa.func.coalesce(events.c.value, 0.0)
        having: list[Condition] = [compare(sa.func.count(), c.op, c.value) for c in rule.count]
        having += [compare(sa.func.sum(value), c.op, float(c.value)) for c in rule.total]
        having += [compare(sa.func.avg(value), c.op, float(c.value)) for c in rule.average]
        for test, agg in ((rule.first, sa.func.min), (rule.last, sa.func.max)):
            if test is not None:
                having.append(time_test(agg(events.c.occurred_at), test, self.now))
        zero_passes = (
            not rule.average
            and rule.first is None
            and rule.last is None
            and all(holds_for(c.op, c.value, 0) for c in (*rule.count, *rule.total))
        )
        return self._grouped(where, having, zero_passes)

    def _SpentRule(self, rule: SpentRule) -> Members:
        where = items.lines(rule.where, rule.within, self.now)
        if self.scope is not None:
            where.append(event_items.c.contact_id.in_(sa.select(self.scope.c.contact_id)))
        spent = sa.func.sum(items.line_total())
        having = sa.and_(*[compare(spent, c.op, float(c.value)) for c in rule.tests])
        grouped = (
            sa.select(event_items.c.contact_id).where(*where).group_by(event_items.c.contact_id)
        )
        if not all(holds_for(c.op, c.value, 0) for c in rule.tests):
            return grouped.having(having)
        return self._all_but(grouped.having(sa.not_(having)))  # nothing spent passes too

    def _BoughtRule(self, rule: BoughtRule) -> Members:
        return self._ids(event_items.c.contact_id, *items.lines(rule.where, rule.within, self.now))

    # --- dates that recur, and ages -----------------------------------------------------------

    def _dated(self, of: str) -> Any:
        """(contact_id, ts) of each contact with a time for ``of``: a date field's value, or
        the time of the first order."""
        if of == FIRST_ORDER:
            where = matching(PURCHASE, (), self.now)
            if self.scope is not None:
                where.append(events.c.contact_id.in_(sa.select(self.scope.c.contact_id)))
            return (
                sa.select(events.c.contact_id, sa.func.min(events.c.occurred_at).label("ts"))
                .where(*where)
                .group_by(events.c.contact_id)
                .subquery("dated")
            )
        where = [contact_fields.c.name == of, contact_fields.c.ts.is_not(None)]
        if self.scope is not None:
            where.append(contact_fields.c.contact_id.in_(sa.select(self.scope.c.contact_id)))
        return (
            sa.select(contact_fields.c.contact_id, contact_fields.c.ts)
            .where(*where)
            .subquery("dated")
        )

    def _AnniversaryRule(self, rule: AnniversaryRule) -> Members:
        dated = self._dated(rule.of)
        return sa.select(dated.c.contact_id).where(dates.recurs(dated.c.ts, rule.test, self.now))

    def _AgeRule(self, rule: AgeRule) -> Members:
        dated = self._dated(rule.of)
        return sa.select(dated.c.contact_id).where(dates.aged(dated.c.ts, rule.tests, self.now))

    # --- CRM deals ------------------------------------------------------------------------

    def _DealRule(self, rule: DealRule) -> Members:
        columns = {
            "stage": deals.c.stage,
            "status": deals.c.status,
            "pipeline": deals.c.pipeline,
            "owner": deals.c.owner,
            "amount": deals.c.amount,
            "created": deals.c.created_at,
            "closed": deals.c.closed_at,
        }
        where: list[Any] = []
        for key, test in rule.tests:
            column = columns[key]
            if key in DEAL_DATES:  # a deal without the date passes no test of it
                where.append(time_test(column, test, self.now))
            elif test.op == "in":
                where.append(column.in_([str(v) for v in test.value]))
            elif key == "amount":
                where.append(compare(column, test.op, float(test.value)))
            else:
                where.append(compare(column, test.op, test.value))
        if self.scope is not None:
            where.append(deal_contacts.c.contact_id.in_(sa.select(self.scope.c.contact_id)))
        joined = deal_contacts.join(
            deals,
            sa.and_(
                deals.c.source == deal_contacts.c.source,
                deals.c.external_id == deal_contacts.c.deal_id,
            ),
        )
        return (
            sa.select(deal_contacts.c.contact_id.label("contact_id"))
            .select_from(joined)
            .where(*where)
            .distinct()
        )

    # --- scores and RFM ---------------------------------------------------------------------

    def _ScoreRule(self, rule: ScoreRule) -> Members:
        scored = contact_scores.c.score == rule.score
        parts = self._score_tests(rule, scored)
        if rule.exists is False:
            if parts:  # a value test needs a score: no one is unscored and passes it
                return sa.select(contacts.c.id.label("contact_id")).where(sa.false())
            scored_ids = self._ids(contact_scores.c.contact_id, scored)
            if self.anti_join == "not_in":
                # read by the key, in contact order, not by value: SQLite's list of them
                # for NOT IN then grows at its end (3.3 against 0.7 CPU s at a million)
                scored_ids = scored_ids.order_by(contact_scores.c.contact_id)
            return self._all_but(scored_ids)
        if not parts:
            return self._ids(contact_scores.c.contact_id, scored)
        return parts[0] if len(parts) == 1 else _one(sa.intersect(*parts))

    def _score_tests(self, rule: ScoreRule, scored: Condition) -> list[Members]:
        # a score with a half-life is stored at its reference time: a test of its value
        # now is a test of the stored value against the threshold times one factor
        scale = growth(self.scores.get(rule.score), self.now)
        parts: list[Members] = []
        if rule.tests:
            value = self._by_contact(contact_scores.c.value)
            tests = [compare(value, c.op, float(c.value) * scale) for c in rule.tests]
            parts.append(self._ids(contact_scores.c.contact_id, scored, *tests))
        if rule.top is not None:
            parts.append(self._top(rule, "top", rule.top))
        if rule.change is not None:
            changes = self._changes(rule)
            if rule.change.tests:
                change = self._by_contact(changes.c.change)
                tests = [compare(change, c.op, float(c.value) * scale) for c in rule.change.tests]
                if self.scope is not None:
                    tests.append(changes.c.contact_id.in_(sa.select(self.scope.c.contact_id)))
                parts.append(sa.select(changes.c.contact_id).where(*tests))
            if rule.change.top is not None:
                parts.append(self._top(rule, "change", rule.change.top))
        return parts

    def _top(self, rule: ScoreRule, kind: Literal["top", "change"], share: Share) -> Members:
        key = top_key(rule, kind)
        if key not in self.known_tops:
            ranked = _top_reaching if kind == "top" else _ranked_top
            return ranked(self.tops(rule, kind), share)
        least = self.known_tops[key]
        values = self.tops(rule, kind, self.scope)  # ranked already: the scope's alone
        if least is None:  # no candidate
            return sa.select(values.c.contact_id).where(sa.false())
        least = sa.literal(least, contact_scores.c.value.type)
        return self._ids(values.c.contact_id, self._by_contact(values.c.value) >= least)

    def _by_contact(self, value: Any) -> Any:
        """A score's value (or change) to compare: for a scope, not through the index by
        value, which SQLite would walk for every value passing (600,000 changes below 0 for
        a scope of a thousand contacts); the scope's contacts are looked up by key."""
        return value if self.scope is None else sqlfuncs.unindexed(value)

    def _changes(self, rule: ScoreRule) -> Any:
        assert rule.change is not None
        return (
            sa.select(contact_score_changes.c.contact_id, contact_score_changes.c.change)
            .where(
                contact_score_changes.c.score == rule.score,
                contact_score_changes.c.over_seconds == int(rule.change.over.total_seconds()),
            )
            .subquery("changes")
        )

    def tops(
        self, rule: ScoreRule, kind: Literal["top", "change"], scope: sa.Table | None = None
    ) -> Any:
        """The candidates (contact_id, value) a top share of ``rule`` ranks: the scored
        contacts by value, or (``change``) the risers by their change; those of ``scope``
        alone when given, looked up by key."""
        scored = contact_scores.c.score == rule.score
        among = (
            []
            if scope is None
            else [contact_scores.c.contact_id.in_(sa.select(scope.c.contact_id))]
        )
        if kind == "top":
            return (
                sa.select(contact_scores.c.contact_id, contact_scores.c.value)
                .where(scored, *among)
                .subquery("values")
            )
        changes = self._changes(rule)
        value: Any = contact_scores.c.value
        change: Any = changes.c.change
        if scope is not None:
            value, change = sqlfuncs.unindexed(value), sqlfuncs.unindexed(change)
            among = [changes.c.contact_id.in_(sa.select(scope.c.contact_id))]
        # a riser is a lead: its change and its score now are both above 0
        return (
            sa.select(changes.c.contact_id, changes.c.change.label("value"))
            .join(contact_scores, contact_scores.c.contact_id == changes.c.contact_id)
            .where(scored, value > 0, change > 0, *among)
            .subquery("rising")
        )

    def _RfmRule(self, rule: RfmRule) -> Members:
        where: list[Any] = []
        if rule.classes:
            where.append(contact_rfm.c["class"].in_(list(rule.classes)))
        metric = {"r": contact_rfm.c.r, "f": contact_rfm.c.f, "m": contact_rfm.c.m}
        where += [compare(metric[name], c.op, c.value) for name, c in rule.tests]
        return self._ids(contact_rfm.c.contact_id, *where)

    def _PredictedRule(self, rule: PredictedRule) -> Members:
        c = contact_predictions.c
        where = [compare(c[name], t.op, float(t.value)) for name, t in rule.tests]
        parts = [self._ids(c.contact_id, *where)] if where or not rule.tops else []
        for name, share in rule.tops:
            # the predictions are rewritten whole at each fit: the share is ranked each time
            values = (
                sa.select(c.contact_id, c[name].label("value"))
                .where(c[name].is_not(None))
                .subquery("predicted")
            )
            parts.append(_top_reaching(values, share))
        return parts[0] if len(parts) == 1 else _one(sa.intersect(*parts))

    # --- plain SQL ----------------------------------------------------------------------------

    def _SqlRule(self, rule: SqlRule) -> Members:
        # the user's SELECT may repeat a contact
        return _one(sqlrule.sql_text(rule, self.now)).distinct()

    def check_sql(self, engine: sa.Engine, source: SourceMap) -> None:
        """Run every ``sql:`` rule once on ``engine``, returning no rows; each failing one is
        a mistake naming its segment (syncd.segments.sqlrule)."""
        sqlrule.check_sql(_every_rule(self.segments.values()), engine, source, self.now)
