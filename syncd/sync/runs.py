"""Runs: every job execution recorded with its counts and outcome, in the store and in the
metrics (its duration, and the time of each job's last success).

A run records where it runs (host, and its process as ``pid:start time``) and, on
PostgreSQL, beats a heartbeat. A run whose process is gone (same host) is ``killed``; one
whose heartbeat stopped (another host) is ``abandoned``; either is found by the next run,
or by ``syncd status``, and the changes its push held claimed are free at once
(``release_dead_claims``). A run on another host that still beats is alive, whatever its age.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from syncd.clock import Clock
from syncd.errors import GuardHeld, error_line
from syncd.metrics import LAST_SUCCESS, RUN_DURATION
from syncd.store.schema import runs

log = structlog.get_logger("syncd.run")

HEARTBEAT = timedelta(seconds=20)  # how often a run on PostgreSQL says it is alive
# a run whose heartbeat is older than this is abandoned: several beats missed, not one slow
STALE = timedelta(seconds=120)
# outcomes of a run that ended without finishing: its process died
DEAD = ("killed", "abandoned")


@dataclass
class Run:
    id: str
    job: str
    counts: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"
    failures: dict[str, str] = field(default_factory=dict)  # stream or destination -> why

    def failed_part(self, part: str, error: str) -> None:
        """One source or destination failed; the rest of the run goes on, and it is partial."""
        self.failures[part] = error
        if self.outcome == "ok":
            self.outcome = "partial"


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), where /proc tells it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (2nd field) may hold spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def host_name() -> str:
    return socket.gethostname()[:60]


def this_process() -> str:
    """This process as ``pid:start time`` (or ``pid``), told apart from a later one that
    reuses its pid."""
    pid = os.getpid()
    start = _start_time(pid)
    return f"{pid}:{start}" if start else str(pid)


def process_gone(process: str) -> bool:
    """Whether the process ``pid[:start time]`` of this host has ended."""
    pid_text, _, start = process.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False  # not ours to judge
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, under another user
    now_start = _start_time(pid)
    return bool(start and now_start and now_start != start)  # the pid was reused


def _heartbeat_stale(conn: sa.Connection) -> sa.ColumnElement[bool]:
    """A running run's heartbeat stopped, by the database's own clock (hosts' clocks may
    differ); only PostgreSQL runs beat."""
    return sa.and_(
        runs.c.heartbeat_at.is_not(None),
        runs.c.heartbeat_at < sa.func.now() - sa.literal(STALE, sa.Interval()),
    )


def reap_dead_runs(conn: sa.Connection, clock: Clock) -> list[str]:
    """Mark the running runs whose process died ``killed`` (this host) or ``abandoned`` (a
    stopped heartbeat); return their ids."""
    here = host_name()
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.host, runs.c.pid).where(
            runs.c.outcome == "running", runs.c.host.is_not(None)
        )
    ).all()
    killed = [r.id for r in rows if r.host == here and r.pid and process_gone(r.pid)]
    abandoned: list[str] = []
    if conn.dialect.name != "sqlite":
        abandoned = [
            r
            for r in conn.execute(
                sa.select(runs.c.id).where(
                    runs.c.outcome == "running", runs.c.host != here, _heartbeat_stale(conn)
                )
            ).scalars()
        ]
    now = clock()
    for ids, outcome, why in (
        (killed, "killed", "its process ended before the run finished"),
        (abandoned, "abandoned", f"its heartbeat stopped for more than {STALE}"),
    ):
        if ids:
            conn.execute(
                runs.update()
                .where(runs.c.id.in_(ids), runs.c.outcome == "running")
                .values(outcome=outcome, finished_at=now, error=why)
            )
            log.warning(f"run {outcome}: {why}", runs=ids)
    return killed + abandoned


def dead_holder(conn: sa.Connection, holder: str) -> bool:
    """Whether the push ``holder`` (``host:pid:start:random``, see outbox.claimant) is known
    dead: its process on this host is gone, or its run on another host is dead."""
    parts = holder.split(":")
    if len(parts) < 3:
        return False
    host, process = parts[0], ":".join(parts[1:-1])
    if host == host_name():
        return process_gone(process)
    return bool(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(runs)
            .where(runs.c.host == host, runs.c.pid == process)
            .where(
                sa.or_(
                    runs.c.outcome.in_(DEAD),
                    sa.and_(runs.c.outcome == "running", _heartbeat_stale(conn)),
                )
                if conn.dialect.name != "sqlite"
                else runs.c.outcome.in_(DEAD)
            )
        ).scalar_one()
    ) and not _alive_elsewhere(conn, host, process)


def _alive_elsewhere(conn: sa.Connection, host: str, process: str) -> bool:
    """A process of another host with a run still beating is alive (a daemon runs many)."""
    if conn.dialect.name == "sqlite":
        return False
    return bool(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(runs)
            .where(runs.c.host == host, runs.c.pid == process, runs.c.outcome == "running")
            .where(sa.not_(_heartbeat_stale(conn)))
        ).scalar_one()
    )


class _Heartbeat:
    """Beats ``heartbeat_at`` of a run on PostgreSQL until stopped (SQLite is one host: the
    process check is enough, and a beat would contend for its one write lock)."""

    def __init__(self, engine: sa.Engine, run_id: str, every: timedelta = HEARTBEAT) -> None:
        self.engine, self.run_id, self.every = engine, run_id, every
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        if engine.dialect.name != "sqlite":
            self.thread = threading.Thread(target=self._beat, name="run-heartbeat", daemon=True)
            self.thread.start()

    def _beat(self) -> None:
        while not self.stopped.wait(self.every.total_seconds()):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        runs.update()
                        .where(runs.c.id == self.run_id)
                        .values(heartbeat_at=sa.func.now())
                    )
            except Exception as exc:  # the store is away: the run's own steps will say so
                log.debug("heartbeat not written", error=error_line(exc))

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)


@contextmanager
def recorded_run(
    engine: sa.Engine,
    job: str,
    clock: Clock,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[Run]:
    """Record a run; every log line inside carries its run id and job.

    The store gets ``clock``'s times; the duration metric is measured on ``monotonic``, which
    a change of the wall clock cannot bend. Runs found dead meanwhile are marked first."""
    run = Run(uuid.uuid4().hex, job)
    started = monotonic()
    beat = sa.func.now() if engine.dialect.name != "sqlite" else None
    with engine.begin() as conn:
        reap_dead_runs(conn, clock)
        conn.execute(
            runs.insert().values(
                id=run.id,
                job=job,
                started_at=clock(),
                outcome="running",
                host=host_name(),
                pid=this_process(),
                heartbeat_at=beat,
            )
        )
    heartbeat = _Heartbeat(engine, run.id)
    with structlog.contextvars.bound_contextvars(run_id=run.id, job=job):
        log.info("run started")
        error: str | None = None
        try:
            yield run
            if run.failures:
                error = "; ".join(f"{part}: {why}" for part, why in run.failures.items())
        except GuardHeld as exc:
            run.outcome, error = "held", str(exc)
            raise
        except BaseException as exc:
            run.outcome, error = "failed", error_line(exc)
            raise
        finally:
            heartbeat.stop()
            finished_at = clock()
            if run.failures:
                run.counts = {**run.counts, "failures": dict(run.failures)}
            with engine.begin() as conn:
                conn.execute(
                    runs.update()
                    .where(runs.c.id == run.id)
                    .values(
                        finished_at=finished_at,
                        outcome=run.outcome,
                        counts=run.counts,
                        error=error,
                    )
                )
            RUN_DURATION.labels(job, run.outcome).observe(max(0.0, monotonic() - started))
            if run.outcome == "ok":
                LAST_SUCCESS.labels(job).set(finished_at.timestamp())
            log.info("run finished", outcome=run.outcome, **_flat(run.counts))


def _flat(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in counts.items() if isinstance(v, int | float | str)}
