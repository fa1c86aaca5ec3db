"""The steps of a cycle as jobs: pull, compute, plan, push, and sync (all of them)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
import structlog

from syncd.errors import ConfigError, did_you_mean, error_line
from syncd.metrics import SEGMENT_SIZE
from syncd.runtime import Runtime
from syncd.segments.compile import Compiler, reading
from syncd.segments.predict_config import PredictConfig
from syncd.segments.rules import PredictedRule
from syncd.store.schema import outbox
from syncd.sync import history
from syncd.sync.compute import SegmentResult, compute_segments
from syncd.sync.failures import retry_reason
from syncd.sync.outbox import adopt_applied, compact, forget_failed, release_held, write_plan
from syncd.sync.plan import DestinationPlan, guard, mark_computed, plan_destination
from syncd.sync.progress import Observer
from syncd.sync.pull import Started, start_pull, write_pull
from syncd.sync.push import push_destination
from syncd.sync.reading import AHEAD, StreamReads
from syncd.sync.resolve import resolve_all_if_precedence_changed
from syncd.sync.runs import Run, recorded_run
from syncd.sync.set_aside import notice_set_aside

log = structlog.get_logger("syncd.cycle")


@dataclass
class CycleReport:
    run_id: str | None = None
    pulled: dict[str, Counter[str]] = field(default_factory=dict)
    segments: list[SegmentResult] = field(default_factory=list)
    plans: list[DestinationPlan] = field(default_factory=list)
    pushed: dict[str, Counter[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # "pull shop" -> why it failed

    @property
    def held(self) -> list[DestinationPlan]:
        return [p for p in self.plans if p.held]


def pull(
    rt: Runtime,
    instances: Sequence[str] = (),
    *,
    run: Run | None = None,
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    keep_cursors: bool = False,
    ahead: int | None = AHEAD,
) -> dict[str, Counter[str]]:
    """Pull the named instances (all when none are named); ``stop`` ends it after a page.
    With ``keep_cursors`` the cursors stay put (a dry run): the next pull reads it all again.
    ``observer`` is told of each instance and page. The streams are read up to ``ahead``
    records ahead of the writes (``syncd.sync.reading``); None reads in line."""
    observer = observer or Observer()
    for name in instances:
        if name not in rt.connectors:
            raise ConfigError(did_you_mean("connector instance", name, rt.connectors))
    names = list(instances) or list(rt.connectors)
    with rt.engine.begin() as conn:
        resolve_all_if_precedence_changed(conn, rt.config.precedence)
        notice_set_aside(conn, {n: [s.name for s in c.streams()] for n, c in rt.connectors.items()})
    out = {}
    isolate = Isolated(run)
    with StreamReads(stop, ahead) as reads:
        # every instance's streams are read side by side, ahead of the writes; the writes go
        # instance by instance, each whole, the one that keeps them waiting least taken next,
        # so a vendor slow to answer holds up as little as it can of the others
        started = {name: _start(rt, name, reads) for name in names}
        waiting = list(names)
        while waiting:
            if stopped(stop):
                break
            name = reads.next_ready(waiting)
            if stopped(stop):  # asked while waiting for a read: no other instance is begun
                break
            waiting.remove(name)
            observer.pulling(name)
            with isolate(f"pull {name}"):
                out[name] = write_pull(
                    rt.engine,
                    started[name],
                    reads,
                    precedence=rt.config.precedence,
                    run_id=run.id if run else None,
                    clock=rt.clock,
                    progress=observer.page_pulled,
                    stop=stop,
                    keep_cursors=keep_cursors,
                )
            observer.pulled(name, out.get(name, Counter()))
    isolate.done()
    return out


def _start(rt: Runtime, name: str, reads: StreamReads) -> Started:
    """Start reading an instance's streams; an error is kept, to fail its pull alone."""
    skip = frozenset(rt.config.connectors[name].skip_events)
    try:
        return start_pull(rt.engine, name, rt.connectors[name], reads, skip)
    except ConfigError:
        raise
    except Exception as exc:
        return Started(name, skip, error=exc)


class Isolated:
    """Each part of a step (an instance's pull, a destination's push) fails alone: its error
    is logged and recorded on ``run`` (which becomes ``partial``) and the other parts go
    on. When every part failed, the first error is raised: the step failed as a whole (with
    every part's error as its ``parts_failed`` when there were several).
    A config error, and anything that is not an Exception (a stop, an interrupt), is raised
    at once. Without a run, errors are raised at once too."""

    def __init__(self, run: Run | None) -> None:
        self.run = run
        self.parts = 0
        self.errors: list[BaseException] = []
        self.failed: dict[str, str] = {}  # part -> its error line

    @contextlib.contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        self.parts += 1
        try:
            yield
        except ConfigError:
            raise
        except Exception as exc:
            if self.run is None:
                raise
            self.errors.append(exc)
            self.failed[part] = error_line(exc)
            self.run.failed_part(part, error_line(exc))
            log.error("part failed; the rest of the run goes on", part=part, error=error_line(exc))

    def done(self) -> None:
        if self.errors and len(self.errors) == self.parts:
            assert self.run is not None
            self.run.failures.clear()  # the step failed whole: the run says so as failed
            first = self.errors[0]
            if len(self.failed) > 1:  # each part's error, for the command to say them all
                first.parts_failed = dict(self.failed)  # type: ignore[attr-defined]
            raise first


def stopped(stop: threading.Event | None) -> bool:
    """Whether a stop was asked: the step in hand ends at its next page or batch."""
    return stop is not None and stop.is_set()


def predict_config(rt: Runtime) -> PredictConfig | None:
    """The ``predict:`` section; its defaults when only a segment reads predictions."""
    if rt.config.predict is not None:
        return rt.config.predict
    return PredictConfig() if reading(rt.rules, (PredictedRule,)) else None


