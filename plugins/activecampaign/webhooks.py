"""ActiveCampaign's webhooks: form-encoded posts (``type=subscribe&contact[email]=...``) that
carry no signature, so the URL carries a secret: ``/webhooks/NAME?token=SECRET``, compared in
constant time with ``webhooks.connectors.NAME.token``.

AC sends no delivery id and never retries a webhook, but may deliver one twice ("at least
once"): the id of a delivery is a digest of its body, so a repeat of the same post is applied
once. ``subscribe``, ``unsubscribe`` and ``update`` give the contact (mapped as the contacts
stream maps it) and, for the first two, its membership of the list when its name is known;
``contact_tag_added`` and ``contact_tag_removed`` the tag. Other types (opens, clicks...) are
read by the next pull, whose ids a webhook does not carry.

Subscriptions go through ``/api/3/webhooks``: one webhook named ``syncd`` posting the contact
events syncd reads to the address syncd gives, with the token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncd.connectors import (
    ContactRecord,
    ListRecord,
    OffsetPaginator,
    Record,
    Reshape,
    TagRecord,
    UrlToken,
    WebhookReceiver,
    WebhookSubscription,
    WebhookSubscriptions,
    every_row,
)
from syncd_plugins.activecampaign.streams import CONTACT, parse_id

if TYPE_CHECKING:
    from syncd_plugins.activecampaign.connector import ActiveCampaignConnector

NAME = "syncd"
EVENTS = ["subscribe", "unsubscribe", "update", "contact_tag_added", "contact_tag_removed"]
#: every initiator but the API: syncd's own writes come through the API, and would echo back
SOURCES = ["public", "admin", "system"]
LIST_STATUS = {"subscribe": "subscribed", "unsubscribe": "unsubscribed"}
TAG_PRESENT = {"contact_tag_added": True, "contact_tag_removed": False}
#: a post's contact in the shape the contacts stream reads
POSTED_CONTACT = Reshape(
    {
        "id": "contact[id]",
        "email": "contact[email]",
        "firstName": "contact[first_name]",
        "lastName": "contact[last_name]",
        "phone": "contact[phone]",
        "udate": "date_time",
    }
)


class ActiveCampaignSubscriptions(WebhookSubscriptions):
    """The account's webhooks, one subscription per event."""

    connector: ActiveCampaignConnector

    def topics(self) -> list[str]:
        return EVENTS

    def subscriptions(self) -> list[WebhookSubscription]:
        hooks = every_row(self.connector.api, "webhooks", OffsetPaginator(limit=100), "webhooks")
        return [
            WebhookSubscription(str(hook["id"]), event, hook["url"])
            for hook in hooks
            for event in hook.get("events") or []
        ]

    def create(self, address: str, missing: list[str], held: list[WebhookSubscription]) -> None:
        """A new ``syncd`` webhook, or the events a webhook already posting there lacks."""
        if not held:
            hook = {"name": NAME, "url": address, "events": missing, "sources": SOURCES}
            self.connector.api.request("POST", "webhooks", json={"webhook": hook})
            return
        hook_id = held[0].id
        events = [s.topic for s in held if s.id == hook_id] + missing
        self.connector.api.request(
            "PUT", f"webhooks/{hook_id}", json={"webhook": {"events": events}}
        )


class ActiveCampaignWebhooks(WebhookReceiver):
    """Webhooks of one AC account; the URL's ``token`` is ``webhooks.connectors.NAME.token``."""

    signature = UrlToken("token")
    form = True
    topic_field = "type"
    id_from_body = True
    subscriber = ActiveCampaignSubscriptions

    def records(self, topic: str, payload: dict[str, Any]) -> list[Record]:
        """The contact, list membership or tag one post of type ``topic`` reports."""
        contact_id = parse_id(payload.get("contact[id]"))
        if contact_id is None:
            return []
        found: list[Record] = []
        if topic in ("subscribe", "unsubscribe", "update"):
            contact = CONTACT.record(POSTED_CONTACT(payload))
            if isinstance(contact, ContactRecord):
                found.append(contact)
        list_name = (payload.get("list[name]") or payload.get("list_name") or "").strip()
        if topic in LIST_STATUS and list_name:
            found.append(ListRecord(contact_id, list_name, LIST_STATUS[topic]))
        tag = (payload.get("tag") or "").strip()
        if topic in TAG_PRESENT and tag:
            found.append(TagRecord(contact_id, tag, present=TAG_PRESENT[topic]))
        return found
