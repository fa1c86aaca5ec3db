"""Output for people (tables drawn by rich, as wide as the terminal) and for scripts (JSON).

Every line goes through :func:`syncd.secrets.redact`. On a terminal a table fits its width
(long cells wrap inside their column); into a pipe or a file it is never wrapped, so scripts
and ``grep`` see one row a line."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from syncd.secrets import redact

UNWRAPPED = 100_000  # the width a table may take when nobody reads it on a terminal


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


def width_of(out: TextIO) -> int:
    """The terminal's width when ``out`` is one ($COLUMNS first), else no limit."""
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty:
        return UNWRAPPED
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size().columns


WORD = 12  # a word in a cell up to this long is not broken across lines


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> str:
    """The table as text: upper-case headings, columns two spaces apart, '-' for nothing.
    Headings and short words are never broken: when the columns cannot each be given their
    heading's width and their longest word's (up to ``WORD``), each row is printed as a
    record instead (a heading and its value a line, rows a blank line apart); else longer
    values fold within their columns."""
    names = [h.upper() for h in headers]
    texts = [[redact(cell(v)) for v in row] for row in rows]
    if width >= UNWRAPPED:
        least = [len(name) for name in names]
    else:
        least = [
            max([len(name)] + [min(WORD, len(w)) for row in texts for w in row[i].split()])
            for i, name in enumerate(names)
        ]
        if sum(least) + 2 * (len(names) - 1) >= width:
            return _records(names, texts, width)
    grid = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, expand=False)
    for name, at_least in zip(names, least, strict=True):
        grid.add_column(Text(name), overflow="fold", no_wrap=width >= UNWRAPPED, min_width=at_least)
    for row in texts:
        grid.add_row(*(Text(value) for value in row))
    return _printed(grid, width)


def _records(names: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> str:
    grid = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, expand=False,
                 show_header=False)  # fmt: skip
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for i, row in enumerate(rows):
        if i:
            grid.add_row("", "")
        for name, value in zip(names, row, strict=False):
            grid.add_row(Text(name), Text(value))
    return _printed(grid, width)


def _printed(grid: Table, width: int) -> str:
    buffer = io.StringIO()
    Console(
        file=buffer,
        width=width,
        color_system=None,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
        legacy_windows=False,
    ).print(grid)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None) -> None:
    """An aligned table as wide as the terminal; '-' stands for nothing."""
    out = out or sys.stdout
    out.write(render_table(headers, rows, width_of(out)))
    if not rows:
        out.write("(none)\n")


def say(text: str = "", out: TextIO | None = None) -> None:
    (out or sys.stdout).write(redact(text) + "\n")
