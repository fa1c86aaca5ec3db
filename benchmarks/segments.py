"""Benchmark: compute the whole segment library (segments, the lead score, RFM) on a large store.

    python benchmarks/segments.py --contacts 1000000 --events 10000000            # SQLite
    python benchmarks/segments.py --contacts 100000 --events 1000000 \\
        --store postgresql+psycopg://postgres@127.0.0.1:5432/test

It fills a fresh store with generated contacts, fields, tags, list memberships and events
(not timed), then computes the library in a separate process and prints the wall time and
the peak memory (max RSS) of that process: once on the fresh store (every member is new),
once more at the same time (nothing changes), and once a day later.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAYS = 730  # events spread over two years

# (type, share of events, properties maker)
EVENT_MIX: list[tuple[str, float]] = [
    ("email_opened", 0.22),
    ("email_sent", 0.20),
    ("page_visited", 0.25),
    ("email_clicked", 0.12),
    ("order_placed", 0.06),
    ("checkout_abandoned", 0.04),
    ("form_submitted", 0.03),
    ("file_downloaded", 0.03),
    ("email_bounced_soft", 0.03),
    ("email_bounced_hard", 0.005),
    ("email_unsubscribed", 0.005),
    ("meeting_booked", 0.01),
]
PAGES = ["/", "/blog/spring", "/pricing", "/product/mower", "/service", "/contact"]


def sqlite_time(at: datetime) -> str:
    """A time as SQLAlchemy stores it in SQLite."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(url: str, n_contacts: int, n_events: int, seed: int) -> None:
    """Fill the store at ``url`` (migrated, empty) with generated data."""
    from syncd.store import open_store

    engine = open_store(url)
    rng = random.Random(seed)
    sqlite = engine.dialect.name == "sqlite"
    stamp = sqlite_time(NOW) if sqlite else NOW
    from syncd.store.schema import events

    if sqlite:  # the events' indexes are built once after loading, not row by row
        with engine.begin() as conn:
            for index in events.indexes:
                index.drop(conn)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if sqlite:
            cur.execute("PRAGMA cache_size = -1000000")
            cur.execute("BEGIN")  # the store's connections run in autocommit otherwise

        def load(table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
            if sqlite:
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                batch: list[tuple[Any, ...]] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == 50_000:
                        cur.executemany(sql, batch)
                        batch.clear()
                if batch:
                    cur.executemany(sql, batch)
                return
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)

        load(
            "contacts",
            ["id", "email", "created_at", "updated_at"],
            ((i, f"person{i}@example.com", stamp, stamp) for i in range(1, n_contacts + 1)),
        )
        stages = ["subscriber", "lead", "customer"]
        countries = ["PL", "DE", "GB", "US", "FR"]
        load(
            "contact_fields",
            ["contact_id", "name", "value", "num", "ts", "source"],
            (
                row
                for i in range(1, n_contacts + 1)
                for row in (
                    (i, "country", countries[i % 5], None, None, "crm"),
                    (i, "lifecycle_stage", stages[i % 3], None, None, "crm"),
                )
            ),
        )
        load(
            "tags",
            ["contact_id", "source", "tag", "name", "count", "managed", "updated_at"],
            (
                (i, "sm", tag, name, count, False, stamp)
                for i in range(1, n_contacts + 1)
                for tag, name, count in _tags(i, rng)
            ),
        )
        load(
            "memberships",
            ["contact_id", "source", "list", "status", "managed", "updated_at"],
            (
                (i, "esp", "Newsletter", "subscribed" if i % 7 else "unsubscribed", False, stamp)
                for i in range(1, n_contacts + 1)
                if i % 5 < 3
            ),
        )
        load(
            "events",
            ["source", "external_id", "contact_id", "type", "occurred_at", "value", "properties"],
            _events(n_contacts, n_events, rng, sqlite),
        )
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        if sqlite:
            for index in events.indexes:
                index.create(conn)
            conn.exec_driver_sql("ANALYZE")
    if not sqlite:  # as autovacuum would after the load: statistics and the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("contacts", "contact_fields", "tags", "memberships", "events"):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")  # this schema's, not all
    engine.dispose()


def _tags(i: int, rng: random.Random) -> list[tuple[str, str, int | None]]:
    out: list[tuple[str, str, int | None]] = []
    if i % 3 == 0:
        out.append(("CHROME", "CHROME", None))
    if i % 11 == 0:
        out.append(("KOSIARKA_AKUMULATOROWA", "KOSIARKA_AKUMULATOROWA", None))
    if i % 4 == 0:
        count = rng.randint(1, 6)
        out.append((f"CENNIK ({count})", "CENNIK", count))
    return out


