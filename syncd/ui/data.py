"""What the status page reads from the store: segment sizes over time, runs, and the few
figures ``syncd status`` does not already gather (syncd.queries.status does the rest)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.config import Config, ScheduleConfig
from syncd.store.schema import (
    contacts,
    outbox,
    quarantine,
    runs,
    segment_history,
    segment_members,
    segments,
)

DAY = timedelta(days=1)


@dataclass
class SegmentRow:
    name: str
    size: int | None
    computed_at: datetime | None
    day_ago: int | None = None  # the size a day before the latest compute
    week_ago: int | None = None
    destinations: list[str] = field(default_factory=list)
    daily: list[tuple[date, int]] = field(default_factory=list)  # the last size of each day


def destinations_of(config: Config) -> dict[str, list[str]]:
    """segment -> the destinations that receive it, as ``instance: tag X`` / ``list Y``."""
    out: dict[str, list[str]] = {}
    for dest in config.destinations:
        for segment, tag in dest.tags.items():
            out.setdefault(segment, []).append(f"{dest.connector}: tag {tag}")
        for segment, name in dest.lists.items():
            out.setdefault(segment, []).append(f"{dest.connector}: list {name}")
    return out


def daily_sizes(
    conn: sa.Connection, since: datetime, segment: str | None = None
) -> dict[str, list[tuple[date, int]]]:
    """segment -> its last size of each day since ``since``, oldest first: one point a day
    however often it computes, for every segment (or one) in one statement.

    SQLite returns the other columns of the row that holds ``max()``; PostgreSQL keeps the
    first row of each day with DISTINCT ON."""
    h = segment_history.c
    where = [h.at >= since] + ([h.segment == segment] if segment is not None else [])
    if conn.dialect.name == "postgresql":
        day = sa.func.date(sa.func.timezone("UTC", h.at))
        stmt = sa.select(h.segment, h.at, h.size).where(*where)
        stmt = _distinct_on(stmt, h.segment, day).order_by(h.segment, day, h.at.desc())
        rows = [(seg, at, size) for seg, at, size in conn.execute(stmt)]
    else:
        day = sa.func.substr(h.at, 1, 10)
        stmt = (
            sa.select(h.segment, sa.func.max(h.at), h.size).where(*where).group_by(h.segment, day)
        )
        rows = [(seg, at, size) for seg, at, size in conn.execute(stmt)]
    out: dict[str, list[tuple[date, int]]] = {}
    for seg, at, size in sorted(rows, key=lambda r: (r[0], str(r[1]))):
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        out.setdefault(str(seg), []).append((as_utc(when).date(), int(size)))
    return out


def _distinct_on(stmt: Any, *columns: Any) -> Any:
    """DISTINCT ON: SQLAlchemy 2.1's extension, or 2.0's ``distinct(*columns)``."""
    try:
        from sqlalchemy.dialects.postgresql import distinct_on
    except ImportError:
        return stmt.distinct(*columns)
    return stmt.ext(distinct_on(*columns))


def segment_rows(
    conn: sa.Connection, config: Config, now: datetime, days: int = 30
) -> list[SegmentRow]:
    """Every segment with its size, its size at the end of the day and of the week before
    its last compute, its destinations and its daily sizes over ``days``."""
    where = destinations_of(config)
    stored = {
        r.name: r
        for r in conn.execute(sa.select(segments.c.name, segments.c.size, segments.c.computed_at))
    }
    daily = daily_sizes(conn, now - days * DAY)
    out = []
    for name in sorted(set(config.segments) | set(stored)):
        row = stored.get(name)
        size = None if row is None else int(row.size)
        at = None if row is None else as_utc(row.computed_at)
        item = SegmentRow(name, size, at, destinations=where.get(name, []))
        if at is not None:
            item.daily = daily.get(name, [])
            # the size at the end of the day before, and of the day a week before, the last
            # compute's day: read from the daily points, no query more per segment
            item.day_ago = _as_of(item.daily, at.date() - DAY)
            item.week_ago = _as_of(item.daily, at.date() - 7 * DAY)
        out.append(item)
    return out


def sample(conn: sa.Connection, segment: str, limit: int) -> list[dict[str, Any]]:
    """A few members, the first by contact id: read from the members' primary key, never a
    sort of a large segment's e-mails."""
    first = (
        sa.select(segment_members.c.contact_id, segment_members.c.since)
        .where(segment_members.c.segment == segment)
        .order_by(segment_members.c.contact_id)
        .limit(limit)
        .subquery()
    )
    rows = conn.execute(
        sa.select(contacts.c.id, contacts.c.email, first.c.since)
        .join(first, first.c.contact_id == contacts.c.id)
        .order_by(contacts.c.id)
    )
    return [dict(r._mapping) for r in rows]


def stored_size(conn: sa.Connection, segment: str) -> int | None:
    found = conn.execute(sa.select(segments.c.size).where(segments.c.name == segment)).scalar()
    return None if found is None else int(found)


def _as_of(daily: list[tuple[date, int]], day: date) -> int | None:
    """The last daily size on or before ``day`` (None: no compute by then)."""
    found = None
    for point, size in daily:
        if point > day:
            break
        found = size
    return found


