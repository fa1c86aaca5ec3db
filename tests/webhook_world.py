"""A runtime with one instance of each built-in vendor taking webhooks, the daemon's app over
it, and signed requests for each vendor: shared by the webhook tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.testclient import TestClient

from syncd.config import load_config
from syncd.daemon.health import build_app
from syncd.runtime import Runtime, build_runtime
from syncd.webhooks.ingest import Backlog, Ingest, Receivers

SHOP_SECRET = "shop-client-secret"
HUB_SECRET = "hub-client-secret"
AC_TOKEN = "ac-url-token"
SM_USER, SM_PASSWORD = "syncd", "sm-password"
NOW = datetime(2026, 12, 7, 10, 2, tzinfo=UTC)

CONFIG = """
store:
  url: "{db}"
connectors:
  shop: {{type: shopify, shop: {shop}, access_token: shop-token}}
  crm: {{type: hubspot, token: hub-token}}
  esp: {{type: activecampaign, url: "{esp}", token: emulator-api-token}}
  sm: {{type: salesmanago, server: "https://app3.salesmanago.com", client_id: c1,
        api_key: k1, api_secret: s1, owner: owner@example.com}}
segments:
  buyers: {{event: order_placed}}
destinations:
  - connector: esp
    tags: {{buyers: BUYER}}
webhooks:
  public_url: https://syncd.example.com
  max_body: {max_body}
  queue: {queue}
  debounce: 0s
  connectors:
    shop: {{secret: {shop_secret}}}
    crm: {{secret: {hub_secret}}}
    esp: {{token: {ac_token}}}
    sm: {{username: {sm_user}, password: {sm_password}}}
"""


def write_config(
    folder: Path,
    *,
    max_body: str = "1MB",
    queue: int = 100,
    shop: str = "emulated",
    esp: str = "https://acme.api-us1.com",
    store: str | None = None,
) -> Path:
    path = folder / "syncd.yaml"
    path.write_text(
        CONFIG.format(
            db=store or f"sqlite:///{folder / 'store.db'}",
            max_body=max_body,
            queue=queue,
            shop=shop,
            esp=esp,
            shop_secret=SHOP_SECRET,
            hub_secret=HUB_SECRET,
            ac_token=AC_TOKEN,
            sm_user=SM_USER,
            sm_password=SM_PASSWORD,
        )
    )
    return path


def hmac_sha256_base64(key: str, message: bytes) -> str:
    """base64 of the HMAC-SHA256 of ``message`` under ``key``, as the vendors' docs say (written
    here, not taken from the receivers: a test signing with the code it checks proves nothing)."""
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_v3(secret: str, url: str, body: bytes, stamp: str) -> str:
    """HubSpot's v3 signature of a POST: method + URI + body + timestamp, the URI with its
    URL-encoded characters of HubSpot's table decoded (of those, the tests' URLs hold ``%3A``)."""
    uri = url.replace("%3A", ":").replace("%3a", ":")
    return hmac_sha256_base64(secret, b"POST" + uri.encode() + body + stamp.encode())


def runtime(folder: Path, **options: Any) -> Runtime:
    return build_runtime(load_config(write_config(folder, **options)), clock=lambda: NOW)


class World:
    """The daemon's app over ``rt``, and the deliveries a test posts to it."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.backlog = Backlog()
        self.receivers = Receivers()
        ingest = Ingest(lambda: rt, self.backlog, self.receivers)
        app = build_app(lambda: (True, "ok"), webhooks=ingest)
        self.client = TestClient(app, base_url="https://syncd.example.com")

    def shopify(self, topic: str, payload: dict[str, Any], *, webhook_id: str = "w-1",
                secret: str = SHOP_SECRET) -> Any:  # fmt: skip
        body = json.dumps(payload).encode()
        headers = {
            "X-Shopify-Hmac-Sha256": hmac_sha256_base64(secret, body),
            "X-Shopify-Topic": topic,
            "X-Shopify-Webhook-Id": webhook_id,
            "Content-Type": "application/json",
        }
        return self.client.post("/webhooks/shop", content=body, headers=headers)

    def hubspot(self, events: list[dict[str, Any]], *, sent: datetime = NOW,
                secret: str = HUB_SECRET, query: str = "") -> Any:  # fmt: skip
        body = json.dumps(events).encode()
        stamp = str(int(sent.timestamp() * 1000))
        path = "/webhooks/crm" + (f"?{query}" if query else "")
        url = "https://syncd.example.com" + path
        headers = {
            "X-HubSpot-Signature-v3": hubspot_v3(secret, url, body, stamp),
            "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json",
        }
        return self.client.post(path, content=body, headers=headers)

    def activecampaign(self, fields: dict[str, str], *, token: str = AC_TOKEN) -> Any:
        body = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.client.post(f"/webhooks/esp?token={token}", content=body, headers=headers)

    def salesmanago(self, payload: dict[str, Any], *, password: str = SM_PASSWORD) -> Any:
        credentials = base64.b64encode(f"{SM_USER}:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
        return self.client.post("/webhooks/sm", content=json.dumps(payload), headers=headers)


ORDER = {
    "id": 820982911946154508,
    "name": "#9999",
    "email": "jon@example.com",
    "created_at": "2026-12-07T10:01:00Z",
    "updated_at": "2026-12-07T10:01:00Z",
    "cancelled_at": None,
    "currency": "USD",
    "financial_status": "paid",
    "fulfillment_status": None,
    "total_price": "199.00",
    "subtotal_price": "189.00",
    "total_tax": "10.00",
    "total_discounts": "0.00",
    "discount_codes": [],
    "customer": {"id": 115310627314723954, "email": "jon@example.com"},
    "line_items": [
        {"title": "IPod Nano", "quantity": 1, "sku": "IPOD2008", "vendor": "Apple",
         "price": "199.00", "product_id": 632910392, "variant_id": 808950810}
    ],
}  # fmt: skip
CUSTOMER = {
    "id": 115310627314723954,
    "email": "jon@example.com",
    "first_name": "Jon",
    "last_name": "Snow",
    "state": "enabled",
    "tags": "vip, winter",
    "updated_at": "2026-12-07T10:00:00Z",
    "email_marketing_consent": {"state": "subscribed", "consent_updated_at": None},
    "default_address": {"city": "Winterfell", "country_code": "GB"},
}
