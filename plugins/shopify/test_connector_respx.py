"""The Shopify connector's requests and its reading of every answer, against respx: every
request a POST to graphql.json (no REST), reads by cursor with the documented query and
variables, tagsAdd / tagsRemove documents of up to 100 aliased mutations, e-mail look-ups
ORed in one search, userErrors, Throttled in HTTP 200 and the cost budget."""

from __future__ import annotations

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
    Cursor,
    EventRecord,
    InvalidRecord,
    Outcome,
)
from syncd.emulator import VirtualTime
from syncd.testing import migrated_cursor
from syncd_plugins.shopify.connector import ShopifyConnector, ShopifyOptions

API = "https://acme.myshopify.com/admin/api/2024-10"
TOKEN = "shpat_respx_secret_token_123"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LIMIT = "X-Shopify-Shop-Api-Call-Limit"


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


def connector(vt: VirtualTime, **options: Any) -> ShopifyConnector:
    opts = ShopifyOptions(shop="acme", access_token=TOKEN, **options)  # type: ignore[arg-type]
    context = ConnectorContext(
        "shop", clock=fixed_clock(NOW), sleep=vt.sleep, monotonic=vt.monotonic
    )
    return ShopifyConnector(opts, context)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def read(stream_name: str, made: ShopifyConnector, cursor: str | None = None) -> list[Any]:
    stream = next(s for s in made.streams() if s.name == stream_name)
    return [(page.records, page.cursor) for page in stream.read(cursor)]


def test_options_build_the_url_and_forbid_unknown_keys(vt: VirtualTime) -> None:
    assert connector(vt).base_url() == API
    assert ShopifyOptions(shop="http://127.0.0.1:9/", access_token=TOKEN).shop == (  # type: ignore[arg-type]
        "http://127.0.0.1:9"
    )
    with pytest.raises(ValidationError):
        ShopifyOptions(shop="acme", access_token=TOKEN, api_version="latest")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ShopifyOptions(shop="acme", access_token=TOKEN, page_size=251)  # type: ignore[arg-type]
    given: dict[str, Any] = {"shop": "acme", "access_token": TOKEN, "rest_rate": 4}
    assert ShopifyOptions(**given).rate_limit == 4.0  # the name configs used before
    assert ShopifyOptions(**given, reads="graphql").rate_limit == 4.0  # the former default
    with pytest.raises(ValidationError) as refused:
        ShopifyOptions(**given, reads="rest")
    assert "the REST reads are no longer offered" in str(refused.value)
    assert "delete the line" in str(refused.value)


