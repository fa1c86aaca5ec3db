"""Benchmark: writing pulled pages into the store (PageWriter), statements and records a second.

    .venv/bin/python benchmarks/page_writes.py                       # SQLite
    .venv/bin/python benchmarks/page_writes.py --store postgresql+psycopg://postgres@127.0.0.1:5432/test

For pages of 100, 1,000 and 10,000 records of a fixed mix (contacts with attributes, tags and
lists; tag and list records; events by e-mail, by contact id and for a contact not known yet;
deals; a few bad records), it writes one page into a fresh store, then the same page again
(every row already there), and prints the SQL statements the write sent and its throughput.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a PostgreSQL URL (default: a new SQLite file)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    args = parser.parse_args()
    print(f"store: {'postgresql' if args.store else 'sqlite'}")
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
