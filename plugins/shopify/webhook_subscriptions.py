"""Shopify's webhook subscriptions for one shop, through the GraphQL Admin API: listed with
``webhookSubscriptions``, created with ``webhookSubscriptionCreate`` (one per topic whose
records the instance reads), each posting JSON to the address syncd gives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from syncd.connectors import Connector, ConnectorError, WebhookSubscription, dig

if TYPE_CHECKING:
    from syncd_plugins.shopify.api import GraphQL
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


def subscriptions(connector: Connector) -> list[WebhookSubscription]:
    """Every subscription of the app in the shop."""
    found: list[WebhookSubscription] = []
    after: str | None = None
    while True:
        data, errors = _graphql(connector).call(LIST, {"after": after}, cost=12)
        if errors:
            raise ConnectorError(f"Shopify webhookSubscriptions: {_said(errors)}")
        page = data.get("webhookSubscriptions") or {}
        found += [_row(node) for node in page.get("nodes") or []]
        if not dig(page, "pageInfo.hasNextPage"):
            return found
        after = dig(page, "pageInfo.endCursor")


def register(connector: Connector, address: str) -> list[WebhookSubscription]:
    """Subscribe ``address`` to each topic the instance's streams read and it lacks; the
    subscriptions posting to ``address``, old and new."""
    mine = [s for s in subscriptions(connector) if s.address == address]
    have = {s.topic for s in mine}
    wanted = [t for stream in connector.streams() for t in TOPICS.get(stream.name, ())]
    for topic in wanted:
        if topic in have:
            continue
        variables = {"topic": topic, "sub": {"callbackUrl": address, "format": "JSON"}}
        data, errors = _graphql(connector).call(CREATE, variables, cost=10)
        made = data.get("webhookSubscriptionCreate") or {}
        problems = errors or made.get("userErrors")
        if problems:
            raise ConnectorError(f"Shopify webhookSubscriptionCreate {topic}: {_said(problems)}")
        mine.append(_row(made["webhookSubscription"]))
        have.add(topic)
    return mine


def _graphql(connector: Connector) -> GraphQL:
    return cast("ShopifyConnector", connector).graphql


def _row(node: dict[str, Any]) -> WebhookSubscription:
    address = dig(node, "endpoint.callbackUrl") or ""
    return WebhookSubscription(str(node.get("id")), str(node.get("topic")), address)


def _said(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    return str(errors)
