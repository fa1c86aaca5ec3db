"""Compute: scores, RFM and segment members evaluated by the store's engine.

Segments run in dependency order, so a segment that refers to another reads its stored
members; those that read no score run before the scores are stored, while on a SQLite file
the score passes are summed on a second connection (syncd.segments.aside). Each segment's
new members are first gathered in a temporary table; the stored members are then brought
in line with one INSERT of those not stored yet and, only if some left, one DELETE, so a
member keeps the time it joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.segments.aside import ReadAside, may_read_aside
from syncd.segments.compile import (
    PURCHASE,
    AntiJoin,
    Compiler,
    kept_changes,
    reading,
    score_windows,
)
from syncd.segments.incremental import (
    ZERO,
    Edge,
    LastCompute,
    crossed,
    crossings,
    definitions,
    edges,
    is_local,
    last_compute,
    remember,
    same_days,
    scope_table,
    score_edges,
    take_changes,
    tracked,
    widen,
    widen_tops,
)
from syncd.segments.predict_config import PredictConfig
from syncd.segments.rfm import compute_rfm
from syncd.segments.rules import PredictedRule, RfmRule, Rule, ScoreRule, SqlRule
from syncd.segments.scores import (
    Kept,
    ScoreModel,
    compute_scores,
    fill_pass,
    forget_scores,
    score_passes,
    store_scales,
)
from syncd.segments.top_shares import count_tops, find_tops, top_shares
from syncd.store.engine import memory_temp_store
from syncd.store.schema import Id, contacts, segment_members, segments
from syncd.store.temporary import empty
from syncd.store.upsert import upsert
from syncd.sync import history

_new = sa.Table(
    "syncd_segment_new",
    sa.MetaData(),
    # INTEGER PRIMARY KEY on SQLite: the row id itself, one b-tree instead of a table and an index
    sa.Column("contact_id", Id, primary_key=True, autoincrement=False),
    prefixes=["TEMPORARY"],
)

# A page cache of 128 MB instead of 2 MB for the compute's large scans, sorts and member
# writes (given back afterwards), and temporary tables and indexes in memory.
_SQLITE_CACHE_KIB = 131072
_POSTGRES_WORK_MEM = "64MB"
_POSTGRES_TEMP_BUFFERS = "128MB"
# a scope of more than this share of the contacts (and more than a few) is computed whole:
# as fast, and simpler
_SCOPE_SHARE = 0.2
_SCOPE_FEW = 1000


@dataclass
class SegmentResult:
    name: str
    size: int
    added: int
    removed: int


def compute_segments(
    conn: sa.Connection,
    rules: Mapping[str, Rule],
    now: datetime,
    scores: Mapping[str, ScoreModel] | None = None,
    full: bool = False,
    predict: PredictConfig | None = None,
    record_history: bool = True,
) -> list[SegmentResult]:
    """Compute every score, the RFM, the predictions (fitted again when ``predict.every``
    has passed), and bring ``segment_members`` in line with ``rules``.

    ``rules`` must be in dependency order, as ``parse_segments`` returns them. Only what
    changed since the last compute is evaluated again (syncd.segments.incremental), unless
    ``full``, or there was none. Without ``record_history`` (a webhook's micro-cycle, every
    few seconds) the sizes are not kept for the status page's charts.
    """
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        memory_temp_store(conn)
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    elif conn.dialect.name == "postgresql":
        _postgres_memory(conn)
    try:
        if predict is not None:
            from syncd.segments.predict import refresh  # numpy and scipy: only when asked

            refresh(conn, now, predict, full)
        results = _compute(conn, rules, now, scores or {}, full)
        if record_history:
            history.record(conn, now, results)  # one statement: what the status page charts
        return results
    finally:
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")


def _postgres_memory(conn: sa.Connection) -> None:
    """Room to sort and hash in memory for this transaction, and for temporary tables: with
    PostgreSQL's 8 MB a pass over a temporary table of a million members reads it from disk.
    The latter can only be set before a session's first temporary table, else it stays."""
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{_POSTGRES_WORK_MEM}'")
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"SET temp_buffers = '{_POSTGRES_TEMP_BUFFERS}'")
    except sa.exc.DBAPIError:
        pass


@dataclass
class _Run:
    """One compute: its rules and scores, their digests, and what the last compute left."""

    rules: Mapping[str, Rule]
    now: datetime
    scores: Mapping[str, ScoreModel]
    windows: dict[str, set[timedelta]]
    digests: dict[str, str]
    score_digests: dict[str, str]
    anti_join: AntiJoin | None
    kept: Kept
    # the segments stored before this compute: (definition, size) by name
    stored: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    # their rows as this compute leaves them, written together at its end
    rows: list[dict[str, Any]] = field(default_factory=list)


