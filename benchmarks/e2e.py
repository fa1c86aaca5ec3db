"""Benchmark: whole cycles of the demo's shop, end to end, at growing sizes.

    .venv/bin/python benchmarks/e2e.py [--people 200 2000 20000] [--cycles 3] [--vendor-limits]
                                       [--vendors-apart | --vendors-in-process]

For each size it builds the shop ``syncd demo`` builds (the same emulators, seed and config,
served on 127.0.0.1), with the accounts' rate limits raised unless ``--vendor-limits`` (the
HubSpot search limit of 5 requests a second stays: syncd keeps to it either way), and runs
whole cycles (pull, compute, plan, push) one after the other with nothing new in between.
It prints, for each cycle, its wall time, the rows the vendors answered to the streams' reads
(re-pulled, in a cycle with nothing new), the records that then changed the store, and the
requests each stream and each tool served.

The vendors (the emulators) are made and served in a child process of their own
(``--vendors-apart``, the default), as a real vendor is another machine: syncd's CPU seconds
are then its own, and the vendors' are printed apart ("vendors' CPU"). ``--vendors-in-process``
serves them from threads of the benchmark's process, as before: they share its CPU and GIL,
and its CPU seconds count both.

The first cycle pulls everything and pushes the segments; the second is the first with
nothing new at the vendors but the echoes of the first cycle's pushes; the third and on are
the steady state.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncd.clock import system_clock
from syncd.config import load_config
from syncd.connectors.contract import Record
from syncd.connectors.paging import PageRequest, Reply
from syncd.connectors.streams import RestStream
from syncd.demo import shop
from syncd.logs import configure_logging
from syncd.runtime import Runtime, build_runtime
from syncd.settings import Settings
from syncd.store.schema import changed_contacts
from syncd.sync import cycle
from syncd.sync.records import PageWriter

sys.path.insert(0, str(Path(__file__).parent))
from stages import Stages

RAISED = 10_000.0  # requests a second: an account limit that never binds
# GraphQL points restored a second: RAISED requests of the costliest document (1,000 points)
POINTS_RAISED = RAISED * 1_000


@dataclass
class CycleFigures:
    seconds: float
    cpu: float  # CPU seconds of this process: syncd's, and the vendors' too when in process
    vendors_cpu: float | None = None  # CPU seconds of the vendors' process (None: in process)
    rows: Counter[str] = field(default_factory=Counter)  # rows the vendor answered, by stream
    pages: Counter[str] = field(default_factory=Counter)  # page requests, by stream
    requests: Counter[str] = field(default_factory=Counter)  # every request, by tool
    stored: int = 0  # records the pull handed the store (contacts, events, tags ...)
    touched: int = 0  # contacts whose attribute values the pull changed
    marked: int = 0  # contacts marked changed when the compute began (what it re-evaluates)
    pull_marked: int = 0  # of those, marked by this cycle's pull (not the last push)
    written: int = 0  # store rows the cycle inserted, updated or deleted (rowcount)
    pull_written: int = 0  # of those, by the pull
    changes: int = 0  # changes pushed
    stages: list[str] = field(default_factory=list)  # wall, CPU and sleeps per stage


class Reads:
    """Counts what every declared stream's page requests brought back, and the contacts
    whose values the pages written changed."""

    def __init__(self) -> None:
        self.rows: Counter[str] = Counter()
        self.pages: Counter[str] = Counter()
        self.touched = 0
        self.marked = self.pull_marked = 0
        self.written = self.pull_written = 0
        self.before: set[int] = set()  # contacts marked when the cycle began (by a push)

    def clear(self, engine: sa.Engine) -> None:
        self.rows.clear()
        self.pages.clear()
        self.touched = self.marked = self.pull_marked = self.written = self.pull_written = 0
        with engine.connect() as conn:
            self.before = marks(conn)

    @contextmanager
    def counting_writes(self, engine: sa.Engine) -> Iterator[None]:
        """Counts the rows every INSERT, UPDATE and DELETE changed, and the contacts marked
        changed when each compute begins."""
        reads = self

        def executed(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
                reads.written += max(cursor.rowcount or 0, 0)

        original, pulling = cycle.compute_segments, cycle.pull

        def compute(conn: sa.Connection, *args: Any, **kwargs: Any) -> Any:
            found = marks(conn)
            reads.marked += len(found)
            reads.pull_marked += len(found - reads.before)
            return original(conn, *args, **kwargs)

        def pull(*args: Any, **kwargs: Any) -> Any:
            written = reads.written
            try:
                return pulling(*args, **kwargs)
            finally:
                reads.pull_written += reads.written - written

        sa.event.listen(engine, "after_cursor_execute", executed)
        cycle.compute_segments, cycle.pull = compute, pull  # type: ignore[assignment]
        try:
            yield
        finally:
            cycle.compute_segments, cycle.pull = original, pulling  # type: ignore[assignment]
            sa.event.remove(engine, "after_cursor_execute", executed)

    @contextmanager
    def watching(self) -> Iterator[None]:
        original = RestStream._fetch
        reads = self

        def fetch(stream: RestStream, request: PageRequest) -> Reply:
            reply = original(stream, request)
            name = f"{stream.connector.context.instance}/{stream.name}"
            reads.pages[name] += 1
            reads.rows[name] += len(reply.items)
            return reply

        written = PageWriter.write

        def write(writer: PageWriter, records: Iterable[Record]) -> None:
            written(writer, records)
            reads.touched += len(writer.touched)

        RestStream._fetch = fetch  # type: ignore[method-assign,assignment]
        PageWriter.write = write  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            RestStream._fetch = original  # type: ignore[method-assign]
            PageWriter.write = written  # type: ignore[method-assign]


def marks(conn: sa.Connection) -> set[int]:
    """The contacts marked changed for the compute."""
    return set(conn.execute(sa.select(changed_contacts.c.contact_id)).scalars())


def raise_limits(rt: Runtime) -> None:
    """Every instance's own limits raised past the options' checks (which stop at the vendors'
    documented limits), as for an account whose limits were raised: requests a second
    (``rate_limit``) and bulk imports a minute (``import_rate``). The option alone is read
    only when a client or a destination is made, and the runtime made them already: a client
    has its limiter raised too, and a destination is made again with the raised options."""
    raised = {"rate_limit": RAISED, "import_rate": RAISED * 60}
    for connector in rt.connectors.values():
        options = connector.options
        update = {k: v for k, v in raised.items() if k in type(options).model_fields}
        if not update:
            continue
        connector.options = options.model_copy(update=update)
        client = getattr(connector, "_api", None)
        if client is not None and "rate_limit" in update:
            client.limiter.rate = client.limiter.burst = RAISED
        if getattr(connector, "_destination", None) is not None:
            connector._destination = None  # type: ignore[attr-defined]


def stored_count(pulled: dict[str, Counter[str]]) -> int:
    """Records a cycle's pull wrote into the store (rows unchanged are not counted)."""
    skip = {"events_linked", "events_skipped", "quarantined", "unchanged"}
    return sum(n for c in pulled.values() for k, n in c.items() if k not in skip)


