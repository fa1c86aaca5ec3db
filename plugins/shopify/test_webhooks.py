"""Shopify's webhooks: the HMAC of the raw body, and each topic's payload mapped by the streams
a pull maps with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.connectors import (
    ConnectorContext,
    ContactRecord,
    EventRecord,
    WebhookRefused,
    WebhookRequest,
)
from syncd.testing import received, webhook_receiver
from syncd_plugins.shopify.connector import ShopifyConnector
from syncd_plugins.shopify.webhooks import ShopifyWebhooks

SECRET = "hush"
ORDER = {
    "id": 450789469, "name": "#1001", "email": "bob@example.com",
    "created_at": "2026-12-07T09:59:00-05:00", "updated_at": "2026-12-07T09:59:00-05:00",
    "cancelled_at": None, "currency": "EUR", "financial_status": "paid",
    "fulfillment_status": "partial", "total_price": "59.00", "subtotal_price": "50.00",
    "total_tax": "9.00", "total_discounts": "5.00", "discount_codes": [{"code": "TENOFF"}],
    "source_name": "web", "customer": {"id": 207119551, "email": "bob@example.com"},
    "line_items": [{"title": "Mug", "variant_title": "Blue", "quantity": 2, "sku": "MUG-B",
                    "vendor": "Acme", "price": "25.00", "product_id": 1, "variant_id": 2}],
}  # fmt: skip


def receiver(streams: list[str] | None = None) -> ShopifyWebhooks:
    options: dict[str, Any] = {"shop": "emulated", "access_token": "t"}
    if streams is not None:
        options["streams"] = streams
    connector = ShopifyConnector(ShopifyConnector.Options(**options), ConnectorContext("shop"))
    return webhook_receiver(ShopifyWebhooks, connector, secret=SECRET)


def request(topic: str, payload: Any, *, sign_with: str = SECRET, **headers: str) -> WebhookRequest:
    body = json.dumps(payload).encode()
    # the docs' formula written out: base64 of the HMAC-SHA256 of the raw body
    mac = base64.b64encode(hmac.new(sign_with.encode(), body, hashlib.sha256).digest()).decode()
    sent = {"x-shopify-hmac-sha256": mac, "x-shopify-topic": topic,
            "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", **headers}  # fmt: skip
    return received("POST", "https://h/webhooks/shop", sent, {}, body)


def test_the_hmac_of_the_raw_body_under_the_client_secret_is_required() -> None:
    receiver().verify(request("orders/create", ORDER))
    with pytest.raises(WebhookRefused, match="does not match") as forged:
        receiver().verify(request("orders/create", ORDER, sign_with="guess"))
    assert forged.value.status == 401
    unsigned = request("orders/create", ORDER)
    bare = received("POST", unsigned.url, {"x-shopify-topic": "x"}, {}, unsigned.body)
    with pytest.raises(WebhookRefused, match="no X-Shopify-Hmac-Sha256"):
        receiver().verify(bare)
    # the body is signed byte for byte: the same JSON written otherwise does not verify
    tampered = received(
        "POST", unsigned.url, unsigned.headers, {}, json.dumps(ORDER, indent=1).encode()
    )
    with pytest.raises(WebhookRefused):
        receiver().verify(tampered)


def test_without_its_secret_configured_every_request_is_refused() -> None:
    connector = receiver().connector
    bare = webhook_receiver(ShopifyWebhooks, connector)
    with pytest.raises(WebhookRefused, match=r"webhooks.connectors.shop.secret is not set"):
        bare.verify(request("orders/create", ORDER))


def test_an_order_is_the_event_a_pull_makes_of_it() -> None:
    delivery = receiver().read(request("orders/create", ORDER))
    assert (delivery.id, delivery.topic) == (
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "orders/create",
    )
    (event,) = delivery.records
    assert isinstance(event, EventRecord)
    assert (event.external_id, event.type, event.value) == ("order/450789469", "order_placed", 59.0)
    assert (event.contact_external_id, event.email) == ("207119551", "bob@example.com")
    assert event.occurred_at == datetime(2026, 12, 7, 14, 59, tzinfo=UTC)
    props = event.properties
    assert props["order_number"] == 1001 and props["discount_codes"] == ["TENOFF"]
    assert (props["financial_status"], props["fulfillment_status"]) == ("paid", "partial")
    assert props["items"] == [{"product": "Mug", "variant": "Blue", "sku": "MUG-B",
                               "category": None, "vendor": "Acme", "quantity": 2,
                               "price": 25.0}]  # fmt: skip
    cancelled = {**ORDER, "cancelled_at": "2026-12-07T11:00:00Z"}
    (gone,) = receiver().read(request("orders/cancelled", cancelled)).records
    assert isinstance(gone, EventRecord) and gone.type == "order_cancelled"
    assert gone.external_id == "order/450789469"  # the purchase it replaces


def test_a_customer_is_the_contact_a_pull_makes_of_it() -> None:
    customer = {"id": 207119551, "email": "Bob@Example.com", "first_name": "Bob",
                "state": "enabled", "tags": "vip, newsletter", "orders_count": 3,
                "total_spent": "120.50", "updated_at": "2026-12-07T10:00:00Z",
                "email_marketing_consent": {"state": "unsubscribed",
                                            "consent_updated_at": "2026-12-07T09:00:00Z"},
                "default_address": {"city": "Lyon", "country_code": "FR"}}  # fmt: skip
    contact, quit_event = receiver().read(request("customers/update", customer)).records
    assert isinstance(contact, ContactRecord)
    assert (contact.external_id, contact.email, contact.tags) == (
        "207119551", "Bob@Example.com", ["vip", "newsletter"],
    )  # fmt: skip
    assert contact.consent == "revoked"
    assert contact.attributes == {"first_name": "Bob", "city": "Lyon", "country": "FR",
                                  "shopify_state": "enabled", "shopify_orders_count": 3.0,
                                  "shopify_total_spent": 120.5}  # fmt: skip
    assert isinstance(quit_event, EventRecord) and quit_event.type == "email_unsubscribed"


def test_checkouts_deletions_and_unread_streams() -> None:
    cart = {"id": 981, "email": "cy@example.com", "created_at": "2026-12-07T10:02:00Z",
            "completed_at": None, "total_price": "12.00", "currency": "EUR",
            "line_items": [{"title": "Tea", "quantity": 1, "price": "12.00"}]}  # fmt: skip
    # a checkout just made is no abandoned cart: abandonment is left to the pull
    assert receiver().read(request("checkouts/create", cart)).records == []
    completed = {**cart, "completed_at": "2026-12-07T10:05:00Z"}
    assert receiver().read(request("checkouts/update", completed)).records == []
    assert receiver().read(request("customers/delete", {"id": 1})).records == []
    assert receiver().read(request("products/create", {"id": 1})).records == []
    # an instance that reads no orders takes none from webhooks either
    assert receiver(["customers"]).read(request("orders/create", ORDER)).records == []


def test_an_unreadable_body_or_no_topic_is_400() -> None:
    body = b"{not json"
    headers = {"x-shopify-topic": "orders/create"}
    with pytest.raises(WebhookRefused) as unreadable:
        receiver().read(received("POST", "https://h/", headers, {}, body))
    assert unreadable.value.status == 400
    with pytest.raises(WebhookRefused, match="no X-Shopify-Topic"):
        receiver().read(received("POST", "https://h/", {}, {}, b"{}"))
