"""Runs: every job execution recorded with its counts and outcome, in the store and in the
metrics (its duration, and the time of each job's last success)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog

from syncd.clock import Clock
from syncd.errors import GuardHeld, error_line
from syncd.metrics import LAST_SUCCESS, RUN_DURATION
from syncd.store.schema import runs

log = structlog.get_logger("syncd.run")


@dataclass
class Run:
    id: str
    job: str
    counts: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"


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
    a change of the wall clock cannot bend."""
    run = Run(uuid.uuid4().hex, job)
    started = monotonic()
    with engine.begin() as conn:
        conn.execute(
            runs.insert().values(id=run.id, job=job, started_at=clock(), outcome="running")
        )
    with structlog.contextvars.bound_contextvars(run_id=run.id, job=job):
        log.info("run started")
        error: str | None = None
        try:
            yield run
        except GuardHeld as exc:
            run.outcome, error = "held", str(exc)
            raise
        except BaseException as exc:
            run.outcome, error = "failed", error_line(exc)
            raise
        finally:
            finished_at = clock()
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
