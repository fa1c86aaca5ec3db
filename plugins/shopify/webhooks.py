"""Shopify's webhooks: verified by ``X-Shopify-Hmac-Sha256`` (base64 of the HMAC-SHA256 of the
raw body under the app's client secret), named by ``X-Shopify-Topic``, deduplicated by
``X-Shopify-Webhook-Id`` (the same on every retry of one delivery).

The payloads are the REST shapes of customers and orders; each is put in the shape
the GraphQL reads give (``legacyResourceId``, ``totalPriceSet { shopMoney }``, ...) and mapped
by the very streams a pull maps with, so a webhook and a pull make the same records.
"""

from __future__ import annotations

from typing import Any

from syncd.connectors import (
    Record,
    WebhookDelivery,
    WebhookReceiver,
    WebhookRefused,
    WebhookRequest,
    dig,
    hmac_base64,
    json_body,
    same_secret,
)
from syncd_plugins.shopify import webhook_subscriptions as subs
from syncd_plugins.shopify.streams import Customers, Orders

#: REST ``fulfillment_status`` → GraphQL ``displayFulfillmentStatus``
FULFILLMENT = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED", "restocked": "RESTOCKED"}


class ShopifyWebhooks(WebhookReceiver):
    """Webhooks of one shop; ``webhooks.connectors.NAME.secret`` is the app's client secret."""

    subscriber = subs

    def verify(self, request: WebhookRequest) -> None:
        secret = self.needs("secret")["secret"]
        given = request.headers.get("x-shopify-hmac-sha256")
        if not given:
            raise WebhookRefused(401, "no X-Shopify-Hmac-Sha256 header")
        if not same_secret(hmac_base64(secret, request.body), given):
            raise WebhookRefused(401, "X-Shopify-Hmac-Sha256 does not match the body")

    def read(self, request: WebhookRequest) -> WebhookDelivery:
        topic = request.headers.get("x-shopify-topic") or ""
        if not topic:
            raise WebhookRefused(400, "no X-Shopify-Topic header")
        row = json_body(request)
        if not isinstance(row, dict):
            raise WebhookRefused(400, f"a {topic} webhook whose body is not an object")
        delivery = WebhookDelivery(request.headers.get("x-shopify-webhook-id"), topic)
        delivery.records = self.records(topic, row)
        return delivery

    def records(self, topic: str, row: dict[str, Any]) -> list[Record]:
        """What the instance's streams make of the payload of ``topic``: nothing for a topic
        no stream it reads covers (deletions among them), nor for a checkout: one is abandoned
        only once it has stayed open a while, and the pull reads Shopify's abandoned ones (a
        checkouts/create made ``checkout_abandoned`` at once, and nothing retracted it)."""
        kind, _, action = topic.partition("/")
        shape, stream_class = SHAPES.get(kind, (None, None))
        found = [s for s in self.connector.streams() if type(s) is stream_class]
        if shape is None or not found or action == "delete":
            return []
        mapped = found[0].map(shape(row))  # type: ignore[attr-defined]
        if mapped is None:
            return []
        return list(mapped) if isinstance(mapped, list) else [mapped]


def customer(row: dict[str, Any]) -> dict[str, Any]:
    """A REST customer in the shape of the GraphQL ``Customer`` a pull reads."""
    consent = row.get("email_marketing_consent") or {}
    address = row.get("default_address") or {}
    tags = row.get("tags")
    return {
        "legacyResourceId": row.get("id"),
        "email": row.get("email"),
        "firstName": row.get("first_name"),
        "lastName": row.get("last_name"),
        "phone": row.get("phone"),
        "state": _upper(row.get("state")),
        "tags": tags.split(",") if isinstance(tags, str) else tags,
        "numberOfOrders": row.get("orders_count"),
        "amountSpent": {"amount": row.get("total_spent")},
        "updatedAt": row.get("updated_at"),
        "emailMarketingConsent": {
            "marketingState": _upper(consent.get("state")),
            "consentUpdatedAt": consent.get("consent_updated_at"),
        },
        "defaultAddress": {
            "city": address.get("city"),
            "countryCodeV2": address.get("country_code"),
            "phone": address.get("phone"),
        },
    }


def order(row: dict[str, Any]) -> dict[str, Any]:
    """A REST order in the shape of the GraphQL ``Order`` a pull reads."""
    codes = row.get("discount_codes")
    return {
        "legacyResourceId": row.get("id"),
        "name": row.get("name"),
        "email": row.get("email") or row.get("contact_email"),
        "createdAt": row.get("created_at"),
        "updatedAt": row.get("updated_at"),
        "cancelledAt": row.get("cancelled_at"),
        "currencyCode": row.get("currency"),
        "sourceName": row.get("source_name"),
        "displayFinancialStatus": _upper(row.get("financial_status")),
        "displayFulfillmentStatus": FULFILLMENT.get(str(row.get("fulfillment_status"))),
        "discountCodes": [dig(c, "code") for c in codes] if isinstance(codes, list) else [],
        "totalPriceSet": _money(row.get("total_price")),
        "subtotalPriceSet": _money(row.get("subtotal_price")),
        "totalTaxSet": _money(row.get("total_tax")),
        "totalDiscountsSet": _money(row.get("total_discounts")),
        "customer": _customer_ref(row),
        "lineItems": {"nodes": _lines(row)},
    }


def _customer_ref(row: dict[str, Any]) -> dict[str, Any] | None:
    who = row.get("customer")
    if not isinstance(who, dict):
        return None
    return {"legacyResourceId": who.get("id"), "email": who.get("email")}


def _lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    lines = row.get("line_items")
    return (
        [_line(line) for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []
    )


def _line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": line.get("title"),
        "quantity": line.get("quantity"),
        "sku": line.get("sku"),
        "vendor": line.get("vendor"),
        "variantTitle": line.get("variant_title"),
        "originalUnitPriceSet": _money(line.get("price")),
        "product": {"legacyResourceId": line.get("product_id"), "vendor": line.get("vendor")},
        "variant": {"legacyResourceId": line.get("variant_id")},
    }


SHAPES: dict[str, tuple[Any, type]] = {
    "customers": (customer, Customers),
    "orders": (order, Orders),
}


def _money(amount: Any) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount}}


def _upper(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) else None
