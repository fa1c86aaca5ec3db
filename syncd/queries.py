"""What the command line shows: segments, members, runs, cursors, outbox, quarantine."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.config import ScheduleConfig
from syncd.duration import duration_text
from syncd.store.schema import (
    contact_fields,
    contacts,
    cursors,
    outbox,
    quarantine,
    runs,
    segment_members,
    segments,
)
from syncd.sync.outbox import held_plans, live_claim


def emails(conn: sa.Connection, ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        out.update(
            conn.execute(
                sa.select(contacts.c.id, contacts.c.email).where(contacts.c.id.in_(chunk))
            ).all()
        )
    return out


def segment_rows(conn: sa.Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(segments.select().order_by(segments.c.name))]


def segment_sample(conn: sa.Connection, name: str, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(contacts.c.email, segment_members.c.since)
        .join(contacts, contacts.c.id == segment_members.c.contact_id)
        .where(segment_members.c.segment == name)
        .order_by(contacts.c.email)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def contact_id_of(conn: sa.Connection, email: str) -> int | None:
    """The id of the contact with ``email`` (normalised as resolve does), or None."""
    found = conn.execute(
        sa.select(contacts.c.id).where(contacts.c.email == email.strip().lower())
    ).scalar()
    return None if found is None else int(found)


def contact_field_values(conn: sa.Connection, email: str) -> dict[str, Any]:
    rows = conn.execute(
        sa.select(contact_fields.c.name, contact_fields.c.value)
        .join(contacts, contacts.c.id == contact_fields.c.contact_id)
        .where(contacts.c.email == email)
    )
    return {name: value for name, value in rows}


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _run(row: Any, now: datetime) -> dict[str, Any]:
    started, finished = row.started_at, row.finished_at  # aware UTC, as the store reads
    return {
        "id": row.id,
        "job": row.job,
        "started_at": started,
        "finished_at": finished,
        # a run still going is as long as it has been going
        "duration_seconds": _seconds(started, finished or now),
        "outcome": row.outcome,
        "counts": row.counts or {},
        "error": row.error,
    }


def trigger_text(schedule: ScheduleConfig) -> str:
    if schedule.every is not None:
        text = f"every {duration_text(schedule.every.total_seconds())}"
    else:
        text = f"cron '{schedule.cron}'"
    if schedule.timezone:
        text += f" in {schedule.timezone}"
    if schedule.jitter:
        text += f", jitter {duration_text(schedule.jitter.total_seconds())}"
    return text


def status(
    conn: sa.Connection,
    *,
    now: datetime,
    schedules: Mapping[str, ScheduleConfig] | None = None,
    runs_per_schedule: int = 5,
    runs_limit: int = 10,
    quarantine_limit: int = 10,
) -> dict[str, Any]:
    """The store's state for ``syncd status``: each schedule's last runs (a schedule's runs
    carry its name), the other runs, cursors and their age at ``now``, the outbox backlog,
    held plans, failed changes and quarantine."""
    now = as_utc(now)
    schedules = schedules or {}
    last_ok = {
        job: started
        for job, started in conn.execute(
            sa.select(runs.c.job, sa.func.max(runs.c.started_at))
            .where(runs.c.job.in_(list(schedules)), runs.c.outcome == "ok")
            .group_by(runs.c.job)
        )
    }
    per_schedule = []
    for name, schedule in schedules.items():
        rows = conn.execute(
            sa.select(runs)
            .where(runs.c.job == name)
            .order_by(runs.c.started_at.desc(), runs.c.id)
            .limit(runs_per_schedule)
        )
        per_schedule.append(
            {
                "name": name,
                "run": schedule.run,
                "trigger": trigger_text(schedule),
                "connectors": schedule.connectors,
                "destinations": schedule.destinations,
                "last_ok": last_ok.get(name),
                "runs": [_run(r, now) for r in rows],
            }
        )
    one_shot = conn.execute(
        sa.select(runs)
        .where(runs.c.job.not_in(list(schedules)) if schedules else sa.true())
        .order_by(runs.c.started_at.desc(), runs.c.id)
        .limit(runs_limit)
    )
    recent = conn.execute(
        sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id).limit(runs_limit)
    )
    backlog = conn.execute(
        sa.select(
            outbox.c.destination,
            outbox.c.status,
            sa.func.count(),
            sa.func.sum(sa.case((live_claim(now), 1), else_=0)),
        )
        .where(outbox.c.status.in_(("pending", "held", "failed")))
        .group_by(outbox.c.destination, outbox.c.status)
        .order_by(outbox.c.destination, outbox.c.status)
    )
    held_rows = conn.execute(
        sa.select(outbox.c.destination, sa.func.count(), sa.func.min(outbox.c.updated_at))
        .where(outbox.c.status == "held")
        .group_by(outbox.c.destination)
        .order_by(outbox.c.destination)
    )
    why = held_plans(conn)
    held = []
    for destination, n, first in held_rows:
        kept = why.get(destination, {})
        since = kept.get("since")
        held.append(
            {
                "destination": destination,
                "changes": n,
                "since": as_utc(datetime.fromisoformat(since)) if since else first,
                "reason": kept.get("reason"),
            }
        )
    q_counts = conn.execute(
        sa.select(quarantine.c.connector, quarantine.c.stream, sa.func.count())
        .group_by(quarantine.c.connector, quarantine.c.stream)
        .order_by(quarantine.c.connector, quarantine.c.stream)
    )
    latest = conn.execute(
        sa.select(
            quarantine.c.connector,
            quarantine.c.stream,
            quarantine.c.reason,
            quarantine.c.created_at,
        )
        .order_by(quarantine.c.id.desc())
        .limit(quarantine_limit)
    )
    failed = conn.execute(
        sa.select(
            outbox.c.destination,
            outbox.c.kind,
            outbox.c.key,
            outbox.c.last_error,
            outbox.c.updated_at,
            contacts.c.email,
        )
        .join(contacts, contacts.c.id == outbox.c.contact_id)
        .where(outbox.c.status == "failed")
        .order_by(outbox.c.id.desc())
        .limit(quarantine_limit)
    )
    cursor_rows = conn.execute(cursors.select().order_by(cursors.c.connector, cursors.c.stream))
    return {
        "now": now,
        "schedules": per_schedule,
        "one_shot_runs": [_run(r, now) for r in one_shot],
        "runs": [_run(r, now) for r in recent],  # the last runs of any job, newest first
        "cursors": [
            {
                "connector": c.connector,
                "stream": c.stream,
                "value": c.value,
                "updated_at": c.updated_at,
                "age_seconds": _seconds(c.updated_at, now),
            }
            for c in cursor_rows
        ],
        "outbox": [
            {"destination": d, "status": s, "count": n, "claimed": int(c or 0)}
            for d, s, n, c in backlog
        ],
        "held": held,
        "failed_changes": [dict(r._mapping) for r in failed],
        "quarantine": {
            "counts": [{"connector": c, "stream": s, "count": n} for c, s, n in q_counts],
            "latest": [dict(r._mapping) for r in latest],
        },
    }


def segment_member_count(conn: sa.Connection, name: str) -> int:
    """How many contacts are in the segment now."""
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(segment_members.c.segment == name)
        ).scalar_one()
    )


def iter_segment_members(conn: sa.Connection, name: str) -> Iterator[dict[str, Any]]:
    """Every member of the segment by e-mail, read from the store in batches (a segment of a
    million members is not held in memory)."""
    rows = conn.execution_options(stream_results=True, yield_per=1_000).execute(
        sa.select(contacts.c.email, segment_members.c.since)
        .join(contacts, contacts.c.id == segment_members.c.contact_id)
        .where(segment_members.c.segment == name)
        .order_by(contacts.c.email)
    )
    for row in rows:
        yield dict(row._mapping)


def stored_as_of(conn: sa.Connection) -> datetime | None:
    """When the store last took in a page from any source, or None: the newest cursor, or
    the newest contact written, for a plan's pull stores its records and moves no cursor."""
    values = [
        conn.execute(sa.select(sa.func.max(cursors.c.updated_at))).scalar(),
        conn.execute(sa.select(sa.func.max(contacts.c.updated_at))).scalar(),
    ]
    known = [as_utc(v) for v in values if isinstance(v, datetime)]
    return max(known) if known else None
