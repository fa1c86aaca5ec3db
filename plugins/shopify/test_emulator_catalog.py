"""The Shopify emulator's GraphQL Admin API beyond customers, orders and checkouts, with plain
httpx as any client would use it: products and variants, inventory at the store's locations,
collections, metafields with their owners, events, transactions, refunds, shipping lines,
fulfillment orders and fulfillments, each answering what the store holds; fields the store
has no data for answer Shopify's empty values; a field Shopify does not have is refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from syncd.emulator import ManualClock
from syncd_plugins.shopify.emulator import ShopifyEmulator
from syncd_plugins.shopify.test_emulator import admin


@pytest.fixture
def emu(syncd_clock: ManualClock) -> ShopifyEmulator:
    return ShopifyEmulator(seed=3, people=120, clock=syncd_clock)


@pytest.fixture
def client(emu: ShopifyEmulator) -> httpx.Client:
    return admin(emu, "2025-07")


def gql(client: httpx.Client, document: str, /, **variables: Any) -> dict[str, Any]:
    response = client.post("graphql.json", json={"query": document, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def data(client: httpx.Client, document: str, /, **variables: Any) -> dict[str, Any]:
    body = gql(client, document, **variables)
    assert "errors" not in body, body["errors"]
    found: dict[str, Any] = body["data"]
    return found


def every(client: httpx.Client, root: str, fields: str, **arguments: str) -> list[dict[str, Any]]:
    """Every node of a root connection, page by page (5 a page)."""
    extra = "".join(f", {k}: {v}" for k, v in arguments.items())
    document = (
        f"query($after: String) {{ {root}(first: 5, after: $after{extra}) "
        f"{{ nodes {{ {fields} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        block = data(client, document, after=after)[root]
        nodes += block["nodes"]
        if not block["pageInfo"]["hasNextPage"]:
            return nodes
        after = block["pageInfo"]["endCursor"]


def test_products_and_variants_answer_the_catalogue(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    held = {p["id"]: p for p in emu.state()["products"]}
    fields = (
        "id title handle vendor productType status tags totalInventory hasOnlyDefaultVariant "
        "variants(first: 5) { nodes { id sku price inventoryQuantity "
        "inventoryItem { id sku tracked } } }"
    )
    products = every(client, "products", fields, sortKey="UPDATED_AT")
    assert sorted(p["id"] for p in products) == sorted(f"gid://shopify/Product/{i}" for i in held)
    for product in products:
        row = held[int(product["id"].rsplit("/", 1)[1])]
        variant = row["variants"][0]
        assert product["title"] == row["title"] and product["status"] == "ACTIVE"
        assert product["totalInventory"] == variant["inventory_quantity"] > 0
        [node] = product["variants"]["nodes"]
        assert node["sku"] == variant["sku"] and node["price"] == variant["price"]
        assert node["inventoryItem"]["id"] == (
            f"gid://shopify/InventoryItem/{variant['inventory_item_id']}"
        )
    variants = every(client, "productVariants", "id sku product { id }")
    assert len(variants) == len(held)
    assert {v["product"]["id"] for v in variants} == {p["id"] for p in products}


def test_inventory_levels_are_per_location_and_item_with_shopifys_ids(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    state = emu.state()
    document = """query($names: [String!]!) {
      locations(first: 3, includeInactive: true) { nodes { id name address { city formatted }
        inventoryLevels(first: 20) { nodes { id item { id sku } location { id }
          quantities(names: $names) { name quantity } } } } }
    }"""
    found = data(client, document, names=["available", "on_hand", "incoming"])["locations"]["nodes"]
    # by name, the default sort key of locations
    assert [loc["name"] for loc in found] == sorted(loc["name"] for loc in state["locations"])
    levels = {
        (lv["location_id"], lv["inventory_item_id"]): lv["available"]
        for lv in state["inventory_levels"]
    }
    seen = {}
    for location in found:
        for level in location["inventoryLevels"]["nodes"]:
            place = int(location["id"].rsplit("/", 1)[1])
            item = int(level["item"]["id"].rsplit("/", 1)[1])
            assert level["id"] == f"gid://shopify/InventoryLevel/{place}?inventory_item_id={item}"
            assert level["location"]["id"] == location["id"]
            quantities = {q["name"]: q["quantity"] for q in level["quantities"]}
            assert quantities["incoming"] == 0  # the store holds none incoming
            seen[(place, item)] = quantities["available"]
    assert seen == levels


def test_collections_list_their_products_and_rules(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    held = {c["id"]: c for c in emu.state()["collections"]}
    fields = (
        "id title sortOrder productsCount { count } ruleSet { appliedDisjunctively "
        "rules { column relation condition } } products(first: 10) { nodes { id } }"
    )
    collections = every(client, "collections", fields)
    assert len(collections) == len(held)
    for collection in collections:
        row = held[int(collection["id"].rsplit("/", 1)[1])]
        ids = [f"gid://shopify/Product/{i}" for i in row["product_ids"]]
        assert [p["id"] for p in collection["products"]["nodes"]] == ids
        assert collection["productsCount"]["count"] == len(ids)
        assert (collection["ruleSet"] is None) == (row["rules"] is None)
    smart = [c for c in collections if c["ruleSet"]]
    assert smart and smart[0]["ruleSet"]["rules"][0]["column"] == "VENDOR"


def test_metafields_belong_to_their_owners(client: httpx.Client, emu: ShopifyEmulator) -> None:
    held = [m for m in emu.state()["metafields"] if m["owner_resource"] == "customer"]
    assert held  # customers of the loyalty app carry its points
    document = """query($query: String) { customers(first: 60, query: $query) {
      pageInfo { hasNextPage } nodes { id
      metafields(first: 5) { nodes { id namespace key type value ownerType
        owner { ... on Customer { id } } } } } } }"""
    block = data(client, document, query="tag:loyalty-gold")["customers"]
    assert not block["pageInfo"]["hasNextPage"]
    customers = block["nodes"]
    got = [m for c in customers for m in c["metafields"]["nodes"]]
    assert sorted(m["id"] for m in got) == sorted(
        f"gid://shopify/Metafield/{m['id']}" for m in held
    )
    for customer in customers:
        for field in customer["metafields"]["nodes"]:
            assert field["owner"]["id"] == customer["id"]
            assert (field["namespace"], field["key"], field["ownerType"]) == (
                "loyalty",
                "points",
                "CUSTOMER",
            )


def test_orders_carry_transactions_refunds_shipping_and_fulfillments(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    state = emu.state()
    refunded = next(o for o in state["orders"] if o.get("refunds"))
    document = """query($id: ID!) { order(id: $id) { id displayFinancialStatus
      totalShippingPriceSet { shopMoney { amount } }
      shippingLines(first: 5) { nodes { title originalPriceSet { shopMoney { amount } } } }
      transactions { kind status amountSet { shopMoney { amount currencyCode } } }
      refunds { id note refundLineItems(first: 5) { nodes { quantity restockType
        lineItem { id sku } } } }
      fulfillments { status trackingInfo { company number } }
      disputes { id } duties: lineItems(first: 1) { nodes { duties { id } } } } }"""
    order = data(client, document, id=f"gid://shopify/Order/{refunded['id']}")["order"]
    assert order["displayFinancialStatus"] == refunded["financial_status"].upper()
    assert order["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
    [shipping] = refunded["shipping_lines"]
    assert order["totalShippingPriceSet"]["shopMoney"]["amount"] == shipping["price"]
    assert order["shippingLines"]["nodes"][0]["title"] == shipping["title"]
    kinds = [(t["kind"], t["status"]) for t in order["transactions"]]
    assert kinds == [("SALE", "SUCCESS"), ("REFUND", "SUCCESS")]
    sale = order["transactions"][0]["amountSet"]["shopMoney"]
    assert sale == {"amount": refunded["total_price"], "currencyCode": refunded["currency"]}
    [refund] = order["refunds"]
    assert refund["id"] == f"gid://shopify/Refund/{refunded['refunds'][0]['id']}"
    [line] = refund["refundLineItems"]["nodes"]
    assert line["lineItem"]["sku"] == refunded["line_items"][0]["sku"]
    assert (line["quantity"], line["restockType"]) == (1, "RETURN")
    assert [f["status"] for f in order["fulfillments"]] == ["SUCCESS"]
    # what the store holds none of answers Shopify's empty values, not null
    assert order["disputes"] == []
    assert order["duties"]["nodes"][0]["duties"] == []


def test_fulfillment_orders_open_and_closed(client: httpx.Client, emu: ShopifyEmulator) -> None:
    held = emu.state()["fulfillment_orders"]
    fields = "id orderId status assignedLocation { name } fulfillments(first: 3) { nodes { id } }"
    open_ones = every(client, "fulfillmentOrders", fields)
    everything = every(client, "fulfillmentOrders", fields, includeClosed="true")
    assert len(everything) == len(held)
    assert len(open_ones) == sum(1 for f in held if f["status"] == "open") < len(held)
    for found in everything:
        closed = found["status"] == "CLOSED"
        assert len(found["fulfillments"]["nodes"]) == (1 if closed else 0)
        assert found["assignedLocation"]["name"] == "Warehouse"


def test_events_and_the_apps_access_scopes(client: httpx.Client, emu: ShopifyEmulator) -> None:
    held = emu.state()["events"]
    fields = "id action createdAt message ... on BasicEvent { subjectId subjectType }"
    events = every(client, "events", fields, sortKey="CREATED_AT", query='"subject_type:Product"')
    products = [e for e in held if e["subject_type"] == "Product"]
    assert [e["subjectId"] for e in events] == [
        f"gid://shopify/Product/{e['subject_id']}"
        for e in sorted(products, key=lambda e: (e["created_at"], e["id"]))
    ]
    assert {e["subjectType"] for e in events} == {"PRODUCT"}
    scopes = data(client, "{ currentAppInstallation { accessScopes { handle } } }")
    handles = {s["handle"] for s in scopes["currentAppInstallation"]["accessScopes"]}
    assert {"read_customers", "write_customers", "read_orders", "read_products"} <= handles


def test_a_field_shopify_lacks_is_refused_on_the_new_types(client: httpx.Client) -> None:
    body = gql(client, "{ products(first: 1) { nodes { id colour } } }")
    assert "data" not in body
    [error] = body["errors"]
    assert error["message"] == "Field 'colour' doesn't exist on type 'Product'"
    assert error["extensions"] == {
        "code": "undefinedField",
        "typeName": "Product",
        "fieldName": "colour",
    }


def test_nested_connections_multiply_the_requested_cost(client: httpx.Client) -> None:
    document = "{ products(first: 50) { nodes { id media(first: 50) { nodes { id } } } } }"
    body = gql(client, document)
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 50 * (1 + 2 + 50 * 1)


def test_node_and_the_one_object_roots_find_the_new_types(
    client: httpx.Client, emu: ShopifyEmulator
) -> None:
    state = emu.state()
    product, location = state["products"][0], state["locations"][0]
    variant = product["variants"][0]
    fulfilled = next(f for f in state["fulfillment_orders"] if f["fulfillment_ids"])
    ids = [
        f"gid://shopify/Product/{product['id']}",
        f"gid://shopify/ProductVariant/{variant['id']}",
        f"gid://shopify/InventoryItem/{variant['inventory_item_id']}",
        f"gid://shopify/Location/{location['id']}",
        f"gid://shopify/FulfillmentOrder/{fulfilled['id']}",
        f"gid://shopify/Fulfillment/{fulfilled['fulfillment_ids'][0]}",
        f"gid://shopify/Collection/{state['collections'][0]['id']}",
        f"gid://shopify/Metafield/{state['metafields'][0]['id']}",
        "gid://shopify/Product/1",  # none such
    ]
    found = data(client, "query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }", ids=ids)
    assert [n and n["id"] for n in found["nodes"]] == [*ids[:-1], None]
    assert [n["__typename"] for n in found["nodes"][:-1]] == [i.split("/")[3] for i in ids[:-1]]
    document = """query($p: ID!, $v: ID!) { product(id: $p) { title }
      productVariant(id: $v) { sku } primary: location { name } }"""
    one = data(client, document, p=ids[0], v=ids[1])
    assert one["product"]["title"] == product["title"]
    assert one["productVariant"]["sku"] == variant["sku"]
    assert one["primary"]["name"] == location["name"]


def test_an_orders_further_fields_are_made_only_when_a_query_selects_one(
    client: httpx.Client, emu: ShopifyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing renders every order: the fields beyond the connector's (``order_more``)
    are made for an order only when the query selects one of them, and then answer as ever."""
    from syncd_plugins.shopify import emulator_graphql_orders

    made: list[int] = []
    more = emulator_graphql_orders.order_more

    def counted(row: dict[str, Any]) -> dict[str, Any]:
        made.append(row["id"])
        return more(row)

    monkeypatch.setattr(emulator_graphql_orders, "order_more", counted)
    fields = "legacyResourceId name discountCodes customerJourneySummary { customerOrderIndex }"
    plain = every(client, "orders", fields)
    assert plain and made == []
    further = every(client, "orders", "legacyResourceId number statusPageUrl")
    assert len(made) == len(further) == len(plain)
    held = {o["id"]: o for o in emu.state()["orders"]}
    for order in further:
        row = held[int(order["legacyResourceId"])]
        assert order["number"] == row["order_number"] - 1000
        assert order["statusPageUrl"].endswith(f"/{row['id']}/orders/{row['id']:x}/authenticate")
