"""Dates that recur (``anniversary:``, ``birthday:``) and ages (``age:``), compiled to
conditions on a stored time that run alike on SQLite and PostgreSQL.

The window of days is known when the rule is compiled (the cycle's ``now``), so a recurring
date becomes "its month and day is one of these", and an age "born on or before this day":
no date arithmetic in SQL. A 29 February recurs on 28 February in a year without one.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from syncd.segments import sqlfuncs
from syncd.segments.rules import Compare

Condition = ColumnElement[bool]
DAY = timedelta(days=1)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def window(test: Compare, now: datetime) -> tuple[date, date]:
    """The first and last day (UTC) of a ``within_next`` or ``within`` window."""
    today = now.astimezone(UTC).date()
    if test.op == "within_next":
        return today, (now + test.value).astimezone(UTC).date()
    return (now - test.value).astimezone(UTC).date(), today


def month_days(first: date, last: date) -> list[str] | None:
    """The ``MMDD`` of the days from ``first`` to ``last`` that a date recurs on (29
    February on 28 February of a common year); None for a year or more: every day."""
    if (last - first).days >= 365:
        return None
    out: set[str] = set()
    day = first
    while day <= last:
        out.add(f"{day.month:02d}{day.day:02d}")
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            out.add("0229")
        day += DAY
    return sorted(out)


def recurs(ts: Any, test: Compare, now: datetime) -> Condition:
    """The date ``ts`` recurs (one year on at least) on a day of the window."""
    first, last = window(test, now)
    days = month_days(first, last)
    if days is None:
        # a year or more: every day recurs in the window, so a date's anniversaries do once
        # the first of them (one year on) is no later than its last day; a date inside the
        # window has one at its end (placed a year before the last day: its anniversary is
        # that day)
        return ts < midnight(years_before(last, 1) + DAY)
    before = ts < midnight(first)  # the date itself is no anniversary; a later one is
    return sa.and_(before, sqlfuncs.month_day(ts).in_(days))


def years_before(today: date, years: int) -> date:
    """The last birth date that is ``years`` old today (29 February ages on 28 February in a
    common year, as it recurs)."""
    year = today.year - years
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        return date(year, 2, 29) if calendar.isleap(year) else date(year, 2, 28)
    if (today.month, today.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, today.month, today.day)


def aged(ts: Any, tests: tuple[Compare, ...], now: datetime) -> Condition:
    """Whole years since ``ts`` pass every test (``ts`` present)."""
    today = now.astimezone(UTC).date()

    def at_least(years: int) -> Condition:
        if years <= 0:
            return ts < midnight(today + DAY) if years == 0 else sa.true()
        if years >= today.year:  # born before year 1: no one
            return sa.false()
        return ts < midnight(years_before(today, years) + DAY)

    parts: list[Condition] = [ts.is_not(None)]
    for test in tests:
        n = int(test.value)
        if test.op == "gte":
            parts.append(at_least(n))
        elif test.op == "gt":
            parts.append(at_least(n + 1))
        elif test.op == "lt":
            parts.append(sa.not_(at_least(n)))
        elif test.op == "lte":
            parts.append(sa.not_(at_least(n + 1)))
        elif test.op == "eq":
            parts += [at_least(n), sa.not_(at_least(n + 1))]
        else:  # ne
            parts.append(sa.or_(sa.not_(at_least(n)), at_least(n + 1)))
    return sa.and_(*parts)
