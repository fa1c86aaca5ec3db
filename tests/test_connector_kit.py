"""The connector kit: its public surface, declarative streams, the one cursor model
(inclusive bounds, ties, lookback, resume after a crash at any page, seek and restart) and
what a destination's push does with its changes (one answer each, errors as outcomes)."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import httpx
import pytest
from pydantic import ValidationError

import syncd.connectors as kit
from syncd.connectors import (
    Answers,
    AuthError,
    Change,
    ChangeKind,
    ConnectorContext,
    ConnectorError,
    ContactRecord,
    Cursor,
    CursorError,
    HttpConnector,
    HttpOptions,
    InvalidRecord,
    OffsetPaginator,
    Outcome,
    Page,
    PageNumberPaginator,
    Paginator,
    RateLimited,
    RecordError,
    RestStream,
    RetryableError,
    by_contact,
    in_batches,
    split_refused,
    valid_email,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

PUBLIC = {
    "USER_AGENT", "ApiClient", "AuthError", "Change", "ChangeKind", "ChangeResult", "Clock",
    "Connector", "ConnectorContext", "ConnectorError", "ConnectorOptions", "ContactRecord",
    "Cursor", "CursorError", "CursorField", "CursorPaginator", "CursorType", "DealRecord",
    "Destination", "ErrorRules", "EventRecord", "FatalError", "HttpConnector", "HttpOptions",
    "InvalidRecord", "KeysetPaginator", "LinkHeaderPaginator", "ListRecord", "OffsetPaginator",
    "Outcome", "Page", "PageNumberPaginator", "PageRequest", "PaginationLoop", "Paginator",
    "RateHeaderReader", "RateHeaders", "RateLimited", "RateLimiter", "ReadState", "Record",
    "RecordError", "Reply", "RestStream", "RetryPolicy", "RetryableError", "SeenKeys",
    "SinglePage", "Stream", "TagRecord", "as_utc", "answer_json", "body_message",
    "build_client", "connection_check", "dig",
    "error_for_response", "error_for_transport", "hookimpl", "one_line", "parse_retry_after",
    "parse_time", "plugin_hooks", "register_secret", "safe_url", "secrets_of",
    "standard_rate_headers",
    "Answers", "by_contact", "create_once", "in_batches", "split_refused", "tag_writes",
    "valid_email",
    "ApiUrl", "ContactMap", "Lookup", "as_number", "every_row", "text_id", "values_of",
    "WebhookDelivery", "WebhookReceiver", "WebhookRefused", "WebhookRequest", "WebhookSecrets",
    "WebhookSubscription", "hmac_base64", "json_body", "receivers_hook", "same_secret",
    "BasicAuth", "FirstConfigured", "HmacSignature", "Reshape", "SignedTimestamp",
    "SubscribedByHand", "UrlToken", "Verifier", "WebhookSubscriptions", "digest_of", "form_body",
    "epoch_time",
    "as_text", "line_item",
    "HttpDestination", "Write", "by_key", "known_ids", "last_writes", "poll", "vendor_hooks",
    "EventMap",
    "Catalog",
    "number_at",
    "CappedQuery",
}  # fmt: skip


def test_the_public_surface_is_pinned() -> None:
    assert set(kit.__all__) == PUBLIC
    for name in kit.__all__:
        assert getattr(kit, name) is not None, name


class Table:
    """A vendor table of rows with ``id`` and ``updated``; answers offset pages, optionally
    filtered from ``updated_since`` (inclusive), sorted by ``updated`` then ``id``."""

    def __init__(self, rows: int, *, filtering: bool = True, same_time: int = 1) -> None:
        self.rows = {
            str(i): {"id": str(i), "email": f"p{i}@example.com", "updated": self.at(i // same_time)}
            for i in range(1, rows + 1)
        }
        self.filtering = filtering
        self.log: list[dict[str, str]] = []

    @staticmethod
    def at(minute: int) -> str:
        return (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")

    def touch(self, row_id: str, minute: int) -> None:
        self.rows[row_id]["updated"] = self.at(minute)

    def handler(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        self.log.append(query)
        rows = sorted(self.rows.values(), key=lambda r: (r["updated"], int(r["id"])))
        since = query.get("updated_since")
        if since and self.filtering:
            rows = [r for r in rows if r["updated"] >= since.replace("+00:00", "Z")]
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        return httpx.Response(200, json={"people": rows[offset : offset + limit]})


class Options(HttpOptions):
    url: str = "https://api.example.com/v1"


class People(RestStream):
    name = "people"
    path = "people"
    records = "people"
    cursor_field = "updated"
    params: ClassVar[dict[str, Any]] = {"sort": "updated"}

    def paginator(self) -> Paginator:
        return OffsetPaginator(self.page_size)

    def since(self, value: Any) -> dict[str, Any]:
        return {"updated_since": value}

    def map(self, row: dict[str, Any]) -> ContactRecord:
        return ContactRecord(row["id"], row["email"])


class Example(HttpConnector):
    name = "example"
    vendor = "Example"
    Options = Options
    stream_classes = (People,)


def connect(table: Table, **options: Any) -> Example:
    context = ConnectorContext("ex", transport=httpx.MockTransport(table.handler))
    return Example(Options(page_size=3, **options), context)


def read(stream: RestStream, cursor: str | None) -> tuple[list[str], str | None]:
    ids: list[str] = []
    for page in stream.read(cursor):
        ids += [r.external_id for r in page.records if isinstance(r, ContactRecord)]
        cursor = page.cursor
    return ids, cursor


def only(connector: HttpConnector) -> RestStream:
    (stream,) = connector.streams()
    assert isinstance(stream, RestStream)
    return stream


def test_a_full_read_then_a_read_with_nothing_new_yields_nothing() -> None:
    table = Table(10)
    stream = only(connect(table))
    ids, cursor = read(stream, None)
    assert ids == [str(i) for i in range(1, 11)]
    assert json.loads(cursor or "")["bound"] == "2026-01-01T00:10:00+00:00"
    again, after = read(stream, cursor)
    assert again == []  # the row at the bound came back (inclusive) and was known
    assert json.loads(after or "")["bound"] == json.loads(cursor or "")["bound"]
    assert table.log[-1]["updated_since"] == "2026-01-01T00:10:00+00:00"


def test_a_stream_knows_the_request_its_read_began_from_and_its_last_reply() -> None:
    table = Table(7)
    stream = only(connect(table))
    pages = stream.read(None)
    next(pages)
    assert stream.started_from is not None and stream.started_from.params["offset"] == 0
    assert stream.reply is not None and [r["id"] for r in stream.reply.items] == ["1", "2", "3"]
    cursor = next(pages).cursor  # stopped here: the read resumes from the third page
    list(stream.read(cursor))
    assert stream.started_from.params["offset"] == 6 and len(stream.reply.items) == 1


def test_ties_on_the_bound_are_read_once_each_and_late_ties_are_not_lost() -> None:
    table = Table(6, same_time=10)  # every row at the same minute
    stream = only(connect(table))
    ids, cursor = read(stream, None)
    assert sorted(ids) == [str(i) for i in range(1, 7)]
    table.rows["7"] = {"id": "7", "email": "p7@example.com", "updated": Table.at(0)}
    again, _ = read(stream, cursor)
    assert again == ["7"]  # a new record at the bound's very value is news


def test_a_change_is_read_and_only_it() -> None:
    table = Table(10)
    stream = only(connect(table))
    _, cursor = read(stream, None)
    table.touch("4", 30)
    ids, cursor = read(stream, cursor)
    assert ids == ["4"]
    assert read(stream, cursor)[0] == []


def test_lookback_reads_again_before_the_bound_and_drops_what_it_knew() -> None:
    table = Table(10)
    stream = only(connect(table, lookback={"people": 300}))
    _, cursor = read(stream, None)
    assert table.log[-1].get("updated_since") is None
    again, _ = read(stream, cursor)
    assert table.log[-1]["updated_since"] == "2026-01-01T00:05:00+00:00"
    assert again == []  # rows 5..10 came back unchanged
    late = {"id": "11", "email": "p11@example.com", "updated": Table.at(8)}
    table.rows["11"] = late  # a record that arrives late, with an older time
    assert read(stream, cursor)[0] == ["11"]


@pytest.mark.parametrize("crash_after", range(4))
def test_a_read_resumes_at_the_page_after_the_last_one_stored(crash_after: int) -> None:
    table = Table(10)
    stream = only(connect(table))
    clean, _ = read(stream, None)
    cursors = [page.cursor for page in stream.read(None)]
    table.log.clear()
    stored = cursors[crash_after]
    before = [r.external_id for p in list(stream.read(None))[: crash_after + 1] for r in p.records]
    resumed, final = read(stream, stored)
    assert before + resumed == clean
    offsets = [int(q["offset"]) for q in table.log[len(cursors) :]]
    # the next page's offset; after the last page, a new read from the bound
    assert offsets[0] == (3 * (crash_after + 1) if crash_after < 3 else 0)
    assert read(stream, final)[0] == []


def test_a_vendor_without_a_filter_is_filtered_by_the_kit() -> None:
    table = Table(10, filtering=False)
    stream = only(connect(table))
    _, cursor = read(stream, None)
    table.touch("2", 40)
    assert read(stream, cursor)[0] == ["2"]


class Seeking(People):
    """A table the vendor cannot filter: the read starts where the last one ended."""

    def since(self, value: Any) -> dict[str, Any]:
        return {}

    def seek(self, hint: Any, back: int) -> dict[str, Any]:
        return {"offset": max(0, int(hint) - back)}

    def hint(self, request: kit.PageRequest, reply: kit.Reply) -> Any:
        return int(request.params["offset"]) + len(reply.items)


class SeekingExample(Example):
    stream_classes = (Seeking,)


def test_a_seeking_read_starts_near_where_the_last_ended_and_restarts_when_it_moved() -> None:
    table = Table(10, filtering=False)
    stream = only(SeekingExample(Options(page_size=3), connect(table).context))
    _, cursor = read(stream, None)
    assert json.loads(cursor or "")["hint"] == 10
    table.log.clear()
    assert read(stream, cursor)[0] == []  # nothing new: one request, for the last row read
    assert [int(q["offset"]) for q in table.log] == [9]
    table.log.clear()
    table.rows["11"] = {"id": "11", "email": "p11@example.com", "updated": Table.at(20)}
    ids, cursor = read(stream, cursor)
    assert ids == ["11"] and int(table.log[0]["offset"]) == 9
    table.log.clear()
    table.touch("3", 22)  # moved to the end: the last row read is no longer where it was
    ids, cursor = read(stream, cursor)
    assert ids == ["3"] and [int(q["offset"]) for q in table.log][:2] == [10, 8]  # a page back
    table.log.clear()
    del table.rows["1"], table.rows["2"], table.rows["4"]  # the table shrank
    table.touch("5", 25)
    ids, _ = read(stream, cursor)
    assert ids == ["5"]  # found by reading again from the start
    assert [int(q["offset"]) for q in table.log][:3] == [10, 8, 0]


class Window(RestStream):
    """A vendor that lists what changed in a window, without a time on each record."""

    name = "window"
    path = "changed"
    method = "POST"
    records = "ids"
    window = True
    cursor_type = "ms"
    body: ClassVar[dict[str, Any]] = {"kind": "contact"}

    def paginator(self) -> Paginator:
        return PageNumberPaginator(2, start=0, place="body", has_more=lambda b: b["more"])

    def since(self, value: Any) -> dict[str, Any]:
        return {"from": value}

    def until(self, value: Any) -> dict[str, Any]:
        return {"to": value}

    def map(self, row: dict[str, Any]) -> ContactRecord:
        return ContactRecord(str(row["id"]), None)


def json_vendor(
    reply: Callable[[dict[str, Any]], Any],
) -> tuple[list[dict[str, Any]], httpx.MockTransport]:
    """A vendor that answers each request's JSON body ``b`` with 200 and ``reply(b)``: the
    bodies it is sent, in order, and its transport."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json=reply(body))

    return bodies, httpx.MockTransport(handler)


