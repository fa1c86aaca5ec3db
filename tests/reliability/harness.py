"""The reliability harness: the demo's shop (every bundled emulator, one crowd) served on
loopback, ``syncd sync`` run in child processes that can be killed at any point, and the
tools' final state compared with an uninterrupted run's.

A child is forked from a server process that imported syncd once (multiprocessing's
forkserver), so a kill point costs a sync, not an interpreter start. A kill point is
``store:N`` (SIGKILL before the Nth SQL statement: the open transaction is lost),
``send:N`` (before the Nth HTTP request) or ``answer:N`` (after the Nth request was
answered, before syncd could record it: the vendor applied what syncd never confirmed).
The child writes the stage it died in (pull, compute, plan, queue, push) beside the store.

What is compared (``Outcome``): what each destination holds of what the config maps to it
(lost: held by the uninterrupted run only; extra: by this run only), the number of items in
each collection of each tool's state (a creation applied twice is one more), and what was
left stuck in the store (open changes, live claims, runs still ``running``).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.stores import fresh_store

PEOPLE = 12
SEED = 7
# collections of a tool's state that count requests (an import job, a bulk job, the rate
# limiter's bucket), not things syncd writes: a retried request may add one
REQUEST_RECORDS = frozenset({"imports", "jobs", "rest_bucket", "graphql_cost", "bulk_operations"})
STAGES = {"pull", "compute", "plan", "queue", "push"}


# --- the child: one `syncd sync`, perhaps killed -------------------------------------------


def _stage() -> str:
    """The cycle's step the main thread is in, from its stack."""
    frame: Any = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        code = frame.f_code
        if code.co_filename.endswith(os.path.join("sync", "cycle.py")):
            if code.co_name in STAGES:
                return code.co_name
            if code.co_name == "sync":
                return "run"
        frame = frame.f_back  # type: ignore[assignment]
    return "start"


def _die(where: Path) -> None:
    where.write_text(_stage())
    os.kill(os.getpid(), signal.SIGKILL)


def break_push(rule: str) -> Any:
    """A broken ``syncd.sync.push._send``, to prove the harness sees a broken rule: ``drop``
    answers done for the last change of each batch without sending it; ``twice`` sends each
    batch twice. Returns the original."""
    from syncd.sync import push

    original = push._send

    def broken(target: Any, rows: list[Any]) -> Any:
        if rule == "drop" and rows:
            from syncd.connectors.contract import ChangeResult, Outcome

            results, whole = original(target, rows[:-1])
            return [*results, ChangeResult(rows[-1].id, Outcome.DONE)], whole
        if rule == "twice":
            original(target, rows)
        return original(target, rows)

    push._send = broken
    return original