def compute(
    rt: Runtime, observer: Observer | None = None, *, record_history: bool = True
) -> list[SegmentResult]:
    observer = observer or Observer()
    observer.computing(len(rt.rules))
    Compiler(rt.rules, rt.clock(), rt.scores).check_sql(rt.engine, rt.config.source)
    with rt.engine.begin() as conn:
        results = compute_segments(
            conn,
            rt.rules,
            rt.clock(),
            rt.scores,
            rt.full_compute,
            predict_config(rt),
            record_history=record_history,
        )
        mark_computed(conn, rt.clock())
    for result in results:
        SEGMENT_SIZE.labels(result.name).set(result.size)
    observer.computed(results)
    return results


def plan(
    rt: Runtime, observer: Observer | None = None
) -> tuple[list[SegmentResult], list[DestinationPlan]]:
    """Compute segments and plan every destination; nothing is written to the outbox."""
    segments = compute(rt, observer)
    plans = []
    with rt.engine.begin() as conn:
        for dest in rt.config.destinations:
            target = rt.connectors[dest.connector].destination()
            assert target is not None  # checked when the runtime was built
            adopt_applied(conn, dest.connector)
            whole = plan_destination(conn, dest, target.change_kinds, rt.config.tiers)
            planned = forget_failed(conn, whole)
            plans.append(guard(conn, dest, planned))
    return segments, plans


def queue(rt: Runtime, plans: Sequence[DestinationPlan], run_id: str) -> dict[str, dict[str, int]]:
    """Write the plans to the outbox (held plans as held)."""
    out = {}
    with rt.engine.begin() as conn:
        for p in plans:
            out[p.destination] = write_plan(conn, p, run_id, rt.clock())
        compacted = compact(conn, rt.clock(), rt.config.store.outbox_retention)
        history.prune(conn, rt.clock(), rt.config.store.history_retention)
    if compacted:
        log.info("outbox compacted", rows=compacted)
    return out


def push(
    rt: Runtime,
    *,
    confirm: bool = False,
    destinations: Sequence[str] = (),
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    run: Run | None = None,
) -> dict[str, Counter[str]]:
    """Send the pending outbox of each destination; ``confirm`` first releases held plans.

    ``stop`` ends the push once the batch in flight is confirmed. With a ``run``, a
    destination that fails (raises, or stops answering) is recorded on it and the others
    are pushed all the same.
    """
    observer = observer or Observer()
    names = list(destinations) or rt.destinations()
    if confirm:
        with rt.engine.begin() as conn:
            for name in names:
                release_held(conn, name, rt.clock())
    out = {}
    isolate = Isolated(run)
    for name in names:
        if stopped(stop):
            break
        target = rt.connectors[name].destination()
        assert target is not None
        observer.pushing(name, _pending(rt, name))
        with structlog.contextvars.bound_contextvars(connector=name), isolate(f"push {name}"):
            out[name] = push_destination(
                rt.engine,
                name,
                target,
                clock=rt.clock,
                progress=observer.batch_pushed,
                stop=stop,
                precedence=rt.config.precedence,
            )
            failing = out[name].pop("failing", 0)
            if (failing or out[name].get("retryable")) and run is not None:
                # changes left to retry: the run did not deliver everything, it is partial
                with rt.engine.connect() as conn:
                    why = retry_reason(conn, name) or "no reason recorded"
                left = f"{out[name].get('retryable', 0)} to retry: {why}"
                if failing:
                    left = f"the destination kept failing, the rest waits; {left}"
                run.failed_part(f"push {name}", left)
        observer.pushed(name, out.get(name, Counter()))
    isolate.done()
    return out


def _pending(rt: Runtime, destination: str) -> int:
    """The changes waiting in ``destination``'s outbox (what its push is to send)."""
    with rt.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    outbox.c.destination == destination, outbox.c.status == "pending"
                )
            ).scalar_one()
        )


def sync(
    rt: Runtime,
    *,
    dry_run: bool = False,
    job: str = "sync",
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    ahead: int | None = AHEAD,
) -> CycleReport:
    """One whole cycle, recorded as a run of ``job``. A dry run stops after the guard: no
    outbox write, nothing sent. After ``stop`` no further step begins and the run is
    recorded as stopped; the next cycle takes up the rest from the cursors and the outbox.
    ``observer`` is told how each step goes."""
    report = CycleReport()
    with recorded_run(rt.engine, f"{job}-dry-run" if dry_run else job, rt.clock) as run:
        report.run_id = run.id
        report.failures = run.failures
        report.pulled = pull(
            rt, run=run, observer=observer, stop=stop, keep_cursors=dry_run, ahead=ahead
        )
        run.counts = {
            "pulled": sum(sum(c.values()) for c in report.pulled.values()),
            "quarantined": sum(c["quarantined"] for c in report.pulled.values()),
        }
        if stopped(stop):
            run.outcome = "stopped"
            return report
        report.segments, report.plans = plan(rt, observer)
        run.counts["planned"] = sum(len(p.changes) for p in report.plans)
        run.counts["held"] = len(report.held)
        if dry_run:
            return report
        if stopped(stop):
            run.outcome = "stopped"  # the next cycle plans again; nothing was queued
            return report
        queue(rt, report.plans, run.id)
        ready = [p.destination for p in report.plans if not p.held]
        if ready:
            report.pushed = push(rt, destinations=ready, observer=observer, stop=stop, run=run)
        run.counts["pushed"] = sum(c["done"] for c in report.pushed.values())
        run.counts["failed"] = sum(c["failed"] for c in report.pushed.values())
        if stopped(stop):
            run.outcome = "stopped"
        elif report.held:
            run.outcome = "held"
    return report
