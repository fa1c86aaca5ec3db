"""Declarative streams: a stream says what it is, the kit reads it.

    class Contacts(RestStream):
        name = "contacts"
        path = "contacts"
        records = "contacts"                 # where the records are in the reply
        cursor_field = "udate"               # each record's cursor value ...
        cursor_type = "datetime"             # ... and its type
        cursor_step = 1.0                    # the vendor's times are whole seconds
        params = {"orders[udate]": "ASC"}

        def paginator(self) -> Paginator:
            return OffsetPaginator(self.page_size)

        def since(self, value: Any) -> dict[str, Any]:
            return {"filters[updated_after]": value}   # the vendor filters from the bound

        def map(self, row: dict[str, Any]) -> Record | None:
            return ContactRecord(row["id"], row["email"])

The kit runs the page loop, the retries and the rate limit (through the connector's client),
the quarantine of rows it cannot map, and the cursor (see ``syncd.connectors.cursor``).

A read with nothing new asks once and gets no row: from a bound that is a record's own value
the kit asks for what is strictly after it (``after``; for a cursor in whole numbers, the next
one through ``since``), and drops what an inclusive filter answers again. A bound that is the
time a read began or a window's end is on the vendor's clock, as its replies' ``Date`` header
tells (less a second), when that is earlier than syncd's: a vendor whose clock is behind loses
nothing, and no lookback is needed for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import structlog

from syncd.clock import Clock, as_utc
from syncd.connectors.contract import InvalidRecord, Page, Record, Stream
from syncd.connectors.cursor import Cursor, CursorField, CursorType, ReadState
from syncd.connectors.lookup import Catalog, Lookup
from syncd.connectors.paging import (
    CursorPaginator,
    PageRequest,
    Paginator,
    Reply,
    SinglePage,
    dig,
    paginate,
)
from syncd.connectors.ratelimit import RateLimiter
from syncd.errors import FatalError, RecordError

log = structlog.get_logger("syncd.streams")

if TYPE_CHECKING:
    from syncd.connectors.base import HttpConnector
    from syncd.connectors.client import ApiClient


class RestStream(Stream):
    """One incremental read of an HTTP API, declared; see the module."""

    name: ClassVar[str]
    path: ClassVar[str]
    method: ClassVar[str] = "GET"
    records: ClassVar[str] = ""  # dotted path of the record list in a reply ("" = the reply)
    primary_key: ClassVar[str] = "id"  # dotted path in a record
    cursor_field: ClassVar[str | None] = None  # dotted path in a record; None: no cursor
    cursor_type: ClassVar[CursorType] = "datetime"
    # for times: the vendor's times come in whole steps of this many seconds (1.0: whole
    # seconds), so what is strictly after a bound starts a step later (None: unknown)
    cursor_step: ClassVar[float | None] = None
    # seconds (or units) read again before the bound: only for a vendor whose records may
    # arrive late with older times, the reason said where the stream declares it
    lookback: ClassVar[float] = 0.0
    # the cursor is the time a read asked up to, not a record's value (vendors that list
    # what changed in a window); rows that carry a ``cursor_field`` read again unchanged in
    # the lookback are dropped as in any stream
    window: ClassVar[bool] = False
    # the bound goes no later than the time a read began: for a vendor that pages in another
    # order than the cursor's, a record changed during the read may lie on a page already
    # read, and is then read again by the next read
    hold_at_start: ClassVar[bool] = False
    # the vendor pages by number or offset and documents no order: a read resumed after a
    # crash first asks for the last row it had (``Paginator.row_before``); when that is not a
    # row it read, at the same cursor value, rows before it moved, and the read starts again
    # from its first page, dropping the rows it read unchanged
    check_resume: ClassVar[bool] = False
    params: ClassVar[dict[str, Any]] = {}
    body: ClassVar[dict[str, Any] | None] = None
    # the tables of names by id the rows name (``self.names[key]``), covered each page
    catalogs: ClassVar[Mapping[str, Catalog]] = {}

    def __init__(self, connector: HttpConnector) -> None:
        self.connector = connector
        self.api: ApiClient = connector.api
        self.options: Any = connector.options
        self.clock: Clock = connector.context.clock
        self.field = CursorField(
            self.cursor_type, connector.lookback(self.name, self.lookback), self.cursor_step
        )
        self.began: Any = None  # when the read under way began, for ``hold_at_start``
        self.ceiling: Any = None  # the latest bound a record's time may move the read to
        self.future = 0  # records the read under way found dated past the ceiling
        self._state: ReadState | None = None  # the read under way, until its first reply
        # what the last read asked and got: its page requests and the rows they answered
        self.page_requests = 0
        self.rows_answered = 0
        # the request the read under way started (or resumed, or sought again) from; its last
        # reply (a total the vendor tells)
        self.started_from: PageRequest | None = None
        self.reply: Reply | None = None
        self.asked_from: Any = None  # the lower bound the read under way asked from
        self.names: dict[str, Lookup] = {k: c.lookup(self.api) for k, c in self.catalogs.items()}

    @property
    def page_size(self) -> int:
        return int(getattr(self.options, "page_size", 100))

    # --- what a stream may declare beyond its attributes ------------------------------------

    def paginator(self) -> Paginator:
        """How pages follow each other (default: one page)."""
        return SinglePage()

    def since(self, value: Any) -> dict[str, Any]:
        """The lower bound as request values (query, or body for POST), inclusive; empty when
        the vendor cannot filter: the kit then drops what is before the bound."""
        return {}

    def after(self, value: Any) -> dict[str, Any]:
        """The lower bound as request values, strictly after ``value`` (a record's value all
        of whose records were read); empty when the vendor's filter is only inclusive: the kit
        then asks with ``since`` and drops what it read before. Default: ``since`` the next
        value, for a cursor in whole numbers or a ``cursor_step``."""
        following = self.field.following(value)
        return self.since(following) if following is not None else {}

    def until(self, value: Any) -> dict[str, Any]:
        """A window stream's upper bound as request values."""
        return {}

    def seek(self, hint: Any, back: int) -> dict[str, Any]:
        """Request values that start a read ``back`` rows before where the last one ended
        (``hint``), for a vendor that cannot filter by the cursor; empty: from the start.
        The kit seeks a row back (the last row read: there and unchanged, nothing before it
        moved), then a page back, then reads from the start."""
        return {}

    def hint(self, request: PageRequest, reply: Reply) -> Any:
        """Where this page ended, to seek from next time; None: nothing to note."""
        return None

    def limiters(self) -> Sequence[RateLimiter]:
        """Limits this endpoint has beyond the account's (a search limit)."""
        return ()

    def rows(self, reply: Any) -> list[Any]:
        """The records of one reply."""
        found = dig(reply, self.records)
        return list(found) if isinstance(found, list) else []

    def map(self, row: dict[str, Any]) -> Record | Sequence[Record] | None:
        """The record(s) of one row; None when the row means nothing to syncd."""
        raise NotImplementedError(f"{type(self).__name__}.map")

    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        """The records of one page's new rows, the ``catalogs`` covered first (override to
        look other things up once per page)."""
        if self.catalogs:
            objects = [row for row in rows if isinstance(row, dict)]
            for key, catalog in self.catalogs.items():
                catalog.cover(self.names[key], objects)
        out: list[Record] = []
        for row in rows:
            if not isinstance(row, dict):
                out.append(InvalidRecord(f"{self.name}: a row that is not an object", row))
                continue
            try:
                mapped = self.map(row)
            except (KeyError, TypeError, ValueError, RecordError) as exc:
                mapped = InvalidRecord(f"{self.name}: cannot read the row ({exc})", row)
            if isinstance(mapped, Sequence):
                out.extend(mapped)
            elif mapped is not None:
                out.append(mapped)
        return out

    # --- the kit's read ------------------------------------------------------------------------

    def key_of(self, row: dict[str, Any]) -> str | None:
        value = dig(row, self.primary_key)
        return None if value is None else str(value)

    def value_of(self, row: dict[str, Any]) -> Any:
        return self.field.value(dig(row, self.cursor_field)) if self.cursor_field else None

    def first_request(self, state: ReadState, *, seeking: int = 0) -> PageRequest:
        """The read's first request: the declared params or body, the bounds, or the seek
        ``seeking`` rows back."""
        values: dict[str, Any] = {}
        if state.ask_from is not None:
            exclusive = self.after(state.ask_from) if state.exact and not self.window else {}
            values.update(exclusive or self.since(state.ask_from))
        if self.window:
            values.update(self.until(state.high))
        if seeking:
            values.update(self.seek(state.cursor.hint, seeking))
        if self.method == "GET":
            return PageRequest(self.path, {**self.params, **values}, "GET")
        # a dotted name (``variables.query``) is a value inside the body's nested objects
        nested = {k: v for k, v in values.items() if "." in k}
        body = {**(self.body or {}), **{k: v for k, v in values.items() if k not in nested}}
        return PageRequest(self.path, dict(self.params), self.method, body).with_values(
            "body", **nested
        )

    def read(self, cursor: str | None) -> Iterator[Page]:
        stored = Cursor.load(cursor)
        paginator = self.paginator()
        if self.check_resume and stored.reading and self._moved(stored, paginator):
            stored = stored.restarted()
        state = ReadState.begin(self.field, stored)
        self.asked_from = state.ask_from
        self.page_requests = self.rows_answered = 0
        for key, catalog in self.catalogs.items():
            if catalog.fresh:
                self.names[key] = catalog.lookup(self.api)
        self.began = self.field.began(self.clock()) if self.hold_at_start else None
        self.ceiling, self.future = self.field.ceiling(self.clock()), 0
        seeks: list[int] = []  # rows back from where the last read ended, nearest first
        if stored.reading and stored.resume is not None:
            paginator.restart()  # the stored request already holds its paging values
            start = PageRequest.load(stored.resume)
        else:
            if self.window:
                state.high, state.held = self.field.value(self.clock()), True
            if stored.hint is not None and not (
                state.ask_from is not None and self.since(state.ask_from)
            ):
                seeks = [b for b in dict.fromkeys((1, self.page_size)) if self.seek(stored.hint, b)]
            start = paginator.first(self.first_request(state, seeking=seeks[0] if seeks else 0))
        self._state = state if (self.window or self.began is not None) else None
        self.started_from = start
        pages = paginate(self._fetch, paginator, start)
        for further in [*seeks[1:], 0][: len(seeks)]:
            first = next(pages, None)
            if first is None:
                break
            if not self._overshot(first[1], state):
                yield self._page(state, *first)
                break
            # the table moved under the note of where the last read ended: further back (0:
            # from the start)
            self.started_from = paginator.first(self.first_request(state, seeking=further))
            pages = paginate(self._fetch, paginator, self.started_from)
        for request, reply, following in pages:
            yield self._page(state, request, reply, following)

    def _moved(self, stored: Cursor, paginator: Paginator) -> bool:
        """Whether the last row a stopped read had is no longer where it was."""
        if stored.resume is None:
            return False
        try:
            probe = paginator.row_before(PageRequest.load(stored.resume))
        except ValueError:
            return True
        if probe is None:
            return False
        _, reply = self.api.page(probe, self.limiters())
        rows = [r for r in self.rows(reply) if isinstance(r, dict)]
        if len(rows) != 1:
            return True
        key = self.key_of(rows[0])
        return key is None or stored.high_seen.get(key) != self.value_of(rows[0])

    def _page(
        self, state: ReadState, request: PageRequest, reply: Reply, following: PageRequest | None
    ) -> Page:
        records = self.map_page(self.news(reply.items, state))
        if following is None:
            if self.future:
                log.warning(
                    "records dated in the future: the cursor stops at syncd's time and a "
                    "little after, and reads them again until then",
                    stream=self.name,
                    records=self.future,
                    ceiling=self.ceiling,
                )
            return Page(records, state.done(self.hint(request, reply), self.began).dump())
        return Page(records, state.during(following.dump()).dump())

    def _fetch(self, request: PageRequest) -> Reply:
        response, body = self.api.page(request, self.limiters())
        if self._state is not None:
            self._vendor_clock(response, self._state)
            self._state = None
        reply = self.reply = Reply(response, body, self.rows(body))
        self.page_requests += 1
        self.rows_answered += len(reply.items)
        return reply

    def _vendor_clock(self, response: httpx.Response, state: ReadState) -> None:
        """The read's first reply tells the vendor's time (``Date``, whole seconds): a read's
        start or a window's end later than it less a second (syncd's clock ahead) moves back
        to it, so what changes at the vendor after the read is not before the bound."""
        try:
            said = parsedate_to_datetime(response.headers.get("date", ""))
        except (TypeError, ValueError):
            return
        if said is None or not self.field.timed:
            return
        vendor = self.field.began(as_utc(said))
        if self.began is not None and self.field.later(self.began, vendor):
            self.began = vendor
        if self.window and self.field.later(state.high, vendor):
            state.high = vendor

    def _overshot(self, reply: Reply, state: ReadState) -> bool:
        """A seeking read's first row is news (past the bound, or at it and not read before):
        rows may have been skipped."""
        first = next((r for r in reply.items if isinstance(r, dict)), None)
        if first is None:
            return True  # past the end: the table shrank
        key, value = self.key_of(first), self.value_of(first)
        if state.ask_from is None or value is None:
            return False
        if key is None:
            return self.field.later(value, state.ask_from)
        return state.is_new(key, value)  # a tie on the bound tells nothing by its value alone

    def news(self, rows: Sequence[Any], state: ReadState) -> list[Any]:
        """The rows that are news to the read ``state`` (a reply's, or rows the stream read
        another way, such as a bulk export), noting each one's cursor value."""
        news: list[Any] = []
        for row in rows:
            if not isinstance(row, dict):
                news.append(row)  # map_page quarantines it
                continue
            if not self.cursor_field:
                news.append(row)
                continue
            key, value = self.key_of(row), self.value_of(row)
            if self.window:
                # the vendor chose the rows by the window: drop only a row read before at the
                # same value, and let no row's own time move the window's end
                if key is not None and value is not None and state.known(key, value):
                    continue
                news.append(row)
                if key is not None:
                    state.note(key, value)
                continue
            if key is not None and not state.is_new(key, value):
                continue
            news.append(row)
            if key is not None:
                cap = self.began
                if (
                    cap is None
                    and self.ceiling is not None
                    and self.field.later(value, self.ceiling)
                ):
                    cap = self.ceiling
                    self.future += 1
                state.saw(key, value, cap)
        return news


