"""The Shopify emulator with plain httpx, as any client of the Admin API would use it: the
access-token check, Link paging, updated_at_min, the REST leaky bucket and its header, and
the GraphQL tagsAdd / tagsRemove with the cost budget and Throttled in HTTP 200."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from syncd.emulator import ManualClock, transport
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN, ShopifyEmulator
from syncd_plugins.shopify.emulator_state import split_tags

START = ManualClock.START  # where syncd_clock starts
HOST = "https://emulated.myshopify.com"
BASE = f"{HOST}/admin/api/2024-10/"
TAGS_ADD = """mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""


@pytest.fixture
def emu(syncd_clock: ManualClock) -> ShopifyEmulator:
    return ShopifyEmulator(seed=5, people=80, clock=syncd_clock)


def admin(emu: ShopifyEmulator, version: str = "2024-10") -> httpx.Client:
    """A client of ``emu``'s Admin API at ``version``, with the app's access token."""
    headers = {"X-Shopify-Access-Token": DEFAULT_TOKEN}
    base = f"{HOST}/admin/api/{version}/"
    return httpx.Client(transport=transport(emu), base_url=base, headers=headers)


@pytest.fixture
def client(emu: ShopifyEmulator) -> httpx.Client:
    return admin(emu)


def gid(customer: dict[str, Any]) -> str:
    return f"gid://shopify/Customer/{customer['id']}"