def _compute(
    conn: sa.Connection,
    rules: Mapping[str, Rule],
    now: datetime,
    scores: Mapping[str, ScoreModel],
    full: bool,
) -> list[SegmentResult]:
    windows = score_windows(rules.values())
    kept = kept_changes(rules.values())
    anti_joins: dict[str, AntiJoin] = {"sqlite": "not_in", "postgresql": "not_exists"}
    digests, score_digests = definitions(rules, scores, windows, now, kept)
    run = _Run(
        rules, now, scores, windows, digests, score_digests, anti_joins.get(conn.dialect.name), kept
    )
    found = sa.select(segments.c.name, segments.c.definition, segments.c.size)
    run.stored = {name: (definition, size) for name, definition, size in conn.execute(found)}
    last = last_compute(conn)
    since, known_scores = last.at, last.scores
    fresh = may_read_aside(conn)  # asked before this compute's own first write, which
    # on SQLite takes the store's lock to the end
    if known_scores != score_digests:  # else the same scores and windows as last time
        forget_scores(conn, scores, windows)
    scope_table.create(conn, checkfirst=True)
    empty(conn, scope_table)
    _new.create(conn, checkfirst=True)
    whole_scores = _whole_scores(run, known_scores)
    incremental = not full and since is not None
    take_changes(conn, into_scope=incremental)
    size = _widen(conn, run, since, whole_scores) if incremental and since is not None else None
    if size is not None and since is not None:
        quiet = not size and not whole_scores
        results, tops, counts = _incremental(conn, run, since, whole_scores, last, quiet)
    else:
        results = _whole(conn, run, fresh)
        compiler, shares = Compiler(rules, now, scores), top_shares(rules)
        counts = count_tops(conn, compiler, shares)
        tops = find_tops(conn, compiler, shares, counts)
    empty(conn, scope_table)
    empty(conn, _new)
    _write_segments(conn, run.rows)
    gone = sa.select(segments.c.name).where(segments.c.name.not_in(list(rules)))
    conn.execute(segment_members.delete().where(segment_members.c.segment.in_(gone)))
    conn.execute(segments.delete().where(segments.c.name.not_in(list(rules))))
    store_scales(conn, scores, now)
    remember(conn, now, score_digests, tops, counts)
    return [results[name] for name in rules]


def _whole_scores(run: _Run, known: Mapping[str, str]) -> set[str]:
    """The scores computed whole: new or changed, or stored at a new reference time."""
    return {name for name in run.scores if known.get(name) != run.score_digests[name]}


def _widen(conn: sa.Connection, run: _Run, since: datetime, whole_scores: set[str]) -> int | None:
    """Add to the scope the contacts whose time windows crossed an edge since ``since``, and
    say how many it holds; None when so many that a whole compute is cheaper."""
    if as_utc(since) != as_utc(run.now):
        found = {edge for rule in run.rules.values() for edge in edges(rule)}
        found.add(Edge(frozenset({PURCHASE}), frozenset({ZERO})))  # an order joins the RFM
        for name, model in run.scores.items():
            if name not in whole_scores:
                found.update(score_edges(model, run.windows.get(name, ())))
        for edge in sorted(found, key=repr):
            widen(conn, crossed(edge, since, run.now))
        kept = {n: m for n, m in run.scores.items() if n not in whole_scores}
        for crossing in crossings(run.rules, kept, since, run.now):
            widen(conn, crossing)
    size = conn.execute(sa.select(sa.func.count()).select_from(scope_table)).scalar_one()
    everyone = conn.execute(sa.select(sa.func.max(contacts.c.id))).scalar() or 0
    return int(size) if size <= max(everyone * _SCOPE_SHARE, _SCOPE_FEW) else None


