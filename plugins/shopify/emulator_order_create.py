"""``POST /admin/api/{version}/orders.json``: an order created through the REST Admin API, as
an app that records sales made elsewhere does (Shopify's "Order" resource, create). The order
is paid, belongs to the customer of its e-mail (one is made when there is none), and posts
``orders/create`` to the webhooks subscribed to it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd_plugins.shopify.emulator_state import EMAIL, ORDER_BASE, ShopState, money, stamp


def create_order(shop: ShopState, given: Any, now: datetime) -> tuple[int, dict[str, Any]]:
    """The status and body of the answer: 201 with the order, or 422 with Shopify's errors."""
    if not isinstance(given, dict) or not isinstance(given.get("order"), dict):
        return 400, {"errors": {"order": "Required parameter missing or invalid"}}
    order_in = given["order"]
    items = order_in.get("line_items")
    if not isinstance(items, list) or not items:
        return 422, {"errors": {"line_items": ["must have at least one line item"]}}
    email = str(order_in.get("email") or "").strip()
    if email and not EMAIL.match(email):
        return 422, {"errors": {"email": ["is invalid"]}}
    lines, total = [], 0
    oid = ORDER_BASE + len(shop.orders) * 104_729
    for n, item in enumerate(items):
        try:
            price = int(Decimal(str(item.get("price", "0"))) * 100)
            quantity = int(item.get("quantity", 1))
        except (InvalidOperation, TypeError, ValueError, AttributeError):
            return 422, {"errors": {"line_items": ["is invalid"]}}
        total += price * quantity
        lines.append(
            {
                "id": oid * 10 + n,
                "product_id": item.get("product_id"),
                "variant_id": item.get("variant_id"),
                "sku": item.get("sku"),
                "title": str(item.get("title") or "Custom item"),
                "quantity": quantity,
                "price": money(price),
            }
        )
    customer = shop.by_email(email) if email else None
    if customer is None and email:
        customer = shop.create_customer({"email": email}, now)
    at = stamp(now)
    shop._order_number += 1
    brief = (
        {k: customer[k] for k in ("id", "email", "first_name", "last_name")} if customer else None
    )
    order = {
        "id": oid,
        "name": f"#{shop._order_number}",
        "order_number": shop._order_number,
        "email": email or None,
        "financial_status": str(order_in.get("financial_status") or "paid"),
        "fulfillment_status": None,
        "currency": str(order_in.get("currency") or "EUR"),
        "total_price": money(total),
        "subtotal_price": money(total),
        "total_tax": money(0),
        "total_discounts": money(0),
        "discount_codes": [],
        "line_items": lines,
        "customer": brief,
        "source_name": str(order_in.get("source_name") or "api"),
        "created_at": at,
        "updated_at": at,
        "processed_at": at,
        "cancelled_at": None,
        "closed_at": None,
    }
    shop.orders[oid] = order
    shop.catalog.order(order, False, now, money(0))
    if customer is not None:
        spent = int(Decimal(customer["total_spent"]) * 100) + total
        customer.update(
            orders_count=customer["orders_count"] + 1,
            total_spent=money(spent),
            last_order_id=oid,
            updated_at=at,
        )
    shop.tell("orders/create", order)
    return 201, {"order": order}