def test_a_window_stream_pages_in_the_body_and_moves_to_the_window_end() -> None:
    def reply(body: dict[str, Any]) -> dict[str, Any]:
        page = body["page"]
        return {"ids": [{"id": n} for n in range(page * 2, page * 2 + 2)], "more": page < 2}

    bodies, vendor = json_vendor(reply)
    now = T0 + timedelta(hours=1)
    context = ConnectorContext("w", transport=vendor, clock=lambda: now)

    class WindowExample(Example):
        stream_classes = (Window,)

    stream = only(WindowExample(Options(lookback={"window": 60}), context))
    pages = list(stream.read(None))
    assert [b["page"] for b in bodies] == [0, 1, 2] and bodies[0]["kind"] == "contact"
    assert "from" not in bodies[0] and bodies[0]["to"] == int(now.timestamp() * 1000)
    final = json.loads(pages[-1].cursor or "")
    assert final["bound"] == int(now.timestamp() * 1000)
    bodies.clear()
    list(stream.read(pages[0].cursor))  # resumed: page 1 with the first read's window
    assert [b["page"] for b in bodies] == [1, 2]
    assert bodies[0]["to"] == int(now.timestamp() * 1000)
    bodies.clear()
    list(stream.read(pages[-1].cursor))
    assert bodies[0]["from"] == int(now.timestamp() * 1000) - 60_000  # the lookback, once


