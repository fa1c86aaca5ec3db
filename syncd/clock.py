"""The one clock of syncd: every time-window rule reads the time from here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC, with its time zone."""
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """``at`` as an aware UTC time; a time without a zone is taken as UTC."""
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock stopped at ``at`` (for tests and reproducible plans)."""
    at = as_utc(at)
    return lambda: at


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as vendors write it (``Z`` or an offset; none is taken as UTC) as an
    aware UTC datetime, or None when ``value`` is empty or not such a time."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(at)


def epoch_time(value: Any, unit: Literal["s", "ms"] = "s") -> datetime | None:
    """A Unix time in seconds (milliseconds with ``unit="ms"``), as a number or its text, as
    an aware UTC datetime; None when ``value`` is empty or not such a time."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(float(value) / (1000 if unit == "ms" else 1), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
