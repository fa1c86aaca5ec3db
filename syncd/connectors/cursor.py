"""The one cursor model: where a stream's next read starts, stored with the page it covers.

A cursor is JSON with a version. Between reads it holds ``bound``, the newest cursor value a
finished read covered, and ``seen``: the records (key → cursor value) read at or within the
lookback of that bound, the tie-break of records that share a value. When the bound is a
record's own value (``exact``), every record at it was read, so the next read asks the vendor
for what is strictly after it where the vendor can say so (``RestStream.after``): a read with
nothing new gets no row. Otherwise (the bound is the time a read began, for a read that pages
in another order than its cursor, or a window's end; or a cursor of an earlier syncd) it asks
from ``bound`` less the lookback, inclusively, and the records in ``seen`` whose value has not
moved are dropped: a read with nothing new yields nothing. While a read is under way, each
page's cursor also holds the next page's request (``resume``) and what the read has seen so
far, so a crash at any page resumes at the next.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from syncd.clock import as_utc, parse_time
from syncd.errors import FatalError

VERSION = 1
CursorType = Literal["datetime", "ms", "int", "text"]
SEEN_LIMIT = 5_000  # keys kept for the lookback window; past it only exact ties are kept
# How far ahead of syncd's clock a record's time may move a cursor: a vendor's clock a little
# ahead is fine, a record dated next year (or 9999) must not put the bound past everything
# the vendor will ever write (docs/reliability.md § Cursors and far-future times).
FUTURE_SKEW = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CursorError(FatalError):
    """A stored cursor this syncd cannot read."""


@dataclass(frozen=True)
class Cursor:
    """One stream's position; see the module."""

    bound: Any = None
    seen: dict[str, Any] = field(default_factory=dict)
    # a read under way: the next page's request, the bound it started from, what it has seen
    resume: dict[str, Any] | None = None
    start: Any = None
    high: Any = None
    high_seen: dict[str, Any] = field(default_factory=dict)
    # the stream's own note of where the last read ended (an offset), to seek from next time
    hint: Any = None
    # the bound is a record's own value and every record at it was read (not the time a read
    # began: a record may carry that very time and not have been read)
    exact: bool = False

    def restarted(self) -> Cursor:
        """This read under way started again from its first page, what it read counted as
        seen (dropped when it is read again unchanged)."""
        seen = {**self.seen, **self.high_seen}
        return replace(self, resume=None, start=None, high=None, high_seen={}, seen=seen)

    def dump(self) -> str:
        data: dict[str, Any] = {"v": VERSION, "bound": self.bound}
        if self.seen:
            data["seen"] = self.seen
        if self.exact:
            data["exact"] = True
        if self.hint is not None:
            data["hint"] = self.hint
        if self.resume is not None:
            data.update(
                resume=self.resume, start=self.start, high=self.high, high_seen=self.high_seen
            )
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> Cursor:
        """The cursor stored as ``text``; an empty one for None."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise CursorError(
                f"a stored cursor is not in this syncd's shape (version {VERSION}): "
                f"{text[:80]!r}; remove the stream's row from the store's cursors table "
                "to read the stream again from the start"
            )
        return cls(
            bound=data.get("bound"),
            seen=dict(data.get("seen") or {}),
            resume=data.get("resume"),
            start=data.get("start"),
            high=data.get("high"),
            high_seen=dict(data.get("high_seen") or {}),
            hint=data.get("hint"),
            exact=bool(data.get("exact")),
        )

    @property
    def reading(self) -> bool:
        """A read was under way when this cursor was stored."""
        return self.resume is not None


@dataclass(frozen=True)
class CursorField:
    """How a stream's records carry their cursor value, and how values compare and step back."""

    type: CursorType = "datetime"
    lookback: float = 0.0  # seconds for times, units for numbers
    step: float | None = None  # for times: the vendor's resolution in seconds, when known

    def value(self, raw: Any) -> Any:
        """A record's raw cursor value in the stored form, or None when it has none."""
        if raw is None or raw == "":
            return None
        if self.type == "datetime":
            at = raw if isinstance(raw, datetime) else parse_time(str(raw))
            return as_utc(at).isoformat() if at is not None else None
        if self.type in ("ms", "int"):
            try:
                return int(float(raw))
            except (TypeError, ValueError):
                pass
            # a vendor that filters by epoch milliseconds may write a record's time as text
            at = raw if isinstance(raw, datetime) else parse_time(str(raw))
            if self.type == "ms" and at is not None:
                return (as_utc(at) - EPOCH) // timedelta(milliseconds=1)
            return None
        return str(raw)

    def key(self, value: Any) -> Any:
        """What ``value`` sorts by."""
        if self.type == "datetime":
            return parse_time(value)
        return value

    def following(self, value: Any) -> Any:
        """The first value strictly after ``value`` at the vendor's resolution; None when
        it is not known."""
        if self.type in ("ms", "int") and isinstance(value, int):
            return value + 1
        if self.type == "datetime" and self.step and (at := parse_time(value)) is not None:
            return as_utc(at + timedelta(seconds=self.step)).isoformat()
        return None

    def began(self, now: datetime) -> Any:
        """A read's start as a bound: the whole second before ``now``'s, so a record with a
        time before it (at a vendor's resolution of a second or finer) changed before the
        read began."""
        return self.value(now.replace(microsecond=0) - timedelta(seconds=1))

    def ceiling(self, now: datetime) -> Any:
        """The latest bound a read may move to: ``now`` plus the skew allowed a vendor's clock
        (None for values that are not times). A record past it is kept, and the bound stops
        at the ceiling, held (not exact): the next read asks from there again and drops the
        record as read, until time catches up with it."""
        return self.value(now + FUTURE_SKEW) if self.timed else None

    @property
    def timed(self) -> bool:
        """Whether the values are times (a read's start or a window's end can bound them)."""
        return self.type in ("datetime", "ms")

    def later(self, a: Any, b: Any) -> bool:
        """``a`` is after ``b`` (None is before everything)."""
        if a is None:
            return False
        return b is None or self.key(a) > self.key(b)

    def back(self, value: Any) -> Any:
        """``value`` less the lookback: where a read asks from."""
        if value is None or not self.lookback:
            return value
        if self.type == "datetime":
            at = parse_time(value)
            return (at - timedelta(seconds=self.lookback)).isoformat() if at else value
        if self.type == "ms":
            return int(value) - int(self.lookback * 1000)
        if self.type == "int":
            return int(value) - int(self.lookback)
        return value