def _whole(conn: sa.Connection, run: _Run, fresh: bool) -> dict[str, SegmentResult]:
    rules, now, scores, windows = run.rules, run.now, run.scores, run.windows
    # the segments that read no score run first, while the scores may still be summed aside;
    # those that read neither a score nor the RFM may be read aside themselves
    later = reading(rules, (ScoreRule, SqlRule))
    first = {name: rule for name, rule in rules.items() if name not in later}
    # read aside on a connection of its own, which sees neither the RFM nor the predictions
    # written in this transaction
    shared = {n: r for n, r in first.items() if n not in reading(rules, (RfmRule, PredictedRule))}
    aside = None
    if (scores or shared) and fresh:
        alone = Compiler(rules, now, scores, anti_join=run.anti_join)  # reads no stored segment
        passes = score_passes(scores, windows)
        aside = ReadAside(conn.engine, now, passes, shared, alone.members)
    results = {}
    try:
        compute_rfm(conn, now)
        if conn.dialect.name == "postgresql":  # as below: filled in this transaction
            conn.exec_driver_sql("ANALYZE contact_rfm")
        compiler = Compiler(rules, now, scores, anti_join=run.anti_join)
        stats = _Statistics(sum(size for _, size in run.stored.values()))

        def store(name: str, ids: Iterable[int] | None = None) -> None:
            results[name] = _segment(conn, compiler, name, rules[name], run, stats, ids)

        for name in first:
            if aside is None or aside.claim(name):
                store(name)
            for done, ids in aside.finished() if aside else ():  # stored as they come
                store(done, ids)
        for done, ids in aside.segments_read() if aside else ():
            store(done, ids)
        compute_scores(
            conn, scores, now, windows, aside.fill if aside else fill_pass, kept=run.kept
        )
        if conn.dialect.name == "postgresql":
            for table in ("contact_scores", "contact_score_changes"):
                conn.exec_driver_sql(f"ANALYZE {table}")
        for name in rules:
            if name in later:
                store(name)
    finally:
        if aside is not None:
            aside.close()
    return results


def _incremental(
    conn: sa.Connection,
    run: _Run,
    since: datetime,
    whole_scores: set[str],
    last: LastCompute,
    quiet: bool,
) -> tuple[dict[str, SegmentResult], dict[str, Any], dict[str, int]]:
    """Evaluate the contacts of the scope again; what reads every contact, whole. When
    ``quiet`` (no contact in the scope, no score computed whole), a segment whose rule
    reads only what is tracked keeps its members without a look. Returns the results, the
    least value of each top share and the number of candidates of each share of them."""
    rules, now, scores, tops_were = run.rules, run.now, run.scores, last.tops
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {scope_table.name}")
    stand = {name: same_days(rule, since, now) for name, rule in rules.items()}
    compute_rfm(conn, now, scope_table)  # adds the contacts whose RFM moved to the scope
    anew = {n: m for n, m in scores.items() if n in whole_scores}
    compute_scores(conn, anew, now, run.windows, kept=run.kept)
    whole = Compiler(rules, now, scores, anti_join=run.anti_join)
    shares = top_shares(rules)
    # only the scope's scores are written again: the others' candidates stand
    carried = {
        k: v for k, v in shares.items() if k in last.top_counts and v[0].score not in whole_scores
    }
    before = {} if quiet else count_tops(conn, whole, carried, scope_table)
    scoped_scores = {n: m for n, m in scores.items() if n not in whole_scores}
    compute_scores(conn, scoped_scores, now, run.windows, scope=scope_table, kept=run.kept)
    after = {} if quiet else count_tops(conn, whole, carried, scope_table)
    counts = {k: last.top_counts[k] - before.get(k, 0) + after.get(k, 0) for k in carried}
    counts.update(count_tops(conn, whole, {k: v for k, v in shares.items() if k not in carried}))
    tops = {k: tops_were[k] for k in shares if quiet and k in tops_were}  # none moved
    tops.update(find_tops(conn, whole, {k: v for k, v in shares.items() if k not in tops}, counts))
    known = {k: v for k, v in tops.items() if k in tops_were}  # as it was and as it is
    scoped = Compiler(
        rules, now, scores, whole.materialized, run.anti_join, scope_table, known_tops=tops
    )
    stats = _Statistics(sum(size for _, size in run.stored.values()))
    done: set[str] = set()  # the segments computed whole
    results = {}
    for name, rule in rules.items():
        definition, size = run.stored.get(name, (None, 0))
        same = definition == run.digests[name]
        if same and quiet and tracked(rule, done, stand[name]):
            results[name] = _stored_as(whole, name, run, size, 0, 0)
        elif not same or not is_local(rule, done, whole_scores, known, stand[name]):
            done.add(name)
            results[name] = _segment(conn, whole, name, rule, run, stats)
        else:
            widen_tops(conn, whole, rule, tops_were, tops)
            results[name] = _segment_scope(conn, scoped, name, rule, run, size)
    return results, tops, counts


