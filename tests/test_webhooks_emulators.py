"""The two halves together: each vendor emulator, subscribed through its receiver's
``register``, delivers signed webhooks over loopback to the daemon's ingest, which verifies
them (none refused), stores them, and applies them through the record path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from syncd import metrics
from syncd.config import load_config
from syncd.daemon.health import HealthServer
from syncd.emulator import ManualClock, VirtualTime, transport
from syncd.runtime import Runtime, build_runtime
from syncd.store.schema import attributes, identities, tags, webhook_inbox
from syncd.sync import cycle
from syncd.testing import route_to_emulators
from syncd.webhooks.ingest import Backlog, Ingest, Receivers
from syncd.webhooks.micro import apply_inbox
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN as AC_TOKEN
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN as HUB_TOKEN
from syncd_plugins.hubspot.emulator import HubSpotEmulator
from syncd_plugins.hubspot.emulator_webhooks import DEFAULT_APP_ID, DEFAULT_DEVELOPER_KEY
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN as SHOP_TOKEN
from syncd_plugins.shopify.emulator import ShopifyEmulator

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SHOP_SECRET, HUB_SECRET, URL_TOKEN = "shop-app-secret", "hub-app-secret", "ac-url-token"
CONFIG = f"""
store:
  url: sqlite:///{{db}}
connectors:
  shop: {{{{type: shopify, shop: emulated, access_token: {SHOP_TOKEN}}}}}
  crm: {{{{type: hubspot, token: {HUB_TOKEN}, app_id: {DEFAULT_APP_ID},
          developer_api_key: {DEFAULT_DEVELOPER_KEY}}}}}
  esp: {{{{type: activecampaign, url: "https://acme.api-us1.com", token: {AC_TOKEN}}}}}
webhooks:
  connectors:
    shop: {{{{secret: {SHOP_SECRET}}}}}
    crm: {{{{secret: {HUB_SECRET}}}}}
    esp: {{{{token: {URL_TOKEN}}}}}
"""


class Setup:
    def __init__(
        self, rt: Runtime, emulators: dict[str, Any], server: HealthServer, receivers: Receivers
    ) -> None:
        self.rt, self.emulators, self.server, self.receivers = rt, emulators, server, receivers

    def api(self, name: str, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url="https://vendor.test",
            transport=transport(self.emulators[name]),
            headers=headers,
        )


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    clock = ManualClock(NOW)  # the vendors sign with the time the daemon reads too
    emulators: dict[str, Any] = {
        "shop": ShopifyEmulator(people=5, rate_limit=0, clock=clock, client_secret=SHOP_SECRET),
        "crm": HubSpotEmulator(people=5, rate_limit=0, clock=clock, client_secret=HUB_SECRET),
        "esp": ActiveCampaignEmulator(people=5, rate_limit=0, clock=clock),
    }
    route_to_emulators(monkeypatch, emulators, time=VirtualTime(clock))
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "store.db"))
    rt = build_runtime(load_config(config), clock=clock)
    receivers = Receivers()
    ingest = Ingest(lambda: rt, Backlog(), receivers)
    server = HealthServer("127.0.0.1:0", lambda: (True, "ok"), webhooks=ingest)
    server.start()
    try:
        yield Setup(rt, emulators, server, receivers)
    finally:
        server.stop()
        for emulator in emulators.values():
            courier = getattr(getattr(emulator, "hooks", emulator), "courier", None)
            if courier is not None:
                courier.close()
        rt.close()


def refused_total() -> float:
    total = 0.0
    for family in metrics.WEBHOOKS_REFUSED.collect():
        total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total


def idle(emulator: Any) -> None:
    courier = getattr(getattr(emulator, "hooks", None), "courier", None) or emulator.courier
    assert courier.wait_idle(20)


def inbox(rt: Runtime) -> list[sa.Row]:
    with rt.engine.connect() as conn:
        return list(conn.execute(sa.select(webhook_inbox)).all())


def test_every_emulator_delivers_what_the_ingest_verifies_and_applies(setup: Setup) -> None:
    rt, emulators, port = setup.rt, setup.emulators, setup.server.port
    cycle.pull(rt)  # webhooks follow a first pull: they name contacts it stored
    before = refused_total()
    for name in ("shop", "crm", "esp"):
        receiver = setup.receivers.of(rt, name)
        assert receiver is not None
        assert receiver.register(f"http://127.0.0.1:{port}/webhooks/{name}")

    shop = setup.api("shop", **{"X-Shopify-Access-Token": SHOP_TOKEN})
    gql = "/admin/api/2024-10/graphql.json"
    first = shop.post(gql, json={"query": "{ customers(first: 1) { nodes { id } } }"})
    customer = first.json()["data"]["customers"]["nodes"][0]["id"]
    add = 'mutation($id: ID!) { tagsAdd(id: $id, tags: ["vip"]) { userErrors { message } } }'
    shop.post(gql, json={"query": add, "variables": {"id": customer}})

    crm = setup.api("crm", Authorization=f"Bearer {HUB_TOKEN}")
    contact = crm.get("/crm/v3/objects/contacts", params={"limit": 1}).json()["results"][0]
    crm.patch(f"/crm/v3/objects/contacts/{contact['id']}",
              json={"properties": {"firstname": "Webhooked"}})  # fmt: skip

    esp = setup.api("esp", **{"Api-Token": AC_TOKEN})
    # syncd subscribes to changes people make, not to API calls (its own writes); the test
    # makes its change through the API, so the webhook takes those too
    (hook,) = esp.get("/api/3/webhooks").json()["webhooks"]
    sources = [*hook["sources"], "api"]
    esp.put(f"/api/3/webhooks/{hook['id']}", json={"webhook": {"sources": sources}})
    person = esp.get("/api/3/contacts", params={"limit": 1}).json()["contacts"][0]
    tag = esp.post("/api/3/tags", json={"tag": {"tag": "HOOKED", "tagType": "contact"}}).json()
    esp.post("/api/3/contactTags",
             json={"contactTag": {"contact": person["id"], "tag": tag["tag"]["id"]}})  # fmt: skip

    for emulator in emulators.values():
        idle(emulator)
    assert refused_total() == before
    came = {row.instance for row in inbox(rt)}
    assert came == {"shop", "crm", "esp"}

    applied = apply_inbox(rt, setup.receivers, None)
    assert applied.deliveries == len(inbox(rt)) and applied.counts["quarantined"] == 0
    shop_id = customer.rsplit("/", 1)[1]
    with rt.engine.connect() as conn:
        who = sa.select(identities.c.contact_id)
        shop_contact = conn.execute(
            who.where(identities.c.connector == "shop", identities.c.external_id == shop_id)
        ).scalar_one()
        shop_tags = conn.execute(
            sa.select(tags.c.tag).where(tags.c.contact_id == shop_contact, tags.c.source == "shop")
        ).scalars()
        assert "vip" in set(shop_tags)
        names = conn.execute(
            sa.select(attributes.c.value).where(
                attributes.c.source == "crm", attributes.c.name == "first_name"
            )
        ).scalars()
        assert "Webhooked" in set(names)
        esp_tags = conn.execute(sa.select(tags.c.tag).where(tags.c.source == "esp")).scalars()
        assert "HOOKED" in set(esp_tags)
