"""SALESmanago contacts (as ``contact/listById`` sends them) → syncd records.

Tags are kept as their text: ``CENNIK (3)`` stays ``CENNIK (3)`` and syncd's store reads the
counter. The opt-out flag is the contact's consent, and its e-mail subscription is shown as
one list (``consent_list``), since SALESmanago has no list object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syncd.connectors import ContactRecord, EventRecord, InvalidRecord, Record

#: contactExtEventType → syncd's normalised event type
EVENT_TYPES = {
    "PURCHASE": "order_placed",
    "TRANSACTION": "order_placed",
    "CART": "checkout_abandoned",
    "VISIT": "page_visited",
    "DOWNLOAD": "file_downloaded",
    "MEETING": "meeting_booked",
    "RETURN": "purchase_refunded",
    "CANCELLED": "order_cancelled",
    "CANCELLATION": "order_cancelled",
    "RESERVATION": "reservation_made",
    "OFFER": "offer_sent",
    "LOGIN": "logged_in",
    "ACTIVATION": "account_activated",
    "PHONE_CALL": "phone_call",
    "SURVEY": "survey_answered",
    "OTHER": "external_event",
}
EVENT_KEYS = ("description", "products", "location", "externalId", "shopDomain")
#: contact fields syncd reads, under the names the other sources use
CONTACT_FIELDS = {"phone": "phone", "company": "company", "state": "salesmanago_state"}


def parse_ms(value: Any) -> datetime | None:
    """A SALESmanago time (Unix milliseconds, as a number or text) as an aware datetime."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(float(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def contact_records(row: dict[str, Any], consent_list: str) -> list[Record]:
    """One contact and its external events."""
    contact_id = str(row.get("id") or row.get("contactId") or "").strip()
    email = row.get("email")
    if not contact_id:
        return [InvalidRecord("contact without an id", row)]
    if not isinstance(email, str) or not email.strip():
        return [InvalidRecord(f"contact {contact_id} has no e-mail", row)]
    if row.get("deleted"):
        return []  # a deleted contact is no longer a fact of this source
    attributes: dict[str, Any] = {
        ours: str(row[key])
        for key, ours in CONTACT_FIELDS.items()
        if row.get(key) not in (None, "")
    }
    name = str(row.get("name") or "").strip()
    if name:
        first, _, last = name.partition(" ")
        attributes["first_name"] = first
        if last:
            attributes["last_name"] = last.strip()
    address = row.get("address")
    address = address if isinstance(address, dict) else {}
    for key in ("city", "country"):
        if address.get(key):
            attributes[key] = str(address[key])
    if row.get("score") is not None:
        attributes["salesmanago_score"] = row["score"]
    tags: list[str] = []
    for tag in row.get("contactTags") or []:
        text = tag.get("tag") if isinstance(tag, dict) else tag
        if isinstance(text, str) and text.strip() and text not in tags:
            tags.append(text)
    for prop in row.get("properties") or []:
        if isinstance(prop, dict) and prop.get("name"):
            attributes[str(prop["name"])] = prop.get("value")
    opted_out = bool(row.get("optedOut"))
    records: list[Record] = [
        ContactRecord(
            external_id=contact_id,
            email=email.strip(),
            attributes=attributes,
            tags=tags,
            lists={consent_list: "unsubscribed" if opted_out else "subscribed"},
            consent="revoked" if opted_out else None,
            updated_at=parse_ms(row.get("modifiedOn")),
        )
    ]
    for event in row.get("contactExtEvents") or []:
        if isinstance(event, dict):
            records.append(event_record(event, contact_id, email.strip()))
    return records


def event_record(event: dict[str, Any], contact_id: str, email: str) -> Record:
    raw_type = str(event.get("contactExtEventType") or "").upper()
    kind = EVENT_TYPES.get(raw_type)
    event_id = str(event.get("eventId") or event.get("id") or "").strip()
    if kind is None:
        return InvalidRecord(f"external event of unknown type {raw_type!r}", event)
    if not event_id:
        return InvalidRecord(f"{raw_type} event without an id", event)
    occurred = parse_ms(event.get("date"))
    if occurred is None:
        return InvalidRecord(f"{raw_type} event {event_id}: no readable date", event)
    properties = {k: event[k] for k in EVENT_KEYS if event.get(k) not in (None, "")}
    properties.update(
        {k: v for k, v in event.items() if k.startswith("detail") and v not in (None, "")}
    )
    if raw_type == "VISIT" and event.get("description"):
        properties["url"] = event["description"]
    value: float | None = None
    if event.get("value") not in (None, ""):
        try:
            value = float(event["value"])
        except (TypeError, ValueError):
            return InvalidRecord(f"{raw_type} event {event_id}: value is not a number", event)
    return EventRecord(
        external_id=f"ext:{event_id}",
        type=kind,
        occurred_at=occurred,
        contact_external_id=contact_id,
        email=email,
        raw_type=raw_type,
        properties=properties,
        value=value,
    )
