"""HubSpot's webhooks: the v3 signature over method, URI, body and timestamp (five minutes at
most), the URI decoded as HubSpot lists, and property changes read as partial contacts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.connectors import (
    ConnectorContext,
    ContactRecord,
    WebhookRefused,
    WebhookRequest,
)
from syncd.testing import WEBHOOK_NOW, received, webhook_receiver
from syncd_plugins.hubspot.connector import HubSpotConnector
from syncd_plugins.hubspot.webhooks import HubSpotWebhooks, signed_uri

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URL = "https://syncd.example.com/webhooks/crm?portal=62515%3Aeu&x=%2Fa%20b"


def receiver() -> HubSpotWebhooks:
    connector = HubSpotConnector(HubSpotConnector.Options(token="t"), ConnectorContext("crm"))
    return webhook_receiver(HubSpotWebhooks, connector, secret=SECRET)


def signed(body: bytes, *, sent: datetime = WEBHOOK_NOW, url: str = URL, secret: str = SECRET,
           method: str = "POST") -> WebhookRequest:  # fmt: skip
    """A request signed as HubSpot's documentation says, written out here independently."""
    stamp = str(int(sent.timestamp() * 1000))
    uri = url.replace("%3A", ":").replace("%2F", "/")  # the encodings this URL holds
    source = f"{method}{uri}{body.decode()}{stamp}".encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    headers = {"x-hubspot-signature-v3": base64.b64encode(digest).decode(),
               "x-hubspot-request-timestamp": stamp}  # fmt: skip
    return received(method, url, headers, {}, body)


def change(name: str, value: Any, event_id: int = 1) -> dict[str, Any]:
    return {"eventId": event_id, "subscriptionId": 9, "portalId": 62515, "appId": 1,
            "occurredAt": 1796637600000, "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0, "objectId": 123, "propertyName": name,
            "propertyValue": value, "changeSource": "CRM"}  # fmt: skip


def test_the_listed_characters_are_decoded_in_the_signed_uri() -> None:
    assert signed_uri("https://h/p?a=%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20") == (
        "https://h/p?a=:/?@!$'()*,;&b=%20"
    )


def test_a_request_signed_within_five_minutes_is_verified() -> None:
    body = json.dumps([change("firstname", "Ann")]).encode()
    receiver().verify(signed(body))
    receiver().verify(signed(body, sent=WEBHOOK_NOW - timedelta(minutes=4, seconds=59)))


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        (
            lambda b: signed(b, sent=WEBHOOK_NOW - timedelta(minutes=5, seconds=1)),
            "older than 5 minutes",
        ),
        (lambda b: signed(b, secret="another app"), "does not match"),
        (lambda b: signed(b, url="https://elsewhere.example.com/webhooks/crm"), "does not match"),
        (lambda b: received("POST", URL, {}, {}, b), "no X-HubSpot-Signature-v3"),
    ],
    ids=["stale", "wrong secret", "another URL", "unsigned"],
)
def test_a_stale_forged_or_unsigned_request_is_refused(request_, why: str) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps([change("firstname", "Ann")]).encode()
    forged = request_(body)
    if why == "does not match" and "elsewhere" in forged.url:
        forged = received("POST", URL, forged.headers, {}, body)  # signed for another
    with pytest.raises(WebhookRefused, match=why) as refused:
        receiver().verify(forged)
    assert refused.value.status == 401


def test_a_body_changed_after_signing_is_refused() -> None:
    body = json.dumps([change("firstname", "Ann")]).encode()
    good = signed(body)
    changed = received("POST", URL, good.headers, {}, body.replace(b"Ann", b"Eve"))
    with pytest.raises(WebhookRefused, match="does not match"):
        receiver().verify(changed)


def test_property_changes_are_partial_contacts() -> None:
    events = [change("email", "Ann@Example.com", 1), change("firstname", "Ann", 2),
              change("hs_email_optout", "true", 3), change("hs_analytics_source", "ORGANIC", 4),
              change("unmapped_property", "x", 5),
              {"eventId": 6, "subscriptionType": "contact.creation", "objectId": 123}]  # fmt: skip
    delivery = receiver().read(signed(json.dumps(events).encode()))
    email, name, optout, source = delivery.records
    assert isinstance(email, ContactRecord) and email.email == "Ann@Example.com"
    assert email.updated_at == datetime.fromtimestamp(1796637600, UTC)
    assert isinstance(name, ContactRecord)
    assert (name.external_id, name.email, name.attributes) == ("123", None, {"first_name": "Ann"})
    assert isinstance(optout, ContactRecord) and optout.consent == "revoked"
    assert isinstance(source, ContactRecord) and source.attributes == {"source": "organic"}
    assert delivery.topic == "contact.creation,contact.propertyChange"


def test_the_same_batch_is_the_same_delivery_in_any_order() -> None:
    a, b = change("firstname", "Ann", 11), change("lastname", "Lee", 12)
    first = receiver().read(signed(json.dumps([a, b]).encode()))
    again = receiver().read(signed(json.dumps([b, {**a, "attemptNumber": 1}]).encode()))
    other = receiver().read(signed(json.dumps([a]).encode()))
    assert first.id is not None and first.id == again.id != other.id


def test_a_body_that_is_no_list_of_events_is_400() -> None:
    with pytest.raises(WebhookRefused) as refused:
        receiver().read(signed(b'"text"'))
    assert refused.value.status == 400