class Nested(RestStream):
    """A GraphQL-style stream: the filter and the paging cursor are variables of the body."""

    name = "nested"
    path = "graphql"
    method = "POST"
    records = "data.items.nodes"
    cursor_field = "at"
    cursor_type = "ms"
    body: ClassVar[dict[str, Any]] = {"query": "{ items }", "variables": {"first": 2}}

    def paginator(self) -> Paginator:
        def after(reply: Any) -> str | None:
            info = kit.dig(reply, "data.items.pageInfo") or {}
            return info.get("endCursor") if info.get("hasNextPage") else None

        return kit.CursorPaginator(after, param="variables.after", place="body")

    def since(self, value: Any) -> dict[str, Any]:
        return {"variables.query": f"at:>={value}"}

    def map(self, row: dict[str, Any]) -> ContactRecord:
        return ContactRecord(str(row["id"]), None)


def test_dotted_names_set_paging_and_bounds_inside_a_bodys_nested_objects() -> None:
    def reply(body: dict[str, Any]) -> dict[str, Any]:
        start = int(body["variables"].get("after") or 0)
        rows = [{"id": n, "at": 1000 + n} for n in range(start, min(start + 2, 5))]
        info = {"hasNextPage": start + 2 < 5, "endCursor": str(start + 2)}
        return {"data": {"items": {"nodes": rows, "pageInfo": info}}}

    class NestedExample(Example):
        stream_classes = (Nested,)

    bodies, vendor = json_vendor(reply)
    context = ConnectorContext("n", transport=vendor, clock=lambda: T0)
    stream = only(NestedExample(Options(), context))
    pages = list(stream.read(None))
    assert [b["variables"] for b in bodies] == [
        {"first": 2}, {"first": 2, "after": "2"}, {"first": 2, "after": "4"}
    ]  # fmt: skip
    assert all(b["query"] == "{ items }" for b in bodies)
    assert Nested.body == {"query": "{ items }", "variables": {"first": 2}}  # not changed
    bodies.clear()
    list(stream.read(pages[0].cursor))  # resumed with the stored body
    assert [b["variables"].get("after") for b in bodies] == ["2", "4"]
    bodies.clear()
    list(stream.read(pages[-1].cursor))
    # strictly after the bound, a record's own value: from the next millisecond
    assert bodies[0]["variables"] == {"first": 2, "query": "at:>=1005"}
    request = kit.PageRequest("x", method="POST", body={"a": 1})
    assert request.with_values("body", **{"v.b": 2}).value("v.b", "body") == 2
    assert request.with_values("body", **{"v.b": 2, "v.c": None}).body == {"a": 1, "v": {"b": 2}}


def test_a_row_that_cannot_be_mapped_is_quarantined_and_the_read_goes_on() -> None:
    table = Table(4)
    table.rows["2"] = {"id": "2", "updated": Table.at(2)}  # no email: map() raises KeyError
    pages: list[Page] = list(only(connect(table)).read(None))
    records = [r for p in pages for r in p.records]
    bad = [r for r in records if isinstance(r, InvalidRecord)]
    assert len(bad) == 1 and "email" in bad[0].reason and bad[0].raw["id"] == "2"
    assert len(records) == 4


def test_options_name_only_known_streams_and_register_secrets() -> None:
    class Secret(Options):
        token: kit.ConnectorOptions | None = None

    with pytest.raises(ValueError, match="unknown streams"):
        connect(Table(1), streams=["nope"])
    with pytest.raises(ValueError, match="unknown stream"):
        connect(Table(1), lookback={"nope": 1})


def test_a_cursor_not_in_the_versioned_shape_is_one_clear_error() -> None:
    with pytest.raises(CursorError, match="not in this syncd's shape"):
        Cursor.load('{"since": "2026-01-01"}')
    assert Cursor.load(Cursor(5, {"a": 5}).dump()) == Cursor(5, {"a": 5})


def migration() -> Any:
    return importlib.import_module("syncd.store.migrations.versions.0007_cursor_v1")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("1712345678000", {"v": 1, "bound": 1712345678000}),
        ('{"since": "2026-01-01T10:00:00-05:00"}', {"v": 1, "bound": "2026-01-01T15:00:00+00:00"}),
        ('{"since": "2026-01-01T10:00:00Z", "after": "40", "max": "2026-01-02T00:00:00Z"}',
         {"v": 1, "bound": "2026-01-01T10:00:00+00:00"}),
        ('{"offset": 300, "last": ["2026-01-01T10:00:00", 12]}',
         {"v": 1, "bound": "2026-01-01T10:00:00+00:00", "hint": 300}),
        ('{"offset": 40, "last": ["00000000000000000077", 77]}',
         {"v": 1, "bound": 77, "hint": 40}),
        ('{"updated_at_min": "2026-01-01T10:00:00+01:00"}',
         {"v": 1, "bound": "2026-01-01T09:00:00+00:00"}),
        ('{"from": 1712345678000}', {"v": 1, "bound": 1712345678000}),
        ('{"offset": 10, "line": 2, "head": "ab"}',
         {"v": 1, "bound": {"offset": 10, "line": 2, "head": "ab"}}),
        ("3f2a9c", {"v": 1, "bound": "3f2a9c"}),
        ('{"v": 1, "bound": 3}', None),
        ('{"something": "else"}', None),
    ],
)  # fmt: skip
def test_migration_0007_turns_each_old_shape_into_its_bound(old: str, new: Any) -> None:
    assert migration().to_v1(old) == new


def test_a_migrated_cursor_resumes_without_reading_everything() -> None:
    table = Table(10)
    stream = only(connect(table))
    old = json.dumps({"since": Table.at(10)})
    converted = json.dumps(migration().to_v1(old))
    ids, _ = read(stream, converted)
    assert ids == ["10"]  # the row at the old bound once more, and nothing before it


def pages_of(stream: RestStream) -> Iterator[Page]:
    yield from stream.read(None)


