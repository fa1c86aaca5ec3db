"""Shopify REST rows → syncd records: customers as contacts (the ONE tag string split into a
list, e-mail marketing consent as granted / revoked), orders as ``order_placed`` and open
abandoned checkouts as ``checkout_abandoned`` events with their money and line items."""

from __future__ import annotations

from typing import Any

from syncd.clock import parse_time
from syncd.connectors.contract import ContactRecord, EventRecord, InvalidRecord, Record

#: email_marketing_consent.state → ContactRecord.consent ("not_subscribed", "pending",
#: "invalid": the customer said nothing either way)
CONSENT = {"subscribed": "granted", "unsubscribed": "revoked", "redacted": "revoked"}
FIELDS = {
    "shopify_orders_count": "number",
    "shopify_total_spent": "number",
    "shopify_state": "text",
}
EVENT_TYPES = frozenset({"order_placed", "order_cancelled", "checkout_abandoned"})
LINE_ITEM_KEYS = ("product_id", "variant_id", "sku", "title", "quantity", "price")


def split_tags(value: Any) -> list[str]:
    """The customer's tag string as a list, in Shopify's order, without repeats."""
    if not isinstance(value, str):
        return []
    tags: list[str] = []
    for tag in value.split(","):
        tag = tag.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _email(row: dict[str, Any]) -> str | None:
    email = row.get("email")
    return email.strip() if isinstance(email, str) and email.strip() else None


def customer_record(row: dict[str, Any]) -> Record:
    """One customer as a contact."""
    cid = row.get("id")
    if cid in (None, ""):
        return InvalidRecord("Shopify customer without an id", row)
    email = _email(row)
    if email is None:
        return InvalidRecord(f"Shopify customer {cid} has no e-mail", row)
    attributes: dict[str, Any] = {
        key: str(row[key]).strip() for key in ("first_name", "last_name") if row.get(key)
    }
    address = row.get("default_address")
    address = address if isinstance(address, dict) else {}
    phone = row.get("phone") or address.get("phone")
    if phone:
        attributes["phone"] = str(phone)
    if address.get("city"):
        attributes["city"] = str(address["city"])
    if address.get("country_code"):
        attributes["country"] = str(address["country_code"])
    if row.get("orders_count") is not None:
        attributes["shopify_orders_count"] = _number(row["orders_count"])
    spent = _number(row.get("total_spent"))
    if spent is not None:
        attributes["shopify_total_spent"] = spent
    if row.get("state"):
        attributes["shopify_state"] = str(row["state"])
    consent = row.get("email_marketing_consent")
    state = consent.get("state") if isinstance(consent, dict) else None
    return ContactRecord(
        external_id=str(cid),
        email=email,
        attributes=attributes,
        tags=split_tags(row.get("tags")),
        consent=CONSENT.get(str(state)) if state else None,
        updated_at=parse_time(row.get("updated_at")),
    )


def _customer_id(row: dict[str, Any]) -> str | None:
    customer = row.get("customer")
    if isinstance(customer, dict) and customer.get("id") is not None:
        return str(customer["id"])
    return None


def _items(row: dict[str, Any]) -> list[dict[str, Any]]:
    items = row.get("line_items")
    return [
        {k: item.get(k) for k in LINE_ITEM_KEYS}
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]


def _purchase_properties(row: dict[str, Any]) -> dict[str, Any]:
    items = _items(row)
    return {
        "currency": row.get("currency"),
        "line_items": items,
        "skus": [i["sku"] for i in items if i.get("sku")],
        "products": [i["title"] for i in items if i.get("title")],
        "quantity": sum(int(i.get("quantity") or 0) for i in items),
    }


def order_record(row: dict[str, Any]) -> Record:
    """One order as an ``order_placed`` event; a cancelled one as ``order_cancelled`` at its
    cancellation, under the same id, so the purchase it replaces stops counting."""
    oid, at = row.get("id"), parse_time(row.get("created_at"))
    if oid in (None, "") or at is None:
        return InvalidRecord("Shopify order without an id or created_at", row)
    cancelled = parse_time(row.get("cancelled_at")) if row.get("cancelled_at") else None
    if row.get("cancelled_at") and cancelled is None:
        return InvalidRecord(f"Shopify order {oid}: unreadable cancelled_at", row)
    codes = row.get("discount_codes")
    properties = {
        "order_name": row.get("name"),
        "order_number": row.get("order_number"),
        **_purchase_properties(row),
        "subtotal": _number(row.get("subtotal_price")),
        "total_tax": _number(row.get("total_tax")),
        "total_discounts": _number(row.get("total_discounts")),
        "discount_codes": [
            c["code"]
            for c in (codes if isinstance(codes, list) else [])
            if isinstance(c, dict) and c.get("code")
        ],
        "financial_status": row.get("financial_status"),
        "fulfillment_status": row.get("fulfillment_status"),
        "source_name": row.get("source_name"),
        "cancelled": cancelled is not None,
        "placed_at": at.isoformat(),
    }
    return EventRecord(
        external_id=f"order/{oid}",
        type="order_cancelled" if cancelled else "order_placed",
        occurred_at=cancelled or at,
        contact_external_id=_customer_id(row),
        email=_email(row),
        raw_type="order",
        properties=properties,
        value=_number(row.get("total_price")),
    )


def checkout_record(row: dict[str, Any]) -> Record | None:
    """An abandoned checkout as a ``checkout_abandoned`` event; None once it was completed."""
    kid, at = row.get("id"), parse_time(row.get("created_at"))
    if kid in (None, "") or at is None:
        return InvalidRecord("Shopify checkout without an id or created_at", row)
    if row.get("completed_at"):
        return None  # the cart became an order: nothing was abandoned
    return EventRecord(
        external_id=f"checkout/{kid}",
        type="checkout_abandoned",
        occurred_at=at,
        contact_external_id=_customer_id(row),
        email=_email(row),
        raw_type="abandoned_checkout",
        properties=_purchase_properties(row),
        value=_number(row.get("total_price")),
    )
