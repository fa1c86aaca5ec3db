"""The Shopify streams: customers, orders and abandoned checkouts read over REST by
``updated_at_min``, 250 a page, following the ``Link`` header (follow-up pages carry only
``limit`` and ``page_info``, as Shopify requires).

Cursor ``{"updated_at_min": ISO}``. Every page but the last carries the old cursor; the last
moves it to the newest ``updated_at`` read, held back to a minute before the read started so
a record changed while the read was under way is read again next time (every record is an
upsert). ``updated_at_min`` is inclusive: the newest records are read once more, harmlessly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

from syncd.clock import Clock, parse_time
from syncd.connectors.client import ApiClient
from syncd.connectors.contract import Page, Record, Stream
from syncd.connectors.paging import LinkHeaderPaginator
from syncd_plugins.shopify.mapping import (
    checkout_record,
    customer_record,
    order_record,
)

OVERLAP = timedelta(minutes=1)


class ShopifyStream(Stream):
    """One REST resource read incrementally on ``updated_at``."""

    resource: ClassVar[str]
    params: ClassVar[dict[str, str]] = {}

    def __init__(self, rest: ApiClient, page_size: int, clock: Clock) -> None:
        self.rest, self.page_size, self.clock = rest, page_size, clock

    def map(self, row: dict[str, Any]) -> Record | None:
        raise NotImplementedError

    def read(self, cursor: str | None) -> Iterator[Page]:
        start = parse_time(json.loads(cursor).get("updated_at_min")) if cursor else None
        started = self.clock()
        params: dict[str, Any] = {"limit": self.page_size, **self.params}
        if start is not None:
            params["updated_at_min"] = start.isoformat()
        newest = start
        held: list[Record] | None = None
        pages = self.rest.pages(
            f"{self.resource}.json", LinkHeaderPaginator(), _items(self.resource), params
        )
        for rows, _ in pages:
            if held is not None:
                yield Page(held, cursor)
            held = []
            for row in rows:
                if not isinstance(row, dict):
                    continue
                updated = parse_time(row.get("updated_at"))
                if updated is not None and (newest is None or updated > newest):
                    newest = updated
                record = self.map(row)
                if record is not None:
                    held.append(record)
        yield Page(held or [], self._cursor(start, newest, started) or cursor)

    @staticmethod
    def _cursor(start: datetime | None, newest: datetime | None, started: datetime) -> str | None:
        if newest is None:
            return None
        moved = min(newest, started - OVERLAP)
        if start is not None:
            moved = max(moved, start)
        return json.dumps({"updated_at_min": moved.isoformat()})


def _items(key: str) -> Callable[[Any], list[Any]]:
    def items(body: Any) -> list[Any]:
        found = body.get(key) if isinstance(body, dict) else None
        return found if isinstance(found, list) else []

    return items


class CustomersStream(ShopifyStream):
    name = "customers"
    resource = "customers"

    def map(self, row: dict[str, Any]) -> Record | None:
        return customer_record(row)


class OrdersStream(ShopifyStream):
    name = "orders"
    resource = "orders"
    params = {"status": "any"}

    def map(self, row: dict[str, Any]) -> Record | None:
        return order_record(row)


class CheckoutsStream(ShopifyStream):
    name = "checkouts"
    resource = "checkouts"
    params = {"status": "any"}

    def map(self, row: dict[str, Any]) -> Record | None:
        return checkout_record(row)
