"""HubSpot's webhooks, verified by the v3 signature: ``X-HubSpot-Signature-v3`` is the base64
HMAC-SHA256, under the app's client secret, of method + URI + body + the
``X-HubSpot-Request-Timestamp`` (epoch milliseconds); a timestamp older than five minutes is
refused. In the URI the characters HubSpot lists are decoded first (``%3A`` → ``:`` etc.).

A request carries a batch of events (``[{eventId, subscriptionType, objectId, propertyName,
propertyValue, occurredAt}, ...]``). A ``contact.propertyChange`` becomes a partial contact: its
e-mail, or the one field the property is, under the names the contacts stream reads it by;
other events give nothing (the next pull reads a new contact whole).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.connectors import (
    ContactRecord,
    Record,
    WebhookDelivery,
    WebhookReceiver,
    WebhookRefused,
    WebhookRequest,
    hmac_base64,
    json_body,
    same_secret,
    text_id,
)
from syncd_plugins.hubspot import analytics
from syncd_plugins.hubspot import webhook_subscriptions as subs
from syncd_plugins.hubspot.streams import CONTACT, consent

MAX_AGE = timedelta(minutes=5)
#: the URL-encoded characters HubSpot decodes in the URI it signs
DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_ENCODED = re.compile("|".join(DECODED), re.I)
#: contact property → syncd field, as the contacts stream maps them
FIELDS = {path.partition(".")[2]: name for path, name in CONTACT.attributes.items()}
CONSENT_PROPERTIES = frozenset({"hs_email_optout", "hs_legal_basis"})


def signed_uri(url: str) -> str:
    """``url`` as HubSpot signs it: the characters of its table decoded."""
    return _ENCODED.sub(lambda m: DECODED[m.group(0).upper()], url)


def signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The v3 signature of a request."""
    message = method.encode() + signed_uri(url).encode() + body + timestamp.encode()
    return hmac_base64(secret, message)


class HubSpotWebhooks(WebhookReceiver):
    """Webhooks of one HubSpot app; ``webhooks.connectors.NAME.secret`` is its client secret."""

    subscriber = subs

    def verify(self, request: WebhookRequest) -> None:
        secret = self.needs("secret")["secret"]
        given = request.headers.get("x-hubspot-signature-v3")
        stamp = request.headers.get("x-hubspot-request-timestamp", "").strip()
        if not given or not stamp:
            raise WebhookRefused(401, "no X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
        if not stamp.isdigit():
            raise WebhookRefused(401, "X-HubSpot-Request-Timestamp is not epoch milliseconds")
        sent = datetime.fromtimestamp(int(stamp) / 1000, UTC)
        if self.clock() - sent > MAX_AGE:
            raise WebhookRefused(401, "X-HubSpot-Request-Timestamp is older than 5 minutes")
        if sent - self.clock() > MAX_AGE:  # a signature made for later is no fresher one
            raise WebhookRefused(401, "X-HubSpot-Request-Timestamp is over 5 minutes ahead")
        expected = signature(secret, request.method, request.url, request.body, stamp)
        if not same_secret(expected, given):
            raise WebhookRefused(401, "X-HubSpot-Signature-v3 does not match the request")

    def read(self, request: WebhookRequest) -> WebhookDelivery:
        events = json_body(request)
        if isinstance(events, dict):
            events = [events]
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise WebhookRefused(400, "a HubSpot webhook body is a list of event objects")
        ids = sorted(str(e.get("eventId")) for e in events if e.get("eventId") is not None)
        key = hashlib.sha256(",".join(ids).encode()).hexdigest()[:40] if ids else None
        kinds = sorted({str(e.get("subscriptionType") or "") for e in events} - {""})
        topic = ",".join(kinds)[:200] or "none"
        records = [r for event in events if (r := record(event)) is not None]
        return WebhookDelivery(f"events:{key}" if key else None, topic, records)


def record(event: dict[str, Any]) -> Record | None:
    """The contact a ``contact.propertyChange`` event changes, with only that property."""
    if event.get("subscriptionType") != "contact.propertyChange":
        return None
    contact_id = text_id(event.get("objectId"))
    name, value = event.get("propertyName"), event.get("propertyValue")
    if contact_id is None or not isinstance(name, str):
        return None
    at = _time(event.get("occurredAt"))
    if name == "email":
        email = str(value or "").strip()
        return ContactRecord(contact_id, email, updated_at=at) if email else None
    found = ContactRecord(contact_id, None, updated_at=at)
    if name in FIELDS and value not in (None, ""):
        found.attributes[FIELDS[name]] = str(value)
    found.attributes.update(analytics.attributes({name: value}))
    if name in CONSENT_PROPERTIES:
        found.consent = consent({name: value})
    if not found.attributes and found.consent is None:
        return None
    return found


def _time(millis: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(millis) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None
