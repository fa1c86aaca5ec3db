"""The config's schedules as APScheduler jobs: one job per schedule, one run at a time."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd.config import ScheduleConfig

log = structlog.get_logger("syncd.daemon")


def trigger(schedule: ScheduleConfig) -> BaseTrigger:
    """``every:`` as an interval, ``cron:`` as a crontab in the schedule's time zone."""
    jitter = schedule.jitter.total_seconds() if schedule.jitter else None
    if schedule.every is not None:
        return IntervalTrigger(seconds=schedule.every.total_seconds(), timezone=UTC, jitter=jitter)
    assert schedule.cron is not None  # the config gives exactly one of the two
    cron = CronTrigger.from_crontab(schedule.cron, timezone=schedule.timezone or "UTC")
    cron.jitter = jitter
    return cron


class Schedules:
    """The jobs of one daemon. A job fires ``fire(name)``; jobs run one at a time in one
    worker, so two steps never write the store at once and a stop waits for one run only."""

    def __init__(self, fire: Callable[[str], None], misfire_grace: float) -> None:
        self.fire = fire
        self.misfire_grace = _whole_seconds(misfire_grace)
        self.current: dict[str, ScheduleConfig] = {}
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        _log_through_structlog(logging.getLogger("apscheduler"))

    def start(self, schedules: Mapping[str, ScheduleConfig]) -> None:
        self.apply(schedules, self.misfire_grace)
        self.scheduler.start()

    def apply(self, schedules: Mapping[str, ScheduleConfig], misfire_grace: float) -> list[str]:
        """Make the jobs match ``schedules``; return the names added or changed.

        An unchanged schedule keeps its next run time; a new or changed ``every:`` schedule
        runs at once, a ``cron:`` one at its next time.
        """
        grace = _whole_seconds(misfire_grace)
        regrace = grace != self.misfire_grace
        self.misfire_grace = grace
        for name in set(self.current) - set(schedules):
            self.scheduler.remove_job(name)
        changed = []
        for name, schedule in schedules.items():
            if self.current.get(name) == schedule:
                if regrace:
                    self.scheduler.modify_job(name, misfire_grace_time=grace)
                continue
            extra: dict[str, Any] = {}
            if schedule.every is not None:
                extra["next_run_time"] = datetime.now(UTC)
            self.scheduler.add_job(
                self.fire,
                trigger(schedule),
                args=[name],
                id=name,
                name=name,
                replace_existing=True,
                misfire_grace_time=grace,
                **extra,
            )
            changed.append(name)
        self.current = dict(schedules)
        return changed

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def shutdown(self) -> None:
        """Take no new job; a running one goes on (the caller waits for it)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def _whole_seconds(seconds: float) -> int:
    # APScheduler takes the grace in whole seconds, at least one
    return max(1, math.ceil(seconds))


class _ToStructlog(logging.Handler):
    """APScheduler's own lines (a missed run time, a job still running) as syncd log lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            level = record.levelno
            if "maximum number of" in message:
                # the job is still running or waits for the worker: this firing is skipped,
                # which is what max_instances=1 asks for, not a problem
                level = logging.INFO
            structlog.get_logger("syncd.scheduler").log(level, message)
        except Exception:
            self.handleError(record)


def _log_through_structlog(logger: logging.Logger) -> None:
    if not any(isinstance(h, _ToStructlog) for h in logger.handlers):
        logger.addHandler(_ToStructlog(level=logging.WARNING))
    logger.propagate = False
