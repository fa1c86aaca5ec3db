"""What HubSpot's own analytics and conversion properties of a contact say, in syncd's words:
where the person came from (original and latest source, with their drill-downs), the first
page seen and its referrer, page views, the birth date, and the forms submitted (HubSpot's
"conversion events": the first and the most recent, each with its form and time)."""

from __future__ import annotations

from typing import Any

from syncd.connectors import EventRecord, as_number, parse_time

#: HubSpot property → syncd field, for text values (sources lower-cased)
TEXT = {
    "hs_analytics_source": "source",
    "hs_analytics_source_data_1": "source_detail",
    "hs_latest_source": "latest_source",
    "hs_latest_source_data_1": "latest_source_detail",
    "hs_analytics_first_referrer": "referrer",
    "hs_analytics_first_url": "landing_page",
}
NUMBERS = {"hs_analytics_num_page_views": "page_views", "num_conversion_events": "form_submissions"}
LOWERED = ("hs_analytics_source", "hs_latest_source")
#: the fields this module fills, with their types
FIELDS = {
    **{name: "text" for name in TEXT.values()},
    **{name: "number" for name in NUMBERS.values()},
}
#: (property of the form's name, property of its time) of each conversion HubSpot keeps
CONVERSIONS = (
    ("first_conversion_event_name", "first_conversion_date"),
    ("recent_conversion_event_name", "recent_conversion_date"),
)
PROPERTIES = (*TEXT, *NUMBERS, "date_of_birth", *(p for pair in CONVERSIONS for p in pair))


def attributes(props: dict[str, Any]) -> dict[str, Any]:
    """The contact's source, page-view and birth-date fields from its properties (a property
    HubSpot sends empty is no value)."""
    found: dict[str, Any] = {}
    for prop, name in TEXT.items():
        value = str(props.get(prop) or "").strip()
        if value:
            found[name] = value.lower() if prop in LOWERED else value
    for prop, name in NUMBERS.items():
        number = as_number(props.get(prop))
        if number is not None:
            found[name] = number
    birth = str(props.get("date_of_birth") or "").strip()
    if birth:
        found["birthday"] = birth[:10]  # a date, or a datetime at midnight
    return found


def form_submissions(
    contact_id: str, email: str | None, props: dict[str, Any]
) -> list[EventRecord]:
    """A ``form_submitted`` event for the first and for the most recent form the contact sent
    (one when they are the same submission); keyed by contact and time, so reading the
    contact again gives the same events, and a newer recent form a new one."""
    events: dict[str, EventRecord] = {}
    for name_prop, date_prop in CONVERSIONS:
        at = parse_time(props.get(date_prop)) if props.get(date_prop) else None
        if at is None:
            continue
        key = f"form:{contact_id}:{int(at.timestamp() * 1000)}"
        form = str(props.get(name_prop) or "").strip() or None
        events.setdefault(
            key,
            EventRecord(
                external_id=key,
                type="form_submitted",
                occurred_at=at,
                contact_external_id=contact_id,
                email=email,
                raw_type=name_prop.removesuffix("_event_name"),
                properties={"form": form},
            ),
        )
    return list(events.values())
