"""SALESmanago contacts (as ``contact/listById`` sends them) → syncd records.

Tags are kept as their text: ``CENNIK (3)`` stays ``CENNIK (3)`` and syncd's store reads the
counter. The opt-out flag is the contact's consent, and its e-mail subscription is shown as
one list (``consent_list``), since SALESmanago has no list object. SALESmanago keeps no time
of an opt-out: the store makes an ``email_unsubscribed`` event when that list first turns
unsubscribed, at the contact's ``modifiedOn`` (``ContactRecord.list_events``).
"""

from __future__ import annotations

from typing import Any

from syncd.connectors import (
    ContactMap,
    EventRecord,
    InvalidRecord,
    Record,
    as_number,
    epoch_time,
    line_item,
    text_id,
)

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
#: the consent list turning unsubscribed (``optedOut`` first seen true): one event an opt-out
OPT_OUT_EVENTS = {"unsubscribed": "email_unsubscribed"}
EVENT_KEYS = ("description", "products", "location", "externalId", "shopDomain")
#: contact fields syncd reads, under the names the other sources use (the name, the score and
#: the properties are read by hand); ``contact/listById`` names the id ``id``, other calls
#: ``contactId``
CONTACT = ContactMap(
    {
        "phone": "phone",
        "company": "company",
        "state": "salesmanago_state",
        "address.city": "city",
        "address.country": "country",
    },
    id=("id", "contactId"),
)


def contact_records(row: dict[str, Any], consent_list: str) -> list[Record]:
    """One contact and its external events."""
    contact = CONTACT.record(row)
    if isinstance(contact, InvalidRecord):
        return [contact]
    if row.get("deleted"):
        return []  # a deleted contact is no longer a fact of this source
    attributes = contact.attributes
    name = str(row.get("name") or "").strip()
    if name:
        first, _, last = name.partition(" ")
        attributes["first_name"] = first
        if last:
            attributes["last_name"] = last.strip()
    if row.get("score") is not None:
        attributes["salesmanago_score"] = row["score"]
    for prop in row.get("properties") or []:
        if isinstance(prop, dict) and prop.get("name"):
            attributes[str(prop["name"])] = prop.get("value")
    tags: list[str] = []
    scores: dict[str, float] = {}  # a scoring tag's points (SCORING_ZAKUPY: 30)
    for tag in row.get("contactTags") or []:
        text = tag.get("tag") if isinstance(tag, dict) else tag
        if isinstance(text, str) and text.strip() and text not in tags:
            tags.append(text)
            score = as_number(tag.get("score")) if isinstance(tag, dict) else None
            if score is not None:
                scores[text] = score
    opted_out = bool(row.get("optedOut"))
    contact.tags = tags
    contact.tag_scores = scores
    contact.lists = {consent_list: "unsubscribed" if opted_out else "subscribed"}
    contact.consent = "revoked" if opted_out else None
    contact.list_events = OPT_OUT_EVENTS
    contact.updated_at = epoch_time(row.get("modifiedOn"), "ms")
    events = [e for e in row.get("contactExtEvents") or [] if isinstance(e, dict)]
    return [contact, *(event_record(e, contact.external_id, contact.email) for e in events)]


def event_items(products: Any, value: float | None) -> list[dict[str, Any]]:
    """The normalised items of a purchase or cart event. SALESmanago documents ``products``
    only as product ids, one or several after commas: an id is the item's product and SKU, a
    repeated id its quantity; a unit price is known only when one product makes the whole
    value, and a category, variant or vendor never."""
    ids = [p.strip() for p in str(products or "").split(",") if p.strip()]
    counts: dict[str, int] = {}
    for pid in ids:
        counts[pid] = counts.get(pid, 0) + 1
    only = len(counts) == 1 and value is not None
    return [
        line_item(
            quantity,
            round(value / quantity, 2) if only and value is not None else None,
            product=pid,
            sku=pid,
        )
        for pid, quantity in counts.items()
    ]


def event_record(event: dict[str, Any], contact_id: str, email: str | None) -> Record:
    raw_type = str(event.get("contactExtEventType") or "").upper()
    kind = EVENT_TYPES.get(raw_type)
    event_id = text_id(event.get("eventId") or event.get("id"))
    if kind is None:
        return InvalidRecord(f"external event of unknown type {raw_type!r}", event)
    if event_id is None:
        return InvalidRecord(f"{raw_type} event without an id", event)
    occurred = epoch_time(event.get("date"), "ms")
    if occurred is None:
        return InvalidRecord(f"{raw_type} event {event_id}: no readable date", event)
    # the keys read straight (none holds a dot): a contact may hold hundreds of events
    properties = {k: v for k in EVENT_KEYS if (v := event.get(k)) is not None and v != ""}
    properties.update(
        (k, v) for k, v in event.items() if k.startswith("detail") and v is not None and v != ""
    )
    if raw_type == "VISIT" and event.get("description"):
        properties["url"] = event["description"]
    value = as_number(event.get("value"))
    if value is None and event.get("value") not in (None, ""):
        return InvalidRecord(f"{raw_type} event {event_id}: value is not a number", event)
    if kind in ("order_placed", "checkout_abandoned"):
        properties["items"] = event_items(event.get("products"), value)
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
