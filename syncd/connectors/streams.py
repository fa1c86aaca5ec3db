"""Declarative streams: a stream says what it is, the kit reads it.

    class Contacts(RestStream):
        name = "contacts"
        path = "contacts"
        records = "contacts"                 # where the records are in the reply
        cursor_field = "udate"               # each record's cursor value ...
        cursor_type = "datetime"             # ... and its type
        params = {"orders[udate]": "ASC"}

        def paginator(self) -> Paginator:
            return OffsetPaginator(self.page_size)

        def since(self, value: Any) -> dict[str, Any]:
            return {"filters[updated_after]": value}   # the vendor filters from the bound

        def map(self, row: dict[str, Any]) -> Record | None:
            return ContactRecord(row["id"], row["email"])

The kit runs the page loop, the retries and the rate limit (through the connector's client),
the quarantine of rows it cannot map, and the cursor (see ``syncd.connectors.cursor``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from syncd.clock import Clock
from syncd.connectors.contract import InvalidRecord, Page, Record, Stream
from syncd.connectors.cursor import Cursor, CursorField, CursorType, ReadState
from syncd.connectors.paging import PageRequest, Paginator, Reply, SinglePage, dig, paginate
from syncd.connectors.ratelimit import RateLimiter
from syncd.errors import RecordError

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
    lookback: ClassVar[float] = 0.0  # seconds (or units) read again before the bound
    # the cursor is the time a read asked up to, not a record's value (vendors that list
    # what changed in a window); rows that carry a ``cursor_field`` read again unchanged in
    # the lookback are dropped as in any stream
    window: ClassVar[bool] = False
    # the bound goes no later than the time a read began: for a vendor that pages in another
    # order than the cursor's, a record changed during the read may lie on a page already
    # read, and is then read again by the next read
    hold_at_start: ClassVar[bool] = False
    params: ClassVar[dict[str, Any]] = {}
    body: ClassVar[dict[str, Any] | None] = None

    def __init__(self, connector: HttpConnector) -> None:
        self.connector = connector
        self.api: ApiClient = connector.api
        self.options: Any = connector.options
        self.clock: Clock = connector.context.clock
        self.field = CursorField(self.cursor_type, connector.lookback(self.name, self.lookback))
        self.began: Any = None  # when the read under way began, for ``hold_at_start``

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

    def until(self, value: Any) -> dict[str, Any]:
        """A window stream's upper bound as request values."""
        return {}

    def seek(self, hint: Any) -> dict[str, Any]:
        """Request values that start a read where the last one ended (``hint``), for a
        vendor that cannot filter by the cursor; empty: from the start."""
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
        """The records of one page's new rows (override to look things up once per page)."""
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

    def first_request(self, state: ReadState, *, seeking: bool = False) -> PageRequest:
        """The read's first request: the declared params or body, the bounds, or the seek."""
        values: dict[str, Any] = {}
        if state.ask_from is not None:
            values.update(self.since(state.ask_from))
        if self.window:
            values.update(self.until(state.high))
        if seeking:
            values.update(self.seek(state.cursor.hint))
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
        state = ReadState.begin(self.field, stored)
        self.began = self.field.value(self.clock()) if self.hold_at_start else None
        paginator = self.paginator()
        seeking = False
        if stored.reading and stored.resume is not None:
            paginator.restart()  # the stored request already holds its paging values
            start = PageRequest.load(stored.resume)
        else:
            if self.window:
                state.high = self.field.value(self.clock())
            seeking = (
                stored.hint is not None
                and not (state.ask_from is not None and self.since(state.ask_from))
                and bool(self.seek(stored.hint))
            )
            start = paginator.first(self.first_request(state, seeking=seeking))
        pages = paginate(self._fetch, paginator, start)
        if seeking and (first := next(pages, None)) is not None:
            if self._overshot(first[1], state):
                # the table moved under the note of where the last read ended: read it all
                pages = paginate(self._fetch, paginator, paginator.first(self.first_request(state)))
            else:
                yield self._page(state, *first)
        for request, reply, following in pages:
            yield self._page(state, request, reply, following)

    def _page(
        self, state: ReadState, request: PageRequest, reply: Reply, following: PageRequest | None
    ) -> Page:
        records = self.map_page(self._news(reply, state))
        if following is None:
            return Page(records, state.done(self.hint(request, reply)).dump())
        return Page(records, state.during(following.dump()).dump())

    def _fetch(self, request: PageRequest) -> Reply:
        response, body = self.api.page(request, self.limiters())
        return Reply(response, body, self.rows(body))

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

    def _news(self, reply: Reply, state: ReadState) -> list[Any]:
        """The rows of a reply that are news, noting each one's cursor value."""
        news: list[Any] = []
        for row in reply.items:
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
                held = self.began is not None and self.field.later(value, self.began)
                state.saw(key, self.began if held else value)
        return news
