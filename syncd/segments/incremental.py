"""What an incremental compute re-evaluates, and what it must compute whole.

The scope of a compute is the contacts marked in ``changed_contacts`` since the last one
(their rows changed), plus those whose time windows crossed an edge since then: each
time-relative condition names the times at which its answer can change (an event's time, and
that time plus each window the rule reads it with), so the contacts with such a time between
the last compute and this one are found by a range over an index. A segment whose rule
changed (a digest of its compiled definition), or whose rule reads every contact at once
(a top share, plain SQL), is computed whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.segments import dates, sqlfuncs
from syncd.segments.compile import Compiler
from syncd.segments.rules import (
    AgeRule,
    AnniversaryRule,
    BoughtRule,
    EventRule,
    FieldRule,
    ListRule,
    PredictedRule,
    PurchasesRule,
    Rule,
    ScoreRule,
    SegmentRef,
    SpentRule,
    SqlRule,
    TagRule,
    leaves,
    moves_with_clock,
)
from syncd.segments.scores import ScoreModel, growth, reference_time
from syncd.segments.top_shares import top_shares
from syncd.store.schema import (
    Id,
    changed_contacts,
    contact_fields,
    contact_score_changes,
    contact_scores,
    events,
    memberships,
    meta,
    tags,
)
from syncd.store.upsert import upsert

PURCHASE = "order_placed"
ZERO = timedelta(0)
LAST_COMPUTE = "compute:at"  # meta: when the last compute ran, ISO 8601
SCORE_DIGESTS = "compute:scores"  # meta: {score: digest of its model and windows}
TOPS = "compute:tops"  # meta: {top share: its least value}
TOP_COUNTS = "compute:top_counts"  # meta: {top share of its candidates: how many they are}

scope_table = sa.Table(
    "syncd_scope",
    sa.MetaData(),
    sa.Column("contact_id", Id, primary_key=True, autoincrement=False),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class Edge:
    """Times at which a condition's answer can change: each time of the rows it reads (an
    event's ``occurred_at`` of one of ``kinds``, all when None; field ``field``'s ``ts``; or
    the ``since`` of a tag or list membership, ``link`` "tags" or "memberships") plus each of
    ``offsets``."""

    kinds: frozenset[str] | None
    offsets: frozenset[timedelta]
    field: str | None = None
    link: str | None = None


def _time_offsets(test: Any) -> set[timedelta]:
    """The offsets at which a time test on a value against now flips."""
    if test is None:
        return set()
    if test.op == "within":  # value in [now - w, now]
        return {ZERO, test.value}
    if test.op == "older_than":  # value < now - w
        return {test.value}
    if test.op == "within_next":  # value in [now, now + w]
        return {ZERO, -test.value}
    return set()  # before / after: fixed times


def edges(rule: Rule) -> list[Edge]:
    """The edges of every time-relative condition in ``rule`` (not of the rules it refers
    to: those are computed first, and their moves are in the scope already)."""
    out: list[Edge] = []
    for part in leaves(rule):
        if isinstance(part, EventRule | PurchasesRule):
            # an event counts once now reaches its time; a window drops it once past
            offsets = {ZERO, *_time_offsets(part.first), *_time_offsets(part.last)}
            if part.within is not None:
                offsets.add(part.within)
            if isinstance(part, PurchasesRule):
                kinds: frozenset[str] | None = frozenset({PURCHASE})
            elif part.type == "any" or part.not_followed_by == "any":
                kinds = None
            else:
                kinds = frozenset({part.type, *filter(None, [part.not_followed_by])})
            out.append(Edge(kinds, frozenset(offsets)))
        elif isinstance(part, SpentRule | BoughtRule):  # lines have their order's time
            offsets = {ZERO} if part.within is None else {ZERO, part.within}
            out.append(Edge(frozenset({PURCHASE}), frozenset(offsets)))
        elif isinstance(part, FieldRule) and _time_offsets(part.test):
            out.append(Edge(None, frozenset(_time_offsets(part.test)), field=part.name))
        elif isinstance(part, TagRule | ListRule) and _time_offsets(part.since):
            link = "tags" if isinstance(part, TagRule) else "memberships"
            out.append(Edge(None, frozenset(_time_offsets(part.since)), link=link))
    return out


def score_edges(model: ScoreModel, windows: Iterable[timedelta]) -> list[Edge]:
    """The edges of a score's stored values: its events count from their time, and leave
    each window its change is asked over (with a half-life the values are stored at the
    reference time, and move with the clock only through ``crossings``)."""
    kinds = None if any(p.event == "any" for p in model.points) else {p.event for p in model.points}
    return [Edge(None if kinds is None else frozenset(kinds), frozenset({ZERO, *windows}))]


def crossed(edge: Edge, since: datetime, now: datetime) -> sa.Select[Any]:
    """The contacts with a time of ``edge`` that passed between ``since`` and ``now`` (both
    ends in: an answer taken at exactly an edge may change just after it)."""
    low, high = sorted((as_utc(since), as_utc(now)))
    parts = []
    for offset in sorted(edge.offsets):
        if edge.link is not None:
            table = _LINKS[edge.link]
            parts.append(
                sa.select(table.c.contact_id).where(
                    table.c.since >= low - offset, table.c.since <= high - offset
                )
            )
            continue
        if edge.field is not None:
            ts = contact_fields.c.ts
            parts.append(
                sa.select(contact_fields.c.contact_id).where(
                    contact_fields.c.name == edge.field,
                    ts >= low - offset,
                    ts <= high - offset,
                )
            )
            continue
        # by the index by time alone: SQLite took the one by type and contact for a type,
        # and read every order to find those of five minutes
        where = [
            events.c.occurred_at >= low - offset,
            events.c.occurred_at <= high - offset,
            sqlfuncs.unindexed(events.c.contact_id).is_not(None),
        ]
        if edge.kinds is not None:
            where.append(sqlfuncs.unindexed(events.c.type).in_(sorted(edge.kinds)))
        parts.append(sa.select(events.c.contact_id).where(*where))
    return parts[0] if len(parts) == 1 else sa.select(sa.union(*parts).subquery().c[0])


_LINKS = {"tags": tags, "memberships": memberships}


def crossings(
    rules: Mapping[str, Rule], scores: Mapping[str, ScoreModel], since: datetime, now: datetime
) -> list[sa.Select[Any]]:
    """The contacts whose score with a half-life crossed a threshold a rule compares it
    with, between ``since`` and ``now``.

    The stored value S stands still while the clock moves, and a test ``value >= T`` is
    ``S >= T * growth(now)``: its answer changed for the contacts whose S lies between
    T * growth(since) and T * growth(now), a range over the index by (score, value); the
    same for a change over a window. A threshold of 0 is never crossed (a decaying value
    keeps its sign).
    """
    wanted: set[tuple[str, int | None, float]] = set()
    for rule in rules.values():
        for part in leaves(rule):
            if not isinstance(part, ScoreRule):
                continue
            model = scores.get(part.score)
            if model is None or model.half_life is None:
                continue
            wanted.update((part.score, None, float(c.value)) for c in part.tests)
            if part.change is not None:
                seconds = int(part.change.over.total_seconds())
                wanted.update((part.score, seconds, float(c.value)) for c in part.change.tests)
    out = []
    for score, over, limit in sorted(wanted, key=repr):
        if not limit:
            continue
        model = scores[score]
        ends = sorted(limit * growth(model, now, at) for at in (since, now))
        # a little wider than the exact ends: a contact too many is evaluated again, and
        # its answer stays; one too few would be missed
        low, high = ends[0] - abs(ends[0]) * _SLACK, ends[1] + abs(ends[1]) * _SLACK
        if over is None:
            value, where = contact_scores.c.value, [contact_scores.c.score == score]
            found = sa.select(contact_scores.c.contact_id)
        else:
            value = contact_score_changes.c.change
            where = [
                contact_score_changes.c.score == score,
                contact_score_changes.c.over_seconds == over,
            ]
            found = sa.select(contact_score_changes.c.contact_id)
        out.append(found.where(*where, value >= low, value <= high))
    return out


_SLACK = 1e-9


def widen(conn: sa.Connection, found: sa.Select[Any]) -> None:
    """Add the contacts ``found`` selects to the scope."""
    sub = found.subquery()
    column = sub.c[0]
    fresh = (
        sa.select(column)
        .where(
            column.is_not(None),
            ~sa.exists().where(scope_table.c.contact_id == column),
        )
        .distinct()
    )
    conn.execute(scope_table.insert().from_select(["contact_id"], fresh))


def take_changes(conn: sa.Connection, into_scope: bool) -> None:
    """Take every contact marked changed: into the scope, or (for a whole compute) away.

    On PostgreSQL the marks are deleted first, in one statement, which waits for a writer
    that marked a contact to commit; what this compute reads afterwards includes its rows.
    On SQLite the compute holds the store's write lock already: no writer is under way.
    """
    if conn.dialect.name == "postgresql":
        if into_scope:
            conn.exec_driver_sql(
                "WITH taken AS (DELETE FROM changed_contacts RETURNING contact_id) "
                f"INSERT INTO {scope_table.name} (contact_id) SELECT contact_id FROM taken"
            )
        else:
            conn.execute(changed_contacts.delete())
        return
    if into_scope:
        conn.execute(
            scope_table.insert().from_select(
                ["contact_id"], sa.select(changed_contacts.c.contact_id)
            )
        )
    conn.execute(changed_contacts.delete())


def same_days(rule: Rule, since: datetime | None, now: datetime) -> bool:
    """Whether every recurring date and age in ``rule`` reads the same days at ``since`` as
    at ``now``: their answers move with the calendar (UTC days), so within one day they
    stand for a contact whose rows did not change."""
    if since is None:
        return False
    for part in leaves(rule):
        if isinstance(part, AnniversaryRule) and dates.window(part.test, since) != dates.window(
            part.test, now
        ):
            return False
        if isinstance(part, AgeRule) and as_utc(since).date() != as_utc(now).date():
            return False
    return True


def _moves(part: Rule, days_stand: bool) -> bool:
    """Whether leaf ``part``'s answer can move with no row and no time edge behind it."""
    if isinstance(part, SqlRule | PredictedRule) or moves_with_clock(part):
        return True
    return isinstance(part, AnniversaryRule | AgeRule) and not days_stand


