"""The segment compiler's SQL selects what the plain-Python reference selects, for random data
and random rules of every form, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from syncd.segments.rules import (
    FORMS,
    AgeRule,
    AllOf,
    AnniversaryRule,
    AnyOf,
    BoughtRule,
    DealRule,
    EventRule,
    FieldRule,
    ListRule,
    Not,
    PurchasesRule,
    RfmRule,
    Rule,
    ScoreRule,
    SegmentRef,
    SpentRule,
    SqlRule,
    TagRule,
    children,
)
from tests.reference import Reference
from tests.segment_data import Dataset, compute_in_store, parse
from tests.strategies import SQL_RULES, configs, datasets

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


FORM_OF = dict(zip(
    (FieldRule, TagRule, ListRule, EventRule, PurchasesRule, SpentRule, BoughtRule,
     AnniversaryRule, AgeRule, DealRule, ScoreRule, RfmRule, SqlRule, SegmentRef, AllOf, AnyOf,
     Not),
    ("field", "tag", "list", "event", "purchases", "spent", "bought", "anniversary", "age",
     "deal", "score", "rfm", "sql", "segment", "all", "any", "not"),
    strict=True,
))  # fmt: skip


def _forms(rule: Rule) -> set[str]:
    """The forms ``rule`` is made of."""
    return {FORM_OF[type(rule)]}.union(*(_forms(child) for child in children(rule)))


def data_ids(data: Dataset) -> frozenset[int]:
    return frozenset(c.id for c in data.contacts)


def check(
    engine: sa.Engine, data: Dataset, segments: Mapping[str, Any], scores: Mapping[str, Any]
) -> None:
    rules, models = parse(segments, scores)
    expected = Reference(data, models, SQL_RULES).evaluate(rules)
    got = compute_in_store(engine, data, rules, models)
    for name, rule in rules.items():
        for form in _forms(rule):
            event(f"form {form}")
        verdict = expected[name]
        if not verdict.yes:
            event("a segment: empty")
        elif verdict.yes == data_ids(data):
            event("a segment: everyone")
        else:
            event("a segment: some")
        if verdict.maybe:
            event("a score too close to call")
        missing = verdict.yes - got[name]
        extra = got[name] - verdict.yes - verdict.maybe
        assert not missing and not extra, (
            f"segment {name}: {segments[name]!r} (scores {scores!r})\n"
            f"  SQL misses {sorted(data.emails(missing))}, SQL adds {sorted(data.emails(extra))}"
        )


def test_the_generator_covers_every_form() -> None:
    """Every rule form of the language can be drawn (the property tests below use them)."""
    seen: set[str] = set()

    @settings(max_examples=150, deadline=None)
    @given(configs(size=8))
    def collect(config: tuple[dict[str, Any], dict[str, Any]]) -> None:
        rules, _ = parse(*config)
        for rule in rules.values():
            seen.update(_forms(rule))

    collect()
    # `predicted:` reads a fitted model: tests/test_predict_store.py draws its own datasets
    # (order histories to fit) and rules against the same reference; birthday: is read as an
    # anniversary: rule
    assert seen | {"birthday"} == set(FORMS) - {"predicted"}


def matches_the_reference(
    examples: int,
    data: st.SearchStrategy[Dataset],
    config: st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]],
) -> Callable[..., None]:
    """A property test: for ``examples`` draws of ``data`` and ``config``, the store's
    segments are the reference's (``check``)."""

    @settings(SETTINGS, max_examples=examples)
    @given(data=data, config=config)
    def test(
        engine: sa.Engine, data: Dataset, config: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        check(engine, data, *config)

    return test


test_each_form_alone_matches_the_reference = matches_the_reference(
    120, datasets(), configs(size=10, nested=False)
)
test_nested_rules_and_references_match_the_reference = matches_the_reference(
    100, datasets(), configs(size=6, nested=True)
)
test_larger_datasets_match_the_reference = matches_the_reference(
    60, datasets(max_contacts=30, max_events=80), configs(size=6, nested=False)
)


@given(data=datasets(), config=configs(size=6))
@settings(max_examples=50, deadline=None)
def test_the_reference_is_total(
    data: Dataset, config: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """The reference evaluates every drawn rule, and `not` is the complement."""
    rules, models = parse(*config)
    reference = Reference(data, models, SQL_RULES)
    verdicts = reference.evaluate(rules)
    for name, verdict in verdicts.items():
        assert verdict.yes <= reference.universe
        assert not verdict.yes & verdict.maybe
        negated = reference.verdict(
            parse({"x": {"not": config[0][name]}, **config[0]}, config[1])[0]["x"]
        )
        assert negated.yes == reference.universe - verdict.yes - verdict.maybe
