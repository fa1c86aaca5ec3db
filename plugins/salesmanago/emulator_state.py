"""The state of one emulated SALESmanago account: contacts with their tags, properties,
opt-out flags and external events, and the asynchronous upsert jobs; the sample data made
from the shared crowd of ``syncd.emulator.people``, with tags that encode behaviour the way
SALESmanago users write them (``CHROME``, ``CENNIK (3)``, ``POPUP_PODSTRONA_BLOG``)."""

from __future__ import annotations

import random
import re
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncd.emulator.index import CheckedIndex
from syncd.emulator.people import Person, people, pick

EMAIL = re.compile(r"^[^@\s\"'<>,;]+@[^@\s\"'<>,;]+\.[A-Za-z]{2,}$")
CONTACT_KEYS = ("name", "phone", "company", "externalId", "state")
ADDRESS_KEYS = ("streetAddress", "zipCode", "city", "country")
BROWSERS = (("CHROME", 55), ("FIREFOX", 20), ("SAFARI", 20), ("EDGE", 5))
INTERESTS = ("KOSIARKA_AKUMULATOROWA", "KOSIARKA_SPALINOWA", "PODKASZARKA")
SCORING_TAG = "SCORING_ZAKUPY"


def ms(at: datetime) -> int:
    """A time as SALESmanago sends it: Unix milliseconds."""
    return int(at.timestamp() * 1000)


@dataclass
class UpsertJob:
    """A ``contact/batchupsertv2`` request, applied when it is due."""

    request_id: str
    owner: str
    details: list[dict[str, Any]]
    queued_at: float
    status: str = "IN_PROGRESS"
    contact_ids: dict[str, str] = field(default_factory=dict)


