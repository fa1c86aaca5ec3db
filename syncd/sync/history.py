"""Segment history: what each compute found of each segment, kept for the status page.

A compute writes one row per segment in one statement; a second compute at the same instant
(a fixed clock) adds its members added and removed to the row and keeps its size.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from syncd.store.schema import segment_history
from syncd.store.upsert import dialect_insert


class Counted(Protocol):
    name: str
    size: int
    added: int
    removed: int


def record(conn: sa.Connection, at: datetime, results: Iterable[Counted]) -> None:
    """Keep each segment's size, members added and removed at the compute's time ``at``."""
    rows = [
        {"segment": r.name, "at": at, "size": r.size, "added": r.added, "removed": r.removed}
        for r in results
    ]
    if not rows:
        return
    stmt: Any = dialect_insert(conn, segment_history)
    stmt = stmt.on_conflict_do_update(
        index_elements=["segment", "at"],
        set_={
            "size": stmt.excluded.size,
            "added": segment_history.c.added + stmt.excluded.added,
            "removed": segment_history.c.removed + stmt.excluded.removed,
        },
    )
    conn.execute(stmt, rows)


def prune(conn: sa.Connection, now: datetime, keep: timedelta) -> int:
    """Delete the history older than ``keep``; return how many rows went."""
    gone = conn.execute(segment_history.delete().where(segment_history.c.at < now - keep))
    return int(gone.rowcount or 0)
