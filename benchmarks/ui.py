"""Benchmark: the status page's views on a store of a million contacts with 100 days of
segment history, on SQLite.

    python benchmarks/ui.py                       # 1,000,000 contacts, 100 days, hourly computes
    python benchmarks/ui.py --contacts 100000 --days 30 --requests 5

The store is filled with set-based INSERT ... SELECT statements (not timed; cached in
~/.cache/syncd-bench or --cache): the contacts; the demo's config and segment library, each
segment given a share of the contacts as members; a compute every hour for ``--days`` days in
segment_history and runs; an outbox of done, pending, held and failed changes; quarantined
records. Each view is then asked ``--requests`` times through the ASGI app (the one the
daemon serves, with its middleware) after one warm-up, and the median and slowest printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TARGET_MS = 300.0


def sqlite_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def write_config(folder: Path) -> Path:
    """The demo's config (its instances, segments and destinations) over this store."""
    from syncd.demo import shop

    tools = shop.make_tools(7, 10)
    for tool in tools:
        tool.url = "http://127.0.0.1:9"  # never asked: the page reads the store only
    library = shop.library_path()
    assert library is not None, "run from a checkout: the segment library is needed"
    path = folder / "syncd.yaml"
    path.write_text(shop.config_text(tools, library) + "schedules:\n  sync: {every: 1h}\n")
    return path


def fill(db: Path, segment_names: list[str], contacts: int, days: int) -> None:
    """Fill the migrated, empty store ``db`` set-based: no row is built in Python."""
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -500000")
    now = sqlite_time(NOW)
    numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
    con.execute(
        f"{numbers} INSERT INTO contacts (id, email, created_at, updated_at) "
        "SELECT i, 'person' || i || '@example.com', ?, ? FROM n",
        (contacts, now, now),
    )
    computes = days * 24
    for k, name in enumerate(segment_names):
        every = 2 + k % 9  # shares from a half to a tenth of the contacts
        con.execute(
            "INSERT INTO segment_members (segment, contact_id, since) "
            "SELECT ?, id, ? FROM contacts WHERE id % ? = ?",
            (name, now, every, k % every),
        )
        size = con.execute(
            "SELECT count(*) FROM segment_members WHERE segment = ?", (name,)
        ).fetchone()[0]
        con.execute(
            "INSERT INTO segments (name, size, computed_at, changed_at) VALUES (?, ?, ?, ?)",
            (name, size, now, now),
        )
        # one compute an hour: the size grows to today's, a few members come and go each time
        con.execute(
            f"{numbers} INSERT INTO segment_history (segment, at, size, added, removed) "
            "SELECT ?, strftime('%Y-%m-%d %H:%M:%f000', ?, '-' || (i - 1) || ' hours'), "
            "max(0, ? - (i - 1) * 3), 3 + i % 5, i % 5 FROM n",
            (computes, name, now, size),
        )
    con.execute(
        f"{numbers} INSERT INTO runs (id, job, started_at, finished_at, outcome, counts) "
        "SELECT printf('%032x', i), 'sync', "
        "strftime('%Y-%m-%d %H:%M:%f000', ?, '-' || i || ' hours'), "
        "strftime('%Y-%m-%d %H:%M:%f000', ?, '-' || i || ' hours', '+' || (20 + i % 40) || "
        "' seconds'), CASE WHEN i % 50 = 0 THEN 'partial' ELSE 'ok' END, "
        "'{\"pulled\": ' || (i % 300) || ', \"pushed\": ' || (i % 40) || '}' FROM n",
        (computes, now, now),
    )
    con.execute(
        f"{numbers} INSERT INTO outbox (destination, contact_id, kind, key, status, attempts, "
        "last_error, created_at, updated_at) "
        "SELECT CASE i % 3 WHEN 0 THEN 'activecampaign' WHEN 1 THEN 'salesmanago' "
        "ELSE 'shopify' END, i, CASE WHEN i % 4 = 0 THEN 'remove_tag' ELSE 'add_tag' END, "
        "'LOYAL', CASE WHEN i <= 2000 THEN 'pending' WHEN i <= 2300 THEN 'held' "
        "WHEN i <= 2400 THEN 'failed' ELSE 'done' END, 1, "
        "CASE WHEN i > 2300 AND i <= 2400 THEN 'rejected by the vendor' END, ? , ? FROM n",
        (200_000, now, now),
    )
    con.execute(
        f"{numbers} INSERT INTO quarantine (run_id, connector, stream, reason, record, "
        "created_at) SELECT NULL, 'shopify', 'customers', 'invalid e-mail', '{}', ? FROM n",
        (5_000, now),
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


def build(cache: Path, contacts: int, days: int) -> Path:
    """The benchmark's folder (config and store), generated once and cached."""
    folder = cache / f"ui-{contacts}-{days}"
    if (folder / "syncd.db").exists():
        return folder
    from syncd.config import load_config
    from syncd.runtime import build_runtime
    from syncd.settings import Settings

    work = Path(tempfile.mkdtemp(dir=cache))
    config = write_config(work)
    rt = build_runtime(load_config(config, settings=Settings.model_construct()))
    names = list(rt.rules)
    rt.engine  # noqa: B018 (opening the store migrates it)
    rt.close()
    started = time.monotonic()
    fill(work / "syncd.db", names, contacts, days)
    print(
        f"generated {contacts:,} contacts, {len(names)} segments, {days} days of hourly "
        f"history in {time.monotonic() - started:.0f} s"
    )
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--requests", type=int, default=7, help="timed requests per view")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "syncd-bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    folder = build(args.cache, args.contacts, args.days)

    import warnings

    import sqlalchemy as sa

    with warnings.catch_warnings():  # starlette's note on its test client's httpx: not ours
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from syncd.clock import fixed_clock
    from syncd.config import load_config
    from syncd.daemon.health import build_app
    from syncd.runtime import build_runtime
    from syncd.settings import Settings
    from syncd.store.schema import contacts, segment_members, segments
    from syncd.ui.app import pages_app

    rt = build_runtime(
        load_config(folder / "syncd.yaml", settings=Settings.model_construct()),
        clock=fixed_clock(NOW),
    )
    with rt.engine.connect() as conn:
        biggest = conn.execute(
            sa.select(segments.c.name).order_by(segments.c.size.desc()).limit(1)
        ).scalar_one()
        member = conn.execute(
            sa.select(contacts.c.email)
            .join(segment_members, segment_members.c.contact_id == contacts.c.id)
            .where(segment_members.c.segment == biggest)
            .limit(1)
        ).scalar_one()
    client = TestClient(build_app(lambda: (True, "ok"), pages=pages_app(lambda: rt)))
    views = {
        "overview /": "/",
        "segments /segments": "/segments",
        f"segment /segments/{biggest}": f"/segments/{biggest}",
        "segment + explain ?contact=": f"/segments/{biggest}?contact={member}",
        "runs /runs": "/runs",
    }
    print(
        f"store: {args.contacts:,} contacts, {len(rt.rules)} segments, {args.days} days of "
        f"hourly history; {args.requests} requests per view after one warm-up"
    )
    slow = []
    for label, path in views.items():
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        print(f"  {label:<45} median {median:7.1f} ms   slowest {max(times):7.1f} ms")
        if median >= TARGET_MS:
            slow.append(label)
    rt.close()
    print(
        f"target: every view under {TARGET_MS:.0f} ms: "
        + ("met" if not slow else f"NOT met by {', '.join(slow)}")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
