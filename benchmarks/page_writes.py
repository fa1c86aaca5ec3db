"""Benchmark: writing pulled pages into the store (PageWriter), statements and records a second.

    .venv/bin/python benchmarks/page_writes.py                       # SQLite
    .venv/bin/python benchmarks/page_writes.py --store postgresql+psycopg://postgres@127.0.0.1:5432/test

For pages of 100, 1,000 and 10,000 records of a fixed mix (contacts with attributes, tags and
lists; tag and list records; events by e-mail, by contact id and for a contact not known yet;
deals; a few bad records), it writes one page into a fresh store, then the same page again
(every row already there), and prints the SQL statements the write sent and its throughput.

With ``--pages N`` it writes N pages of 100 records of that mix (each page about contacts of
its own) as a pull does: each page in its own transaction, its changed fields resolved, then
committed; then the same pages again. The commits, and SQLite's checkpoints of its WAL into
the file, are in these figures, and the store grows as it does in a first pull.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncd.connectors.contract import (
    ContactRecord,
    DealRecord,
    EventRecord,
    ListRecord,
    Record,
    TagRecord,
)
from syncd.store import open_store
from syncd.sync.records import PageWriter
from syncd.sync.resolve import resolve_fields

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def page(size: int) -> list[Record]:
    """``size`` records, in groups of ten about three contacts."""
    records: list[Record] = []
    for g in range(size // 10):
        ids = [f"c{g}-{k}" for k in range(3)]
        for k, ext in enumerate(ids):
            records.append(
                ContactRecord(
                    ext,
                    f"person{g}.{k}@example.com",
                    {"first_name": f"P{g}", "city": "Kraków", "orders": k},
                    tags=["customer", f"CENNIK ({k})"],
                    lists={"newsletter": "subscribed"},
                    consent="granted" if k else None,
                )
            )
        records.append(TagRecord(ids[0], "vip", ref=f"t{g}"))
        records.append(TagRecord(ids[1], "customer", present=False))
        records.append(ListRecord(ids[2], "offers", "unsubscribed", ref=f"l{g}"))
        at = NOW - timedelta(minutes=g)
        bad = g % 10 == 9  # one group in ten has a malformed e-mail: quarantined
        records.append(
            EventRecord(
                f"e{g}-1",
                "order_placed",
                at,
                email="not an e-mail" if bad else f"person{g}.0@example.com",
                value=12.5,
                properties={"items": [1, 2]},
            )
        )
        records.append(EventRecord(f"e{g}-2", "email_opened", at, contact_external_id=ids[1]))
        records.append(EventRecord(f"e{g}-3", "page_visited", at, contact_external_id=f"x{g}"))
        records.append(DealRecord(f"d{g}", stage="won", status="won", contact_external_ids=ids[:2]))
    return records


def pages(count: int) -> list[list[Record]]:
    """``count`` pages of ``page(100)``, each about contacts, events and deals of its own."""
    return [[_renamed(record, f"p{n}-") for record in page(100)] for n in range(count)]


def _renamed(record: Record, prefix: str) -> Record:
    changes: dict[str, Any] = {}
    for name in ("external_id", "contact_external_id", "ref"):
        value = getattr(record, name, None)
        if isinstance(value, str):
            changes[name] = prefix + value
    email = getattr(record, "email", None)
    if isinstance(email, str) and "@" in email:
        changes["email"] = prefix + email
    if isinstance(record, DealRecord):
        changes["contact_external_ids"] = [prefix + c for c in record.contact_external_ids]
    return replace(record, **changes)  # type: ignore[type-var]


@contextmanager
def fresh_store(postgres: str | None) -> Iterator[sa.Engine]:
    """A new SQLite file, or a new schema at the PostgreSQL URL, dropped afterwards."""
    if postgres is None:
        with tempfile.TemporaryDirectory(dir=os.environ.get("SYNCD_BENCH_DIR")) as folder:
            engine = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
            yield engine
            engine.dispose()
        return
    schema = f"syncd_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in postgres else "?"
    engine = open_store(f"{postgres}{sep}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def write(engine: sa.Engine, records: list[Record]) -> tuple[int, float, float, Any]:
    """Write one page in one transaction: statements the write sent, wall and CPU seconds
    (this process's: on PostgreSQL the server's work is not in it), counts."""
    sent = [0]

    def count(*_: Any) -> None:
        sent[0] += 1

    with engine.begin() as conn:
        sa.event.listen(engine, "before_cursor_execute", count)
        started, cpu = time.perf_counter(), time.process_time()
        writer = PageWriter(conn, "bench", "page", None, NOW)
        writer.write(records)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        sa.event.remove(engine, "before_cursor_execute", count)
    return sent[0], took, cpu, writer.counts


def write_pages(engine: sa.Engine, written: list[list[Record]]) -> tuple[float, float, int]:
    """Each page in a transaction of its own, its fields resolved, as a pull writes them: wall
    and CPU seconds, and the records quarantined."""
    started, cpu, bad = time.perf_counter(), time.process_time(), 0
    for records in written:
        with engine.begin() as conn:
            writer = PageWriter(conn, "bench", "page", None, NOW)
            writer.write(records)
            resolve_fields(conn, [], writer.touched_fields)
        bad += writer.counts["quarantined"]
    return time.perf_counter() - started, time.process_time() - cpu, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a PostgreSQL URL (default: a new SQLite file)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument(
        "--pages", type=int, help="N pages of 100, a transaction each (instead of --sizes)"
    )
    args = parser.parse_args()
    print(f"store: {'postgresql' if args.store else 'sqlite'}")
    if args.pages:
        written = pages(args.pages)
        size = 100 * args.pages
        with fresh_store(args.store) as engine:
            for label in ("new", "again"):
                took, cpu, bad = write_pages(engine, written)
                print(
                    f"{args.pages:,} pages of 100  {label:5}  {took:8.3f} s {size / took:>8,.0f}/s "
                    f"wall  {cpu:8.3f} s {size / max(cpu, 1e-9):>8,.0f}/s CPU  ({bad} quarantined)",
                    flush=True,
                )
        return
    for size in args.sizes:
        records = page(size)
        with fresh_store(args.store) as engine:
            for label in ("new", "again"):
                statements, took, cpu, counts = write(engine, records)
                print(
                    f"{size:>6,} records  {label:5}  {statements:>7,} statements  "
                    f"{took:8.3f} s {size / took:>8,.0f}/s wall  "
                    f"{cpu:8.3f} s {size / max(cpu, 1e-9):>8,.0f}/s CPU  "
                    f"({counts['quarantined']} quarantined)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
