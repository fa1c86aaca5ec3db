"""Runs: every job execution recorded with its counts and outcome."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog

from syncd.clock import Clock
from syncd.errors import GuardHeld
from syncd.store.schema import runs

log = structlog.get_logger("syncd.run")


@dataclass
class Run:
    id: str
    job: str
    counts: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"


@contextmanager
def recorded_run(engine: sa.Engine, job: str, clock: Clock) -> Iterator[Run]:
    """Record a run; every log line inside carries its run id and job."""
    run = Run(uuid.uuid4().hex, job)
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
            run.outcome, error = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise
        finally:
            with engine.begin() as conn:
                conn.execute(
                    runs.update()
                    .where(runs.c.id == run.id)
                    .values(
                        finished_at=clock(), outcome=run.outcome, counts=run.counts, error=error
                    )
                )
            log.info("run finished", outcome=run.outcome, **_flat(run.counts))


def _flat(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in counts.items() if isinstance(v, int | float | str)}
