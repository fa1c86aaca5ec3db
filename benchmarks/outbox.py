"""Benchmark: the outbox at 2,000 and 20,000 people, before and after, side by side.

    .venv/bin/python benchmarks/outbox.py [--people 2000 20000] [--history 5] [--url URL]

For each size it builds a store (SQLite in a temporary folder, or the PostgreSQL ``--url``)
with one pulled, unmanaged tag per person at the destination, ``--history`` done rows per
person from earlier cycles, and a pending change per person of which a tenth went out
unanswered (attempts > 0). Then it times, in one run:

- ``adopt_applied`` as it was (one EXISTS whose status test is an OR, without the change
  index) and as it is (two EXISTS served by ``ix_outbox_change``);
- claiming every pending change in batches of 100 contacts (``claim_batch``), with the
  done rows of earlier cycles kept, and after ``compact`` removed them;
- ``compact`` itself.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from syncd.connectors.contract import ChangeKind
from syncd.store import open_store
from syncd.store.schema import contacts, outbox, tags
from syncd.sync.outbox import OPEN, adopt_applied, claim_batch, compact

DEST = "esp"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def adopt_as_it_was(conn: sa.Connection, destination: str) -> None:
    """The adopt of before: an OR of statuses inside one EXISTS (tags only, as it was)."""
    unanswered = outbox.c.status.in_(OPEN) | sa.and_(
        outbox.c.status == "superseded", outbox.c.claimed_by.is_not(None)
    )
    sent = sa.exists().where(
        outbox.c.destination == destination,
        unanswered,
        outbox.c.attempts > 0,
        outbox.c.contact_id == tags.c.contact_id,
        outbox.c.kind == ChangeKind.ADD_TAG.value,
        outbox.c.key == tags.c.tag,
    )
    conn.execute(
        tags.update()
        .where(tags.c.source == destination, tags.c.managed.is_(False), sent)
        .values(managed=True)
    )


def build(url: str, people: int, history: int) -> sa.Engine:
    engine = open_store(url)
    old = NOW - timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [{"email": f"p{i}@example.com", "created_at": old, "updated_at": old}
             for i in range(people)],
        )  # fmt: skip
        ids = conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars().all()
        conn.execute(
            tags.insert(),
            [{"contact_id": c, "source": DEST, "tag": "LOYAL", "name": "LOYAL",
              "managed": False, "updated_at": old} for c in ids],
        )  # fmt: skip
        rows = []
        for c in ids:
            for h in range(history):
                rows.append(row(c, f"T{h}", "done", 1, old))
            rows.append(row(c, "LOYAL", "pending", 1 if c % 10 == 0 else 0, NOW))
        for start in range(0, len(rows), 20_000):
            conn.execute(outbox.insert(), rows[start : start + 20_000])
    return engine


def row(contact: int, key: str, status: str, attempts: int, at: datetime) -> dict[str, object]:
    return {
        "destination": DEST, "contact_id": contact, "kind": "add_tag", "key": key,
        "status": status, "attempts": attempts, "created_at": at, "updated_at": at,
    }  # fmt: skip


def timed(engine: sa.Engine, work: Callable[[sa.Connection], object]) -> float:
    """Seconds ``work`` takes in a transaction that is rolled back (the store stays as is)."""
    with engine.connect() as conn:
        trans = conn.begin()
        started = time.perf_counter()
        work(conn)
        seconds = time.perf_counter() - started
        trans.rollback()
    return seconds


def claim_all(conn: sa.Connection) -> None:
    after, me = 0, "bench:1:x"
    while True:
        _ids, last = claim_batch(conn, DEST, after=after, contacts=100, claimant=me, now=NOW)
        if last is None:
            return
        after = last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--history", type=int, default=5, help="done rows per person")
    parser.add_argument("--url", help="a PostgreSQL URL (default: SQLite in a temporary folder)")
    parser.add_argument(
        "--before-up-to",
        type=int,
        default=10**9,
        help="time the adopt of before only up to this many people (it is quadratic: ~17 "
        "minutes at 20,000)",
    )
    args = parser.parse_args()
    print(f"{'people':>7} {'outbox rows':>11}  {'adopt before':>12} {'adopt now':>10}  "
          f"{'claim, kept':>11} {'claim, compacted':>16}  {'compact':>8}")  # fmt: skip
    for people in args.people:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
            if args.url:
                schema = f"bench_{uuid.uuid4().hex[:8]}"
                admin = sa.create_engine(args.url)
                with admin.begin() as conn:
                    conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
                url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema}"
            engine = build(url, people, args.history)
            with engine.connect() as conn:
                total = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar()
            now_adopt = timed(engine, lambda c: adopt_applied(c, DEST))
            claim_kept = timed(engine, claim_all)
            with engine.begin() as conn:
                conn.execute(sa.text("DROP INDEX ix_outbox_change"))
            before_adopt = (
                timed(engine, lambda c: adopt_as_it_was(c, DEST))
                if people <= args.before_up_to
                else float("nan")
            )
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "CREATE INDEX ix_outbox_change ON outbox "
                        "(destination, contact_id, kind, key, status)"
                    )
                )
            started = time.perf_counter()
            with engine.begin() as conn:
                compact(conn, NOW, timedelta(days=7))
            compact_s = time.perf_counter() - started
            claim_compacted = timed(engine, claim_all)
            engine.dispose()
            if args.url:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
        print(f"{people:>7} {total:>11}  {before_adopt:>11.3f}s {now_adopt:>9.3f}s  "
              f"{claim_kept:>10.3f}s {claim_compacted:>15.3f}s  {compact_s:>7.3f}s")  # fmt: skip


if __name__ == "__main__":
    main()
