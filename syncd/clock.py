"""The one clock of syncd: every time-window rule reads the time from here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC, with its time zone."""
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock stopped at ``at`` (for tests and reproducible plans)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return lambda: at
