"""The ActiveCampaign emulator's state: the account's tables, its sample data, the changes the
API makes to them (every change to a contact moves its ``udate``) and the bulk-import queue."""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from syncd.emulator.people import people
from syncd_plugins.activecampaign.emulator_sample import seed_account

#: the account's time zone: AC answers in it (fixed here, no daylight saving)
ACCOUNT_TZ = timezone(timedelta(hours=-5))
EMAIL = re.compile(r"^[^@\s'\"<>]+@[^@\s'\"<>]+\.[A-Za-z]{2,}$")
TABLES = (
    "users",
    "connections",
    "contacts",
    "tags",
    "contactTags",
    "lists",
    "contactLists",
    "fields",
    "fieldValues",
    "emailActivities",
    "trackingLogs",
    "bounceLogs",
    "ecomCustomers",
    "ecomOrders",
    "ecomOrderProducts",
    "forms",
)


#: the most listings held at once (each a list of references to the rows)
MAX_LISTINGS = 32
#: rows looked up by these keys on every write are indexed (the keys never change)
INDEXES = {
    "contacts": ("_email",),
    "tags": ("_name",),
    "contactTags": ("contact", "tag"),
    "contactLists": ("contact", "list"),
    "fieldValues": ("contact", "field"),
}


def ac_time(at: datetime) -> str:
    """``2024-05-01T07:00:00-05:00``: how AC writes cdate, udate, tstamp, createdDate..."""
    return at.astimezone(ACCOUNT_TZ).isoformat(timespec="seconds")


def stamp(at: datetime, tz: timezone = ACCOUNT_TZ) -> str:
    """``2024-05-01 07:00:00``: how AC writes created_timestamp and updated_timestamp."""
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 date or time as clients send it; without a zone it is the account's."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=ACCOUNT_TZ)


@dataclass
class Batch:
    """One queued bulk import."""

    id: str
    contacts: list[dict[str, Any]]
    queued_at: datetime
    status: str = "inprogress"
    success: list[str] = field(default_factory=list)  # contact ids
    failure: list[str] = field(default_factory=list)  # e-mails