def is_local(
    rule: Rule,
    whole: set[str],
    whole_scores: set[str],
    known: Mapping[str, Any],
    days_stand: bool = False,
) -> bool:
    """Whether ``rule``'s answer for a contact of the scope depends on that contact's rows
    alone (and on segments and scores computed for the scope): not plain SQL, not a score
    computed whole, no reference to a segment computed whole, no recurring date or age
    unless ``days_stand`` (``same_days``), no top share whose least value is not ``known``
    as it was and as it is (then its movers are in the scope)."""
    for part in leaves(rule):
        if _moves(part, days_stand):
            # predictions move at each fit (a top share of them ranks every purchaser), and
            # recurring dates and ages with the calendar
            return False
        if isinstance(part, SegmentRef) and part.name in whole:
            return False
        if isinstance(part, ScoreRule) and part.score in whole_scores:
            return False
    return all(key in known for key in top_shares({"": rule}))


def widen_tops(
    conn: sa.Connection,
    compiler: Compiler,
    rule: Rule,
    was: Mapping[str, Any],
    now: Mapping[str, Any],
) -> None:
    """Add to the scope the candidates of each top share in ``rule`` whose value lies
    between its least value as it was and as it is: only they may have joined or left it."""
    for key, (part, kind, _) in top_shares({"": rule}).items():
        if was[key] == now[key]:
            continue
        values = compiler.tops(part, kind)
        ends = sorted(v for v in (was[key], now[key]) if v is not None)
        where = [values.c.value >= ends[0]]
        if len(ends) == 2:
            where.append(values.c.value <= ends[1])
        widen(conn, sa.select(values.c.contact_id).where(*where))


