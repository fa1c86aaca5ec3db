"""Benchmark: what keeping segment history costs a compute.

    python benchmarks/history.py                  # 40 segments, 100 days of hourly computes
    python benchmarks/history.py --segments 80 --days 400
    python benchmarks/history.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

A compute writes its segments' sizes with ``syncd.sync.history.record`` (one statement).
This fills a fresh SQLite store (or a new schema of ``--postgres``, dropped afterwards)
with ``--days`` of hourly history for ``--segments``
segments, then times that one statement for as many computes as ``--computes`` and prints
the median and slowest, beside the whole compute it rides on (docs/performance.md gives
the library's compute figures).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from page_writes import fresh_store  # noqa: E402  (a new SQLite file or PostgreSQL schema)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class Result:
    name: str
    size: int
    added: int
    removed: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--computes", type=int, default=200)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database instead")
    args = parser.parse_args()

    from syncd.store.schema import segment_history
    from syncd.sync import history

    with fresh_store(args.postgres) as engine:
        names = [f"segment_{i:03d}" for i in range(args.segments)]
        hours = args.days * 24
        with engine.begin() as conn:
            conn.execute(
                segment_history.insert(),
                [
                    {
                        "segment": n,
                        "at": NOW - timedelta(hours=h),
                        "size": 1000,
                        "added": 1,
                        "removed": 1,
                    }
                    for h in range(1, hours + 1)
                    for n in names
                ],
            )
        results = [Result(n, 1000, 3, 2) for n in names]
        took = []
        for i in range(args.computes):
            with engine.begin() as conn:
                start = time.perf_counter()
                history.record(conn, NOW + timedelta(minutes=i), results)
                took.append((time.perf_counter() - start) * 1000)
        rows = hours * args.segments + args.computes * args.segments
        print(
            f"{engine.dialect.name}: history rows: {rows:,} ({args.segments} segments, "
            f"{args.days} days hourly)"
        )
        print(
            f"one compute's history write: median {statistics.median(took):.2f} ms, "
            f"slowest {max(took):.2f} ms over {args.computes} computes"
        )


if __name__ == "__main__":
    main()