class AccountState:
    """Contacts by id; each a dict in the vendor's field names, tags and events inside."""

    def __init__(self, seed: int, now: datetime, people_count: int, owner: str) -> None:
        self.seed, self.owner = seed, owner
        self.rng = random.Random(f"salesmanago-{seed}")
        self.contacts: dict[str, dict[str, Any]] = {}
        # contacts by lower-cased e-mail, the first made of any that share one (checked when
        # found: a contact deleted for good, or changed by hand, is looked for again)
        self.emails: CheckedIndex[dict[str, Any]] = CheckedIndex(
            self._holds, lambda: self.contacts.values()
        )
        self.jobs: dict[str, UpsertJob] = {}
        self._ids = 0
        # every contact oldest first, and their modifiedOn, as of change number ``_changes``
        # (a paged read asks once a page: sorting all contacts each time was quadratic)
        self._changes = 0
        self._order: tuple[tuple[int, int], list[dict[str, Any]], list[Any]] | None = None
        for person in pick(people(seed, people_count, now=now), 0.8, "salesmanago"):
            self._seed_person(person, now)

    # --- reads ----------------------------------------------------------------------------

    def by_email(self, email: str) -> dict[str, Any] | None:
        """The contact with ``email``, from the index of e-mails (a push looks up thousands:
        a scan each was quadratic)."""
        return self.emails.find(email.strip().lower())

    def _holds(self, contact: dict[str, Any], email: str) -> bool:
        return self.contacts.get(contact["id"]) is contact and contact["email"].lower() == email

    def modified(self, start: int, end: int) -> list[dict[str, Any]]:
        """Contacts modified in ``[start, end]`` (ms), oldest first (then by id)."""
        _, order, stamps = self._ordered()
        return order[bisect_left(stamps, start) : bisect_right(stamps, end)]

    def _ordered(self) -> tuple[tuple[int, int], list[dict[str, Any]], list[Any]]:
        """All contacts by (modifiedOn, id) and their stamps, sorted again only after a
        change: a contact stamped (``stamp``), removed (``remove``) or added or deleted
        straight in ``contacts`` (its size changes)."""
        version = (self._changes, len(self.contacts))
        if self._order is None or self._order[0] != version:
            keyed = sorted((c["modifiedOn"], c["id"], c) for c in self.contacts.values())
            self._order = (version, [c for _, _, c in keyed], [m for m, _, _ in keyed])
        return self._order

    def all_tags(self) -> list[str]:
        return sorted({t for c in self.contacts.values() for t in c["_tags"]})

    # --- writes ---------------------------------------------------------------------------

    def new_id(self, salt: str) -> str:
        self._ids += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"salesmanago:{self.seed}:{self._ids}:{salt}"))

    def upsert(self, detail: dict[str, Any], now: int) -> dict[str, Any]:
        """One ``upsertDetails`` item (or a ``contact/upsert`` body) applied; the contact."""
        given = detail.get("contact") or {}
        email = str(given.get("email") or "").strip()
        contact = self.by_email(email)
        if contact is None:
            contact = self._blank(email, now)
        contact["deleted"] = False  # a contact sent again through the API is restored
        for key in CONTACT_KEYS:
            if given.get(key) not in (None, ""):
                contact[key] = given[key]
        address = given.get("address")
        if isinstance(address, dict):
            contact["address"].update({k: address[k] for k in ADDRESS_KEYS if k in address})
        for tag in detail.get("tags") or []:
            contact["_tags"].setdefault(str(tag), {"score": 0, "createdOn": now})
        for tag in detail.get("removeTags") or []:
            contact["_tags"].pop(str(tag), None)
        if detail.get("forceOptOut"):
            contact["optedOut"] = True
        elif detail.get("forceOptIn"):
            contact["optedOut"] = False
        properties = detail.get("properties")
        if isinstance(properties, dict):
            for name, value in properties.items():
                if value is None:
                    contact["_properties"].pop(str(name), None)
                else:
                    contact["_properties"][str(name)] = str(value)
        self.stamp(contact, now)
        return contact

    def stamp(self, contact: dict[str, Any], now: int) -> None:
        """``contact`` modified at ``now`` (ms): every change to a modifiedOn goes here."""
        contact["modifiedOn"] = now
        self._changes += 1

    def remove(self, contact: dict[str, Any]) -> None:
        """``contact`` gone for good."""
        del self.contacts[contact["id"]]
        self._changes += 1

    def add_event(self, contact: dict[str, Any], event: dict[str, Any], now: int) -> str:
        event_id = self.new_id("event")
        contact["_events"].append({**event, "eventId": event_id})
        self.stamp(contact, now)
        return event_id

    def _blank(self, email: str, now: int) -> dict[str, Any]:
        contact_id = self.new_id(email)
        contact: dict[str, Any] = {
            "id": contact_id,
            "email": email,
            "name": None,
            "phone": None,
            "company": None,
            "externalId": None,
            "state": "PROSPECT",
            "score": 0,
            "optedOut": False,
            "optedOutPhone": False,
            "deleted": False,
            "invalid": False,
            "createdOn": now,
            "modifiedOn": now,
            "lastVisit": None,
            "address": {k: None for k in ADDRESS_KEYS},
            "_tags": {},
            "_properties": {},
            "_events": [],
        }
        self.contacts[contact_id] = contact
        self._changes += 1
        self.emails.note(email.lower(), contact)
        return contact

    # --- the sample account ---------------------------------------------------------------

    def _seed_person(self, person: Person, now: datetime) -> None:
        rng = self.rng
        created = ms(person.created_at)
        c = self._blank(person.email, created)
        c.update(name=f"{person.first_name} {person.last_name}", phone=person.phone)
        c["address"].update(city=person.city, country=person.country)
        c["optedOut"] = person.consent == "revoked"
        tags: dict[str, dict[str, Any]] = c["_tags"]
        browser = rng.choices([b for b, _ in BROWSERS], [w for _, w in BROWSERS])[0]
        tags[browser] = {"score": 0, "createdOn": created}
        pricing = [v for v in person.visits if v.url == "/pricing"]
        if pricing:
            # the counter in the tag text: visited the pricing page N times
            tags[f"CENNIK ({len(pricing)})"] = {"score": 0, "createdOn": ms(pricing[-1].at)}
        if any(v.url == "/blog" for v in person.visits) and person.consent == "granted":
            tags["POPUP_PODSTRONA_BLOG"] = {"score": 0, "createdOn": created}
        # who reads the price list often is mostly after the battery mower
        interest = INTERESTS[0] if len(pricing) >= 2 and rng.random() < 0.7 else None
        if interest is None and rng.random() < 0.4:
            interest = rng.choice(INTERESTS)
        if interest is not None:
            tags[interest] = {"score": 0, "createdOn": created}
        if person.orders:
            points = 10 * len(person.orders)
            tags[SCORING_TAG] = {"score": points, "createdOn": ms(person.orders[0].placed_at)}
            c["state"] = "CUSTOMER"
        c["_properties"].update({"city": person.city, "source": rng.choice(["shop", "popup"])})
        events = c["_events"]
        for order in person.orders:
            events.append(
                {
                    "eventId": self.new_id(order.key),
                    "contactExtEventType": "PURCHASE",
                    "date": ms(order.placed_at),
                    "description": f"Order {order.key}",
                    "products": ",".join(i.product.sku for i in order.items),
                    "value": round(order.total_cents / 100, 2),
                    "externalId": order.key,
                    "shopDomain": "shop.example.com",
                    "location": "shop_example_com",
                    "detail1": order.currency,
                }
            )
        for cart in person.carts:
            if not cart.recovered:
                events.append(
                    {
                        "eventId": self.new_id(cart.key),
                        "contactExtEventType": "CART",
                        "date": ms(cart.created_at),
                        "products": ",".join(i.product.sku for i in cart.items),
                        "value": round(cart.total_cents / 100, 2),
                        "externalId": cart.key,
                        "shopDomain": "shop.example.com",
                    }
                )
        for n, visit in enumerate(person.visits):
            events.append(
                {
                    "eventId": self.new_id(f"{person.key}-visit-{n}"),
                    "contactExtEventType": "VISIT",
                    "date": ms(visit.at),
                    "description": visit.url,
                    "location": "shop_example_com",
                }
            )
            if visit.url == "/pricing" and rng.random() < 0.3:
                events.append(
                    {
                        "eventId": self.new_id(f"{person.key}-download-{n}"),
                        "contactExtEventType": "DOWNLOAD",
                        "date": ms(visit.at) + 30_000,
                        "description": "cennik-2024.pdf",
                    }
                )
        c["score"] = sum(t["score"] for t in tags.values()) + len(person.visits)
        stamps = [created, *(t["createdOn"] for t in tags.values())]
        stamps += [e["date"] for e in events]
        self.stamp(c, min(max(stamps), ms(now)))
        c["lastVisit"] = ms(person.visits[-1].at) if person.visits else None
