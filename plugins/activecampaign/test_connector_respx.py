"""The ActiveCampaign connector's requests and its reading of every answer, against respx."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from syncd.cli import main
from syncd.connectors import (
    AuthError,
    Change,
    ChangeKind,
    ChangeResult,
    ConnectorContext,
    ContactRecord,
    Cursor,
    EventRecord,
    InvalidRecord,
    ListRecord,
    Outcome,
    PageRequest,
    SeenKeys,
    TagRecord,
    parse_time,
)
from syncd.emulator import VirtualTime
from syncd.testing import migrated_cursor
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions

URL = "https://acme.api-us1.com"
API = f"{URL}/api/3"
TOKEN = "ac-test-token-0001"
WRITES = ("POST", "PUT", "DELETE")


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def connector(vt: VirtualTime, **options: Any) -> ActiveCampaignConnector:
    opts = ActiveCampaignOptions(url=URL, token=TOKEN, page_size=2, **options)
    context = ConnectorContext("ac", sleep=vt.sleep, monotonic=vt.monotonic)
    return ActiveCampaignConnector(opts, context)


def push(vt: VirtualTime, *changes: Change, **options: Any) -> list[ChangeResult]:
    """What the connector's destination answers to ``changes``, pushed as one batch."""
    destination = connector(vt, **options).destination()
    assert destination is not None
    return destination.push(list(changes))


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def stream(ac: ActiveCampaignConnector, name: str) -> Any:
    return next(s for s in ac.streams() if s.name == name)


def records_of(ac: ActiveCampaignConnector, name: str) -> list[Any]:
    """Every record of one stream, read from the beginning."""
    return [r for page in stream(ac, name).read(None) for r in page.records]


def paged(mock: respx.MockRouter, path: str, rows: list[dict[str, Any]]) -> Any:
    """A list endpoint that honours limit and offset, as AC's do."""

    def page(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        chunk = rows[offset : offset + limit]
        return httpx.Response(200, json={path: chunk, "meta": {"total": str(len(rows))}})

    return mock.get(f"/{path}").mock(side_effect=page)


def v1(bound: Any, **more: Any) -> str:
    return json.dumps({"v": 1, "bound": bound, **more})


def body(call: Any) -> Any:
    return json.loads(call.request.content)


# --- options and connection -------------------------------------------------------------


@pytest.mark.parametrize("given", [URL, URL + "/", API, API + "/"])
def test_url_with_or_without_api_path(given: str) -> None:
    assert ActiveCampaignOptions(url=given, token=TOKEN).url == API


def test_options_refuse_mistakes() -> None:
    with pytest.raises(ValidationError):
        ActiveCampaignOptions(url="acme.api-us1.com", token=TOKEN)
    with pytest.raises(ValidationError):
        ActiveCampaignOptions(url=URL, token=TOKEN, api_key="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ActiveCampaignOptions(url=URL, token=TOKEN, page_size=101)
    assert TOKEN not in repr(ActiveCampaignOptions(url=URL, token=TOKEN))


def test_check_connection_is_one_authenticated_call(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    route = mock.get("/users/me").respond(200, json={"user": {"id": "1"}})
    connector(vt).check_connection()
    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.headers["Api-Token"] == TOKEN
    assert sent.headers["User-Agent"].startswith("syncd/")


def test_a_wrong_token_gives_one_clear_line(vt: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/users/me").respond(
        403, json={"message": "You are not authorized to access this resource"}
    )
    with pytest.raises(AuthError) as info:
        connector(vt).check_connection()
    message = str(info.value)
    assert message.startswith("ac: ActiveCampaign refused the API token (HTTP 403)")
    assert "\n" not in message and TOKEN not in message


def test_an_intermittent_403_is_tried_once_more(vt: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/users/me").mock(
        side_effect=[httpx.Response(403, json={"message": "forbidden"}), httpx.Response(200)]
    )
    connector(vt).check_connection()
    assert route.call_count == 2


# --- streams ------------------------------------------------------------------------------


def _contact(id_: Any, email: str, udate: str) -> dict[str, Any]:
    return {"id": id_, "email": email, "firstName": "Ada", "lastName": "", "udate": udate}


def test_contacts_page_by_key_from_the_cursor(vt: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/contacts").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "contacts": [
                        _contact("3", "a@example.com", "2024-05-02T10:00:00-05:00"),
                        _contact(7, "b@example.com", "2024-05-03T10:00:00-05:00"),
                    ],
                    "meta": {"total": "3"},
                },
            ),
            httpx.Response(
                200,
                json={"contacts": [_contact("9", "c@example.com", "2024-05-01T10:00:00-05:00")]},
            ),
        ]
    )
    cursor = v1("2024-05-01T05:00:00+00:00")
    pages = list(stream(connector(vt), "contacts").read(cursor))
    first, second = (c.request.url.params for c in route.calls)
    assert first["orders[id]"] == "ASC" and first["limit"] == "2"
    assert first["filters[updated_after]"] == "2024-05-01T05:00:00+00:00"
    assert "id_greater" not in first and second["id_greater"] == "7"
    records = [r for p in pages for r in p.records]
    assert [r.external_id for r in records if isinstance(r, ContactRecord)] == ["3", "7", "9"]
    assert isinstance(records[0], ContactRecord) and records[0].attributes == {"first_name": "Ada"}
    # mid-read the cursor keeps the start and the next page's key; at the end it moves to the
    # newest udate (in UTC), with the contact read at it
    mid = Cursor.load(pages[0].cursor)
    assert mid.start == "2024-05-01T05:00:00+00:00" and mid.resume is not None
    assert PageRequest.load(mid.resume).params["id_greater"] == 7
    assert Cursor.load(pages[1].cursor) == Cursor(
        "2024-05-03T15:00:00+00:00", SeenKeys({"7": "2024-05-03T15:00:00+00:00"}), exact=True
    )


