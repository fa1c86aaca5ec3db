"""Writing a pulled page into the store: contacts joined by e-mail, identities, attributes,
tags, list memberships, events; bad records quarantined. The caller commits the page and its
cursor in one transaction."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.connectors.contract import (
    ContactRecord,
    DealRecord,
    EventRecord,
    InvalidRecord,
    ListRecord,
    Record,
    TagRecord,
)
from syncd.store.schema import (
    attributes,
    contacts,
    deal_contacts,
    deals,
    events,
    identities,
    memberships,
    quarantine,
    tags,
)
from syncd.store.upsert import upsert

EMAIL = re.compile(r"^[^@\s\"'<>,;]+@[^@\s\"'<>,;]+\.[^@\s\"'<>,;.]{2,}$")
COUNTER_TAG = re.compile(r"^(.*?)\s*\((\d+)\)\s*$")
LIST_STATUSES = {"subscribed", "unsubscribed"}
DEAL_STATUSES = {"open", "won", "lost"}


class Rejected(Exception):
    """A record that cannot be stored: it goes to quarantine with this reason."""


def normalise_email(raw: str | None) -> str:
    """Lower-cased and trimmed; raise Rejected for a missing or malformed address."""
    if raw is None or not str(raw).strip():
        raise Rejected("no e-mail")
    email = str(raw).strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        raise Rejected(f"malformed e-mail {raw!r}")
    return email


def split_counter(tag: str) -> tuple[str, int | None]:
    """``"CENNIK (3)"`` → ``("CENNIK", 3)``; a tag without a counter keeps None."""
    match = COUNTER_TAG.match(tag)
    if match and match.group(1):
        return match.group(1), int(match.group(2))
    return tag, None


def typed(value: Any) -> tuple[str | None, float | None, datetime | None]:
    """A value as text, and as a number and a time when it reads as one."""
    if value is None:
        return None, None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None, None
    if isinstance(value, int | float):
        return str(value), float(value), None
    if isinstance(value, datetime):
        ts = as_utc(value)
        return ts.isoformat(), None, ts
    text = str(value)
    num: float | None = None
    ts_value: datetime | None = None
    stripped = text.strip()
    try:
        num = float(stripped) if stripped and stripped[0] in "+-.0123456789" else None
    except ValueError:
        num = None
    if num is None and len(stripped) >= 10 and stripped[4] == "-" and stripped[7] == "-":
        try:
            parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            ts_value = as_utc(parsed)
        except ValueError:
            try:
                d = date.fromisoformat(stripped[:10])
                ts_value = datetime(d.year, d.month, d.day, tzinfo=UTC)
            except ValueError:
                ts_value = None
    return text, num, ts_value


@dataclass
class PageWriter:
    """Writes the records of one connector instance's pages in an open transaction."""

    conn: sa.Connection
    instance: str
    stream: str
    run_id: str | None
    now: datetime
    skip_events: frozenset[str] = frozenset()  # event types this instance does not count
    counts: Counter[str] = field(default_factory=Counter)
    touched: set[int] = field(default_factory=set)  # contacts whose attributes changed

    def write(self, records: Iterable[Record]) -> None:
        for record in records:
            try:
                with self.conn.begin_nested():
                    self._write_one(record)
            except Rejected as exc:
                self.quarantine(str(exc), record)

    def _write_one(self, record: Record) -> None:
        if isinstance(record, InvalidRecord):
            raise Rejected(record.reason)
        if isinstance(record, ContactRecord):
            self._contact(record)
            self.counts["contacts"] += 1
        elif isinstance(record, EventRecord):
            if record.type in self.skip_events:
                self.counts["events_skipped"] += 1
                return
            self._event(record)
            self.counts["events"] += 1
        elif isinstance(record, TagRecord):
            self._tag(record)
            self.counts["tags"] += 1
        elif isinstance(record, ListRecord):
            self._list(record)
            self.counts["lists"] += 1
        elif isinstance(record, DealRecord):
            self._deal(record)
            self.counts["deals"] += 1
        else:
            raise Rejected(f"not a record syncd knows: {type(record).__name__}")

    def quarantine(self, reason: str, record: Any) -> None:
        raw = getattr(record, "raw", record) if isinstance(record, InvalidRecord) else record
        self.conn.execute(
            quarantine.insert().values(
                run_id=self.run_id,
                connector=self.instance,
                stream=self.stream,
                reason=reason,
                record=_dump(raw),
                created_at=self.now,
            )
        )
        self.counts["quarantined"] += 1

    # --- contacts -----------------------------------------------------------------------

    def contact_by_email(self, email: str) -> int:
        found = self.conn.execute(
            sa.select(contacts.c.id).where(contacts.c.email == email)
        ).scalar_one_or_none()
        if found is not None:
            return int(found)
        upsert(
            self.conn,
            contacts,
            [{"email": email, "created_at": self.now, "updated_at": self.now}],
            ["email"],
        )
        return int(
            self.conn.execute(
                sa.select(contacts.c.id).where(contacts.c.email == email)
            ).scalar_one()
        )

    def contact_by_identity(self, external_id: str) -> int | None:
        found = self.conn.execute(
            sa.select(identities.c.contact_id).where(
                identities.c.connector == self.instance, identities.c.external_id == external_id
            )
        ).scalar_one_or_none()
        return int(found) if found is not None else None

    def _contact(self, record: ContactRecord) -> None:
        if not record.external_id:
            raise Rejected("no id")
        if record.email is None:
            contact_id = self.contact_by_identity(record.external_id)
            if contact_id is None:
                raise Rejected("no e-mail, and the contact's id is not known yet")
        else:
            contact_id = self.contact_by_email(normalise_email(record.email))
        for name in record.attributes:
            if not isinstance(name, str) or not name or len(name) > 200:
                raise Rejected(f"bad attribute name {name!r}")
        if record.lists is not None:
            for name, status in record.lists.items():
                if status not in LIST_STATUSES:
                    raise Rejected(
                        f"list {name!r}: status {status!r} is not subscribed or unsubscribed"
                    )
        identity = {"consent": record.consent} if record.consent else {}
        upsert(
            self.conn,
            identities,
            [
                {
                    "connector": self.instance,
                    "external_id": record.external_id,
                    "contact_id": contact_id,
                    "consent": record.consent,
                    "updated_at": self.now,
                }
            ],
            ["connector", "external_id"],
            ["contact_id", "updated_at", *identity],
        )
        if record.attributes:
            rows = []
            for name, value in record.attributes.items():
                text, num, ts = typed(value)
                rows.append(
                    {
                        "contact_id": contact_id,
                        "source": self.instance,
                        "name": name,
                        "value": text,
                        "num": num,
                        "ts": ts,
                        "updated_at": self.now,
                    }
                )
            upsert(
                self.conn,
                attributes,
                rows,
                ["contact_id", "source", "name"],
                ["value", "num", "ts", "updated_at"],
            )
            self.touched.add(contact_id)
        if record.tags is not None:
            self._replace_tags(contact_id, record.tags)
        if record.lists is not None:
            self._replace_lists(contact_id, record.lists)
        self.conn.execute(
            contacts.update().where(contacts.c.id == contact_id).values(updated_at=self.now)
        )

    def _replace_tags(self, contact_id: int, wanted: list[str]) -> None:
        held = set(
            self.conn.execute(
                sa.select(tags.c.tag).where(
                    tags.c.contact_id == contact_id, tags.c.source == self.instance
                )
            ).scalars()
        )
        gone = held - set(wanted)
        if gone:
            self.conn.execute(
                tags.delete().where(
                    tags.c.contact_id == contact_id,
                    tags.c.source == self.instance,
                    tags.c.tag.in_(gone),
                )
            )
        new = [t for t in dict.fromkeys(wanted) if t not in held]
        upsert(
            self.conn,
            tags,
            [self._tag_row(contact_id, t, None) for t in new],
            ["contact_id", "source", "tag"],
        )

    def _tag_row(self, contact_id: int, tag: str, ref: str | None) -> dict[str, Any]:
        if not tag.strip() or len(tag) > 255:
            raise Rejected(f"bad tag {tag!r}")
        name, count = split_counter(tag)
        return {
            "contact_id": contact_id,
            "source": self.instance,
            "tag": tag,
            "name": name,
            "count": count,
            "ref": ref,
            "managed": False,
            "updated_at": self.now,
        }

    def _replace_lists(self, contact_id: int, wanted: dict[str, str]) -> None:
        self.conn.execute(
            memberships.delete().where(
                memberships.c.contact_id == contact_id,
                memberships.c.source == self.instance,
                memberships.c.list.not_in(list(wanted)),
            )
        )
        rows = [
            {
                "contact_id": contact_id,
                "source": self.instance,
                "list": name,
                "status": status,
                "ref": None,
                "managed": False,
                "updated_at": self.now,
            }
            for name, status in wanted.items()
        ]
        upsert(
            self.conn, memberships, rows, ["contact_id", "source", "list"], ["status", "updated_at"]
        )

    # --- tags, lists and events on their own --------------------------------------------

    def _known_contact(self, external_id: str) -> int:
        contact_id = self.contact_by_identity(external_id)
        if contact_id is None:
            raise Rejected(f"contact {external_id!r} is not known yet")
        return contact_id

    def _tag(self, record: TagRecord) -> None:
        contact_id = self._known_contact(record.contact_external_id)
        if record.present:
            upsert(
                self.conn,
                tags,
                [self._tag_row(contact_id, record.tag, record.ref)],
                ["contact_id", "source", "tag"],
                ["ref", "updated_at"],
            )
        else:
            self.conn.execute(
                tags.delete().where(
                    tags.c.contact_id == contact_id,
                    tags.c.source == self.instance,
                    tags.c.tag == record.tag,
                )
            )

    def _list(self, record: ListRecord) -> None:
        if record.status not in LIST_STATUSES:
            raise Rejected(
                f"list {record.list!r}: status {record.status!r} is not subscribed or unsubscribed"
            )
        contact_id = self._known_contact(record.contact_external_id)
        row = {
            "contact_id": contact_id,
            "source": self.instance,
            "list": record.list,
            "status": record.status,
            "ref": record.ref,
            "managed": False,
            "updated_at": self.now,
        }
        upsert(
            self.conn,
            memberships,
            [row],
            ["contact_id", "source", "list"],
            ["status", "ref", "updated_at"],
        )

    def _event(self, record: EventRecord) -> None:
        if not record.external_id:
            raise Rejected("event without an id")
        if not record.type or len(record.type) > 100:
            raise Rejected(f"bad event type {record.type!r}")
        contact_id: int | None = None
        if record.email is not None:
            contact_id = self.contact_by_email(normalise_email(record.email))
        elif record.contact_external_id is not None:
            contact_id = self.contact_by_identity(record.contact_external_id)
        else:
            raise Rejected("event without a contact (no e-mail, no contact id)")
        occurred = as_utc(record.occurred_at)
        try:
            properties = json.loads(json.dumps(record.properties, default=str))
        except (TypeError, ValueError) as exc:
            raise Rejected(f"event properties are not JSON: {exc}") from None
        row = {
            "source": self.instance,
            "external_id": record.external_id,
            "contact_id": contact_id,
            "contact_ref": record.contact_external_id,
            "type": record.type,
            "raw_type": record.raw_type,
            "occurred_at": occurred,
            "value": record.value,
            "properties": properties,
        }
        upsert(
            self.conn,
            events,
            [row],
            ["source", "external_id"],
            ["contact_id", "contact_ref", "type", "raw_type", "occurred_at", "value", "properties"],
        )

    def _deal(self, record: DealRecord) -> None:
        if not record.external_id:
            raise Rejected("deal without an id")
        if record.status is not None and record.status not in DEAL_STATUSES:
            raise Rejected(f"deal status {record.status!r} is not open, won or lost")
        row = {
            "source": self.instance,
            "external_id": record.external_id,
            "name": record.name,
            "stage": record.stage,
            "status": record.status,
            "pipeline": record.pipeline,
            "owner": record.owner_email.strip().lower() if record.owner_email else None,
            "amount": record.amount,
            "updated_at": record.updated_at or self.now,
        }
        upsert(self.conn, deals, [row], ["source", "external_id"], list(row)[2:])
        # the associations are the whole set: contacts this instance does not know are left out
        found = {self.contact_by_identity(ref) for ref in record.contact_external_ids}
        self.conn.execute(
            deal_contacts.delete().where(
                deal_contacts.c.source == self.instance,
                deal_contacts.c.deal_id == record.external_id,
            )
        )
        rows = [
            {"source": self.instance, "deal_id": record.external_id, "contact_id": cid}
            for cid in sorted(c for c in found if c is not None)
        ]
        if rows:
            self.conn.execute(deal_contacts.insert(), rows)


def link_pending_events(conn: sa.Connection, instance: str) -> int:
    """Attach events that arrived before their contact to the contact, now that it is known."""
    match = (
        sa.select(identities.c.contact_id)
        .where(
            identities.c.connector == events.c.source,
            identities.c.external_id == events.c.contact_ref,
        )
        .scalar_subquery()
    )
    result = conn.execute(
        events.update()
        .where(
            events.c.source == instance,
            events.c.contact_id.is_(None),
            events.c.contact_ref.is_not(None),
        )
        .values(contact_id=match)
    )
    return int(result.rowcount or 0)


def _dump(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return json.dumps(_plain(raw), default=str, sort_keys=True)
    except (TypeError, ValueError):
        return repr(raw)


def _plain(raw: Any) -> Any:
    if hasattr(raw, "__dataclass_fields__"):
        return {k: getattr(raw, k) for k in raw.__dataclass_fields__}
    return raw
