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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.segments.aside import ReadAside, may_read_aside
from syncd.segments.compile import AntiJoin, Compiler, reading, score_windows
from syncd.segments.rfm import compute_rfm
from syncd.segments.rules import RfmRule, Rule, ScoreRule, SqlRule
from syncd.segments.scores import (
    ScoreModel,
    compute_scores,
    fill_pass,
    forget_scores,
    score_passes,
)
from syncd.store.engine import memory_temp_store
from syncd.store.schema import Id, segment_members, segments
from syncd.store.temporary import empty
from syncd.store.upsert import upsert

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
) -> list[SegmentResult]:
    """Compute every score, the RFM, and bring ``segment_members`` in line with ``rules``.

    ``rules`` must be in dependency order, as ``parse_segments`` returns them.
    """
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        memory_temp_store(conn)
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    elif conn.dialect.name == "postgresql":
        _postgres_memory(conn)
    try:
        return _compute(conn, rules, now, scores or {})
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


def _compute(
    conn: sa.Connection, rules: Mapping[str, Rule], now: datetime, scores: Mapping[str, ScoreModel]
) -> list[SegmentResult]:
    windows = score_windows(rules.values())
    anti_joins: dict[str, AntiJoin] = {"sqlite": "not_in", "postgresql": "not_exists"}
    anti_join = anti_joins.get(conn.dialect.name)
    # the segments that read no score run first, while the scores may still be summed aside;
    # those that read neither a score nor the RFM may be read aside themselves
    later = reading(rules, (ScoreRule, SqlRule))
    first = {name: rule for name, rule in rules.items() if name not in later}
    shared = {n: r for n, r in first.items() if n not in reading(rules, (RfmRule,))}
    fresh = may_read_aside(conn)  # asked before this compute's own first write, which
    forget_scores(conn, scores, windows)  # on SQLite takes the store's lock to the end
    aside = None
    if (scores or shared) and fresh:
        alone = Compiler(rules, now, scores, anti_join=anti_join)  # reads no stored segment
        passes = score_passes(scores, windows)
        aside = ReadAside(conn.engine, now, passes, shared, alone.members)
    try:
        compute_rfm(conn, now)
        if conn.dialect.name == "postgresql":  # as below: filled in this transaction
            conn.exec_driver_sql("ANALYZE contact_rfm")
        compiler = Compiler(rules, now, scores, anti_join=anti_join)
        _new.create(conn, checkfirst=True)
        stats = _Statistics(conn.execute(sa.select(sa.func.sum(segments.c.size))).scalar() or 0)
        results = {}
        for name, rule in first.items():
            if aside is None or aside.claim(name):
                results[name] = _segment(conn, compiler, name, rule, now, stats)
            for done, ids in aside.finished() if aside else ():  # stored as they come
                results[done] = _segment(conn, compiler, done, rules[done], now, stats, ids)
        for done, ids in aside.segments_read() if aside else ():
            results[done] = _segment(conn, compiler, done, rules[done], now, stats, ids)
        compute_scores(conn, scores, now, windows, aside.fill if aside else fill_pass)
        if conn.dialect.name == "postgresql":
            for table in ("contact_scores", "contact_score_changes"):
                conn.exec_driver_sql(f"ANALYZE {table}")
        for name, rule in rules.items():
            if name in later:
                results[name] = _segment(conn, compiler, name, rule, now, stats)
    finally:
        if aside is not None:
            aside.close()
    empty(conn, _new)
    gone = sa.select(segments.c.name).where(segments.c.name.not_in(list(rules)))
    conn.execute(segment_members.delete().where(segment_members.c.segment.in_(gone)))
    conn.execute(segments.delete().where(segments.c.name.not_in(list(rules))))
    return [results[name] for name in rules]


def _segment(
    conn: sa.Connection,
    compiler: Compiler,
    name: str,
    rule: Rule,
    now: datetime,
    stats: _Statistics,
    read: Iterable[int] | None = None,
) -> SegmentResult:
    """Bring the stored members of segment ``name`` in line with ``rule``, or with the
    members ``read`` aside."""
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
    compiler.materialized.add(name)
    row = {"name": name, "size": size, "computed_at": now}
    if added or removed:
        row["changed_at"] = now
    existing = conn.execute(sa.select(segments.c.name).where(segments.c.name == name)).first()
    if existing is None:
        row.setdefault("changed_at", now)
    upsert(conn, segments, [row], ["name"], [k for k in row if k != "name"])
    return SegmentResult(name, size, added, removed)


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