def test_fields_a_vendor_signs_the_body_with_are_sent_but_never_stored() -> None:
    sent, vendor = json_vendor(lambda b: {"ids": [{"id": b["page"]}], "more": b["page"] < 1})

    class Signed(Example):
        stream_classes = (Window,)
        calls = 0

        def auth_body(self) -> dict[str, Any]:
            Signed.calls += 1
            return {"sig": "s3cret-signature", "at": Signed.calls}

    context = ConnectorContext("s", transport=vendor, clock=lambda: T0)
    connector = Signed(Options(), context)
    pages = list(only(connector).read(None))
    assert [(b["sig"], b["at"], b["page"]) for b in sent] == [
        ("s3cret-signature", 1, 0),
        ("s3cret-signature", 2, 1),
    ]  # made anew for each request
    assert all("s3cret" not in (p.cursor or "") for p in pages)
    assert connector.api.post("other", {"sig": "own", "page": 9}) is not None
    assert sent[-1] == {"sig": "own", "at": 3, "page": 9}  # the call's own fields win


def test_an_ms_cursor_reads_a_record_time_written_as_iso_text() -> None:
    field = kit.CursorField("ms")
    assert field.value("2024-05-01T10:00:00.123Z") == 1714557600123
    assert field.value("2024-05-01T12:00:00.001+02:00") == 1714557600001
    assert field.value(datetime(2024, 5, 1, 10, tzinfo=UTC)) == 1714557600000
    assert field.value("1714557600123") == field.value(1714557600123) == 1714557600123
    assert field.value("not a time") is None
    assert kit.CursorField("int").value("2024-05-01T10:00:00Z") is None


def test_a_link_header_read_sends_the_page_size_first_then_the_next_urls_as_given() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        if "page_info" in request.url.params:
            return httpx.Response(200, json={"people": [{"id": "2", "email": "b@x.io"}]})
        following = "https://api.example.com/v1/people?limit=2&page_info=n1"
        return httpx.Response(
            200,
            json={"people": [{"id": "1", "email": "a@x.io"}]},
            headers={"Link": f'<{following}>; rel="next"'},
        )

    class Linked(RestStream):
        name = "people"
        path = "people"
        records = "people"

        def paginator(self) -> Paginator:
            return kit.LinkHeaderPaginator(self.page_size)

        def map(self, row: dict[str, Any]) -> ContactRecord:
            return ContactRecord(row["id"], row["email"])

    class LinkedExample(HttpConnector):
        name = "linked"
        Options = Options
        stream_classes = (Linked,)

    connector = LinkedExample(
        Options(page_size=2), ConnectorContext("l", transport=httpx.MockTransport(handler))
    )
    assert read(only(connector), None)[0] == ["1", "2"]
    assert seen == [{"limit": "2"}, {"limit": "2", "page_info": "n1"}]
    assert kit.LinkHeaderPaginator().first_values() == {}


def test_a_vendors_bucket_lets_a_burst_through_and_close_forgets_the_destination() -> None:
    waits: list[float] = []

    class Bucket(Example):
        burst = 40

        def build_destination(self) -> kit.Destination:
            return object()  # type: ignore[return-value]

    context = ConnectorContext(
        "b",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})),
        sleep=waits.append,
        monotonic=lambda: 0.0,
    )
    connector = Bucket(Options(rate_limit=2), context)
    for _ in range(40):
        connector.api.get("ping")
    assert waits == []
    first = connector.destination()
    connector.close()
    assert connector.destination() is not first  # not one holding the closed client


def test_an_errors_text_is_the_vendors_message() -> None:
    reply = httpx.Response(401, json={"errors": "[API] Invalid API key or access token"})
    assert kit.body_message(reply) == "[API] Invalid API key or access token"


def test_a_seeking_read_whose_first_row_ties_the_bound_unread_reads_again() -> None:
    table = Table(6, filtering=False, same_time=100)  # every row at the same minute
    stream = only(SeekingExample(Options(page_size=3), connect(table).context))
    _, cursor = read(stream, None)
    for gone in ("1", "2", "3", "4"):
        del table.rows[gone]
    for new in ("7", "8", "9", "10"):
        table.rows[new] = {"id": new, "email": f"p{new}@example.com", "updated": Table.at(0)}
    table.log.clear()
    ids, _ = read(stream, cursor)
    # a page back, the seek lands on row 8, at the bound's very value but never read: row 7
    # is before it
    assert ids == ["7", "8", "9", "10"]
    assert [int(q["offset"]) for q in table.log][:3] == [5, 3, 0]


class HeaderVendor(Example):
    @staticmethod
    def rate_headers(response: httpx.Response) -> kit.RateHeaders:
        left = response.headers.get("x-calls-left")
        return kit.RateHeaders(remaining=int(left) if left else None, reset_after=2.0)


def test_a_vendor_reads_its_own_rate_headers_with_a_staticmethod() -> None:
    now = [0.0]
    reply = httpx.Response(200, json={"people": []}, headers={"x-calls-left": "0"})
    context = ConnectorContext(
        "ex",
        transport=httpx.MockTransport(lambda _: reply),
        sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
        monotonic=lambda: now[0],
    )
    connector = HeaderVendor(Options(), context)
    connector.api.get("people")
    connector.api.get("people")
    assert now[0] >= 2.0  # nothing left: the second call waited for the reset
    assert Example.rate_headers(reply) == kit.RateHeaders()


def test_a_bound_held_at_the_read_start_reads_again_what_changed_during_the_read() -> None:
    now = [T0 + timedelta(minutes=10)]
    rows = {i: {"id": str(i), "email": f"p{i}@x.io", "updated": Table.at(i)} for i in (1, 2, 3, 4)}

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        since = query.get("updated_since", "").replace("+00:00", "Z")
        matching = [r for _, r in sorted(rows.items()) if r["updated"] >= since]
        offset = int(query.get("offset", 0))
        if offset == 2 and now[0] == T0 + timedelta(minutes=10):
            rows[1]["updated"], rows[4]["updated"] = Table.at(11), Table.at(15)  # meanwhile
            matching = [r for _, r in sorted(rows.items()) if r["updated"] >= since]
        return httpx.Response(200, json={"people": matching[offset : offset + 2]})

    class ById(People):
        params: ClassVar[dict[str, Any]] = {}
        hold_at_start = True

    class Held(HttpConnector):
        name = "held"
        Options = Options
        stream_classes = (ById,)

    context = ConnectorContext("h", transport=httpx.MockTransport(handler), clock=lambda: now[0])
    stream = only(Held(Options(page_size=2), context))
    first, cursor = read(stream, None)
    assert first == ["1", "2", "3", "4"]  # row 1 as it was before it changed
    now[0] = T0 + timedelta(minutes=30)
    again, cursor = read(stream, cursor)
    # the change to row 1, on a page already read, is not lost; row 4, read at its new time
    # though the bound stayed at the read's start, is not read again
    assert again == ["1"]
    assert read(stream, cursor)[0] == []


