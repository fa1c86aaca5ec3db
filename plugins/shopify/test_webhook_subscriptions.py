"""``syncd webhooks register`` / ``list`` for Shopify: the subscriptions made through the
emulator's GraphQL Admin API, once each."""

from __future__ import annotations

from syncd.connectors import WebhookSecrets, WebhookSubscription
from syncd.emulator import VirtualTime
from syncd.testing import emulator_context
from syncd_plugins.shopify.connector import ShopifyConnector, ShopifyOptions
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN, ShopifyEmulator
from syncd_plugins.shopify.webhooks import ShopifyWebhooks

ADDRESS = "https://syncd.example/webhooks/shop"


def connect(emu: ShopifyEmulator, **options: object) -> ShopifyConnector:
    given = {"shop": "emulated", "access_token": DEFAULT_TOKEN, **options}
    context = emulator_context("shop", emu, time=VirtualTime())
    return ShopifyConnector(ShopifyOptions(**given), context)  # type: ignore[arg-type]


def register(connector: ShopifyConnector, address: str) -> list[WebhookSubscription]:
    return ShopifyWebhooks(connector, WebhookSecrets()).register(address)


def listed_at(connector: ShopifyConnector) -> list[WebhookSubscription]:
    return ShopifyWebhooks(connector, WebhookSecrets()).subscriptions()


def test_register_creates_each_topic_once_and_list_shows_them() -> None:
    emu = ShopifyEmulator(people=10, rate_limit=0)
    connector = connect(emu)
    assert listed_at(connector) == []
    made = register(connector, ADDRESS)
    topics = {
        "CUSTOMERS_CREATE",
        "CUSTOMERS_UPDATE",
        "ORDERS_CREATE",
        "ORDERS_UPDATED",
    }  # no checkouts: abandonment is left to the pull
    assert {s.topic for s in made} == topics
    assert {s.address for s in made} == {ADDRESS}
    again = register(connector, ADDRESS)  # idempotent: nothing is created twice
    assert sorted(s.id for s in again) == sorted(s.id for s in made)
    assert len(emu.hooks.rows) == len(topics)
    listed = listed_at(connector)
    assert sorted(s.id for s in listed) == sorted(s.id for s in made)


def test_register_follows_the_streams_read() -> None:
    emu = ShopifyEmulator(people=10, rate_limit=0)
    made = register(connect(emu, streams=["customers"]), ADDRESS)
    assert {s.topic for s in made} == {"CUSTOMERS_CREATE", "CUSTOMERS_UPDATE"}


def test_another_address_gets_its_own_subscriptions() -> None:
    emu = ShopifyEmulator(people=10, rate_limit=0)
    connector = connect(emu, streams=["orders"])
    register(connector, ADDRESS)
    register(connector, "https://elsewhere.example/hook")
    assert len(listed_at(connector)) == 4