def _events(
    n_contacts: int, n_events: int, rng: random.Random, sqlite: bool
) -> Iterator[tuple[Any, ...]]:
    types = [t for t, _ in EVENT_MIX]
    weights = [w for _, w in EVENT_MIX]
    # a skewed activity: some contacts do much, many do little, some nothing
    for n in range(n_events):
        contact = int(n_contacts * rng.random() ** 1.6) + 1
        kind = rng.choices(types, weights)[0]
        at = NOW - timedelta(seconds=rng.random() ** 1.3 * DAYS * 86400)
        value = round(rng.uniform(10, 400), 2) if kind == "order_placed" else None
        props: dict[str, Any] | None = None
        if kind in ("page_visited", "email_clicked"):
            props = {"url": "https://shop.example.com" + rng.choice(PAGES)}
        elif kind == "form_submitted":
            props = {"form": rng.choice(["newsletter", "service-brochure", "contact"])}
        yield (
            "bench",
            str(n),
            contact,
            kind,
            sqlite_time(at) if sqlite else at,
            value,
            json.dumps(props) if props is not None else None,
        )


def _profile(engine: sa.Engine) -> list[tuple[float, float, str]]:
    """Time every statement ``engine`` runs (wall and this process's CPU); the list fills as
    they finish."""
    timings: list[tuple[float, float, str]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault("started", []).append((time.perf_counter(), time.process_time()))

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        wall, cpu = conn.info["started"].pop()
        timings.append(
            (time.perf_counter() - wall, time.process_time() - cpu, " ".join(statement.split()))
        )

    return timings


def compute(url: str, at: str, profile: bool = False) -> None:
    """Compute the library at time ``at``; print seconds, peak RSS and the sizes as JSON.

    With ``profile``, first print each statement that took 0.1 s or more, on stderr.
    """
    from syncd.config import load_config
    from syncd.runtime import build_runtime
    from syncd.sync.compute import compute_segments

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "syncd.yaml"
        config.write_text(f"store: {{url: '{url}'}}\ninclude: [{REPO / 'config' / 'segments'}]\n")
        os.environ["SYNCD_STORE_URL"] = url
        rt = build_runtime(load_config(config))
        engine = rt.engine
        timings = _profile(engine) if profile else []
        started, cpu = time.perf_counter(), time.process_time()
        with engine.begin() as conn:
            results = compute_segments(conn, rt.rules, datetime.fromisoformat(at), rt.scores)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    for took, used, statement in timings:
        if took >= 0.1:
            print(f"{took:7.2f} s  cpu {used:6.2f} s  {statement[:300]}", file=sys.stderr)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "cpu": round(cpu, 2),
                "peak_mb": round(peak_kib / 1024, 1),
                "segments": len(results),
                "sizes": {r.name: r.size for r in results},
                "changed": sum(r.added + r.removed for r in results),
            }
        )
    )


def _compute_in_child(url: str, at: datetime, profile: bool) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--compute", url, at.isoformat(), *(["--profile"] * profile)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", help="a PostgreSQL URL (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep",
        metavar="FILE",
        help="SQLite file (or with --store, PostgreSQL schema) to keep the generated store in, "
        "and reuse",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print each statement taking 0.1 s or more"
    )
    parser.add_argument("--compute", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compute:
        compute(args.compute[0], args.compute[1], profile=args.profile)
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("SYNCD_BENCH_DIR")) as folder:
        if args.store:
            # --keep names a schema there: created and filled once, reused after
            schema = args.keep or f"syncd_bench_{os.getpid()}"
            reused = _postgres_schema(args.store, schema)
            url = _in_schema(args.store, schema)
        else:
            path = Path(args.keep or Path(folder) / "bench.db").resolve()
            reused = path.exists()
            url = f"sqlite:///{path}"
        try:
            _run(url, args, reused)
        finally:
            if args.store and not args.keep:
                _drop_schema(args.store, schema)


def _run(url: str, args: argparse.Namespace, reused: bool) -> None:
    started = time.perf_counter()
    if reused:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            computed = conn.execute(sa.text("SELECT count(*) FROM segments")).scalar_one()
        engine.dispose()
        reused = bool(computed)
        state = "its members computed before" if computed else "never computed"
        print(f"store: reused from {args.keep} ({state})")
    else:
        generate(url, args.contacts, args.events, args.seed)
        print(
            f"store: {sa.make_url(url).get_backend_name()}, {args.contacts:,} contacts, "
            f"{args.events:,} events, generated in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    result: dict[str, Any] = {}
    for label, at in (
        ("compute again" if reused else "first compute (all members new)", NOW),
        ("second compute (no change)", NOW),
        ("a day later", NOW + timedelta(days=1)),
    ):
        result = _compute_in_child(url, at, args.profile)
        print(
            f"{label:34s} {result['seconds']:7.2f} s  (CPU {result['cpu']:6.2f} s)  "
            f"peak {result['peak_mb']:6.0f} MB  "
            f"{result['segments']} segments, {result['changed']:,} membership changes",
            flush=True,
        )
    sizes = ", ".join(f"{k} {v:,}" for k, v in result["sizes"].items())
    print(f"sizes: {sizes}")


def _postgres_schema(url: str, schema: str) -> bool:
    """Create ``schema`` at ``url``; whether it was there already, filled by an earlier run."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        table = conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f'"{schema}".contacts'})
        found = (
            table.scalar() is not None
            and conn.exec_driver_sql(
                f'SELECT EXISTS (SELECT 1 FROM "{schema}".contacts)'
            ).scalar_one()
        )
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    engine.dispose()
    return bool(found)


def _in_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


if __name__ == "__main__":
    main()