@dataclass
class ReadState:
    """What one read tracks: the bound it started from, the newest value and the records at
    or near it, and the records seen last time to drop when read again unchanged."""

    spec: CursorField
    cursor: Cursor
    start: Any = None
    high: Any = None
    high_seen: dict[str, Any] = field(default_factory=dict)
    held: bool = False  # ``high`` is the time the read began, not a record's value

    @classmethod
    def begin(cls, spec: CursorField, cursor: Cursor) -> ReadState:
        held = not cursor.exact  # while reading, ``exact`` says it of ``high``
        if cursor.reading:
            return cls(spec, cursor, cursor.start, cursor.high, dict(cursor.high_seen), held)
        return cls(spec, cursor, cursor.bound, cursor.bound, dict(cursor.seen), held)

    @property
    def exact(self) -> bool:
        """The read starts from a record's own value with no lookback: every record at it was
        read, so the vendor may be asked for what is strictly after it."""
        return (
            self.start is not None
            and self.cursor.exact
            and not self.cursor.reading
            and not self.spec.lookback
        )

    @functools.cached_property
    def ask_from(self) -> Any:
        """The lower bound the read asks the vendor for (inclusive); ``start`` is fixed for
        the read, so it is worked out once."""
        return self.spec.back(self.start)

    def is_new(self, key: str, value: Any) -> bool:
        """Whether a record read now is news: not before the bound asked for, and not the
        same record at the same value as read last time."""
        if value is None:
            return True
        floor = self.ask_from
        if floor is not None and self.spec.later(floor, value):
            return False
        return not self.known(key, value)

    def known(self, key: str, value: Any) -> bool:
        """The record was read before at this very value."""
        return self.cursor.seen.get(key) == value or self.high_seen.get(key) == value

    def note(self, key: str, value: Any) -> None:
        """Remember a record a window read without moving the window's end."""
        if value is not None and len(self.high_seen) < SEEN_LIMIT:
            self.high_seen[key] = value

    def saw(self, key: str, value: Any, cap: Any = None) -> None:
        """Note a record read at ``value``; the bound moves to it, or no later than ``cap``
        (the time the read began), while the record is remembered at its own value."""
        if value is None:
            return
        capped = cap is not None and not self.spec.later(cap, value)
        at = cap if capped else value
        if self.spec.later(at, self.high):
            self.high, self.held = at, capped
            floor = self.spec.back(at)
            self.high_seen = {
                k: v for k, v in self.high_seen.items() if not self.spec.later(floor, v)
            }
        near = not self.spec.later(self.spec.back(self.high), value)
        if near and (len(self.high_seen) < SEEN_LIMIT or value == self.high):
            self.high_seen[key] = value

    def during(self, resume: dict[str, Any]) -> Cursor:
        """The cursor of a page with more to come."""
        return replace(
            self.cursor,
            resume=resume,
            start=self.start,
            high=self.high,
            high_seen=dict(self.high_seen),
            exact=not self.held,
        )

    def done(self, hint: Any = None, began: Any = None) -> Cursor:
        """The cursor of the last page: the newest value read becomes the bound; for a read
        whose bound is held at its start (``began``), that start when the read moved it no
        further: the read covered everything before it."""
        if self.held and began is not None and self.spec.later(began, self.high):
            self.high = began
        if self.high is None:
            return Cursor(self.start, dict(self.cursor.seen), hint=hint)
        if self.high == self.cursor.bound:
            seen = dict(self.cursor.seen)
        else:  # still known: a record read past the new bound (one dated in the future)
            seen = {k: v for k, v in self.cursor.seen.items() if self.spec.later(v, self.high)}
        seen.update(self.high_seen)
        floor = self.spec.back(self.high)
        kept = {k: v for k, v in seen.items() if not self.spec.later(floor, v)}
        return Cursor(self.high, kept, hint=hint, exact=not self.held)
