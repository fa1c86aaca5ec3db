"""A read resumed after a crash, for a vendor that pages by number or offset in no documented
order (``RestStream.check_resume``): it asks for the last row it had, goes on at its next
page when that row is still there, and reads the window again from the start when rows
moved, dropping the rows it read unchanged. ``Paginator.row_before`` is that one row's
request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from syncd.connectors import (
    ConnectorContext,
    ContactRecord,
    Cursor,
    HttpConnector,
    HttpOptions,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    RestStream,
    SinglePage,
)
from tests.test_connector_kit import Window

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("paginator", "request_values", "probe_values"),
    [
        (PageNumberPaginator(10, start=0), {"page": 3, "size": 10}, {"page": 29, "size": 1}),
        (PageNumberPaginator(10, start=1), {"page": 3, "size": 10}, {"page": 20, "size": 1}),
        (PageNumberPaginator(10, start=1), {"page": 1, "size": 10}, None),
        (OffsetPaginator(10), {"offset": 20, "limit": 10}, {"offset": 19, "limit": 1}),
        (OffsetPaginator(10), {"offset": 0, "limit": 10}, None),
    ],
)
def test_the_row_before_a_page_is_its_own_one_row_request(
    paginator: Paginator, request_values: dict[str, Any], probe_values: dict[str, Any] | None
) -> None:
    probe = paginator.row_before(PageRequest("rows", {"q": "x", **request_values}))
    assert (probe.params if probe else None) == (
        {"q": "x", **probe_values} if probe_values else None
    )


def test_a_page_with_no_readable_number_or_paging_without_one_says_so() -> None:
    with pytest.raises(ValueError):
        PageNumberPaginator(10).row_before(PageRequest("rows", {"page": "x"}))
    with pytest.raises(NotImplementedError):
        SinglePage().row_before(PageRequest("rows"))


class Vendor:
    """A window's ids, ``size`` a page by number (from 0), in the vendor's own order."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.bodies: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        page, size = body["page"], body["size"]
        rows = [{"id": n, "changed": 1000 + n} for n in self.ids[page * size : page * size + size]]
        return httpx.Response(200, json={"rows": rows, "more": (page + 1) * size < len(self.ids)})


class Changed(Window):
    """A window stream whose rows carry their time, in no documented order."""

    records = "rows"
    cursor_field = "changed"
    check_resume = True


class Options(HttpOptions):
    url: str = "https://api.example.com"


class Vendorly(HttpConnector):
    name = "vendorly"
    Options = Options
    stream_classes = (Changed,)


def stream_on(vendor: Vendor) -> RestStream:
    context = ConnectorContext(
        "v", transport=httpx.MockTransport(vendor.handler), clock=lambda: NOW
    )
    (stream,) = Vendorly(Options(), context).streams()
    assert isinstance(stream, RestStream)
    return stream


def ids_of(
    stream: RestStream, cursor: str | None, pages: int | None = None
) -> tuple[list[str], str | None]:
    ids: list[str] = []
    for n, page in enumerate(stream.read(cursor)):
        ids += [r.external_id for r in page.records if isinstance(r, ContactRecord)]
        cursor = page.cursor
        if pages is not None and n + 1 == pages:
            break
    return ids, cursor


def test_a_resumed_read_with_nothing_moved_goes_on_at_its_next_page() -> None:
    vendor = Vendor([1, 2, 3, 4, 5, 6])
    stream = stream_on(vendor)
    first, cursor = ids_of(stream, None, pages=1)  # stopped after its first page
    vendor.bodies.clear()
    rest, _ = ids_of(stream, cursor)
    assert first == ["1", "2"] and rest == ["3", "4", "5", "6"]
    assert [(b["page"], b["size"]) for b in vendor.bodies] == [(1, 1), (1, 2), (2, 2)]


def test_a_resumed_read_whose_rows_moved_reads_the_window_again_without_repeats() -> None:
    vendor = Vendor([1, 2, 3, 4, 5, 6])
    stream = stream_on(vendor)
    first, cursor = ids_of(stream, None, pages=1)
    vendor.ids.remove(1)  # it left the window: the rest moved a place forward
    vendor.bodies.clear()
    rest, _ = ids_of(stream, cursor)
    assert first == ["1", "2"]
    assert rest == ["3", "4", "5", "6"]  # 3 would be lost had the read gone on at page 1
    assert [b["page"] for b in vendor.bodies] == [1, 0, 1, 2]  # the check, then from the start
    assert vendor.bodies[0]["size"] == 1


def test_restarting_a_cursor_keeps_what_its_read_saw_as_seen() -> None:
    reading = Cursor(bound=5, seen={"a": 1}, resume={"url": "x"}, start=5, high=9)
    reading.high_seen.update({"b": 2})
    again = reading.restarted()
    assert (again.resume, again.start, again.high, again.high_seen) == (None, None, None, {})
    assert again.seen == {"a": 1, "b": 2} and again.bound == 5 and not again.reading
