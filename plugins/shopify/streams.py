"""What syncd reads from a shop, as the Admin REST API documents it:

    GET customers.json?updated_at_min=ISO&limit=250
    GET orders.json?status=any&updated_at_min=ISO&limit=250
    GET checkouts.json?status=any&updated_at_min=ISO&limit=250

then the ``Link`` header's ``rel="next"`` URL, which carries only ``limit`` and ``page_info``.
``updated_at_min`` is inclusive. Customers become contacts (the ONE tag string split into a
list, e-mail marketing consent as granted / revoked), orders ``order_placed`` events and open
abandoned checkouts ``checkout_abandoned`` events, with their money and line items.
"""

from __future__ import annotations

from typing import Any, ClassVar

from syncd.connectors import (
    ContactMap,
    EventRecord,
    InvalidRecord,
    LinkHeaderPaginator,
    Paginator,
    Record,
    RestStream,
    as_number,
    dig,
    parse_time,
    text_id,
)

#: email_marketing_consent.state → consent ("not_subscribed", "pending", "invalid": the
#: customer said nothing either way)
CONSENT = {"subscribed": "granted", "unsubscribed": "revoked", "redacted": "revoked"}
FIELDS = {
    "shopify_orders_count": "number",
    "shopify_total_spent": "number",
    "shopify_state": "text",
}
EVENT_TYPES = frozenset({"order_placed", "order_cancelled", "checkout_abandoned"})
LINE_ITEM_KEYS = (
    "product_id", "variant_id", "sku", "title", "quantity", "price", "product_type", "vendor"
)  # fmt: skip
#: where a customer holds its id, e-mail and update time; ``Customers.map`` reads the attributes
#: itself: their text trimmed, and the default address's phone for a customer without one
CUSTOMER = ContactMap(updated_at="updated_at", what="Shopify customer")


class ShopifyStream(RestStream):
    """One REST resource, read by ``updated_at``."""

    cursor_field = "updated_at"
    # pages come in id order: a record changed during a read may be on a page already read;
    # the bound stays at the read's start and the next read asks from a minute before it
    hold_at_start = True
    lookback = 60.0

    def paginator(self) -> Paginator:
        return LinkHeaderPaginator(self.page_size)

    def since(self, value: Any) -> dict[str, Any]:
        return {"updated_at_min": value}


class Customers(ShopifyStream):
    name = "customers"
    path = "customers.json"
    records = "customers"

    def map(self, row: dict[str, Any]) -> Record:
        contact = CUSTOMER.record(row)
        if isinstance(contact, InvalidRecord):
            return contact
        texts = {
            "first_name": row.get("first_name"),
            "last_name": row.get("last_name"),
            "phone": row.get("phone") or dig(row, "default_address.phone"),
            "city": dig(row, "default_address.city"),
            "country": dig(row, "default_address.country_code"),
            "shopify_state": row.get("state"),
        }
        numbers = {
            "shopify_orders_count": as_number(row.get("orders_count")),
            "shopify_total_spent": as_number(row.get("total_spent")),
        }
        contact.attributes = {k: str(v).strip() for k, v in texts.items() if v}
        contact.attributes.update({k: v for k, v in numbers.items() if v is not None})
        contact.tags = split_tags(row.get("tags"))
        state = dig(row, "email_marketing_consent.state")
        contact.consent = CONSENT.get(str(state)) if state else None
        return contact


class Orders(ShopifyStream):
    name = "orders"
    path = "orders.json"
    records = "orders"
    params: ClassVar[dict[str, Any]] = {"status": "any"}

    def map(self, row: dict[str, Any]) -> Record:
        """An ``order_placed`` event; a cancelled order ``order_cancelled`` at its cancellation,
        under the same id, so the purchase it replaces stops counting."""
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
            **_purchase(row),
            "subtotal": as_number(row.get("subtotal_price")),
            "total_tax": as_number(row.get("total_tax")),
            "total_discounts": as_number(row.get("total_discounts")),
            "discount_codes": [
                c["code"] for c in _list(codes) if isinstance(c, dict) and c.get("code")
            ],
            "financial_status": row.get("financial_status"),
            "fulfillment_status": row.get("fulfillment_status"),
            "source_name": row.get("source_name"),
            "cancelled": cancelled is not None,
            "placed_at": at.isoformat(),
        }
        kind = "order_cancelled" if cancelled else "order_placed"
        return _event(
            row, f"order/{oid}", kind, at=cancelled or at, raw="order", properties=properties
        )


class Checkouts(ShopifyStream):
    name = "checkouts"
    path = "checkouts.json"
    records = "checkouts"
    params: ClassVar[dict[str, Any]] = {"status": "any"}

    def map(self, row: dict[str, Any]) -> Record | None:
        """A ``checkout_abandoned`` event; None once it was completed (it became an order)."""
        kid, at = row.get("id"), parse_time(row.get("created_at"))
        if kid in (None, "") or at is None:
            return InvalidRecord("Shopify checkout without an id or created_at", row)
        if row.get("completed_at"):
            return None
        return _event(
            row,
            f"checkout/{kid}",
            "checkout_abandoned",
            at=at,
            raw="abandoned_checkout",
            properties=_purchase(row),
        )


def split_tags(value: Any) -> list[str]:
    """The customer's tag string (REST) or list (GraphQL) as a list, in Shopify's order,
    without repeats."""
    if isinstance(value, list):
        value = ",".join(str(t) for t in value)
    tags = (t.strip() for t in value.split(",")) if isinstance(value, str) else ()
    return list(dict.fromkeys(t for t in tags if t))


def _event(
    row: dict[str, Any], key: str, kind: str, *, at: Any, raw: str, properties: dict[str, Any]
) -> EventRecord:
    """A purchase or a cart as an event of the customer who made it, worth its total."""
    return EventRecord(
        external_id=key,
        type=kind,
        occurred_at=at,
        contact_external_id=text_id(dig(row, "customer.id")),
        email=_email(row),
        raw_type=raw,
        properties=properties,
        value=as_number(row.get("total_price")),
    )


def _purchase(row: dict[str, Any]) -> dict[str, Any]:
    items = [
        {k: item.get(k) for k in LINE_ITEM_KEYS}
        for item in _list(row.get("line_items"))
        if isinstance(item, dict)
    ]
    return {
        "currency": row.get("currency"),
        "line_items": items,
        "skus": [i["sku"] for i in items if i.get("sku")],
        "products": [i["title"] for i in items if i.get("title")],
        "quantity": sum(int(i.get("quantity") or 0) for i in items),
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _email(row: dict[str, Any]) -> str | None:
    email = row.get("email")
    return email.strip() if isinstance(email, str) and email.strip() else None
