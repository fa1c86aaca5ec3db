"""The one cursor model: where a stream's next read starts, stored with the page it covers.

A cursor is JSON with a version. Between reads it holds ``bound``, the newest cursor value a
finished read covered, and ``seen``: the records (key → cursor value) read at or within the
lookback of that bound, the tie-break of records that share a value (``SeenKeys``: grouped by
value, ids as runs, so thousands of records at one value cost a few bytes). When the bound is a
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
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from syncd.clock import as_utc, parse_time
from syncd.errors import FatalError

VERSION = 2  # 2: seen keys grouped by value, ids as runs (1: a dict key → value)
CursorType = Literal["datetime", "ms", "int", "text"]
SEEN_LIMIT = 5_000  # entries (SeenKeys.entries) kept for the lookback; past it only exact ties
# How far ahead of syncd's clock a record's time may move a cursor: a vendor's clock a little
# ahead is fine, a record dated next year (or 9999) must not put the bound past everything
# the vendor will ever write (docs/reliability.md § Cursors and far-future times).
FUTURE_SKEW = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# a stored time compared again and again (the newest value, a read's floor, a tie) is parsed
# once: times are compared for every record read
_time_key = functools.lru_cache(maxsize=4096)(parse_time)


class CursorError(FatalError):
    """A stored cursor this syncd cannot read."""


# Keys at most this long that are canonical decimal integers are held as runs; longer ones
# (and any other key) as they are.
_RUN_DIGITS = 18


def _number(key: str) -> int | None:
    """``key`` as an integer when it is one written canonically ("17", not "017", "+17",
    "1_7", or digits of another script), else None."""
    if (
        key.isascii()
        and key.isdigit()
        and len(key) <= _RUN_DIGITS
        and (key[0] != "0" or key == "0")
    ):
        return int(key)
    return None


class SeenKeys(Mapping[str, Any]):
    """Records read at a cursor value (key → value), kept small when many of them share one.

    A mapping, as a dict of the keys would be (each key at one value, the latest given), but
    keys that are canonical decimal integers are held as sorted runs of consecutive integers
    at one value: a bulk import of 20,000 records with the same value and ids 1…20000 is one
    run. Any other key is held as it is. The stored form groups both by value,
    ``[[value, "other key", n, [lo, hi], …], …]``, and its size (``entries``) is the
    runs and other keys held, not the keys they cover.
    """

    __slots__ = ("_at", "_hi", "_lo", "_other")

    def __init__(self, keys: Mapping[str, Any] | None = None) -> None:
        # disjoint runs sorted by ``_lo``; runs next to each other at one value are one run
        self._lo: list[int] = []
        self._hi: list[int] = []
        self._at: list[Any] = []
        self._other: dict[str, Any] = {}
        for key, value in (keys or {}).items():
            self.add(key, value)

    # --- the mapping -------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        number = _number(key) if isinstance(key, str) else None
        if number is None:
            return self._other[key]
        i = bisect_right(self._lo, number) - 1
        if i >= 0 and number <= self._hi[i]:
            return self._at[i]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for lo, hi in zip(self._lo, self._hi, strict=True):
            yield from map(str, range(lo, hi + 1))
        yield from self._other

    def __len__(self) -> int:
        return sum(self._hi) - sum(self._lo) + len(self._lo) + len(self._other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SeenKeys):  # runs are kept merged: the same keys, the same runs
            return (self._lo, self._hi, self._at, self._other) == (
                other._lo,
                other._hi,
                other._at,
                other._other,
            )
        return super().__eq__(other)

    def __repr__(self) -> str:
        return f"SeenKeys({self.dump()!r})"

    @property
    def entries(self) -> int:
        """What is held: runs and other keys (a run of 20,000 ties counts one)."""
        return len(self._lo) + len(self._other)

    def copy(self) -> SeenKeys:
        out = SeenKeys()
        out._lo, out._hi, out._at = self._lo.copy(), self._hi.copy(), self._at.copy()
        out._other = self._other.copy()
        return out

    # --- changes -----------------------------------------------------------------------------

    def add(self, key: str, value: Any) -> None:
        """Hold ``key`` at ``value`` (in place of any value it had)."""
        number = _number(key)
        if number is None:
            self._other[key] = value
        elif self._lo and number == self._hi[-1] + 1 and self._at[-1] == value:
            self._hi[-1] = number  # the next id of a run read in order
        else:
            self._assign(number, number, value)

    def update(self, other: Mapping[str, Any]) -> None:
        """Hold ``other``'s keys at its values (in place of any values they had here)."""
        if not isinstance(other, SeenKeys):
            for key, value in other.items():
                self.add(key, value)
            return
        for lo, hi, at in zip(other._lo, other._hi, other._at, strict=True):
            self._assign(lo, hi, at)
        self._other.update(other._other)

    def keep(self, wanted: Callable[[Any], bool]) -> None:
        """Drop the keys at values ``wanted`` refuses (asked once a value)."""
        verdicts: dict[Any, bool] = {}

        def kept(value: Any) -> bool:
            if value not in verdicts:
                verdicts[value] = wanted(value)
            return verdicts[value]

        if self._lo:  # a run dropped leaves a gap between the ones around it: they stay apart
            held = [i for i, at in enumerate(self._at) if kept(at)]
            self._lo = [self._lo[i] for i in held]
            self._hi = [self._hi[i] for i in held]
            self._at = [self._at[i] for i in held]
        self._other = {k: v for k, v in self._other.items() if kept(v)}

    def _assign(self, lo: int, hi: int, value: Any) -> None:
        """Hold the integers lo…hi at ``value``."""
        los, his, ats = self._lo, self._hi, self._at
        i = bisect_left(his, lo)  # the first run reaching lo
        j = bisect_right(los, hi)  # past the last run starting by hi
        if i > 0 and his[i - 1] + 1 == lo:  # and the runs next to lo…hi, to join them
            i -= 1
        if j < len(los) and los[j] == hi + 1:
            j += 1
        pieces = [(lo, hi, value)]
        if i < j and los[i] < lo:
            pieces.insert(0, (los[i], lo - 1, ats[i]))
        if i < j and his[j - 1] > hi:
            pieces.append((hi + 1, his[j - 1], ats[j - 1]))
        runs = [pieces[0]]
        for piece in pieces[1:]:
            if piece[2] == runs[-1][2]:
                runs[-1] = (runs[-1][0], piece[1], piece[2])
            else:
                runs.append(piece)
        los[i:j] = [r[0] for r in runs]
        his[i:j] = [r[1] for r in runs]
        ats[i:j] = [r[2] for r in runs]

    # --- the stored form ---------------------------------------------------------------------

    def dump(self) -> list[list[Any]]:
        """The keys grouped by value: ``[[value, key or id or [lo, hi], …], …]``."""
        groups: dict[Any, list[Any]] = {}
        for lo, hi, at in zip(self._lo, self._hi, self._at, strict=True):
            group = groups.get(at) or groups.setdefault(at, [at])
            group.append(lo if lo == hi else [lo, hi])
        for key, at in self._other.items():
            group = groups.get(at) or groups.setdefault(at, [at])
            group.append(key)
        return list(groups.values())

    @classmethod
    def load(cls, data: Any) -> SeenKeys:
        """The keys stored as ``data`` (``dump``'s form); ValueError when it is not that."""
        out = cls()
        runs: list[tuple[int, int, Any]] = []
        if not isinstance(data, list):
            raise ValueError("seen keys are not a list")
        for group in data:
            if not (isinstance(group, list) and group and _value(group[0])):
                raise ValueError(f"not [value, keys…]: {group!r:.60}")
            value = group[0]
            for held in group[1:]:
                if isinstance(held, str):
                    out.add(held, value)
                    continue
                lo, hi = held if isinstance(held, list) and len(held) == 2 else (held, held)
                if not (_whole(lo) and _whole(hi) and 0 <= lo <= hi):
                    raise ValueError(f"not a key nor a run of ids: {held!r:.60}")
                runs.append((lo, hi, value))
        for lo, hi, value in sorted(runs, key=lambda r: r[0]):
            out._assign(lo, hi, value)
        return out

    @classmethod
    def load_v1(cls, data: Any) -> SeenKeys:
        """The keys as a cursor of version 1 stored them, a dict key → value (the same
        meaning); ValueError when they are not."""
        if not data:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("seen keys are not a dict")
        for value in data.values():
            if not _value(value):
                raise ValueError(f"not a cursor value: {value!r:.60}")
        return cls(data)


