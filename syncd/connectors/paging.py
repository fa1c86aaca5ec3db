"""Paginators: which request comes after a page, for offset, page number, keyset, Link-header
and cursor paging, with the paging value in the query or in a POST body. Each one detects a
loop (the same next position twice, or the same page twice) and raises PaginationLoop
instead of reading forever. A request is plain data, so a read can resume from it.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from syncd.connectors.redaction import safe_url
from syncd.errors import FatalError

Place = Literal["query", "body"]


class PaginationLoop(FatalError):
    """The vendor sent a next page already read: reading on would never end."""


@dataclass(frozen=True)
class PageRequest:
    """One page's request: method, a path (or the absolute URL a Link header gave), its query
    and, for POST paging, its JSON body."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)
    method: str = "GET"
    body: dict[str, Any] | None = None

    def value(self, name: str, place: Place) -> Any:
        """A paging value from the query or the body; in the body a dotted name
        (``variables.after``) is a value inside nested objects."""
        if place == "query":
            return self.params.get(name)
        return dig(self.body or {}, name)

    def with_values(self, place: Place, **values: Any) -> PageRequest:
        """This request with ``values`` set (a value of None removes the key); in the body a
        dotted name sets a value inside nested objects, which are copied, not changed."""
        source = dict(self.params if place == "query" else (self.body or {}))
        for name, value in values.items():
            *outer, last = name.split(".") if place == "body" else [name]
            held = source
            for part in outer:
                inner = held.get(part)
                held[part] = held = dict(inner) if isinstance(inner, dict) else {}
            if value is None:
                held.pop(last, None)
            else:
                held[last] = value
        if place == "query":
            return replace(self, params=source)
        return replace(self, body=source)

    def dump(self) -> dict[str, Any]:
        """JSON-ready, to store in a cursor. The query goes as pairs, in its order: a cursor
        is stored with sorted keys, and a vendor may read its parameters in order
        (sorting by each ``orders[...]`` in the order named)."""
        params = [[name, value] for name, value in self.params.items()]
        return {"url": self.url, "params": params, "method": self.method, "body": self.body}

    @classmethod
    def load(cls, data: dict[str, Any]) -> PageRequest:
        return cls(
            str(data["url"]),
            dict(data.get("params") or {}),
            str(data.get("method") or "GET"),
            data.get("body"),
        )


@dataclass(frozen=True)
class Reply:
    """One page's answer: the response, its JSON body and the records found in it."""

    response: httpx.Response
    body: Any
    items: Sequence[Any]


