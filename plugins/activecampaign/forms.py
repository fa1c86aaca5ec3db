"""Form submissions as ActiveCampaign keeps them: AC lists no submissions, but a list
subscription made through a form names it (``contactList.form``, with ``sdate``), so a
subscription through a form is a ``form_submitted`` event (docs/events.md)."""

from __future__ import annotations

from typing import Any

from syncd.connectors import EventRecord, InvalidRecord, Lookup, Record, parse_time, text_id


def form_of(row: dict[str, Any]) -> str | None:
    """The id of the form a membership was made through; None for none (AC writes 0)."""
    found = text_id(row.get("form"))
    return None if found in (None, "0", "null") else found


def form_submission(row: dict[str, Any], contact: str, name: str, forms: Lookup) -> Record | None:
    """The submission of the form ``row`` (a membership of the list ``name``) was made
    through, at its ``sdate``, keyed by the membership; None when it came no form's way."""
    form = form_of(row)
    if form is None:
        return None
    at = parse_time(row.get("sdate") or row.get("created_timestamp"))
    if at is None:
        return InvalidRecord(f"a subscription to {name!r} through a form, without a time", row)
    properties = {"form": forms.name(form) or form, "list": name}
    return EventRecord(
        f"form:{row.get('id')}",
        "form_submitted",
        at,
        contact,
        None,
        "contact_list_form",
        properties,
    )
