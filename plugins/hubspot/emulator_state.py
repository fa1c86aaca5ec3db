"""The state of the HubSpot emulator: owners, contacts, deals with their contacts, and lists,
seeded from ``syncd.emulator.people``; and the search filters HubSpot understands."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.emulator.index import CheckedIndex
from syncd.emulator.people import Person, people, pick

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
)
LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "CONNECTED", "UNQUALIFIED")
# the emulator's one pipeline; won and lost are the closed stages
DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "negotiation", "closedwon", "closedlost")
OWNERS = (
    ("Alice", "Rep", "alice.rep@sales.example.com"),
    ("Bruno", "Seller", "bruno.seller@sales.example.com"),
    ("Carla", "Closer", "carla.closer@sales.example.com"),
)
#: HubSpot's own web-analytics, conversion and birth-date properties of a contact, which the
#: portal fills from the person's first visit, page views and forms
ANALYTICS_PROPERTIES = (
    "hs_analytics_source",
    "hs_analytics_source_data_1",
    "hs_analytics_source_data_2",
    "hs_latest_source",
    "hs_latest_source_data_1",
    "hs_latest_source_data_2",
    "hs_analytics_first_url",
    "hs_analytics_first_referrer",
    "hs_analytics_num_page_views",
    "first_conversion_event_name",
    "first_conversion_date",
    "recent_conversion_event_name",
    "recent_conversion_date",
    "num_conversion_events",
    "date_of_birth",
)
CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "city",
    "country",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
    "hs_legal_basis",
    "hs_email_optout",
    *ANALYTICS_PROPERTIES,
)
# custom properties the seeded account has, so values can be pushed into them
CUSTOM_PROPERTIES = ("syncd_segments", "loyalty_tier", "rfm_segment", "lead_score")
DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "closedate",
    "hubspot_owner_id",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
    "hs_is_closed",
    "hs_is_closed_won",
)
# the object types, by name (plural or singular) and by type id
OBJECT_TYPES = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
}
MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}


def stamp(at: datetime) -> str:
    """HubSpot's time: ISO 8601 in UTC with milliseconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def epoch_ms(value: Any) -> int | None:
    """A filter or property value as epoch milliseconds (numbers, digits or ISO text)."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000)


@dataclass
class CrmObject:
    id: str
    properties: dict[str, str]
    created: datetime
    updated: datetime
    contacts: list[str] = field(default_factory=list)  # deals: associated contact ids
    archived: datetime | None = None  # when it was archived (deleted)

    def render(self, names: list[str] | None) -> dict[str, Any]:
        props = self.properties
        shown = props if names is None else {n: props.get(n) for n in names}
        return {
            "id": self.id,
            "properties": shown,
            "createdAt": stamp(self.created),
            "updatedAt": stamp(self.updated),
            "archived": self.archived is not None,
            **({"archivedAt": stamp(self.archived)} if self.archived is not None else {}),
        }


@dataclass
class CrmList:
    id: str
    name: str
    processing: str
    created: datetime
    updated: datetime
    members: dict[str, datetime] = field(default_factory=dict)

    def render(self) -> dict[str, Any]:
        return {
            "listId": self.id,
            "name": self.name,
            "objectTypeId": "0-1",
            "processingType": self.processing,
            "processingStatus": "COMPLETE",
            "createdAt": stamp(self.created),
            "updatedAt": stamp(self.updated),
            "listVersion": 1,
            "size": len(self.members),
        }


def analytics(p: Person) -> dict[str, str]:
    """The analytics properties HubSpot sets for ``p``: its original source (the channel in
    capitals, with its drill-downs), the latest source (direct traffic when they came back
    later to send a form, else the original), page views, the first and most recent form
    submitted (HubSpot's "conversion events") and the birth date."""
    props: dict[str, str] = {"hs_analytics_num_page_views": str(len(p.visits))}
    if p.source is not None:
        src = p.source
        host = src.referrer.split("/")[2] if src.referrer else None
        # the drill-downs by source, as HubSpot documents them (docs/api/hubspot.md)
        drills = {
            "organic_search": (None, host),
            "referrals": (host, src.referrer),
        }.get(src.channel, (src.utm_campaign, src.utm_source))
        props.update(
            hs_analytics_source=src.channel.upper(),
            hs_analytics_first_url=f"https://shop.example.com{src.landing_page}",
        )
        for n, drill in enumerate(drills, start=1):
            if drill:
                props[f"hs_analytics_source_data_{n}"] = drill
        if src.referrer:
            props["hs_analytics_first_referrer"] = src.referrer
        latest = {"hs_latest_source": props["hs_analytics_source"]}
        if p.forms and p.forms[-1].at > src.at:
            latest = {"hs_latest_source": "DIRECT_TRAFFIC"}  # they came back to send a form
        else:
            latest.update(
                {
                    k.replace("hs_analytics_source", "hs_latest_source"): v
                    for k, v in props.items()
                    if k.startswith("hs_analytics_source_data")
                }
            )
        props.update(latest)
    if p.forms:
        first, recent = p.forms[0], p.forms[-1]
        props.update(
            first_conversion_event_name=first.form,
            first_conversion_date=stamp(first.at),
            recent_conversion_event_name=recent.form,
            recent_conversion_date=stamp(recent.at),
            num_conversion_events=str(len(p.forms)),
        )
    if p.birthday is not None:
        props["date_of_birth"] = p.birthday.isoformat()
    return props


class Portal:
    """One HubSpot account (portal)."""

    def __init__(self, seed: int, now: datetime, count: int) -> None:
        self.now = now
        self.next_id = 1000
        # told of every change (``touched(kind, obj)``, ``archived(kind, obj)``): webhooks
        self.observer: Any = None
        # contacts by lower-cased e-mail, the first made that holds it (checked when found)
        self.emails: CheckedIndex[CrmObject] = CheckedIndex(
            self._holds, lambda: self.objects["contacts"].values()
        )
        self.owners: list[dict[str, Any]] = []
        self.objects: dict[str, dict[str, CrmObject]] = {"contacts": {}, "deals": {}}
        # archived (deleted) objects: gone from reads, searches, lists and associations
        self.archived: dict[str, dict[str, CrmObject]] = {"contacts": {}, "deals": {}}
        self.lists: dict[str, CrmList] = {}
        self.properties = {
            "contacts": set(CONTACT_PROPERTIES) | set(CUSTOM_PROPERTIES),
            "deals": set(DEAL_PROPERTIES),
        }
        # enumeration properties (multi-checkbox): their options, which values must be among
        self.options: dict[str, list[dict[str, Any]]] = {"syncd_segments": []}
        rng = random.Random(f"hubspot-{seed}")
        for n, (first, last, email) in enumerate(OWNERS, start=1):
            self.owners.append(
                {
                    "id": str(70 + n),
                    "email": email,
                    "firstName": first,
                    "lastName": last,
                    "type": "PERSON",
                    "userId": 9000 + n,
                    "userIdIncludingInactive": 9000 + n,
                    "createdAt": stamp(now),
                    "updatedAt": stamp(now),
                    "archived": False,
                }
            )
        crowd = pick(people(seed, count, now=now), 0.7, "hubspot")
        for p in crowd:
            modified = now - timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86399))
            owner = rng.choice([*self.owners, None])
            props = {
                "email": p.email,
                "firstname": p.first_name,
                "lastname": p.last_name,
                "phone": p.phone,
                "city": p.city,
                "country": p.country,
                "lifecyclestage": rng.choice(LIFECYCLE_STAGES),
                "hs_lead_status": rng.choice(LEAD_STATUSES),
            }
            if owner is not None:
                props["hubspot_owner_id"] = owner["id"]
            if p.consent == "granted":
                props["hs_legal_basis"] = "Freely given consent from contact"
            props["hs_email_optout"] = "true" if p.consent == "revoked" else "false"
            props.update(analytics(p))
            self.add("contacts", props, p.created_at, modified)
        contact_ids = list(self.objects["contacts"])
        for n in range(max(1, len(contact_ids) // 4)):
            stage = rng.choice(DEAL_STAGES)
            modified = now - timedelta(days=rng.randint(0, 30), seconds=rng.randint(0, 86399))
            props = {
                "dealname": f"Deal {n + 1}",
                "amount": str(rng.randint(5, 500) * 100),
                "dealstage": stage,
                "pipeline": "default",
                "closedate": stamp(modified + timedelta(days=30)),
                "hubspot_owner_id": rng.choice(self.owners)["id"],
            }
            deal = self.add("deals", props, modified - timedelta(days=10), modified)
            deal.contacts = sorted(rng.sample(contact_ids, rng.randint(1, 2)), key=int)

    # --- objects ----------------------------------------------------------------------------

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def add(
        self, kind: str, props: dict[str, str], created: datetime, updated: datetime
    ) -> CrmObject:
        obj = CrmObject(self.new_id(), {}, created, updated)
        obj.properties = {**props, "hs_object_id": obj.id, "createdate": stamp(created)}
        self.objects[kind][obj.id] = obj
        self.touch(kind, obj, updated)
        return obj

    def touch(self, kind: str, obj: CrmObject, at: datetime) -> None:
        obj.updated = at
        obj.properties[MODIFIED[kind]] = stamp(at)
        if kind == "contacts":
            self.emails.note(obj.properties.get("email", "").lower(), obj)
        if kind == "deals":
            stage = obj.properties.get("dealstage", "")
            obj.properties["hs_is_closed"] = str(stage in ("closedwon", "closedlost")).lower()
            obj.properties["hs_is_closed_won"] = str(stage == "closedwon").lower()
        if self.observer is not None:
            self.observer.touched(kind, obj)

    def archive(self, kind: str, obj: CrmObject, at: datetime) -> None:
        """Archive ``obj``: it leaves reads, searches, list memberships and associations."""
        del self.objects[kind][obj.id]
        obj.archived = at
        self.archived[kind][obj.id] = obj
        if self.observer is not None:
            self.observer.archived(kind, obj)
        if kind == "contacts":
            for deal in self.objects["deals"].values():
                if obj.id in deal.contacts:
                    deal.contacts.remove(obj.id)
            for lst in self.lists.values():
                lst.members.pop(obj.id, None)
        else:
            obj.contacts = []

    def deals_of(self, contact_id: str) -> list[str]:
        """The ids of the deals associated with a contact."""
        return [d.id for d in self.objects["deals"].values() if contact_id in d.contacts]

    def by_email(self, email: str) -> CrmObject | None:
        """The contact with ``email`` (the first made, of any that share it), from the index
        every write keeps (``touch``): a push looks up thousands, and a scan each was
        quadratic. An entry whose contact is archived or took another e-mail since is looked
        for again among the contacts."""
        return self.emails.find(email.strip().lower())

    def _holds(self, obj: CrmObject, email: str) -> bool:
        return (
            self.objects["contacts"].get(obj.id) is obj
            and obj.properties.get("email", "").lower() == email
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "owners": self.owners,
            "contacts": [o.render(None) for o in self.objects["contacts"].values()],
            "deals": [
                {**o.render(None), "contacts": o.contacts} for o in self.objects["deals"].values()
            ],
            "archived": {kind: sorted(found, key=int) for kind, found in self.archived.items()},
            "options": self.options,
            "lists": [
                {**lst.render(), "members": sorted(lst.members, key=int)}
                for lst in self.lists.values()
            ],
        }


# --- search -----------------------------------------------------------------------------

OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
}


def matches(obj: CrmObject, flt: dict[str, Any]) -> bool:
    """One filter of a filter group against one object."""
    op = flt["operator"]
    have = obj.properties.get(flt["propertyName"])
    if op == "HAS_PROPERTY":
        return have not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return have in (None, "")
    if have in (None, ""):
        return op in ("NEQ", "NOT_IN")
    if op in ("IN", "NOT_IN"):
        found = str(have).lower() in {str(v).lower() for v in flt.get("values", [])}
        return found if op == "IN" else not found
    if op == "CONTAINS_TOKEN":
        return str(flt.get("value", "")).strip("*").lower() in str(have).lower()
    pair = _comparable(have, flt.get("value"))
    if op == "BETWEEN":
        high = _comparable(have, flt.get("highValue"))
        return pair is not None and high is not None and pair[1] <= pair[0] <= high[1]
    if pair is None:
        return False
    a, b = pair
    return {"EQ": a == b, "NEQ": a != b, "LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}[op]


def _comparable(have: str, value: Any) -> tuple[Any, Any] | None:
    """Both sides as epoch ms when both read as times, as numbers, else as lower text."""
    if value is None:
        return None
    a_ms, b_ms = epoch_ms(have), epoch_ms(value)
    if a_ms is not None and b_ms is not None and not str(have).lstrip("-").isdigit():
        return (a_ms, b_ms)
    try:
        return (float(have), float(value))
    except (TypeError, ValueError):
        return (str(have).lower(), str(value).lower())


def sort_key(obj: CrmObject, name: str) -> tuple[int, Any]:
    value = obj.properties.get(name)
    if value is None:
        return (1, 0)
    ms = epoch_ms(value) if not value.lstrip("-").isdigit() else None
    if ms is not None:
        return (0, ms)
    try:
        return (0, float(value))
    except ValueError:
        return (0, value.lower())