def tracked(rule: Rule, recomputed: set[str], days_stand: bool = False) -> bool:
    """Whether ``rule`` reads only what the change tracker and the edges see: no plain SQL,
    no recurring date or age unless ``days_stand`` (their answers move with the calendar,
    not a row: on a new day such a segment is computed whole, a pass over one field), no
    segment computed whole in this compute."""
    return not any(
        _moves(part, days_stand) or (isinstance(part, SegmentRef) and part.name in recomputed)
        for part in leaves(rule)
    )


def _shape(value: Any) -> Any:
    """A rule or model as plain data, without the places in the YAML it was read from."""
    if isinstance(value, tuple | list | frozenset | set):
        items = [_shape(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, frozenset | set) else items
    if hasattr(value, "__dataclass_fields__"):
        fields = {k: _shape(getattr(value, k)) for k in value.__dataclass_fields__ if k != "loc"}
        return [type(value).__name__, fields]
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _digest(value: Any) -> str:
    text = json.dumps(_shape(value), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def definitions(
    rules: Mapping[str, Rule],
    scores: Mapping[str, ScoreModel],
    windows: Mapping[str, Iterable[timedelta]],
    now: datetime,
    kept: Mapping[tuple[str, timedelta], Iterable[str] | None] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """A digest of each segment's compiled definition (with the segments it refers to and
    the score models it reads), and of each score's model with the windows asked of it and
    the reference time its values are stored at (a new one rewrites them all), and which of
    its changes are kept (``kept``, as compute_scores takes it)."""
    by_score = {}
    for name, model in scores.items():
        parts: list[Any] = [model, sorted(w.total_seconds() for w in set(windows.get(name, ())))]
        reference = reference_time(model, now)
        if reference is not None:
            parts.append(["reference", reference])
        signs = {w: v for (score, w), v in (kept or {}).items() if score == name}
        if signs:
            parts.append(
                ["kept", sorted((w.total_seconds(), sorted(v or ())) for w, v in signs.items())]
            )
        by_score[name] = _digest(parts)
    out: dict[str, str] = {}
    for name, rule in rules.items():  # in dependency order: a reference's digest is known
        parts = [rule]
        for part in leaves(rule):
            if isinstance(part, SegmentRef):
                parts.append(out[part.name])
            elif isinstance(part, ScoreRule) and part.score in by_score:
                parts.append(by_score[part.score])
        out[name] = _digest(parts)
    return out, by_score


@dataclass(frozen=True)
class LastCompute:
    """What the last compute left: when it ran (None: never, or before syncd remembered
    it), the digests of the scores it computed, the least value of each top share, and the
    number of candidates of each share of them."""

    at: datetime | None
    scores: dict[str, str]
    tops: dict[str, Any]
    top_counts: dict[str, int]


def last_compute(conn: sa.Connection) -> LastCompute:
    keys = [LAST_COMPUTE, SCORE_DIGESTS, TOPS, TOP_COUNTS]
    found = dict(
        conn.execute(sa.select(meta.c.key, meta.c.value).where(meta.c.key.in_(keys))).all()
    )
    at = found.get(LAST_COMPUTE)
    return LastCompute(
        datetime.fromisoformat(at) if at else None,
        json.loads(found.get(SCORE_DIGESTS) or "{}"),
        json.loads(found.get(TOPS) or "{}"),
        json.loads(found.get(TOP_COUNTS) or "{}"),
    )


def remember(
    conn: sa.Connection,
    now: datetime,
    score_digests: Mapping[str, str],
    tops: Mapping[str, Any],
    top_counts: Mapping[str, int],
) -> None:
    rows = [
        {"key": LAST_COMPUTE, "value": as_utc(now).isoformat()},
        {"key": SCORE_DIGESTS, "value": json.dumps(dict(score_digests), sort_keys=True)},
        {"key": TOPS, "value": json.dumps(dict(tops), sort_keys=True)},
        {"key": TOP_COUNTS, "value": json.dumps(dict(top_counts), sort_keys=True)},
    ]
    upsert(conn, meta, rows, ["key"], ["value"])
