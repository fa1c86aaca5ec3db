"""End to end through three in-process emulators: purchases and carts pulled from Shopify and
deal stages pulled from HubSpot drive `loyal_customers`, `cart_abandoners` (the library's)
and `in_negotiation`, pushed to ActiveCampaign tags and a HubSpot list."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulator import ManualClock, VirtualTime
from syncd.testing import route_to_emulators
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN as AC_TOKEN
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN as HS_TOKEN
from syncd_plugins.hubspot.emulator import HubSpotEmulator
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN as SHOP_TOKEN
from syncd_plugins.shopify.emulator import ShopifyEmulator
from syncd_plugins.shopify.test_emulator import START
from tests.conftest import REPO

CONFIG = f"""
store:
  url: sqlite:///{{db}}
include: [{REPO / "config" / "segments"}]
connectors:
  shop: {{{{type: shopify, shop: emulated, access_token: "${{{{SHOP_TOKEN}}}}"}}}}
  crm: {{{{type: hubspot, token: "${{{{HS_TOKEN}}}}"}}}}
  esp: {{{{type: activecampaign, url: "https://acme.api-us1.com", token: "${{{{AC_TOKEN}}}}"}}}}
segments:
  in_negotiation: {{{{deal: {{{{stage: negotiation, status: open}}}}}}}}
  # the library's, over 30 days instead of 7: the sample shop's carts are 10 days old and more
  cart_abandoners:
    {{{{event: checkout_abandoned, within: 30d, not_followed_by: order_placed}}}}
destinations:
  - connector: esp
    tags:
      loyal_customers: LOYAL
      cart_abandoners: CART_ABANDONED
      in_negotiation: IN_NEGOTIATION
  - connector: crm
    lists:
      in_negotiation: In negotiation
"""
PEOPLE = 60


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    clock = ManualClock(START)
    vt = VirtualTime(clock)
    emulators: dict[str, Any] = {
        "shop": ShopifyEmulator(seed=11, people=PEOPLE, clock=clock),
        "crm": HubSpotEmulator(seed=11, people=PEOPLE, clock=clock),
        "esp": ActiveCampaignEmulator(seed=11, people=PEOPLE, clock=clock),
    }
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "store.db"))
    for name, value in (("SHOP_TOKEN", SHOP_TOKEN), ("HS_TOKEN", HS_TOKEN), ("AC_TOKEN", AC_TOKEN)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SYNCD_NOW", START.isoformat())
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    route_to_emulators(monkeypatch, emulators, time=vt)
    yield emulators, config


def members(config: Path, name: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    capsys.readouterr()
    args = ["--config", str(config), "segments", "show", name, "--json", "--limit", "10000"]
    assert main(args) == 0
    return {m["email"] for m in json.loads(capsys.readouterr().out)["sample"]}


def ac_tagged(ac: ActiveCampaignEmulator, tag: str) -> set[str]:
    state = ac.state()
    emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
    tag_id = next((t["id"] for t in state["tags"] if t["tag"] == tag), None)
    return {emails[x["contact"]] for x in state["contactTags"] if x["tag"] == tag_id}


def hubspot_list(hs: HubSpotEmulator, name: str) -> set[str]:
    state = hs.state()
    emails = {c["id"]: c["properties"]["email"].lower() for c in state["contacts"]}
    found = [lst for lst in state["lists"] if lst["name"] == name]
    return {emails[m] for m in found[0]["members"]} if found else set()


def writes(emulator: Any) -> list[str]:
    # as the emulator marked each (Shopify's GraphQL queries are reads), else by method
    return [f"{r.method} {r.path}" for r in emulator.requests() if r.is_write
            and not r.path.endswith(("/search", "/batch/read"))]  # fmt: skip


def test_shop_and_crm_drive_email_tags_and_a_crm_list(
    world: tuple[dict[str, Any], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    emulators, config = world
    shop, crm, esp = emulators["shop"], emulators["crm"], emulators["esp"]
    assert main(["--config", str(config), "sync"]) == 0

    # who the shop says bought twice or more is a loyal customer
    orders = Counter(o["email"].lower() for o in shop.state()["orders"] if o.get("email"))
    repeat_buyers = {email for email, n in orders.items() if n >= 2}
    loyal = members(config, "loyal_customers", capsys)
    assert repeat_buyers and repeat_buyers <= loyal
    # the CRM's open deals in negotiation, and only they, make in_negotiation
    crm_state = crm.state()
    emails = {c["id"]: c["properties"]["email"].lower() for c in crm_state["contacts"]}
    negotiating = {
        emails[cid]
        for d in crm_state["deals"]
        if d["properties"]["dealstage"] == "negotiation"
        for cid in d["contacts"]
    }
    assert negotiating and members(config, "in_negotiation", capsys) == negotiating
    carts = members(config, "cart_abandoners", capsys)
    assert carts  # the shop has recent abandoned checkouts with no order since

    # each segment went out as an ActiveCampaign tag, member for member
    assert ac_tagged(esp, "LOYAL") == loyal
    assert ac_tagged(esp, "CART_ABANDONED") == carts
    assert ac_tagged(esp, "IN_NEGOTIATION") == negotiating
    # and to the CRM's list: those in negotiation with consent to be e-mailed
    in_list = hubspot_list(crm, "In negotiation")
    assert in_list and in_list <= negotiating

    # a second sync has nothing left to write anywhere
    for emulator in emulators.values():
        emulator.clear_requests()
    assert main(["--config", str(config), "sync"]) == 0
    assert writes(esp) == [] and writes(crm) == [] and writes(shop) == []