class AccountState:
    """Rows by table and id. Values are as AC sends them (strings), except times, kept as
    datetimes and written out by the emulator; keys starting with ``_`` are never sent."""

    def __init__(self, seed: int, now: datetime, count: int = 200) -> None:
        self.rng = random.Random(f"activecampaign-{seed}")
        self.tables: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in TABLES}
        self.next_ids: dict[str, int] = dict.fromkeys(TABLES, 1)
        self.batches: dict[str, Batch] = {}
        self.index: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {t: {} for t in INDEXES}
        # listings (filtered and ordered rows) by query, good until the account next changes
        self.listings: dict[Any, list[dict[str, Any]]] = {}
        # told of each change a webhook reports: (AC's event type, the contact id, details)
        self.observer: Callable[[str, str, dict[str, Any]], None] | None = None
        seed_account(self, people(seed, count, now=now), now)

    def tell(self, event: str, contact_id: str, **details: Any) -> None:
        if self.observer is not None:
            self.observer(event, contact_id, details)

    @staticmethod
    def blank_contact(email: str, now: datetime) -> dict[str, Any]:
        return new_contact(email, now)

    # --- reading ----------------------------------------------------------------------------

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.tables[table].values())

    def listing(self, key: Any, build: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The rows ``build`` lists for ``key``, built once until the account next changes: a
        listing read page by page is filtered and sorted once, not once a page."""
        rows = self.listings.get(key)
        if rows is None:
            if len(self.listings) >= MAX_LISTINGS:
                self.listings.clear()
            rows = self.listings[key] = build()
        return rows

    def changed(self) -> None:
        """Every change to a row says so here: the listings built before it are dropped."""
        self.listings.clear()

    def get(self, table: str, id_: Any) -> dict[str, Any] | None:
        try:
            return self.tables[table].get(int(id_))
        except (TypeError, ValueError):
            return None

    def find(self, table: str, **match: Any) -> dict[str, Any] | None:
        keys = INDEXES.get(table)
        if keys is not None and set(keys) == set(match):
            return self.index[table].get(tuple(match[k] for k in keys))
        for row in self.tables[table].values():
            if all(row.get(k) == v for k, v in match.items()):
                return row
        return None

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        return self.find("contacts", _email=email.strip().lower())

    def tag_by_name(self, name: str) -> dict[str, Any] | None:
        return self.find("tags", _name=name.strip().lower())

    # --- writing ----------------------------------------------------------------------------

    def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        self.changed()
        id_ = self.next_ids[table]
        self.next_ids[table] = id_ + 1
        row["id"] = str(id_)
        self.tables[table][id_] = row
        if table in INDEXES:
            self.index[table][tuple(row[k] for k in INDEXES[table])] = row
        return row

    def touch(self, contact_id: str, now: datetime) -> None:
        self.changed()
        contact = self.get("contacts", contact_id)
        if contact is not None:  # max: the seed writes history out of order
            contact["udate"] = max(contact["udate"], now)
            contact["updated_utc_timestamp"] = contact["udate"]

    def link(self, table: str, now: datetime, **row: Any) -> dict[str, Any]:
        """A new row of ``table`` that ties ``row["contact"]`` to a tag, a list or a field,
        stamped ``now``; the contact is updated by it."""
        linked = self.insert(table, {**row, "created_timestamp": now, "updated_timestamp": now})
        self.touch(row["contact"], now)
        return linked

    def sync_contact(self, data: dict[str, Any], now: datetime) -> tuple[dict[str, Any], bool]:
        """Create or update the contact with ``data["email"]``; True when created."""
        contact = self.contact_by_email(data["email"])
        created = contact is None
        if contact is None:
            contact = self.insert("contacts", new_contact(data["email"], now))
        changed = created
        for key in ("firstName", "lastName", "phone"):
            if key in data and data[key] is not None and contact[key] != str(data[key]):
                contact[key] = str(data[key])
                changed = True
        if changed:
            self.touch(contact["id"], now)
            if not created:
                self.tell("update", contact["id"])
        return contact, created

    def reindex(self, table: str, row: dict[str, Any], **changes: Any) -> None:
        """Change ``row``'s indexed keys, keeping the index right."""
        self.changed()
        keys = INDEXES[table]
        del self.index[table][tuple(row[k] for k in keys)]
        row.update(changes)
        self.index[table][tuple(row[k] for k in keys)] = row

    def delete_contact(self, contact: dict[str, Any], now: datetime) -> None:
        """AC's delete: the contact is gone from every read; its links go with it."""
        self.changed()
        contact.update(deleted="1", udate=now, updated_utc_timestamp=now)
        for table in ("contactTags", "contactLists", "fieldValues"):
            for row in [r for r in self.rows(table) if r["contact"] == contact["id"]]:
                self.drop(table, row)

    def delete_tag(self, tag: dict[str, Any], now: datetime) -> None:
        for row in [r for r in self.rows("contactTags") if r["tag"] == tag["id"]]:
            self.drop("contactTags", row)
            self.touch(row["contact"], now)
        self.drop("tags", tag)

    def drop(self, table: str, row: dict[str, Any]) -> None:
        self.changed()
        del self.tables[table][int(row["id"])]
        if table in INDEXES:
            del self.index[table][tuple(row[k] for k in INDEXES[table])]

    def create_tag(self, name: str, tag_type: str, description: str, now: datetime) -> dict:
        return self.insert(
            "tags",
            {
                "tag": name,
                "tagType": tag_type,
                "description": description,
                "cdate": now,
                "subscriber_count": "0",
                "_name": name.strip().lower(),
            },
        )

    def add_tag(self, contact_id: str, tag_id: str, now: datetime) -> tuple[dict, bool]:
        """Tag a contact; an existing link is returned as is. True when created."""
        existing = self.find("contactTags", contact=contact_id, tag=tag_id)
        if existing is not None:
            return existing, False
        row = self.link(
            "contactTags",
            now,
            contact=contact_id,
            tag=tag_id,
            cdate=now,
            created_by=None,
            updated_by=None,
        )
        self.tell("contact_tag_added", contact_id, tag=tag_id)
        return row, True

    def remove_tag(self, link_id: int, now: datetime) -> bool:
        self.changed()
        row = self.tables["contactTags"].pop(link_id, None)
        if row is None:
            return False
        del self.index["contactTags"][(row["contact"], row["tag"])]
        self.touch(row["contact"], now)
        self.tell("contact_tag_removed", row["contact"], tag=row["tag"])
        return True

    def set_list_status(
        self,
        contact_id: str,
        list_id: str,
        status: int,
        now: datetime,
        *,
        resubscribe: bool,
        form: str = "0",
    ) -> dict[str, Any]:
        """Subscribe (1) or unsubscribe (2); without ``resubscribe`` an unsubscribed contact
        stays unsubscribed (as bulk import does). ``form``: the form a new subscription came
        through (0: none)."""
        row = self.find("contactLists", contact=contact_id, list=list_id)
        if row is None:
            row = self.link(
                "contactLists",
                now,
                contact=contact_id,
                list=list_id,
                status=str(status),
                form=form,
                sdate=now,
                udate=now,
                unsubreason=None,
            )
            self.tell("subscribe" if status == 1 else "unsubscribe", contact_id, list=list_id)
            return row
        if row["status"] == str(status) or (
            status == 1 and row["status"] == "2" and not resubscribe
        ):
            return row
        self.changed()
        row.update(status=str(status), udate=now, updated_timestamp=now)
        if status == 2:
            row["unsubreason"] = "Unsubscribed through the API"
        self.touch(contact_id, now)
        self.tell("subscribe" if status == 1 else "unsubscribe", contact_id, list=list_id)
        return row

    def set_field(self, contact_id: str, field_id: str, value: str, now: datetime) -> dict:
        row = self.find("fieldValues", contact=contact_id, field=field_id)
        if row is None:
            return self.link(
                "fieldValues",
                now,
                contact=contact_id,
                field=field_id,
                value=value,
                cdate=now,
                udate=now,
            )
        if row["value"] != value:
            self.changed()
            row.update(value=value, udate=now, updated_timestamp=now)
            self.touch(contact_id, now)
        return row

    # --- bulk import --------------------------------------------------------------------------

    def queue_import(self, contacts: list[dict[str, Any]], now: datetime) -> Batch:
        batch = Batch(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), contacts, now)
        self.batches[batch.id] = batch
        return batch

    def apply_due_imports(self, now: datetime, delay: float) -> None:
        for batch in self.batches.values():
            if batch.status == "inprogress" and now >= batch.queued_at + timedelta(seconds=delay):
                for item in batch.contacts:
                    self._import_one(batch, item, now)
                batch.status = "completed"

    def _import_one(self, batch: Batch, item: dict[str, Any], now: datetime) -> None:
        fields = item.get("fields") or []
        if any(self.get("fields", f.get("id")) is None for f in fields):
            batch.failure.append(item["email"])  # an unknown custom field
            return
        names = {"first_name": "firstName", "last_name": "lastName", "phone": "phone"}
        data = {names[k]: v for k, v in item.items() if k in names}
        contact, _ = self.sync_contact({"email": item["email"], **data}, now)
        cid = contact["id"]
        for name in item.get("tags") or []:
            tag = self.tag_by_name(str(name)) or self.create_tag(str(name), "contact", "", now)
            self.add_tag(cid, tag["id"], now)
        for f in fields:
            self.set_field(cid, str(f["id"]), str(f.get("value", "")), now)
        for status, key in ((1, "subscribe"), (2, "unsubscribe")):
            for entry in item.get(key) or []:
                if self.get("lists", entry.get("listid")) is not None:
                    self.set_list_status(cid, str(entry["listid"]), status, now, resubscribe=False)
        batch.success.append(cid)


def new_contact(email: str, now: datetime) -> dict[str, Any]:
    return {
        "email": email.strip(),
        "firstName": "",
        "lastName": "",
        "phone": "",
        "orgid": "0",
        "orgname": "",
        "cdate": now,
        "udate": now,
        "adate": None,
        "edate": None,
        "bounced_hard": "0",
        "bounced_soft": "0",
        "bounced_date": None,
        "hash": hashlib.md5(email.strip().lower().encode()).hexdigest(),
        "deleted": "0",
        "anonymized": "0",
        "created_utc_timestamp": now,
        "updated_utc_timestamp": now,
        "_email": email.strip().lower(),
    }
