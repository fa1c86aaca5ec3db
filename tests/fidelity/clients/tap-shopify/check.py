"""Singer's tap-shopify (3.13.0) against the Shopify emulator: discovery, then a sync of every
stream it offers with all of them selected, each stream's records compared with the
emulator's state. A tap only reads: it offers no writes. What the launcher changes, and why,
is in README.md beside this file.

The tap builds ``https://{shop}.myshopify.com`` itself (ShopifyAPI's session for REST and
GraphQL, ``requests`` for the orders stream's bulk operation and its JSONL download). The
emulator serves HTTPS on loopback with a throwaway certificate the suite made
(``FIDELITY_CA``), which the tap's process trusts through ``SSL_CERT_FILE`` (urllib) and
``REQUESTS_CA_BUNDLE`` (requests); the launcher below resolves the shop's host name to the
emulator's loopback address and port, and changes nothing else.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

URL = os.environ["FIDELITY_URL"].rstrip("/")
CONFIG = json.loads(os.environ["FIDELITY_CONFIG"])
CA = os.environ.get("FIDELITY_CA", "")
SHOP = "syncd-fidelity"
TIMEOUT = 600

LAUNCH = (
    "import os, socket, sys\n"
    "host, port = os.environ['FIDELITY_SHOP_HOST'], int(os.environ['FIDELITY_PORT'])\n"
    "resolve = socket.getaddrinfo\n"
    "def getaddrinfo(name, service, *args, **kwargs):  # the shop's host is the emulator\n"
    "    if name == host:\n"
    "        return resolve('127.0.0.1', port, *args, **kwargs)\n"
    "    return resolve(name, service, *args, **kwargs)\n"
    "socket.getaddrinfo = getaddrinfo\n"
    "import tap_shopify\n"
    "sys.argv[0] = 'tap-shopify'\n"
    "tap_shopify.main()\n"
)

Held = dict[str, Any]


def gids(kind: str, rows: list[Held]) -> list[str]:
    return [f"gid://shopify/{kind}/{r['id']}" for r in rows]


def owned(held: Held, owner: str) -> list[str]:
    return gids("Metafield", [m for m in held["metafields"] if m["owner_resource"] == owner])


#: stream → the global ids of what the emulator holds for it, worked out from its REST-shaped
#: state as Shopify documents the ids (``gid://shopify/Type/N``; an inventory level is
#: ``gid://shopify/InventoryLevel/{location}?inventory_item_id={item}``)
EXPECTED: dict[str, Callable[[Held], list[str]]] = {
    "customers": lambda h: gids("Customer", h["customers"]),
    "orders": lambda h: gids("Order", h["orders"]),
    "abandoned_checkouts": lambda h: gids("AbandonedCheckout", h["checkouts"]),
    "products": lambda h: gids("Product", h["products"]),
    "product_variants": lambda h: gids(
        "ProductVariant", [v for p in h["products"] for v in p["variants"]]
    ),
    "inventory_items": lambda h: gids("InventoryItem", h["inventory_items"]),
    "locations": lambda h: gids("Location", h["locations"]),
    "inventory_levels": lambda h: [
        f"gid://shopify/InventoryLevel/{lv['location_id']}"
        f"?inventory_item_id={lv['inventory_item_id']}"
        for lv in h["inventory_levels"]
    ],
    "collections": lambda h: gids("Collection", h["collections"]),
    "events": lambda h: gids("BasicEvent", h["events"]),
    "transactions": lambda h: gids("OrderTransaction", h["transactions"]),
    "order_refunds": lambda h: gids(
        "Refund", [r for o in h["orders"] for r in o.get("refunds", [])]
    ),
    "order_shipping_lines": lambda h: gids(
        "ShippingLine", [s for o in h["orders"] for s in o.get("shipping_lines", [])]
    ),
    "fulfillment_orders": lambda h: gids("FulfillmentOrder", h["fulfillment_orders"]),
    "metafields_customers": lambda h: owned(h, "customer"),
    "metafields_products": lambda h: owned(h, "product"),
    "metafields_orders": lambda h: owned(h, "order"),
    "metafields_collections": lambda h: owned(h, "collection"),
}


def _money(record: dict[str, Any], key: str) -> str | None:
    found = record.get(key) or {}
    amount = (found.get("shopMoney") or {}).get("amount")
    return None if amount is None else f"{float(amount):.2f}"


#: stream → (what is compared, the record's value, the held row's value) beyond the ids
FIELDS: dict[str, tuple[str, Callable[[dict[str, Any]], Any], str, Callable[[Held], Any]]] = {
    "customers": ("email", lambda r: r.get("email"), "customers", lambda c: c["email"]),
    "orders": (
        "total and SKUs",
        lambda r: (_money(r, "totalPriceSet"), [li.get("sku") for li in r.get("lineItems", [])]),
        "orders",
        lambda o: (o["total_price"], [li["sku"] for li in o["line_items"]]),
    ),
    "products": ("title", lambda r: r.get("title"), "products", lambda p: p["title"]),
    "abandoned_checkouts": (
        "total",
        lambda r: _money(r, "totalPriceSet"),
        "checkouts",
        lambda c: c["total_price"],
    ),
}


def report(call: str, ok: bool, count: int | None = None, detail: str = "") -> None:
    row = {"call": call, "ok": bool(ok), "count": count, "detail": detail[:300]}
    print("FIDELITY " + json.dumps(row), flush=True)


def state() -> Held:
    context = ssl.create_default_context(cafile=CA or None)
    with urllib.request.urlopen(f"{URL}/_emulator/state", timeout=30, context=context) as answer:
        return json.loads(answer.read())


def tap(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FIDELITY_SHOP_HOST": f"{SHOP}.myshopify.com",
        "FIDELITY_PORT": str(urlsplit(URL).port),
        "SSL_CERT_FILE": CA,
        "REQUESTS_CA_BUNDLE": CA,
    }
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, "--config", str(work / "config.json"), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def select_all(catalog: dict[str, Any]) -> None:
    """Every stream and every field of it (the tap asks only for the fields selected: with
    none, its queries carry nothing but the ids and times)."""
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["metadata"].get("inclusion") != "unsupported":
                entry["metadata"]["selected"] = True


def main() -> int:
    if not CA.startswith("/") or not URL.startswith("https://"):
        report("--discover", False, None, "the emulator is not served over HTTPS (tls: true)")
        return 0
    work = Path(tempfile.mkdtemp(prefix="tap-shopify-"))
    config = {
        "shop": SHOP,
        "access_token": CONFIG["access_token"],
        "start_date": "2000-01-01T00:00:00Z",
        # one window from the start date to now, so the orders stream runs one bulk operation
        # (each costs the tap a 60 s wait between its polls) rather than one per 30 days
        "date_window_size": 36500,
        "request_timeout": 60,
    }
    (work / "config.json").write_text(json.dumps(config))

    found = tap(work, "--discover")
    try:
        catalog = json.loads(found.stdout)
        names = sorted(s["tap_stream_id"] for s in catalog["streams"])
    except (ValueError, KeyError, TypeError):
        report("--discover", False, None, f"exit {found.returncode}: {last_line(found.stderr)}")
        return 0
    ok = found.returncode == 0 and set(EXPECTED) <= set(names)
    missing = sorted(set(EXPECTED) - set(names))
    report(
        "--discover",
        ok,
        len(names),
        "streams in the catalog (token checked: GET shop.json)"
        + (f"; missing {missing}" if missing else ""),
    )
    if not ok:
        return 0
    select_all(catalog)
    (work / "catalog.json").write_text(json.dumps(catalog))

    started = time.monotonic()
    run = tap(work, "--catalog", str(work / "catalog.json"))
    seconds = time.monotonic() - started
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for line in run.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    report(
        "sync (every stream selected)",
        run.returncode == 0,
        sum(len(v) for v in records.values()),
        f"exit {run.returncode} in {seconds:.1f} s (the cost limits lifted: README.md)"
        + ("" if run.returncode == 0 else f": {last_line(run.stderr)}"),
    )
    held = state()
    for name in names:
        got = records.get(name, [])
        expect = EXPECTED.get(name)
        if expect is None:
            report(f"sync {name}", False, len(got), "a stream this check does not know")
            continue
        want = sorted(expect(held))
        seen = sorted(str(r.get("id")) for r in got)
        same = seen == want
        detail = f"= the emulator's {len(want)}" if same else _difference(seen, want)
        if same and name in FIELDS:
            what, of_record, table, of_row = FIELDS[name]
            by_id = {f"{r['id']}": r for r in held[table]}
            wrong = [
                r["id"]
                for r in got
                if of_record(r) != of_row(by_id[re.sub(r"\D", "", str(r["id"]))])
            ]
            same = not wrong
            detail += f"; {what} as held" if same else f"; {what} differs for {wrong[:3]}"
        report(f"sync {name}", same and run.returncode == 0, len(got), detail)
    return 0


def _difference(seen: list[str], want: list[str]) -> str:
    extra, missing = sorted(set(seen) - set(want)), sorted(set(want) - set(seen))
    return (
        f"emulator holds {len(want)}; {len(missing)} missing (e.g. {missing[:2]}), "
        f"{len(extra)} not held (e.g. {extra[:2]}), {len(seen) - len(set(seen))} repeated"
    )


if __name__ == "__main__":
    sys.exit(main())
