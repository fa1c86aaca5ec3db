"""The Shopify emulator's webhook subscriptions (GraphQL Admin) and its signed deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.emulator import Catcher, running, transport
from syncd_plugins.shopify.emulator import ShopifyEmulator

SECRET = "shpss_test_secret"
CREATE = """
mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription {
      id topic format uri endpoint { ... on WebhookHttpEndpoint { callbackUrl } }
    }
    userErrors { field message }
  }
}"""
LIST = """
query($topics: [WebhookSubscriptionTopic!]) {
  webhookSubscriptions(first: 10, topics: $topics) { nodes { id topic uri } }
}"""
DELETE = """
mutation($id: ID!) {
  webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { message } }
}"""


@pytest.fixture
def shop() -> Iterator[tuple[ShopifyEmulator, httpx.Client]]:
    emulator = ShopifyEmulator(people=20, rate_limit=0, client_secret=SECRET)
    client = httpx.Client(
        base_url="http://shop.test",
        transport=transport(emulator),
        headers={"X-Shopify-Access-Token": emulator.access_token},
    )
    yield emulator, client
    emulator.hooks.courier.close()


def gql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    answer = client.post(
        "/admin/api/2024-10/graphql.json", json={"query": query, "variables": variables}
    )
    body = answer.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def create(client: httpx.Client, topic: str, url: str) -> dict[str, Any]:
    made: dict[str, Any] = gql(
        client, CREATE, topic=topic, sub={"callbackUrl": url, "format": "JSON"}
    )
    return made["webhookSubscriptionCreate"]


def subscribed(
    shop: tuple[ShopifyEmulator, httpx.Client], served: tuple[Catcher, str], topic: str
) -> tuple[ShopifyEmulator, httpx.Client, Catcher]:
    """The shop with ``topic`` subscribed to the test's catcher ``served``."""
    emulator, client = shop
    catcher, url = served
    create(client, topic, url + "/hook")
    return emulator, client, catcher


def test_create_list_and_delete_a_subscription(shop: tuple[ShopifyEmulator, httpx.Client]) -> None:
    _, client = shop
    made = create(client, "CUSTOMERS_UPDATE", "https://syncd.example/webhooks/shop")
    sub = made["webhookSubscription"]
    assert made["userErrors"] == []
    assert sub["id"].startswith("gid://shopify/WebhookSubscription/")
    assert sub["topic"] == "CUSTOMERS_UPDATE" and sub["format"] == "JSON"
    assert sub["endpoint"] == {"callbackUrl": "https://syncd.example/webhooks/shop"}
    create(client, "ORDERS_CREATE", "https://syncd.example/webhooks/shop")
    listed = gql(client, LIST)["webhookSubscriptions"]["nodes"]
    assert {s["topic"] for s in listed} == {"CUSTOMERS_UPDATE", "ORDERS_CREATE"}
    only = gql(client, LIST, topics=["ORDERS_CREATE"])["webhookSubscriptions"]["nodes"]
    assert [s["topic"] for s in only] == ["ORDERS_CREATE"]
    gone = gql(client, DELETE, id=sub["id"])["webhookSubscriptionDelete"]
    assert gone == {"deletedWebhookSubscriptionId": sub["id"], "userErrors": []}
    left = gql(client, LIST)["webhookSubscriptions"]["nodes"]
    assert [s["topic"] for s in left] == ["ORDERS_CREATE"]
    again = gql(client, DELETE, id=sub["id"])["webhookSubscriptionDelete"]
    assert again["deletedWebhookSubscriptionId"] is None and again["userErrors"]


def test_a_taken_or_invalid_address_is_a_user_error(
    shop: tuple[ShopifyEmulator, httpx.Client],
) -> None:
    _, client = shop
    create(client, "CUSTOMERS_CREATE", "https://syncd.example/hook")
    twice = create(client, "CUSTOMERS_CREATE", "https://syncd.example/hook")
    assert twice["webhookSubscription"] is None
    assert twice["userErrors"][0]["message"] == "Address for this topic has already been taken"
    bad = create(client, "CUSTOMERS_CREATE", "not a url")
    assert bad["userErrors"][0]["message"] == "Address is invalid"


