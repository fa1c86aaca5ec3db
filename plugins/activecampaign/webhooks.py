"""ActiveCampaign's webhooks: form-encoded posts (``type=subscribe&contact[email]=...``) that
carry no signature, so the URL carries a secret: ``/webhooks/NAME?token=SECRET``, compared in
constant time with ``webhooks.connectors.NAME.token``.

AC sends no delivery id and never retries a webhook, but may deliver one twice ("at least
once"): the id of a delivery is a digest of its body, so a repeat of the same post is applied
once. ``subscribe``, ``unsubscribe`` and ``update`` give the contact (mapped as the contacts
stream maps it) and, for the first two, its membership of the list when its name is known;
``contact_tag_added`` and ``contact_tag_removed`` the tag. Other types (opens, clicks...) are
read by the next pull, whose ids a webhook does not carry.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl

from syncd.connectors import (
    ContactRecord,
    ListRecord,
    Record,
    TagRecord,
    WebhookDelivery,
    WebhookReceiver,
    WebhookRefused,
    WebhookRequest,
    WebhookSubscription,
    same_secret,
)
from syncd_plugins.activecampaign import webhook_subscriptions as subs
from syncd_plugins.activecampaign.streams import CONTACT, parse_id

LIST_STATUS = {"subscribe": "subscribed", "unsubscribe": "unsubscribed"}
TAG_PRESENT = {"contact_tag_added": True, "contact_tag_removed": False}


def form(body: bytes) -> dict[str, str]:
    """A form-encoded body as a mapping (the last value of a repeated key)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise WebhookRefused(400, "the body is not UTF-8 form data") from None


class ActiveCampaignWebhooks(WebhookReceiver):
    """Webhooks of one AC account; the URL's ``token`` is ``webhooks.connectors.NAME.token``."""

    def subscriptions(self) -> list[WebhookSubscription]:
        return subs.subscriptions(self.connector)

    def register(self, address: str) -> list[WebhookSubscription]:
        return subs.register(self.connector, address, self.secrets.token)

    def verify(self, request: WebhookRequest) -> None:
        token = self.needs("token")["token"]
        if not same_secret(token, request.query.get("token")):
            raise WebhookRefused(401, "the URL's token is missing or wrong")

    def read(self, request: WebhookRequest) -> WebhookDelivery:
        data = form(request.body)
        kind = data.get("type", "").strip()
        if not kind:
            raise WebhookRefused(400, "an ActiveCampaign webhook without a type")
        digest = hashlib.sha256(request.body).hexdigest()[:40]
        return WebhookDelivery(f"body:{digest}", kind, records(kind, data))


def records(kind: str, data: dict[str, str]) -> list[Record]:
    """The contact, list membership or tag one post of type ``kind`` reports."""
    contact_id = parse_id(data.get("contact[id]"))
    if contact_id is None:
        return []
    found: list[Record] = []
    if kind in ("subscribe", "unsubscribe", "update"):
        row: dict[str, Any] = {
            "id": contact_id,
            "email": data.get("contact[email]"),
            "firstName": data.get("contact[first_name]"),
            "lastName": data.get("contact[last_name]"),
            "phone": data.get("contact[phone]"),
            "udate": data.get("date_time"),
        }
        contact = CONTACT.record(row)
        if isinstance(contact, ContactRecord):
            found.append(contact)
    list_name = (data.get("list[name]") or data.get("list_name") or "").strip()
    if kind in LIST_STATUS and list_name:
        found.append(ListRecord(contact_id, list_name, LIST_STATUS[kind]))
    tag = (data.get("tag") or "").strip()
    if kind in TAG_PRESENT and tag:
        found.append(TagRecord(contact_id, tag, present=TAG_PRESENT[kind]))
    return found
