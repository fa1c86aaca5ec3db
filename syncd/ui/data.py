"""What the status page reads from the store: segment sizes over time, runs, and the few
figures ``syncd status`` does not already gather (syncd.queries.status does the rest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.config import Config, ScheduleConfig
from syncd.store.schema import outbox, runs, segment_history, segments

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


def size_at(conn: sa.Connection, segment: str, at: datetime) -> int | None:
    """The segment's size at its last compute at or before ``at`` (None: not computed yet)."""
    h = segment_history.c
    found = conn.execute(
        sa.select(h.size).where(h.segment == segment, h.at <= at).order_by(h.at.desc()).limit(1)
    ).scalar()
    return None if found is None else int(found)


def daily_sizes(conn: sa.Connection, segment: str, since: datetime) -> list[tuple[date, int]]:
    """The last size of each day since ``since``: one point a day however often it computes.

    Each day's last compute is found in SQL (the greatest time per day), so a segment computed
    every five minutes sends a hundred rows for a hundred days, not thirty thousand."""
    h = segment_history.c
    day = sa.func.substr(sa.cast(h.at, sa.String), 1, 10)
    if conn.dialect.name == "postgresql":
        day = sa.func.to_char(sa.func.timezone("UTC", h.at), "YYYY-MM-DD")
    last = (
        sa.select(sa.func.max(h.at).label("at"))
        .where(h.segment == segment, h.at >= since)
        .group_by(day)
        .subquery()
    )
    rows = conn.execute(
        sa.select(h.at, h.size)
        .join(last, last.c.at == h.at)
        .where(h.segment == segment)
        .order_by(h.at)
    ).all()
    return [(as_utc(at).date(), int(size)) for at, size in rows]


def segment_rows(
    conn: sa.Connection, config: Config, now: datetime, days: int = 30
) -> list[SegmentRow]:
    """Every computed segment with its size, the size a day and a week before, its
    destinations and its daily sizes over ``days``."""
    where = destinations_of(config)
    stored = {
        r.name: r
        for r in conn.execute(sa.select(segments.c.name, segments.c.size, segments.c.computed_at))
    }
    out = []
    for name in sorted(set(config.segments) | set(stored)):
        row = stored.get(name)
        size = None if row is None else int(row.size)
        at = None if row is None else as_utc(row.computed_at)
        item = SegmentRow(name, size, at, destinations=where.get(name, []))
        if at is not None:
            item.day_ago = size_at(conn, name, at - DAY)
            item.week_ago = size_at(conn, name, at - 7 * DAY)
            item.daily = daily_sizes(conn, name, now - days * DAY)
        out.append(item)
    return out


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
    out = []
    for r in rows:
        end = r.finished_at or now
        out.append(
            {
                "id": r.id,
                "job": r.job,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "seconds": max(0.0, (end - r.started_at).total_seconds()),
                "outcome": r.outcome,
                "counts": r.counts or {},
                "error": r.error,
            }
        )
    return out


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
