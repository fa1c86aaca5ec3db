"""The ActiveCampaign emulator's webhooks: ``/api/3/webhooks`` (create, list, read, update,
delete) and ``/api/3/webhook/events``, and the deliveries — form-encoded POSTs of AC's
``type=...&date_time=...&contact[email]=...`` bodies, unsigned, sent once and never retried,
as AC documents (docs/webhooks.md cites the pages)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.emulator import Clock, Courier, RetryPolicy
from syncd_plugins.activecampaign.emulator_state import AccountState, ac_time
from syncd_plugins.activecampaign.emulator_writes import errors, missing, no_result

API = "/api/3"
#: the events AC's ``GET /api/3/webhook/events`` lists
EVENTS = (
    "bounce",
    "click",
    "contact_tag_added",
    "contact_tag_removed",
    "deal_add",
    "deal_note_add",
    "deal_pipeline_add",
    "deal_stage_add",
    "deal_task_add",
    "deal_task_complete",
    "deal_tasktype_add",
    "deal_update",
    "forward",
    "list_add",
    "open",
    "reply",
    "sent",
    "share",
    "sms_reply",
    "sms_sent",
    "sms_unsub",
    "subscribe",
    "subscriber_note",
    "unsubscribe",
    "update",
)
#: who a change was initiated by: a webhook fires only for the sources it names
SOURCES = ("public", "admin", "api", "system")
#: "Webhooks are never retried." (developers.activecampaign.com/page/webhooks)
NEVER_RETRIED = RetryPolicy(())


class AccountWebhooks:
    """Mixed into the emulator: the webhook endpoints and deliveries."""

    account: AccountState
    clock: Clock
    webhook_time_scale: float

    def page(self, request: Request, key: str, rows: list[dict[str, Any]]) -> Response:
        raise NotImplementedError

    def webhook_routes(self, guarded: Any) -> Sequence[BaseRoute]:
        g = guarded
        return [
            Route(f"{API}/webhooks", g(self.list_webhooks), methods=["GET"]),
            Route(f"{API}/webhooks", g(self.create_webhook), methods=["POST"]),
            Route(f"{API}/webhooks/{{id}}", g(self.get_webhook), methods=["GET"]),
            Route(f"{API}/webhooks/{{id}}", g(self.update_webhook), methods=["PUT"]),
            Route(f"{API}/webhooks/{{id}}", g(self.delete_webhook), methods=["DELETE"]),
            Route(f"{API}/webhook/events", g(self.webhook_events), methods=["GET"]),
        ]

    def start_webhooks(self) -> None:
        """(Re)start with no webhook: called as the account is (re)built."""
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.next_webhook = 1
        if getattr(self, "courier", None) is None:
            self.courier = Courier(NEVER_RETRIED, time_scale=self.webhook_time_scale)
        self.account.observer = self.changed

    # --- the endpoints ------------------------------------------------------------------------

    async def list_webhooks(self, request: Request) -> Response:
        """Paged by ``limit`` and ``offset``, filtered by ``filters[name|url|listid]``."""
        return self.page(request, "webhooks", [{**r, "links": []} for r in self.webhooks.values()])

    async def create_webhook(self, request: Request) -> Response:
        data = await _webhook_body(request)
        if isinstance(data, Response):
            return data
        row = {
            "id": str(self.next_webhook),
            "cdate": self.clock(),
            "listid": str(data.get("listid") or "0"),
            "name": str(data["name"]),
            "url": str(data["url"]),
            "events": data["events"],
            "sources": data["sources"],
        }
        self.webhooks[self.next_webhook] = row
        self.next_webhook += 1
        return JSONResponse({"webhook": self.render_webhook(row)}, 201)

    async def get_webhook(self, request: Request) -> Response:
        row = self._webhook(request)
        if row is None:
            return no_result("Webhook", request.path_params["id"])
        return JSONResponse({"webhook": self.render_webhook(row)})

    async def update_webhook(self, request: Request) -> Response:
        row = self._webhook(request)
        if row is None:
            return no_result("Webhook", request.path_params["id"])
        data = await _webhook_body(request, partial=True)
        if isinstance(data, Response):
            return data
        row.update({k: v for k, v in data.items() if k in ("name", "url", "events", "sources")})
        if "listid" in data:
            row["listid"] = str(data["listid"] or "0")
        return JSONResponse({"webhook": self.render_webhook(row)})

    async def delete_webhook(self, request: Request) -> Response:
        row = self._webhook(request)
        if row is None:
            return no_result("Webhook", request.path_params["id"])
        del self.webhooks[int(row["id"])]
        return JSONResponse({})

    async def webhook_events(self, request: Request) -> Response:
        return JSONResponse({"webhookEvents": list(EVENTS), "meta": {"total": len(EVENTS)}})

    def _webhook(self, request: Request) -> dict[str, Any] | None:
        ref = str(request.path_params["id"])
        return self.webhooks.get(int(ref)) if ref.isdigit() else None

    def render_webhook(self, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "cdate": ac_time(row["cdate"]), "links": []}

    # --- the deliveries -----------------------------------------------------------------------

    def changed(self, event: str, contact_id: str, details: dict[str, Any]) -> None:
        """A change the account made through the API: each webhook that wants it gets it."""
        hooks = [
            w
            for w in self.webhooks.values()
            if event in w["events"]
            and "api" in w["sources"]
            and (w["listid"] in ("0", str(details.get("list", ""))) or "list" not in details)
        ]
        if not hooks:
            return
        body = self.form_body(event, contact_id, details, self.clock())
        for hook in hooks:
            self.courier.send(hook["url"], event, body, _as_is)

    def form_body(
        self, event: str, contact_id: str, details: dict[str, Any], now: datetime
    ) -> bytes:
        """AC's form-encoded body: the event, when and how, and the contact's fields."""
        contact = self.account.get("contacts", contact_id) or {"id": contact_id}
        tags = [
            (self.account.get("tags", link["tag"]) or {}).get("tag", "")
            for link in self.account.rows("contactTags")
            if link["contact"] == contact_id
        ]
        pairs: list[tuple[str, str]] = [
            ("type", event),
            ("date_time", ac_time(now)),
            ("initiated_from", "api"),
            ("initiated_by", "api"),
        ]
        if "list" in details:
            pairs.append(("list", str(details["list"])))
        if "tag" in details:
            tag = self.account.get("tags", details["tag"]) or {}
            pairs.append(("tag", str(tag.get("tag", ""))))
        pairs += [
            ("contact[id]", str(contact.get("id", ""))),
            ("contact[email]", str(contact.get("email", ""))),
            ("contact[first_name]", str(contact.get("firstName", ""))),
            ("contact[last_name]", str(contact.get("lastName", ""))),
            ("contact[phone]", str(contact.get("phone", ""))),
            ("contact[tags]", ", ".join(t for t in tags if t)),
        ]
        return urlencode(pairs).encode()


def _as_is(events: list[Any], attempt: int) -> tuple[bytes, dict[str, str]]:
    """One form body per request, as it was made when the change happened."""
    return events[0], {"Content-Type": "application/x-www-form-urlencoded"}


async def _webhook_body(request: Request, partial: bool = False) -> dict[str, Any] | Response:
    """The ``webhook`` object of a body, checked as AC checks it."""
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return JSONResponse({"message": "Invalid JSON in the request body"}, 400)
    hook = data.get("webhook") if isinstance(data, dict) else None
    if not isinstance(hook, dict):
        return missing("webhook")
    required = () if partial else ("name", "url", "events", "sources")
    for key in required:
        if not hook.get(key):
            return missing(key)
    if "url" in hook and not str(hook["url"]).startswith(("http://", "https://")):
        return errors(422, "URL is not valid", "/data/attributes/url")
    for key, known in (("events", EVENTS), ("sources", SOURCES)):
        if key not in hook:
            continue
        given = hook[key]
        if not isinstance(given, list) or any(g not in known for g in given):
            return errors(422, f"Invalid {key[:-1]}", f"/data/attributes/{key}")
    return hook
