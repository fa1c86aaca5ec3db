"""Benchmark: fit the predictive model and store every purchaser's predictions.

    python benchmarks/predict.py --contacts 1000000                       # SQLite
    python benchmarks/predict.py --contacts 100000 \\
        --store postgresql+psycopg://postgres@127.0.0.1:5432/test

It fills a store with contacts who each placed orders as the BG/NBD story tells (a rate and a
drop-out chance of their own, over two years; not timed; on SQLite the file is cached in
~/.cache/syncd-bench or --cache and copied for each run), then, in a fresh process that did
not generate the data, runs one fit as a compute does (syncd.segments.predict.fit_and_store:
the histories read, BG/NBD and Gamma-Gamma fitted, predictions written, the holdout check)
and prints each phase's wall time and the process's peak memory (its own VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAYS = 730


def generate(url: str, n_contacts: int, seed: int) -> int:
    """Fill the (migrated, empty) store at ``url``; the number of orders written."""
    from syncd.store import open_store
    from syncd.store.schema import events

    engine = open_store(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:  # the events' indexes are built once after loading, not row by row
        with engine.begin() as conn:
            for index in events.indexes:
                index.drop(conn)
    rng = np.random.default_rng(seed)
    stamp: Any = NOW.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else NOW
    raw = engine.raw_connection()
    written = 0
    try:
        cur = raw.cursor()
        if sqlite:
            cur.execute("PRAGMA cache_size = -1000000")
            cur.execute("BEGIN")
        chunk = 100_000
        for start in range(1, n_contacts + 1, chunk):
            ids = np.arange(start, min(start + chunk, n_contacts + 1))
            n = len(ids)
            first = rng.uniform(0, DAYS, n)  # days before now of the first order
            rate = rng.gamma(0.8, 1 / 40, n)  # orders a day while alive
            drop = rng.beta(0.6, 3.0, n)
            spend = rng.gamma(4.0, 10.0, n)
            contacts = [(int(i), f"person{i}@example.com", stamp, stamp) for i in ids]
            orders: list[tuple[Any, ...]] = []
            for k in range(n):
                t, j = 0.0, 0
                while t <= first[k]:
                    at = NOW - timedelta(days=float(first[k] - t))
                    value = round(float(spend[k] * rng.gamma(6.0) / 6.0), 2)
                    when: Any = at.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at
                    orders.append(
                        ("shop", f"o{ids[k]}-{j}", int(ids[k]), "order_placed", when, value)
                    )
                    j += 1
                    if j > 1 and rng.random() < drop[k]:
                        break
                    t += float(rng.exponential(1 / rate[k]))
            columns = "source, external_id, contact_id, type, occurred_at, value"
            if sqlite:
                cur.executemany(
                    "INSERT INTO contacts (id, email, created_at, updated_at) VALUES (?,?,?,?)",
                    contacts,
                )
                cur.executemany(f"INSERT INTO events ({columns}) VALUES (?,?,?,?,?,?)", orders)
            else:
                with cur.copy("COPY contacts (id, email, created_at, updated_at) FROM STDIN") as c:  # type: ignore[attr-defined]
                    for row in contacts:
                        c.write_row(row)
                with cur.copy(f"COPY events ({columns}) FROM STDIN") as c:  # type: ignore[attr-defined]
                    for row in orders:
                        c.write_row(row)
            written += len(orders)
        raw.commit()
    finally:
        raw.close()
    if sqlite:
        with engine.begin() as conn:
            for index in events.indexes:
                index.create(conn)
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return written


def peak_kib() -> int:
    """This process's own peak resident memory (VmHWM, new with exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(url: str, horizon_days: int) -> dict[str, Any]:
    """One fit as a compute runs it, each phase timed."""
    from phases import timed

    import syncd.segments.predict as predict
    from syncd.segments.predict_config import PredictConfig
    from syncd.store import open_store

    phases: dict[str, float] = {}
    # the phases as fit_and_store calls them (the holdout's own reads and fit count apart)
    predict.summarize = timed(predict.summarize, phases, "read histories")
    predict.fit_bgnbd = timed(predict.fit_bgnbd, phases, "fit BG/NBD")
    predict.fit_gamma_gamma = timed(predict.fit_gamma_gamma, phases, "fit Gamma-Gamma")
    predict.predict = timed(predict.predict, phases, "predict")
    predict._store = timed(predict._store, phases, "write predictions")
    predict.holdout = timed(predict.holdout, phases, "holdout check (inclusive)")
    engine = open_store(url)
    config = PredictConfig(horizon=timedelta(days=horizon_days))
    started = time.perf_counter()
    with engine.begin() as conn:
        fit = predict.fit_and_store(conn, NOW, config)
    total = time.perf_counter() - started
    engine.dispose()
    return {
        "total_s": round(total, 2),
        "phases_s": {k: round(v, 2) for k, v in phases.items()},
        "peak_mib": round(peak_kib() / 1024),
        "customers": fit.customers,
        "repeat_customers": fit.repeat_customers,
        "bgnbd": fit.bgnbd,
        "gamma_gamma": fit.gamma_gamma,
        "quality": fit.quality,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--horizon", type=int, default=90, help="days")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument(
        "--cache",
        default=os.environ.get("SYNCD_BENCH_CACHE", Path.home() / ".cache" / "syncd-bench"),
    )
    parser.add_argument("--generate", help=argparse.SUPPRESS)  # child: fill this store
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # child: one fit on this store
    args = parser.parse_args()
    if args.generate:
        print(json.dumps({"orders": generate(args.generate, args.contacts, args.seed)}))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.horizon)))
        return
    me = [sys.executable, __file__, "--contacts", str(args.contacts), "--seed", str(args.seed)]
    with tempfile.TemporaryDirectory() as folder:
        if args.store:
            url = args.store
            from syncd.store import open_store
            from tests.segment_data import clear

            engine = open_store(url)
            with engine.begin() as conn:
                clear(conn)
            engine.dispose()
            made = subprocess.run([*me, "--generate", url], check=True, capture_output=True)
            print("generated:", made.stdout.decode().strip())
        else:
            cache = Path(args.cache)
            cache.mkdir(parents=True, exist_ok=True)
            cached = cache / f"predict-{args.contacts}-{args.seed}.db"
            if not cached.exists():
                partial = cached.with_suffix(".partial")
                partial.unlink(missing_ok=True)
                made = subprocess.run(
                    [*me, "--generate", f"sqlite:///{partial}"], check=True, capture_output=True
                )
                print("generated:", made.stdout.decode().strip())
                partial.rename(cached)
            copy = Path(folder) / "store.db"
            shutil.copy(cached, copy)
            url = f"sqlite:///{copy}"
        run = subprocess.run(
            [*me, "--horizon", str(args.horizon), "--measure", url],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        result = json.loads(run.stdout)
    print(f"contacts with orders: {result['customers']:,} ({result['repeat_customers']:,} repeat)")
    print(
        f"fit + predictions + holdout: {result['total_s']} s, peak memory {result['peak_mib']} MiB"
    )
    for name, seconds in result["phases_s"].items():
        print(f"  {name:28} {seconds:8.2f} s")
    print("BG/NBD", json.dumps(result["bgnbd"]))
    print("Gamma-Gamma", json.dumps(result["gamma_gamma"]))
    print("holdout", json.dumps(result["quality"]))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
