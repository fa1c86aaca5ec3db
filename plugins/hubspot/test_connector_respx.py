"""The HubSpot connector's requests and its reading of every answer, against respx: the
search body, time windows, the batch upsert, lists, the rate-limit body and headers, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from syncd.clock import fixed_clock
from syncd.connectors import (
    AuthError,
    Change,
    ChangeKind,
    ConnectorContext,
    ContactRecord,
    Cursor,
    EventRecord,
    FatalError,
    Outcome,
)
from syncd.emulator import VirtualTime
from syncd.plugins import get_plugin_manager
from syncd.testing import migrated_cursor
from syncd_plugins.hubspot import analytics
from syncd_plugins.hubspot.connector import HubSpotConnector, HubSpotOptions

API = "https://api.hubapi.com"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
TOKEN = "pat-na1-secret-token"
SEARCH = "/crm/v3/objects/contacts/search"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
# two contacts' lastmodifieddate, as the search answers and asks for them
T1, T2 = "2024-05-01T10:00:00.000Z", "2024-05-03T10:00:00.000Z"
T1_MS = int(datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp() * 1000)
T2_MS = int(datetime(2024, 5, 3, 10, tzinfo=UTC).timestamp() * 1000)


def connector(vt: VirtualTime | None = None, **options: Any) -> HubSpotConnector:
    vt = vt or VirtualTime()
    context = ConnectorContext("hs", clock=fixed_clock(NOW), sleep=vt.sleep, monotonic=vt.monotonic)
    return HubSpotConnector(HubSpotOptions(**{"token": TOKEN, **options}), context)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        router.get("/crm/v3/owners").respond(
            200, json={"results": [{"id": "7", "email": "rep@example.com"}]}
        )
        yield router


def contact(cid: str, modified: str, **props: str) -> dict[str, Any]:
    return {
        "id": cid,
        "properties": {"email": f"c{cid}@example.com", "lastmodifieddate": modified, **props},
        "createdAt": modified,
        "updatedAt": modified,
        "archived": False,
    }


def found(total: int, *results: dict[str, Any], after: str | None = None) -> httpx.Response:
    """A search's page: ``total`` matches, these ``results``, and the next page's ``after``."""
    body: dict[str, Any] = {"total": total, "results": list(results)}
    if after is not None:
        body["paging"] = {"next": {"after": after}}
    return httpx.Response(200, json=body)


def bodies(route: respx.Route) -> list[Any]:
    return [json.loads(call.request.content) for call in route.calls]


def test_the_plugin_is_registered_through_the_entry_point() -> None:
    pm = get_plugin_manager()
    assert HubSpotConnector in [c for found in pm.hook.syncd_connectors() for c in found]


def test_the_search_asks_by_last_modified_time_and_pages_with_after(
    mock: respx.MockRouter,
) -> None:
    lead = contact("1", "2024-05-01T10:00:00.000Z", hubspot_owner_id="7", lifecyclestage="lead")
    search = mock.post(SEARCH).mock(
        side_effect=[
            found(2, lead, after="1"),
            found(2, contact("2", "2024-05-02T10:00:00.000Z", hs_email_optout="true")),
        ]
    )
    stream = connector(page_size=1, streams=["contacts"]).streams()[0]
    pages = list(stream.read(migrated_cursor("1700000000000")))  # a cursor of an earlier syncd
    sent = bodies(search)
    assert sent[0]["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": 1700000000000}
            ]
        }
    ]
    assert sent[0]["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert sent[0]["limit"] == 1 and "after" not in sent[0]
    assert "lifecyclestage" in sent[0]["properties"] and sent[1]["after"] == "1"
    assert search.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"
    first = pages[0].records[0]
    assert isinstance(first, ContactRecord)
    assert first.attributes["owner_email"] == "rep@example.com"
    assert first.attributes["lifecycle_stage"] == "lead"
    second = pages[1].records[0]
    assert isinstance(second, ContactRecord) and second.consent == "revoked"
    bound = Cursor.load(pages[-1].cursor).bound
    assert bound == int(datetime(2024, 5, 2, 10, tzinfo=UTC).timestamp() * 1000)


def test_a_contacts_sources_page_views_and_forms_are_read(mock: respx.MockRouter) -> None:
    row = contact(
        "5", "2024-05-01T10:00:00.000Z", hs_analytics_source="PAID_SEARCH",
        hs_analytics_source_data_1="spring_sale", hs_latest_source="DIRECT_TRAFFIC",
        hs_latest_source_data_1="", hs_analytics_first_referrer="https://www.google.com/",
        hs_analytics_num_page_views="12", num_conversion_events="2",
        first_conversion_event_name="Newsletter sign-up",
        first_conversion_date="2024-03-01T08:00:00.000Z",
        recent_conversion_event_name="Contact us",
        recent_conversion_date="2024-04-30T09:30:00.000Z", date_of_birth="1990-12-10",
    )  # fmt: skip
    search = mock.post(SEARCH).mock(side_effect=[found(1, row)])
    [page] = connector(streams=["contacts"]).streams()[0].read(None)
    assert {"hs_analytics_source", "recent_conversion_date"} <= set(bodies(search)[0]["properties"])
    person, *forms = page.records
    assert isinstance(person, ContactRecord)
    wanted = {*analytics.FIELDS, "birthday"}
    assert {k: v for k, v in person.attributes.items() if k in wanted} == {
        "source": "paid_search", "source_detail": "spring_sale", "latest_source": "direct_traffic",
        "referrer": "https://www.google.com/", "page_views": 12, "form_submissions": 2,
        "birthday": "1990-12-10",
    }  # fmt: skip
    assert [(e.type, e.external_id, e.properties["form"], e.occurred_at) for e in forms] == [
        ("form_submitted", "form:5:1709280000000", "Newsletter sign-up",
         datetime(2024, 3, 1, 8, tzinfo=UTC)),
        ("form_submitted", "form:5:1714469400000", "Contact us",
         datetime(2024, 4, 30, 9, 30, tzinfo=UTC)),
    ]  # fmt: skip
    assert all(isinstance(e, EventRecord) and e.contact_external_id == "5" for e in forms)
    # the same submission as first and most recent is one event
    at = "2024-03-01T08:00:00Z"
    once = analytics.form_submissions(
        "5", None, {"first_conversion_date": at, "recent_conversion_date": at}
    )
    assert len(once) == 1


def test_a_search_exhausted_before_its_total_goes_on_from_the_last_time(
    mock: respx.MockRouter,
) -> None:
    search = mock.post(SEARCH).mock(
        side_effect=[
            # the cap: no next page, though the total is larger
            found(3, contact("1", T1), contact("2", T2)),
            found(2, contact("2", T2), contact("3", T2)),
        ]
    )
    pages = list(connector(streams=["contacts"]).streams()[0].read(None))
    sent = bodies(search)
    assert sent[1]["filterGroups"][0]["filters"][0]["value"] == T2_MS and "after" not in sent[1]
    ids = [r.external_id for p in pages for r in p.records if isinstance(r, ContactRecord)]
    assert ids == ["1", "2", "3"]  # the contact at the new query's start is read once


def test_a_search_that_pages_by_opaque_tokens_ends_with_a_query_from_the_last_time(
    mock: respx.MockRouter,
) -> None:
    search = mock.post(SEARCH).mock(
        side_effect=[
            found(2, contact("1", T1), after="x"),
            # whether the query served all it had cannot be told from a token: ask from T2
            found(2, contact("2", T2)),
            found(1, contact("2", T2)),
        ]
    )
    pages = list(connector(streams=["contacts"]).streams()[0].read(None))
    sent = bodies(search)
    assert sent[1]["after"] == "x" and "after" not in sent[2]
    assert sent[2]["filterGroups"][0]["filters"][0]["value"] == T2_MS
    assert [r.external_id for p in pages for r in p.records] == ["1", "2"]


def test_more_than_a_search_serves_at_one_instant_is_an_error(mock: respx.MockRouter) -> None:
    mock.post(SEARCH).mock(return_value=found(5, contact("1", T1)))
    with pytest.raises(FatalError, match=r"share one properties\.lastmodifieddate"):
        list(connector(streams=["contacts"]).streams()[0].read(migrated_cursor(str(T1_MS))))


def test_a_push_is_one_upsert_and_one_membership_call(mock: respx.MockRouter) -> None:
    read = mock.post("/crm/v3/objects/contacts/batch/read").respond(
        200, json={"results": [{"id": "12", "properties": {"email": "b@example.com"}}]}
    )
    upsert = mock.post(UPSERT).respond(
        200,
        json={
            "status": "COMPLETE",
            "results": [
                {"id": "11", "properties": {"email": "a@example.com"}, "new": True},
                {"id": "12", "properties": {"email": "b@example.com"}, "new": False},
            ],
        },
    )
    mock.get("/crm/v3/lists/object-type-id/0-1/name/Hot%20leads").respond(
        404, json={"status": "error", "category": "OBJECT_NOT_FOUND", "message": "no list"}
    )
    create = mock.post("/crm/v3/lists").respond(200, json={"list": {"listId": "55"}})
    members = mock.put("/crm/v3/lists/55/memberships/add-and-remove").respond(
        200,
        json={
            "recordsIdsAdded": ["11", "12", "13"],
            "recordIdsRemoved": [],
            "recordIdsMissing": ["13"],
        },
    )
    changes = [
        Change(1, ChangeKind.SUBSCRIBE, "A@example.com", "Hot leads"),
        Change(2, ChangeKind.SET_FIELD, "b@example.com", "loyalty_tier", value="gold"),
        Change(3, ChangeKind.SUBSCRIBE, "b@example.com", "Hot leads"),
        Change(4, ChangeKind.SUBSCRIBE, "c@example.com", "Hot leads", external_id="13"),
    ]
    destination = connector().destination()
    assert destination is not None
    results = {r.change_id: r for r in destination.push(changes)}
    assert bodies(upsert) == [
        {
            "inputs": [
                {"idProperty": "email", "id": "a@example.com", "properties": {}},
                {
                    "idProperty": "email",
                    "id": "b@example.com",
                    "properties": {"loyalty_tier": "gold"},
                },
            ]
        }
    ]
    assert bodies(create) == [
        {"name": "Hot leads", "objectTypeId": "0-1", "processingType": "MANUAL"}
    ]
    assert bodies(members) == [{"recordIdsToAdd": ["11", "12", "13"], "recordIdsToRemove": []}]
    # the ids of contacts to put in a list are read first: only a contact HubSpot lacks (a),
    # or one with a value to write (b), is upserted
    assert [i["id"] for i in bodies(read)[0]["inputs"]] == ["a@example.com", "b@example.com"]
    assert [results[i].outcome for i in (1, 2, 3)] == [Outcome.DONE] * 3
    assert results[1].external_id == "11"
    assert results[4].outcome is Outcome.FAILED and "13" in (results[4].reason or "")


def test_a_whole_plan_of_a_list_is_one_membership_call(mock: respx.MockRouter) -> None:
    """2,500 contacts joining and 700 leaving one list: one add-and-remove call (HubSpot
    takes 100,000 ids a call), and reads, not upserts, for the ids syncd did not know."""

    def read(request: httpx.Request) -> httpx.Response:
        asked = [i["id"] for i in json.loads(request.content)["inputs"]]
        assert len(asked) <= 100
        rows = [{"id": e.split("@")[0][1:], "properties": {"email": e}} for e in asked]
        return httpx.Response(200, json={"results": rows})

    reads = mock.post("/crm/v3/objects/contacts/batch/read").mock(side_effect=read)
    mock.get("/crm/v3/lists/object-type-id/0-1/name/VIP").respond(
        200, json={"list": {"listId": "9"}}
    )
    members = mock.put("/crm/v3/lists/9/memberships/add-and-remove").respond(
        200, json={"recordsIdsAdded": [], "recordIdsRemoved": [], "recordIdsMissing": []}
    )
    joining = [Change(n, ChangeKind.SUBSCRIBE, f"c{n}@x.com", "VIP") for n in range(2500)]
    leaving = [
        Change(n, ChangeKind.UNSUBSCRIBE, f"c{n}@x.com", "VIP", external_id=str(n))
        for n in range(2500, 3200)
    ]
    destination = connector().destination()
    assert destination is not None and destination.batch_size >= 3200
    results = destination.push(joining + leaving)
    assert {r.outcome for r in results} == {Outcome.DONE}
    writes = [
        c
        for c in mock.calls
        if c.request.method != "GET" and "batch/read" not in str(c.request.url)
    ]
    assert writes == list(members.calls) and members.call_count == 1
    [sent] = bodies(members)
    assert len(sent["recordIdsToAdd"]) == 2500 and len(sent["recordIdsToRemove"]) == 700
    assert reads.call_count == 25


def test_a_rate_limit_body_is_waited_out_and_retried(mock: respx.MockRouter) -> None:
    limited = {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": "x",
        "policyName": "SECONDLY",
    }
    search = mock.post(SEARCH).mock(
        side_effect=[
            httpx.Response(429, json=limited),
            found(0),
        ]
    )
    vt = VirtualTime()
    list(connector(vt, streams=["contacts"]).streams()[0].read(None))
    assert search.call_count == 2
    assert vt.slept >= 1.0


def test_no_requests_left_in_the_window_waits_for_the_next(mock: respx.MockRouter) -> None:
    headers = {
        "X-HubSpot-RateLimit-Remaining": "0",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }
    mock.post(UPSERT).respond(
        200,
        headers=headers,
        json={"status": "COMPLETE", "results": [{"id": "1", "properties": {"email": "a@x.com"}}]},
    )
    vt = VirtualTime()
    destination = connector(vt).destination()
    assert destination is not None
    destination.push([Change(1, ChangeKind.SET_FIELD, "a@x.com", "loyalty_tier", value="1")])
    before = vt.now
    destination.push([Change(2, ChangeKind.SET_FIELD, "a@x.com", "loyalty_tier", value="2")])
    assert vt.now - before >= 10.0
    parsed = HubSpotConnector.rate_headers(httpx.Response(200, headers=headers))
    assert (parsed.remaining, parsed.reset_after) == (0, 10.0)


def test_a_refused_token_stops_the_push(mock: respx.MockRouter) -> None:
    mock.post(UPSERT).respond(
        401, json={"status": "error", "category": "INVALID_AUTHENTICATION", "message": "no"}
    )
    destination = connector().destination()
    assert destination is not None
    with pytest.raises(AuthError) as caught:
        destination.push([Change(1, ChangeKind.SET_FIELD, "a@x.com", "loyalty_tier", value="1")])
    assert TOKEN not in str(caught.value)


def test_a_server_that_keeps_failing_leaves_the_changes_retryable(
    mock: respx.MockRouter,
) -> None:
    mock.get("/crm/v3/lists/object-type-id/0-1/name/VIP").respond(
        200, json={"list": {"listId": "9"}}
    )
    mock.put("/crm/v3/lists/9/memberships/add-and-remove").respond(
        502, json={"status": "error", "category": "INTERNAL_ERROR", "message": "bad gateway"}
    )
    destination = connector().destination()
    assert destination is not None
    results = destination.push([Change(1, ChangeKind.SUBSCRIBE, "a@x.com", "VIP", external_id="4")])
    assert results[0].outcome is Outcome.RETRYABLE and "502" in (results[0].reason or "")
