"""The Shopify emulator's webhook subscriptions in its GraphQL Admin API —
``webhookSubscriptionCreate`` / ``Update`` / ``Delete``, ``webhookSubscriptions``,
``webhookSubscription`` and ``webhookSubscriptionsCount`` (their SDL below, Shopify's names
and nullability) — and the deliveries: the resource's REST JSON, signed with the app's client
secret in ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw body), retried 8 times
over 4 hours with the same webhook id (docs/webhooks.md cites the pages)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from syncd.emulator import Clock, Courier, RetryPolicy
from syncd_plugins.shopify.emulator_graphql_read import Row, connection, gid, parse_gid
from syncd_plugins.shopify.emulator_state import ShopState

API_VERSION = "2024-10"
#: the topics the emulator serves (a subset of ``WebhookSubscriptionTopic``), as the enum
#: names them and as ``X-Shopify-Topic`` does
TOPICS = {
    "CUSTOMERS_CREATE": "customers/create",
    "CUSTOMERS_UPDATE": "customers/update",
    "CUSTOMERS_DELETE": "customers/delete",
    "ORDERS_CREATE": "orders/create",
    "ORDERS_UPDATED": "orders/updated",
    "ORDERS_CANCELLED": "orders/cancelled",
    "CHECKOUTS_CREATE": "checkouts/create",
    "CHECKOUTS_UPDATE": "checkouts/update",
    "APP_UNINSTALLED": "app/uninstalled",
}
#: "retried a total of 8 times over 4 hours using an exponential backoff schedule"
RETRIES = RetryPolicy.exponential(8, 4 * 3600)

SDL = (
    """
enum WebhookSubscriptionTopic { """
    + " ".join(TOPICS)
    + """ }
enum WebhookSubscriptionFormat { JSON XML }
enum WebhookSubscriptionSortKeys { CREATED_AT ID RELEVANCE }

"An HTTPS endpoint to which webhook subscriptions send POST requests."
type WebhookHttpEndpoint { callbackUrl: URL! }
union WebhookSubscriptionEndpoint = WebhookHttpEndpoint

"A version of the API."
type ApiVersion { displayName: String! handle: String! supported: Boolean! }

"A webhook subscription: a topic, and where its events go."
type WebhookSubscription implements Node & LegacyInteroperability {
  apiVersion: ApiVersion!
  callbackUrl: URL! @deprecated(reason: "Use `uri` instead.")
  createdAt: DateTime!
  endpoint: WebhookSubscriptionEndpoint!
  filter: String
  format: WebhookSubscriptionFormat!
  id: ID!
  includeFields: [String!]!
  legacyResourceId: UnsignedInt64!
  metafieldNamespaces: [String!]!
  topic: WebhookSubscriptionTopic!
  updatedAt: DateTime!
  uri: String!
}
type WebhookSubscriptionEdge { cursor: String! node: WebhookSubscription! }
type WebhookSubscriptionConnection {
  edges: [WebhookSubscriptionEdge!]!
  nodes: [WebhookSubscription!]!
  pageInfo: PageInfo!
}

"The fields of a webhook subscription to create or update."
input WebhookSubscriptionInput {
  callbackUrl: URL
  filter: String
  format: WebhookSubscriptionFormat
  includeFields: [String!]
  metafieldNamespaces: [String!]
  uri: String
}
type WebhookSubscriptionCreatePayload {
  userErrors: [UserError!]!
  webhookSubscription: WebhookSubscription
}
type WebhookSubscriptionUpdatePayload {
  userErrors: [UserError!]!
  webhookSubscription: WebhookSubscription
}
type WebhookSubscriptionDeletePayload {
  deletedWebhookSubscriptionId: ID
  userErrors: [UserError!]!
}

extend type QueryRoot {
  webhookSubscription(id: ID!): WebhookSubscription
  webhookSubscriptions(
    first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
    sortKey: WebhookSubscriptionSortKeys = CREATED_AT, callbackUrl: URL,
    format: WebhookSubscriptionFormat, topics: [WebhookSubscriptionTopic!], query: String
  ): WebhookSubscriptionConnection!
  webhookSubscriptionsCount(query: String, limit: Int = 10000): Count
}

