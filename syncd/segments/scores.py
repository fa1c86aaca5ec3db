"""Scores: points per event, optionally halving every half-life, summed per contact in SQL."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.segments import sqlfuncs
from syncd.segments.catalog import Catalog
from syncd.segments.events import property_test
from syncd.segments.rules import Compare, Parser
from syncd.store.schema import contact_score_changes, contact_scores, events
from syncd.yamlsource import SourceMap


@dataclass(frozen=True)
class PointRule:
    event: str
    where: tuple[tuple[str, Compare], ...]
    points: float


@dataclass(frozen=True)
class ScoreModel:
    name: str
    points: tuple[PointRule, ...]
    half_life: timedelta | None


def parse_scores(
    scores: Mapping[str, Any], source: SourceMap, catalog: Catalog | None = None
) -> dict[str, ScoreModel]:
    parser = Parser(source, catalog or Catalog.permissive())
    out = {}
    for name, body in scores.items():
        loc = ("scores", name)
        if not isinstance(body, Mapping):
            raise source.error(loc, "a score takes points: [...] and optionally half_life:")
        parser._keys(body, loc, ("points", "half_life"))
        entries = body.get("points")
        if not isinstance(entries, list) or not entries:
            raise source.error(
                (*loc, "points"), "points takes a non-empty list of {event, where, points}"
            )
        rules = []
        for i, entry in enumerate(entries):
            at = (*loc, "points", i)
            if not isinstance(entry, Mapping):
                raise source.error(at, "a point rule is a mapping {event, where, points}")
            parser._keys(entry, at, ("event", "where", "points"))
            if "event" not in entry or "points" not in entry:
                raise source.error(at, "a point rule needs event: and points:")
            points = entry["points"]
            if isinstance(points, bool) or not isinstance(points, int | float):
                raise source.error((*at, "points"), f"points takes a number, got {points!r}")
            rules.append(
                PointRule(
                    parser.event_type(entry["event"], (*at, "event")),
                    parser.where(entry.get("where"), (*at, "where")),
                    float(points),
                )
            )
        half_life = (
            parser._duration(body["half_life"], (*loc, "half_life"))
            if "half_life" in body
            else None
        )
        out[name] = ScoreModel(name, tuple(rules), half_life)
    return out


def _earned(model: ScoreModel) -> tuple[Any, Any, list[str] | None]:
    """(the points an event earns before decay, the condition that it earns any, the event
    types that can earn — None when a rule takes every type).

    The points are one CASE on the event's type, so each event is looked at once however
    many rules there are.
    """
    by_type: dict[str, list[PointRule]] = defaultdict(list)
    for rule in model.points:
        by_type[rule.event].append(rule)
    every = by_type.pop("any", [])

    def points_of(rules: list[PointRule]) -> Any:
        plain = sum(r.points for r in rules if not r.where)
        return sum(
            (
                sa.case((sa.and_(*[property_test(p, t) for p, t in r.where]), r.points), else_=0.0)
                for r in rules
                if r.where
            ),
            start=sa.literal(float(plain)),
        )

    def earns_of(rules: list[PointRule]) -> Any:
        if any(not r.where for r in rules):
            return sa.true()
        return sa.or_(*[sa.and_(*[property_test(p, t) for p, t in r.where]) for r in rules])

    if by_type:
        points: Any = sa.case(
            *[
                (events.c.type == kind, points_of([*rules, *every]))
                for kind, rules in by_type.items()
            ],
            else_=points_of(every) if every else 0.0,
        )
    else:
        points = points_of(every)
    earns = sa.or_(
        *[sa.and_(events.c.type == kind, earns_of(rules)) for kind, rules in by_type.items()],
        *([earns_of(every)] if every else []),
    )
    return points, earns, None if every else sorted(by_type)


def _scored_events(model: ScoreModel, now: datetime) -> tuple[Any, list[Any]]:
    """(the points each event is worth at ``now``, the WHERE of the events that earn)."""
    points, earns, types = _earned(model)
    where = [events.c.contact_id.is_not(None), events.c.occurred_at <= now]
    if types is not None:
        where.append(events.c.type.in_(types))  # lets the store use its index on type
    where.append(earns)
    if model.half_life is not None:
        days = model.half_life.total_seconds() / 86400
        age = sqlfuncs.days_between(
            sa.literal(now, events.c.occurred_at.type), events.c.occurred_at
        )
        points = points * sa.func.exp(-math.log(2) * age / days)
    return points, where


SLOTS = 4  # windows computed in one pass over the events; more windows take more passes

_pass = sa.Table(
    "syncd_score_pass",
    sa.MetaData(),
    sa.Column("contact_id", sa.BigInteger, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    *[sa.Column(f"earlier{i}", sa.Float) for i in range(SLOTS)],
    prefixes=["TEMPORARY"],
)


def values_query(
    model: ScoreModel, now: datetime, windows: Sequence[timedelta] = ()
) -> sa.Select[Any]:
    """contact_id, value, and for each window ``earlier<i>``: the sum, in today's worth, of
    the points earned at or before ``now - window``."""
    points, where = _scored_events(model, now)
    earlier = [
        sa.func.sum(sa.case((events.c.occurred_at <= now - w, points), else_=None)).label(
            f"earlier{i}"
        )
        for i, w in enumerate(windows)
    ]
    return (
        sa.select(events.c.contact_id, sa.func.sum(points).label("value"), *earlier)
        .where(*where)
        .group_by(events.c.contact_id)
    )


def compute_scores(
    conn: sa.Connection,
    models: Mapping[str, ScoreModel],
    now: datetime,
    windows: Mapping[str, Iterable[timedelta]] | None = None,
) -> None:
    """Store every model's value per contact at ``now``, and its change over each of
    ``windows[name]`` — all from one pass over the events per model.

    An event's worth at ``now - w`` is its worth now times 2^(w / half_life), so the score
    then is a sum over the same rows as the score now.
    """
    windows = windows or {}
    conn.execute(contact_scores.delete().where(contact_scores.c.score.not_in(list(models))))
    conn.execute(
        contact_score_changes.delete().where(contact_score_changes.c.score.not_in(list(models)))
    )
    _pass.create(conn, checkfirst=True)
    for name, model in models.items():
        conn.execute(contact_scores.delete().where(contact_scores.c.score == name))
        conn.execute(contact_score_changes.delete().where(contact_score_changes.c.score == name))
        wanted = sorted(set(windows.get(name, ())))
        chunks = [wanted[i : i + SLOTS] for i in range(0, len(wanted), SLOTS)] or [[]]
        for n, chunk in enumerate(chunks):
            conn.execute(_pass.delete())
            query = values_query(model, now, chunk)
            columns = ["contact_id", "value", *[f"earlier{i}" for i in range(len(chunk))]]
            conn.execute(_pass.insert().from_select(columns, query))
            if n == 0:
                conn.execute(
                    contact_scores.insert().from_select(
                        ["score", "contact_id", "value"],
                        sa.select(sa.literal(name), _pass.c.contact_id, _pass.c.value),
                    )
                )
            for i, window in enumerate(chunk):
                factor = 1.0 if model.half_life is None else 2.0 ** (window / model.half_life)
                change = _pass.c.value - factor * sa.func.coalesce(_pass.c[f"earlier{i}"], 0.0)
                conn.execute(
                    contact_score_changes.insert().from_select(
                        ["score", "over_seconds", "contact_id", "change"],
                        sa.select(
                            sa.literal(name),
                            sa.literal(int(window.total_seconds())),
                            _pass.c.contact_id,
                            change,
                        ),
                    )
                )
    conn.execute(_pass.delete())
