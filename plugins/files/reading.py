"""Reading a JSONL or CSV file from where the last read stopped.

The cursor holds the byte offset read up to, the line number there and a digest of the file's
first bytes, so a file that was replaced or cut shorter is read again from the start (reading
again is harmless: contacts are upserts and events are keyed by their id).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import takewhile
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from syncd.connectors import Cursor, FatalError, Page, Stream, in_batches
from syncd_plugins.files.lines import FileLine

HEAD_BYTES = 256
# A CSV file's last row without its newline is read once the file has not changed for this
# long: until then it may still be being written (a CSV row cannot tell whether it is whole).
SETTLE_SECONDS = 2.0

Row = tuple[int, str, dict[str, Any] | str]  # line number, raw text, its keys or why none


class Position(BaseModel):
    """Where a read stopped: the cursor's bound."""

    offset: int = 0
    line: int = 0
    head: str = ""  # the digest of the first bytes read (at most HEAD_BYTES)


class FileStream(Stream):
    """The records of one file, each line validated by ``line``."""

    def __init__(self, name: str, path: Path, page_size: int, line: type[FileLine]) -> None:
        self.name = name  # type: ignore[misc]
        self.path, self.page_size, self.line = path, page_size, line

    def read(self, cursor: str | None) -> Iterator[Page]:
        if not self.path.exists():
            return
        bound = Cursor.load(cursor).bound
        start = Position.model_validate(bound) if isinstance(bound, dict) else Position()
        with fatal_os_errors(f"read the {self.name} file {self.path}"), self.path.open("rb") as f:
            # The head covers only bytes already read, so appending to a small file is not
            # mistaken for replacing it.
            def head(offset: int) -> str:
                return hashlib.sha1(os.pread(f.fileno(), min(offset, HEAD_BYTES), 0)).hexdigest()

            stat = os.fstat(f.fileno())
            if start.head and (stat.st_size < start.offset or head(start.offset) != start.head):
                start = Position()  # replaced or truncated: read it whole again
            if self.path.suffix.lower() == ".csv":
                rows = _csv(f, start, settled=time.time() - stat.st_mtime >= SETTLE_SECONDS)
            else:
                rows = _jsonl(f, start)
            for page in in_batches(((row, f.tell()) for row in rows), self.page_size):
                (number, _, _), offset = page[-1]
                bound = Position(offset=offset, line=number, head=head(offset)).model_dump()
                yield Page([self.line.parse(*row) for row, _ in page], Cursor(bound).dump())


@contextmanager
def fatal_os_errors(doing: str) -> Iterator[None]:
    """An OSError inside is one error line: cannot ``doing``: why."""
    try:
        yield
    except OSError as exc:
        raise FatalError(f"cannot {doing}: {exc.strerror or exc}") from None


def _lines(f: IO[bytes], whole: Callable[[bytes], bool]) -> Iterator[str]:
    """The lines from where ``f`` is; a last one without its newline may still be being
    written, so only when ``whole`` says it is complete."""
    lines = takewhile(lambda raw: raw.endswith(b"\n") or whole(raw), iter(f.readline, b""))
    return (raw.decode("utf-8", errors="replace") for raw in lines)


def _jsonl(f: IO[bytes], start: Position) -> Iterator[Row]:
    f.seek(start.offset)
    for number, text in enumerate(_lines(f, _is_json), start.line + 1):
        if text.strip():
            yield number, text.strip(), _json_object(text)


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _json_object(text: str) -> dict[str, Any] | str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON ({exc.msg})"
    return value if isinstance(value, dict) else "a record must be a JSON object"


def _csv(f: IO[bytes], start: Position, *, settled: bool) -> Iterator[Row]:
    """The rows after the header; a row's line number counts the header as line 1."""
    header = next(csv.reader([f.readline().decode("utf-8-sig", errors="replace")]), [])
    header = [name.strip() for name in header]
    f.seek(max(start.offset, f.tell()))
    last = [""]  # the text of the row being read, for a row the reader refuses

    def lines() -> Iterator[str]:
        for line in _lines(f, lambda _: settled):
            last[0] = line
            yield line

    text, number = lines(), max(start.line, 1)
    while True:
        rows = csv.reader(text)
        try:
            for row in rows:
                number += 1
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    yield number, ",".join(row), f"{len(row)} columns, the header has {len(header)}"
                else:
                    yield number, ",".join(row), dict(zip(header, row, strict=True))
            return
        except csv.Error as exc:  # a cell over csv.field_size_limit(): that row only
            number += 1
            yield number, last[0].rstrip("\r\n"), f"unreadable CSV row ({exc})"
