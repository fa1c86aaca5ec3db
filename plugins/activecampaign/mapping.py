"""ActiveCampaign rows → syncd records. AC sends ids and numbers as strings, sometimes as
integers; times as ISO 8601 with the account's offset, or ``YYYY-MM-DD HH:MM:SS``."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from syncd.clock import parse_time
from syncd.connectors.contract import ContactRecord, EventRecord, InvalidRecord, Record

#: contact attributes syncd reads, under the names the other sources use
CONTACT_ATTRIBUTES = {"firstName": "first_name", "lastName": "last_name", "phone": "phone"}
#: ecomOrders state → syncd event type (0 pending and 4 waiting are not purchases yet)
ORDER_EVENTS = {"1": "order_placed", "2": "checkout_abandoned", "3": "order_placed"}
ACTIVITY_EVENTS = {"open": "email_opened", "click": "email_clicked"}


def parse_id(value: Any) -> str | None:
    """An AC id as text: ``"12"``, ``12`` and ``12.0`` are all ``"12"``; None if absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not text or text in ("0", "null"):
        return None
    return text


def sort_key(value: Any) -> str:
    """A bookmark value as text that sorts in time order (ids sort by number)."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return f"{int(value):020d}"
    at = parse_time(value)
    if at is not None:
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return str(value or "")


def contact_from(row: dict[str, Any]) -> Record:
    contact_id = parse_id(row.get("id"))
    email = row.get("email")
    if contact_id is None:
        return InvalidRecord("contact without an id", row)
    if not isinstance(email, str) or not email.strip():
        return InvalidRecord(f"contact {contact_id} has no e-mail", row)
    attributes = {
        name: str(row[key])
        for key, name in CONTACT_ATTRIBUTES.items()
        if row.get(key) not in (None, "")
    }
    return ContactRecord(
        external_id=contact_id,
        email=email.strip(),
        attributes=attributes,
        updated_at=parse_time(row.get("udate")),
    )


def activity_from(row: dict[str, Any]) -> Record:
    """An e-mail activity: an open or a click (with the link's URL)."""
    raw_type = str(row.get("event") or row.get("reltype") or row.get("type") or "").lower()
    kind = ACTIVITY_EVENTS.get(raw_type)
    if kind is None:
        return InvalidRecord(f"e-mail activity of unknown type {raw_type!r}", row)
    properties: dict[str, Any] = {}
    link = row.get("link") or row.get("url")
    if isinstance(link, dict):
        link = link.get("link") or link.get("url")
    if kind == "email_clicked" and link:
        properties["url"] = str(link)
    for key in ("campaignid", "subject", "messageid"):
        if row.get(key) not in (None, ""):
            properties[key] = row[key]
    return _event(row, "activity", kind, raw_type, row.get("tstamp"), properties)


def bounce_from(row: dict[str, Any]) -> Record:
    raw_type = str(row.get("bounceType") or row.get("type") or "").lower()
    code = str(row.get("code") or "")
    if raw_type not in ("hard", "soft"):
        # an SMTP status says it when the row does not: 5.x.x is permanent, 4.x.x transient
        raw_type = {"5": "hard", "4": "soft"}.get(code[:1], "")
    if not raw_type:
        return InvalidRecord("bounce that is neither hard nor soft", row)
    properties = {k: row[k] for k in ("code", "error", "campaignid") if row.get(k)}
    at = row.get("tstamp") or row.get("timestamp") or row.get("created_timestamp")
    return _event(row, "bounce", f"email_bounced_{raw_type}", raw_type, at, properties)


def order_from(row: dict[str, Any]) -> Record | None:
    """An e-commerce order or abandoned cart; None for states that are not events."""
    state = parse_id(row.get("state")) or "0"
    kind = ORDER_EVENTS.get(state)
    if kind is None:
        return None
    try:
        cents = float(row.get("totalPrice") or 0)
    except (TypeError, ValueError):
        return InvalidRecord(f"order total {row.get('totalPrice')!r} is not a number", row)
    at = row.get("orderDate") if kind == "order_placed" else None
    at = at or row.get("createdDate") or row.get("externalCreatedDate") or row.get("tstamp")
    properties = {
        k: row[k]
        for k in ("externalid", "externalcheckoutid", "currency", "connectionid", "customerid")
        if row.get(k) not in (None, "")
    }
    properties["state"] = state
    products = row.get("orderProducts")
    if isinstance(products, list):
        properties["products"] = products
    # a cart that was abandoned, then recovered, is one row: both events must survive
    record = _event(row, f"order:{kind}", kind, f"ecom_order_state_{state}", at, properties)
    if isinstance(record, EventRecord):
        record.value = round(cents / 100, 2)  # AC amounts are in cents
    return record


def _event(
    row: dict[str, Any],
    prefix: str,
    kind: str,
    raw_type: str,
    at: Any,
    properties: dict[str, Any],
) -> Record:
    row_id = parse_id(row.get("id"))
    if row_id is None:
        return InvalidRecord(f"{kind} without an id", row)
    occurred = parse_time(at)
    if occurred is None:
        return InvalidRecord(f"{kind} {row_id}: no readable time ({at!r})", row)
    contact = parse_id(row.get("contact") or row.get("subscriberid"))
    email = row.get("email") if isinstance(row.get("email"), str) and row["email"] else None
    if contact is None and email is None:
        return InvalidRecord(f"{kind} {row_id}: no contact and no e-mail", row)
    return EventRecord(
        external_id=f"{prefix}:{row_id}",
        type=kind,
        occurred_at=occurred,
        contact_external_id=contact,
        email=email,
        raw_type=raw_type,
        properties=properties,
    )
