"""What one firing of a schedule does, recorded as a run named after the schedule."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import structlog

from syncd.config import ScheduleConfig
from syncd.runtime import Runtime
from syncd.shell.progress import Logged
from syncd.store.schema import runs
from syncd.sync import cycle
from syncd.sync.reading import AHEAD
from syncd.sync.runs import recorded_run


class Lending(Logged):
    """``Logged``, and after each page pulled (committed: no transaction held) ``lend``:
    the run lock goes to a waiting micro-cycle, and the job goes on once it is done."""

    def __init__(self, log: Any, lend: Callable[[], object]) -> None:
        super().__init__(log)
        self.lend = lend

    def page_pulled(self, instance: str, stream: str, counts: Counter[str]) -> None:
        super().page_pulled(instance, stream, counts)
        self.lend()


def run_schedule(
    rt: Runtime,
    name: str,
    schedule: ScheduleConfig,
    stop: threading.Event | None,
    lend: Callable[[], object] | None = None,
) -> str | None:
    """Run ``schedule`` once as job ``name``; return the run's id.

    ``sync`` is a whole cycle; ``pull`` reads the named instances (all when none);
    ``compute`` computes the segments and writes each destination's plan to the outbox
    (held when a guard holds it); ``push`` sends the outbox of the named destinations.
    Each tells its progress to the log as the shell's plain lines do (``progress`` events).
    A pull lends the run lock between its pages (``lend``: micro-cycles run meanwhile).
    """
    job_log = structlog.get_logger("syncd.daemon").bind(job=name)
    observer = Logged(job_log) if lend is None else Lending(job_log, lend)
    # a micro-cycle (a webhook) runs between a pull's pages: a page read before it would undo
    # what it applied with what the vendor said earlier, so such a pull reads in line
    ahead = None if lend is not None and rt.config.webhooks.connectors else AHEAD
    if schedule.run == "sync":
        return cycle.sync(rt, job=name, stop=stop, observer=observer, ahead=ahead).run_id
    with recorded_run(rt.engine, name, rt.clock) as run:
        if schedule.run == "pull":
            pulled = cycle.pull(
                rt, schedule.connectors, run=run, stop=stop, observer=observer, ahead=ahead
            )
            run.counts = {
                "pulled": sum(sum(c.values()) for c in pulled.values()),
                "quarantined": sum(c["quarantined"] for c in pulled.values()),
                "instances": {instance: dict(c) for instance, c in pulled.items()},
            }
        elif schedule.run == "compute":
            segments, plans = cycle.plan(rt, observer)
            run.counts = {
                "segments": len(segments),
                "planned": sum(len(p.changes) for p in plans),
                "held": sum(1 for p in plans if p.held),
            }
            if not cycle.stopped(stop):
                cycle.queue(rt, plans, run.id)
            if run.counts["held"]:
                run.outcome = "held"
        else:
            pushed = cycle.push(
                rt, destinations=schedule.destinations, stop=stop, run=run, observer=observer
            )
            total: Counter[str] = Counter()
            for counts in pushed.values():
                total.update(counts)
            run.counts = {
                "pushed": total["done"],
                "retryable": total["retryable"],
                "failed": total["failed"],
            }
        if cycle.stopped(stop):
            run.outcome = "stopped"
        return run.id


def last_run(engine: sa.Engine, run_id: str) -> dict[str, Any] | None:
    """The recorded run ``run_id``: job, outcome, times, counts, error."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    return dict(row) if row else None


def in_words(kind: str, run: dict[str, Any]) -> str:
    """A run for a person: ``sync every_15_minutes ok at 14:02: pulled 120, pushed 8``."""
    finished = run.get("finished_at") or run.get("started_at")
    at = f" at {finished:%H:%M}" if finished else ""
    counts = run.get("counts") or {}
    shown = [
        f"{key} {counts[key]}"
        for key in ("pulled", "quarantined", "planned", "held", "pushed", "failed")
        if isinstance(counts.get(key), int) and (counts[key] or key in ("pulled", "pushed"))
    ]
    text = f"{kind} {run['job']} {run['outcome']}{at}"
    if run.get("error"):
        error = str(run["error"])
        return f"{text}: {error if len(error) <= 200 else error[:199] + '…'}"
    return f"{text}: {', '.join(shown)}" if shown else text