extend type Mutation {
  webhookSubscriptionCreate(
    topic: WebhookSubscriptionTopic!, webhookSubscription: WebhookSubscriptionInput!
  ): WebhookSubscriptionCreatePayload
  webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
  webhookSubscriptionUpdate(
    id: ID!, webhookSubscription: WebhookSubscriptionInput!
  ): WebhookSubscriptionUpdatePayload
}
"""
)
SORTS: dict[str, Callable[[Row], Any]] = {
    "CREATED_AT": lambda r: r["row"]["createdAt"],
    "ID": lambda r: r["id"],
    "RELEVANCE": lambda r: r["id"],
}


class ShopWebhooks:
    """One shop's webhook subscriptions and the courier that delivers their events."""

    def __init__(
        self, clock: Clock, secret: str, domain: str, time_scale: float, workers: int = 4
    ) -> None:
        self.clock, self.secret, self.domain = clock, secret, domain
        # how many deliveries are posted at once: Shopify posts many in parallel
        self.courier = Courier(RETRIES, time_scale=time_scale, workers=workers)
        self.watch(None)

    def watch(self, shop: ShopState | None) -> None:
        """Start over with no subscription, told of the changes of ``shop``."""
        self.rows: dict[int, Row] = {}
        self.next_id = 1_000_001
        if shop is not None:
            shop.observer = self.changed

    # --- the GraphQL fields -------------------------------------------------------------------

    def create(self, topic: str, given: dict[str, Any]) -> Row:
        address = str(given.get("uri") or given.get("callbackUrl") or "")
        field = "uri" if given.get("uri") else "callbackUrl"
        if urlsplit(address).scheme not in ("http", "https") or not urlsplit(address).netloc:
            return _failed(["webhookSubscription", field], "Address is invalid")
        if any(r["topic"] == topic and r["uri"] == address for r in self.rows.values()):
            problem = "Address for this topic has already been taken"
            return _failed(["webhookSubscription", field], problem)
        now = _iso(self.clock())
        number, self.next_id = self.next_id, self.next_id + 1
        row = {
            "__typename": "WebhookSubscription",
            "id": gid("WebhookSubscription", number),
            "legacyResourceId": str(number),
            "topic": topic,
            "format": given.get("format") or "JSON",
            "uri": address,
            "callbackUrl": address,
            "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": address},
            "includeFields": list(given.get("includeFields") or []),
            "metafieldNamespaces": list(given.get("metafieldNamespaces") or []),
            "filter": given.get("filter"),
            "apiVersion": {"displayName": API_VERSION, "handle": API_VERSION, "supported": True},
            "createdAt": now,
            "updatedAt": now,
        }
        self.rows[number] = row
        return {"webhookSubscription": row, "userErrors": []}

    def update(self, id: str, given: dict[str, Any]) -> Row:
        row = self._row(id)
        if row is None:
            return _failed(["id"], "Webhook subscription does not exist")
        address = str(given.get("uri") or given.get("callbackUrl") or row["uri"])
        if urlsplit(address).scheme not in ("http", "https"):
            return _failed(["webhookSubscription", "callbackUrl"], "Address is invalid")
        row.update(uri=address, callbackUrl=address, updatedAt=_iso(self.clock()))
        row["endpoint"] = {"__typename": "WebhookHttpEndpoint", "callbackUrl": address}
        for key in ("format", "includeFields", "metafieldNamespaces", "filter"):
            if given.get(key) is not None:
                row[key] = given[key]
        return {"webhookSubscription": row, "userErrors": []}

    def delete(self, id: str) -> Row:
        row = self._row(id)
        if row is None:
            return {
                "deletedWebhookSubscriptionId": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}],
            }
        del self.rows[int(row["legacyResourceId"])]
        return {"deletedWebhookSubscriptionId": row["id"], "userErrors": []}

    def listing(self, info: Any, **args: Any) -> Row:
        rows = [r for _, r in sorted(self.rows.items())]
        if args.get("topics"):
            rows = [r for r in rows if r["topic"] in args["topics"]]
        if args.get("callbackUrl"):
            rows = [r for r in rows if r["uri"] == args["callbackUrl"]]
        if args.get("format"):
            rows = [r for r in rows if r["format"] == args["format"]]
        args.pop("query", None)  # no search terms are emulated for subscriptions
        numbered = [{"id": int(r["legacyResourceId"]), "row": r} for r in rows]
        return connection(info, numbered, lambda r: r["row"], {}, SORTS, args)

    def roots(self) -> dict[str, Callable[..., Any]]:
        """The root fields, for the schema's resolver map."""
        return {
            "webhookSubscription": lambda info, id: self._row(id),
            "webhookSubscriptions": self.listing,
            "webhookSubscriptionsCount": lambda info, query=None, limit=10000: {
                "count": min(len(self.rows), limit or len(self.rows)),
                "precision": "EXACT",
            },
            "webhookSubscriptionCreate": lambda info, topic, webhookSubscription: self.create(
                topic, webhookSubscription
            ),
            "webhookSubscriptionUpdate": lambda info, id, webhookSubscription: self.update(
                id, webhookSubscription
            ),
            "webhookSubscriptionDelete": lambda info, id: self.delete(id),
        }

    def _row(self, id: str) -> Row | None:
        parsed = parse_gid(id)
        if parsed is None or parsed[0] != "WebhookSubscription":
            return None
        return self.rows.get(parsed[1])

    # --- the deliveries -----------------------------------------------------------------------

    def changed(self, topic: str, resource: dict[str, Any]) -> None:
        """A change in the shop: every subscription to its topic gets the resource's JSON."""
        wanted = [r for r in self.rows.values() if TOPICS[r["topic"]] == topic]
        if not wanted:
            return
        body = json.dumps(resource).encode()
        for row in wanted:
            headers = self.headers(topic, body)
            self.courier.send(row["uri"], topic, (body, headers), _as_made)

    def headers(self, topic: str, body: bytes) -> dict[str, str]:
        """Shopify's headers of one delivery: kept the same on each retry."""
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": hmac_sha256(self.secret, body),
            "X-Shopify-Shop-Domain": self.domain,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": _iso(self.clock()),
        }


def hmac_sha256(secret: str, body: bytes) -> str:
    """base64 of the HMAC-SHA256 of ``body`` under ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _as_made(events: list[Any], attempt: int) -> tuple[bytes, dict[str, str]]:
    body, headers = events[0]
    return body, headers


def _failed(field: list[str], message: str) -> Row:
    return {"webhookSubscription": None, "userErrors": [{"field": field, "message": message}]}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
