"""Scores: points per event, optionally halving every half-life, summed per contact in SQL.

A score with a half-life is stored at a reference time: each event's points are worth
``points * 2^((occurred_at - reference) / half_life)``, so the value now is the stored one
divided by ``growth`` (one factor per score), and a clock move rewrites no row. The
reference moves every ``REBASE_EVERY`` half-lives (then the score is computed whole).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.segments import sqlfuncs
from syncd.segments.catalog import Catalog
from syncd.segments.events import compare, property_test
from syncd.segments.rules import Compare, Parser
from syncd.store.schema import Id, contact_score_changes, contact_scores, events, score_scales
from syncd.store.temporary import empty
from syncd.store.upsert import dialect_insert, upsert
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


def _by_points(kinds: Mapping[str, Sequence[PointRule]], other: Sequence[PointRule]) -> Any:
    """The points of an event: by its type from ``kinds``, else from ``other``."""
    if not kinds:
        return _points_of(other)
    return sa.case(
        *[(events.c.type == k, _points_of(r)) for k, r in kinds.items()], else_=_points_of(other)
    )


def _passes(model: ScoreModel, scoped: bool = False) -> list[tuple[list[Any], Any, bool]]:
    """(conditions, points, whether it reads the events' rows) of the passes over the events
    that together give every point.

    Rules that read no property are summed in one pass over the index on (contact_id, type,
    occurred_at), which comes grouped by contact; rules with ``where`` in a second pass over
    the events' rows, of only the events they match. An event's points are the sum of both.
    """
    by_type: dict[str, list[PointRule]] = defaultdict(list)
    for rule in model.points:
        by_type[rule.event].append(rule)
    every = by_type.pop("any", [])
    out: list[tuple[list[Any], Any, bool]] = []
    plain = {k: [r for r in rules if not r.where] for k, rules in sorted(by_type.items())}
    plain_every = [r for r in every if not r.where]
    if plain_every:  # every event earns: one pass over all of them
        points = _by_points({k: [*r, *plain_every] for k, r in plain.items()}, plain_every)
        out.append(([], points, False))
    elif any(plain.values()):
        kinds = {k: r for k, r in plain.items() if r}
        out.append(([events.c.type.in_(list(kinds))], _by_points(kinds, []), False))
    where = {k: [r for r in rules if r.where] for k, rules in sorted(by_type.items())}
    where_every = [r for r in every if r.where]
    kinds = {k: [*r, *where_every] for k, r in where.items() if r or where_every}
    if where_every or any(where.values()):
        # the rows are read anyway, in table order; for a scope, its contacts' rows of these
        # types alone, by the index by contact and type
        kind = events.c.type if scoped else sqlfuncs.unindexed(events.c.type)
        earns = [sa.and_(kind == k, _earns_of(r)) for k, r in kinds.items() if r]
        if where_every:
            earns.append(sa.and_(kind.not_in(list(kinds)), _earns_of(where_every)))
        out.append(([sa.or_(*earns)], _by_points(kinds, where_every), True))
    return out


# the reference time of a score with a half-life is a multiple of this many half-lives
# since the epoch: the stored values then reach at most 2^64 times the points (far from a
# float's limits), and a full and an incremental compute at the same time share it
REBASE_EVERY = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference_time(model: ScoreModel | None, now: datetime) -> datetime | None:
    """The time ``model``'s values are stored at, for a compute at ``now`` (None: without
    a half-life, the value itself is stored)."""
    if model is None or model.half_life is None:
        return None
    span = model.half_life * REBASE_EVERY
    return _EPOCH + span * ((as_utc(now) - _EPOCH) // span)


def growth(model: ScoreModel | None, now: datetime, at: datetime | None = None) -> float:
    """The stored value of a score over its value at ``at`` (default ``now``), with the
    reference time of a compute at ``now``: a test ``value >= T`` is ``stored >= T *
    growth``. 1 without a half-life."""
    reference = reference_time(model, now)
    if model is None or model.half_life is None or reference is None:
        return 1.0
    return float(2.0 ** ((as_utc(at or now) - reference) / model.half_life))


def _worth(model: ScoreModel, points: Any, now: datetime) -> Any:
    """What ``points`` earned by an event are worth at the reference time of a compute at
    ``now`` (see ``reference_time``): halved every half-life."""
    reference = reference_time(model, now)
    if model.half_life is None or reference is None:
        return points
    days = model.half_life.total_seconds() / 86400
    age = sqlfuncs.days_between(
        events.c.occurred_at, sa.literal(reference, events.c.occurred_at.type)
    )
    return points * sa.func.exp(math.log(2) * age / days)


SLOTS = 4  # windows computed in one pass over the events; more windows take more passes

# a pass's sums per contact: temporary, per connection
pass_table = sa.Table(
    "syncd_score_pass",
    sa.MetaData(),
    sa.Column("contact_id", Id, primary_key=True, autoincrement=False),
    sa.Column("value", sa.Float, nullable=False),
    *[sa.Column(f"recent{i}", sa.Float) for i in range(SLOTS)],
    prefixes=["TEMPORARY"],
)


def values_queries(
    model: ScoreModel,
    now: datetime,
    windows: Sequence[timedelta] = (),
    scope: sa.Table | None = None,
) -> list[sa.Select[Any]]:
    """SELECTs of contact_id, value, and for each window ``recent<i>``: the sum, in their
    worth at the reference time, of the points earned after ``now - window``. A contact's
    sums are the sums of its rows in all of them.

    Only the events of a window evaluate the worth a second time; the points earned before
    it are the value less these. With ``scope``, only the events of its contacts are read.
    """
    out = []
    for where, points, rows in _passes(model, scope is not None):
        # a pass over the rows reads them in table order, not through an index by contact
        # nor by time (the time index, taken for "at or before now", would visit every row
        # in random order: 4 times the CPU at 10,000,000 events)
        in_order = rows and scope is None
        contact = sqlfuncs.unindexed(events.c.contact_id) if in_order else events.c.contact_id
        occurred = sqlfuncs.unindexed(events.c.occurred_at) if in_order else events.c.occurred_at
        if scope is not None:
            where = [*where, contact.in_(sa.select(scope.c.contact_id))]
        worth = _worth(model, points, now)
        recent = [
            sa.func.sum(sa.case((events.c.occurred_at > now - w, worth), else_=None)).label(
                f"recent{i}"
            )
            for i, w in enumerate(windows)
        ]
        out.append(
            sa.select(contact.label("contact_id"), sa.func.sum(worth).label("value"), *recent)
            .where(contact.is_not(None), occurred <= now, *where)
            .group_by(contact)
        )
    return out


def _store(
    conn: sa.Connection,
    table: sa.Table,
    key: Mapping[str, Any],
    column: str,
    value: Any,
    scope: sa.Table | None = None,
    kept: Any = None,
) -> None:
    """Bring ``table``'s rows under ``key`` in line with ``value`` for each contact of the
    pass (of the scope's contacts only, with ``scope``), where ``kept`` holds if given: the
    rows that differ or are gone are deleted, the missing ones inserted; the rows that
    stand are not written.

    A score with a half-life is stored at its reference time, so a row changes only with its
    contact's events: a compute, even a whole one, rewrites only those.
    """
    mine = [table.c[k] == v for k, v in key.items()]
    if scope is not None:  # the scope's rows only: the others stand
        mine.append(table.c.contact_id.in_(sa.select(scope.c.contact_id)))
    wanted = [] if kept is None else [kept]
    same = sa.exists().where(
        pass_table.c.contact_id == table.c.contact_id, value == table.c[column], *wanted
    )
    conn.execute(table.delete().where(*mine, ~same))
    held = sa.exists().where(
        *[table.c[k] == v for k, v in key.items()],
        table.c.contact_id == pass_table.c.contact_id,
    )
    fresh = sa.select(*[sa.literal(v) for v in key.values()], pass_table.c.contact_id, value).where(
        ~held, *wanted
    )
    conn.execute(table.insert().from_select([*key, "contact_id", column], fresh))


@dataclass(frozen=True)
class ScorePass:
    """One model's values, with its change over up to ``SLOTS`` windows, gathered in
    ``syncd_score_pass`` by one pass (two with ``where`` rules) over the events."""

    model: ScoreModel
    windows: tuple[timedelta, ...]
    first: bool  # the model's first: it also gives the values stored
    scope: sa.Table | None = None  # only these contacts' values (see values_queries)

    @property
    def columns(self) -> list[str]:
        return ["contact_id", "value", *[f"recent{i}" for i in range(len(self.windows))]]


def score_passes(
    models: Mapping[str, ScoreModel],
    windows: Mapping[str, Iterable[timedelta]] | None = None,
    scope: sa.Table | None = None,
) -> list[ScorePass]:
    """The passes that give every model's values and its change over each of
    ``windows[name]``, in the order compute takes them."""
    windows = windows or {}
    out = []
    for name, model in models.items():
        wanted = sorted(set(windows.get(name, ())))
        chunks = [tuple(wanted[i : i + SLOTS]) for i in range(0, len(wanted), SLOTS)]
        out += [ScorePass(model, chunk, n == 0, scope) for n, chunk in enumerate(chunks or [()])]
    return out


def fill_pass(conn: sa.Connection, job: ScorePass, now: datetime) -> None:
    """Gather ``job``'s sums per contact in ``syncd_score_pass``."""
    empty(conn, pass_table)
    columns = job.columns
    for k, query in enumerate(values_queries(job.model, now, job.windows, job.scope)):
        insert = dialect_insert(conn, pass_table).from_select(columns, query)
        if k:  # a contact the first pass found: add this pass's sums to its own
            insert = insert.on_conflict_do_update(
                index_elements=["contact_id"],
                set_={
                    c: sa.func.coalesce(pass_table.c[c], 0.0)
                    + sa.func.coalesce(insert.excluded[c], 0.0)
                    for c in columns[1:]
                },
            )
        conn.execute(insert)


def forget_scores(
    conn: sa.Connection,
    models: Mapping[str, ScoreModel],
    windows: Mapping[str, Iterable[timedelta]] | None = None,
) -> None:
    """Delete the values of scores no longer configured, and the changes over windows no
    segment asks about any more."""
    windows = windows or {}
    conn.execute(contact_scores.delete().where(contact_scores.c.score.not_in(list(models))))
    conn.execute(score_scales.delete().where(score_scales.c.score.not_in(list(models))))
    for name in models:
        over = [int(w.total_seconds()) for w in set(windows.get(name, ()))]
        conn.execute(
            contact_score_changes.delete().where(
                contact_score_changes.c.score == name,
                contact_score_changes.c.over_seconds.not_in(over),
            )
        )
    conn.execute(
        contact_score_changes.delete().where(contact_score_changes.c.score.not_in(list(models)))
    )


Fill = Callable[[sa.Connection, ScorePass, datetime], None]
# for a score's window, the tests against 0 one of which a change must pass to be stored
# (None, or a window absent: every change is); see syncd.segments.compile.kept_changes
Kept = Mapping[tuple[str, timedelta], Collection[str] | None]


def compute_scores(
    conn: sa.Connection,
    models: Mapping[str, ScoreModel],
    now: datetime,
    windows: Mapping[str, Iterable[timedelta]] | None = None,
    fill: Fill = fill_pass,
    scope: sa.Table | None = None,
    kept: Kept | None = None,
) -> None:
    """Store every model's value per contact at ``now``, and its change over each of
    ``windows[name]`` — all from one pass over the events per model. With a half-life both
    are stored at the reference time (divide by ``growth`` for their worth now).

    An event's worth at ``now - w`` is its worth now times 2^(w / half_life), so the score
    then is a sum over the same rows as the score now. ``fill`` gathers each pass's sums in
    ``syncd_score_pass`` (by default here; compute may have them read aside, in parallel).
    The values of other scores and windows are removed by ``forget_scores`` beforehand.
    With ``scope``, only the values of its contacts are computed and replaced. A change
    is stored only where ``kept`` says a rule may select it (a row not written is a row
    less in the table and its index by value).
    """
    pass_table.create(conn, checkfirst=True)
    for job in score_passes(models, windows, scope):
        fill(conn, job, now)
        name, model = job.model.name, job.model
        if job.first:
            _store(conn, contact_scores, {"score": name}, "value", pass_table.c.value, scope)
        for i, window in enumerate(job.windows):
            recent = sa.func.coalesce(pass_table.c[f"recent{i}"], 0.0)
            change = recent  # without a half-life, the points earned in the window
            if model.half_life is not None:  # the points earned before it halved since
                factor = 2.0 ** (window / model.half_life)
                change = pass_table.c.value - factor * (pass_table.c.value - recent)
            key = {"score": name, "over_seconds": int(window.total_seconds())}
            signs = (kept or {}).get((name, window))
            wanted = sa.or_(*[compare(change, op, 0.0) for op in sorted(signs)]) if signs else None
            _store(conn, contact_score_changes, key, "change", change, scope, wanted)
    empty(conn, pass_table)


def store_scales(conn: sa.Connection, models: Mapping[str, ScoreModel], now: datetime) -> None:
    """Record, for each score, what its stored values are multiplied by to give their worth
    at ``now`` (the view ``syncd_scores``, the plan and explain read the values so)."""
    rows = [
        {"score": name, "reference_at": reference_time(model, now), "scale": 1 / growth(model, now)}
        for name, model in models.items()
    ]
    if rows:
        upsert(conn, score_scales, rows, ["score"], ["reference_at", "scale"])
