"""The Shopify emulator with plain httpx, as any client of the Admin API would use it: the
access-token check, Link paging, updated_at_min, the REST leaky bucket and its header, and
the GraphQL tagsAdd / tagsRemove with the cost budget and Throttled in HTTP 200."""

from __future__ import annotations

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


@pytest.fixture
def client(emu: ShopifyEmulator) -> httpx.Client:
    headers = {"X-Shopify-Access-Token": DEFAULT_TOKEN}
    return httpx.Client(transport=transport(emu), base_url=BASE, headers=headers)


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
