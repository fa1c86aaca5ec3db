"""Paginators: which request comes after a page, for offset, keyset, Link-header and cursor
paging. Each one detects a loop (the same next offset, key, URL or token twice, or the same
page twice) and raises PaginationLoop instead of reading forever.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from syncd.connectors.redaction import safe_url
from syncd.errors import FatalError


class PaginationLoop(FatalError):
    """The vendor sent a next page already read: reading on would never end."""


@dataclass(frozen=True)
class PageRequest:
    """One page's request: a path (or the absolute URL a Link header gave) and its query."""

    url: str
    params: dict[str, Any] = field(default_factory=dict)


class Paginator(ABC):
    """Turns one page's answer into the next page's request, or None at the end."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._last_page: str | None = None

    def first(self, url: str, params: dict[str, Any] | None = None) -> PageRequest:
        """The first page's request; starts a fresh read."""
        self._seen.clear()
        self._last_page = None
        return PageRequest(url, {**(params or {}), **self.first_params()})

    def first_params(self) -> dict[str, Any]:
        return {}

    def next(
        self, current: PageRequest, response: httpx.Response, items: Sequence[Any]
    ) -> PageRequest | None:
        """The next page's request after ``current`` answered ``items``; None when done."""
        self._check_page(current, items)
        following = self.following(current, response, items)
        if following is not None:
            self._check_token(self.token_of(following), current)
        return following

    @abstractmethod
    def following(
        self, current: PageRequest, response: httpx.Response, items: Sequence[Any]
    ) -> PageRequest | None:
        """The next request, before the loop checks."""

    @abstractmethod
    def token_of(self, request: PageRequest) -> str:
        """What identifies a page's position (offset, last key, URL, cursor)."""

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


class OffsetPaginator(Paginator):
    """``limit``/``offset`` paging; ends on a short page or when ``total`` is reached."""

    def __init__(
        self,
        limit: int,
        *,
        start: int = 0,
        limit_param: str = "limit",
        offset_param: str = "offset",
        total: Callable[[httpx.Response], int | None] | None = None,
    ) -> None:
        super().__init__()
        self.limit, self.start = limit, start
        self.limit_param, self.offset_param = limit_param, offset_param
        self.total = total

    def first_params(self) -> dict[str, Any]:
        return {self.limit_param: self.limit, self.offset_param: self.start}

    def following(
        self, current: PageRequest, response: httpx.Response, items: Sequence[Any]
    ) -> PageRequest | None:
        if len(items) < self.limit:
            return None
        offset = int(current.params.get(self.offset_param, self.start)) + len(items)
        total = self.total(response) if self.total else None
        if total is not None and offset >= total:
            return None
        return PageRequest(current.url, {**current.params, self.offset_param: offset})

    def token_of(self, request: PageRequest) -> str:
        return f"offset {request.params.get(self.offset_param)}"


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
    ) -> None:
        super().__init__()
        self.limit, self.key, self.param, self.limit_param = limit, key, param, limit_param
        self.after = after

    def first_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {self.limit_param: self.limit}
        if self.after is not None:
            params[self.param] = self.after
        return params

    def following(
        self, current: PageRequest, response: httpx.Response, items: Sequence[Any]
    ) -> PageRequest | None:
        if len(items) < self.limit:
            return None
        return PageRequest(current.url, {**current.params, self.param: self.key(items[-1])})

    def token_of(self, request: PageRequest) -> str:
        return f"{self.param}={request.params.get(self.param)}"


class LinkHeaderPaginator(Paginator):
    """The next page is the ``Link: <...>; rel="next"`` URL; ends when there is none."""

    def following(
        self, current: PageRequest, response: httpx.Response, items: Sequence[Any]
    ) -> PageRequest | None:
        url = response.links.get("next", {}).get("url")
        return PageRequest(url) if url else None

    def token_of(self, request: PageRequest) -> str:
        return safe_url(request.url)


class CursorPaginator(Paginator):
    """The response names the next page's cursor (``token``); ends when it names none."""

    def __init__(self, token: Callable[[httpx.Response], str | None], *, param: str = "cursor"):
        super().__init__()
        self.token, self.param = token, param

    def following(
        self, current: PageRequest, response: httpx.Response, items: Sequence[Any]
    ) -> PageRequest | None:
        token = self.token(response)
        if not token:
            return None
        return PageRequest(current.url, {**current.params, self.param: token})

    def token_of(self, request: PageRequest) -> str:
        return f"{self.param} {str(request.params.get(self.param))[:40]}"


def paginate(
    fetch: Callable[[PageRequest], httpx.Response],
    paginator: Paginator,
    first: PageRequest,
    items: Callable[[httpx.Response], Sequence[Any]],
) -> Iterator[tuple[Sequence[Any], httpx.Response]]:
    """Yield each page's items and response until the paginator says the end."""
    request: PageRequest | None = first
    while request is not None:
        response = fetch(request)
        found = items(response)
        yield found, response
        request = paginator.next(request, response, found)