def test_a_resumed_read_sends_its_query_in_the_order_declared() -> None:
    class Sorted(People):
        params: ClassVar[dict[str, Any]] = {"sort": "updated", "and": "id"}  # not a-z

    class SortedExample(Example):
        stream_classes = (Sorted,)

    table = Table(10)
    stream = only(SortedExample(Options(page_size=3), connect(table).context))
    first = next(iter(stream.read(None)))
    table.log.clear()
    list(stream.read(first.cursor))
    assert list(table.log[0])[:4] == ["sort", "and", "limit", "offset"]
    assert table.log[0]["offset"] == "3"


class WithCatalog(People):
    """A stream that reads a catalog of names once a read, as ActiveCampaign's tags."""

    def map_page(self, rows: list[dict[str, Any]]) -> list[kit.Record]:
        if not getattr(self, "catalog", None):
            self.catalog = self.api.get("names")
        return super().map_page(rows)


class CatalogExample(Example):
    stream_classes = (WithCatalog,)


def test_a_resumed_read_may_read_its_catalog_again_as_the_harness_allows(tmp_path: Any) -> None:
    from syncd.testing import Bench, Harness, conformance_suite

    class Lookups(Harness):
        connector = CatalogExample
        lookups = 1

        def start(self, clock: Any, faults: str | None) -> None:
            self.table = Table(10)

        def options(self) -> dict[str, Any]:
            return {"page_size": 3}

        def transport(self) -> httpx.BaseTransport:
            return httpx.MockTransport(self.table.handler)

    for allowed in (1, 0):
        harness = type("Lookups", (Lookups,), {"lookups": allowed})
        bench = Bench(harness, tmp_path / str(allowed))
        suite = conformance_suite(harness)()
        try:
            if allowed:
                suite.test_a_pull_resumes_from_every_page_after_a_crash(bench)
            else:
                with pytest.raises(AssertionError, match="read pages before the crash again"):
                    suite.test_a_pull_resumes_from_every_page_after_a_crash(bench)
        finally:
            bench.close()


class Timed(Window):
    cursor_field = "at"


class TimedExample(Example):
    stream_classes = (Timed,)


def timed_window(
    handler: Callable[[httpx.Request], httpx.Response], start: float
) -> tuple[RestStream, list[datetime]]:
    """A window stream whose rows carry their time (``at``, ms), with a lookback of 30 s, on
    a clock that starts ``start`` seconds after the epoch: the stream and the clock's now."""
    now = [datetime.fromtimestamp(start, UTC)]
    context = ConnectorContext("t", transport=httpx.MockTransport(handler), clock=lambda: now[0])
    return only(TimedExample(Options(lookback={"window": 30}), context)), now


def test_a_window_stream_whose_rows_carry_their_time_drops_the_lookback_rereads() -> None:
    changed = {"1": 1_000, "2": 50_000}  # id -> ms of its last change

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        rows = [
            {"id": k, "at": v} for k, v in changed.items() if body.get("from", 0) <= v <= body["to"]
        ]
        return httpx.Response(200, json={"ids": rows, "more": False})

    stream, now = timed_window(handler, start=60)
    ids, cursor = read(stream, None)
    assert sorted(ids) == ["1", "2"] and json.loads(cursor or "")["bound"] == 60_000
    now[0] += timedelta(seconds=20)
    ids, cursor = read(stream, cursor)
    assert ids == []  # row 2 lies in the lookback, unchanged
    changed["2"] = 75_000
    now[0] += timedelta(seconds=20)
    assert read(stream, cursor)[0] == ["2"]