def _segment(
    conn: sa.Connection,
    compiler: Compiler,
    name: str,
    rule: Rule,
    run: _Run,
    stats: _Statistics,
    read: Iterable[int] | None = None,
) -> SegmentResult:
    """Bring the stored members of segment ``name`` in line with ``rule``, or with the
    members ``read`` aside."""
    now = run.now
    empty(conn, _new)
    if read is None:
        conn.execute(_new.insert().from_select(["contact_id"], compiler.members(rule)))
    else:
        driver: Any = conn.connection.driver_connection
        driver.executemany(f"INSERT INTO {_new.name} VALUES (?)", ((i,) for i in read))
    if conn.dialect.name == "postgresql":
        # both tables change inside this transaction: without fresh statistics the
        # planner takes them for empty and probes segment_members row by row
        conn.exec_driver_sql("ANALYZE syncd_segment_new")
        stats.refresh(conn)
    size = conn.execute(sa.select(sa.func.count()).select_from(_new)).scalar_one()
    stored = _stored(conn, name)
    joining = sa.select(
        sa.literal(name), _new.c.contact_id, sa.literal(now, segment_members.c.since.type)
    )
    if stored:  # else every member is new: none to look for among the stored ones
        joining = joining.where(
            ~sa.exists().where(
                segment_members.c.segment == name,
                segment_members.c.contact_id == _new.c.contact_id,
            )
        )
    # INSERT ... SELECT reports no row count on every driver (psycopg gives -1): the
    # members are counted instead. The stored ones are now the old and the new together,
    # so the members that left are that count less the new size.
    conn.execute(segment_members.insert().from_select(["segment", "contact_id", "since"], joining))
    both = _stored(conn, name) if stored else size
    added, removed = both - stored, both - size
    stats.changed += added + removed
    if removed:
        conn.execute(
            segment_members.delete().where(
                segment_members.c.segment == name,
                # NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti-join at any size
                ~sa.exists().where(_new.c.contact_id == segment_members.c.contact_id),
            )
        )
    return _stored_as(compiler, name, run, size, added, removed)


def _segment_scope(
    conn: sa.Connection, compiler: Compiler, name: str, rule: Rule, run: _Run, size: int
) -> SegmentResult:
    """Bring the stored members of segment ``name`` (``size`` of them) among the contacts of
    the scope in line with ``rule``; the others stand."""
    empty(conn, _new)
    found = compiler.members(rule).subquery()
    in_scope = found.c.contact_id.in_(sa.select(scope_table.c.contact_id))
    conn.execute(
        _new.insert().from_select(["contact_id"], sa.select(found.c.contact_id).where(in_scope))
    )
    stored = sa.exists().where(
        segment_members.c.segment == name, segment_members.c.contact_id == _new.c.contact_id
    )
    joining = sa.select(
        sa.literal(name), _new.c.contact_id, sa.literal(run.now, segment_members.c.since.type)
    ).where(~stored)
    added = conn.execute(sa.select(sa.func.count()).select_from(joining.subquery())).scalar_one()
    if added:
        conn.execute(
            segment_members.insert().from_select(["segment", "contact_id", "since"], joining)
        )
    removed = conn.execute(
        segment_members.delete().where(
            segment_members.c.segment == name,
            segment_members.c.contact_id.in_(sa.select(scope_table.c.contact_id)),
            ~sa.exists().where(_new.c.contact_id == segment_members.c.contact_id),
        )
    ).rowcount
    return _stored_as(compiler, name, run, size + added - removed, added, removed)


def _stored_as(
    compiler: Compiler, name: str, run: _Run, size: int, added: int, removed: int
) -> SegmentResult:
    """Take segment ``name`` as computed, with its size and definition (its row is written
    with the others' at the end of the compute)."""
    now = run.now
    compiler.materialized.add(name)
    row = {"name": name, "size": size, "computed_at": now, "definition": run.digests[name]}
    if added or removed or name not in run.stored:
        row["changed_at"] = now
    run.rows.append(row)
    return SegmentResult(name, size, added, removed)


def _write_segments(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """The segments' rows, in one statement for those whose members changed and one for
    the others (which keep the time they last changed)."""
    for changed in (True, False):
        some = [row for row in rows if ("changed_at" in row) == changed]
        upsert(conn, segments, some, ["name"], [k for k in some[0] if k != "name"] if some else [])


@dataclass
class _Statistics:
    """What PostgreSQL's planner knows of ``segment_members``: its rows when last analyzed,
    and the rows added or removed since. Analyzed again only once they differ by a tenth: a
    compute that changes little then analyzes nothing (it took 0.2 s a segment at a million
    contacts), and a first compute still plans each segment on its true size."""

    known: int
    changed: int = 0

    def refresh(self, conn: sa.Connection) -> None:
        if self.changed > self.known // 10:
            conn.exec_driver_sql("ANALYZE segment_members")
            self.known += self.changed
            self.changed = 0


def _stored(conn: sa.Connection, name: str) -> int:
    count = sa.select(sa.func.count()).select_from(segment_members)
    return int(conn.execute(count.where(segment_members.c.segment == name)).scalar_one())
