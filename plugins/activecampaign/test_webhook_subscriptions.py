"""``syncd webhooks register`` / ``list`` for ActiveCampaign: one ``syncd`` webhook through
the emulator's ``/api/3/webhooks``, its URL carrying the token."""

from __future__ import annotations

import pytest

from syncd.connectors import FatalError, WebhookSecrets, WebhookSubscription
from syncd.emulator import VirtualTime
from syncd.testing import emulator_context
from syncd_plugins.activecampaign import webhooks as subs
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN, ActiveCampaignEmulator
from syncd_plugins.activecampaign.webhooks import ActiveCampaignWebhooks

ADDRESS = "https://syncd.example/webhooks/mail"


def connect(emu: ActiveCampaignEmulator) -> ActiveCampaignConnector:
    options = ActiveCampaignOptions(url="https://acme.api-us1.com", token=DEFAULT_TOKEN)  # type: ignore[arg-type]
    return ActiveCampaignConnector(options, emulator_context("mail", emu, time=VirtualTime()))


def register(
    connector: ActiveCampaignConnector, address: str, token: str | None
) -> list[WebhookSubscription]:
    return ActiveCampaignWebhooks(connector, WebhookSecrets(token=token)).register(address)


def test_register_creates_one_webhook_once() -> None:
    emu = ActiveCampaignEmulator(people=10, rate_limit=0)
    connector = connect(emu)
    made = register(connector, ADDRESS, "s3cret")
    assert {s.topic for s in made} == set(subs.EVENTS)
    assert {s.address for s in made} == {ADDRESS + "?token=***"}
    (hook,) = emu.webhooks.values()
    assert hook["url"] == ADDRESS + "?token=s3cret"
    assert hook["sources"] == subs.SOURCES and hook["name"] == "syncd"
    again = register(connector, ADDRESS, "s3cret")
    assert again == made and len(emu.webhooks) == 1
    assert ActiveCampaignWebhooks(connector, WebhookSecrets()).subscriptions() == made


def test_a_webhook_lacking_events_gets_them() -> None:
    emu = ActiveCampaignEmulator(people=10, rate_limit=0)
    connector = connect(emu)
    register(connector, ADDRESS, "s3cret")
    (hook,) = emu.webhooks.values()
    hook["events"] = ["subscribe"]
    register(connector, ADDRESS, "s3cret")
    assert sorted(hook["events"]) == sorted(subs.EVENTS) and len(emu.webhooks) == 1


def test_without_a_token_it_says_what_to_set() -> None:
    emu = ActiveCampaignEmulator(people=10, rate_limit=0)
    with pytest.raises(FatalError, match=r"webhooks\.connectors\.mail\.token is not set"):
        register(connect(emu), ADDRESS, None)
