"""An ActiveCampaign order product as syncd's normalised line item (docs/events.md, "Line
items")."""

from __future__ import annotations

from typing import Any

from syncd.connectors import as_number


def order_item(product: Any, currency: Any) -> dict[str, Any] | str:
    """An ``ecomOrderProduct`` as syncd's normalised item (its price from cents to the order's
    currency), or what is wrong with it."""
    if not isinstance(product, dict):
        return "an order product that is not an object"
    cents, quantity = as_number(product.get("price")), as_number(product.get("quantity"))
    if cents is None and product.get("price") not in (None, ""):
        return f"product {product.get('id')}: price {product.get('price')!r} is not a number"
    if quantity is None or quantity != int(quantity):
        return f"product {product.get('id')}: quantity {product.get('quantity')!r} is not whole"
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
