"""The property definitions of the HubSpot emulator's portal, as ``/crm/v3/properties/{objectType}``
answers them: each property's name, label, group, ``type`` (string, number, datetime, date,
enumeration, bool) and ``fieldType`` (text, number, date, select, checkbox, booleancheckbox,
...), its options when it is an enumeration, and whether HubSpot defined it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syncd_plugins.hubspot.emulator_state import (
    DEAL_STAGES,
    LEAD_STATUSES,
    LIFECYCLE_STAGES,
    stamp,
)

# name: (label, type, fieldType, groupName)
Spec = tuple[str, str, str, str]
CONTACT_SPECS: dict[str, Spec] = {
    "email": ("Email", "string", "text", "contactinformation"),
    "firstname": ("First Name", "string", "text", "contactinformation"),
    "lastname": ("Last Name", "string", "text", "contactinformation"),
    "phone": ("Phone Number", "string", "phonenumber", "contactinformation"),
    "city": ("City", "string", "text", "contactinformation"),
    "country": ("Country/Region", "string", "text", "contactinformation"),
    "lifecyclestage": ("Lifecycle Stage", "enumeration", "radio", "contactinformation"),
    "hs_lead_status": ("Lead Status", "enumeration", "radio", "sales_properties"),
    "hubspot_owner_id": ("Contact owner", "enumeration", "select", "sales_properties"),
    "createdate": ("Create Date", "datetime", "date", "contactinformation"),
    "lastmodifieddate": ("Last Modified Date", "datetime", "date", "contactinformation"),
    "hs_object_id": ("Record ID", "number", "number", "contactinformation"),
    "hs_legal_basis": (
        "Legal basis for processing contact's data",
        "enumeration",
        "checkbox",
        "contactinformation",
    ),
    "hs_email_optout": (
        "Unsubscribed from all email",
        "bool",
        "booleancheckbox",
        "emailinformation",
    ),
    "hs_analytics_source": ("Original Source", "enumeration", "select", "analyticsinformation"),
    "hs_analytics_source_data_1": (
        "Original Source Drill-Down 1",
        "string",
        "text",
        "analyticsinformation",
    ),
    "hs_analytics_source_data_2": (
        "Original Source Drill-Down 2",
        "string",
        "text",
        "analyticsinformation",
    ),
    "hs_latest_source": ("Latest Source", "enumeration", "select", "analyticsinformation"),
    "hs_latest_source_data_1": (
        "Latest Source Drill-Down 1",
        "string",
        "text",
        "analyticsinformation",
    ),
    "hs_latest_source_data_2": (
        "Latest Source Drill-Down 2",
        "string",
        "text",
        "analyticsinformation",
    ),
    "hs_analytics_first_url": ("First Page Seen", "string", "text", "analyticsinformation"),
    "hs_analytics_first_referrer": (
        "First Referring Site",
        "string",
        "text",
        "analyticsinformation",
    ),
    "hs_analytics_num_page_views": (
        "Number of Pageviews",
        "number",
        "number",
        "analyticsinformation",
    ),
    "first_conversion_event_name": ("First Conversion", "string", "text", "conversioninformation"),
    "first_conversion_date": ("First Conversion Date", "datetime", "date", "conversioninformation"),
    "recent_conversion_event_name": (
        "Recent Conversion",
        "string",
        "text",
        "conversioninformation",
    ),
    "recent_conversion_date": (
        "Recent Conversion Date",
        "datetime",
        "date",
        "conversioninformation",
    ),
    "num_conversion_events": (
        "Number of Form Submissions",
        "number",
        "number",
        "conversioninformation",
    ),
    "date_of_birth": ("Date of birth", "string", "text", "contactinformation"),
}
#: HubSpot's source values (Original Source and Latest Source)
SOURCE_OPTIONS = (
    "ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
    "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL",
)  # fmt: skip
DEAL_SPECS: dict[str, Spec] = {
    "dealname": ("Deal Name", "string", "text", "dealinformation"),
    "amount": ("Amount", "number", "number", "dealinformation"),
    "dealstage": ("Deal Stage", "enumeration", "radio", "dealinformation"),
    "pipeline": ("Pipeline", "enumeration", "select", "dealinformation"),
    "closedate": ("Close Date", "datetime", "date", "dealinformation"),
    "hubspot_owner_id": ("Deal owner", "enumeration", "select", "dealinformation"),
    "createdate": ("Create Date", "datetime", "date", "dealinformation"),
    "hs_lastmodifieddate": ("Last Modified Date", "datetime", "date", "dealinformation"),
    "hs_object_id": ("Record ID", "number", "number", "dealinformation"),
    "hs_is_closed": ("Is Deal Closed?", "bool", "booleancheckbox", "dealinformation"),
    "hs_is_closed_won": ("Is closed won", "bool", "booleancheckbox", "dealinformation"),
}
SPECS = {"contacts": CONTACT_SPECS, "deals": DEAL_SPECS}
# the fixed options of HubSpot's own enumeration properties
FIXED_OPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("contacts", "lifecyclestage"): LIFECYCLE_STAGES,
    ("contacts", "hs_lead_status"): LEAD_STATUSES,
    ("contacts", "hs_legal_basis"): (
        "Legitimate interest - prospect/lead",
        "Legitimate interest - existing customer",
        "Performance of a contract",
        "Freely given consent from contact",
    ),
    ("contacts", "hs_analytics_source"): SOURCE_OPTIONS,
    ("contacts", "hs_latest_source"): SOURCE_OPTIONS,
    ("deals", "dealstage"): DEAL_STAGES,
    ("deals", "pipeline"): ("default",),
}


def option(value: str, order: int, label: str | None = None) -> dict[str, Any]:
    return {"label": label or value, "value": value, "displayOrder": order, "hidden": False}


def render_property(
    kind: str,
    name: str,
    options: list[dict[str, Any]] | None,
    owners: list[dict[str, Any]],
    created: datetime,
) -> dict[str, Any]:
    """One property definition. ``options`` are those of a custom enumeration (checkbox)
    property; HubSpot's own enumerations carry their fixed options (owners: the portal's)."""
    spec = SPECS.get(kind, {}).get(name)
    hubspot_defined = spec is not None
    if spec is None:  # a custom property of the portal
        checkbox = options is not None
        spec = (
            name.replace("_", " ").capitalize(),
            "enumeration" if checkbox else "string",
            "checkbox" if checkbox else "text",
            "contactinformation" if kind == "contacts" else "dealinformation",
        )
    label, kind_of, field_type, group = spec
    if name == "hubspot_owner_id":
        shown = [
            option(o["id"], i, f"{o['firstName']} {o['lastName']}") for i, o in enumerate(owners)
        ]
    elif (kind, name) in FIXED_OPTIONS:
        shown = [option(v, i) for i, v in enumerate(FIXED_OPTIONS[(kind, name)])]
    elif kind_of == "bool":
        shown = [option("true", 0, "Yes"), option("false", 1, "No")]
    else:
        shown = list(options or [])
    body: dict[str, Any] = {
        "name": name,
        "label": label,
        "description": "",
        "groupName": group,
        "type": kind_of,
        "fieldType": field_type,
        "options": shown,
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": name == "hubspot_owner_id",
        "hasUniqueValue": name == "hs_object_id",
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": kind == "contacts" and field_type != "date",
        "archived": False,
        "createdAt": stamp(created),
        "updatedAt": stamp(created),
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": name
            in ("createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_object_id"),
            "readOnlyOptions": hubspot_defined,
        },
    }
    return body