class Paginator(ABC):
    """Turns one page's reply into the next page's request, or None at the end."""

    place: Place = "query"

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._last_page: str | None = None

    def first(self, request: PageRequest) -> PageRequest:
        """The first page's request; starts a fresh read. Paging values the request holds
        already (a stream seeking where its last read ended) are kept."""
        self.restart()
        values = {
            k: v for k, v in self.first_values().items() if request.value(k, self.place) is None
        }
        return request.with_values(self.place, **values)

    def restart(self) -> None:
        """Forget the pages read: a read starts (or resumes) here."""
        self._seen.clear()
        self._last_page = None

    def first_values(self) -> dict[str, Any]:
        return {}

    def next(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        """The next page's request after ``current`` answered ``reply``; None when done."""
        self._check_page(current, reply.items)
        following = self.following(current, reply)
        if following is not None:
            self._check_token(self.token_of(following), current)
        return following

    @abstractmethod
    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        """The next request, before the loop checks."""

    @abstractmethod
    def token_of(self, request: PageRequest) -> str:
        """What identifies a page's position (offset, page, last key, URL, cursor)."""

    def row_before(self, request: PageRequest) -> PageRequest | None:
        """The request for the one row just before ``request``'s page (None on the first
        page), so a resumed read can check that the rows it read have not moved; a paginator
        that has no such request raises NotImplementedError, an unreadable page ValueError."""
        raise NotImplementedError(f"{type(self).__name__} cannot ask for the row before a page")

    def _check_token(self, token: str, current: PageRequest) -> None:
        if token in self._seen:
            raise PaginationLoop(
                f"{safe_url(current.url)}: the next page ({token}) was already read; "
                "the vendor's paging is looping"
            )
        self._seen.add(token)

    def _check_page(self, current: PageRequest, items: Sequence[Any]) -> None:
        # a vendor that ignores the paging parameter sends the same page again
        if not items:
            return
        digest = hashlib.sha1(
            json.dumps([items[0], items[-1], len(items)], sort_keys=True, default=str).encode()
        ).hexdigest()
        if digest == self._last_page:
            raise PaginationLoop(
                f"{safe_url(current.url)}: the same page came back twice; "
                "the vendor's paging is looping"
            )
        self._last_page = digest


class SinglePage(Paginator):
    """An endpoint that answers everything at once."""

    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        return None

    def token_of(self, request: PageRequest) -> str:
        return "the page"


class OffsetPaginator(Paginator):
    """``limit``/``offset`` paging; ends on a short page or when ``total`` is reached."""

    def __init__(
        self,
        limit: int,
        *,
        start: int = 0,
        limit_param: str = "limit",
        offset_param: str = "offset",
        total: Callable[[Any], int | None] | None = None,
        place: Place = "query",
    ) -> None:
        super().__init__()
        self.limit, self.start, self.place = limit, start, place
        self.limit_param, self.offset_param = limit_param, offset_param
        self.total = total  # reads the total from a page's JSON body

    def first_values(self) -> dict[str, Any]:
        return {self.limit_param: self.limit, self.offset_param: self.start}

    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        if len(reply.items) < self.limit:
            return None
        offset = int(current.value(self.offset_param, self.place) or 0) + len(reply.items)
        total = self.total(reply.body) if self.total else None
        if total is not None and offset >= total:
            return None
        return current.with_values(self.place, **{self.offset_param: offset})

    def row_before(self, request: PageRequest) -> PageRequest | None:
        offset = _whole(request.value(self.offset_param, self.place))
        if offset <= self.start:
            return None
        values = {self.offset_param: offset - 1, self.limit_param: 1}
        return request.with_values(self.place, **values)

    def token_of(self, request: PageRequest) -> str:
        return f"offset {request.value(self.offset_param, self.place)}"


class PageNumberPaginator(Paginator):
    """``page=N`` paging from ``start``; ends on a short or empty page, or when ``has_more``
    (read from the JSON body) says there is no more."""

    def __init__(
        self,
        size: int,
        *,
        start: int = 1,
        page_param: str = "page",
        size_param: str = "size",
        has_more: Callable[[Any], bool] | None = None,
        place: Place = "query",
    ) -> None:
        super().__init__()
        self.size, self.start, self.place = size, start, place
        self.page_param, self.size_param, self.has_more = page_param, size_param, has_more

    def first_values(self) -> dict[str, Any]:
        return {self.page_param: self.start, self.size_param: self.size}

    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        more = self.has_more(reply.body) if self.has_more else len(reply.items) >= self.size
        if not more or not reply.items:
            return None
        page = int(current.value(self.page_param, self.place) or self.start) + 1
        return current.with_values(self.place, **{self.page_param: page})

    def row_before(self, request: PageRequest) -> PageRequest | None:
        page = _whole(request.value(self.page_param, self.place))
        size = _whole(request.value(self.size_param, self.place))
        if page <= self.start:
            return None
        # at one row a page, the row numbered r from 0 is the page r + start
        values = {self.page_param: (page - self.start) * size - 1 + self.start, self.size_param: 1}
        return request.with_values(self.place, **values)

    def token_of(self, request: PageRequest) -> str:
        return f"page {request.value(self.page_param, self.place)}"


class KeysetPaginator(Paginator):
    """``param`` = the key of the last item (``id_greater=LAST_ID``); ends on a short page."""

    def __init__(
        self,
        limit: int,
        key: Callable[[Any], Any],
        *,
        param: str = "id_greater",
        limit_param: str = "limit",
        after: Any = None,
        place: Place = "query",
    ) -> None:
        super().__init__()
        self.limit, self.key, self.param, self.limit_param = limit, key, param, limit_param
        self.after, self.place = after, place

    def first_values(self) -> dict[str, Any]:
        return {self.limit_param: self.limit, self.param: self.after}

    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        if len(reply.items) < self.limit:
            return None
        return current.with_values(self.place, **{self.param: self.key(reply.items[-1])})

    def token_of(self, request: PageRequest) -> str:
        return f"{self.param}={request.value(self.param, self.place)}"


class LinkHeaderPaginator(Paginator):
    """The next page is the ``Link: <...>; rel="next"`` URL, whose query is the whole next
    request's; ends when there is none. ``limit``, when given, is the first request's page
    size (the next URLs carry it on)."""

    def __init__(self, limit: int | None = None, *, limit_param: str = "limit") -> None:
        super().__init__()
        self.limit, self.limit_param = limit, limit_param

    def first_values(self) -> dict[str, Any]:
        return {self.limit_param: self.limit} if self.limit is not None else {}

    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        url = reply.response.links.get("next", {}).get("url")
        return PageRequest(url, method=current.method) if url else None

    def token_of(self, request: PageRequest) -> str:
        return safe_url(request.url)


class CursorPaginator(Paginator):
    """The reply names the next page's cursor (``token`` reads it from the JSON body); ends
    when it names none. ``limit``: the page size, sent as ``limit_param``."""

    def __init__(
        self,
        token: Callable[[Any], str | None],
        *,
        param: str = "cursor",
        place: Place = "query",
        limit: int | None = None,
        limit_param: str = "limit",
    ) -> None:
        super().__init__()
        self.token, self.param, self.place = token, param, place
        self.limit, self.limit_param = limit, limit_param

    def first_values(self) -> dict[str, Any]:
        return {self.limit_param: self.limit} if self.limit is not None else {}

    def following(self, current: PageRequest, reply: Reply) -> PageRequest | None:
        token = self.token(reply.body)
        if not token:
            return None
        return current.with_values(self.place, **{self.param: token})

    def token_of(self, request: PageRequest) -> str:
        return f"{self.param} {str(request.value(self.param, self.place))[:40]}"


def paginate(
    fetch: Callable[[PageRequest], Reply],
    paginator: Paginator,
    first: PageRequest,
) -> Iterator[tuple[PageRequest, Reply, PageRequest | None]]:
    """Yield each page's request, its reply and the next request until the paginator says
    the end (the next request is None on the last page)."""
    request: PageRequest | None = first
    while request is not None:
        reply = fetch(request)
        following = paginator.next(request, reply)
        yield request, reply, following
        request = following


def dig(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``"paging.next.after"``) of JSON data; None when absent.
    An empty path is the data itself."""
    for part in path.split(".") if path else ():
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _whole(value: Any) -> int:
    """A paging value as a whole number; ValueError when it is none."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a page's number or offset: {value!r}") from None
