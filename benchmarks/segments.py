"""Benchmark: compute the whole segment library (segments, the lead score, RFM) on a large store.

    python benchmarks/segments.py --contacts 1000000 --events 10000000            # SQLite
    python benchmarks/segments.py --contacts 100000 --events 1000000 \\
        --store postgresql+psycopg://postgres@127.0.0.1:5432/test

It fills a store with generated contacts, fields, tags, list memberships and events (not
timed; on SQLite the generated file is cached, in ~/.cache/syncd-bench or --cache, and
copied for each run), then computes the library, each time in a fresh process that did not
generate the data, and prints its wall time, CPU time and peak memory (its own high-water
mark): a first, whole compute; one with no change; one after 0.1 % of the contacts got a
new event (churn), at the same time and five minutes later; a day later; and a whole compute
again (``--full``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
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
    """Time every statement ``engine`` runs (wall, and the CPU of the thread that ran it:
    a read aside runs beside the compute); the list fills as they finish."""
    timings: list[tuple[float, float, str]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault("started", []).append((time.perf_counter(), time.thread_time()))

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        wall, cpu = conn.info["started"].pop()
        timings.append(
            (time.perf_counter() - wall, time.thread_time() - cpu, " ".join(statement.split()))
        )

    return timings


def compute(url: str, at: str, full: bool = False, profile: bool = False) -> None:
    """Compute the library at time ``at``; print seconds, peak memory and the sizes as JSON.

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
            results = compute_segments(
                conn, rt.rules, datetime.fromisoformat(at), rt.scores, full=full
            )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    for took, used, statement in timings:
        if took >= 0.1:
            print(f"{took:7.2f} s  cpu {used:6.2f} s  {statement[:300]}", file=sys.stderr)
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "cpu": round(cpu, 2),
                "peak_mb": round(peak_kib() / 1024, 1),
                "segments": len(results),
                "sizes": {r.name: r.size for r in results},
                "changed": sum(r.added + r.removed for r in results),
            }
        )
    )


def peak_kib() -> int:
    """This process's own peak resident memory. VmHWM belongs to the process's memory map,
    made new by exec; ru_maxrss would carry the parent's peak over a fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def churn(url: str, count: int, at: datetime, seed: int) -> int:
    """Give ``count`` distinct contacts one new event each, an hour before ``at``; return
    how many events the store holds now."""
    from syncd.store.schema import contacts, events

    engine = sa.create_engine(url)
    rng = random.Random(seed)
    with engine.begin() as conn:
        everyone = conn.execute(sa.select(sa.func.max(contacts.c.id))).scalar_one()
        rows = []
        for n, contact in enumerate(rng.sample(range(1, everyone + 1), count)):
            kind = rng.choice(["order_placed", "page_visited", "email_clicked", "form_submitted"])
            rows.append(
                {
                    "source": "churn",
                    "external_id": f"{seed}-{n}",
                    "contact_id": contact,
                    "type": kind,
                    "occurred_at": at - timedelta(hours=1),
                    "value": round(rng.uniform(10, 400), 2) if kind == "order_placed" else None,
                    "properties": {"url": "https://shop.example.com/pricing"}
                    if kind == "page_visited"
                    else None,
                }
            )
        conn.execute(events.insert(), rows)
    engine.dispose()
    return count


def _child(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, stdout=subprocess.PIPE, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def _compute_in_child(url: str, at: datetime, full: bool, profile: bool) -> dict[str, Any]:
    flags = [*(["--full"] * full), *(["--profile"] * profile)]
    result: dict[str, Any] = json.loads(_child("--compute", url, at.isoformat(), *flags))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", help="a PostgreSQL URL (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache",
        metavar="FOLDER",
        default=os.environ.get("SYNCD_BENCH_CACHE", Path.home() / ".cache" / "syncd-bench"),
        help="where generated SQLite stores are kept between runs (default ~/.cache/syncd-bench)",
    )
    parser.add_argument(
        "--keep",
        metavar="SCHEMA",
        help="with --store: the PostgreSQL schema to keep the generated store in, and reuse",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print each statement taking 0.1 s or more"
    )
    parser.add_argument(
        "--lines-and-predictions",
        action="store_true",
        help="before the computes, give each order one or two line items and each purchaser a "
        "prediction (as a fit leaves them; the fit itself is timed by benchmarks/predict.py)",
    )
    parser.add_argument("--compute", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=1, help=argparse.SUPPRESS)
    # URL AT SEED: 0.1 % of --contacts get a new event an hour before AT, as a churn step
    # does (to time computes of one store with two versions of the code, side by side)
    parser.add_argument("--churn", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compute:
        compute(args.compute[0], args.compute[1], full=args.full, profile=args.profile)
        return
    if args.churn:
        url, at, seed = args.churn
        churn(url, max(1, args.contacts // 1000), datetime.fromisoformat(at), int(seed))
        return
    if args.generate:
        generate(args.generate[0], args.contacts, args.events, args.seed)
        print("generated")
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("SYNCD_BENCH_DIR")) as folder:
        if args.store:
            # --keep names a schema there: created and filled once, reused after
            schema = args.keep or f"syncd_bench_{os.getpid()}"
            fresh = not _postgres_schema(args.store, schema)
            url = _in_schema(args.store, schema)
            if fresh:
                _generate_in_child(url, args)
        else:
            url = f"sqlite:///{_sqlite_copy(Path(args.cache), Path(folder), args)}"
        try:
            if args.lines_and_predictions:
                lines_and_predictions(url)
            _run(url, args)
        finally:
            if args.store and not args.keep:
                _drop_schema(args.store, schema)


CATEGORIES = ("Running", "Shoes", "Socks", "Outdoor", "Accessories")


def _category(of: str) -> str:
    """SQL: one of CATEGORIES, picked by the integer expression ``of``."""
    cases = " ".join(f"WHEN {i} THEN '{name}'" for i, name in enumerate(CATEGORIES))
    return f"CASE ({of}) % {len(CATEGORIES)} {cases} END"


def lines_and_predictions(url: str) -> None:
    """What the generated store lacks for the library's line-item and predicted segments:
    each order's lines in ``event_items`` (one, and a second for every other order; the
    categories the library names among others), and each purchaser's prediction in
    ``contact_predictions``, with values spread by the contact's id. Not timed."""
    started = time.perf_counter()
    line = (
        "INSERT INTO event_items (event_id, position, contact_id, type, occurred_at, product, "
        "variant, sku, category, vendor, quantity, price) "
        "SELECT id, {position}, contact_id, type, occurred_at, 'Product ' || (id % 50), NULL, "
        "'SKU-' || (id % 500), {category}, NULL, 1 + id % 3, 10.0 + id % 90 "
        "FROM events WHERE type = 'order_placed'{more}"
    )
    expected = "((contact_id * 104729) % 500) / 100.0"
    predictions = (
        "INSERT INTO contact_predictions (contact_id, expected_orders, p_alive, churn_risk, "
        f"value, next_order_at, fitted_at) SELECT contact_id, {expected}, "
        "1 - ((contact_id * 7919) % 1000) / 1000.0, ((contact_id * 7919) % 1000) / 1000.0, "
        f"{expected} * (20 + (contact_id * 31) % 200), NULL, :at FROM events "
        "WHERE type = 'order_placed' AND contact_id IS NOT NULL GROUP BY contact_id"
    )
    engine = sa.create_engine(url)
    at: Any = sqlite_time(NOW) if engine.dialect.name == "sqlite" else NOW
    with engine.begin() as conn:
        conn.exec_driver_sql(line.format(position=0, category=_category("id"), more=""))
        second = line.format(position=1, category=_category("id / 2 + 1"), more=" AND id % 2 = 0")
        conn.exec_driver_sql(second)
        conn.execute(sa.text(predictions), {"at": at})
        lines = conn.exec_driver_sql("SELECT count(*) FROM event_items").scalar_one()
        predicted = conn.exec_driver_sql("SELECT count(*) FROM contact_predictions").scalar_one()
    took = time.perf_counter() - started
    print(f"added: {lines:,} order lines, {predicted:,} predictions ({took:.1f} s)", flush=True)


