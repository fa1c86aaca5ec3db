"""``syncd webhooks register`` / ``list`` for HubSpot: the app's target URL and its event
subscriptions, through the emulator's webhooks API v3 with the developer API key."""

from __future__ import annotations

import pytest

from syncd.connectors import AuthError, FatalError, WebhookSecrets, WebhookSubscription
from syncd.emulator import VirtualTime
from syncd.testing import emulator_context
from syncd_plugins.hubspot import webhooks as subs
from syncd_plugins.hubspot.connector import HubSpotConnector, HubSpotOptions
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator
from syncd_plugins.hubspot.webhooks import HubSpotWebhooks

ADDRESS = "https://syncd.example/webhooks/crm"


def connect(emu: HubSpotEmulator, **options: object) -> HubSpotConnector:
    given = {"token": DEFAULT_TOKEN, **options}
    context = emulator_context("crm", emu, time=VirtualTime())
    return HubSpotConnector(HubSpotOptions(**given), context)  # type: ignore[arg-type]


def register(connector: HubSpotConnector, address: str) -> list[WebhookSubscription]:
    return HubSpotWebhooks(connector, WebhookSecrets()).register(address)


def listed(connector: HubSpotConnector) -> list[WebhookSubscription]:
    return HubSpotWebhooks(connector, WebhookSecrets()).subscriptions()


def test_register_sets_the_target_and_subscribes_once() -> None:
    emu = HubSpotEmulator(people=10, rate_limit=0, app_id=42, developer_api_key="dev-key")
    connector = connect(emu, app_id=42, developer_api_key="dev-key")
    made = register(connector, ADDRESS)
    assert emu.settings is not None and emu.settings["targetUrl"] == ADDRESS
    assert len(made) == len(subs.WANTED)
    assert "contact.creation" in {s.topic for s in made}
    assert "contact.propertyChange email" in {s.topic for s in made}
    assert {s.address for s in made} == {ADDRESS}
    again = register(connector, ADDRESS)
    assert sorted(s.id for s in again) == sorted(s.id for s in made)
    assert len(emu.subscriptions) == len(subs.WANTED)
    assert listed(connector) == again


def test_a_new_address_moves_the_target_url() -> None:
    emu = HubSpotEmulator(people=10, rate_limit=0, app_id=42, developer_api_key="dev-key")
    connector = connect(emu, app_id=42, developer_api_key="dev-key")
    register(connector, ADDRESS)
    register(connector, "https://new.example/webhooks/crm")
    assert emu.settings is not None
    assert emu.settings["targetUrl"] == "https://new.example/webhooks/crm"
    assert len(emu.subscriptions) == len(subs.WANTED)


def test_without_the_app_and_its_key_it_says_what_to_set() -> None:
    emu = HubSpotEmulator(people=10, rate_limit=0)
    with pytest.raises(FatalError, match="set app_id and developer_api_key"):
        register(connect(emu), ADDRESS)


def test_a_wrong_developer_key_is_refused() -> None:
    emu = HubSpotEmulator(people=10, rate_limit=0, app_id=42, developer_api_key="dev-key")
    with pytest.raises(AuthError, match="HTTP 401"):
        listed(connect(emu, app_id=42, developer_api_key="wrong"))
