"""Benchmark: what change tracking costs a write — events inserted with and without the
triggers that mark their contacts in ``changed_contacts``, side by side in one run.

    .venv/bin/python benchmarks/change_tracking.py

100,000 events of 10,000 contacts are inserted in pages of 1,000 into a fresh SQLite store,
three times each way; the best CPU time of each is printed.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.store import open_store
from syncd.store.schema import changed_contacts, contacts, events

NOW = datetime(2026, 11, 20, tzinfo=UTC)
CONTACTS, EVENTS, PAGE = 10_000, 100_000, 1_000


def best_cpu(tracked: bool) -> float:
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{folder}/store.db")
        with engine.begin() as conn:
            conn.execute(
                contacts.insert(),
                [{"id": i, "email": f"p{i}@example.com", "created_at": NOW, "updated_at": NOW}
                 for i in range(1, CONTACTS + 1)],
            )  # fmt: skip
            if not tracked:
                names = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                for (name,) in conn.exec_driver_sql(names).all():
                    conn.exec_driver_sql(f"DROP TRIGGER {name}")
        rows: list[dict[str, Any]] = [
            {"source": "bench", "external_id": str(i), "contact_id": 1 + i % CONTACTS,
             "type": "page_visited", "occurred_at": NOW - timedelta(seconds=i), "value": None,
             "properties": {"url": "/pricing"}}
            for i in range(EVENTS)
        ]  # fmt: skip
        best = float("inf")
        for _ in range(3):
            with engine.begin() as conn:
                conn.execute(events.delete())
                conn.execute(changed_contacts.delete())
            started = time.process_time()
            with engine.begin() as conn:
                for at in range(0, EVENTS, PAGE):
                    conn.execute(events.insert(), rows[at : at + PAGE])
            best = min(best, time.process_time() - started)
        engine.dispose()
    return best


def main() -> None:
    without, with_ = best_cpu(tracked=False), best_cpu(tracked=True)
    print(f"{EVENTS:,} events of {CONTACTS:,} contacts in pages of {PAGE:,}, best of 3, CPU:")
    print(f"  without triggers  {without:6.2f} s  {EVENTS / without:9,.0f} events/s")
    print(f"  with triggers     {with_:6.2f} s  {EVENTS / with_:9,.0f} events/s  "
          f"({(with_ / without - 1) * 100:+.0f} %)")  # fmt: skip


if __name__ == "__main__":
    main()
