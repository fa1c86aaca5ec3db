"""A client of HubSpot's webhooks API v3 written from its documentation (the app's settings
and subscriptions, ``?hapikey=`` the developer API key) and of its deliveries
(``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 under the client secret of method + URI +
body + timestamp), standard library only: it points the app at a local receiver, subscribes,
changes a contact, checks the delivery's signature and deletes the subscription."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from verdict import CONFIG, Catcher, call, step

SECRET = "fidelity-hubspot-secret"  # the emulator's options (client.json)
APP = 4242
KEY = "?hapikey=fidelity-developer-key"
BEARER = {"Authorization": f"Bearer {CONFIG.get('token', '')}"}


catcher = Catcher()
target = catcher.url + "/webhooks/crm"
made: dict[str, Any] = {}


def settings() -> tuple[bool, int | None, str]:
    body = {"targetUrl": target, "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"}}
    status, put = call("PUT", f"/webhooks/v3/{APP}/settings{KEY}", body)
    status2, got = call("GET", f"/webhooks/v3/{APP}/settings{KEY}")
    ok = status == status2 == 200 and put["targetUrl"] == got["targetUrl"] == target
    return ok, 1, f"PUT {status}, GET {status2}"


def subscribe() -> tuple[bool, int | None, str]:
    body = {"eventType": "contact.propertyChange", "propertyName": "firstname", "active": True}
    status, row = call("POST", f"/webhooks/v3/{APP}/subscriptions{KEY}", body)
    made.update(row or {})
    ok = (
        status == 201
        and row["eventType"] == body["eventType"]
        and row["propertyName"] == "firstname"
    )
    return ok, 1, f"HTTP {status}, id {row.get('id')}"


def listed(expected: int) -> Callable[[], tuple[bool, int | None, str]]:
    def run() -> tuple[bool, int | None, str]:
        status, body = call("GET", f"/webhooks/v3/{APP}/subscriptions{KEY}")
        ids = [r["id"] for r in body["results"]]
        ok = status == 200 and len(ids) == expected and (expected == 0 or ids == [made.get("id")])
        return ok, len(ids), ", ".join(ids)

    return run


def delivered() -> tuple[bool, int | None, str]:
    _, page = call("GET", "/crm/v3/objects/contacts?limit=1", headers=BEARER)
    contact = page["results"][0]
    change = {"properties": {"firstname": "Fidelity"}}
    call("PATCH", f"/crm/v3/objects/contacts/{contact['id']}", change, BEARER)
    caught = catcher.wait(1)
    if not caught:
        return False, 0, "no webhook came"
    _, headers, body = caught[0]
    stamp = headers.get("x-hubspot-request-timestamp", "")
    message = b"POST" + target.encode() + body + stamp.encode()
    v3 = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()
    events = json.loads(body)
    ok = (
        headers.get("x-hubspot-signature-v3") == v3
        and isinstance(events, list)
        and events[0]["subscriptionType"] == "contact.propertyChange"
        and str(events[0]["objectId"]) == contact["id"]
        and events[0]["propertyValue"] == "Fidelity"
    )
    return ok, len(events), f"{len(events)} event(s), v3 {v3[:8]}..."


def delete() -> tuple[bool, int | None, str]:
    status, _ = call("DELETE", f"/webhooks/v3/{APP}/subscriptions/{made.get('id')}{KEY}")
    return status == 204, None, f"HTTP {status}"


def refused() -> tuple[bool, int | None, str]:
    status, body = call("GET", f"/webhooks/v3/{APP}/subscriptions?hapikey=wrong")
    return (
        status == 401 and body.get("category") == "INVALID_AUTHENTICATION",
        None,
        f"HTTP {status}",
    )


step("PUT/GET settings", settings)
step("POST subscriptions", subscribe)
step("GET subscriptions", listed(1))
step("a change delivered, signed v3", delivered)
step("DELETE subscriptions/{id}", delete)
step("GET subscriptions (after the delete)", listed(0))
step("a wrong hapikey is refused", refused)
catcher.close()
