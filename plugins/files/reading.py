"""Incremental reading of JSONL and CSV files from a byte-offset cursor.

The cursor remembers the offset read up to and a digest of the file's first bytes, so a file
that was replaced or truncated is read again from the start (reading again is harmless:
contacts are upserts and events are keyed by their id).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.connectors import Cursor

HEAD_BYTES = 256
# A CSV file's last row without its newline is read once the file has not changed for this
# long: until then it may still be being written (a CSV row cannot tell whether it is whole).
SETTLE_SECONDS = 2.0


@dataclass
class Line:
    """One record of a file: its number, its parsed value or the reason it could not be read."""

    number: int
    value: dict[str, Any] | None
    error: str | None
    raw: str


@dataclass
class FileCursor:
    offset: int = 0
    line: int = 0
    head: str = ""

    def dump(self) -> str:
        """The kit's cursor whose bound is this position."""
        return Cursor({"offset": self.offset, "line": self.line, "head": self.head}).dump()

    @classmethod
    def load(cls, text: str | None) -> FileCursor:
        bound = Cursor.load(text).bound
        if not isinstance(bound, dict):
            return cls()
        return cls(int(bound["offset"]), int(bound["line"]), str(bound["head"]))


def _head(path: Path, length: int) -> str:
    """A digest of the file's first ``length`` bytes (at most HEAD_BYTES)."""
    with path.open("rb") as f:
        return hashlib.sha1(f.read(min(length, HEAD_BYTES))).hexdigest()


def read_from(
    path: Path, cursor: FileCursor, page_size: int
) -> Iterator[tuple[list[Line], FileCursor]]:
    """Yield pages of lines after ``cursor``, each with the cursor just past them."""
    if not path.exists():
        return
    size = path.stat().st_size
    # The head covers only bytes already read, so appending to a small file is not
    # mistaken for replacing it.
    if cursor.head and (size < cursor.offset or _head(path, cursor.offset) != cursor.head):
        cursor = FileCursor()  # replaced or truncated: read it whole again
    if cursor.offset >= size and cursor.head:
        return
    reader = _csv_lines if path.suffix.lower() == ".csv" else _jsonl_lines
    page: list[Line] = []
    offset, number = cursor.offset, cursor.line
    for line, end_offset in reader(path, cursor):
        page.append(line)
        offset, number = end_offset, line.number
        if len(page) >= page_size:
            yield page, FileCursor(offset, number, _head(path, offset))
            page = []
    if page:
        yield page, FileCursor(offset, number, _head(path, offset))


def _jsonl_lines(path: Path, start: FileCursor) -> Iterator[tuple[Line, int]]:
    with path.open("rb") as f:
        f.seek(start.offset)
        offset, number = start.offset, start.line
        for raw in f:
            complete = raw.endswith(b"\n")
            text = raw.decode("utf-8", errors="replace").strip()
            if not complete:
                # a last line without its newline may still be being written
                try:
                    json.loads(text)
                except ValueError:
                    return
            offset += len(raw)
            number += 1
            if not text:
                continue
            yield _parse_json(number, text), offset


def _parse_json(number: int, text: str) -> Line:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Line(number, None, f"line {number}: invalid JSON ({exc.msg})", text)
    if not isinstance(value, dict):
        return Line(number, None, f"line {number}: a record must be a JSON object", text)
    return Line(number, value, None, text)


class _CountingLines:
    """Feeds csv.reader one line at a time while counting the bytes it took; a last line
    without its newline is fed only when ``settled`` (the file is no longer being written)."""

    def __init__(self, f: io.BufferedReader, *, settled: bool) -> None:
        self.f = f
        self.settled = settled
        self.consumed = 0

    def __iter__(self) -> _CountingLines:
        return self

    def __next__(self) -> str:
        raw = self.f.readline()
        if not raw or (not raw.endswith(b"\n") and not self.settled):
            raise StopIteration
        self.consumed += len(raw)
        return raw.decode("utf-8", errors="replace")


def _csv_lines(path: Path, start: FileCursor) -> Iterator[tuple[Line, int]]:
    with path.open("rb") as f:
        header_raw = f.readline()
        header = next(csv.reader([header_raw.decode("utf-8-sig", errors="replace")]), [])
        header = [h.strip() for h in header]
        offset = max(start.offset, len(header_raw))
        number = max(start.line, 1)
        f.seek(offset)
        settled = time.time() - path.stat().st_mtime >= SETTLE_SECONDS
        lines = _CountingLines(f, settled=settled)
        for row in csv.reader(lines):
            number += 1
            end = offset + lines.consumed
            raw = ",".join(row)
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield (
                    Line(
                        number,
                        None,
                        f"line {number}: {len(row)} columns, the header has {len(header)}",
                        raw,
                    ),
                    end,
                )
                continue
            yield Line(number, dict(zip(header, row, strict=True)), None, raw), end
