"""The HubSpot emulator's webhooks API v3 for a (legacy public) app: ``/webhooks/v3/{appId}/
settings`` (the target URL) and ``/subscriptions`` (the event types), authenticated by the
developer API key in ``?hapikey=``; and the deliveries — JSON arrays of up to 100 events,
signed with the app's client secret (``X-HubSpot-Signature`` v1 and
``X-HubSpot-Signature-v3``), retried up to 10 times over 24 hours (docs/webhooks.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.emulator import Clock, Courier, RetryPolicy
from syncd_plugins.hubspot.emulator_legacy import PORTAL_ID
from syncd_plugins.hubspot.emulator_state import CrmObject, Portal, stamp
from syncd_plugins.hubspot.emulator_writes import error, json_body

DEFAULT_APP_ID = 1_160_452
DEFAULT_DEVELOPER_KEY = "emulator-developer-api-key"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"
#: the object types the emulator holds, by the name their event types start with
OBJECTS = {"contact": "contacts", "deal": "deals"}
ACTIONS = ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
EVENT_TYPES = {f"{name}.{action}" for name in OBJECTS for action in ACTIONS} | {
    "contact.privacyDeletion",
    "company.creation",
    "company.deletion",
    "company.propertyChange",
}
#: "up to 10 times ... spread out over the next 24 hours"; any 4xx or 5xx, a failed
#: connection and a timeout (5 s) are retried
RETRIES = RetryPolicy.exponential(10, 24 * 3600)
BATCH = 100  # events in one request at most


class PortalWebhooks:
    """Mixed into the emulator: the app's webhook settings, subscriptions and deliveries."""

    portal: Portal
    clock: Clock
    app_id: int
    developer_api_key: str
    client_secret: str
    webhook_time_scale: float

    def webhook_routes(self) -> Sequence[BaseRoute]:
        base = "/webhooks/v3/{appId}"
        g = self._developer
        return [
            Route(f"{base}/settings", g(self.get_settings), methods=["GET"]),
            Route(f"{base}/settings", g(self.put_settings), methods=["PUT"]),
            Route(f"{base}/settings", g(self.delete_settings), methods=["DELETE"]),
            Route(f"{base}/subscriptions", g(self.list_subscriptions), methods=["GET"]),
            Route(f"{base}/subscriptions", g(self.create_subscription), methods=["POST"]),
            Route(f"{base}/subscriptions/{{id}}", g(self.get_subscription), methods=["GET"]),
            Route(f"{base}/subscriptions/{{id}}", g(self.patch_subscription), methods=["PATCH"]),
            Route(f"{base}/subscriptions/{{id}}", g(self.delete_subscription), methods=["DELETE"]),
        ]

    def start_webhooks(self) -> None:
        """(Re)start with no settings and no subscription: called as the portal is built."""
        self.settings: dict[str, Any] | None = None
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self.next_subscription = 1
        self.event_ids = itertools.count(1)
        # each object's properties as the last event saw them, per watched kind
        self.shadow: dict[str, dict[str, dict[str, str]]] = {}
        if getattr(self, "courier", None) is None:
            self.courier = Courier(RETRIES, batch=BATCH, time_scale=self.webhook_time_scale)
        self.portal.observer = self

    def _developer(self, handler: Any) -> Any:
        async def guarded(request: Request) -> Response:
            if request.query_params.get("hapikey") != self.developer_api_key:
                return error(
                    401,
                    "INVALID_AUTHENTICATION",
                    "The API key provided is invalid. View or manage your API key here: "
                    "https://app.hubspot.com/l/api-key/",
                )
            if str(request.path_params["appId"]) != str(self.app_id):
                return error(404, "NOT_FOUND", f"App {request.path_params['appId']} not found")
            response: Response = await handler(request)
            return response

        return guarded

    # --- settings -----------------------------------------------------------------------------

    async def get_settings(self, request: Request) -> Response:
        if self.settings is None:
            return error(404, "NOT_FOUND", "No webhook settings for this app")
        return JSONResponse(self.settings)

    async def put_settings(self, request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        target = str(body.get("targetUrl") or "")
        if not target.startswith(("http://", "https://")):
            return error(400, "VALIDATION_ERROR", "targetUrl must be an absolute http(s) URL")
        throttling = body.get("throttling") or {"maxConcurrentRequests": 10, "period": "SECONDLY"}
        now = stamp(self.clock())
        created = self.settings["createdAt"] if self.settings else now
        self.settings = {
            "createdAt": created,
            "targetUrl": target,
            "throttling": throttling,
            "updatedAt": now,
        }
        return JSONResponse(self.settings)

    async def delete_settings(self, request: Request) -> Response:
        self.settings = None
        return Response(status_code=204)

    # --- subscriptions ------------------------------------------------------------------------

    async def list_subscriptions(self, request: Request) -> Response:
        return JSONResponse({"results": list(self.subscriptions.values())})

    async def create_subscription(self, request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        event_type = str(body.get("eventType") or "")
        if event_type not in EVENT_TYPES:
            return error(400, "VALIDATION_ERROR", f"Unknown eventType {event_type!r}")
        prop = body.get("propertyName")
        if event_type.endswith(".propertyChange") and not prop:
            return error(400, "VALIDATION_ERROR", "propertyName is required for propertyChange")
        now = stamp(self.clock())
        row: dict[str, Any] = {
            "active": bool(body.get("active", True)),
            "createdAt": now,
            "eventType": event_type,
            "id": str(self.next_subscription),
            **({"propertyName": str(prop)} if prop else {}),
            "updatedAt": now,
        }
        self.subscriptions[self.next_subscription] = row
        self.next_subscription += 1
        self._watch(event_type.split(".")[0])
        return JSONResponse(row, 201)

    async def get_subscription(self, request: Request) -> Response:
        row = self._subscription(request)
        return JSONResponse(row) if row else error(404, "NOT_FOUND", "Subscription not found")

    async def patch_subscription(self, request: Request) -> Response:
        row = self._subscription(request)
        if row is None:
            return error(404, "NOT_FOUND", "Subscription not found")
        body = await _json(request)
        if isinstance(body, Response):
            return body
        if "active" in body:
            row.update(active=bool(body["active"]), updatedAt=stamp(self.clock()))
        return JSONResponse(row)

    async def delete_subscription(self, request: Request) -> Response:
        row = self._subscription(request)
        if row is None:
            return error(404, "NOT_FOUND", "Subscription not found")
        del self.subscriptions[int(row["id"])]
        return Response(status_code=204)

    def _subscription(self, request: Request) -> dict[str, Any] | None:
        ref = str(request.path_params["id"])
        return self.subscriptions.get(int(ref)) if ref.isdigit() else None

    def _watch(self, name: str) -> None:
        """Start keeping ``name``'s properties, to tell what a later change changed."""
        kind = OBJECTS.get(name)
        if kind is not None and kind not in self.shadow:
            self.shadow[kind] = {
                i: dict(o.properties) for i, o in self.portal.objects[kind].items()
            }

    # --- the portal's changes, as events ------------------------------------------------------

    def touched(self, kind: str, obj: CrmObject) -> None:
        seen = self.shadow.get(kind)
        if seen is None:
            return
        before = seen.get(obj.id)
        seen[obj.id] = dict(obj.properties)
        name = _name(kind)
        if before is None:
            self._emit(f"{name}.creation", obj, {"changeFlag": "CREATED"})
            return
        for sub in self._active(f"{name}.propertyChange"):
            prop = sub.get("propertyName", "")
            value = obj.properties.get(prop)
            if before.get(prop) != value:
                self._emit_one(sub, obj, {"propertyName": prop, "propertyValue": value or ""})

    def archived(self, kind: str, obj: CrmObject) -> None:
        seen = self.shadow.get(kind)
        if seen is not None:
            seen.pop(obj.id, None)
            self._emit(f"{_name(kind)}.deletion", obj, {"changeFlag": "DELETED"})

    def _active(self, event_type: str) -> list[dict[str, Any]]:
        return [
            s for s in self.subscriptions.values() if s["active"] and s["eventType"] == event_type
        ]

    def _emit(self, event_type: str, obj: CrmObject, more: dict[str, Any]) -> None:
        for sub in self._active(event_type):
            self._emit_one(sub, obj, more)

    def _emit_one(self, sub: dict[str, Any], obj: CrmObject, more: dict[str, Any]) -> None:
        if self.settings is None:
            return  # no target URL: HubSpot has nowhere to send it
        event = {
            "eventId": next(self.event_ids),
            "subscriptionId": int(sub["id"]),
            "portalId": PORTAL_ID,
            "appId": self.app_id,
            "occurredAt": _ms(self.clock()),
            "subscriptionType": sub["eventType"],
            "attemptNumber": 0,
            "objectId": int(obj.id),
            "changeSource": "API",
            **more,
        }
        self.courier.send(self.settings["targetUrl"], sub["eventType"], event, self.sign)

    def sign(self, events: list[Any], attempt: int) -> tuple[bytes, dict[str, str]]:
        """One request's body and headers: the events with this attempt's number, signed."""
        body = json.dumps([{**e, "attemptNumber": attempt} for e in events]).encode()
        url = self.settings["targetUrl"] if self.settings else ""
        timestamp = str(_ms(self.clock()))
        return body, {
            "Content-Type": "application/json",
            **signatures(self.client_secret, "POST", url, body, timestamp),
        }


def signatures(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> dict[str, str]:
    """HubSpot's headers: v1, the SHA-256 hex of the secret and the body; v3, the base64
    HMAC-SHA256 under the secret of method, URI, body and timestamp (milliseconds)."""
    v1 = hashlib.sha256(secret.encode() + body).hexdigest()
    message = method.encode() + uri.encode() + body + timestamp.encode()
    v3 = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    return {
        "X-HubSpot-Signature": v1,
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature-v3": v3,
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def _name(kind: str) -> str:
    return next(name for name, k in OBJECTS.items() if k == kind)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def _json(request: Request) -> dict[str, Any] | Response:
    # the webhooks API says the same for a body that is not JSON and one that is no object
    return await json_body(request, "Invalid input JSON", "Invalid input JSON")
