"""Pull: read each stream from its stored cursor; each page is committed with its cursor."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import structlog

from syncd.clock import Clock
from syncd.connectors.contract import Connector, Page, Stream
from syncd.metrics import QUARANTINED, RECORDS_PULLED
from syncd.store.schema import cursors, events, meta
from syncd.store.upsert import upsert
from syncd.sync.reading import AHEAD, StreamReads
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
    ahead: int | None = AHEAD,
) -> Counter[str]:
    """Pull every stream of one connector instance; return what was written.

    With ``keep_cursors`` (a dry run, a plan) the records are stored but the cursors stay
    where they were: the next real pull reads the same records again.

    When ``stop`` is set, the page in hand is committed with its cursor and no other is
    written: the next pull goes on from there. Events of the ``skip_events`` types are not
    stored, and the ones stored before the instance skipped them are dropped. The streams are
    read up to ``ahead`` records ahead of the writes (``syncd.sync.reading``); None reads in line.
    """
    with StreamReads(stop, ahead) as reads:
        started = start_pull(engine, instance, connector, reads, skip_events)
        return write_pull(
            engine,
            started,
            reads,
            precedence=precedence,
            run_id=run_id,
            clock=clock,
            progress=progress,
            stop=stop,
            keep_cursors=keep_cursors,
        )


@dataclass
class Started:
    """An instance whose streams are being read (``StreamReads``), to write with
    ``write_pull``; or the error that kept it from starting."""

    instance: str
    skip_events: frozenset[str] = frozenset()
    remake: frozenset[str] = frozenset()
    error: Exception | None = None


def start_pull(
    engine: sa.Engine,
    instance: str,
    connector: Connector,
    reads: StreamReads,
    skip_events: frozenset[str] = frozenset(),
) -> Started:
    """Make the store ready for the instance's pull (event types skipped or no longer
    skipped) and start reading its streams from their stored cursors."""
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
        streams = list(connector.streams())
        with engine.connect() as conn:
            stored = [(stream, read_cursor(conn, instance, stream.name)) for stream in streams]
    reads.start(instance, stored)
    return Started(instance, skip_events, remake)


def write_pull(
    engine: sa.Engine,
    started: Started,
    reads: StreamReads,
    *,
    precedence: Sequence[str],
    run_id: str | None,
    clock: Clock,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    keep_cursors: bool = False,
) -> Counter[str]:
    """Write the pages of a started pull as they are read, each with its cursor; return
    what was written (see ``pull_instance``)."""
    if started.error is not None:
        raise started.error
    instance, counts = started.instance, Counter[str]()
    stopped = False
    with structlog.contextvars.bound_contextvars(connector=instance):
        pages: Counter[str] = Counter()
        try:
            for batch in _batches(reads, instance):
                if stop is not None and stop.is_set():  # asked before this instance's first page
                    stopped = True
                    break
                # each page's stream and the counts once it was written; None for a stream's end
                written: list[tuple[str, Counter[str]] | None] = []
                touched: set[tuple[int, str]] = set()  # the fields to resolve, once a batch
                with engine.begin() as conn:
                    for stream, page in batch:
                        if page is not None:
                            touched |= _write_page(
                                conn,
                                instance,
                                stream.name,
                                page,
                                started,
                                run_id,
                                clock(),
                                counts,
                                keep_cursors,
                            )
                        written.append((stream.name, counts.copy()) if page is not None else None)
                        if stop is not None and stop.is_set():
                            break
                    resolve_fields(conn, precedence, touched)
                for (stream, _), done in zip(batch, written, strict=False):
                    if done is None:
                        log.info(
                            "stream pulled", stream=stream.name, pages=pages[stream.name], **counts
                        )
                        continue
                    pages[stream.name] += 1
                    if progress is not None:
                        progress(instance, stream.name, done[1])
                if stop is not None and stop.is_set():
                    log.info("pull stopped; the next run goes on from here", pages=dict(pages))
                    stopped = True
                    break
        finally:
            reads.finish(instance)
        with engine.begin() as conn:
            counts["events_linked"] += link_pending_events(conn, instance)
            if started.remake and not keep_cursors and not stopped:
                conn.execute(meta.delete().where(meta.c.key == REMAKE_KEY + instance))
    return counts


SKIPPED_KEY = "skip_events:"  # meta key prefix: the event types an instance skipped last
#: meta key prefix: the event types a re-read after skipping makes again from the list
#: statuses it reads (``PageWriter.remake_events``), kept until a whole pull has run
REMAKE_KEY = "remake_events:"
#: records written in one transaction at most, of pages read ahead (a page more when one
#: alone is larger): fewer commits, and the index pages a commit writes shared by the pages
BATCH = 2_000


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


def _batches(reads: StreamReads, instance: str) -> Iterator[list[tuple[Stream, Page | None]]]:
    """The instance's pages in the groups one transaction writes: the pages already read when
    the first is written, up to ``BATCH`` records (one page when reading in line)."""
    batch: list[tuple[Stream, Page | None]] = []
    records = 0
    pages = reads.pages(instance)
    while True:
        try:
            stream, page = next(pages)
        except StopIteration:
            break
        except BaseException:
            if batch:
                yield batch  # the pages read before a read failed are written all the same
            raise
        batch.append((stream, page))
        records += len(page.records) if page is not None else 0
        if records >= BATCH or not reads.queued(instance):
            yield batch
            batch, records = [], 0
    if batch:
        yield batch


def _write_page(
    conn: sa.Connection,
    instance: str,
    stream: str,
    page: Page,
    started: Started,
    run_id: str | None,
    now: datetime,
    counts: Counter[str],
    keep_cursors: bool,
) -> set[tuple[int, str]]:
    """Write one page and its cursor in the transaction of ``conn``; return the fields it
    changed, which the caller resolves before the transaction ends."""
    writer = PageWriter(conn, instance, stream, run_id, now, started.skip_events)
    writer.remake_events = started.remake
    writer.write(page.records)
    if page.cursor is not None and not keep_cursors:
        row = {"connector": instance, "stream": stream, "value": page.cursor, "updated_at": now}
        upsert(conn, cursors, [row], ["connector", "stream"], ["value", "updated_at"])
    bad = writer.counts["quarantined"]
    RECORDS_PULLED.labels(instance, stream).inc(
        len(page.records) - bad - writer.counts["events_skipped"]
    )
    QUARANTINED.labels(instance, stream).inc(bad)
    counts.update(writer.counts)
    return writer.touched_fields
