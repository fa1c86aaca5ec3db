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

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from verdict import CA, CONFIG, URL, discover, report, state, sync

SHOP = "syncd-fidelity"

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
Record = dict[str, Any]


def amount(value: Any) -> str | None:
    return None if value is None else f"{float(value):.2f}"


def shop_money(record: Record, key: str) -> str | None:
    return amount(((record.get(key) or {}).get("shopMoney") or {}).get("amount"))


def by_gid(kind: str, rows: list[Held], value: Callable[[Held], Any]) -> dict[str, Any]:
    return {f"gid://shopify/{kind}/{r['id']}": value(r) for r in rows}


def metafields(owner: str) -> Callable[[Held], dict[str, Any]]:
    def held(h: Held) -> dict[str, Any]:
        rows = [m for m in h["metafields"] if m["owner_resource"] == owner]
        return by_gid("Metafield", rows, lambda m: (m["key"], m["value"]))

    return held


def key_and_value(record: Record) -> tuple[Any, str]:
    """A metafield's key and value (the tap's schema makes an integer of a ``number_integer``
    value, which Shopify answers as a string)."""
    return record.get("key"), str(record.get("value"))


def quantity(record: Record, name: str) -> Any:
    return next(
        (q.get("quantity") for q in record.get("quantities") or [] if q.get("name") == name), None
    )


#: stream → (what is compared besides the id, what the emulator holds: global id → that value,
#: worked out from its REST-shaped state with the ids as Shopify documents them
#: (``gid://shopify/Type/N``; an inventory level is
#: ``gid://shopify/InventoryLevel/{location}?inventory_item_id={item}``), the record's value)
EXPECTED: dict[str, tuple[str, Callable[[Held], dict[str, Any]], Callable[[Record], Any]]] = {
    "customers": (
        "e-mail",
        lambda h: by_gid("Customer", h["customers"], lambda c: c["email"]),
        lambda r: r.get("email"),
    ),
    "orders": (
        "total and SKUs",
        lambda h: by_gid(
            "Order", h["orders"], lambda o: (o["total_price"], [i["sku"] for i in o["line_items"]])
        ),
        lambda r: (shop_money(r, "totalPriceSet"), [i.get("sku") for i in r.get("lineItems", [])]),
    ),
    "abandoned_checkouts": (
        "total",
        lambda h: by_gid("AbandonedCheckout", h["checkouts"], lambda c: c["total_price"]),
        lambda r: shop_money(r, "totalPriceSet"),
    ),
    "products": (
        "title",
        lambda h: by_gid("Product", h["products"], lambda p: p["title"]),
        lambda r: r.get("title"),
    ),
    "product_variants": (
        "SKU and price",
        lambda h: by_gid(
            "ProductVariant",
            [v for p in h["products"] for v in p["variants"]],
            lambda v: (v["sku"], v["price"]),
        ),
        lambda r: (r.get("sku"), amount(r.get("price"))),
    ),
    "inventory_items": (
        "SKU",
        lambda h: by_gid("InventoryItem", h["inventory_items"], lambda i: i["sku"]),
        lambda r: r.get("sku"),
    ),
    "locations": (
        "name",
        lambda h: by_gid("Location", h["locations"], lambda loc: loc["name"]),
        lambda r: r.get("name"),
    ),
    "inventory_levels": (
        "available",
        lambda h: {
            f"gid://shopify/InventoryLevel/{lv['location_id']}"
            f"?inventory_item_id={lv['inventory_item_id']}": lv["available"]
            for lv in h["inventory_levels"]
        },
        lambda r: quantity(r, "available"),
    ),
    "collections": (
        "title and products",
        lambda h: by_gid(
            "Collection",
            h["collections"],
            lambda c: (c["title"], [f"gid://shopify/Product/{i}" for i in c["product_ids"]]),
        ),
        lambda r: (r.get("title"), r.get("products")),
    ),
    "events": (
        "subject",
        lambda h: by_gid(
            "BasicEvent",
            h["events"],
            lambda e: f"gid://shopify/{e['subject_type']}/{e['subject_id']}",
        ),
        lambda r: r.get("subjectId"),
    ),
    "transactions": (
        "kind and amount",
        lambda h: by_gid(
            "OrderTransaction", h["transactions"], lambda t: (t["kind"].upper(), t["amount"])
        ),
        lambda r: (r.get("kind"), shop_money(r, "amountSet")),
    ),
    "order_refunds": (
        "note",
        lambda h: by_gid(
            "Refund", [f for o in h["orders"] for f in o.get("refunds", [])], lambda f: f["note"]
        ),
        lambda r: r.get("note"),
    ),
    "order_shipping_lines": (
        "title and price",
        lambda h: by_gid(
            "ShippingLine",
            [s for o in h["orders"] for s in o.get("shipping_lines", [])],
            lambda s: (s["title"], s["price"]),
        ),
        lambda r: (r.get("title"), shop_money(r, "originalPriceSet")),
    ),
    "fulfillment_orders": (
        "status",
        lambda h: by_gid(
            "FulfillmentOrder", h["fulfillment_orders"], lambda f: f["status"].upper()
        ),
        lambda r: r.get("status"),
    ),
    "metafields_customers": (
        "key and value",
        metafields("customer"),
        key_and_value,
    ),
    "metafields_products": (
        "key and value",
        metafields("product"),
        key_and_value,
    ),
    "metafields_orders": (
        "key and value",
        metafields("order"),
        key_and_value,
    ),
    "metafields_collections": (
        "key and value",
        metafields("collection"),
        key_and_value,
    ),
}


def tap_env() -> dict[str, str]:
    """The tap's process finds the shop's host at the emulator and trusts its certificate."""
    return {
        **os.environ,
        "FIDELITY_SHOP_HOST": f"{SHOP}.myshopify.com",
        "FIDELITY_PORT": str(urlsplit(URL).port),
        "SSL_CERT_FILE": CA,
        "REQUESTS_CA_BUNDLE": CA,
    }


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
    found, catalog = discover(LAUNCH, work, config, env=tap_env())
    if catalog is None:
        return 0
    names = sorted(s["tap_stream_id"] for s in catalog["streams"])
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
    run, read = sync(
        LAUNCH, work, catalog, env=tap_env(), note=" (the cost limits lifted: README.md)"
    )
    held = state()
    for name in names:
        got = read.get(name, [])
        if name not in EXPECTED:
            report(f"sync {name}", False, len(got), "a stream this check does not know")
            continue
        what, holds, of_record = EXPECTED[name]
        want = holds(held)
        seen = sorted(str(r.get("id")) for r in got)
        same = seen == sorted(want)
        if not same:
            report(f"sync {name}", False, len(got), _difference(seen, sorted(want)))
            continue
        wrong = [r["id"] for r in got if of_record(r) != want[r["id"]]]
        detail = f"= the emulator's {len(want)}; " + (
            f"{what} as held" if not wrong else f"{what} differs for {wrong[:3]}"
        )
        report(f"sync {name}", not wrong and run.returncode == 0, len(got), detail)
    return 0


def _difference(seen: list[str], want: list[str]) -> str:
    extra, missing = sorted(set(seen) - set(want)), sorted(set(want) - set(seen))
    return (
        f"emulator holds {len(want)}; {len(missing)} missing (e.g. {missing[:2]}), "
        f"{len(extra)} not held (e.g. {extra[:2]}), {len(seen) - len(set(seen))} repeated"
    )


if __name__ == "__main__":
    sys.exit(main())
