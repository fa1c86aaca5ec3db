"""Scores: points per event, optionally halving every half-life, summed per contact in SQL."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.segments import sqlfuncs
from syncd.segments.catalog import Catalog
from syncd.segments.events import matching
from syncd.segments.rules import Compare, Parser
from syncd.store.schema import contact_scores, events
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


def _earns(rule: PointRule, at: datetime) -> Any:
    return sa.and_(*matching(rule.event, rule.where, at))


def score_at(model: ScoreModel, at: datetime) -> tuple[Any, Any]:
    """(the points an event is worth at ``at``, the condition that it earns any)."""
    points: Any = sum(
        (sa.case((_earns(r, at), r.points), else_=0.0) for r in model.points),
        start=sa.literal(0.0),
    )
    if model.half_life is not None:
        days = model.half_life.total_seconds() / 86400
        age = sqlfuncs.days_between(sa.literal(at, events.c.occurred_at.type), events.c.occurred_at)
        points = points * sa.func.exp(-math.log(2) * age / days)
    earns = sa.or_(*[_earns(r, at) for r in model.points])
    return points, earns


def values_query(model: ScoreModel, now: datetime) -> sa.Select[Any]:
    """contact_id, value for every contact with a score at ``now``."""
    points, earns = score_at(model, now)
    return (
        sa.select(events.c.contact_id, sa.func.sum(points).label("value"))
        .where(earns)
        .group_by(events.c.contact_id)
    )


def change_query(model: ScoreModel, now: datetime, over: timedelta) -> sa.Select[Any]:
    """contact_id, change: the score now minus the score at ``now - over``, for scored contacts."""
    then = now - over
    now_points, earns_now = score_at(model, now)
    then_points, earns_then = score_at(model, then)
    change = sa.func.sum(now_points) - sa.func.coalesce(
        sa.func.sum(sa.case((earns_then, then_points), else_=None)), 0.0
    )
    return (
        sa.select(events.c.contact_id, change.label("change"))
        .where(earns_now)
        .group_by(events.c.contact_id)
    )


def compute_scores(conn: sa.Connection, models: Mapping[str, ScoreModel], now: datetime) -> None:
    """Store every model's value per contact at ``now``."""
    conn.execute(contact_scores.delete().where(contact_scores.c.score.not_in(list(models))))
    for name, model in models.items():
        conn.execute(contact_scores.delete().where(contact_scores.c.score == name))
        values = values_query(model, now).subquery()
        conn.execute(
            contact_scores.insert().from_select(
                ["score", "contact_id", "value"],
                sa.select(sa.literal(name), values.c.contact_id, values.c.value),
            )
        )
