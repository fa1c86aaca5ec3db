"""An ActiveCampaign order product as syncd's normalised line item (docs/events.md, "Line
items")."""

from __future__ import annotations

from typing import Any

from syncd.connectors import RecordError, as_number, number_at


def order_item(product: Any, currency: Any) -> dict[str, Any]:
    """An ``ecomOrderProduct`` as syncd's normalised item (its price from cents to the order's
    currency); a RecordError says what is wrong with it."""
    if not isinstance(product, dict):
        raise RecordError("an order product that is not an object")
    cents, quantity = number_at(product, "price"), as_number(product.get("quantity"))
    if quantity is None or quantity != int(quantity):
        raise RecordError(
            f"product {product.get('id')}: quantity {product.get('quantity')!r} is not whole"
        )
    texts = {k: str(product.get(k) or "").strip() or None for k in ("name", "sku", "category")}
    return {
        "product": texts["name"],
        "variant": None,  # AC's order products have no variant
        "sku": texts["sku"],
        "category": texts["category"],
        "vendor": None,  # nor a vendor
        "quantity": int(quantity),
        "price": round(cents / 100, 2) if cents is not None else None,
    }