def test_429_waits_retry_after_and_401_stops_with_one_line(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    route = mock.post("/graphql.json").mock(side_effect=[
        httpx.Response(429, json={"errors": "Exceeded 2 calls per second for api client."},
                       headers={"Retry-After": "2.0"}),
        connection("customers", [customer_node(1)]),
    ])  # fmt: skip
    [(records, _)] = read("customers", connector(vt), Cursor("2024-04-01T00:00:00+00:00").dump())
    assert len(records) == 1 and pytest.approx(2.0) in vt.sleeps and len(route.calls) == 2
    mock.post("/graphql.json").respond(
        401, json={"errors": "[API] Invalid API key or access token"}
    )
    with pytest.raises(AuthError) as caught:
        connector(vt).check_connection()
    assert "Invalid API key" in str(caught.value) and TOKEN not in str(caught.value)


def graphql_reply(
    data: dict[str, Any] | None, available: float = 1990, **extra: Any
) -> httpx.Response:
    cost = {
        "requestedQueryCost": 10,
        "actualQueryCost": 10,
        "throttleStatus": {
            "maximumAvailable": 2000.0,
            "currentlyAvailable": available,
            "restoreRate": 100.0,
        },
    }
    body = {"data": data, "extensions": {"cost": cost}, **extra}
    return httpx.Response(200, json=body)


def changes() -> list[Change]:
    return [
        Change(1, ChangeKind.ADD_TAG, "a@example.com", "VIP", external_id="11"),
        Change(2, ChangeKind.ADD_TAG, "a@example.com", "buyer", external_id="11"),
        Change(3, ChangeKind.REMOVE_TAG, "a@example.com", "lapsed", external_id="11"),
        Change(4, ChangeKind.ADD_TAG, "b@example.com", "VIP", external_id="gid://shopify/Customer/22"),
        Change(5, ChangeKind.ADD_TAG, "c@example.com", "VIP"),
        Change(6, ChangeKind.ADD_TAG, "d@example.com", "bad,tag", external_id="44"),
        Change(7, ChangeKind.ADD_TAG, "e@example.com", "VIP"),
        Change(8, ChangeKind.ADD_TAG, 'x" OR tag:"vip@example.com', "VIP"),
    ]  # fmt: skip


def test_a_push_is_one_graphql_document_of_tags_add_and_remove(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    found = {"customers": {"nodes": [
        {"id": "gid://shopify/Customer/33", "email": "C@example.com"},
        {"id": "gid://shopify/Customer/34", "email": "someone-else@example.com"},
    ]}}  # fmt: skip
    graphql = mock.post("/graphql.json").mock(side_effect=[graphql_reply(found), graphql_reply({
        "m0": {"userErrors": []}, "m1": {"userErrors": []},
        "m2": {"userErrors": []},
        "m3": {"userErrors": [{"field": ["id"], "message": "Customer does not exist"}]},
    })])  # fmt: skip
    destination = connector(vt).destination()
    assert destination is not None
    results = {r.change_id: r for r in destination.push(changes())}
    lookup = json.loads(graphql.calls[0].request.content)
    assert lookup["query"] == (
        "query syncd_lookup($first: Int!, $query: String!) "
        "{ customers(first: $first, query: $query) { nodes { id email } } }"
    )
    # both unknown e-mails in one search; the one Shopify would refuse never sent
    assert lookup["variables"] == {
        "first": 250, "query": 'email:"c@example.com" OR email:"e@example.com"'
    }  # fmt: skip
    assert len(graphql.calls) == 2 and len(mock.calls) == 2  # one lookup, one write, no REST
    body = json.loads(graphql.calls[1].request.content)
    assert body["query"] == (
        "mutation syncdTags($id0: ID!, $tags0: [String!]!, $id1: ID!, $tags1: [String!]!, "
        "$id2: ID!, $tags2: [String!]!, $id3: ID!, $tags3: [String!]!) { "
        "m0: tagsAdd(id: $id0, tags: $tags0) { userErrors { field message } } "
        "m1: tagsRemove(id: $id1, tags: $tags1) { userErrors { field message } } "
        "m2: tagsAdd(id: $id2, tags: $tags2) { userErrors { field message } } "
        "m3: tagsAdd(id: $id3, tags: $tags3) { userErrors { field message } } }"
    )
    assert body["variables"] == {
        "id0": "gid://shopify/Customer/11", "tags0": ["VIP", "buyer"],
        "id1": "gid://shopify/Customer/11", "tags1": ["lapsed"],
        "id2": "gid://shopify/Customer/22", "tags2": ["VIP"],
        "id3": "gid://shopify/Customer/33", "tags3": ["VIP"],
    }  # fmt: skip
    assert [results[i].outcome for i in (1, 2, 3, 4)] == [Outcome.DONE] * 4
    assert results[5].outcome is Outcome.FAILED and "does not exist" in str(results[5].reason)
    assert results[5].external_id == "33"
    assert results[6].outcome is Outcome.FAILED and "bad,tag" in str(results[6].reason)
    assert results[7].outcome is Outcome.FAILED and "no Shopify customer" in str(results[7].reason)
    assert results[8].outcome is Outcome.FAILED
    assert "Shopify would refuse e-mail" in str(results[8].reason)


def test_mutations_fill_documents_of_1000_points_and_look_ups_go_100_to_a_search(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    """250 customers, 120 of them with a tag to add and one to remove: 370 mutations, in
    documents of 100 (10 points each, 1,000 the most a document may ask): 4 writes, the
    fewest the API allows. The 30 whose id is unknown are found by one search."""
    plan: list[Change] = []
    for n in range(250):
        known = str(1000 + n) if n >= 30 else None
        plan.append(
            Change(len(plan), ChangeKind.ADD_TAG, f"p{n}@example.com", "vip", external_id=known)
        )
        if n < 120:
            plan.append(
                Change(
                    len(plan), ChangeKind.REMOVE_TAG, f"p{n}@example.com", "old", external_id=known
                )
            )
    nodes = [{"id": f"gid://shopify/Customer/{1000 + n}", "email": f"p{n}@example.com"}
             for n in range(30)]  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["query"].startswith("query syncd_lookup"):
            return graphql_reply({"customers": {"nodes": nodes}})
        aliases = [k[2:] for k in body["variables"] if k.startswith("id")]
        return graphql_reply({f"m{a}": {"userErrors": []} for a in aliases})

    route = mock.post("/graphql.json").mock(side_effect=answer)
    destination = connector(vt, batch_size=250).destination()
    assert destination is not None
    results = destination.push(plan)
    assert {r.outcome for r in results} == {Outcome.DONE}
    sent = [json.loads(c.request.content) for c in route.calls]
    lookups = [b for b in sent if b["query"].startswith("query syncd_lookup")]
    writes = [b for b in sent if b["query"].startswith("mutation syncdTags")]
    assert len(lookups) == 1 and lookups[0]["variables"]["query"].count(" OR ") == 29
    per_document = [sum(k.startswith("id") for k in b["variables"]) for b in writes]
    assert per_document == [100, 100, 100, 70]
    mutations = 250 + 120
    assert len(writes) / math.ceil(mutations / 100) == 1.00
    assert all(b["query"].count(": tags") == n for b, n in zip(writes, per_document, strict=True))
    written = {(b["variables"][f"id{i}"], tuple(b["variables"][f"tags{i}"]))
               for b in writes for i in range(len(b["variables"]) // 2)}  # fmt: skip
    assert len(written) == mutations  # each customer's add and remove, once


def test_a_shop_whose_bucket_holds_less_gets_smaller_documents(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    small = graphql_reply({"shop": {"name": "acme"}})
    status = json.loads(small.content)
    status["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] = 500.0
    mock.post("/graphql.json").mock(return_value=httpx.Response(200, json=status))
    made = connector(vt)
    made.check_connection()  # the reply tells the bucket's size
    destination = made.destination()
    assert destination is not None and destination.per_document() == 50  # type: ignore[attr-defined]


def test_throttled_in_http_200_waits_for_the_points_then_goes_through(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    throttled = graphql_reply(
        {}, available=4, errors=[{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
    )
    graphql = mock.post("/graphql.json").mock(
        side_effect=[throttled, graphql_reply({"m0": {"userErrors": []}})]
    )
    destination = connector(vt).destination()
    assert destination is not None
    [result] = destination.push([changes()[0]])
    assert result.outcome is Outcome.DONE and len(graphql.calls) == 2
    assert pytest.approx(0.06) in vt.sleeps  # (10 points - 4 available) / 100 a second


def test_the_cost_budget_paces_before_sending(mock: respx.MockRouter, vt: VirtualTime) -> None:
    mock.post("/graphql.json").mock(return_value=graphql_reply({"m0": {"userErrors": []}}, 0))
    destination = connector(vt).destination()
    assert destination is not None
    destination.push([changes()[0]])
    assert vt.sleeps == []  # nothing known yet: send
    destination.push([changes()[0]])
    assert vt.sleeps == pytest.approx([0.1])  # 10 points at 100 a second, from an empty budget


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (httpx.Response(200, json={"errors": [{"message": "Throttled"}]}), Outcome.RETRYABLE),
        (httpx.Response(503, json={"errors": "Unavailable"}), Outcome.RETRYABLE),
        (httpx.Response(200, content=b"<html>"), Outcome.RETRYABLE),
        (
            httpx.Response(200, json={"errors": [{"message": "Access denied for tagsAdd field.",
                                                  "extensions": {"code": "ACCESS_DENIED"}}]}),
            Outcome.FAILED,
        ),
    ],
)  # fmt: skip
def test_a_write_that_keeps_failing_is_answered_per_change(
    mock: respx.MockRouter, vt: VirtualTime, reply: httpx.Response, outcome: Outcome
) -> None:
    mock.post("/graphql.json").mock(return_value=reply)
    destination = connector(vt).destination()
    assert destination is not None
    results = destination.push(changes()[:2])
    assert [r.outcome for r in results] == [outcome, outcome]
    assert all(r.reason for r in results)


def test_a_401_on_a_write_stops_the_push(mock: respx.MockRouter, vt: VirtualTime) -> None:
    mock.post("/graphql.json").respond(401, json={"errors": "[API] Invalid API key"})
    destination = connector(vt).destination()
    assert destination is not None
    with pytest.raises(AuthError):
        destination.push(changes()[:1])


def test_an_error_of_one_field_fails_only_its_changes(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    denied = [{"message": "Access denied for tagsRemove field.", "path": ["m1"]}]
    reply = graphql_reply({"m0": {"userErrors": []}, "m1": None}, errors=denied)
    mock.post("/graphql.json").mock(return_value=reply)
    destination = connector(vt).destination()
    assert destination is not None
    results = destination.push(changes()[:3])
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.DONE, Outcome.FAILED]
    assert "Access denied" in str(results[2].reason)


# --- reads through the GraphQL Admin API ---------------------------------------------------


def connection(name: str, nodes: list[Any], after: str | None = None, **reply: Any) -> Any:
    info = {"hasNextPage": after is not None, "endCursor": after}
    return graphql_reply({name: {"nodes": nodes, "pageInfo": info}}, **reply)


def customer_node(cid: int, **given: Any) -> dict[str, Any]:
    return {
        "legacyResourceId": str(cid), "email": f"c{cid}@example.com", "firstName": "Ann",
        "lastName": None, "phone": None, "state": "ENABLED", "tags": ["wholesale", "VIP"],
        "numberOfOrders": "2", "amountSpent": {"amount": "120.50"},
        "updatedAt": "2024-05-01T12:00:00Z",
        "emailMarketingConsent": {"marketingState": "SUBSCRIBED"},
        "defaultAddress": {"city": "Lyon", "countryCodeV2": "FR", "phone": None},
        **given,
    }  # fmt: skip


def test_graphql_customers_page_by_cursor_in_the_variables_from_the_bound(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    route = mock.post("/graphql.json").mock(side_effect=[
        connection("customers", [customer_node(1), customer_node(2, email=None)], after="c2"),
        connection("customers", [
            customer_node(3, updatedAt="2024-05-20T10:00:00Z", tags=[" a ", "b", "a", ""],
                          emailMarketingConsent={"marketingState": "UNSUBSCRIBED"}),
            customer_node(4, emailMarketingConsent={"marketingState": "NOT_SUBSCRIBED"}),
        ]),
    ])  # fmt: skip
    stored = migrated_cursor(json.dumps({"updated_at_min": "2024-04-01T02:00:00+02:00"}))
    pages = read("customers", connector(vt), stored)
    first, second = (json.loads(call.request.content) for call in route.calls)
    assert " ".join(first["query"].split()) == (
        "query syncd_customers($first: Int!, $after: String, $query: String) "
        "{ customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) "
        "{ nodes { legacyResourceId email firstName lastName phone state tags numberOfOrders "
        "amountSpent { amount } updatedAt "
        "emailMarketingConsent { marketingState consentUpdatedAt } "
        "defaultAddress { city countryCodeV2 phone } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    assert first["variables"] == {
        "first": 249,  # 4 points a customer: a page under Shopify's 1,000
        "query": "updated_at:>='2024-04-01T00:00:00+00:00'",  # an old cursor's bound: inclusive
    }
    assert second["variables"] == {**first["variables"], "after": "c2"}
    (records, cursor), (more, last) = pages
    assert json.loads(cursor)["resume"]["body"]["variables"]["after"] == "c2"
    assert json.loads(last)["bound"] == "2024-05-20T10:00:00+00:00"
    ann = records[0]
    assert isinstance(ann, ContactRecord) and ann.external_id == "1"
    assert ann.tags == ["wholesale", "VIP"] and ann.consent == "granted"
    assert ann.attributes["shopify_total_spent"] == 120.5
    assert ann.attributes["shopify_orders_count"] == 2
    assert ann.attributes["shopify_state"] == "enabled" and ann.attributes["country"] == "FR"
    assert isinstance(records[1], InvalidRecord) and "no e-mail" in records[1].reason
    assert isinstance(more[0], ContactRecord) and more[0].consent == "revoked"
    assert more[0].tags == ["a", "b"]
    assert isinstance(more[1], ContactRecord) and more[1].consent is None


ORDER_NODE: dict[str, Any] = {
    "legacyResourceId": "450789469", "name": "#1001", "email": "a@example.com",
    "currencyCode": "EUR", "createdAt": "2024-05-02T14:00:00Z", "updatedAt": "2024-05-02T14:00:00Z",
    "cancelledAt": None, "sourceName": "web", "displayFinancialStatus": "PAID",
    "displayFulfillmentStatus": "UNFULFILLED", "discountCodes": ["SPRING10"],
    "totalPriceSet": {"shopMoney": {"amount": "199.00"}},
    "subtotalPriceSet": {"shopMoney": {"amount": "189.00"}},
    "totalTaxSet": {"shopMoney": {"amount": "0.00"}},
    "totalDiscountsSet": {"shopMoney": {"amount": "10.00"}},
    "customer": {"legacyResourceId": "207119551"},
    "lineItems": {"nodes": [{
        "title": "Trail", "variantTitle": "42 / Blue", "quantity": 2, "sku": "SH-TR-01",
        "vendor": "Acme", "originalUnitPriceSet": {"shopMoney": {"amount": "94.50"}},
        "product": {"legacyResourceId": "7", "productType": "Shoes", "vendor": "Acme"},
        "variant": {"legacyResourceId": "8"},
    }]},
}  # fmt: skip


def test_a_read_over_rest_cut_short_is_read_again_through_graphql_from_its_bound(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    # what syncd stored in the middle of a read of the REST resource, before GraphQL
    rest = json.dumps({
        "v": 1, "bound": "2024-04-01T00:00:00+00:00", "seen": {"7": "2024-04-01T00:00:00+00:00"},
        "resume": {"url": f"{API}/customers.json?limit=250&page_info=abc", "params": [],
                   "method": "GET", "body": None},
        "start": "2024-04-01T00:00:00+00:00", "high": None, "high_seen": {},
    })  # fmt: skip
    route = mock.post("/graphql.json").mock(return_value=connection("customers", []))
    [(records, cursor)] = read("customers", connector(vt), rest)
    assert records == [] and len(mock.calls) == len(route.calls) == 1  # no REST call
    sent = json.loads(route.calls[0].request.content)
    assert sent["variables"]["query"] == "updated_at:>='2024-04-01T00:00:00+00:00'"  # its start
    # nothing read: the read covered all before its start (a whole second before the clock's)
    assert json.loads(cursor)["bound"] == "2024-06-01T11:59:59+00:00"


def test_graphql_orders_with_line_items_become_order_placed_events(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    route = mock.post("/graphql.json").mock(return_value=connection("orders", [ORDER_NODE]))
    [(events, _)] = read("orders", connector(vt))
    body = json.loads(route.calls[-1].request.content)  # after the count: a small shop
    assert (
        "orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT)"
        in (body["query"])
    )
    assert "lineItems(first: 25) { nodes {" in body["query"]
    assert "product { legacyResourceId productType vendor }" in body["query"]
    assert body["variables"] == {"first": 7}  # 137 points an order with its line items
    [placed] = events
    assert isinstance(placed, EventRecord)
    assert (placed.type, placed.external_id, placed.value) == (
        "order_placed",
        "order/450789469",
        199.0,
    )
    assert placed.contact_external_id == "207119551" and placed.email == "a@example.com"
    assert placed.occurred_at == datetime(2024, 5, 2, 14, 0, tzinfo=UTC)
    assert placed.properties == {
        "order_name": "#1001", "order_number": 1001, "currency": "EUR",
        "items": [{"product": "Trail", "variant": "42 / Blue", "sku": "SH-TR-01",
                   "category": "Shoes", "vendor": "Acme", "quantity": 2, "price": 94.5}],
        "skus": ["SH-TR-01"], "products": ["Trail"], "quantity": 2, "subtotal": 189.0,
        "total_tax": 0.0, "total_discounts": 10.0, "discount_codes": ["SPRING10"],
        "financial_status": "paid", "fulfillment_status": None, "source_name": "web",
        "cancelled": False, "placed_at": "2024-05-02T14:00:00+00:00",
    }  # fmt: skip


def test_a_cancelled_order_becomes_order_cancelled_at_its_cancellation(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    cancelled = {**ORDER_NODE, "legacyResourceId": "1", "updatedAt": "2024-05-06T09:00:00Z",
                 "cancelledAt": "2024-05-06T09:00:00+02:00"}  # fmt: skip
    broken = {**cancelled, "legacyResourceId": "2", "cancelledAt": "yesterday"}
    mock.post("/graphql.json").mock(return_value=connection("orders", [cancelled, broken]))
    [(records, _)] = read("orders", connector(vt))
    event, invalid = records
    assert isinstance(event, EventRecord) and isinstance(invalid, InvalidRecord)
    assert (event.type, event.external_id) == ("order_cancelled", "order/1")
    assert event.occurred_at == datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    assert event.properties["placed_at"] == "2024-05-02T14:00:00+00:00"
    assert "order 2: unreadable cancelledAt" in invalid.reason


def test_a_node_that_is_not_an_object_is_quarantined_not_skipped(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    mock.post("/graphql.json").mock(
        return_value=connection("customers", [customer_node(1), "garbage"])
    )
    [(records, _)] = read("customers", connector(vt), Cursor("2024-04-01T00:00:00+00:00").dump())
    assert isinstance(records[0], ContactRecord)
    assert isinstance(records[1], InvalidRecord) and records[1].raw == "garbage"


def test_graphql_abandoned_checkouts_by_id_from_the_bound(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    checkout: dict[str, Any] = {
        "legacyResourceId": "gid://shopify/AbandonedCheckout/1", "completedAt": None,
        "createdAt": "2024-05-03T00:00:00Z", "updatedAt": "2024-05-03T00:00:00Z",
        "totalPriceSet": {"shopMoney": {"amount": "59.00", "currencyCode": "EUR"}},
        "customer": {"legacyResourceId": "207119551", "email": "a@example.com"},
        "lineItems": {"nodes": []},
    }  # fmt: skip
    done = {**checkout, "legacyResourceId": "gid://shopify/AbandonedCheckout/2",
            "completedAt": "2024-05-04T00:00:00Z"}  # fmt: skip
    route = mock.post("/graphql.json").mock(
        return_value=connection("abandonedCheckouts", [checkout, done])
    )
    [(abandoned, _)] = read("checkouts", connector(vt))
    body = json.loads(route.calls[-1].request.content)
    assert "abandonedCheckouts(first: $first, after: $after, query: $query)" in body["query"]
    assert "sortKey" not in body["query"]  # no update-time sort key for checkouts
    assert [(e.type, e.external_id, e.value, e.email) for e in abandoned] == [
        ("checkout_abandoned", "checkout/1", 59.0, "a@example.com")
    ]


def test_graphql_pages_wait_for_their_cost_and_a_throttled_page_is_read_again(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    throttled = graphql_reply(
        None, available=100, errors=[{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
    )
    throttled_body = json.loads(throttled.content)
    throttled_body["extensions"]["cost"]["requestedQueryCost"] = 998
    route = mock.post("/graphql.json").mock(side_effect=[
        connection("customers", [customer_node(1)], after="c1", available=500),
        httpx.Response(200, json=throttled_body),
        connection("customers", [customer_node(2)]),
    ])  # fmt: skip
    stored = Cursor("2024-04-01T00:00:00+00:00").dump()
    pages = read("customers", connector(vt), stored)
    assert len(pages) == 2 and len(route.calls) == 3
    # 998 points asked, 500 left: wait for 498 at 100 a second before page 2
    assert vt.sleeps[0] == pytest.approx(4.98)
    # then throttled with 100 left: wait for the 898 missing
    assert pytest.approx(8.98) in vt.sleeps
    assert json.loads(route.calls[2].request.content)["variables"]["after"] == "c1"


def bulk_routes(mock: respx.MockRouter, lines: list[dict[str, Any]], count: int) -> Any:
    jsonl = "\n".join(json.dumps(line) for line in lines) + "\n"
    mock.get("https://storage.example.com/bulk/1.jsonl").respond(200, text=jsonl)

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "customersCount" in body["query"] or "ordersCount" in body["query"]:
            return graphql_reply({"ordersCount": {"count": count}})
        if "bulkOperationRunQuery" in body["query"]:
            op = {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"}
            return graphql_reply({"bulkOperationRunQuery": {"bulkOperation": op, "userErrors": []}})
        polls = sum("syncd_bulk_status" in json.loads(c.request.content)["query"]
                    for c in mock.calls if c.request.method == "POST")  # fmt: skip
        done = polls >= 1  # the second look finds it complete
        node = {"id": "gid://shopify/BulkOperation/1", "status": "COMPLETED" if done else "RUNNING",
                "errorCode": None, "objectCount": str(len(lines)),
                "url": "https://storage.example.com/bulk/1.jsonl" if done else None}  # fmt: skip
        return graphql_reply({"node": node})

    return mock.post("/graphql.json").mock(side_effect=answer)


def test_a_first_pull_of_a_large_shop_goes_through_a_bulk_operation(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    order = {k: v for k, v in ORDER_NODE.items() if k != "lineItems"}
    lines = [
        {**order, "id": "gid://shopify/Order/450789469"},
        *({**item, "__parentId": "gid://shopify/Order/450789469"}
          for item in ORDER_NODE["lineItems"]["nodes"]),
        {**order, "id": "gid://shopify/Order/2", "legacyResourceId": "2",
         "updatedAt": "2024-05-09T00:00:00Z"},
    ]  # fmt: skip
    route = bulk_routes(mock, lines, count=10_000)
    made = connector(vt, page_size=1)
    pages = read("orders", made)
    sent = [json.loads(c.request.content) for c in route.calls]
    assert "ordersCount(limit: $limit) { count }" in sent[0]["query"]
    assert sent[0]["variables"] == {"limit": 10_000}
    run = sent[1]
    assert "bulkOperationRunQuery(query: $query)" in run["query"]
    assert run["variables"]["query"].startswith("{ orders { edges { node { id legacyResourceId")
    assert "lineItems { edges { node { title" in run["variables"]["query"]
    assert [("syncd_bulk_status" in s["query"], s["variables"]) for s in sent[2:]] == [
        (True, {"id": "gid://shopify/BulkOperation/1"})
    ] * 2
    assert vt.sleeps == [0.1, 0.2]  # polled soon, then twice as long each time
    [first], [second] = (records for records, _ in pages)
    assert isinstance(first, EventRecord) and first.external_id == "order/450789469"
    assert first.properties["skus"] == ["SH-TR-01"]
    assert first.properties["items"][0]["category"] == "Shoes"
    assert isinstance(second, EventRecord) and second.external_id == "order/2"
    assert "resume" in json.loads(pages[0][1])  # a crash goes on by pages
    final = json.loads(pages[-1][1])
    # the newest updatedAt read (no later than the read's start)
    assert final["bound"] == "2024-05-09T00:00:00+00:00" and "resume" not in final
    mock.post("/graphql.json").mock(return_value=connection("orders", []))
    read("orders", made, pages[-1][1])
    nxt = json.loads(mock.calls[-1].request.content)
    # by pages, strictly after the bound: every order at it was read
    assert nxt["variables"]["query"] == "updated_at:>'2024-05-09T00:00:00+00:00'"


def test_a_small_shop_is_read_by_pages_and_bulk_true_always_takes_a_bulk_operation(
    mock: respx.MockRouter, vt: VirtualTime
) -> None:
    route = bulk_routes(mock, [], count=12)
    read("orders", connector(vt))
    sent = [json.loads(c.request.content)["query"] for c in route.calls]
    assert "ordersCount" in sent[0] and "orders(first: $first" in sent[1] and len(sent) == 2
    before = len(route.calls)
    [(records, cursor)] = read("orders", connector(vt, bulk=True))
    sent = [json.loads(c.request.content)["query"] for c in list(route.calls)[before:]]
    assert "bulkOperationRunQuery" in sent[0] and records == []
    assert json.loads(cursor)["bound"] is None  # nothing read: the next read asks everything
