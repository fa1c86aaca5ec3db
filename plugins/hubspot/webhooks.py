"""HubSpot's webhooks, verified by the v3 signature: ``X-HubSpot-Signature-v3`` is the base64
HMAC-SHA256, under the app's client secret, of method + URI + body + the
``X-HubSpot-Request-Timestamp`` (epoch milliseconds); a timestamp older than five minutes is
refused. In the URI the characters HubSpot lists are decoded first (``%3A`` → ``:`` etc.).

A request carries a batch of events (``[{eventId, subscriptionType, objectId, propertyName,
propertyValue, occurredAt}, ...]``). A ``contact.propertyChange`` becomes a partial contact: its
e-mail, or the one field the property is, under the names the contacts stream reads it by;
other events give nothing (the next pull reads a new contact whole).

Subscriptions are the app's, for every account that installed it, through the webhooks API v3
with the developer API key (``?hapikey=``): the app's one target URL
(``/webhooks/v3/{appId}/settings``) and its event subscriptions (``/subscriptions``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from syncd.connectors import (
    ApiClient,
    ConnectorError,
    ContactRecord,
    FatalError,
    HmacSignature,
    Record,
    SignedTimestamp,
    WebhookReceiver,
    WebhookSubscription,
    WebhookSubscriptions,
    epoch_time,
    text_id,
)
from syncd_plugins.hubspot import analytics
from syncd_plugins.hubspot.streams import CONTACT, consent

if TYPE_CHECKING:
    from syncd_plugins.hubspot.connector import HubSpotConnector

#: the URL-encoded characters HubSpot decodes in the URI it signs
DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_ENCODED = re.compile("|".join(DECODED), re.I)
#: contact property → syncd field, as the contacts stream maps them
FIELDS = {path.partition(".")[2]: name for path, name in CONTACT.attributes.items()}
CONSENT_PROPERTIES = frozenset({"hs_email_optout", "hs_legal_basis"})
#: what syncd subscribes to: new contacts, and a change of each contact property it reads
#: (its e-mail, the fields the contacts stream maps, the opt-out)
WANTED = ["contact.creation"] + [
    f"contact.propertyChange {p}" for p in ("email", *FIELDS, "hs_email_optout")
]


def signed_uri(url: str) -> str:
    """``url`` as HubSpot signs it: the characters of its table decoded."""
    return _ENCODED.sub(lambda m: DECODED[m.group(0).upper()], url)


class HubSpotSubscriptions(WebhookSubscriptions):
    """The app's target URL and event subscriptions (one address for them all)."""

    connector: HubSpotConnector

    @cached_property
    def app(self) -> tuple[ApiClient, str, dict[str, str]]:
        """The developer API's client (no bearer token), the app's path and the key parameter."""
        options = self.connector.options
        if options.app_id is None or options.developer_api_key is None:
            raise FatalError(
                f"connectors.{self.connector.context.instance}: set app_id and "
                "developer_api_key to manage the HubSpot app's webhooks"
            )
        client = ApiClient(options.base_url, rate_limit=5.0, context=self.connector.context)
        key = {"hapikey": options.developer_api_key.get_secret_value()}
        return client, f"webhooks/v3/{options.app_id}", key

    def topics(self) -> list[str]:
        return WANTED

    def target(self) -> str:
        client, app, key = self.app
        try:
            settings = client.request_json("GET", f"{app}/settings", params=key)
        except ConnectorError as exc:
            if getattr(exc, "status", None) == 404:
                return ""  # no settings yet
            raise
        return str((settings or {}).get("targetUrl") or "")

    def set_target(self, address: str) -> None:
        client, app, key = self.app
        throttling = {"maxConcurrentRequests": 10, "period": "SECONDLY"}
        settings = {"targetUrl": address, "throttling": throttling}
        client.request("PUT", f"{app}/settings", params=key, json=settings)

    def subscriptions(self) -> list[WebhookSubscription]:
        client, app, key = self.app
        target = self.target()
        rows = (client.request_json("GET", f"{app}/subscriptions", params=key) or {}).get("results")
        return [
            WebhookSubscription(
                str(row["id"]),
                " ".join(filter(None, [row["eventType"], row.get("propertyName")])),
                target,
                paused=not row.get("active", True),
            )
            for row in rows or []
        ]

    def create(self, address: str, missing: list[str], held: list[WebhookSubscription]) -> None:
        client, app, key = self.app
        for topic in missing:
            event_type, _, prop = topic.partition(" ")
            body = {
                "eventType": event_type,
                "active": True,
                **({"propertyName": prop} if prop else {}),
            }
            client.request("POST", f"{app}/subscriptions", params=key, json=body)


class HubSpotWebhooks(WebhookReceiver):
    """Webhooks of one HubSpot app; ``webhooks.connectors.NAME.secret`` is its client secret."""

    signature = HmacSignature(
        "X-HubSpot-Signature-v3",
        digest="sha256",
        encoding="base64",
        signs=("method", "url", "body", "timestamp"),
        url=signed_uri,
        timestamp=SignedTimestamp(
            "X-HubSpot-Request-Timestamp", unit="ms", max_age=timedelta(minutes=5)
        ),
    )
    batch = True
    topic_field = "subscriptionType"
    id_field = "eventId"
    subscriber = HubSpotSubscriptions

    def records(self, topic: str, payload: dict[str, Any]) -> list[Record]:
        """The contact a ``contact.propertyChange`` event changes, with only that property."""
        contact_id = text_id(payload.get("objectId"))
        name, value = payload.get("propertyName"), payload.get("propertyValue")
        if topic != "contact.propertyChange" or contact_id is None or not isinstance(name, str):
            return []
        at = epoch_time(payload.get("occurredAt"), "ms")
        if name == "email":
            email = str(value or "").strip()
            return [ContactRecord(contact_id, email, updated_at=at)] if email else []
        found = ContactRecord(contact_id, None, updated_at=at)
        if name in FIELDS and value not in (None, ""):
            found.attributes[FIELDS[name]] = str(value)
        found.attributes.update(analytics.attributes({name: value}))
        if name in CONSENT_PROPERTIES:
            found.consent = consent({name: value})
        return [found] if found.attributes or found.consent is not None else []
