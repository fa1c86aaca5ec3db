"""Pull: read each stream from its stored cursor; each page is committed with its cursor."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence

import sqlalchemy as sa
import structlog

from syncd.clock import Clock
from syncd.connectors.contract import Connector, Stream
from syncd.metrics import QUARANTINED, RECORDS_PULLED
from syncd.store.schema import cursors, events, meta
from syncd.store.upsert import upsert
from syncd.sync.records import PageWriter, link_pending_events
from syncd.sync.resolve import resolve_fields

log = structlog.get_logger("syncd.pull")

Progress = Callable[[str, str, Counter[str]], None]


def read_cursor(conn: sa.Connection, instance: str, stream: str) -> str | None:
    return conn.execute(
        sa.select(cursors.c.value).where(
            cursors.c.connector == instance, cursors.c.stream == stream
        )
    ).scalar_one_or_none()


def pull_instance(
    engine: sa.Engine,
    instance: str,
    connector: Connector,
    *,
    precedence: Sequence[str],
    run_id: str | None,
    clock: Clock,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    skip_events: frozenset[str] = frozenset(),
    keep_cursors: bool = False,
) -> Counter[str]:
    """Pull every stream of one connector instance; return what was written.

    With ``keep_cursors`` (a dry run, a plan) the records are stored but the cursors stay
    where they were: the next real pull reads the same records again.

    When ``stop`` is set, the page in hand is committed with its cursor and no other is read:
    the next pull goes on from there. Events of the ``skip_events`` types are not stored, and
    the ones stored before the instance skipped them are dropped.
    """
    counts: Counter[str] = Counter()
    with structlog.contextvars.bound_contextvars(connector=instance):
        with engine.begin() as conn:
            remake = _reread_if_widened(conn, instance, skip_events)
        if skip_events:
            with engine.begin() as conn:
                dropped = conn.execute(
                    events.delete().where(
                        events.c.source == instance, events.c.type.in_(sorted(skip_events))
                    )
                ).rowcount
            if dropped:
                log.info("dropped events of skipped types", events=dropped)
        for stream in connector.streams():
            if stop is not None and stop.is_set():
                break
            _pull_stream(
                engine,
                instance,
                stream,
                precedence,
                run_id,
                clock,
                counts,
                progress,
                stop,
                skip_events,
                keep_cursors,
                remake,
            )
        with engine.begin() as conn:
            counts["events_linked"] += link_pending_events(conn, instance)
            if remake and not keep_cursors and not (stop is not None and stop.is_set()):
                conn.execute(meta.delete().where(meta.c.key == REMAKE_KEY + instance))
    return counts


SKIPPED_KEY = "skip_events:"  # meta key prefix: the event types an instance skipped last
#: meta key prefix: the event types a re-read after skipping makes again from the list
#: statuses it reads (``PageWriter.remake_events``), kept until a whole pull has run
REMAKE_KEY = "remake_events:"


def _reread_if_widened(
    conn: sa.Connection, instance: str, skip_events: frozenset[str]
) -> frozenset[str]:
    """A type no longer skipped was dropped from the store when it was: forget the
    instance's cursors, so this pull reads its streams again from the start and the events
    come back (every record is an upsert). Then remember what is skipped now. Return the
    types to make again from list statuses (a status that stayed stored while its events
    were dropped makes no event by itself): these, and those of a re-read not finished."""
    key = SKIPPED_KEY + instance
    before = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
    was = frozenset(json.loads(before)) if before else frozenset()
    now = json.dumps(sorted(skip_events))
    pending = conn.execute(sa.select(meta.c.value).where(meta.c.key == REMAKE_KEY + instance))
    remake = frozenset(json.loads(pending.scalar() or "[]")) | (was - skip_events)
    if remake - skip_events:
        value = json.dumps(sorted(remake - skip_events))
        upsert(conn, meta, [{"key": REMAKE_KEY + instance, "value": value}], ["key"], ["value"])
    elif remake:
        conn.execute(meta.delete().where(meta.c.key == REMAKE_KEY + instance))
    if was - skip_events:
        dropped = conn.execute(cursors.delete().where(cursors.c.connector == instance)).rowcount
        log.info(
            "event types no longer skipped: reading the instance's streams again",
            types=sorted(was - skip_events),
            cursors=dropped,
        )
    if before != now:
        upsert(conn, meta, [{"key": key, "value": now}], ["key"], ["value"])
    return remake - skip_events


def _pull_stream(
    engine: sa.Engine,
    instance: str,
    stream: Stream,
    precedence: Sequence[str],
    run_id: str | None,
    clock: Clock,
    counts: Counter[str],
    progress: Progress | None,
    stop: threading.Event | None,
    skip_events: frozenset[str],
    keep_cursors: bool = False,
    remake: frozenset[str] = frozenset(),
) -> None:
    with engine.connect() as conn:
        cursor = read_cursor(conn, instance, stream.name)
    pulled = RECORDS_PULLED.labels(instance, stream.name)
    quarantined = QUARANTINED.labels(instance, stream.name)
    pages = 0
    reading = iter(stream.read(cursor))
    try:
        for page in reading:
            now = clock()
            with engine.begin() as conn:
                writer = PageWriter(conn, instance, stream.name, run_id, now, skip_events)
                writer.remake_events = remake
                writer.write(page.records)
                resolve_fields(conn, precedence, writer.touched_fields)
                if page.cursor is not None and not keep_cursors:
                    upsert(
                        conn,
                        cursors,
                        [
                            {
                                "connector": instance,
                                "stream": stream.name,
                                "value": page.cursor,
                                "updated_at": now,
                            }
                        ],
                        ["connector", "stream"],
                        ["value", "updated_at"],
                    )
            pages += 1
            bad = writer.counts["quarantined"]
            pulled.inc(len(page.records) - bad - writer.counts["events_skipped"])
            quarantined.inc(bad)
            counts.update(writer.counts)
            if progress is not None:
                progress(instance, stream.name, counts)
            if stop is not None and stop.is_set():
                log.info("pull stopped; the next run goes on from here", stream=stream.name)
                break
    finally:
        close = getattr(reading, "close", None)
        if close is not None:
            close()  # a generator's own cleanup (an open response, a file) runs now
    log.info("stream pulled", stream=stream.name, pages=pages, **dict(counts))
