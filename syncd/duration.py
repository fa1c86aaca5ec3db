"""Durations as people write them in the config (``90s``, ``15m``, ``6h``, ``30d``, ``2w``),
and as syncd writes them for people."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,9})?)\s*([smhdw])\s*$")
# a century: longer than any window or interval that means something, and far inside what
# date arithmetic takes (a time a few thousand days beyond year 9999 overflows)
LONGEST = timedelta(days=36500)


def parse_duration(text: object) -> timedelta:
    """``"30d"`` → 30 days; raise ValueError saying what is expected."""
    match = _DURATION.match(str(text)) if isinstance(text, str | int) else None
    shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:37] + "..."
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"bad duration {shown}: write a positive number and one of s, m, h, d, w (e.g. 30d)"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"duration {shown} is longer than a century ({LONGEST.days}d)")
    return timedelta(seconds=seconds)


def as_duration(value: Any) -> Any:
    """A config value as a duration: a timedelta as it is, anything else read by
    ``parse_duration``."""
    return value if isinstance(value, timedelta) else parse_duration(value)


def as_optional_duration(value: Any) -> Any:
    """``as_duration``, with None (the setting left out) kept."""
    return None if value is None else as_duration(value)


# a config setting written as people write a duration (``30d``)
Duration = Annotated[timedelta, BeforeValidator(as_duration)]
OptionalDuration = Annotated[timedelta | None, BeforeValidator(as_optional_duration)]


def duration_text(seconds: float) -> str:
    """``4.2s``, ``42s``, ``15m``, ``3h 5m``, ``2d 4h``: a length of time for people."""
    if seconds < 0:
        return "-" + duration_text(-seconds)
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    whole = round(seconds)
    units = (("d", 86400), ("h", 3600), ("m", 60))
    for i, (unit, size) in enumerate(units):
        if whole >= size:
            next_unit, next_size = units[i + 1] if i + 1 < len(units) else ("s", 1)
            rest = (whole % size) // next_size
            return f"{whole // size}{unit}" + (f" {rest}{next_unit}" if rest else "")
    return f"{whole}s"