def _generate_in_child(url: str, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    _child("--generate", url, *_sizes(args))
    print(f"store generated in {time.perf_counter() - started:.0f} s", flush=True)


def _sizes(args: argparse.Namespace) -> list[str]:
    return [
        "--contacts",
        str(args.contacts),
        "--events",
        str(args.events),
        "--seed",
        str(args.seed),
    ]


def _sqlite_copy(cache: Path, folder: Path, args: argparse.Namespace) -> Path:
    """A copy, in ``folder``, of the cached store of these sizes (generated when missing,
    and migrated to this syncd's schema, neither timed)."""
    cache.mkdir(parents=True, exist_ok=True)
    cached = cache / f"segments-{args.contacts}-{args.events}-{args.seed}.db"
    if not cached.exists():
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _generate_in_child(f"sqlite:///{partial}", args)
        partial.rename(cached)
    else:
        print(f"store: {cached} (cached)", flush=True)
    from syncd.store import open_store

    open_store(f"sqlite:///{cached}").dispose()  # a newer schema: migrated once, in the cache
    work = folder / "bench.db"
    shutil.copyfile(cached, work)
    return work


def _run(url: str, args: argparse.Namespace) -> None:
    with sa.create_engine(url).connect() as conn:
        counted = conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one()
    print(
        f"store: {sa.make_url(url).get_backend_name()}, {args.contacts:,} contacts, "
        f"{counted:,} events",
        flush=True,
    )
    share = max(1, args.contacts // 1000)
    later = NOW + timedelta(minutes=5)
    steps: list[tuple[str, datetime, bool, int]] = [
        ("full compute (first, all new)", NOW, True, 0),
        ("no change", NOW, False, 0),
        (f"0.1 % churn: {share:,} new events", NOW, False, share),
        ("0.1 % churn, clock +5 min", later, False, share),
        ("a day later, no new data", later + timedelta(days=1), False, 0),
        ("full compute again (--full)", later + timedelta(days=1), True, 0),
    ]
    print(f"{'compute':38s} {'wall':>8s} {'CPU':>8s} {'peak':>8s}  changes")
    result: dict[str, Any] = {}
    for n, (label, at, full, events) in enumerate(steps):
        if events:
            churn(url, events, at, seed=args.seed * 1000 + n)
        result = _compute_in_child(url, at, full, args.profile)
        print(
            f"{label:38s} {result['seconds']:7.2f}s {result['cpu']:7.2f}s "
            f"{result['peak_mb']:6.0f}MB  {result['changed']:,} membership changes",
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