class Vendors:
    """The shop's tools, made and served in this process (on threads); the config that
    points syncd at them, and the requests each has served."""

    def __init__(self, people: int, seed: int, raised: bool, library: Path) -> None:
        made = time.perf_counter()
        self.tools = shop.make_tools(seed, people)
        if raised:
            for tool in self.tools:
                tool.app.set_rate_limit(0)
                if hasattr(tool.app, "cost_restore"):  # a GraphQL budget: refilled as fast
                    tool.app.cost_restore = POINTS_RAISED
                if hasattr(tool.app, "imports_per_minute"):  # a cap of bulk imports
                    tool.app.imports_per_minute = RAISED * 60
        self.made = time.perf_counter() - made
        self.library = library
        self.config = ""

    @contextmanager
    def serving(self) -> Iterator[Vendors]:
        with shop.serving(self.tools):
            self.config = shop.config_text(self.tools, self.library)
            yield self

    def poll(self) -> tuple[dict[str, int], float | None]:
        """The requests each tool has served so far, and the vendors' own CPU seconds (None:
        they are this process's, counted with syncd's)."""
        return {t.name: len(t.app.log) for t in self.tools}, None


def serve_vendors(pipe: Connection, people: int, seed: int, raised: bool, library: Path) -> None:
    """The vendors' process: makes and serves the tools, sends the config, then answers each
    poll with the requests each tool served and this process's CPU seconds, until told to stop."""
    configure_logging("warning")
    try:
        vendors = Vendors(people, seed, raised, library)
        with vendors.serving():
            pipe.send(("ready", vendors.config, vendors.made))
            while pipe.recv() == "poll":
                pipe.send((vendors.poll()[0], time.process_time()))
    except Exception as exc:
        pipe.send(("failed", f"{type(exc).__name__}: {exc}", 0.0))
        raise


