"""The HubSpot emulator's webhooks API v3 (settings, subscriptions, developer API key) and its
signed, batched deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest

from syncd.emulator import Catcher, running, transport
from syncd_plugins.hubspot.emulator import HubSpotEmulator

SECRET = "hubspot-client-secret-for-tests"
APP = 777


@pytest.fixture
def portal() -> Iterator[tuple[HubSpotEmulator, httpx.Client]]:
    emulator = HubSpotEmulator(people=20, rate_limit=0, app_id=APP, client_secret=SECRET)
    client = httpx.Client(
        base_url="http://hubapi.test",
        transport=transport(emulator),
        headers={"Authorization": f"Bearer {emulator.token}"},
        params={"hapikey": emulator.developer_api_key},
    )
    yield emulator, client
    emulator.courier.close()


def subscribe(client: httpx.Client, event_type: str, prop: str | None = None) -> httpx.Response:
    body = {"eventType": event_type, "active": True, **({"propertyName": prop} if prop else {})}
    return client.post(f"/webhooks/v3/{APP}/subscriptions", json=body)


def test_settings_and_subscriptions(portal: tuple[HubSpotEmulator, httpx.Client]) -> None:
    _, client = portal
    assert client.get(f"/webhooks/v3/{APP}/settings").status_code == 404  # none yet
    settings = {
        "targetUrl": "https://syncd.example/webhooks/crm",
        "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"},
    }
    put = client.put(f"/webhooks/v3/{APP}/settings", json=settings)
    assert put.status_code == 200 and put.json()["targetUrl"] == settings["targetUrl"]
    assert client.get(f"/webhooks/v3/{APP}/settings").json()["targetUrl"] == settings["targetUrl"]
    made = subscribe(client, "contact.propertyChange", "email")
    assert made.status_code == 201
    row = made.json()
    assert row["eventType"] == "contact.propertyChange" and row["propertyName"] == "email"
    assert row["active"] is True and row["id"]
    subscribe(client, "deal.creation")
    listed = client.get(f"/webhooks/v3/{APP}/subscriptions").json()["results"]
    assert [s["eventType"] for s in listed] == ["contact.propertyChange", "deal.creation"]
    assert client.delete(f"/webhooks/v3/{APP}/subscriptions/{row['id']}").status_code == 204
    listed = client.get(f"/webhooks/v3/{APP}/subscriptions").json()["results"]
    assert [s["eventType"] for s in listed] == ["deal.creation"]
    assert client.delete(f"/webhooks/v3/{APP}/subscriptions/{row['id']}").status_code == 404


def test_the_developer_api_key_and_the_app_are_checked(
    portal: tuple[HubSpotEmulator, httpx.Client],
) -> None:
    emulator, client = portal
    plain = httpx.Client(base_url="http://hubapi.test", transport=transport(emulator))
    assert plain.get(f"/webhooks/v3/{APP}/subscriptions").status_code == 401
    wrong = plain.get(f"/webhooks/v3/{APP}/subscriptions", params={"hapikey": "nope"})
    assert wrong.status_code == 401
    assert client.get("/webhooks/v3/1/subscriptions").status_code == 404


def test_a_subscription_is_validated(portal: tuple[HubSpotEmulator, httpx.Client]) -> None:
    _, client = portal
    assert subscribe(client, "contact.propertyChange").status_code == 400  # no propertyName
    assert subscribe(client, "contact.sneezed").status_code == 400


def test_changes_are_delivered_signed_v1_and_v3(
    portal: tuple[HubSpotEmulator, httpx.Client],
) -> None:
    emulator, client = portal
    catcher = Catcher([503], {"Retry-After": "0"})  # the first try fails
    with running(catcher) as url:
        target = url + "/webhooks/crm"
        client.put(f"/webhooks/v3/{APP}/settings", json={"targetUrl": target})
        subscribe(client, "deal.propertyChange", "dealstage")
        subscribe(client, "contact.creation")
        deal = client.get("/crm/v3/objects/deals").json()["results"][0]
        client.patch(
            f"/crm/v3/objects/deals/{deal['id']}", json={"properties": {"dealstage": "closedlost"}}
        )
        emulator.courier.wait_idle(10)
        made = client.post(
            "/crm/v3/objects/contacts", json={"properties": {"email": "new@example.com"}}
        )
        assert emulator.courier.wait_idle(10)
    assert len(catcher.caught) == 3  # the deal's event twice (503, then taken), the contact's
    for caught in catcher.caught:
        stamp = caught.headers["x-hubspot-request-timestamp"]
        # the docs' formulas, computed here
        message = b"POST" + target.encode() + caught.body + stamp.encode()
        v3 = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
        assert caught.headers["x-hubspot-signature-v3"] == base64.b64encode(v3).decode()
        v1 = hashlib.sha256(SECRET.encode() + caught.body).hexdigest()
        assert caught.headers["x-hubspot-signature"] == v1
        assert caught.headers["x-hubspot-signature-version"] == "v1"
    first, retry, created = (json.loads(c.body) for c in catcher.caught)
    (event,) = first
    assert event["subscriptionType"] == "deal.propertyChange"
    assert event["objectId"] == int(deal["id"])
    assert (event["propertyName"], event["propertyValue"]) == ("dealstage", "closedlost")
    assert event["appId"] == APP and event["attemptNumber"] == 0
    assert retry[0]["attemptNumber"] == 1 and retry[0]["eventId"] == event["eventId"]
    assert created[0]["subscriptionType"] == "contact.creation"
    assert created[0]["objectId"] == int(made.json()["id"])


def test_an_unchanged_property_sends_nothing(
    portal: tuple[HubSpotEmulator, httpx.Client], syncd_catcher: tuple[Catcher, str]
) -> None:
    emulator, client = portal
    catcher, url = syncd_catcher
    client.put(f"/webhooks/v3/{APP}/settings", json={"targetUrl": url + "/hook"})
    subscribe(client, "deal.propertyChange", "dealstage")
    deal = client.get("/crm/v3/objects/deals").json()["results"][0]
    client.patch(f"/crm/v3/objects/deals/{deal['id']}", json={"properties": {"amount": "5"}})
    assert emulator.courier.wait_idle(10)
    assert catcher.caught == []
