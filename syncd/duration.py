"""Durations as people write them in the config: ``90s``, ``15m``, ``6h``, ``30d``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: object) -> timedelta:
    """``"30d"`` → 30 days; raise ValueError saying what is expected."""
    match = _DURATION.match(str(text)) if isinstance(text, str | int) else None
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"bad duration {text!r}: write a positive number and one of s, m, h, d, w (e.g. 30d)"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
