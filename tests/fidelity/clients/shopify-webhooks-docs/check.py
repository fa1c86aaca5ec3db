"""A client of Shopify's webhook subscriptions written from its GraphQL Admin documentation
(``webhookSubscriptionCreate``, ``webhookSubscriptions``, ``webhookSubscriptionDelete``) and
of its deliveries (``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body under the
app's client secret), standard library only: it subscribes a local receiver, makes a change,
checks the delivery's signature, and deletes the subscription."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from verdict import CONFIG, Catcher, call, step

SECRET = "fidelity-shopify-secret"  # the emulator's client_secret (client.json)
GRAPHQL = "/admin/api/2024-10/graphql.json"
AUTH = {"X-Shopify-Access-Token": CONFIG.get("access_token", "")}


def gql(query: str, **variables: Any) -> dict[str, Any]:
    status, body = call("POST", GRAPHQL, {"query": query, "variables": variables}, AUTH)
    if status != 200 or not isinstance(body, dict) or "data" not in body:
        raise RuntimeError(f"HTTP {status}: {str(body)[:200]}")
    data: dict[str, Any] = body["data"]
    return data


catcher = Catcher()
address = catcher.url + "/webhooks/shop"
made: dict[str, Any] = {}


def create() -> tuple[bool, int | None, str]:
    query = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
      webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
        webhookSubscription {
          id topic format endpoint { ... on WebhookHttpEndpoint { callbackUrl } }
        }
        userErrors { field message } } }"""
    sub = {"callbackUrl": address, "format": "JSON"}
    answer = gql(query, topic="CUSTOMERS_UPDATE", sub=sub)["webhookSubscriptionCreate"]
    row = answer["webhookSubscription"] or {}
    made.update(row)
    ok = not answer["userErrors"] and row.get("topic") == "CUSTOMERS_UPDATE"
    ok = ok and row.get("endpoint", {}).get("callbackUrl") == address
    return ok, 1, str(row.get("id"))


def listed(expected: int) -> Callable[[], tuple[bool, int | None, str]]:
    def run() -> tuple[bool, int | None, str]:
        query = "{ webhookSubscriptions(first: 10) { nodes { id topic } } }"
        nodes = gql(query)["webhookSubscriptions"]["nodes"]
        ids = [n["id"] for n in nodes]
        ok = len(ids) == expected and (expected == 0 or ids == [made.get("id")])
        return ok, len(ids), ", ".join(ids)

    return run


def delivered() -> tuple[bool, int | None, str]:
    customer = gql("{ customers(first: 1) { nodes { id } } }")["customers"]["nodes"][0]["id"]
    tags = 'mutation($id: ID!) { tagsAdd(id: $id, tags: ["fidelity"]) { userErrors { message } } }'
    gql(tags, id=customer)
    caught = catcher.wait(1)
    if not caught:
        return False, 0, "no webhook came"
    path, headers, body = caught[0]
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    payload = json.loads(body)
    ok = (
        path == "/webhooks/shop"
        and headers.get("x-shopify-hmac-sha256") == digest
        and headers.get("x-shopify-topic") == "customers/update"
        and bool(headers.get("x-shopify-webhook-id"))
        and f"gid://shopify/Customer/{payload.get('id')}" == customer
        and "fidelity" in str(payload.get("tags"))
    )
    return ok, len(caught), f"{headers.get('x-shopify-topic')} signed {digest[:8]}..."


def delete() -> tuple[bool, int | None, str]:
    query = """mutation($id: ID!) { webhookSubscriptionDelete(id: $id) {
        deletedWebhookSubscriptionId userErrors { message } } }"""
    answer = gql(query, id=made.get("id", ""))["webhookSubscriptionDelete"]
    ok = answer["deletedWebhookSubscriptionId"] == made.get("id") and not answer["userErrors"]
    return ok, 1, str(answer["deletedWebhookSubscriptionId"])


step("mutation webhookSubscriptionCreate", create)
step("query webhookSubscriptions", listed(1))
step("a change delivered, signed", delivered)
step("mutation webhookSubscriptionDelete", delete)
step("query webhookSubscriptions (after the delete)", listed(0))
catcher.close()