def history_of(conn: sa.Connection, segment: str, since: datetime) -> list[dict[str, Any]]:
    """The segment's computes since ``since`` with members added and removed, oldest first."""
    h = segment_history.c
    rows = conn.execute(
        sa.select(h.at, h.size, h.added, h.removed)
        .where(h.segment == segment, h.at >= since)
        .order_by(h.at)
    )
    return [dict(r._mapping) for r in rows]


def recent_runs(conn: sa.Connection, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
    """The last ``limit`` runs of any job, newest first, with their duration."""
    rows = conn.execute(sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id).limit(limit))
    return [_run(r, now) for r in rows]


def held_removals(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """destination -> change kind -> how many held changes of that kind (what a release
    would remove shows as remove_tag and unsubscribe)."""
    rows = conn.execute(
        sa.select(outbox.c.destination, outbox.c.kind, sa.func.count())
        .where(outbox.c.status == "held")
        .group_by(outbox.c.destination, outbox.c.kind)
    )
    out: dict[str, dict[str, int]] = {}
    for destination, kind, n in rows:
        out.setdefault(str(destination), {})[str(kind)] = int(n)
    return out


def next_runs(
    schedules: dict[str, ScheduleConfig], last_started: dict[str, datetime | None], now: datetime
) -> dict[str, datetime | None]:
    """When each schedule fires next after ``now``: ``every:`` from its last start (or now),
    ``cron:`` from its crontab, as the daemon's scheduler would see it."""
    from syncd.daemon.scheduler import trigger

    out: dict[str, datetime | None] = {}
    for name, schedule in schedules.items():
        if schedule.every is not None:
            last = last_started.get(name)
            out[name] = max(now, last + schedule.every) if last else now
            continue
        try:
            fire = trigger(schedule).get_next_fire_time(None, now)
        except Exception:  # a trigger the scheduler would refuse is the config check's to say
            fire = None
        out[name] = as_utc(fire) if fire is not None else None
    return out


def mask_email(email: str) -> str:
    """``jane@example.com`` → ``j***@example.com``."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")


def mask_emails_in(text: str) -> str:
    """``text`` with every address in it masked: a vendor's error or a quarantine reason
    may quote the address it was about."""
    return EMAIL.sub(lambda m: mask_email(m.group(0)), text)


def email_of(conn: sa.Connection, contact_id: int) -> str | None:
    found = conn.execute(sa.select(contacts.c.email).where(contacts.c.id == contact_id)).scalar()
    return None if found is None else str(found)


def schedule_runs(
    conn: sa.Connection, schedules: dict[str, ScheduleConfig], now: datetime
) -> dict[str, dict[str, Any] | None]:
    """Each schedule's last run (a schedule's runs carry its name as their job)."""
    out: dict[str, dict[str, Any] | None] = {}
    for name in schedules:
        row = conn.execute(
            sa.select(runs).where(runs.c.job == name).order_by(runs.c.started_at.desc()).limit(1)
        ).first()
        out[name] = None if row is None else _run(row, now)
    return out


def _run(r: Any, now: datetime) -> dict[str, Any]:
    end = r.finished_at or now  # a run still going is as long as it has been going
    return {
        "id": r.id,
        "job": r.job,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "seconds": max(0.0, (end - r.started_at).total_seconds()),
        "outcome": r.outcome,
        "counts": r.counts or {},
        "error": r.error,
    }


def backlog(conn: sa.Connection) -> list[dict[str, Any]]:
    """Per destination and status, the changes pending, held and failed for good."""
    rows = conn.execute(
        sa.select(outbox.c.destination, outbox.c.status, sa.func.count())
        .where(outbox.c.status.in_(("pending", "held", "failed")))
        .group_by(outbox.c.destination, outbox.c.status)
        .order_by(outbox.c.destination, outbox.c.status)
    )
    return [{"destination": d, "status": s, "count": int(n)} for d, s, n in rows]


def last_failures(conn: sa.Connection) -> dict[str, str]:
    """destination -> the reason of its latest change failed for good."""
    out: dict[str, str] = {}
    for destination in conn.execute(
        sa.select(outbox.c.destination).where(outbox.c.status == "failed").distinct()
    ).scalars():
        reason = conn.execute(
            sa.select(outbox.c.last_error)
            .where(outbox.c.status == "failed", outbox.c.destination == destination)
            .order_by(outbox.c.updated_at.desc())
            .limit(1)
        ).scalar()
        out[str(destination)] = str(reason or "")
    return out


def quarantine_counts(conn: sa.Connection, latest: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Quarantined records per instance and stream, and the latest with their reasons."""
    q = quarantine.c
    counts = conn.execute(
        sa.select(q.connector, q.stream, sa.func.count())
        .group_by(q.connector, q.stream)
        .order_by(q.connector, q.stream)
    )
    recent = conn.execute(
        sa.select(q.connector, q.stream, q.reason, q.created_at).order_by(q.id.desc()).limit(latest)
    )
    return {
        "counts": [{"connector": c, "stream": s, "count": int(n)} for c, s, n in counts],
        "latest": [dict(r._mapping) for r in recent],
    }
