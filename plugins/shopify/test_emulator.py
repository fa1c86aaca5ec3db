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
