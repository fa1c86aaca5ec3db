"""Pull: read each stream from its stored cursor; each page is committed with its cursor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import sqlalchemy as sa
import structlog

from syncd.clock import Clock
from syncd.connectors.contract import Connector
from syncd.store.schema import cursors
from syncd.store.upsert import upsert
from syncd.sync.records import PageWriter, link_pending_events
from syncd.sync.resolve import resolve_contacts

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
) -> Counter[str]:
    """Pull every stream of one connector instance; return what was written."""
    counts: Counter[str] = Counter()
    for stream in connector.streams():
        with engine.connect() as conn:
            cursor = read_cursor(conn, instance, stream.name)
        bound = log.bind(connector=instance, stream=stream.name)
        pages = 0
        for page in stream.read(cursor):
            now = clock()
            with engine.begin() as conn:
                writer = PageWriter(conn, instance, stream.name, run_id, now)
                writer.write(page.records)
                resolve_contacts(conn, precedence, writer.touched)
                if page.cursor is not None:
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
            counts.update(writer.counts)
            if progress is not None:
                progress(instance, stream.name, counts)
        bound.info("stream pulled", pages=pages, **{k: v for k, v in counts.items()})
    with engine.begin() as conn:
        counts["events_linked"] += link_pending_events(conn, instance)
    return counts