def read_all(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    key = path.removesuffix(".json")
    response = client.get(path, params={"limit": 7, **params})
    rows: list[dict[str, Any]] = []
    while True:
        assert response.status_code == 200, response.text
        rows += response.json()[key]
        following = response.links.get("next")
        if not following:
            return rows
        response = client.get(following["url"])


def test_a_wrong_or_missing_token_is_refused_with_shopifys_body(emu: ShopifyEmulator) -> None:
    bare = httpx.Client(transport=transport(emu), base_url=BASE)
    for response in (
        bare.get("customers.json"),
        bare.get("customers.json", headers={"X-Shopify-Access-Token": "shpat_wrong"}),
        bare.post("graphql.json", json={"query": TAGS_ADD}),
    ):
        assert response.status_code == 401
        assert "Invalid API key or access token" in response.json()["errors"]


def test_link_paging_reads_every_customer_once(client: httpx.Client, emu: ShopifyEmulator) -> None:
    rows = read_all(client, "customers.json")
    assert sorted(r["id"] for r in rows) == sorted(emu.shop.customers)
    assert len(rows) > 20
    assert all(isinstance(r["tags"], str) for r in rows)
    assert any("," in r["tags"] for r in rows)  # several tags from other apps in one string
    first = client.get("customers.json", params={"limit": 7})
    second = client.get(first.links["next"]["url"])
    assert client.get(second.links["previous"]["url"]).json() == first.json()


def test_page_info_takes_no_other_filter(client: httpx.Client) -> None:
    first = client.get("customers.json", params={"limit": 5})
    token = httpx.URL(first.links["next"]["url"]).params["page_info"]
    refused = client.get("customers.json", params={"page_info": token, "updated_at_min": "2024"})
    assert refused.status_code == 400 and "page_info" in refused.json()["errors"]
    assert client.get("customers.json", params={"page_info": "garbage"}).status_code == 400


def test_updated_at_min_keeps_its_filter_across_pages(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    since = "2024-03-01T00:00:00Z"
    rows = read_all(client, "orders.json", status="any", updated_at_min=since)
    cut = datetime(2024, 3, 1, tzinfo=UTC)
    expected = [
        o for o in emu.shop.orders.values() if datetime.fromisoformat(o["updated_at"]) >= cut
    ]
    assert sorted(r["id"] for r in rows) == sorted(o["id"] for o in expected)
    assert 0 < len(rows) < len(emu.shop.orders)


def test_orders_and_checkouts_default_to_open_ones(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    assert len(read_all(client, "orders.json")) < len(emu.shop.orders)
    assert len(read_all(client, "orders.json", status="any")) == len(emu.shop.orders)
    open_ = read_all(client, "checkouts.json")
    assert open_ and all(c["completed_at"] is None for c in open_)
    assert len(read_all(client, "checkouts.json", status="any")) == len(emu.shop.checkouts)


def test_the_leaky_bucket_fills_says_so_and_drains(
    client: httpx.Client, emu: ShopifyEmulator, syncd_clock: ManualClock
) -> None:
    limits = [client.get("shop.json").headers["X-Shopify-Shop-Api-Call-Limit"] for _ in range(40)]
    assert limits[0] == "1/40" and limits[-1] == "40/40"
    over = client.get("shop.json")
    assert over.status_code == 429 and float(over.headers["Retry-After"]) >= 0.5
    assert "Exceeded 2 calls per second" in over.json()["errors"]
    syncd_clock.advance(5)  # 10 calls leaked out
    assert client.get("shop.json").headers["X-Shopify-Shop-Api-Call-Limit"] == "31/40"
    emu.set_rate_limit(20)  # a Plus plan leaks 20 calls a second
    syncd_clock.advance(1)
    assert client.get("shop.json").headers["X-Shopify-Shop-Api-Call-Limit"] == "12/40"
    emu.set_rate_limit(0)
    assert all(client.get("shop.json").status_code == 200 for _ in range(50))


def test_tags_add_and_remove_touch_only_the_named_tags(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    customer = next(c for c in emu.shop.customers.values() if "," in c["tags"])
    before = split_tags(customer["tags"])
    added = client.post(
        "graphql.json",
        json={"query": TAGS_ADD, "variables": {"id": gid(customer), "tags": ["VIP", "vip"]}},
    ).json()
    assert added["data"]["tagsAdd"] == {"node": {"id": gid(customer)}, "userErrors": []}
    assert split_tags(customer["tags"]) == [*before, "VIP"]
    doc = (
        f'mutation {{ r: tagsRemove(id: "{gid(customer)}", tags: ["VIP", "{before[0]}"]) '
        "{ userErrors { field message } } "
        'missing: tagsAdd(id: "gid://shopify/Customer/1", tags: ["VIP"]) '
        "{ userErrors { field message } } }"
    )
    body = client.post("graphql.json", json={"query": doc}).json()
    assert body["data"]["r"] == {"userErrors": []}
    assert body["data"]["missing"]["userErrors"] == [
        {"field": ["id"], "message": "Customer does not exist"}
    ]
    assert split_tags(customer["tags"]) == before[1:]
    assert body["extensions"]["cost"]["requestedQueryCost"] == 20
    assert client.post("graphql.json", json={"query": "{ shop { name } }"}).is_success
    assert client.post("graphql.json", json={"query": "{ shop {"}).is_success  # refused
    # every call a POST; the log counts the mutations writes and the rest reads
    assert [r.is_write for r in emu.requests()] == [True, True, False, False]


def test_the_cost_budget_throttles_in_http_200_and_restores(
    client: httpx.Client, emu: ShopifyEmulator, syncd_clock: ManualClock
) -> None:
    customer = next(iter(emu.shop.customers.values()))
    request = {"query": TAGS_ADD, "variables": {"id": gid(customer), "tags": ["x"]}}
    emu.spend_graphql(10_000)
    throttled = client.post("graphql.json", json=request)
    assert throttled.status_code == 200
    assert throttled.json()["errors"][0]["message"] == "Throttled"
    status = throttled.json()["extensions"]["cost"]["throttleStatus"]
    assert status["currentlyAvailable"] < 10 and status["restoreRate"] == 100
    assert "x" not in split_tags(customer["tags"])
    syncd_clock.advance(1)
    done = client.post("graphql.json", json=request).json()
    assert done["data"]["tagsAdd"]["userErrors"] == [] and "x" in split_tags(customer["tags"])
    assert emu.throttled == 1


def test_graphql_errors_read_like_shopifys(client: httpx.Client) -> None:
    unknown = client.post("graphql.json", json={"query": "mutation { customerDelete { id } }"})
    assert unknown.status_code == 200
    assert "doesn't exist on type 'Mutation'" in unknown.json()["errors"][0]["message"]
    broken = client.post("graphql.json", json={"query": "mutation { tagsAdd(id: "})
    assert broken.json()["errors"][0]["message"].startswith("Parse error")
    undeclared = client.post("graphql.json", json={"query": "mutation { tagsAdd(id: $id) { x } }"})
    assert "errors" in undeclared.json()
    assert client.post("graphql.json", content=b"{").status_code == 400
    field = 'tagsAdd(id: "gid://shopify/Customer/1", tags: ["t"]) { node { id } }'
    many = " ".join(f"a{i}: {field}" for i in range(101))
    costly = client.post("graphql.json", json={"query": f"mutation {{ {many} }}"}).json()
    assert costly["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_search_by_email_and_the_control_routes(client: httpx.Client, emu: ShopifyEmulator) -> None:
    customer = list(emu.shop.customers.values())[3]
    found = client.get("customers/search.json", params={"query": f"email:{customer['email']}"})
    assert [c["id"] for c in found.json()["customers"]] == [customer["id"]]
    state = client.get(f"{HOST}/_emulator/state").json()
    assert len(state["customers"]) == len(emu.shop.customers)
    logged = client.get(f"{HOST}/_emulator/requests").json()["requests"]
    assert [(r["method"], r["path"]) for r in logged] == [
        ("GET", "/admin/api/2024-10/customers/search.json")
    ]


def test_unknown_paths_and_versions_answer_shopifys_404(client: httpx.Client) -> None:
    for url in (f"{HOST}/admin/api/latest/customers.json", "customers/42/metafields.json"):
        response = client.get(url)
        assert response.status_code == 404 and response.json() == {"errors": "Not Found"}


def raw_header(response: httpx.Response, name: str) -> str | None:
    """A header as sent, its name case-sensitive (as ShopifyAPI's Limits reads it)."""
    return next((v.decode() for k, v in response.headers.raw if k == name.encode()), None)


def test_every_rest_answer_carries_the_call_limit_in_shopifys_case(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    emu.set_rate_limit(0)  # even with the limit lifted, Shopify counts and says so
    assert raw_header(client.get("shop.json"), "X-Shopify-Shop-Api-Call-Limit") == "1/40"
    missing = client.get("customers/1.json")
    assert missing.status_code == 404
    assert raw_header(missing, "X-Shopify-Shop-Api-Call-Limit") == "2/40"
    assert raw_header(client.get("nothing/here.json"), "X-Shopify-Shop-Api-Call-Limit")
    emu.set_rate_limit(2)
    answers = [client.get("customers/count.json") for _ in range(45)]
    over = answers[-1]
    assert over.status_code == 429
    assert raw_header(over, "X-Shopify-Shop-Api-Call-Limit") == "40/40"
    assert raw_header(over, "Retry-After") is not None
    emu.set_faults("429=1")  # an injected 429 reads the same
    assert raw_header(client.get("shop.json"), "X-Shopify-Shop-Api-Call-Limit") == "40/40"


def test_a_customer_is_created_read_updated_and_deleted_over_rest(
    client: httpx.Client, emu: ShopifyEmulator, syncd_clock: ManualClock
) -> None:
    emu.set_rate_limit(0)
    count = client.get("customers/count.json").json()["count"]
    made = client.post(
        "customers.json",
        json={"customer": {"email": "new@example.org", "first_name": "Nia", "tags": "a, b, A"}},
    )
    assert made.status_code == 201
    customer = made.json()["customer"]
    assert customer["tags"] == "a, b" and customer["orders_count"] == 0
    assert customer["email_marketing_consent"]["state"] == "not_subscribed"
    assert client.get("customers/count.json").json()["count"] == count + 1
    cid = customer["id"]
    got = client.get(f"customers/{cid}.json", params={"fields": "id,email"}).json()
    assert got == {"customer": {"id": cid, "email": "new@example.org"}}
    syncd_clock.advance(60)
    whole = {**customer, "last_name": "Lee", "tags": "b, c", "orders_count": 99, "id": 1}
    updated = client.put(f"customers/{cid}.json", json={"customer": whole}).json()["customer"]
    assert updated["id"] == cid and updated["orders_count"] == 0  # read-only fields stay
    assert updated["tags"] == "b, c" and updated["last_name"] == "Lee"  # tags are REPLACED
    assert updated["updated_at"] > customer["updated_at"]
    taken = next(c["email"] for c in emu.shop.customers.values() if c["id"] != cid)
    clash = client.post("customers.json", json={"customer": {"email": taken}})
    assert clash.status_code == 422
    assert clash.json() == {"errors": {"email": ["has already been taken"]}}
    bad = client.put(f"customers/{cid}.json", json={"customer": {"email": "nope"}})
    assert bad.status_code == 422 and bad.json()["errors"] == {"email": ["is invalid"]}
    assert client.post("customers.json", json={"nothing": {}}).status_code == 400
    assert client.delete(f"customers/{cid}.json").json() == {}
    assert cid not in emu.shop.customers
    assert client.get(f"customers/{cid}.json").status_code == 404
    buyer = next(c for c in emu.shop.customers.values() if c["orders_count"])
    assert client.delete(f"customers/{buyer['id']}.json").status_code == 422
    order = next(iter(emu.shop.orders.values()))
    assert client.get(f"orders/{order['id']}.json").json()["order"]["id"] == order["id"]
    counted = client.get("orders/count.json", params={"status": "any"}).json()["count"]
    assert counted == len(emu.shop.orders)


CUSTOMERS = """query ($first: Int, $after: String, $query: String) {
  customers(first: $first, after: $after, query: $query) {
    edges { cursor node { id email tags amountSpent { amount } defaultAddress { city } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def test_graphql_customers_page_by_cursor_filter_and_cost(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    seen: list[str] = []
    after = None
    while True:
        variables = {"first": 25, "after": after}
        body = client.post("graphql.json", json={"query": CUSTOMERS, "variables": variables})
        block = body.json()["data"]["customers"]
        seen += [e["node"]["id"] for e in block["edges"]]
        if not block["pageInfo"]["hasNextPage"]:
            break
        after = block["pageInfo"]["endCursor"]
    assert seen == [gid(c) for _, c in sorted(emu.shop.customers.items())]
    cost = body.json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 25 * 3  # node, amountSpent, defaultAddress
    assert cost["actualQueryCost"] == 2 + len(block["edges"]) * 3
    customer = sorted(emu.shop.customers.values(), key=lambda c: c["updated_at"])[-1]
    since = customer["updated_at"]
    newer = client.post(
        "graphql.json",
        json={"query": CUSTOMERS, "variables": {"first": 250, "query": f"updated_at:>='{since}'"}},
    ).json()["data"]["customers"]["edges"]
    assert gid(customer) in [e["node"]["id"] for e in newer]
    one = client.post(
        "graphql.json",
        json={"query": f'{{ customer(id: "{gid(customer)}") {{ email tags }} }}'},
    ).json()["data"]["customer"]
    assert one == {"email": customer["email"], "tags": split_tags(customer["tags"])}
    unknown = client.post(
        "graphql.json", json={"query": "{ customers(first: 1) { edges { node { x } } } }"}
    )
    assert unknown.json()["errors"][0]["extensions"]["code"] == "undefinedField"
    pageless = client.post("graphql.json", json={"query": "{ customers { nodes { id } } }"})
    assert "first or last" in pageless.json()["errors"][0]["message"]


# --- what syncd demo asks of the emulator ----------------------------------------------------


def test_its_demo_part_holds_customer_tags_by_email(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    customer = next(c for c in emu.state()["customers"] if c.get("email"))
    variables = {"id": gid(customer), "tags": ["win-back"]}
    assert client.post("graphql.json", json={"query": TAGS_ADD, "variables": variables}).json()
    held = emu.holds()
    assert "win-back" in held[customer["email"].lower()].tags
    with_email = {c["email"].lower() for c in emu.state()["customers"] if c.get("email")}
    assert set(held) == emu.emails() == with_email
    options = emu.connector_config("http://127.0.0.1:9")
    assert options == {
        "type": "shopify",
        "shop": "http://127.0.0.1:9",
        "access_token": DEFAULT_TOKEN,
    }


# --- the GraphQL Admin API as a schema -------------------------------------------------------


def gql(client: httpx.Client, document: str, /, **variables: Any) -> dict[str, Any]:
    response = client.post("graphql.json", json={"query": document, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_introspection_describes_shopifys_types(client: httpx.Client) -> None:
    body = gql(
        client,
        """{ __schema { queryType { name } mutationType { name } }
             order: __type(name: "Order") { fields { name } interfaces { name } }
             line: __type(name: "LineItem") { fields { name type { kind name ofType { name } } } }
        }""",
    )
    schema = body["data"]["__schema"]
    assert schema == {"queryType": {"name": "QueryRoot"}, "mutationType": {"name": "Mutation"}}
    order = {f["name"] for f in body["data"]["order"]["fields"]}
    assert {"lineItems", "totalPriceSet", "customer", "updatedAt"} <= order
    assert {i["name"] for i in body["data"]["order"]["interfaces"]} >= {"Node"}
    line = {f["name"]: f["type"] for f in body["data"]["line"]["fields"]}
    assert line["quantity"] == {"kind": "NON_NULL", "name": None, "ofType": {"name": "Int"}}
    assert line["originalUnitPriceSet"]["ofType"]["name"] == "MoneyBag"
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] >= 0
    assert 0 <= cost["actualQueryCost"] <= cost["requestedQueryCost"]


ORDERS = """query ($first: Int, $after: String, $last: Int, $before: String, $query: String,
                  $sortKey: OrderSortKeys, $reverse: Boolean) {
  orders(first: $first, after: $after, last: $last, before: $before, query: $query,
         sortKey: $sortKey, reverse: $reverse) {
    edges { cursor node { id updatedAt lineItems(first: 5) { nodes {
      sku quantity vendor product { productType } variant { id price }
      originalUnitPriceSet { shopMoney { amount currencyCode } } } } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def page_all(client: httpx.Client, **variables: Any) -> list[dict[str, Any]]:
    """Every order, 9 a page; the clock moves on between pages so the budget refills."""
    clock = client.clock  # type: ignore[attr-defined]
    nodes, after = [], None
    while True:
        clock.advance(5)
        block = gql(client, ORDERS, first=9, after=after, **variables)["data"]["orders"]
        nodes += [e["node"] for e in block["edges"]]
        if not block["pageInfo"]["hasNextPage"]:
            return nodes
        after = block["pageInfo"]["endCursor"]


def test_orders_page_by_cursor_sort_and_turn(
    client: httpx.Client, emu: ShopifyEmulator, syncd_clock: ManualClock
) -> None:
    client.clock = syncd_clock  # type: ignore[attr-defined]
    by_id = page_all(client, sortKey="ID")
    assert [n["id"] for n in by_id] == [f"gid://shopify/Order/{i}" for i in sorted(emu.shop.orders)]
    line = by_id[0]["lineItems"]["nodes"][0]
    held = emu.shop.orders[int(by_id[0]["id"].rsplit("/", 1)[1])]["line_items"][0]
    assert line["sku"] == held["sku"] and line["quantity"] == held["quantity"]
    assert line["originalUnitPriceSet"]["shopMoney"] == {
        "amount": held["price"],
        "currencyCode": "EUR",
    }
    assert line["product"]["productType"] and line["vendor"] and line["variant"]["price"]
    by_time = page_all(client, sortKey="UPDATED_AT")
    stamps = [n["updatedAt"] for n in by_time]
    assert stamps == sorted(stamps) and len(by_time) == len(emu.shop.orders)
    turned = page_all(client, sortKey="UPDATED_AT", reverse=True)
    assert [n["id"] for n in turned] == [n["id"] for n in reversed(by_time)]
    # backwards: the last page, then the one before it
    tail = gql(client, ORDERS, last=4, sortKey="ID")["data"]["orders"]
    assert [e["node"]["id"] for e in tail["edges"]] == [n["id"] for n in by_id[-4:]]
    assert tail["pageInfo"]["hasPreviousPage"] and not tail["pageInfo"]["hasNextPage"]
    before = tail["pageInfo"]["startCursor"]
    earlier = gql(client, ORDERS, last=4, before=before, sortKey="ID")["data"]["orders"]
    assert [e["node"]["id"] for e in earlier["edges"]] == [n["id"] for n in by_id[-8:-4]]
    assert earlier["pageInfo"]["hasNextPage"]
    bad = gql(client, ORDERS, first=2, after="not-a-cursor")
    assert "Invalid cursor" in bad["errors"][0]["message"] and bad["errors"][0]["path"] == [
        "orders"
    ]


def test_the_query_filter_reads_shopifys_search_syntax(
    client: httpx.Client, emu: ShopifyEmulator, syncd_clock: ManualClock
) -> None:
    client.clock = syncd_clock  # type: ignore[attr-defined]
    rows = list(emu.shop.orders.values())
    cut = sorted(r["updated_at"] for r in rows)[len(rows) // 2]
    cut_utc = datetime.fromisoformat(cut).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    newer = page_all(client, query=f"updated_at:>='{cut_utc}'")
    older = page_all(client, query=f"updated_at:<'{cut_utc}'")
    assert len(newer) + len(older) == len(rows) and newer and older
    assert all(n["updatedAt"] >= cut_utc for n in newer)
    assert all(n["updatedAt"] < cut_utc for n in older)
    middle = sorted(emu.shop.orders)[len(rows) // 2]
    above = page_all(client, query=f"id:>{middle}", sortKey="ID")
    assert [n["id"] for n in above] == [
        f"gid://shopify/Order/{i}" for i in sorted(emu.shop.orders) if i > middle
    ]
    customer = next(c for c in emu.shop.customers.values() if "," in c["tags"])
    tag = split_tags(customer["tags"])[0]
    doc = "query ($q: String) { customers(first: 250, query: $q) { nodes { id email tags } } }"
    tagged = gql(client, doc, q=f"tag:'{tag}'")["data"]["customers"]["nodes"]
    expected = [
        gid(c) for _, c in sorted(emu.shop.customers.items()) if tag in split_tags(c["tags"])
    ]
    assert [n["id"] for n in tagged] == expected
    one = gql(client, doc, q=f"email:{customer['email']}")["data"]["customers"]["nodes"]
    assert [n["id"] for n in one] == [gid(customer)]
    both = gql(client, doc, q=f"email:{customer['email']} -tag:'{tag}'")["data"]["customers"]
    assert both["nodes"] == []
    counted = gql(client, f"{{ customersCount(query: \"tag:'{tag}'\") {{ count precision }} }}")
    assert counted["data"]["customersCount"] == {"count": len(expected), "precision": "EXACT"}


def test_cost_is_counted_before_and_after_and_throttles(
    client: httpx.Client, emu: ShopifyEmulator, syncd_clock: ManualClock
) -> None:
    # objects 1, connections 2 + first x one node: 2 + 50 x (1 node + 1 customer
    # + 1 lineItems page of 2 + 3 x (1 line item + 1 product))
    doc = """{ orders(first: 50) { nodes { id customer { id }
                 lineItems(first: 3) { nodes { sku product { vendor } } } } } }"""
    body = gql(client, doc)
    nodes = body["data"]["orders"]["nodes"]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 50 * (1 + 1 + 2 + 3 * 2)
    actual = 2 + sum(
        1 + 1 + 2 + 2 * len(n["lineItems"]["nodes"])
        for n in nodes  # customer: 1 even if null
    )
    assert cost["actualQueryCost"] == actual < cost["requestedQueryCost"]
    status = cost["throttleStatus"]
    assert status == {
        "maximumAvailable": 2000.0,
        "currentlyAvailable": 2000 - actual,
        "restoreRate": 100.0,
    }
    # the bucket is checked against the requested cost: 1000 points, with less left
    emu.spend_graphql(2000 - 990)
    big = (
        "{ customers(first: 249) { nodes { id defaultAddress { city } amountSpent { amount } } } }"
    )
    throttled = gql(client, big)
    assert throttled["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert "data" not in throttled
    assert throttled["extensions"]["cost"]["requestedQueryCost"] == 2 + 249 * 3
    syncd_clock.advance(0.1)  # 10 points back: still short
    assert gql(client, big)["errors"][0]["extensions"]["code"] == "THROTTLED"
    syncd_clock.advance(10)
    assert "data" in gql(client, big)
    older = ShopifyEmulator(seed=5, people=20, clock=syncd_clock, cost_max=1000, cost_restore=50)
    legacy = httpx.Client(transport=transport(older), base_url=BASE, headers=client.headers)
    status = gql(legacy, "{ shop { name } }")["extensions"]["cost"]["throttleStatus"]
    assert status == {"maximumAvailable": 1000, "currentlyAvailable": 999, "restoreRate": 50}


def test_unknown_fields_and_arguments_answer_validation_errors_in_shopifys_shape(
    client: httpx.Client,
) -> None:
    body = gql(client, "{ customers(first: 1) { nodes { id favouriteColour } } }")
    assert body == {
        "errors": [
            {
                "message": "Field 'favouriteColour' doesn't exist on type 'Customer'",
                "locations": [{"line": 1, "column": 36}],
                "extensions": {
                    "code": "undefinedField",
                    "typeName": "Customer",
                    "fieldName": "favouriteColour",
                },
            }
        ]
    }
    wrong = gql(client, "{ orders(first: 1, colour: RED) { nodes { id } } }")["errors"][0]
    assert wrong["message"] == "Field 'orders' doesn't accept argument 'colour'"
    assert wrong["extensions"]["code"] == "argumentNotAccepted"
    missing = gql(client, "{ customer { id } }")["errors"][0]
    assert missing["message"] == "Field 'customer' is missing required arguments: id"
    bare = gql(client, "{ shop }")["errors"][0]
    assert bare["extensions"]["code"] == "selectionMismatch"
    unset = gql(client, "query { customer(id: $id) { id } }")["errors"][0]
    assert unset["extensions"] == {"code": "variableNotDefined", "variableName": "id"}


def test_node_finds_any_object_by_its_global_id(client: httpx.Client, emu: ShopifyEmulator) -> None:
    order = next(iter(emu.shop.orders.values()))
    doc = """query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id
               ... on Order { name customer { email } }
               ... on Customer { email numberOfOrders } } }"""
    customer_id = order["customer"]["id"]
    ids = [
        f"gid://shopify/Order/{order['id']}",
        f"gid://shopify/Customer/{customer_id}",
        "gid://shopify/Order/1",
    ]
    found = gql(client, doc, ids=ids)["data"]["nodes"]
    assert found[0] == {
        "__typename": "Order",
        "id": ids[0],
        "name": order["name"],
        "customer": {"email": order["email"]},
    }
    assert found[1]["__typename"] == "Customer" and found[1]["email"] == order["email"]
    assert found[2] is None


BULK = """mutation ($q: String!) { bulkOperationRunQuery(query: $q) {
  bulkOperation { id status } userErrors { field message code } } }"""
POLL = "{ currentBulkOperation { id status objectCount rootObjectCount fileSize url completedAt } }"


def test_a_bulk_operation_runs_polls_to_completed_and_serves_its_jsonl(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    emu.set_rate_limit(0)
    inner = """{ orders(query: "status:any") { edges { node { id name lineItems {
                 edges { node { sku quantity vendor product { productType } } } } } } } }"""
    started = gql(client, BULK, q=inner)["data"]["bulkOperationRunQuery"]
    assert started["userErrors"] == [] and started["bulkOperation"]["status"] == "CREATED"
    busy = gql(client, BULK, q=inner)["data"]["bulkOperationRunQuery"]
    assert busy["bulkOperation"] is None
    assert busy["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    assert gql(client, POLL)["data"]["currentBulkOperation"]["status"] == "RUNNING"
    done = gql(client, POLL)["data"]["currentBulkOperation"]
    assert done["status"] == "COMPLETED" and done["completedAt"]
    by_node = gql(
        client, f'{{ node(id: "{done["id"]}") {{ ... on BulkOperation {{ status url }} }} }}'
    )
    assert by_node["data"]["node"] == {"status": "COMPLETED", "url": done["url"]}
    assert done["url"].startswith(HOST + "/_bulk/")
    bare = httpx.Client(transport=transport(emu))  # the URL needs no token
    jsonl = bare.get(done["url"])
    assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith(
        "application/jsonl"
    )
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    items = sum(len(o["line_items"]) for o in emu.shop.orders.values())
    assert done["rootObjectCount"] == str(len(emu.shop.orders))
    assert done["objectCount"] == str(len(lines)) == str(len(emu.shop.orders) + items)
    assert done["fileSize"] == str(len(jsonl.content))
    parent = None
    for line in lines:  # each line item after its order, naming it
        if "__parentId" in line:
            assert line["__parentId"] == parent and "sku" in line and "lineItems" not in line
        else:
            parent = line["id"]
            assert set(line) == {"id", "name"}
    first = next(o for _, o in sorted(emu.shop.orders.items()))
    assert lines[0] == {"id": f"gid://shopify/Order/{first['id']}", "name": first["name"]}
    assert lines[1]["sku"] == first["line_items"][0]["sku"]
    assert lines[1]["product"]["productType"]
    again = gql(client, BULK, q="{ customers { edges { node { id email } } } }")
    assert again["data"]["bulkOperationRunQuery"]["userErrors"] == []  # the last one is done
    # the log: each bulkOperationRunQuery a write, each poll a read (all are POSTs)
    graphql = [r for r in emu.requests("POST") if r.path.endswith("/graphql.json")]
    assert [r.is_write for r in graphql] == [True, True, False, False, False, True]


def test_a_bulk_query_is_checked_before_it_runs(client: httpx.Client) -> None:
    def refused(query: str) -> dict[str, Any]:
        answer = gql(client, BULK, q=query)["data"]["bulkOperationRunQuery"]
        assert answer["bulkOperation"] is None
        error: dict[str, Any] = answer["userErrors"][0]
        assert error["field"] == ["query"] and error["code"] == "INVALID"
        return error

    assert "at least one connection" in refused("{ shop { name } }")["message"]
    assert (
        "doesn't exist on type 'Customer'" in refused("{ customers { nodes { nope } } }")["message"]
    )
    deep = """{ customers { edges { node { id orders { edges { node { id
                lineItems { edges { node { sku } } } } } } } } } }"""
    assert "nesting depth" in refused(deep)["message"]
    no_id = "{ orders { edges { node { name lineItems { edges { node { sku } } } } } } }"
    assert "must select the 'id' field" in refused(no_id)["message"]


def test_a_bulk_operation_of_a_large_shop_answers_in_seconds(syncd_clock: ManualClock) -> None:
    big = ShopifyEmulator(seed=3, people=4000, clock=syncd_clock)
    client = admin(big)
    started = time.perf_counter()
    gql(
        client,
        BULK,
        q="{ customers { edges { node { id email tags updatedAt defaultAddress { city } } } } }",
    )
    while (op := gql(client, POLL)["data"]["currentBulkOperation"])["status"] != "COMPLETED":
        assert op["status"] == "RUNNING"
    lines = client.get(op["url"]).text.splitlines()
    assert len(lines) == len(big.shop.customers) > 2500
    assert time.perf_counter() - started < 5


def test_a_custom_line_item_has_no_product_or_variant(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    """An order made through the API with a title and a price only (a custom line item, as
    the demo's second order is) reads back with ``product`` and ``variant`` null, by page
    and in a bulk operation: Shopify's LineItem.product and variant are nullable."""
    emu.set_rate_limit(0)
    item = {"title": "Leather belt", "price": "39.00", "quantity": 1}
    made = client.post(
        "orders.json",
        json={"order": {"email": "belt@example.com", "line_items": [item]}},
    )
    assert made.status_code == 201, made.text
    order = f"gid://shopify/Order/{made.json()['order']['id']}"
    fields = "title sku product { id productType } variant { id }"
    read = gql(client, f'{{ node(id: "{order}") {{ ... on Order {{ lineItems(first: 5) '
                       f"{{ nodes {{ {fields} }} }} }} }} }}")  # fmt: skip
    assert read["data"]["node"]["lineItems"]["nodes"] == [
        {"title": "Leather belt", "sku": None, "product": None, "variant": None}
    ]
    inner = (
        '{ orders(query: "email:belt@example.com") { edges { node { id lineItems { edges '
        f"{{ node {{ {fields} }} }} }} }} }} }} }}"
    )
    assert gql(client, BULK, q=inner)["data"]["bulkOperationRunQuery"]["userErrors"] == []
    gql(client, POLL)
    done = gql(client, POLL)["data"]["currentBulkOperation"]
    assert done["status"] == "COMPLETED", done
    lines = [
        json.loads(x)
        for x in httpx.Client(transport=transport(emu)).get(done["url"]).text.splitlines()
    ]
    assert [x["product"] for x in lines if "__parentId" in x] == [None]
