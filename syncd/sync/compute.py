"""Compute: segment members evaluated by the store's engine, stored with when they joined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from syncd.segments.compile import Compiler
from syncd.segments.rules import Rule
from syncd.store.schema import contacts, segment_members, segments
from syncd.store.upsert import upsert


@dataclass
class SegmentResult:
    name: str
    size: int
    added: int
    removed: int


def compute_segments(
    conn: sa.Connection, rules: Mapping[str, Rule], now: datetime
) -> list[SegmentResult]:
    """Bring ``segment_members`` in line with ``rules`` at time ``now``."""
    compiler = Compiler(rules, now)
    results = []
    for name, rule in rules.items():
        members = compiler.members(rule)
        removed = conn.execute(
            segment_members.delete().where(
                segment_members.c.segment == name, segment_members.c.contact_id.not_in(members)
            )
        ).rowcount
        already = sa.exists().where(
            segment_members.c.segment == name, segment_members.c.contact_id == contacts.c.id
        )
        added = conn.execute(
            segment_members.insert().from_select(
                ["segment", "contact_id", "since"],
                sa.select(
                    sa.literal(name), contacts.c.id, sa.literal(now, segment_members.c.since.type)
                ).where(compiler.condition(rule), sa.not_(already)),
            )
        ).rowcount
        size = conn.execute(
            sa.select(sa.func.count())
            .select_from(segment_members)
            .where(segment_members.c.segment == name)
        ).scalar_one()
        row = {"name": name, "size": size, "computed_at": now}
        if added or removed:
            row["changed_at"] = now
        existing = conn.execute(sa.select(segments.c.name).where(segments.c.name == name)).first()
        if existing is None:
            row.setdefault("changed_at", now)
        upsert(conn, segments, [row], ["name"], [k for k in row if k != "name"])
        results.append(SegmentResult(name, size, added or 0, removed or 0))
    gone = sa.select(segments.c.name).where(segments.c.name.not_in(list(rules)))
    conn.execute(segment_members.delete().where(segment_members.c.segment.in_(gone)))
    conn.execute(segments.delete().where(segments.c.name.not_in(list(rules))))
    return results