def test_a_contact_changed_during_a_read_behind_it_is_read_next_time(
    mock: respx.MockRouter,
) -> None:
    now = [datetime(2024, 5, 2, 12, tzinfo=UTC)]
    rows = {
        "3": _contact("3", "a@example.com", "2024-05-02T05:00:00-05:00"),
        "7": _contact("7", "b@example.com", "2024-05-02T06:00:00-05:00"),
        "9": _contact("9", "c@example.com", "2024-05-02T06:30:00-05:00"),
    }

    def contacts(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        if q.get("id_greater") == "7" and rows["3"]["udate"] < "2024-05-02T07":
            rows["3"]["udate"] = "2024-05-02T07:01:00-05:00"  # meanwhile, on the page read
            rows["9"]["udate"] = "2024-05-02T07:02:00-05:00"
        since = parse_time(q.get("filters[updated_after]")) or now[0] - timedelta(days=9)
        found = [r for i, r in rows.items() if int(i) > int(q.get("id_greater", 0))]
        found = [r for r in found if (parse_time(r["udate"]) or since) >= since]
        return httpx.Response(200, json={"contacts": found[: int(q["limit"])]})

    mock.get("/contacts").mock(side_effect=contacts)
    context = ConnectorContext("ac", clock=lambda: now[0])
    ac = ActiveCampaignConnector(ActiveCampaignOptions(url=URL, token=TOKEN, page_size=2), context)
    cursors: dict[str, str | None] = {}

    def read() -> list[str]:
        pages = list(stream(ac, "contacts").read(cursors.get("contacts")))
        cursors["contacts"] = pages[-1].cursor
        now[0] += timedelta(minutes=30)
        return [r.external_id for p in pages for r in p.records]

    assert read() == ["3", "7", "9"]
    # the change to 3 is not lost behind the newer 9; 9, read at its new time though the
    # bound stayed at the read's start, is not read again
    assert read() == ["3"]
    assert read() == []


def test_contact_tags_carry_names_and_link_ids(vt: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/tags").respond(200, json={"tags": [{"id": "4", "tag": "vip"}]})
    route = paged(
        mock,
        "contactTags",
        [
            {"id": 11, "contact": "3", "tag": "4"},  # AC sends this id as a number
            {"id": "12", "contact": "5", "tag": "99"},
        ],
    )
    pages = list(stream(connector(vt), "contact_tags").read(None))
    records = pages[0].records
    assert records[0] == TagRecord("3", "vip", present=True, ref="11")
    assert isinstance(records[1], InvalidRecord)
    params = route.calls[0].request.url.params
    assert params["orders[id]"] == "ASC" and params["offset"] == "0"


def test_the_tag_catalog_is_read_again_once_a_page_that_names_a_tag_it_lacks(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    vip, new = {"id": "4", "tag": "vip"}, {"id": "5", "tag": "new"}
    tags = mock.get("/tags").mock(
        side_effect=[httpx.Response(200, json={"tags": found}) for found in ([vip], [vip, new])]
        + [httpx.Response(200, json={"tags": [vip, new]})] * 3
    )
    tag_ids = ["4", "4", "5", "5", "99", "99", "99"]
    rows = [{"id": str(i), "contact": "3", "tag": t} for i, t in enumerate(tag_ids, 1)]
    paged(mock, "contactTags", rows)
    records = records_of(connector(vt), "contact_tags")
    assert [r.tag for r in records if isinstance(r, TagRecord)] == ["vip", "vip", "new", "new"]
    assert len([r for r in records if isinstance(r, InvalidRecord)]) == 3
    # the first page reads it, the page naming "5" and the first naming "99" read it again
    assert tags.call_count == 3


def test_a_page_with_nothing_new_reads_no_catalog(vt: VirtualTime, mock: respx.MockRouter) -> None:
    tags = mock.get("/tags").respond(200, json={"tags": [{"id": "4", "tag": "vip"}]})
    paged(mock, "contactTags", [])
    assert records_of(connector(vt), "contact_tags") == []
    assert tags.call_count == 0


def test_contact_lists_map_statuses(vt: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/lists").respond(200, json={"lists": [{"id": "1", "name": "Newsletter"}]})
    paged(
        mock,
        "contactLists",
        [
            {"id": "5", "contact": "3", "list": "1", "status": "1", "updated_timestamp": "a"},
            {"id": "6", "contact": "4", "list": 1, "status": 2, "updated_timestamp": "b",
             "udate": "2024-05-01T10:00:00-05:00", "unsubreason": "Too many e-mails"},
            {"id": "7", "contact": "5", "list": 1, "status": 2, "updated_timestamp": "c"},
        ],
    )  # fmt: skip
    records = records_of(connector(vt), "contact_lists")
    at = datetime(2024, 5, 1, 15, tzinfo=UTC)
    assert records[:3] == [
        ListRecord("3", "Newsletter", "subscribed", ref="5"),
        ListRecord("4", "Newsletter", "unsubscribed", ref="6"),
        EventRecord(
            f"unsubscribe:6:{int(at.timestamp())}", "email_unsubscribed", at, "4", None,
            "contact_list_status_2", {"list": "Newsletter", "reason": "Too many e-mails"},
        ),
    ]  # fmt: skip
    # an unsubscribe whose time cannot be read: the membership stands, the event is refused
    assert records[3] == ListRecord("5", "Newsletter", "unsubscribed", ref="7")
    assert isinstance(records[4], InvalidRecord) and "without a time" in records[4].reason


def test_site_tracking_reads_each_contacts_visits(vt: VirtualTime, mock: respx.MockRouter) -> None:
    at = "2024-05-01 10:00:00"
    one = {"id": "3", "email": "a@example.com", "udate": at}
    mock.get("/contacts").respond(200, json={"contacts": [one], "meta": {"total": "1"}})
    logs = [
        {"id": "1", "type": "site", "value": "https://shop.example.com/pricing", "tstamp": at},
        {"id": "2", "type": "webinar_joined", "value": "May", "tstamp": at},
    ]
    route = mock.get("/contacts/3/trackingLogs").respond(200, json={"trackingLogs": logs})
    assert [type(r).__name__ for r in records_of(connector(vt), "contacts")] == ["ContactRecord"]
    assert route.call_count == 0  # off unless asked
    _, visit, other = records_of(connector(vt, site_tracking=True), "contacts")
    assert isinstance(visit, EventRecord) and isinstance(other, EventRecord)
    assert (visit.type, visit.external_id, visit.contact_external_id) == (
        "page_visited", "tracking:1", "3"
    )  # fmt: skip
    assert visit.properties == {"url": "https://shop.example.com/pricing"}
    assert (other.type, other.properties) == (
        "external_event",
        {"name": "webinar_joined", "value": "May"},
    )


def test_field_values_become_attributes(vt: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/fields").respond(200, json={"fields": [{"id": "2", "title": "City"}]})
    mock.get("/fieldValues").respond(
        200, json={"fieldValues": [{"id": "1", "contact": "3", "field": "2", "value": "Oslo"}]}
    )
    records = records_of(connector(vt), "field_values")
    assert records == [ContactRecord("3", None, attributes={"City": "Oslo"})]


def test_email_activities_and_bounces(vt: VirtualTime, mock: respx.MockRouter) -> None:
    at = "2024-05-01T10:00:00-05:00"
    paged(
        mock,
        "emailActivities",
        [
            {"id": "1", "contact": "3", "event": "open", "tstamp": at},
            {
                "id": "2",
                "subscriberid": "3",
                "event": "click",
                "link": "https://x/y",
                "tstamp": at,
            },
        ],
    )
    paged(
        mock,
        "bounceLogs",
        [
            {"id": "1", "contact": "3", "bounceType": "hard", "code": "5.1.1", "tstamp": at},
            {"id": "2", "contact": "3", "code": "4.2.2", "tstamp": at},
        ],
    )
    ac = connector(vt)
    opened, clicked = records_of(ac, "email_activities")
    assert isinstance(opened, EventRecord) and opened.type == "email_opened"
    assert isinstance(clicked, EventRecord) and clicked.type == "email_clicked"
    assert clicked.properties["url"] == "https://x/y" and clicked.contact_external_id == "3"
    hard, soft = records_of(ac, "bounce_logs")
    assert isinstance(hard, EventRecord) and hard.type == "email_bounced_hard"
    assert isinstance(soft, EventRecord) and soft.type == "email_bounced_soft"


def test_orders_are_in_currency_units(vt: VirtualTime, mock: respx.MockRouter) -> None:
    at = "2024-05-01T10:00:00-05:00"

    def order(id_: str, state: str, cents: str) -> dict[str, Any]:
        return {
            "id": id_,
            "email": "a@example.com",
            "state": state,
            "totalPrice": cents,
            "currency": "EUR",
            "createdDate": at,
            "updatedDate": at,
        }

    paged(mock, "ecomOrders", [order("1", "1", "12345"), order("2", "2", "999")])
    placed, abandoned = records_of(connector(vt), "orders")
    assert isinstance(placed, EventRecord) and placed.type == "order_placed"
    assert placed.value == 123.45 and placed.email == "a@example.com"
    assert isinstance(abandoned, EventRecord) and abandoned.type == "checkout_abandoned"
    assert abandoned.value == 9.99
    mock.get("/ecomOrders").respond(200, json={"ecomOrders": [order("3", "0", "100")]})
    assert records_of(connector(vt), "orders") == []


def test_an_orders_products_become_its_normalised_items(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    at = "2024-05-01T10:00:00-05:00"
    order = {
        "id": "7",
        "email": "a@example.com",
        "state": 1,
        "totalPrice": 30300,
        "currency": "USD",
        "createdDate": at,
        "updatedDate": at,
        "orderProducts": ["1", "2"],
    }
    products: list[dict[str, Any]] = [
        {"id": "1", "orderid": "7", "name": "Trail runner", "sku": "SH-TR-01",
         "category": "shoes", "price": 12900, "quantity": 2},
        {"id": "2", "orderid": "7", "name": "Wool socks", "sku": "", "category": "",
         "price": "4500", "quantity": "1"},
    ]  # fmt: skip
    paged(mock, "ecomOrders", [order, {**order, "id": "8", "state": 0}])
    route = mock.get("/ecomOrders/7/orderProducts").mock(
        side_effect=lambda _: httpx.Response(200, json={"ecomOrderProducts": products})
    )
    [placed] = records_of(connector(vt), "orders")
    assert isinstance(placed, EventRecord) and placed.value == 303.0
    assert placed.properties["items"] == [
        {"product": "Trail runner", "variant": None, "sku": "SH-TR-01", "category": "shoes",
         "vendor": None, "quantity": 2, "price": 129.0},
        {"product": "Wool socks", "variant": None, "sku": None, "category": None,
         "vendor": None, "quantity": 1, "price": 45.0},
    ]  # fmt: skip
    assert route.call_count == 1  # the pending order (state 0) is not an event: not asked
    products[1]["quantity"] = "1.5"
    [broken] = records_of(connector(vt), "orders")
    assert isinstance(broken, InvalidRecord) and "quantity '1.5' is not whole" in broken.reason


def test_a_bookmark_stream_resumes_and_skips_what_it_read(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    at, utc = "2024-05-01T10:00:00-05:00", "2024-05-01T15:00:00+00:00"
    rows = [{"id": str(i), "contact": "3", "event": "open", "tstamp": at} for i in range(1, 6)]
    route = paged(mock, "emailActivities", rows)
    cursor = v1(utc, seen={str(i): utc for i in range(1, 5)}, hint=4)
    pages = list(stream(connector(vt), "email_activities").read(cursor))
    # back to the last row read (there and unchanged: nothing before it moved)
    assert route.calls[0].request.url.params["offset"] == "3"
    params = route.calls[0].request.url.params
    assert params["orders[tstamp]"] == "ASC" and params["orders[id]"] == "ASC"
    assert [r.external_id for p in pages for r in p.records] == ["activity:5"]
    assert Cursor.load(pages[-1].cursor) == Cursor(
        utc, SeenKeys({str(i): utc for i in range(1, 6)}), hint=5
    )


def test_a_read_resumed_after_a_crash_still_sorts_by_the_bookmark_first(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    at = "2024-05-01T10:00:00-05:00"
    rows = [{"id": str(i), "contact": "3", "event": "open", "tstamp": at} for i in range(1, 6)]
    route = paged(mock, "emailActivities", rows)
    first = next(iter(stream(connector(vt), "email_activities").read(None)))
    list(stream(connector(vt), "email_activities").read(first.cursor))
    resumed = route.calls[-2].request.url
    assert resumed.params["offset"] == "2"
    assert [k for k, _ in resumed.params.multi_items()][:2] == ["orders[tstamp]", "orders[id]"]


def test_a_bookmark_stream_reads_again_when_its_position_moved(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    def row(i: int) -> dict[str, Any]:
        return {"id": str(i), "contact": "3", "event": "open", "tstamp": "2024-05-01T10:00:00Z"}

    def page(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        data = [row(1), row(9)] if offset == 0 else [row(10)]
        return httpx.Response(200, json={"emailActivities": data})

    route = mock.get("/emailActivities").mock(side_effect=page)
    utc = "2024-05-01T10:00:00+00:00"
    cursor = v1(utc, seen={"1": utc, "5": utc}, hint=8)
    records = [r for p in stream(connector(vt), "email_activities").read(cursor) for r in p.records]
    assert sorted(r.external_id for r in records) == ["activity:10", "activity:9"]
    # the last row read is not there, a page back neither: from the start
    assert [c.request.url.params["offset"] for c in route.calls] == ["7", "6", "0", "2"]


# --- cursors stored by an earlier syncd, moved to v1 by migration 0007 -------------------


def test_an_old_contacts_cursor_resumes_from_its_since(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    route = mock.get("/contacts").respond(
        200, json={"contacts": [_contact("9", "c@example.com", "2024-05-03T10:00:00-05:00")]}
    )
    cursor = migrated_cursor(json.dumps({"since": "2024-05-01T10:00:00-05:00"}))
    pages = list(stream(connector(vt), "contacts").read(cursor))
    assert route.calls[0].request.url.params["filters[updated_after]"] == (
        "2024-05-01T15:00:00+00:00"
    )
    assert [r.external_id for p in pages for r in p.records] == ["9"]


def test_an_old_bookmark_cursor_resumes_near_its_offset(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    mock.get("/tags").respond(200, json={"tags": [{"id": "4", "tag": "vip"}]})
    rows = [{"id": str(i), "contact": "3", "tag": "4"} for i in range(1, 8)]
    route = paged(mock, "contactTags", rows)
    # read up to link 5 at offset 5, as the earlier syncd stored it (ids padded to sort)
    cursor = migrated_cursor(json.dumps({"offset": 5, "last": ["00000000000000000005", 5]}))
    pages = list(stream(connector(vt), "contact_tags").read(cursor))
    # the old cursor knows no row at its bound: the seek of its last row finds it news, and
    # the read goes a page back
    assert [c.request.url.params["offset"] for c in route.calls] == ["4", "3", "5", "7"]
    # the link at the old bound once more (bounds are inclusive), then only what is new
    assert [r.ref for p in pages for r in p.records if isinstance(r, TagRecord)] == ["5", "6", "7"]
    final = Cursor.load(pages[-1].cursor)
    assert final.bound == 7 and final.hint == 7


# --- the destination -----------------------------------------------------------------------


def _catalogs(mock: respx.MockRouter) -> None:
    mock.get("/tags").respond(200, json={"tags": [{"id": "4", "tag": "vip"}]})
    mock.get("/lists").respond(200, json={"lists": [{"id": "1", "name": "Newsletter"}]})
    mock.get("/fields").respond(
        200, json={"fields": [{"id": "2", "title": "Loyalty tier", "perstag": "LOYALTY_TIER"}]}
    )


def _imports(
    mock: respx.MockRouter, status: str = "completed", failure: Any = (), success: Any = ()
) -> Any:
    route = mock.post("/import/bulk_import").respond(
        200, json={"success": 1, "queued_contacts": 1, "batchId": "b-1"}
    )
    mock.get("/import/info").respond(
        200, json={"status": status, "success": list(success), "failure": list(failure)}
    )
    return route


def imported(imports: Any) -> Any:
    """The contacts of the last bulk import the ``_imports`` route received."""
    return body(imports.calls.last)["contacts"]


def test_write_calls_are_ceil_contacts_over_250_plus_removals(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    _catalogs(mock)
    imports = _imports(mock)
    deletes = mock.delete(url__regex=r"/contactTags/\d+$").respond(200, json={})
    contacts = 520
    changes = [
        Change(n * 2 + k, ChangeKind.ADD_TAG, f"p{n}@example.com", tag)
        for n in range(contacts)
        for k, tag in enumerate(("vip", "new-tag"))
    ]
    removals = [
        Change(10_000 + r, ChangeKind.REMOVE_TAG, f"p{r}@example.com", "old", ref=str(100 + r))
        for r in range(7)
    ]
    results = push(vt, *changes, *removals)
    assert all(r.outcome is Outcome.DONE for r in results)
    writes = [c for c in mock.calls if c.request.method in WRITES]
    assert len(writes) == math.ceil(contacts / 250) + len(removals)
    sent = [body(c)["contacts"] for c in imports.calls]
    assert [len(s) for s in sent] == [250, 250, 20]
    assert sent[0][0] == {"email": "p0@example.com", "tags": ["vip", "new-tag"]}
    assert {str(c.request.url).rsplit("/", 1)[1] for c in deletes.calls} == {
        str(100 + r) for r in range(7)
    }
    assert imports.calls.last.request.headers["Api-Token"] == TOKEN


def test_field_values_ride_in_the_bulk_import(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    imports = _imports(mock)
    results = push(
        vt,
        Change(1, ChangeKind.SET_FIELD, "a@example.com", "LOYALTY_TIER", "gold"),
        Change(2, ChangeKind.ADD_TAG, "a@example.com", "vip"),
        Change(3, ChangeKind.SET_FIELD, "a@example.com", "Shoe size", "44"),
    )
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.DONE, Outcome.FAILED]
    assert "Shoe size" in (results[2].reason or "")
    assert imported(imports) == [
        {"email": "a@example.com", "fields": [{"id": "2", "value": "gold"}], "tags": ["vip"]}
    ]


def test_an_unconfirmed_import_is_not_done(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    _imports(mock, status="inprogress")
    [result] = push(vt, Change(1, ChangeKind.ADD_TAG, "a@example.com", "vip"), import_wait=10)
    assert result.outcome is Outcome.RETRYABLE and "b-1" in (result.reason or "")
    assert 0 < sum(vt.sleeps) <= 10


def test_a_contact_the_import_refused_fails_alone(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    _imports(mock, failure=["B@example.com"])
    results = push(
        vt,
        Change(1, ChangeKind.ADD_TAG, "a@example.com", "vip"),
        Change(2, ChangeKind.ADD_TAG, "b@example.com", "vip"),
    )
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.FAILED]


def test_imported_contact_ids_are_not_guessed_from_the_report_order(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    _catalogs(mock)
    _imports(mock, success=["41", "40"])  # which id is whose, the report does not say
    results = push(
        vt,
        Change(1, ChangeKind.ADD_TAG, "a@example.com", "vip"),
        Change(2, ChangeKind.ADD_TAG, "b@example.com", "vip"),
    )
    assert [(r.outcome, r.external_id) for r in results] == [(Outcome.DONE, None)] * 2


def test_bulk_import_rate_limit_is_waited_out(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    mock.get("/import/info").respond(200, json={"status": "completed"})
    route = mock.post("/import/bulk_import").mock(
        side_effect=[
            httpx.Response(
                429,
                json={"success": 0, "message": "Rate limit exceeded."},
                headers={"Retry-After": "20"},
            ),
            httpx.Response(200, json={"success": 1, "batchId": "b-2"}),
        ]
    )
    [result] = push(vt, Change(1, ChangeKind.ADD_TAG, "a@example.com", "vip"))
    assert result.outcome is Outcome.DONE
    assert route.call_count == 2 and 20.0 in vt.sleeps


@pytest.mark.parametrize("per_minute", [100, 20])
def test_bulk_imports_go_at_the_pace_the_option_gives(
    per_minute: int, vt: VirtualTime, mock: respx.MockRouter
) -> None:
    _catalogs(mock)
    mock.get("/import/info").respond(200, json={"status": "completed"})
    sent: list[float] = []

    def accept(request: httpx.Request) -> httpx.Response:
        sent.append(vt.monotonic())
        return httpx.Response(200, json={"success": 1, "batchId": f"b-{len(sent)}"})

    mock.post("/import/bulk_import").mock(side_effect=accept)
    calls = per_minute + 5
    changes = [
        Change(n, ChangeKind.ADD_TAG, f"p{n}@example.com", "vip") for n in range(250 * calls)
    ]
    results = push(vt, *changes, import_rate=per_minute)
    assert {r.outcome for r in results} == {Outcome.DONE} and len(sent) == calls
    # never more than the option's imports in any 60 seconds ...
    assert max(sum(1 for t in sent if s <= t < s + 60) for s in sent) == per_minute
    # ... nor slower than it: the last of them goes within the minute after the first
    assert sent[per_minute - 1] - sent[0] <= 60


@pytest.mark.parametrize(
    ("per_minute", "said"), [(101, "less than or equal to 100"), (0, "greater than 0")]
)
def test_an_import_rate_past_acs_limit_is_one_clear_line(
    per_minute: int, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "syncd.yaml"
    config.write_text(
        "store: {url: 'sqlite:///syncd.db'}\n"
        "connectors:\n"
        f"  esp: {{type: activecampaign, url: '{URL}', token: t, import_rate: {per_minute}}}\n"
    )
    assert main(["--config", str(config), "check"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{config}:3: connectors.esp.import_rate: should be {said} (got {per_minute})"
    ]


def test_removal_without_a_link_id_looks_it_up(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    lookup = mock.get("/contacts", params={"email": "a@example.com"}).respond(
        200, json={"contacts": [{"id": "3", "email": "a@example.com"}]}
    )
    mock.get("/contacts/3/contactTags").respond(
        200, json={"contactTags": [{"id": 55, "contact": "3", "tag": "4"}]}
    )
    delete = mock.delete("/contactTags/55").respond(200, json={})
    [result] = push(vt, Change(1, ChangeKind.REMOVE_TAG, "a@example.com", "vip"))
    assert result.outcome is Outcome.DONE and delete.call_count == 1 and lookup.call_count == 1


def test_removal_of_a_link_already_gone_is_done(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    mock.delete("/contactTags/1").respond(
        404, json={"message": "No Result found for SubscriberTag with id 1"}
    )
    mock.get("/contacts/3/contactTags").respond(200, json={"contactTags": []})
    [result] = push(
        vt, Change(1, ChangeKind.REMOVE_TAG, "a@example.com", "vip", external_id="3", ref="1")
    )
    assert result.outcome is Outcome.DONE


def _unsubscribed(mock: respx.MockRouter, *contacts: dict[str, str]) -> Any:
    """``GET /contacts?listid=…&status=2``: the contacts asked of that are unsubscribed."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked = set(request.url.params.get_list("ids[]"))
        found = [c for c in contacts if c["id"] in asked]
        return httpx.Response(200, json={"contacts": found, "meta": {"total": str(len(found))}})

    return mock.get("/contacts", params={"status": "2"}).mock(side_effect=answer)


def test_subscriptions_ride_in_the_bulk_import(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    imports = _imports(mock, success=["3", "5"])
    asked = _unsubscribed(mock)
    results = push(
        vt,
        Change(1, ChangeKind.SUBSCRIBE, "a@example.com", "Newsletter", external_id="3"),
        Change(2, ChangeKind.ADD_TAG, "a@example.com", "vip"),
        Change(3, ChangeKind.UNSUBSCRIBE, "b@example.com", "Newsletter", external_id="5"),
        Change(4, ChangeKind.UPSERT_CONTACT, "b@example.com", "", attributes={"first_name": "Bo"}),
    )
    assert [r.outcome for r in results] == [Outcome.DONE] * 4
    assert imported(imports) == [
        {"email": "a@example.com", "subscribe": [{"listid": "1"}], "tags": ["vip"]},
        {"email": "b@example.com", "unsubscribe": [{"listid": "1"}], "first_name": "Bo"},
    ]
    assert [c for c in mock.calls if c.request.method in WRITES] == list(imports.calls)
    # the known contact was asked about before the import, by id and list, in one read
    assert asked.call_count == 1
    assert asked.calls.last.request.url.params.get_list("ids[]") == ["3"]
    assert asked.calls.last.request.url.params["listid"] == "1"


def test_an_unsubscribed_contact_is_never_subscribed_again(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    _catalogs(mock)
    imports = _imports(mock)
    _unsubscribed(mock, {"id": "3", "email": "A@example.com"})
    results = push(
        vt,
        Change(1, ChangeKind.SUBSCRIBE, "a@example.com", "Newsletter", external_id="3"),
        Change(2, ChangeKind.SUBSCRIBE, "b@example.com", "Newsletter", external_id="4"),
    )
    assert results[0].outcome is Outcome.FAILED and "unsubscribed" in (results[0].reason or "")
    assert results[1].outcome is Outcome.DONE
    assert imported(imports) == [{"email": "b@example.com", "subscribe": [{"listid": "1"}]}]


def test_only_a_contact_syncd_removed_is_subscribed_again(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    """Both show status 2 at AC; the store says syncd took the first off the list."""
    _catalogs(mock)
    _unsubscribed(
        mock, {"id": "3", "email": "a@example.com"}, {"id": "4", "email": "b@example.com"}
    )
    again = mock.post("/contactLists").respond(
        201, json={"contactList": {"id": "8", "contact": "3", "list": "1", "status": "1"}}
    )
    imports = _imports(mock)
    results = push(
        vt,
        Change(1, ChangeKind.SUBSCRIBE, "a@example.com", "Newsletter", external_id="3",
               syncd_removed=True),
        Change(2, ChangeKind.SUBSCRIBE, "b@example.com", "Newsletter", external_id="4"),
    )  # fmt: skip
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.FAILED]
    assert results[0].ref == "8" and "unsubscribed" in (results[1].reason or "")
    assert body(again.calls.last) == {
        "contactList": {"list": "1", "contact": "3", "status": 1, "sourceid": 4}
    }
    assert again.call_count == 1 and imports.call_count == 0


def test_a_new_contact_unsubscribed_at_ac_is_not_counted_subscribed(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    """A contact whose id syncd did not know is asked about after the import, by the ids the
    import reports: one AC keeps unsubscribed is not taken for subscribed."""
    _catalogs(mock)
    _imports(mock, success=["40", "41"])
    asked = _unsubscribed(mock, {"id": "41", "email": "old@example.com"})
    results = push(
        vt,
        Change(1, ChangeKind.SUBSCRIBE, "new@example.com", "Newsletter"),
        Change(2, ChangeKind.SUBSCRIBE, "old@example.com", "Newsletter"),
    )
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.FAILED]
    assert asked.calls.last.request.url.params.get_list("ids[]") == ["40", "41"]


def test_an_unsubscribe_of_a_contact_ac_lacks_creates_no_contact(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    _catalogs(mock)
    imports = _imports(mock)
    mock.get("/contacts", params={"email": "gone@example.com"}).respond(200, json={"contacts": []})
    mock.get("/contacts", params={"email": "here@example.com"}).respond(
        200, json={"contacts": [{"id": "6", "email": "here@example.com"}]}
    )
    results = push(
        vt,
        Change(1, ChangeKind.UNSUBSCRIBE, "gone@example.com", "Newsletter"),
        Change(2, ChangeKind.UNSUBSCRIBE, "here@example.com", "Newsletter"),
    )
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.DONE]
    assert imported(imports) == [{"email": "here@example.com", "unsubscribe": [{"listid": "1"}]}]


def test_a_subscription_to_a_missing_list_fails_without_a_sender_url(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    _catalogs(mock)
    [result] = push(vt, Change(1, ChangeKind.SUBSCRIBE, "a@example.com", "VIP list"))
    assert result.outcome is Outcome.FAILED and "list_sender_url" in (result.reason or "")
    assert not [c for c in mock.calls if c.request.method in WRITES]


def test_vendor_error_shapes_become_reasons(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    mock.delete(url__regex=r"/contactTags/\d+$").mock(
        side_effect=[
            httpx.Response(
                422,
                json={
                    "errors": [
                        {
                            "status": 422,
                            "title": "Missing attribute",
                            "source": {"pointer": "/data/attributes/contact"},
                        }
                    ]
                },
            ),
            httpx.Response(
                400,
                json={
                    "errors": [{"status": 400, "title": "Bad Request", "detail": "Contact gone"}]
                },
            ),
        ]
    )
    results = push(
        vt,
        Change(1, ChangeKind.REMOVE_TAG, "a@example.com", "vip", external_id="3", ref="7"),
        Change(2, ChangeKind.REMOVE_TAG, "b@example.com", "vip", external_id="4", ref="8"),
    )
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert "Missing attribute (/data/attributes/contact)" in (results[0].reason or "")
    assert "Contact gone" in (results[1].reason or "")


def test_server_errors_leave_changes_retryable(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    route = mock.delete("/contactTags/1").respond(503)
    [result] = push(vt, Change(1, ChangeKind.REMOVE_TAG, "a@example.com", "vip", ref="1"))
    assert result.outcome is Outcome.RETRYABLE
    assert route.call_count == 5  # bounded attempts


def test_a_revoked_token_mid_push_stops_the_run(vt: VirtualTime, mock: respx.MockRouter) -> None:
    _catalogs(mock)
    mock.delete("/contactTags/1").respond(403, json={"message": "forbidden"})
    with pytest.raises(AuthError):
        push(vt, Change(1, ChangeKind.REMOVE_TAG, "a@example.com", "vip", ref="1"))
