"""Shopify's webhooks: verified by ``X-Shopify-Hmac-Sha256`` (base64 of the HMAC-SHA256 of the
raw body under the app's client secret), named by ``X-Shopify-Topic``, deduplicated by
``X-Shopify-Webhook-Id`` (the same on every retry of one delivery).

The payloads are the REST shapes of customers and orders; each is put in the shape
the GraphQL reads give (``legacyResourceId``, ``totalPriceSet { shopMoney }``, ...) and mapped
by the very streams a pull maps with, so a webhook and a pull make the same records.

Subscriptions go through the GraphQL Admin API: listed with ``webhookSubscriptions``, created
with ``webhookSubscriptionCreate`` (one per topic whose records the instance reads), each
posting JSON to the address syncd gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syncd.connectors import (
    ConnectorError,
    HmacSignature,
    Record,
    Reshape,
    WebhookReceiver,
    WebhookSubscription,
    WebhookSubscriptions,
    dig,
)

if TYPE_CHECKING:
    from syncd_plugins.shopify.connector import ShopifyConnector

#: the topics syncd subscribes to, by the stream whose records their payloads make. No
#: checkouts: a checkout is abandoned only once it has stayed open a while (the pull reads
#: Shopify's abandoned checkouts), so a checkouts/create is no abandonment yet.
TOPICS = {
    "customers": ("CUSTOMERS_CREATE", "CUSTOMERS_UPDATE"),
    "orders": ("ORDERS_CREATE", "ORDERS_UPDATED"),
}
LIST = """
query syncd_webhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    nodes { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CREATE = """
mutation syncd_webhook($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic endpoint { ... on WebhookHttpEndpoint { callbackUrl } } }
    userErrors { field message }
  }
}"""
#: REST ``fulfillment_status`` → GraphQL ``displayFulfillmentStatus``
FULFILLMENT = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED", "restocked": "RESTOCKED"}


def upper(path: str) -> Callable[[Any], str | None]:
    """A REST enum value (``paid``) as GraphQL's (``PAID``)."""
    return lambda row: value.upper() if isinstance(value := dig(row, path), str) else None


#: a REST customer in the shape of the GraphQL ``Customer`` a pull reads
CUSTOMER = Reshape(
    {
        "legacyResourceId": "id",
        "email": "email",
        "firstName": "first_name",
        "lastName": "last_name",
        "phone": "phone",
        "state": upper("state"),
        "tags": lambda row: tags.split(",") if isinstance(tags := row.get("tags"), str) else tags,
        "numberOfOrders": "orders_count",
        "amountSpent.amount": "total_spent",
        "updatedAt": "updated_at",
        "emailMarketingConsent.marketingState": upper("email_marketing_consent.state"),
        "emailMarketingConsent.consentUpdatedAt": "email_marketing_consent.consent_updated_at",
        "defaultAddress.city": "default_address.city",
        "defaultAddress.countryCodeV2": "default_address.country_code",
        "defaultAddress.phone": "default_address.phone",
    }
)
LINE = Reshape(
    {
        "title": "title",
        "quantity": "quantity",
        "sku": "sku",
        "vendor": "vendor",
        "variantTitle": "variant_title",
        "originalUnitPriceSet.shopMoney.amount": "price",
        "product.legacyResourceId": "product_id",
        "product.vendor": "vendor",
        "variant.legacyResourceId": "variant_id",
    }
)
#: a REST order in the shape of the GraphQL ``Order`` a pull reads
ORDER = Reshape(
    {
        "legacyResourceId": "id",
        "name": "name",
        "email": ("email", "contact_email"),
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "cancelledAt": "cancelled_at",
        "currencyCode": "currency",
        "sourceName": "source_name",
        "displayFinancialStatus": upper("financial_status"),
        "displayFulfillmentStatus": lambda row: FULFILLMENT.get(str(row.get("fulfillment_status"))),
        "discountCodes": Reshape.each("discount_codes", "code"),
        "totalPriceSet.shopMoney.amount": "total_price",
        "subtotalPriceSet.shopMoney.amount": "subtotal_price",
        "totalTaxSet.shopMoney.amount": "total_tax",
        "totalDiscountsSet.shopMoney.amount": "total_discounts",
        "customer": Reshape.at("customer", Reshape({"legacyResourceId": "id", "email": "email"})),
        "lineItems.nodes": Reshape.each("line_items", LINE),
    }
)
SHAPES = {"customers": CUSTOMER, "orders": ORDER}  # by the stream that maps them


class ShopifySubscriptions(WebhookSubscriptions):
    """The app's subscriptions in the shop, through the GraphQL Admin API."""

    connector: ShopifyConnector

    def topics(self) -> list[str]:
        return [t for stream in self.connector.streams() for t in TOPICS.get(stream.name, ())]

    def subscriptions(self) -> list[WebhookSubscription]:
        found: list[WebhookSubscription] = []
        after: str | None = None
        while True:
            data, errors = self.connector.graphql.call(LIST, {"after": after}, cost=12)
            if errors:
                raise ConnectorError(f"Shopify webhookSubscriptions: {_said(errors)}")
            page = data.get("webhookSubscriptions") or {}
            found += [_row(node) for node in page.get("nodes") or []]
            if not dig(page, "pageInfo.hasNextPage"):
                return found
            after = dig(page, "pageInfo.endCursor")

    def create(self, address: str, missing: list[str], held: list[WebhookSubscription]) -> None:
        for topic in missing:
            variables = {"topic": topic, "sub": {"callbackUrl": address, "format": "JSON"}}
            data, errors = self.connector.graphql.call(CREATE, variables, cost=10)
            problems = errors or dig(data, "webhookSubscriptionCreate.userErrors")
            if problems:
                raise ConnectorError(
                    f"Shopify webhookSubscriptionCreate {topic}: {_said(problems)}"
                )


class ShopifyWebhooks(WebhookReceiver):
    """Webhooks of one shop; ``webhooks.connectors.NAME.secret`` is the app's client secret."""

    signature = HmacSignature("X-Shopify-Hmac-Sha256", digest="sha256", encoding="base64")
    topic_header = "X-Shopify-Topic"
    id_header = "X-Shopify-Webhook-Id"
    subscriber = ShopifySubscriptions

    def records(self, topic: str, payload: dict[str, Any]) -> list[Record]:
        """What the instance's streams make of the payload of ``topic``: nothing for a topic
        no stream it reads covers (deletions among them), nor for a checkout: one is abandoned
        only once it has stayed open a while, and the pull reads Shopify's abandoned ones (a
        checkouts/create made ``checkout_abandoned`` at once, and nothing retracted it)."""
        kind, _, action = topic.partition("/")
        if kind not in SHAPES or action == "delete":
            return []
        return self.mapped(kind, SHAPES[kind](payload))


def _row(node: dict[str, Any]) -> WebhookSubscription:
    address = dig(node, "endpoint.callbackUrl") or ""
    return WebhookSubscription(str(node.get("id")), str(node.get("topic")), address)


def _said(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    return str(errors)
