"""A client of ActiveCampaign's webhooks written from its API v3 documentation
(``/api/3/webhooks``: ``{"webhook": {name, url, events, sources}}``) and of its deliveries
(form-encoded ``type=...&contact[email]=...``), standard library only: it creates a webhook
to a local receiver, tags a contact, reads the delivery, and deletes the webhook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from verdict import CONFIG, Catcher, call, step

AUTH = {"Api-Token": CONFIG.get("token", "")}


catcher = Catcher()
address = catcher.url + "/webhooks/mail?token=fidelity"
made: dict[str, Any] = {}


def create() -> tuple[bool, int | None, str]:
    hook = {"name": "fidelity", "url": address, "events": ["contact_tag_added"], "sources": ["api"]}
    status, body = call("POST", "/api/3/webhooks", {"webhook": hook}, AUTH)
    row = body["webhook"]
    made.update(row)
    ok = status == 201 and row["url"] == address and row["events"] == ["contact_tag_added"]
    return ok, 1, f"HTTP {status}, id {row.get('id')}"


def listed(expected: int) -> Callable[[], tuple[bool, int | None, str]]:
    def run() -> tuple[bool, int | None, str]:
        status, body = call("GET", "/api/3/webhooks", headers=AUTH)
        ids = [w["id"] for w in body["webhooks"]]
        ok = status == 200 and body["meta"]["total"] == str(expected) and len(ids) == expected
        return ok and (expected == 0 or ids == [made.get("id")]), len(ids), ", ".join(ids)

    return run


def delivered() -> tuple[bool, int | None, str]:
    _, page = call("GET", "/api/3/contacts?limit=1", headers=AUTH)
    contact = page["contacts"][0]
    _, tag = call("POST", "/api/3/tags", {"tag": {"tag": "fidelity", "tagType": "contact"}}, AUTH)
    link = {"contactTag": {"contact": contact["id"], "tag": tag["tag"]["id"]}}
    call("POST", "/api/3/contactTags", link, AUTH)
    caught = catcher.wait(1)
    if not caught:
        return False, 0, "no webhook came"
    path, headers, body = caught[0]
    form = parse_qs(body.decode())
    ok = (
        path == "/webhooks/mail?token=fidelity"
        and headers.get("content-type") == "application/x-www-form-urlencoded"
        and form.get("type") == ["contact_tag_added"]
        and form.get("contact[email]") == [contact["email"]]
        and form.get("tag") == ["fidelity"]
    )
    return ok, len(caught), f"type={form.get('type')}"


def delete() -> tuple[bool, int | None, str]:
    status, _ = call("DELETE", f"/api/3/webhooks/{made.get('id')}", headers=AUTH)
    status2, _ = call("GET", f"/api/3/webhooks/{made.get('id')}", headers=AUTH)
    return status == 200 and status2 == 404, None, f"DELETE {status}, then GET {status2}"


step("POST /api/3/webhooks", create)
step("GET /api/3/webhooks", listed(1))
step("a change delivered, form-encoded", delivered)
step("DELETE /api/3/webhooks/{id}", delete)
step("GET /api/3/webhooks (after the delete)", listed(0))
catcher.close()
