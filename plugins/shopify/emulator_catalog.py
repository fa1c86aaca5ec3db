"""What the emulated store holds beside its customers, orders and checkouts, in the Admin REST
shapes (``shopify.dev/docs/api/admin-rest/2025-07/resources/...``): the products of the shared
catalogue with one variant each and their inventory items, two locations and the inventory
levels there, a collection per category and one smart collection, metafields (customers who
carry a loyalty tag, every product, every fifth order, every collection), the events the
admin records (an order placed, a product created), the sale transaction of every order, its
shipping line, and its fulfillment order (closed and fulfilled for an order older than 60
days, open otherwise). All of it follows from the orders, so a seed gives the same store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from syncd.emulator.people import CATALOG

Row = dict[str, Any]
VENDOR = "Emulated Outfitters"
LOCATION_BASE, COLLECTION_BASE, METAFIELD_BASE = 71_000_001, 300_000_001, 24_000_000_001
EVENT_BASE, TRANSACTION_BASE, REFUND_BASE = 98_000_000_001, 6_100_000_001, 920_000_001
REFUND_EVERY = 12  # every twelfth fulfilled order had one item returned and refunded
FULFILLMENT_ORDER_BASE, FULFILLMENT_BASE = 5_900_000_001, 4_800_000_001
ITEM_OFFSET = 4_000_000  # an inventory item's id: its variant's plus this
#: (name, address1, city, zip, country code, country) of the store's locations
LOCATIONS = (
    ("Warehouse", "Lagerstrasse 4", "Hamburg", "20457", "DE", "Germany"),
    ("Shop floor", "Hauptstrasse 12", "Berlin", "10115", "DE", "Germany"),
)


def product_id(sku: str) -> int:
    """The product id the seeded line items carry for ``sku``."""
    return 8_100_000 + sum(map(ord, sku))


def variant_id(sku: str) -> int:
    return 44_000_000 + sum(map(ord, sku))


def handle(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def added(rows: dict[int, Row], base: int, step: int, **fields: Any) -> Row:
    """A row added to ``rows`` with the next id from ``base`` by ``step`` (each kind of
    Shopify object has ids unlike the others'), ``fields`` after it."""
    row_id = base + len(rows) * step
    rows[row_id] = {"id": row_id, **fields}
    return rows[row_id]


class Catalog:
    """Products, locations, inventory, collections, metafields, events, transactions and
    fulfillments of one store (``stamp`` writes a time as the store does)."""

    def __init__(self, stamp: Any, opened: datetime) -> None:
        self.stamp = stamp
        self.products: dict[int, Row] = {}
        self.inventory_items: dict[int, Row] = {}
        self.locations: dict[int, Row] = {}
        self.inventory_levels: list[Row] = []
        self.collections: dict[int, Row] = {}
        self.metafields: dict[int, Row] = {}
        self.events: dict[int, Row] = {}
        self.transactions: dict[int, Row] = {}
        self.fulfillment_orders: dict[int, Row] = {}
        self.fulfillments: dict[int, Row] = {}
        self._transactions_by_order: dict[int, list[Row]] = {}
        self._fulfillments_by_order: dict[int, list[Row]] = {}
        self._by_owner: dict[tuple[str, int], list[Row]] | None = None
        self._refunds = 0
        self._seed_catalog(opened)

    # --- the catalogue ----------------------------------------------------------------------

    def _seed_catalog(self, opened: datetime) -> None:
        at = self.stamp(opened)
        for n, (name, street, city, zip_, code, country) in enumerate(LOCATIONS):
            lid = LOCATION_BASE + n
            self.locations[lid] = {
                "id": lid,
                "name": name,
                "address1": street,
                "address2": None,
                "city": city,
                "zip": zip_,
                "province": None,
                "province_code": None,
                "country_code": code,
                "country": country,
                "phone": None,
                "active": True,
                "legacy": False,
                "created_at": at,
                "updated_at": at,
            }
        for n, product in enumerate(CATALOG):
            pid, vid = product_id(product.sku), variant_id(product.sku)
            created = self.stamp(opened + timedelta(hours=n))
            price = f"{product.price_cents / 100:.2f}"
            stock = [(lid, 40 + 7 * n + 11 * k) for k, lid in enumerate(self.locations)]
            variant = {
                "id": vid,
                "product_id": pid,
                "title": "Default Title",
                "sku": product.sku,
                "price": price,
                "compare_at_price": None,
                "position": 1,
                "barcode": None,
                "taxable": True,
                "inventory_policy": "deny",
                "inventory_item_id": vid + ITEM_OFFSET,
                "inventory_quantity": sum(q for _, q in stock),
                "weight": 0.4 + n / 10,
                "weight_unit": "kg",
                "created_at": created,
                "updated_at": created,
            }
            self.products[pid] = {
                "id": pid,
                "title": product.name,
                "handle": handle(product.name),
                "body_html": f"<p>{product.name}, from the {product.category} range.</p>",
                "vendor": VENDOR,
                "product_type": product.category.title(),
                "status": "active",
                "tags": product.category,
                "template_suffix": None,
                "published_at": created,
                "created_at": created,
                "updated_at": created,
                "options": [
                    {"id": pid + 1, "name": "Title", "position": 1, "values": ["Default Title"]}
                ],
                "variants": [variant],
            }
            iid = vid + ITEM_OFFSET
            self.inventory_items[iid] = {
                "id": iid,
                "sku": product.sku,
                "variant_id": vid,
                "product_id": pid,
                "tracked": True,
                "requires_shipping": True,
                "cost": f"{product.price_cents * 0.4 / 100:.2f}",
                "country_code_of_origin": "PT",
                "harmonized_system_code": "640411" if product.category == "shoes" else None,
                "created_at": created,
                "updated_at": created,
            }
            for lid, quantity in stock:
                self.inventory_levels.append(
                    {
                        "inventory_item_id": iid,
                        "location_id": lid,
                        "available": quantity,
                        "on_hand": quantity,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            self._metafield(
                "product",
                pid,
                "custom",
                "material",
                "single_line_text_field",
                "recycled" if n % 2 else "organic cotton",
                created,
            )
            self._event("Product", pid, "create", f"{product.name} was created.", created)
        categories = sorted({p.category for p in CATALOG})
        for n, category in enumerate(categories):
            cid = COLLECTION_BASE + n
            self.collections[cid] = {
                "id": cid,
                "title": category.title(),
                "handle": handle(category),
                "body_html": "",
                "sort_order": "manual",
                "rules": None,
                "disjunctive": False,
                "product_ids": sorted(product_id(p.sku) for p in CATALOG if p.category == category),
                "updated_at": at,
            }
        cid = COLLECTION_BASE + len(categories)
        self.collections[cid] = {
            "id": cid,
            "title": "Everything",
            "handle": "everything",
            "body_html": "",
            "sort_order": "best-selling",
            "rules": [{"column": "vendor", "relation": "equals", "condition": VENDOR}],
            "disjunctive": False,
            "product_ids": sorted(self.products),
            "updated_at": at,
        }
        for collection in self.collections.values():
            self._metafield(
                "collection",
                collection["id"],
                "custom",
                "banner_text",
                "single_line_text_field",
                collection["title"],
                at,
            )

    # --- what follows from customers and orders ---------------------------------------------

    def customer(self, customer: Row) -> None:
        """A loyalty app's metafield on a customer who carries its tag."""
        if "loyalty-gold" in customer["tags"]:
            self._metafield(
                "customer",
                customer["id"],
                "loyalty",
                "points",
                "number_integer",
                str(100 + customer["id"] % 900),
                customer["created_at"],
            )

    def order(self, order: Row, old: bool, placed: datetime, shipping: str) -> None:
        """An order's shipping line, sale, fulfillment order (and fulfillment), placed event
        and, for every fifth order, a gift-note metafield."""
        oid, at = order["id"], order["created_at"]
        order["shipping_lines"] = [
            {
                "id": oid + 7,
                "title": "Standard",
                "code": "Standard",
                "price": shipping,
                "source": "shopify",
                "carrier_identifier": None,
            }
        ]
        tid = TRANSACTION_BASE + len(self.transactions) * 7
        self.transactions[tid] = {
            "id": tid,
            "order_id": oid,
            "kind": "sale",
            "status": "success",
            "gateway": "shopify_payments",
            "amount": order["total_price"],
            "currency": order["currency"],
            "authorization": f"ch_{oid:x}",
            "created_at": at,
            "processed_at": at,
            "test": False,
        }
        self._transactions_by_order.setdefault(oid, []).append(self.transactions[tid])
        fid = FULFILLMENT_ORDER_BASE + len(self.fulfillment_orders) * 3
        warehouse = next(iter(self.locations))
        lines = [
            {"id": fid * 10 + i, "line_item_id": li["id"], "quantity": li["quantity"]}
            for i, li in enumerate(order["line_items"])
        ]
        done = self.stamp(placed + timedelta(days=2)) if old else None
        fulfillment_ids = []
        if old:
            sid = FULFILLMENT_BASE + len(self.fulfillments) * 5
            fulfillment_ids.append(sid)
            self.fulfillments[sid] = {
                "id": sid,
                "order_id": oid,
                "fulfillment_order_id": fid,
                "name": f"{order['name']}.1",
                "status": "success",
                "location_id": warehouse,
                "line_items": lines,
                "tracking_company": "DHL",
                "tracking_number": f"JJD{oid:014d}",
                "created_at": done,
                "updated_at": done,
            }
            self._fulfillments_by_order.setdefault(oid, []).append(self.fulfillments[sid])
        self.fulfillment_orders[fid] = {
            "id": fid,
            "order_id": oid,
            "status": "closed" if old else "open",
            "assigned_location_id": warehouse,
            "line_items": lines,
            "fulfillment_ids": fulfillment_ids,
            "created_at": at,
            "updated_at": done or at,
        }
        self._event("Order", oid, "placed", f"Order {order['name']} was placed.", at)
        if old and len(self.fulfillment_orders) % REFUND_EVERY == 0:
            self._refund(order, placed + timedelta(days=9), warehouse)
        if len(self.fulfillment_orders) % 5 == 1:
            self._metafield(
                "order", oid, "custom", "gift_note", "multi_line_text_field", "Happy birthday!", at
            )

    def _refund(self, order: Row, when: datetime, location_id: int) -> None:
        """One unit of the order's first line item returned, restocked and refunded: the
        order's ``refunds`` (as REST lists them), a refund transaction, and the order partly
        refunded."""
        item, at = order["line_items"][0], self.stamp(when)
        rid = REFUND_BASE + self._refunds * 11
        self._refunds += 1
        order["refunds"] = [
            {
                "id": rid,
                "order_id": order["id"],
                "note": "Returned: wrong size",
                "restock": True,
                "created_at": at,
                "processed_at": at,
                "refund_line_items": [
                    {
                        "id": rid * 10,
                        "line_item_id": item["id"],
                        "quantity": 1,
                        "restock_type": "return",
                        "location_id": location_id,
                        "subtotal": item["price"],
                        "total_tax": "0.00",
                    }
                ],
                "order_adjustments": [],
            }
        ]
        order["financial_status"] = "partially_refunded"
        order["updated_at"] = at
        tid = TRANSACTION_BASE + len(self.transactions) * 7
        self.transactions[tid] = {
            **self.transactions_of(order["id"])[0],
            "id": tid,
            "kind": "refund",
            "amount": item["price"],
            "authorization": f"re_{rid:x}",
            "created_at": at,
            "processed_at": at,
        }
        self._transactions_by_order[order["id"]].append(self.transactions[tid])

    def _metafield(
        self, owner: str, owner_id: int, namespace: str, key: str, kind: str, value: str, at: str
    ) -> None:
        self._by_owner = None
        added(
            self.metafields,
            METAFIELD_BASE,
            13,
            namespace=namespace,
            key=key,
            type=kind,
            value=value,
            description=None,
            owner_resource=owner,
            owner_id=owner_id,
            created_at=at,
            updated_at=at,
        )

    def _event(self, subject: str, subject_id: int, verb: str, message: str, at: str) -> None:
        added(
            self.events,
            EVENT_BASE,
            3,
            subject_id=subject_id,
            subject_type=subject,
            verb=verb,
            message=message,
            arguments=[],
            author="Shopify",
            created_at=at,
        )

    def transactions_of(self, order_id: int) -> list[Row]:
        return self._transactions_by_order.get(order_id, [])

    def fulfillments_of(self, order_id: int) -> list[Row]:
        return self._fulfillments_by_order.get(order_id, [])

    def metafields_of(self, owner: str, owner_id: int) -> list[Row]:
        """The metafields of one object, in id order."""
        if self._by_owner is None:
            index: dict[tuple[str, int], list[Row]] = {}
            for _, row in sorted(self.metafields.items()):
                index.setdefault((row["owner_resource"], row["owner_id"]), []).append(row)
            self._by_owner = index
        return self._by_owner.get((owner, owner_id), [])

    def snapshot(self) -> dict[str, Any]:
        return {
            "products": list(self.products.values()),
            "inventory_items": list(self.inventory_items.values()),
            "locations": list(self.locations.values()),
            "inventory_levels": self.inventory_levels,
            "collections": list(self.collections.values()),
            "metafields": list(self.metafields.values()),
            "events": list(self.events.values()),
            "transactions": list(self.transactions.values()),
            "fulfillment_orders": list(self.fulfillment_orders.values()),
            "fulfillments": list(self.fulfillments.values()),
        }