class VendorsApart:
    """The shop's tools in a child process: its config, and its polls over a pipe."""

    def __init__(self, pipe: Connection, config: str, made: float) -> None:
        self.pipe, self.config, self.made = pipe, config, made

    def poll(self) -> tuple[dict[str, int], float | None]:
        self.pipe.send("poll")
        answer = self.pipe.recv()
        if answer[0] == "failed":
            sys.exit(f"the vendors' process failed: {answer[1]}")
        requests, cpu = answer
        return requests, cpu


@contextmanager
def vendors_apart(people: int, seed: int, raised: bool, library: Path) -> Iterator[VendorsApart]:
    """The vendors made and served in a process of their own; stopped on exit."""
    context = multiprocessing.get_context("spawn")  # nothing of this process's threads
    mine, theirs = context.Pipe()
    child = context.Process(
        target=serve_vendors, args=(theirs, people, seed, raised, library), name="vendors"
    )
    child.start()
    try:
        if not mine.poll(600):
            sys.exit("the vendors' process did not start within 600 s")
        said, config, made = mine.recv()
        if said != "ready":
            sys.exit(f"the vendors' process failed: {config}")
        yield VendorsApart(mine, config, made)
    finally:
        if child.is_alive():
            with suppress(OSError):  # the pipe is gone: the child is on its way out
                mine.send("stop")
            child.join(timeout=30)
        if child.is_alive():
            child.terminate()
            child.join()


@contextmanager
def vendors_for(
    people: int, seed: int, raised: bool, library: Path, apart: bool
) -> Iterator[Vendors | VendorsApart]:
    if apart:
        with vendors_apart(people, seed, raised, library) as away:
            yield away
    else:
        with Vendors(people, seed, raised, library).serving() as here:
            yield here


def run_size(people: int, seed: int, cycles: int, raised: bool, apart: bool) -> list[CycleFigures]:
    library = shop.library_path()
    if library is None:
        sys.exit("the segment library was not found: run from a checkout installed with -e")
    out: list[CycleFigures] = []
    with (
        tempfile.TemporaryDirectory(prefix="syncd-e2e-") as folder,
        vendors_for(people, seed, raised, library, apart) as vendors,
    ):
        where = "in a process of their own" if apart else "in this process"
        print(
            f"  {people} people: the shop made in {vendors.made:.1f} s, served {where}", flush=True
        )
        path = Path(folder) / "syncd.yaml"
        path.write_text(vendors.config)
        stages = Stages()
        rt = build_runtime(
            load_config(path, settings=Settings.model_construct()),
            clock=system_clock,
            sleep=stages.sleeper,
        )
        if raised:
            raise_limits(rt)
        reads = Reads()
        try:
            with reads.watching(), reads.counting_writes(rt.engine):
                for n in range(cycles):
                    reads.clear(rt.engine)
                    stages.clear()
                    logged, vendors_cpu = vendors.poll()
                    started, cpu = time.perf_counter(), time.process_time()
                    report = cycle.sync(rt, observer=stages)
                    stages.end()
                    figures = CycleFigures(time.perf_counter() - started, time.process_time() - cpu)
                    served, vendors_after = vendors.poll()
                    if vendors_cpu is not None and vendors_after is not None:
                        figures.vendors_cpu = vendors_after - vendors_cpu
                    figures.rows.update(reads.rows)
                    figures.pages.update(reads.pages)
                    for name, count in served.items():
                        figures.requests[name] = count - logged.get(name, 0)
                    figures.stored = stored_count(report.pulled)
                    figures.touched = reads.touched
                    figures.marked, figures.pull_marked = reads.marked, reads.pull_marked
                    figures.written, figures.pull_written = reads.written, reads.pull_written
                    figures.changes = sum(sum(c.values()) for c in report.pushed.values())
                    figures.stages = stages.report()
                    out.append(figures)
                    print(f"    cycle {n + 1}: {line(figures)}", flush=True)
                    for stage in figures.stages:
                        print(f"      {stage}", flush=True)
        finally:
            rt.close()
    return out


