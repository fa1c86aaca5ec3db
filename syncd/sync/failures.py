"""What did not arrive, read from the outbox and the quarantine: per destination the changes
pending, retrying (pending again after a failed attempt) and failed (given up) with the last
reason; per record what failed and why. ``syncd status``, ``syncd errors``, the run's outcome
and the metrics all read it here, so they agree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from syncd import metrics
from syncd.store.schema import contacts, outbox, quarantine, runs

# an outbox row's state as people read it
PENDING, RETRYING, HELD, FAILED = "pending", "retrying", "held", "failed"
STATES = (PENDING, RETRYING, HELD, FAILED)
# a run that ended in one of these left something undone: readiness and alerts look at it
NOT_OK = ("failed", "partial", "killed", "abandoned")

_state = sa.case(
    (sa.and_(outbox.c.status == "pending", outbox.c.attempts > 0), RETRYING),
    else_=outbox.c.status,
)


def destination_states(
    conn: sa.Connection, destinations: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Per destination (those named first, in their order, then any other the outbox holds):
    changes pending, retrying, held and failed, and the newest reason a change failed."""
    counts: dict[str, dict[str, int]] = {name: dict.fromkeys(STATES, 0) for name in destinations}
    rows = conn.execute(
        sa.select(outbox.c.destination, _state.label("state"), sa.func.count())
        .where(outbox.c.status.in_(("pending", "held", "failed")))
        .group_by(outbox.c.destination, _state)
    )
    for destination, state, n in rows:
        counts.setdefault(str(destination), dict.fromkeys(STATES, 0))[str(state)] = int(n)
    out = []
    for name, by_state in counts.items():
        last = None
        if by_state[RETRYING] or by_state[FAILED]:
            last = conn.execute(
                sa.select(outbox.c.last_error, outbox.c.updated_at)
                .where(
                    outbox.c.destination == name,
                    outbox.c.last_error.is_not(None),
                    outbox.c.status.in_(("pending", "failed")),
                    outbox.c.attempts > 0,
                )
                .order_by(outbox.c.updated_at.desc(), outbox.c.id.desc())
                .limit(1)
            ).first()
        out.append(
            {
                "destination": name,
                **by_state,
                "last_error": last.last_error if last else None,
                "last_error_at": last.updated_at if last else None,
            }
        )
    return out


def change_failures(
    conn: sa.Connection, *, destination: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The changes that failed, newest first: retrying ones and those given up."""
    query = (
        sa.select(
            outbox.c.destination,
            contacts.c.email,
            outbox.c.kind,
            outbox.c.key,
            outbox.c.value,
            _state.label("state"),
            outbox.c.attempts,
            outbox.c.last_error.label("error"),
            outbox.c.updated_at.label("at"),
        )
        .join(contacts, contacts.c.id == outbox.c.contact_id)
        .where(
            sa.or_(
                outbox.c.status == "failed",
                sa.and_(outbox.c.status == "pending", outbox.c.attempts > 0),
            )
        )
        .order_by(outbox.c.updated_at.desc(), outbox.c.id.desc())
        .limit(limit)
    )
    if destination is not None:
        query = query.where(outbox.c.destination == destination)
    return [dict(r._mapping) for r in conn.execute(query)]


def quarantined_records(
    conn: sa.Connection, *, instance: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The records a source sent that could not be read, newest first."""
    query = (
        sa.select(
            quarantine.c.connector.label("instance"),
            quarantine.c.stream,
            quarantine.c.reason.label("error"),
            quarantine.c.record,
            quarantine.c.created_at.label("at"),
        )
        .order_by(quarantine.c.id.desc())
        .limit(limit)
    )
    if instance is not None:
        query = query.where(quarantine.c.connector == instance)
    return [dict(r._mapping) for r in conn.execute(query)]


def retry_reason(conn: sa.Connection, destination: str) -> str | None:
    """Why the destination's changes wait for a retry: its newest failure's reason."""
    for state in destination_states(conn, [destination]):
        if state["destination"] == destination and state[RETRYING]:
            why = str(state["last_error"] or "no reason recorded").strip()
            return why.splitlines()[0][:300] if why else "no reason recorded"
    return None


def last_runs(conn: sa.Connection, jobs: Sequence[str] = ()) -> dict[str, str]:
    """The outcome of each job's latest finished run (of ``jobs``, or of every job)."""
    newest = (
        sa.select(runs.c.job, sa.func.max(runs.c.finished_at).label("at"))
        .where(runs.c.finished_at.is_not(None))
        .group_by(runs.c.job)
    )
    if jobs:
        newest = newest.where(runs.c.job.in_(list(jobs)))
    latest = newest.subquery()
    rows = conn.execute(
        sa.select(runs.c.job, runs.c.outcome)
        .join(latest, sa.and_(runs.c.job == latest.c.job, runs.c.finished_at == latest.c.at))
        .order_by(runs.c.id)
    )
    return {str(job): str(outcome) for job, outcome in rows}


_seen: set[tuple[str, str]] = set()  # label sets set before: an emptied one goes to 0


def refresh_metrics(engine: sa.Engine, destinations: Iterable[str] = ()) -> None:
    """Set the outbox state and last-run gauges from the store (after each run, at start)."""
    with engine.connect() as conn:
        states = destination_states(conn, destinations)
        outcomes = last_runs(conn)
    now: set[tuple[str, str]] = set()
    for s in states:
        for state in STATES:
            metrics.OUTBOX_CHANGES.labels(s["destination"], state).set(s[state])
            now.add((s["destination"], state))
    for key in _seen - now:
        metrics.OUTBOX_CHANGES.labels(*key).set(0)
    _seen.update(now)
    for job, outcome in outcomes.items():
        metrics.LAST_RUN_OK.labels(job).set(0 if outcome in NOT_OK else 1)