def _child(
    config: str, store_url: str, kill: str, counts: str, stage: str, broken: str = ""
) -> None:
    """Run ``syncd sync`` in this (forked) process, killing it at ``kill`` (``""``: never);
    write the statements and requests it made to ``counts``. ``broken``: see break_push."""
    if broken:
        break_push(broken)
    import httpx
    from sqlalchemy import event

    os.environ["SYNCD_STORE_URL"] = store_url
    os.environ.pop("SYNCD_NOW", None)
    kind, _, at = kill.partition(":")
    limit = int(at) if at else 0
    seen = Counter[str]()
    died = Path(stage)

    def statement(*_args: Any) -> None:
        seen["store"] += 1
        if kind == "store" and seen["store"] == limit:
            _die(died)

    event.listen(sa.engine.Engine, "before_cursor_execute", statement)
    original = httpx.HTTPTransport.handle_request

    def request(self: httpx.HTTPTransport, req: httpx.Request) -> httpx.Response:
        seen["http"] += 1
        n = seen["http"]
        if kind == "send" and n == limit:
            _die(died)
        response = original(self, req)
        if kind == "answer" and n == limit:
            response.read()
            _die(died)
        return response

    httpx.HTTPTransport.handle_request = request  # type: ignore[method-assign]
    from syncd.cli import main

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the child exits right after
    try:
        code = main(["--config", config, "sync"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    Path(counts).write_text(json.dumps(dict(seen)))
    sys.stdout.flush()
    os._exit(code)


_context: Any = None


def _forkserver() -> Any:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(
            ["tests.reliability.harness", "syncd.cli", "syncd.sync.cycle", "syncd.runtime",
             "syncd.demo.shop", "httpx", "sqlalchemy", "alembic"]
        )  # fmt: skip
    return _context


@dataclass
class Synced:
    code: int | None  # the exit code; -9 when killed
    stage: str | None  # where it was killed
    counts: dict[str, int]


def sync(world: World, kill: str = "", broken: str = "") -> Synced:
    """One ``syncd sync`` of ``world`` in a child process, killed at ``kill`` if given."""
    counts, stage = world.folder / "counts.json", world.folder / "killed-in"
    for path in (counts, stage):
        path.unlink(missing_ok=True)
    args = (str(world.config), world.store_url, kill, str(counts), str(stage), broken)
    child = _forkserver().Process(target=_child, args=args)
    child.start()
    child.join(timeout=600)
    if child.is_alive():
        child.kill()
        child.join()
    return Synced(
        child.exitcode,
        stage.read_text() if stage.exists() else None,
        json.loads(counts.read_text()) if counts.exists() else {},
    )


# --- the world: the emulators on loopback, a store, the config ----------------------------


@dataclass
class World:
    folder: Path
    config: Path
    store_url: str
    tools: list[Any]


def store(folder: Path, dialect: str) -> contextlib.AbstractContextManager[str]:
    """A fresh store: a SQLite file in ``folder``, or a PostgreSQL schema of its own."""
    return fresh_store(folder, dialect, prefix="rel")


@contextlib.contextmanager
def world(
    folder: Path, dialect: str = "sqlite", *, people: int = PEOPLE, seed: int = SEED
) -> Iterator[World]:
    """The demo's shop served on loopback with no rate limit, and a config pointing at it."""
    from syncd.demo import shop

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    tools = shop.make_tools(seed, people)
    for tool in tools:
        tool.app.set_rate_limit(0)
    library = shop.library_path()
    assert library is not None, "the segment library (config/segments) is not installed"
    with shop.serving(tools), store(folder, dialect) as url:
        text = shop.config_text(tools, library)
        # the vendors' limits are the emulators' to enforce, and they enforce none here
        text = re.sub(r"rate_limit: [0-9.]+", "rate_limit: 10000", text)
        # a bulk read is looked at every 2 s by default; the emulator's finishes at once
        text = text.replace("    bulk: true\n", "    bulk: true\n    bulk_poll: 0.05\n")
        config = folder / "syncd.yaml"
        config.write_text(text)
        yield World(folder, config, url, tools)


# --- what is compared ----------------------------------------------------------------------


@dataclass
class Snapshot:
    holdings: dict[tuple[str, str, str], frozenset[str]]  # (tool, kind, name) -> e-mails
    sizes: dict[tuple[str, str], int]  # (tool, collection) -> items
    writes: int = 0  # write requests the tools answered without a fault


def snapshot(tools: list[Any]) -> Snapshot:
    from syncd.demo import shop

    holdings = {(h.tool, h.kind, h.name): h.emails for h in shop.holdings(tools)}
    sizes = {}
    for tool in tools:
        for name, items in tool.app.state().items():
            if isinstance(items, list | dict) and name not in REQUEST_RECORDS:
                sizes[(tool.name, name)] = len(items)
    writes = sum(
        1 for t in tools for r in t.app.requests() if r.is_write and not r.fault and r.status < 400
    )
    return Snapshot(holdings, sizes, writes)


def stuck(store_url: str) -> list[str]:
    """What the store left undone after a run: open changes, live claims, running runs."""
    from syncd.store.schema import outbox, runs

    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            open_ = conn.execute(
                sa.select(outbox.c.destination, outbox.c.status, sa.func.count())
                .where(outbox.c.status.in_(("pending", "held")))
                .group_by(outbox.c.destination, outbox.c.status)
            ).all()
            claimed = conn.execute(
                sa.select(sa.func.count()).where(outbox.c.claimed_until.is_not(None),
                                                 outbox.c.status == "pending")
            ).scalar_one()  # fmt: skip
            running = conn.execute(
                sa.select(sa.func.count()).where(runs.c.outcome == "running")
            ).scalar_one()
    finally:
        engine.dispose()
    out = [f"{n} {status} at {dest}" for dest, status, n in open_]
    if claimed:
        out.append(f"{claimed} pending changes claimed")
    if running:
        out.append(f"{running} runs still running")
    return out


@dataclass
class Outcome:
    lost: int = 0  # (destination item, person) pairs the reference holds and this does not
    extra: int = 0  # pairs this holds and the reference does not
    duplicated: int = 0  # items beyond the reference's count in the tools' collections
    resent: int = 0  # write requests beyond the reference's (a change sent again)
    stuck: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, added, duplicated or stuck (re-sent writes are judged apart: under
        faults that lose an answer, sending again is the rule, not a fault)."""
        return not (self.lost or self.extra or self.duplicated or self.stuck)


def compare(reference: Snapshot, got: Snapshot, left: list[str]) -> Outcome:
    out = Outcome(stuck=left, resent=max(0, got.writes - reference.writes))
    for key in reference.holdings.keys() | got.holdings.keys():
        want = reference.holdings.get(key, frozenset())
        have = got.holdings.get(key, frozenset())
        if want - have or have - want:
            out.lost += len(want - have)
            out.extra += len(have - want)
            out.details.append(f"{'/'.join(key)}: lost {sorted(want - have)}, "
                               f"extra {sorted(have - want)}")  # fmt: skip
    for key, n in got.sizes.items():
        more = n - reference.sizes.get(key, 0)
        if more > 0:
            out.duplicated += more
            out.details.append(f"{'/'.join(key)}: {n} items, {more} more than the reference")
    return out


def summarize(results: Mapping[str, Outcome]) -> dict[str, int]:
    return {
        "points": len(results),
        "lost": sum(r.lost for r in results.values()),
        "extra": sum(r.extra for r in results.values()),
        "duplicated": sum(r.duplicated for r in results.values()),
        "resent": sum(r.resent for r in results.values()),
        "stuck": sum(1 for r in results.values() if r.stuck),
    }


# --- kill at every stage -------------------------------------------------------------------


@dataclass
class Reference:
    snapshot: Snapshot
    counts: dict[str, int]  # statements and requests of an uninterrupted sync


def reference(folder: Path, dialect: str = "sqlite") -> Reference:
    """The state two uninterrupted syncs leave (as many as a kill and its recovery make),
    and what the first took."""
    with world(folder, dialect) as w:
        done = sync(w)
        assert done.code == 0, f"the uninterrupted sync failed (exit {done.code})"
        again = sync(w)
        assert again.code == 0, f"the second uninterrupted sync failed (exit {again.code})"
        left = stuck(w.store_url)
        assert not left, f"the uninterrupted syncs left {left}"
        return Reference(snapshot(w.tools), done.counts)


def kill_points(counts: Mapping[str, int], n: int) -> list[str]:
    """``n`` kill points spread evenly: three fifths over the store statements of a sync,
    a fifth before a request is sent, a fifth after its answer came."""

    def spread(kind: str, total: int, k: int) -> list[str]:
        k = min(k, total)
        return [f"{kind}:{1 + (i * total) // k}" for i in range(k)] if k else []

    statements, requests = counts.get("store", 0), counts.get("http", 0)
    n_send = n_answer = n // 5
    return (
        spread("store", statements, n - n_send - n_answer)
        + spread("send", requests, n_send)
        + spread("answer", requests, n_answer)
    )


@dataclass
class KillResult:
    point: str
    stage: str | None
    killed: bool
    recovered: int | None  # the exit code of the sync after the kill
    outcome: Outcome


def kill_and_recover(
    folder: Path, ref: Reference, point: str, dialect: str = "sqlite", broken: str = ""
) -> KillResult:
    """Kill a sync at ``point`` (``""``: let it finish), run one normal sync, and compare
    with ``ref``. ``broken`` breaks the push of both (see break_push)."""
    with world(folder, dialect) as w:
        first = sync(w, point, broken)
        then = sync(w, "", broken)
        got = snapshot(w.tools)
        outcome = compare(ref.snapshot, got, stuck(w.store_url))
    if then.code != 0:
        outcome.stuck.append(f"the sync after the kill exited {then.code}")
    return KillResult(point, first.stage, first.code == -signal.SIGKILL, then.code, outcome)


# --- the fault soak: in process, in virtual time --------------------------------------------

FAULT_KINDS = ("429", "5xx", "drop", "drop_after", "5xx_after", "malformed")
SOAK_START = "2026-11-20T12:00:00+00:00"


@dataclass
class InProcess:
    """The demo's shop in this process, its emulators reached through in-process transports,
    every wait of a connector (a Retry-After, a backoff) taken in virtual time."""

    folder: Path
    config: Path
    tools: list[Any]
    emulators: dict[str, Any]
    clock: Any = None  # the emulators' clock, which the waits move: syncd's clock follows it


@contextlib.contextmanager
def in_process(
    folder: Path, store_url: str, *, people: int = PEOPLE, seed: int = SEED
) -> Iterator[InProcess]:
    from datetime import datetime

    import pytest

    from syncd.demo import shop
    from syncd.emulator import ManualClock, VirtualTime
    from syncd.plugins import get_plugin_manager
    from syncd.testing import route_to_emulators

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    clock = ManualClock(datetime.fromisoformat(SOAK_START))
    factories = get_plugin_manager(None).emulators()
    tools = []
    for name, factory in factories.items():
        if isinstance(factory, type) and getattr(factory, "demo", None):
            app = factory(seed=seed, people=people, clock=clock)
            app.prepare_demo()
            tools.append(shop.Tool(name, app, url=f"http://{name}.emulated.invalid"))
    tools.sort(key=lambda t: (t.part.order, t.name))
    library = shop.library_path()
    assert library is not None
    text = shop.config_text(tools, library).replace("    bulk: true\n", "    bulk_poll: 1\n")
    config = folder / "syncd.yaml"
    config.write_text(text)
    emulators = {t.name: t.app for t in tools}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYNCD_NOW", SOAK_START)
        mp.setenv("SYNCD_STORE_URL", store_url)
        route_to_emulators(mp, emulators, time=VirtualTime(clock))
        yield InProcess(folder, config, tools, emulators, clock)


def sync_in_process(shop_: InProcess) -> int:
    from syncd.cli import main

    if shop_.clock is not None:
        # each sync starts at the time the vendors are at: the waits of the last one moved
        # their clock, and a syncd whose own clock stood still would never read a record the
        # vendor changed after it (a window ends at syncd's time), as no real syncd does
        os.environ["SYNCD_NOW"] = shop_.clock().isoformat()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        return main(["--config", str(shop_.config), "sync"])


def soak_reference(folder: Path, dialect: str = "sqlite") -> Snapshot:
    with run_store(folder, dialect) as url, in_process(folder, url) as shop_:
        assert sync_in_process(shop_) == 0
        return snapshot(shop_.tools)


@contextlib.contextmanager
def run_store(folder: Path, dialect: str) -> Iterator[str]:
    """A fresh store for one run in ``folder``: a SQLite file named after it beside it (made
    again each time), or a PostgreSQL schema of its own."""
    if dialect != "sqlite":
        with store(folder.parent, dialect) as url:
            yield url
        return
    db = folder.parent / (folder.name + ".db")
    db.unlink(missing_ok=True)
    yield f"sqlite:///{db}"


@dataclass
class SoakResult:
    spec: str
    cycles: int  # cycles under faults
    codes: list[int]  # their exit codes
    faults: int  # requests the emulators answered with a fault
    requests: int
    outcome: Outcome


def soak(
    folder: Path,
    ref: Snapshot,
    spec: str,
    *,
    dialect: str = "sqlite",
    cycles: int = 4,
    seed: int = 1,
) -> SoakResult:
    """``cycles`` syncs with every emulator faulting as ``spec`` says, then one without
    faults; the tools' state compared with ``ref``."""
    with run_store(folder, dialect) as url, in_process(folder, url) as shop_:
        for i, app in enumerate(shop_.emulators.values()):
            app.set_faults(spec, seed + i)
        codes = [sync_in_process(shop_) for _ in range(cycles)]
        logged = [r for app in shop_.emulators.values() for r in app.requests()]
        for app in shop_.emulators.values():
            app.set_faults(None)
        last = sync_in_process(shop_)
        outcome = compare(ref, snapshot(shop_.tools), stuck(url))
    if last != 0:
        outcome.stuck.append(f"the sync without faults exited {last}")
    faults = sum(1 for r in logged if r.fault)
    return SoakResult(spec, cycles, codes, faults, len(logged), outcome)


WRITES_DOWN = "POST *:5xx=1;PUT *:5xx=1;PATCH *:5xx=1;DELETE *:5xx=1"


def one_down(
    folder: Path, ref: Snapshot, down: str, dialect: str = "sqlite", spec: str = WRITES_DOWN
) -> tuple[int, Outcome]:
    """One sync with the tool ``down`` faulting as ``spec`` says (by default: every write
    answered 5xx, so that it is still read and the segments stay the reference's): what the
    others hold compared with ``ref``; the sync's exit code."""
    with run_store(folder, dialect) as url, in_process(folder, url) as shop_:
        shop_.emulators[down].set_faults(spec)
        code = sync_in_process(shop_)
        got = snapshot(shop_.tools)
    others = Snapshot(
        {k: v for k, v in ref.holdings.items() if k[0] != down},
        {k: v for k, v in ref.sizes.items() if k[0] != down},
    )
    mine = Snapshot(
        {k: v for k, v in got.holdings.items() if k[0] != down},
        {k: v for k, v in got.sizes.items() if k[0] != down},
    )
    return code, compare(others, mine, [])
