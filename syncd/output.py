"""Output for people (aligned tables) and for scripts (JSON)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TextIO

from syncd.secrets import redact


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def emit_json(data: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(
        redact(json.dumps(data, indent=2, default=_default, sort_keys=False)) + "\n"
    )


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None) -> None:
    """An aligned table; '-' stands for nothing."""
    out = out or sys.stdout
    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    out.write(
        "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n"
    )
    for row in text:
        out.write(
            redact("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()) + "\n"
        )
    if not rows:
        out.write("(none)\n")


def say(text: str = "", out: TextIO | None = None) -> None:
    (out or sys.stdout).write(redact(text) + "\n")