class CappedQuery(Paginator):
    """Paging through a query the vendor serves only so many results of (a search capped at
    10,000): when ``inner`` ends before the query's ``total`` (a dotted path in the reply),
    the read goes on as a new query from the newest cursor value read, inclusively (the rows
    at it come again, and the kit drops them as read). ``param`` is ``inner``'s paging value,
    dropped for a new query; a value in digits is the index of the query's next result, so
    what a query served is known (else every query ends with one from the newest value). A
    query that served its cap with nothing newer than its bound is an error."""

    def __init__(self, stream: RestStream, inner: CursorPaginator, *, total: str) -> None:
        super().__init__()
        self.stream, self.inner, self.total, self.place = stream, inner, total, inner.place
        self.newest: Any = None  # the newest cursor value read
        self.bound: Any = None  # the bound of a query that follows another

    def restart(self) -> None:
        super().restart()
        self.inner.restart()

    def first_values(self) -> dict[str, Any]:
        return self.inner.first_values()

    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        field = self.stream.field
        for value in map(self.stream.value_of, reply.items):
            if value is not None and field.later(value, self.newest):
                self.newest = value
        following = self.inner.following(current, reply)
        index = str(current.value(self.inner.param, self.place) or 0)
        served = int(index) + len(reply.items) if index.isdigit() else None
        if following is not None or (
            served is not None and served >= int(dig(reply.body, self.total) or 0)
        ):
            return following
        bound = self.bound if self.bound is not None else self.stream.asked_from
        newest = self.newest if self.newest is not None else bound
        if served is not None and (
            newest is None or (bound is not None and not field.later(newest, bound))
        ):
            raise FatalError(
                f"{self.stream.name}: more results than a query serves share one "
                f"{self.stream.cursor_field} ({bound}); they cannot be paged by it"
            )
        self.restart()  # a new query: its first page may repeat the last one's rows
        self.bound = newest
        values = self.stream.since(newest) if newest is not None else {}
        return current.with_values(self.place, **{self.inner.param: None, **values})

    def token_of(self, request: PageRequest) -> str:
        bound = self.bound if self.bound is not None else self.stream.asked_from
        return f"{self.inner.token_of(request)} from {bound}"
