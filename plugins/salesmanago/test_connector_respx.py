"""The SALESmanago connector's requests and its reading of every answer, against respx:
the signature, each method's body, and errors in HTTP 200."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from syncd.clock import fixed_clock
from syncd.connectors import (
    AuthError,
    Change,
    ChangeKind,
    ConnectorContext,
    ContactRecord,
    EventRecord,
    FatalError,
    InvalidRecord,
    Outcome,
    RecordError,
)
from syncd.plugins import get_plugin_manager
from syncd.secrets import redact
from syncd_plugins.salesmanago.connector import SalesmanagoConnector, SalesmanagoOptions
from syncd_plugins.salesmanago.emulator import SalesmanagoEmulator
from syncd_plugins.salesmanago.mapping import event_record

API = "https://app3.salesmanago.com/api"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
CLIENT, KEY, SECRET, OWNER = "client77", "random-key-1", "sm-secret-value-42", "boss@example.com"
SHA = hashlib.sha1(f"{KEY}{CLIENT}{SECRET}".encode()).hexdigest()


def connector(**options: Any) -> SalesmanagoConnector:
    given: dict[str, Any] = {
        "server": "app3",
        "client_id": CLIENT,
        "api_key": KEY,
        "api_secret": SECRET,
        "owner": OWNER,
        **options,
    }
    context = ConnectorContext("sm", clock=fixed_clock(NOW), sleep=lambda seconds: None)
    return SalesmanagoConnector(SalesmanagoOptions(**given), context)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def sent(route: Any) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def ok(**data: Any) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "message": [], **data})


def test_options_build_the_url_and_forbid_unknown_keys() -> None:
    assert connector().options.server == API
    url = SalesmanagoOptions(
        server="http://127.0.0.1:8123/",
        client_id=CLIENT,
        api_key=KEY,  # type: ignore[arg-type]
        api_secret=SECRET,  # type: ignore[arg-type]
        owner=OWNER,
    ).server
    assert url == "http://127.0.0.1:8123/api"
    assert connector().options.batch_size == 100
    with pytest.raises(ValidationError):
        connector(list_id="x")
    with pytest.raises(ValidationError):
        connector(owner="nobody")  # not an e-mail


def test_every_body_is_signed(mock: respx.MockRouter) -> None:
    route = mock.post("/contact/tags").mock(return_value=ok(tags=[]))
    connector().check_connection()
    (body,) = sent(route)
    assert body["clientId"] == CLIENT and body["apiKey"] == KEY and body["owner"] == OWNER
    assert body["sha"] == SHA
    assert body["requestTime"] == NOW_MS  # milliseconds
    assert route.calls[0].request.headers["content-type"] == "application/json"
    # the secret and the signature made from it never show in text syncd writes
    assert SECRET not in redact(f"x {SECRET} {SHA}") and SHA not in redact(f"{SHA}")


def test_a_pull_pages_modified_contacts_then_reads_them_by_id(mock: respx.MockRouter) -> None:
    ids = [f"id-{n}" for n in range(60)]

    def modified(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        page, size = body["page"], body["size"]
        chunk = ids[page * size : (page + 1) * size]
        rows = [{"contactId": i, "email": f"{i}@example.com", "modifiedOn": 5000} for i in chunk]
        return ok(modifiedContacts=rows, hasMore=(page + 1) * size < len(ids))

    def by_id(request: httpx.Request) -> httpx.Response:
        wanted = json.loads(request.content)["contactId"]
        return ok(contacts=[{"id": i, "email": f"{i}@example.com"} for i in wanted])

    pages = mock.post("/contact/paginatedModifiedContacts").mock(side_effect=modified)
    full = mock.post("/contact/listById").mock(side_effect=by_id)
    stream = connector(page_size=25).streams()[0]
    read = list(stream.read(json.dumps({"v": 1, "bound": 61_000})))  # no lookback
    bodies = sent(pages)
    assert [(b["from"], b["to"], b["page"], b["size"]) for b in bodies] == [
        (61_000, NOW_MS, 0, 25),
        (61_000, NOW_MS, 1, 25),
        (61_000, NOW_MS, 2, 25),
    ]
    assert [len(b["contactId"]) for b in sent(full)] == [25, 25, 10]
    # a page with more to come stores the next page's request, unsigned
    resumes = [json.loads(p.cursor or "")["resume"]["body"] for p in read[:-1]]
    assert resumes == [{"from": 61_000, "to": NOW_MS, "page": n, "size": 25} for n in (1, 2)]
    assert json.loads(read[-1].cursor or "") == {"v": 2, "bound": NOW_MS}  # the window's end
    assert not [p for p in read if KEY in (p.cursor or "") or SHA in (p.cursor or "")]
    contacts = [r for p in read for r in p.records if isinstance(r, ContactRecord)]
    assert [c.external_id for c in contacts] == ids


def test_a_first_read_asks_from_the_start_and_quarantines_a_row_without_id(
    mock: respx.MockRouter,
) -> None:
    rows = [{"contactId": "c-1"}, {"email": "no-id@example.com"}, {"contactId": "c-1"}]
    pages = mock.post("/contact/paginatedModifiedContacts").mock(
        return_value=ok(modifiedContacts=rows, hasMore=False)
    )
    full = mock.post("/contact/listById").mock(
        return_value=ok(contacts=[{"id": "c-1", "email": "c1@example.com"}])
    )
    (page,) = connector().streams()[0].read(None)
    assert sent(pages)[0]["from"] == 0 and sent(pages)[0]["to"] == NOW_MS
    assert sent(full)[0]["contactId"] == ["c-1"]  # each id once
    bad = [r for r in page.records if isinstance(r, InvalidRecord)]
    assert len(bad) == 1 and "contactId" in bad[0].reason and bad[0].raw == rows[1]
    assert [r.external_id for r in page.records if isinstance(r, ContactRecord)] == ["c-1"]


def test_a_contact_keeps_its_tags_and_events_are_normalised(mock: respx.MockRouter) -> None:
    row = {
        "id": "c-1",
        "email": "Ola@Example.com",
        "name": "Ola Nowak",
        "score": 40,
        "optedOut": True,
        "modifiedOn": NOW_MS,
        "address": {"city": "Warsaw", "country": "PL"},
        "contactTags": [
            {"tag": "CHROME", "score": 0},
            {"tag": "CENNIK (3)", "score": 0},
            {"tag": "SCORING_ZAKUPY", "tagWithScore": "SCORING_ZAKUPY:20", "score": 20},
        ],
        "properties": [{"name": "tier", "value": "gold"}],
        "contactExtEvents": [
            {"eventId": "e1", "contactExtEventType": "PURCHASE", "date": NOW_MS, "value": 12.5},
            {"eventId": "e2", "contactExtEventType": "CART", "date": NOW_MS},
            {"eventId": "e3", "contactExtEventType": "VISIT", "date": NOW_MS,
             "description": "/cennik"},
            {"eventId": "e4", "contactExtEventType": "DOWNLOAD", "date": NOW_MS},
        ],
    }  # fmt: skip
    mock.post("/contact/paginatedModifiedContacts").mock(
        return_value=ok(modifiedContacts=[{"contactId": "c-1"}], hasMore=False)
    )
    mock.post("/contact/listById").mock(return_value=ok(contacts=[row]))
    records = [r for p in connector().streams()[0].read(None) for r in p.records]
    contact = records[0]
    assert isinstance(contact, ContactRecord)
    assert contact.tags == ["CHROME", "CENNIK (3)", "SCORING_ZAKUPY"]
    assert contact.tag_scores == {"CHROME": 0, "CENNIK (3)": 0, "SCORING_ZAKUPY": 20}
    assert contact.consent == "revoked" and contact.lists == {"email": "unsubscribed"}
    assert contact.attributes["salesmanago_score"] == 40
    assert contact.attributes["first_name"] == "Ola" and contact.attributes["tier"] == "gold"
    events = [r for r in records if isinstance(r, EventRecord)]
    assert [(e.type, e.raw_type, e.contact_external_id) for e in events] == [
        ("order_placed", "PURCHASE", "c-1"),
        ("checkout_abandoned", "CART", "c-1"),
        ("page_visited", "VISIT", "c-1"),
        ("file_downloaded", "DOWNLOAD", "c-1"),
    ]
    assert events[0].value == 12.5 and events[2].properties["url"] == "/cennik"
    assert events[0].properties["items"] == events[1].properties["items"] == []


def test_a_purchase_events_products_become_its_items() -> None:
    base = {"eventId": "e1", "contactExtEventType": "PURCHASE", "date": NOW_MS}
    one = event_record({**base, "products": "SH-TR-01, SH-TR-01", "value": 258}, "c", None)
    assert isinstance(one, EventRecord)
    assert one.properties["items"] == [
        {"product": "SH-TR-01", "variant": None, "sku": "SH-TR-01", "category": None,
         "vendor": None, "quantity": 2, "price": 129.0},
    ]  # fmt: skip
    two = event_record({**base, "products": "A,B,A", "value": 50}, "c", None)
    assert isinstance(two, EventRecord)
    assert [(i["sku"], i["quantity"], i["price"]) for i in two.properties["items"]] == [
        ("A", 2, None),
        ("B", 1, None),
    ]  # the value is the whole order's: no unit price to tell
    visit = event_record({**base, "contactExtEventType": "VISIT", "products": "A"}, "c", None)
    assert isinstance(visit, EventRecord) and "items" not in visit.properties


def test_a_push_is_one_batch_upsert_per_batch_of_contacts(mock: respx.MockRouter) -> None:
    def upsert(request: httpx.Request) -> httpx.Response:
        details = json.loads(request.content)["upsertDetails"]
        return ok(
            contactIds={d["contact"]["email"]: f"id-{d['contact']['email']}" for d in details}
        )

    route = mock.post("/contact/batchupsert").mock(side_effect=upsert)
    emails = [f"p{n}@example.com" for n in range(7)]
    changes = [Change(n, ChangeKind.ADD_TAG, e, "VIP") for n, e in enumerate(emails)]
    changes += [
        Change(10, ChangeKind.REMOVE_TAG, emails[0], "OLD"),
        Change(11, ChangeKind.SET_FIELD, emails[1], "tier", "gold"),
        Change(12, ChangeKind.SET_FIELD, emails[2], "tier", "silver"),
        Change(13, ChangeKind.SUBSCRIBE, "new@example.com", "email"),
    ]
    destination = connector(batch_size=3).destination()
    assert destination is not None
    results = destination.push(changes)
    assert all(r.outcome is Outcome.DONE for r in results)
    assert results[0].external_id == f"id-{emails[0]}"
    bodies = sent(route)
    assert len(bodies) == math.ceil(8 / 3)  # 8 contacts changed, 3 a call
    details = [d for b in bodies for d in b["upsertDetails"]]
    assert details[0] == {"contact": {"email": emails[0]}, "tags": ["VIP"], "removeTags": ["OLD"]}
    assert details[1]["properties"] == {"tier": "gold"}
    assert "forceOptOut" not in json.dumps(bodies)  # syncd never opts anyone out
    assert details[7] == {"contact": {"email": "new@example.com"}, "forceOptIn": True}
    assert all(b["sha"] == SHA and b["owner"] == OWNER for b in bodies)


def test_a_contact_that_opted_out_is_never_opted_in(mock: respx.MockRouter) -> None:
    mock.post("/contact/listById").mock(
        return_value=ok(contacts=[{"id": "c-9", "email": "gone@example.com", "optedOut": True}])
    )
    route = mock.post("/contact/batchupsert").mock(return_value=ok(contactIds={}))
    destination = connector().destination()
    assert destination is not None
    changes = [
        Change(1, ChangeKind.SUBSCRIBE, "gone@example.com", "email", external_id="c-9"),
        Change(2, ChangeKind.SUBSCRIBE, "x@example.com", "newsletter"),  # no such list
        Change(3, ChangeKind.ADD_TAG, "bad address", "VIP"),
    ]
    results = destination.push(changes)
    assert [r.outcome for r in results] == [Outcome.FAILED] * 3
    assert "opted out" in (results[0].reason or "")
    assert "no lists" in (results[1].reason or "")
    assert not route.calls  # nothing left to write


def test_a_refused_opt_out_look_up_fails_the_opt_ins_not_the_push(
    mock: respx.MockRouter,
) -> None:
    mock.post("/contact/listById").mock(
        return_value=httpx.Response(200, json={"success": False, "message": ["Wrong contactId"]})
    )
    route = mock.post("/contact/batchupsert").mock(return_value=ok(contactIds={}))
    destination = connector().destination()
    assert destination is not None
    changes = [
        Change(1, ChangeKind.SUBSCRIBE, "who@example.com", "email", external_id="c-404"),
        Change(2, ChangeKind.ADD_TAG, "tag.me@example.com", "VIP"),
    ]
    results = destination.push(changes)
    assert results[0].outcome is Outcome.FAILED and "Wrong contactId" in (results[0].reason or "")
    assert results[1].outcome is Outcome.DONE
    assert len(route.calls) == 1  # the tag went out all the same


def test_errors_in_http_200_are_read_by_their_words(mock: respx.MockRouter) -> None:
    def refused(*message: str) -> httpx.Response:
        return httpx.Response(200, json={"success": False, "message": list(message)})

    route = mock.post("/contact/tags")
    route.mock(return_value=refused("Not authenticated: wrong sha"))
    with pytest.raises(AuthError, match="wrong sha"):
        connector().check_connection()
    assert route.call_count == 1
    route.mock(return_value=refused("Owner 'boss@example.com' not found in this account"))
    with pytest.raises(FatalError, match="Owner"):
        connector().check_connection()
    route.mock(side_effect=[refused("Internal error, try again later"), ok(tags=[])])
    connector().check_connection()  # retried, then fine
    route.mock(side_effect=[httpx.Response(200, json={"tags": []}), ok(tags=[])])
    connector().check_connection()  # an answer without its success flag is not a success


def test_one_refused_contact_fails_alone(mock: respx.MockRouter) -> None:
    def upsert(request: httpx.Request) -> httpx.Response:
        details = json.loads(request.content)["upsertDetails"]
        if any(d["contact"]["email"].startswith("spam") for d in details):
            return httpx.Response(200, json={"success": False, "message": ["Contact refused"]})
        return ok(contactIds={d["contact"]["email"]: "id" for d in details})

    route = mock.post("/contact/batchupsert").mock(side_effect=upsert)
    destination = connector().destination()
    assert destination is not None
    changes = [
        Change(n, ChangeKind.ADD_TAG, e, "VIP")
        for n, e in enumerate(["a@example.com", "spam@example.com", "b@example.com"])
    ]
    results = destination.push(changes)
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.FAILED, Outcome.DONE]
    assert "Contact refused" in (results[1].reason or "")
    assert route.call_count == 1 + 3
    with pytest.raises(RecordError):
        connector().api.post("contact/batchupsert", {"upsertDetails": [{"contact": {
            "email": "spam@example.com"}}]})  # fmt: skip


def test_registered_through_the_entry_point_like_any_plugin() -> None:
    plugins = get_plugin_manager()
    assert plugins.connectors()["salesmanago"] is SalesmanagoConnector
    assert plugins.emulators()["salesmanago"] is SalesmanagoEmulator


def test_no_secret_in_the_error_of_a_failing_call(mock: respx.MockRouter) -> None:
    mock.post("/contact/tags").mock(return_value=httpx.Response(500, json={"message": SHA}))
    with pytest.raises(FatalError) as raised:
        connector().check_connection()
    assert SHA not in str(raised.value) and SECRET not in str(raised.value)
    assert "HTTP 500" in str(raised.value)