def test_a_window_stream_keeps_rows_whose_time_it_misreads_and_its_window_end() -> None:
    """A row's time in another unit (seconds, read as ms) drops nothing and moves nothing:
    the vendor chose the rows by the window."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ids": [{"id": "1", "at": 50}], "more": False})

    stream, now = timed_window(handler, start=600)
    ids, cursor = read(stream, None)
    assert ids == ["1"] and json.loads(cursor or "")["bound"] == 600_000
    now[0] += timedelta(seconds=60)
    ids, cursor = read(stream, cursor)
    assert ids == ["1"] and json.loads(cursor or "")["bound"] == 660_000


# --- a destination's push: Answers, by_contact, in_batches, split_refused -------------------


def changes(*emails: str, kind: ChangeKind = ChangeKind.ADD_TAG) -> list[Change]:
    return [Change(n, kind, email, "VIP") for n, email in enumerate(emails, 1)]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RetryableError("HTTP 503 from the vendor"), Outcome.RETRYABLE),
        (RateLimited("HTTP 429: slow down", retry_after=3), Outcome.RETRYABLE),
        (RecordError("HTTP 400: bad e-mail", status=400), Outcome.FAILED),
        (kit.FatalError("HTTP 500 for ever"), Outcome.FAILED),
        (ConnectorError("the vendor said no"), Outcome.FAILED),
    ],
)
def test_a_vendors_error_is_the_outcome_of_the_changes_it_concerns(
    error: ConnectorError, outcome: Outcome
) -> None:
    batch = changes("a@x.com", "b@x.com", "c@x.com")
    answers = Answers(batch)
    answers.done(batch[0], external_id="7")
    with answers.answering(batch):
        raise error
    results = answers.results()
    assert [r.outcome for r in results] == [Outcome.DONE, outcome, outcome]
    assert results[0].external_id == "7" and results[0].reason is None
    assert results[1].reason == results[2].reason == str(error)


def test_a_refused_token_stops_the_push_and_answers_nothing() -> None:
    batch = changes("a@x.com")
    answers = Answers(batch)
    with pytest.raises(AuthError), answers.answering(batch):
        raise AuthError("the vendor refused the token (HTTP 401)")
    assert answers.open() == batch
    with pytest.raises(ValueError), answers.answering(batch):
        raise ValueError("a bug is no vendor's answer")  # goes on up, as any bug
    with pytest.raises(AuthError):
        answers.error(batch, AuthError("HTTP 403"))
    assert answers.open() == batch


def test_each_change_gets_exactly_one_answer_the_first_it_was_given() -> None:
    batch = [*changes("a@x.com", "b@x.com"), Change(3, ChangeKind.SET_FIELD, "c@x.com", "tier")]
    answers = Answers(batch, kinds={ChangeKind.ADD_TAG})
    assert answers.open() == batch[:2]  # a kind the destination does not take failed at once
    answers.failed(batch[0], "refused e-mail")
    answers.done(batch, ref="link-1")  # a batch confirmed after one of it was refused
    answers.retry(batch, "later")
    results = answers.results()
    assert [r.change_id for r in results] == [1, 2, 3]
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.FAILED, "refused e-mail"),
        (Outcome.DONE, None),
        (Outcome.FAILED, "set_field is not supported by this destination"),
    ]
    assert results[1].ref == "link-1"


def test_a_change_left_unanswered_is_retryable_as_the_core_takes_it() -> None:
    batch = changes("a@x.com", "b@x.com")
    answers = Answers(batch)
    answers.done(batch[1])
    assert answers.open() == batch[:1] and answers.open({ChangeKind.REMOVE_TAG}) == []
    first, second = answers.results()
    assert (first.outcome, first.reason) == (Outcome.RETRYABLE, "no answer from the destination")
    assert second.outcome is Outcome.DONE


def test_emails_a_vendor_would_refuse_fail_before_anything_is_sent() -> None:
    batch = changes("ok@example.com", "no at sign", "x@example.c0m", " Padded@Example.COM ")
    batch.append(Change(5, ChangeKind.REMOVE_TAG, "no at sign", "VIP", ref="link-5"))
    answers = Answers(batch)
    answers.check_emails("Vendor", {ChangeKind.ADD_TAG})  # a removal by its link needs none
    assert answers.open() == [batch[0], batch[3], batch[4]]
    assert answers.given[2].reason == "Vendor would refuse e-mail 'no at sign'"
    assert not valid_email("a,b@example.com") and not valid_email("a@b@example.com")
    assert valid_email("first.last+tag@mail.example.co.uk")


def test_changes_group_by_contact_in_order() -> None:
    batch = changes("b@x.com", "A@x.com", " b@X.com ")
    assert by_contact(batch) == {"b@x.com": [batch[0], batch[2]], "a@x.com": [batch[1]]}


def test_batches_hold_at_most_their_size_in_order() -> None:
    assert list(in_batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(in_batches({"a": 1, "b": 2}.items(), 5)) == [[("a", 1), ("b", 2)]]
    assert list(in_batches([], 3)) == []
    with pytest.raises(ValueError):
        list(in_batches([1], 0))


class Vendor:
    """Refuses a call (a RecordError) that holds a bad item; records the calls."""

    def __init__(self, *bad: str, errors: dict[str, ConnectorError] | None = None) -> None:
        self.bad, self.errors = set(bad), errors or {}
        self.calls: list[list[str]] = []
        self.confirmed: list[str] = []

    def send(self, items: list[str]) -> None:
        self.calls.append(items)
        if self.bad & set(items):
            raise RecordError(f"refused {sorted(self.bad & set(items))}", status=400)
        for item in items:
            if item in self.errors:
                raise self.errors[item]
        self.confirmed += items


def test_a_refused_batch_is_sent_again_by_halves_until_only_the_bad_item_fails() -> None:
    items = [f"i{n}" for n in range(8)]
    vendor = Vendor("i5")
    failed = split_refused(vendor.send, items)
    assert [(part, str(exc)) for part, exc in failed] == [(["i5"], "refused ['i5']")]
    assert sorted(vendor.confirmed) == sorted(set(items) - {"i5"})
    assert len(vendor.calls) == 1 + 2 + 2 + 2  # halves of 8, 4 and 2
    assert split_refused(vendor.send, []) == [] and len(vendor.calls) == 7  # nothing to send


def test_a_refused_batch_may_be_sent_again_one_item_at_a_time() -> None:
    vendor = Vendor("b")
    failed = split_refused(vendor.send, ["a", "b", "c"], singles=True)
    assert [part for part, _ in failed] == [["b"]]
    assert vendor.calls == [["a", "b", "c"], ["a"], ["b"], ["c"]]


def test_a_part_that_meets_another_error_fails_alone_and_a_refused_token_stops_all() -> None:
    vendor = Vendor("a", errors={"c": RetryableError("HTTP 503")})
    failed = split_refused(vendor.send, ["a", "b", "c", "d"])
    assert [(part, type(exc)) for part, exc in failed] == [
        (["a"], RecordError),
        (["c", "d"], RetryableError),  # that part is not split: it is tried again later
    ]
    assert vendor.confirmed == ["b"]
    vendor = Vendor("a", errors={"c": AuthError("HTTP 401")})
    with pytest.raises(AuthError):
        split_refused(vendor.send, ["a", "b", "c", "d"])


# --- reading a vendor's rows ---------------------------------------------------------------


def test_ids_numbers_and_present_values_read_as_vendors_send_them() -> None:
    assert [kit.text_id(v) for v in ("12", 12, 12.0, " 12 ")] == ["12"] * 4
    assert [kit.text_id(v) for v in (None, True, "", "  ")] == [None] * 4
    assert [kit.as_number(v) for v in ("12.5", 3, "x", None, "", False)] == [
        12.5, 3.0, None, None, None, None,
    ]  # fmt: skip
    row = {"a": "x", "b": "", "c": None, "d": 0, "e": {"f": "y"}}
    assert kit.values_of(row, ["a", "b", "c", "d", "e.f", "nope"]) == {"a": "x", "d": 0, "e.f": "y"}
    assert kit.values_of(row, {"a": "first", "e.f": "second", "b": "third"}) == {
        "first": "x",
        "second": "y",
    }


def test_a_line_item_has_the_shared_shape_whatever_the_vendor_sent() -> None:
    texts = [kit.as_text(v) for v in (" Ann ", "", "  ", None, 12)]
    assert texts == ["Ann", None, None, None, "12"]
    assert kit.line_item("2", "89.5", product=" Trail runner ", sku="", category=" ") == {
        "product": "Trail runner",
        "variant": None,
        "sku": None,
        "category": None,
        "vendor": None,
        "quantity": 2,
        "price": 89.5,
    }
    assert kit.line_item(None, "free", product="Cap", vendor="Acme") == {
        "product": "Cap",
        "variant": None,
        "sku": None,
        "category": None,
        "vendor": "Acme",
        "quantity": 0,
        "price": None,
    }


HUBLIKE = kit.ContactMap(
    email="properties.email",
    attributes={"properties.firstname": "first_name", "properties.score": "score"},
    updated_at=("properties.modified", "updatedAt"),
    what="Acme contact",
)


def test_a_contact_map_reads_a_row_or_says_why_it_cannot() -> None:
    row = {
        "id": 7,
        "properties": {"email": " a@x.com ", "firstname": "Ann", "score": 5, "modified": ""},
        "updatedAt": "2026-01-01T00:00:00Z",
    }
    record = HUBLIKE.record(row)
    assert record == ContactRecord(
        "7", "a@x.com", {"first_name": "Ann", "score": "5"}, updated_at=T0
    )  # the first update time present; attributes as text
    no_id = HUBLIKE.record({**row, "id": None})
    assert isinstance(no_id, InvalidRecord) and no_id.reason == "Acme contact without an id"
    no_email = HUBLIKE.record({"id": "7", "properties": {"email": " "}})
    assert isinstance(no_email, InvalidRecord)
    assert no_email.reason == "Acme contact 7 has no e-mail"
    assert kit.ContactMap().record({"id": "1", "email": "b@x.com"}) == ContactRecord("1", "b@x.com")


def test_a_number_in_a_row_is_read_or_refused() -> None:
    row = {"a": "12.5", "b": 3, "c": "", "d": "twelve", "e": True}
    assert [kit.number_at(row, p) for p in ("a", "b", "c", "x")] == [12.5, 3.0, None, None]
    for path in ("d", "e"):
        with pytest.raises(RecordError, match=f"^{path} .* is not a number$"):
            kit.number_at(row, path)


CLICKS = kit.EventMap(
    "click",
    at=("tstamp", "created"),
    properties={"campaign": "campaign_id", "link.url": "url"},
    contact=("contact", "subscriber"),
    no_id=("0",),
)


def test_an_event_map_reads_a_row_or_says_why_it_cannot() -> None:
    row = {"id": 9, "contact": "0", "subscriber": 4, "email": " a@x.com ", "created": "2026-01-01"}
    row |= {"tstamp": "", "campaign": "", "link": {"url": "https://x.com/"}}
    record = CLICKS.record(row, "email_clicked", "click", {"ab": None}, value=2.5)
    assert record == kit.EventRecord(
        "click:9", "email_clicked", T0, "4", "a@x.com", "click",
        {"url": "https://x.com/", "ab": None}, 2.5,
    )  # fmt: skip  # the first time and contact present, "0" being no id; properties present
    by_time = kit.EventMap("unsubscribe", at="at", email=None, keyed_by="s")
    again = by_time.record({"id": "3", "contact": 4, "at": "2026-01-01T00:00:01Z"}, "left")
    assert isinstance(again, kit.EventRecord) and again.external_id == f"unsubscribe:3:{1767225601}"
    by_ms = kit.EventMap("form", at="at", keyed_by="ms").record({"id": 3, "email": "a@x.com",
                                                                 "at": "2026-01-01T00:00:01.5Z"},
                                                                "form_submitted")  # fmt: skip
    assert isinstance(by_ms, kit.EventRecord) and by_ms.external_id == "form:3:1767225601500"
    reasons = [
        CLICKS.record({**row, "id": "0"}, "email_clicked"),
        CLICKS.record({**row, "created": "soon"}, "email_clicked"),
        CLICKS.record({**row, "subscriber": None, "email": " "}, "email_clicked"),
    ]
    assert [r.reason for r in reasons if isinstance(r, InvalidRecord)] == [
        "email_clicked without an id",
        "email_clicked 9 without a time ('soon')",
        "email_clicked 9: no contact and no e-mail",
    ]


class Names:
    """A vendor's list endpoint of tags, two a page, whose rows a test changes."""

    def __init__(self, *names: str) -> None:
        self.rows = [{"id": str(i), "tag": n} for i, n in enumerate(names, 1)]
        self.reads = 0  # whole reads of the table

    def handler(self, request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        self.reads += offset == 0
        return httpx.Response(200, json={"tags": self.rows[offset : offset + 2]})

    def lookup(self) -> kit.Lookup:
        context = ConnectorContext("ex", transport=httpx.MockTransport(self.handler))
        api = Example(Options(), context).api
        return kit.Lookup(api, "tags", OffsetPaginator(2), "tags", value="tag")


def test_a_lookup_reads_its_table_once_and_again_only_for_an_id_it_lacks() -> None:
    names = Names("VIP", "Newsletter", "Churned")
    tags = names.lookup()
    assert names.reads == 0  # nothing read until a name is asked
    assert tags.name("3") == "Churned" and tags.name(1) == "VIP" and tags.name(None) is None
    assert names.reads == 1  # every page of the table, once
    tags.cover(["1", None, "2"])
    assert names.reads == 1  # all known: not read again
    names.rows.append({"id": "4", "tag": "Lead"})
    tags.cover(["1", "4", "9"])
    assert names.reads == 2 and tags.name("4") == "Lead" and tags.name("9") is None
    tags.cover(["9"])
    assert names.reads == 2  # 9 was missing the last time too: not read again for it
    assert tags.find(" newsletter ") == "2" and tags.find("nothing") is None


def test_a_lookup_finds_a_row_by_other_paths_and_every_row_reads_each_page() -> None:
    names = Names("VIP", "Lead", "Churned")
    names.rows[1]["perstag"] = "LEAD_TAG"
    tags = names.lookup()
    assert tags.find("lead_tag") is None  # the name only, by default
    assert tags.find("lead_tag", "tag", "perstag") == "2"
    assert names.reads == 1
    rows = kit.every_row(tags.api, "tags", OffsetPaginator(2), "tags")
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert rows[1] == {"id": "2", "tag": "Lead", "perstag": "LEAD_TAG"}
    slim = kit.every_row(tags.api, "tags", OffsetPaginator(2), "tags", keys=("id", "perstag"))
    assert slim == [{"id": "1", "perstag": None}, {"id": "2", "perstag": "LEAD_TAG"},
                    {"id": "3", "perstag": None}]  # fmt: skip


class Capped:
    """A search that serves at most four results of a query, two a page (``after``: the index
    of the next), and tells the query's total."""

    def __init__(self, *values: int) -> None:
        self.rows = [{"id": str(i), "at": v} for i, v in enumerate(values, 1)]
        self.bodies: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        rows = [r for r in self.rows if r["at"] >= body.get("from", 0)]
        after = int(body.get("after") or 0)
        end = min(after + body["limit"], 4, len(rows))
        paging = {"paging": {"next": str(end)}} if end < min(4, len(rows)) else {}
        return httpx.Response(200, json={"total": len(rows), "results": rows[after:end], **paging})


class Searched(RestStream):
    name, path, method, records = "searched", "search", "POST", "results"
    cursor_field, cursor_type = "at", "int"

    def paginator(self) -> Paginator:
        inner = kit.CursorPaginator(
            lambda body: kit.dig(body, "paging.next"), param="after", place="body", limit=2
        )
        return kit.CappedQuery(self, inner, total="total")

    def since(self, value: Any) -> dict[str, Any]:
        return {"from": value}

    def map(self, row: dict[str, Any]) -> ContactRecord:
        return ContactRecord(row["id"], f"{row['id']}@example.com")


def searched(vendor: Capped) -> RestStream:
    class Searching(HttpConnector):
        name, Options = "example", Options
        stream_classes = (Searched,)

    return only(
        Searching(Options(), ConnectorContext("ex", transport=httpx.MockTransport(vendor.handler)))
    )


def test_a_capped_query_goes_on_from_the_newest_value_and_fails_when_it_cannot() -> None:
    vendor = Capped(1, 2, 3, 4, 5, 5, 6)
    ids, cursor = read(searched(vendor), None)
    assert ids == ["1", "2", "3", "4", "5", "6", "7"]  # the row at 4 came again: dropped
    assert [(b.get("after"), b.get("from"), b["limit"]) for b in vendor.bodies] == [
        (None, None, 2),
        ("2", None, 2),
        (None, 4, 2),
        ("2", 4, 2),
    ]
    assert json.loads(cursor or "")["bound"] == 6
    with pytest.raises(kit.FatalError, match="more results than a query serves share one at"):
        read(searched(Capped(1, 1, 1, 1, 1, 1)), None)


class Taggings(RestStream):
    """Rows naming a tag by id, its name from the declared catalog (the tags, two a page)."""

    name = "taggings"
    path = records = "taggings"
    catalogs = {"tag": kit.Catalog("tags", "tags", "tag", "tag", lambda: OffsetPaginator(2))}

    def map(self, row: dict[str, Any]) -> kit.TagRecord:
        return kit.TagRecord(row["contact"], self.names["tag"].name(row["tag"]) or "?", True)


@pytest.mark.parametrize("fresh", [False, True])
def test_a_declared_catalog_is_covered_each_page_and_read_afresh_when_fresh(fresh: bool) -> None:
    names = Names("VIP", "Newsletter", "Churned")
    taggings = [{"id": "1", "contact": "a", "tag": "2"}, {"id": "2", "contact": "b", "tag": "0"}]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/taggings"):
            return httpx.Response(200, json={"taggings": taggings})
        return names.handler(request)

    class Declared(Taggings):
        catalogs = {"tag": replace(Taggings.catalogs["tag"], no_id=("0",), fresh=fresh)}

    class Example(HttpConnector):
        name, Options = "example", Options
        stream_classes = (Declared,)

    context = ConnectorContext("ex", transport=httpx.MockTransport(handler))
    stream = only(Example(Options(), context))

    def tags() -> list[str]:
        return [r.tag for p in stream.read(None) for r in p.records if isinstance(r, kit.TagRecord)]

    assert tags() == ["Newsletter", "?"] and names.reads == 1  # "0" is no id: not read again
    names.rows.append({"id": "4", "tag": "Lead"})
    taggings.append({"id": "3", "contact": "c", "tag": "4"})
    assert tags() == ["Newsletter", "?", "Lead"]
    assert names.reads == 2  # an id it lacked, or read afresh: once a read
    names.rows[1]["tag"] = "News"
    assert tags()[0] == ("News" if fresh else "Newsletter")
    assert names.reads == (3 if fresh else 2)


class AccountOptions(HttpOptions):
    server: Annotated[str, kit.ApiUrl(path="/api", host="{}.acme.com", example="app3")]


class Account(HttpConnector):
    name = "account"
    Options = AccountOptions


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("app3", "https://app3.acme.com/api"),
        (" eu.acme.example/ ", "https://eu.acme.example/api"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api"),
        ("https://app3.acme.com/api", "https://app3.acme.com/api"),
    ],
)
def test_an_api_url_option_is_the_apis_root_and_the_connectors_base_url(
    given: str, root: str
) -> None:
    options = AccountOptions(server=given)
    assert options.server == root
    assert Account(options, ConnectorContext("acc")).base_url() == root