def test_the_schema_stays_introspectable(shop: tuple[ShopifyEmulator, httpx.Client]) -> None:
    _, client = shop
    query = '{ __type(name: "WebhookSubscription") { fields { name } } }'
    names = {f["name"] for f in gql(client, query)["__type"]["fields"]}
    assert {"id", "topic", "endpoint", "format", "uri", "createdAt"} <= names


def test_a_change_is_delivered_signed_with_the_app_secret(
    shop: tuple[ShopifyEmulator, httpx.Client],
) -> None:
    emulator, client = shop
    catcher = Catcher([500])  # the first try fails: the retry carries the same webhook id
    with running(catcher) as url:
        create(client, "CUSTOMERS_UPDATE", url + "/webhooks/shop")
        customer = gql(client, "{ customers(first: 1) { nodes { id } } }")["customers"]["nodes"][0]
        tagged = 'mutation($id: ID!) { tagsAdd(id: $id, tags: ["vip"]) { userErrors { message } } }'
        gql(client, tagged, id=customer["id"])
        assert emulator.hooks.courier.wait_idle(10)
    assert len(catcher.caught) == 2
    first, retry = catcher.caught
    for caught in catcher.caught:
        # the docs' formula, computed here: base64 of HMAC-SHA256(secret, raw body)
        digest = hmac.new(SECRET.encode(), caught.body, hashlib.sha256).digest()
        assert caught.headers["x-shopify-hmac-sha256"] == base64.b64encode(digest).decode()
        assert caught.headers["x-shopify-topic"] == "customers/update"
        assert caught.headers["x-shopify-shop-domain"] == "emulated-shop.myshopify.com"
        assert caught.headers["x-shopify-api-version"] == "2024-10"
        assert caught.headers["x-shopify-triggered-at"].endswith("Z")
    assert first.headers["x-shopify-webhook-id"] == retry.headers["x-shopify-webhook-id"]
    assert first.body == retry.body
    body = json.loads(first.body)
    assert body["id"] == int(customer["id"].rsplit("/", 1)[1])
    assert "vip" in body["tags"].split(", ")


def test_a_forged_secret_does_not_match(
    shop: tuple[ShopifyEmulator, httpx.Client], syncd_catcher: tuple[Catcher, str]
) -> None:
    emulator, client, catcher = subscribed(shop, syncd_catcher, "CUSTOMERS_CREATE")
    client.post(
        "/admin/api/2024-10/customers.json", json={"customer": {"email": "new@example.com"}}
    )
    assert emulator.hooks.courier.wait_idle(10)
    (caught,) = catcher.caught
    other = hmac.new(b"another secret", caught.body, hashlib.sha256).digest()
    assert caught.headers["x-shopify-hmac-sha256"] != base64.b64encode(other).decode()
    assert json.loads(caught.body)["email"] == "new@example.com"


def test_nothing_is_sent_without_a_subscription(
    shop: tuple[ShopifyEmulator, httpx.Client],
) -> None:
    emulator, client = shop
    client.post("/admin/api/2024-10/customers.json", json={"customer": {"email": "x@example.com"}})
    assert emulator.hooks.courier.wait_idle(5)
    assert emulator.hooks.courier.log == []


def test_an_order_created_posts_orders_create(
    shop: tuple[ShopifyEmulator, httpx.Client], syncd_catcher: tuple[Catcher, str]
) -> None:
    emulator, client, catcher = subscribed(shop, syncd_catcher, "ORDERS_CREATE")
    order = {
        "email": "buyer@example.com",
        "line_items": [{"title": "Mug", "price": "12.50", "quantity": 2}],
    }
    made = client.post("/admin/api/2024-10/orders.json", json={"order": order})
    assert made.status_code == 201
    assert emulator.hooks.courier.wait_idle(10)
    (caught,) = catcher.caught
    assert caught.headers["x-shopify-topic"] == "orders/create"
    body = json.loads(caught.body)
    assert body["id"] == made.json()["order"]["id"] and body["total_price"] == "25.00"
    assert body["customer"]["email"] == "buyer@example.com"
    customer = emulator.shop.by_email("buyer@example.com")
    assert customer is not None and customer["orders_count"] == 1
    refused = client.post("/admin/api/2024-10/orders.json", json={"order": {"email": "a@b.co"}})
    assert refused.status_code == 422