def _whole(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


def _value(value: Any) -> bool:
    """Whether ``value`` is in the shape of a stored cursor value."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Cursor:
    """One stream's position; see the module."""

    bound: Any = None
    seen: SeenKeys = field(default_factory=SeenKeys)
    # a read under way: the next page's request, the bound it started from, what it has seen
    resume: dict[str, Any] | None = None
    start: Any = None
    high: Any = None
    high_seen: SeenKeys = field(default_factory=SeenKeys)
    # the stream's own note of where the last read ended (an offset), to seek from next time
    hint: Any = None
    # the bound is a record's own value and every record at it was read (not the time a read
    # began: a record may carry that very time and not have been read)
    exact: bool = False

    def __post_init__(self) -> None:
        for name in ("seen", "high_seen"):  # keys given as a dict (key → value)
            if not isinstance(keys := getattr(self, name), SeenKeys):
                object.__setattr__(self, name, SeenKeys(keys))

    def restarted(self) -> Cursor:
        """This read under way started again from its first page, what it read counted as
        seen (dropped when it is read again unchanged)."""
        seen = self.seen.copy()
        seen.update(self.high_seen)
        return replace(self, resume=None, start=None, high=None, high_seen=SeenKeys(), seen=seen)

    def dump(self) -> str:
        data: dict[str, Any] = {"v": VERSION, "bound": self.bound}
        if self.seen:
            data["seen"] = self.seen.dump()
        if self.exact:
            data["exact"] = True
        if self.hint is not None:
            data["hint"] = self.hint
        if self.resume is not None:
            data.update(
                resume=self.resume,
                start=self.start,
                high=self.high,
                high_seen=self.high_seen.dump(),
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
        version = data.get("v") if isinstance(data, dict) else None
        try:
            if not isinstance(data, dict) or version not in (1, VERSION):
                raise ValueError
            keys = SeenKeys.load if version == VERSION else SeenKeys.load_v1
            return cls(
                bound=data.get("bound"),
                seen=keys(data.get("seen") or []),
                resume=data.get("resume"),
                start=data.get("start"),
                high=data.get("high"),
                high_seen=keys(data.get("high_seen") or []),
                hint=data.get("hint"),
                exact=bool(data.get("exact")),
            )
        except (ValueError, TypeError, AttributeError):
            raise CursorError(
                f"a stored cursor is not in this syncd's shape (version {VERSION}): "
                f"{text[:80]!r}; remove the stream's row from the store's cursors table "
                "to read the stream again from the start"
            ) from None

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
            return _time_key(value)
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
    high_seen: SeenKeys = field(default_factory=SeenKeys)
    held: bool = False  # ``high`` is the time the read began, not a record's value
    _floor_of: tuple[Any, Any] | None = field(default=None, repr=False)  # high, its floor
    # ``high`` moved since ``high_seen`` last dropped what fell behind its floor: dropped when
    # room is wanted or the cursor is stored, not for every record that moves ``high``
    _stale: bool = field(default=False, repr=False)

    @classmethod
    def begin(cls, spec: CursorField, cursor: Cursor) -> ReadState:
        held = not cursor.exact  # while reading, ``exact`` says it of ``high``
        if cursor.reading:
            return cls(spec, cursor, cursor.start, cursor.high, cursor.high_seen.copy(), held)
        return cls(spec, cursor, cursor.bound, cursor.bound, cursor.seen.copy(), held)

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
        if value is not None and self._room():
            self.high_seen.add(key, value)

    def saw(self, key: str, value: Any, cap: Any = None) -> None:
        """Note a record read at ``value``; the bound moves to it, or no later than ``cap``
        (the time the read began), while the record is remembered at its own value."""
        if value is None:
            return
        capped = cap is not None and not self.spec.later(cap, value)
        at = cap if capped else value
        if self.spec.later(at, self.high):
            self.high, self.held, self._stale = at, capped, True
        near = not self.spec.later(self._near_floor(), value)
        if near and (value == self.high or self._room()):
            self.high_seen.add(key, value)

    def _room(self) -> bool:
        """Whether ``high_seen`` may take a key short of a tie on ``high`` (``SEEN_LIMIT``)."""
        if self.high_seen.entries < SEEN_LIMIT:
            return True
        self._prune()
        return self.high_seen.entries < SEEN_LIMIT

    def _prune(self) -> None:
        """Drop from ``high_seen`` what fell behind ``high`` less the lookback."""
        if self._stale:
            self.high_seen.keep(self._since(self._near_floor()))
            self._stale = False

    def _near_floor(self) -> Any:
        """``high`` less the lookback, worked out again only when ``high`` moves."""
        if self._floor_of is None or self._floor_of[0] != self.high:
            self._floor_of = (self.high, self.spec.back(self.high))
        return self._floor_of[1]

    def _since(self, floor: Any) -> Callable[[Any], bool]:
        """Whether a value is not before ``floor``."""
        return lambda value: not self.spec.later(floor, value)

    def during(self, resume: dict[str, Any]) -> Cursor:
        """The cursor of a page with more to come."""
        self._prune()
        return replace(
            self.cursor,
            resume=resume,
            start=self.start,
            high=self.high,
            high_seen=self.high_seen.copy(),
            exact=not self.held,
        )

    def done(self, hint: Any = None, began: Any = None) -> Cursor:
        """The cursor of the last page: the newest value read becomes the bound; for a read
        whose bound is held at its start (``began``), that start when the read moved it no
        further: the read covered everything before it."""
        if self.held and began is not None and self.spec.later(began, self.high):
            self.high = began
        seen = self.cursor.seen.copy()
        if self.high is None:
            return Cursor(self.start, seen, hint=hint)
        if self.high != self.cursor.bound:  # still known: a record read past the new bound
            seen.keep(lambda value: self.spec.later(value, self.high))  # (one dated in the future)
        seen.update(self.high_seen)
        seen.keep(self._since(self.spec.back(self.high)))
        return Cursor(self.high, seen, hint=hint, exact=not self.held)