def test_an_api_url_option_without_a_host_takes_only_urls() -> None:
    url = kit.ApiUrl(path="/v2", example="https://api.acme.com")
    assert url(" https://api.acme.com/ ") == "https://api.acme.com/v2"
    for bad in ("api.acme.com", ""):
        with pytest.raises(ValueError, match=re.escape("must be a URL, like https://api.acme.com")):
            url(bad)
    with pytest.raises(ValidationError, match="an account's name or a URL, like app3"):
        AccountOptions(server=" ")


def test_a_contact_map_takes_the_first_id_present_of_several() -> None:
    either = kit.ContactMap(id=("id", "contactId"))
    assert either.record({"id": "", "contactId": 9, "email": "a@x.com"}) == ContactRecord(
        "9", "a@x.com"
    )
    assert either.record({"id": "1", "contactId": "9", "email": "a@x.com"}) == ContactRecord(
        "1", "a@x.com"
    )
    none = either.record({"id": None, "email": "a@x.com"})
    assert isinstance(none, InvalidRecord) and none.reason == "contact without an id"


def test_a_contacts_tag_changes_fold_into_tags_to_add_and_to_remove_last_word_winning() -> None:
    add, remove = ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG
    given = [(add, "VIP"), (remove, "OLD"), (ChangeKind.SET_FIELD, "tier"), (add, "NEW")]
    given += [(remove, "VIP"), (add, "OLD"), (add, "NEW")]
    group = [Change(n, kind, "a@x.com", key) for n, (kind, key) in enumerate(given)]
    added, removed = kit.tag_writes(group)
    # in the order the tags first came; each with every change of it, the field change in none
    assert added == {"OLD": [group[1], group[5]], "NEW": [group[3], group[6]]}
    assert removed == {"VIP": [group[0], group[4]]}
    assert kit.tag_writes([group[2]]) == ({}, {})


def test_a_vendors_check_of_its_answers_and_the_caller_share_one_parse() -> None:
    """A vendor that answers errors in HTTP 200 reads each answer's body (``body_error``);
    the caller then gets that same parse, not a second one of the same bytes."""
    checked: list[Any] = []

    def body_error(response: httpx.Response) -> None:
        checked.append(kit.answer_json(response))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": True, "contacts": [{"id": 1}]})

    api = kit.ApiClient(
        "https://vendor.example/api",
        transport=httpx.MockTransport(handler),
        rules=kit.ErrorRules(body_error=body_error),
    )
    body = api.post("contact/listById", {"contactId": [1]})
    assert body == {"success": True, "contacts": [{"id": 1}]}
    assert len(checked) == 1 and checked[0] is body
