"""The daemon's life: start, run the schedules, reload on SIGHUP, stop on SIGTERM or SIGINT.

Signal handlers only raise flags; the main thread does the work between its ticks, so a reload
or a stop never happens inside a signal handler, and the watchdog is pinged only by a main
loop that is still turning.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy as sa
import structlog

from syncd.clock import fixed_clock, system_clock
from syncd.config import load_config
from syncd.daemon import health
from syncd.daemon.jobs import in_words, last_run, run_schedule
from syncd.daemon.locks import job_lock
from syncd.daemon.notify import Notifier
from syncd.daemon.run_lock import RunLock
from syncd.daemon.scheduler import Schedules
from syncd.duration import duration_text
from syncd.errors import SyncdError, error_line
from syncd.runtime import Runtime, build_runtime
from syncd.secrets import redact
from syncd.settings import load_settings
from syncd.store.schema import runs
from syncd.sync import failures
from syncd.ui.app import pages_app
from syncd.webhooks.ingest import Backlog, Ingest, Receivers
from syncd.webhooks.micro import MicroCycles, writing

log = structlog.get_logger("syncd.daemon")

TICK = 1.0  # seconds between two turns of the main loop when no signal wakes it


def scheduled(rt: Runtime) -> Runtime:
    """The runtime a scheduled job runs with: while webhooks are taken (any connector under
    ``webhooks.connectors``), the ingest commits a delivery at any moment, so the job's
    transactions take SQLite's write lock at BEGIN, as the micro-cycles' do (``writing``);
    a deferred one that read before such a commit failed at its first write, at once."""
    return writing(rt) if rt.config.webhooks.connectors else rt


class Daemon:
    """One ``syncd run`` process: its runtime, jobs, health endpoint and systemd messages."""

    def __init__(
        self,
        rt: Runtime,
        config_path: str | Path,
        *,
        health_address: str,
        notifier: Notifier | None = None,
        builder: Callable[[str | Path], Runtime] | None = None,
    ) -> None:
        self.rt = rt
        self.config_path = config_path
        self.health_address = health_address
        self.notifier = notifier or Notifier()
        self.build = builder or build
        self.stop = threading.Event()  # set by SIGTERM/SIGINT: no new job, end the one running
        self.wake = threading.Event()  # set by any signal: the main loop turns at once
        self.reload_asked = False
        self.pending: Runtime | None = None  # a reloaded runtime waiting for the running job
        self.run_lock = RunLock()  # held by the job that runs, lent to micro-cycles
        self.running: str | None = None
        self.stop_signal: str | None = None
        self.running_since: datetime | None = None
        self.schedules = Schedules(self.fire, rt.config.daemon.misfire_grace.total_seconds())
        self.server: health.HealthServer | None = None
        self.backlog = Backlog()
        self.receivers = Receivers()
        self.micro = MicroCycles(
            lambda: self.rt, self.receivers, self.backlog, self.run_lock, self.stop
        )

    # --- start and the main loop ---------------------------------------------------------

    def start(self) -> None:
        """Serve health, schedule the jobs, tell systemd it is ready."""
        if self.health_address.strip().lower() != "off":
            self.server = health.HealthServer(
                self.health_address,
                self.readiness,
                pages=pages_app(lambda: self.rt) if self.rt.config.ui.enabled else None,
                token=self.rt.config.daemon.ui_token,
                webhooks=Ingest(lambda: self.rt, self.backlog, self.receivers),
            )
            self.server.start()
        self.micro.start()  # waits for the first webhook delivery
        try:  # the metrics carry on from the store: earlier runs, other replicas' runs
            health.refresh_backlog(self.rt.engine)
            health.refresh_last_success(self.rt.engine)
            failures.refresh_metrics(self.rt.engine, self.rt.destinations())
        except Exception as exc:
            log.warning("could not read the store's runs", error=redact(error_line(exc)))
        self.schedules.start(self.rt.config.schedules)
        log.info(
            "daemon started",
            schedules=sorted(self.rt.config.schedules),
            health_port=self.server.port if self.server else None,
        )
        if not self.rt.config.schedules:
            log.warning("the config has no schedules: nothing will run until it has some")
        self.notifier.ready()
        self.notifier.status(f"running {len(self.rt.config.schedules)} schedules")

    def serve(self) -> int:
        """Run until stopped; the exit code: 0, or 1 when the running job outlived the
        shutdown timeout."""
        interval = self.notifier.watchdog_interval()
        tick = min(TICK, interval) if interval else TICK
        while not self.stop.is_set():
            self.wake.wait(tick)
            self.wake.clear()
            if self.stop.is_set():
                break
            if self.reload_asked:
                self.reload_asked = False
                self.reload()
            if self.pending is not None:
                self.swap()
            if interval and self.schedules.running:
                self.notifier.watchdog()
        return self.shutdown()

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stop.is_set():
            self.stop_signal = signal.Signals(signum).name
        self.stop.set()
        self.wake.set()

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_asked = True
        self.wake.set()

    # --- a job ---------------------------------------------------------------------------

    def fire(self, name: str) -> None:
        """One firing of schedule ``name``, run in the scheduler's worker thread."""
        with self.run_lock:
            rt = self.rt
            schedule = rt.config.schedules.get(name)
            if self.stop.is_set() or schedule is None:
                return  # stopping, or the schedule left the config in a reload
            self.running, self.running_since = name, rt.clock()
            try:
                with structlog.contextvars.bound_contextvars(job=name):
                    self._run(rt, name, schedule.run)
            finally:
                self.running = None

    def _run(self, rt: Runtime, name: str, kind: str) -> None:
        schedule = rt.config.schedules[name]
        run_id: str | None = None
        try:
            with job_lock(rt.engine, name) as mine:
                if not mine:
                    log.info("job skipped: another replica is running it")
                    return
                run_id = run_schedule(
                    scheduled(rt), name, schedule, self.stop, lend=self.run_lock.lend
                )
        except (SyncdError, sa.exc.SQLAlchemyError, OSError) as exc:
            log.error("run failed", error=redact(error_line(exc)))
        except Exception as exc:  # a bug: the daemon logs it whole and goes on
            log.error("run failed", error=redact(error_line(exc)), traceback=traceback.format_exc())
        self._after_run(rt, kind, run_id, name)

    def _after_run(self, rt: Runtime, kind: str, run_id: str | None, name: str) -> None:
        try:
            health.refresh_backlog(rt.engine)
            health.refresh_last_success(rt.engine)  # replicas report each other's runs too
            failures.refresh_metrics(rt.engine, rt.destinations())
            run = last_run(rt.engine, run_id) if run_id else _latest(rt, name)
        except Exception as exc:
            log.warning("could not read the run back", error=redact(error_line(exc)))
            return
        if run is not None:
            self.notifier.status(in_words(kind, run))

    def readiness(self) -> tuple[bool, str]:
        rt = self.rt
        return health.readiness(
            rt.engine, rt.config.daemon.ready_within, rt.clock, list(rt.config.schedules)
        )

    # --- reload --------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the config again; keep the old one in force if the new one is invalid."""
        self.notifier.reloading()
        try:
            new = self.build(self.config_path)
        except Exception as exc:  # whatever the new config does, the daemon goes on
            error = error_line(exc)
            log.error("config not reloaded; the old one stays in force", error=redact(error))
            self.notifier.ready()
            return
        if new.config.store.url != self.rt.config.store.url:
            new.close()
            log.error(
                "config not reloaded; the old one stays in force",
                error="store.url changed: restart syncd run to use another store",
            )
            self.notifier.ready()
            return
        if new.config.daemon.health != self.rt.config.daemon.health:
            log.warning("daemon.health changed: the endpoint moves at the next restart")
        if self.pending is not None:
            self.pending.close()
        self.pending = new
        self.swap()

    def swap(self) -> None:
        """Put the reloaded runtime in force between two runs, never under a running one."""
        if self.pending is None or not self.run_lock.acquire(blocking=False):
            return  # a job is running: the next turn of the main loop tries again
        try:
            old, self.rt, self.pending = self.rt, self.pending, None
            grace = self.rt.config.daemon.misfire_grace.total_seconds()
            changed = self.schedules.apply(self.rt.config.schedules, grace)
            old.close()
        finally:
            self.run_lock.release()
        log.info("config reloaded", schedules=sorted(self.rt.config.schedules), changed=changed)
        self.notifier.ready()

    # --- stop ----------------------------------------------------------------------------

    def shutdown(self) -> int:
        """Take no new job; wait for the running one to end its batch, up to the timeout."""
        self.notifier.stopping()
        timeout = self.rt.config.daemon.shutdown_timeout
        running = self.running
        log.info(
            "stopping",
            signal=self.stop_signal,
            running=running,
            timeout=timeout.total_seconds(),
        )
        self.schedules.shutdown()
        finished = self.run_lock.acquire(timeout=timeout.total_seconds())
        if self.server is not None:
            self.server.stop()
        if not finished:
            waited = duration_text(timeout.total_seconds())
            log.error(
                f"the running job did not end within the shutdown timeout ({waited}); "
                "exiting without it: the store stays consistent and the next start goes on",
                job=self.running,
            )
            self._mark_cut(timeout)
            return 1
        try:
            self.rt.close()
            if self.pending is not None:
                self.pending.close()
        finally:
            self.run_lock.release()
        log.info("stopped")
        return 0

    def _mark_cut(self, timeout: timedelta) -> None:
        """The run left behind is recorded as failed, not as running for ever."""
        name, since = self.running, self.running_since
        if name is None or since is None:
            return
        try:
            with self.rt.engine.begin() as conn:
                conn.execute(
                    runs.update()
                    .where(runs.c.job == name, runs.c.outcome == "running")
                    .where(runs.c.started_at >= since)
                    .values(
                        outcome="failed",
                        finished_at=self.rt.clock(),
                        error=f"cut short: the daemon stopped after its shutdown timeout "
                        f"({duration_text(timeout.total_seconds())})",
                    )
                )
        except Exception as exc:
            log.warning("could not record the cut run", error=redact(error_line(exc)))


def build(path: str | Path) -> Runtime:
    """The runtime of the config at ``path``, with the clock the settings ask for."""
    settings = load_settings()
    clock = fixed_clock(settings.now) if settings.now else system_clock
    return build_runtime(load_config(path, settings=settings), clock=clock)


def _latest(rt: Runtime, name: str) -> dict[str, Any] | None:
    with rt.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(runs).where(runs.c.job == name).order_by(runs.c.started_at.desc())
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None
