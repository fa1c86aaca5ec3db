"""``syncd webhooks register`` and ``list`` against in-process emulators: each instance's
subscriptions made once at its vendor, pointing at the public URL; a connector that takes no
webhooks says so in one line; no public URL is one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulator import VirtualTime
from syncd.testing import route_to_emulators
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN as AC_TOKEN
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN as HS_TOKEN
from syncd_plugins.hubspot.emulator import HubSpotEmulator
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN as SHOP_TOKEN
from syncd_plugins.shopify.emulator import ShopifyEmulator

PUBLIC = "https://syncd.example.com"
CONFIG = """
store:
  url: sqlite:///{db}
connectors:
  shop: {{type: shopify, shop: emulated, access_token: "{shop}"}}
  crm: {{type: hubspot, token: "{hs}", app_id: 77, developer_api_key: dev-key}}
  esp: {{type: activecampaign, url: "https://acme.api-us1.com", token: "{ac}"}}
  sheet: {{type: files, contacts: contacts.jsonl}}
webhooks:
{public}  connectors:
    shop: {{secret: shop-secret}}
    crm: {{secret: crm-secret}}
    esp: {{token: esp-token}}
"""


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    emulators: dict[str, Any] = {
        "shop": ShopifyEmulator(people=10, rate_limit=0),
        "crm": HubSpotEmulator(people=10, rate_limit=0, app_id=77, developer_api_key="dev-key"),
        "esp": ActiveCampaignEmulator(people=10, rate_limit=0),
    }
    (tmp_path / "contacts.jsonl").write_text("")
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    # the files connector sends no request: any emulator will do for its transport
    routes = {**emulators, "sheet": emulators["shop"]}
    route_to_emulators(monkeypatch, routes, time=VirtualTime())
    yield emulators


def config(tmp_path: Path, public: bool = True) -> str:
    path = tmp_path / "syncd.yaml"
    text = CONFIG.format(
        db=tmp_path / "store.db",
        shop=SHOP_TOKEN,
        hs=HS_TOKEN,
        ac=AC_TOKEN,
        public=f"  public_url: {PUBLIC}\n" if public else "",
    )
    path.write_text(text)
    return str(path)


def run_json(capsys: pytest.CaptureFixture[str], path: str, *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--config", path, "webhooks", *args, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return {i["instance"]: i for i in out["instances"]}


def test_register_makes_each_instance_subscriptions_once(
    world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path)
    made = run_json(capsys, path, "register")
    assert {s["address"] for s in made["shop"]["subscriptions"]} == {f"{PUBLIC}/webhooks/shop"}
    assert "CUSTOMERS_UPDATE" in {s["topic"] for s in made["shop"]["subscriptions"]}
    assert {s["address"] for s in made["crm"]["subscriptions"]} == {f"{PUBLIC}/webhooks/crm"}
    assert world["crm"].settings["targetUrl"] == f"{PUBLIC}/webhooks/crm"
    esp = made["esp"]["subscriptions"]
    assert {s["address"] for s in esp} == {f"{PUBLIC}/webhooks/esp?token=***"}
    (hook,) = world["esp"].webhooks.values()
    assert hook["url"] == f"{PUBLIC}/webhooks/esp?token=esp-token"
    assert (
        made["sheet"]["subscriptions"] == [] and made["sheet"]["note"] == "files takes no webhooks"
    )
    counts = (
        len(world["shop"].hooks.rows),
        len(world["crm"].subscriptions),
        len(world["esp"].webhooks),
    )
    again = run_json(capsys, path, "register")  # idempotent: nothing more at any vendor
    assert (
        len(world["shop"].hooks.rows),
        len(world["crm"].subscriptions),
        len(world["esp"].webhooks),
    ) == counts
    for name in ("shop", "crm", "esp"):
        ids = sorted(s["id"] for s in again[name]["subscriptions"])
        assert ids == sorted(s["id"] for s in made[name]["subscriptions"])
    listed = run_json(capsys, path, "list")
    for name in ("shop", "crm", "esp"):
        assert sorted(s["id"] for s in listed[name]["subscriptions"]) == sorted(
            s["id"] for s in made[name]["subscriptions"]
        )


def test_list_as_a_table(
    world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path)
    assert main(["--config", path, "webhooks", "register", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["--config", path, "webhooks", "list"]) == 0
    out = capsys.readouterr().out
    assert out.split()[:4] == ["INSTANCE", "TOPIC", "ID", "ADDRESS"]
    assert f"{PUBLIC}/webhooks/shop" in out and "contact.creation" in out
    assert "sheet: files takes no webhooks" in out.splitlines()
    assert "esp-token" not in out  # the token in AC's URL is never shown


def test_no_public_url_is_one_line_and_exit_2(
    world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, public=False)
    capsys.readouterr()
    assert main(["--config", path, "webhooks", "register"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "webhooks.public_url is not set" in err[0]
    assert world["shop"].hooks.rows == {}  # no vendor was asked


def test_a_vendor_refusal_is_one_line_per_instance(
    world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world["crm"].developer_api_key = "another"  # the config's key is refused
    path = config(tmp_path)
    capsys.readouterr()
    assert main(["--config", path, "webhooks", "register"]) == 1
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("crm: error: ") and "401" in line
    assert len(world["shop"].hooks.rows) > 0  # the other instances were registered
