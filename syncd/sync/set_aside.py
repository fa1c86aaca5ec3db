"""Streams and connector instances taken out of the config: what they stored is kept.

A stream no longer read (a connector's ``streams:`` narrowed, a file left out, an instance
removed) may be a slip as easily as a wish: its records stay in the store, so no segment loses
members and no destination is told to remove anyone, and its cursor stays, so adding it back
resumes where it stopped (what changed at the vendor meanwhile is read then). syncd says so in
one warning line when a stream is first left out, and one info line when it is read again.
Deleting a source's data is left to an explicit act (remove its rows, or its cursor to read it
again from the start).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
import structlog

from syncd.store.schema import cursors, meta
from syncd.store.upsert import upsert

log = structlog.get_logger("syncd.pull")

KEY = "set_aside"  # meta: the "instance/stream" names with a cursor that are not read now


def notice_set_aside(conn: sa.Connection, read: dict[str, Iterable[str]]) -> list[str]:
    """Compare the streams with a stored cursor against ``read`` (instance -> the streams it
    reads now), say what was newly left out or taken back, remember it; return the names
    (``instance/stream``) left out now."""
    now_read = {f"{instance}/{name}" for instance, names in read.items() for name in names}
    stored = {f"{r.connector}/{r.stream}" for r in conn.execute(sa.select(cursors))}
    aside = sorted(stored - now_read)
    before = conn.execute(sa.select(meta.c.value).where(meta.c.key == KEY)).scalar()
    was = set(json.loads(before)) if before else set()
    left = [name for name in aside if name not in was]
    back = sorted(was & now_read)
    if left:
        log.warning(
            "no longer read (not in the config): its stored data is kept, and adding it back "
            "resumes where it stopped",
            streams=", ".join(left),
        )
    if back:
        log.info("read again: resuming where it stopped", streams=", ".join(back))
    value = json.dumps(aside)
    if value != (before or "[]"):
        upsert(conn, meta, [{"key": KEY, "value": value}], ["key"], ["value"])
    return aside