def line(f: CycleFigures) -> str:
    return (
        f"{f.seconds:7.2f} s ({f.cpu:6.2f} s CPU), {sum(f.rows.values()):6d} rows read, "
        f"{f.stored:6d} records handed on, {f.touched:5d} contacts changed, "
        f"{f.marked:5d} marked for the compute ({f.pull_marked} by the pull), "
        f"{f.written:6d} store rows written ({f.pull_written} by the pull), "
        f"{sum(f.pages.values()):4d} page requests, "
        f"{sum(f.requests.values()):5d} requests, {f.changes} changes pushed"
        + (f"; vendors' CPU {f.vendors_cpu:.2f} s" if f.vendors_cpu is not None else "")
    )


def table(results: dict[int, list[CycleFigures]]) -> None:
    print()
    print(
        "| people | first cycle | no-change cycle (2nd) | rows re-read (2nd) "
        "| contacts marked by its pull (2nd) | steady cycle (last) | rows re-read (last) "
        "| records handed on (last) | contacts marked (last) | rows its pull wrote (last) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    cpu = "{:.2f} s ({:.2f} s CPU)".format
    for people, figures in results.items():
        first, second, last = figures[0], figures[min(1, len(figures) - 1)], figures[-1]
        print(
            f"| {people:,} | {cpu(first.seconds, first.cpu)} | {cpu(second.seconds, second.cpu)} "
            f"| {sum(second.rows.values()):,} | {second.pull_marked:,} "
            f"| {cpu(last.seconds, last.cpu)} | {sum(last.rows.values()):,} | {last.stored:,} "
            f"| {last.marked:,} | {last.pull_written:,} |"
        )
    print()
    print("Requests per stream in the last cycle (page requests; rows read in brackets), and")
    print("every request each tool served (look-ups and writes included):")
    for people, figures in results.items():
        last = figures[-1]
        streams = ", ".join(
            f"{name} {n} ({last.rows[name]})" for name, n in sorted(last.pages.items())
        )
        tools = ", ".join(f"{name} {n}" for name, n in sorted(last.requests.items()))
        print(f"  {people:,} people: {streams}")
        print(f"  {' ' * len(f'{people:,}')}  tools: {tools}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[200, 2000, 20000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cycles", type=int, default=4, help="cycles a size runs (≥ 2)")
    parser.add_argument(
        "--vendor-limits", action="store_true", help="keep the vendors' own rate limits"
    )
    vendors = parser.add_mutually_exclusive_group()
    vendors.add_argument(
        "--vendors-apart",
        dest="apart",
        action="store_true",
        default=True,
        help="serve the emulators from a process of their own (the default)",
    )
    vendors.add_argument(
        "--vendors-in-process",
        dest="apart",
        action="store_false",
        help="serve the emulators from threads of this process (they share its CPU)",
    )
    parser.add_argument("--json", action="store_true", help="the figures as JSON too")
    args = parser.parse_args()
    configure_logging("warning")
    raised = not args.vendor_limits
    limits = "raised" if raised else "the vendors' own"
    where = "apart" if args.apart else "in process"
    print(f"syncd e2e: the demo's shop, seed {args.seed}, rate limits {limits}, vendors {where}")
    cycles = max(2, args.cycles)
    results = {p: run_size(p, args.seed, cycles, raised, args.apart) for p in args.people}
    table(results)
    if args.json:
        print(
            json.dumps(
                {
                    str(p): [
                        {
                            "seconds": round(f.seconds, 3),
                            "cpu": round(f.cpu, 3),
                            "vendors_cpu": None
                            if f.vendors_cpu is None
                            else round(f.vendors_cpu, 3),
                            "rows": dict(f.rows),
                            "pages": dict(f.pages),
                            "requests": dict(f.requests),
                            "stored": f.stored,
                            "touched": f.touched,
                            "marked": f.marked,
                            "pull_marked": f.pull_marked,
                            "written": f.written,
                            "pull_written": f.pull_written,
                            "changes": f.changes,
                            "stages": f.stages,
                        }
                        for f in figures
                    ]
                    for p, figures in results.items()
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
