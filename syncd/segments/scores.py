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
from syncd.store.schema import Id, contact_score_changes, contact_scores, events
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


def _points_of(rules: Sequence[PointRule]) -> Any:
    """What an event earns from ``rules`` (all of its type, or of every type)."""
    plain = sum(r.points for r in rules if not r.where)
    return sum(
        (
            sa.case((sa.and_(*[property_test(p, t) for p, t in r.where]), r.points), else_=0.0)
            for r in rules
            if r.where
        ),
        start=sa.literal(float(plain)),
    )


def _earns_of(rules: Sequence[PointRule]) -> Any:
    """Whether an event earns anything from ``rules``."""
    if any(not r.where for r in rules):
        return sa.true()
    return sa.or_(*[sa.and_(*[property_test(p, t) for p, t in r.where]) for r in rules])


def _earning_events(model: ScoreModel, now: datetime) -> Any:
    """contact_id, occurred_at, worth: each event at or before ``now`` that earns points, and
    what its points are worth at ``now``.

    One SELECT per event type, joined by UNION ALL: a type whose rules read no property is
    read from the index on (type, contact_id, occurred_at) alone, without the events' rows.
    The worth is computed in each SELECT, once per event, however many sums read it.
    """
    by_type: dict[str, list[PointRule]] = defaultdict(list)
    for rule in model.points:
        by_type[rule.event].append(rule)
    every = by_type.pop("any", [])
    base = [events.c.contact_id.is_not(None), events.c.occurred_at <= now]
    if every:  # a rule on every type: one pass over all events
        points = (
            sa.case(
                *[(events.c.type == k, _points_of([*r, *every])) for k, r in by_type.items()],
                else_=_points_of(every),
            )
            if by_type
            else _points_of(every)
        )
        earns = sa.or_(
            *[sa.and_(events.c.type == k, _earns_of(r)) for k, r in by_type.items()],
            _earns_of(every),
        )
        parts = [
            sa.select(
                events.c.contact_id,
                events.c.occurred_at,
                _worth(model, points, now).label("worth"),
            ).where(*base, earns)
        ]
    else:
        parts = [
            sa.select(
                events.c.contact_id,
                events.c.occurred_at,
                _worth(model, _points_of(rules), now).label("worth"),
            ).where(
                *_of_type(kind, reads_properties=any(r.where for r in rules)),
                events.c.occurred_at <= now,
                _earns_of(rules),
            )
            for kind, rules in sorted(by_type.items())
        ]
    if len(parts) == 1:
        # an OFFSET keeps the store from merging the SELECT into the sums that read it,
        # which would compute the worth once per sum
        return parts[0].offset(0).subquery("earning")
    return sa.union_all(*parts).subquery("earning")


def _of_type(kind: str, *, reads_properties: bool) -> list[Any]:
    """Events of ``kind`` with a contact.

    When the points read the events' properties, the rows are needed anyway: on SQLite a
    pass over the table in order beats fetching them one by one through the type index.
    """
    if not reads_properties:
        return [events.c.type == kind, events.c.contact_id.is_not(None)]
    return [
        sqlfuncs.unindexed(events.c.type) == kind,
        sqlfuncs.unindexed(events.c.contact_id).is_not(None),
    ]


def _worth(model: ScoreModel, points: Any, now: datetime) -> Any:
    """What ``points`` earned by an event are worth at ``now``: halved every half-life."""
    if model.half_life is None:
        return points
    days = model.half_life.total_seconds() / 86400
    age = sqlfuncs.days_between(sa.literal(now, events.c.occurred_at.type), events.c.occurred_at)
    return points * sa.func.exp(-math.log(2) * age / days)


SLOTS = 4  # windows computed in one pass over the events; more windows take more passes

_pass = sa.Table(
    "syncd_score_pass",
    sa.MetaData(),
    sa.Column("contact_id", Id, primary_key=True, autoincrement=False),
    sa.Column("value", sa.Float, nullable=False),
    *[sa.Column(f"earlier{i}", sa.Float) for i in range(SLOTS)],
    prefixes=["TEMPORARY"],
)


def values_query(
    model: ScoreModel, now: datetime, windows: Sequence[timedelta] = ()
) -> sa.Select[Any]:
    """contact_id, value, and for each window ``earlier<i>``: the sum, in today's worth, of
    the points earned at or before ``now - window``."""
    earning = _earning_events(model, now)
    worth = earning.c.worth
    earlier = [
        sa.func.sum(sa.case((earning.c.occurred_at <= now - w, worth), else_=None)).label(
            f"earlier{i}"
        )
        for i, w in enumerate(windows)
    ]
    return sa.select(earning.c.contact_id, sa.func.sum(worth).label("value"), *earlier).group_by(
        earning.c.contact_id
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
