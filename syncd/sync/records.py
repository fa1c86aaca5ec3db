"""Writing a pulled page into the store: contacts joined by e-mail, identities, attributes,
tags, list memberships, events; bad records quarantined. The caller commits the page and its
cursor in one transaction."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
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
from syncd.errors import first_line
from syncd.store.schema import events, identities
from syncd.sync.checks import (
    DEAL_STATUSES,
    LIST_STATUSES,
    Rejected,
    check_record,
    check_tag,
    moment,
    normalise_email,
    printable,
    refused_by_store,
    typed_attribute,
)
from syncd.sync.list_events import candidates, list_event
from syncd.sync.page_rows import PageRows


@dataclass
class PageWriter:
    """Writes the records of one connector instance's pages in an open transaction.

    Each record is checked and applied in memory in page order (a later record wins), then
    the page is written in a few set-based statements, however many records it holds.
    """

    conn: sa.Connection
    instance: str
    stream: str
    run_id: str | None
    now: datetime
    skip_events: frozenset[str] = frozenset()  # event types this instance does not count
    #: list event types made again for the statuses a contact holds, not only when a status is
    #: taken: the types came back after being skipped (``syncd.sync.pull``), and their events
    #: were dropped while the statuses stayed stored
    remake_events: frozenset[str] = frozenset()
    #: skip a contact record older (by the vendor's time) than the newest applied for its id:
    #: a webhook retried or delivered late; counted as ``stale``
    skip_older: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    #: the attributes the pages changed: (contact, name) pairs, the fields to resolve again
    touched_fields: set[tuple[int, str]] = field(default_factory=set)
    _page: PageRows = field(init=False, repr=False)

    @property
    def touched(self) -> set[int]:
        """The contacts whose attributes the pages changed."""
        return {contact for contact, _ in self.touched_fields}

    def write(self, records: Iterable[Record]) -> None:
        """Write one page: read what its records meet, apply them in order, store the rows.

        The page is written under a savepoint: when the store refuses a row after all (a limit
        the checks did not know), the page is written again in halves, down to the one record
        the store refuses, which is quarantined with the store's reason."""
        records = list(records)
        counts, touched = self.counts.copy(), set(self.touched_fields)
        try:
            with self.conn.begin_nested():
                self._write_page(records)
        except sa.exc.StatementError as exc:
            if not refused_by_store(exc):
                raise
            self.counts, self.touched_fields = counts, touched
            if len(records) > 1:
                half = len(records) // 2
                self.write(records[:half])
                self.write(records[half:])
                return
            self._page = PageRows(self.instance, self.now)
            self._quarantine(f"the store refused it: {first_line(exc.orig or exc)}", records[0])
            self._page.write(self.conn)

    def _write_page(self, records: list[Record]) -> None:
        checked = [_checked(record) for record in records]
        self._page = PageRows(self.instance, self.now)
        good = [r for r, (problem, _) in zip(records, checked, strict=True) if problem is None]
        emails, external_ids, event_ids = _lookups(good, self.now)
        self._page.read(
            self.conn,
            emails,
            external_ids,
            event_ids,
            with_tags=any(
                isinstance(r, TagRecord) or (isinstance(r, ContactRecord) and r.tags is not None)
                for r in good
            ),
            with_lists=any(
                isinstance(r, ListRecord) or (isinstance(r, ContactRecord) and r.lists is not None)
                for r in good
            ),
            with_attributes=any(isinstance(r, ContactRecord) and r.attributes for r in good),
        )
        for record, (problem, props) in zip(records, checked, strict=True):
            try:
                if problem is not None:
                    raise Rejected(problem)
                self._write_one(record, props)
            except Rejected as exc:
                self._quarantine(str(exc), record)
        self._page.write(self.conn)
        self.touched_fields.update(self._page.touched_fields)

    def _write_one(self, record: Record, props: Any = None) -> None:
        """Check ``record`` whole (raising Rejected) before it changes anything; ``props``:
        an event's properties as check_record returned them."""
        if isinstance(record, InvalidRecord):
            raise Rejected(record.reason)
        if isinstance(record, ContactRecord):
            self._contact(record)
            self.counts["contacts"] += 1
        elif isinstance(record, EventRecord):
            if record.type in self.skip_events:
                self.counts["events_skipped"] += 1
                return
            self._event(record, props)
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

    def _quarantine(self, reason: str, record: Any) -> None:
        raw = record.raw if isinstance(record, InvalidRecord) else record
        self._page.quarantine_rows.append(
            {
                "run_id": self.run_id,
                "connector": self.instance,
                "stream": self.stream,
                "reason": printable(reason, 2_000),
                "record": printable(_dump(raw)),
                "created_at": self.now,
            }
        )
        self.counts["quarantined"] += 1

    # --- contacts -----------------------------------------------------------------------

    def _contact(self, record: ContactRecord) -> None:
        page = self._page
        if not record.external_id:
            raise Rejected("no id")
        # a record without its e-mail is one changed property (an older one of another
        # property is news): neither checked nor kept; a whole contact's time is
        vendor_at = None
        if record.email is not None and isinstance(record.updated_at, datetime):
            vendor_at = as_utc(record.updated_at)
        kept = page.vendor_at.get(record.external_id)
        if self.skip_older and vendor_at is not None and kept is not None and vendor_at < kept:
            self.counts["stale"] += 1  # newer state of this contact is applied already
            return
        email: str | None = None
        if record.email is None:
            contact = page.identity(record.external_id)
            if contact is None:
                raise Rejected("no e-mail, and the contact's id is not known yet")
        else:
            email = normalise_email(record.email)
            contact = page.emails.get(email)
            known = page.identity(record.external_id)
            if known is not None and known != contact:
                raise Rejected(
                    f"conflict: contact id {record.external_id!r} is {page.email_of(known)} in "
                    f"the store, this record gives it {email}; not re-pointed"
                )
        for name in record.attributes:
            if not isinstance(name, str) or not name or len(name) > 200:
                raise Rejected(f"bad attribute name {name!r}")
        if record.lists is not None:
            for name, status in record.lists.items():
                if status not in LIST_STATUSES:
                    raise Rejected(
                        f"list {name!r}: status {status!r} is not subscribed or unsubscribed"
                    )
        values = {name: typed_attribute(name, value) for name, value in record.attributes.items()}
        wanted = list(dict.fromkeys(record.tags or []))
        held = page.tags.of(contact) if contact is not None else {}
        for tag in wanted:
            if tag not in held:  # a tag the contact holds already is left as it is
                check_tag(tag)
        # the record is good: from here on it only changes the page's rows
        if contact is None:
            assert email is not None
            contact = page.contact(email)
        page.put_identity(record.external_id, contact, record.consent, vendor_at)
        for name, (text, num, ts) in values.items():
            page.attribute_rows[(contact, name)] = {
                "contact_id": contact,
                "source": self.instance,
                "name": name,
                "value": text,
                "num": num,
                "ts": ts,
                "updated_at": self.now,
            }
        if record.tags is not None:
            for tag in set(page.tags.of(contact)) - set(wanted):
                page.tags.drop(contact, tag)
            scores = record.tag_scores
            for tag in wanted:
                row = page.tag_row(contact, tag, None, (scores or {}).get(tag))
                page.tags.put(row, ("score",) if scores is not None else (), own=False)
        began: list[EventRecord] = []
        if record.lists is not None:
            links = page.lists.of(contact)
            for name in set(links) - set(record.lists):
                page.lists.drop(contact, name)
            for name, status in record.lists.items():
                before = (links.get(name) or {}).get("status")
                row = page.list_row(contact, name, status, None)
                page.lists.put(row, ("status", "updated_at", "since"), own=False)
                took = before != status and links[name]["status"] == status
                kind = (record.list_events or {}).get(status)
                if kind is not None and (took or kind in self.remake_events):
                    began.append(list_event(record, name, status, self.now))
        page.updated.add(contact)
        for event in began:  # the contact is in the page now: its events can name it
            try:
                self._write_one(event, check_record(event))
            except Rejected as exc:
                self._quarantine(str(exc), event)

    # --- tags, lists and events on their own --------------------------------------------

    def _known_contact(self, external_id: str) -> int:
        contact = self._page.identity(external_id)
        if contact is None:
            raise Rejected(f"contact {external_id!r} is not known yet")
        return contact

    def _tag(self, record: TagRecord) -> None:
        contact = self._known_contact(record.contact_external_id)
        if record.present:
            check_tag(record.tag)
            row = self._page.tag_row(contact, record.tag, record.ref)
            self._page.tags.put(row, ("ref", "updated_at"), own=True)
        else:
            self._page.tags.drop(contact, record.tag)

    def _list(self, record: ListRecord) -> None:
        if record.status not in LIST_STATUSES:
            raise Rejected(
                f"list {record.list!r}: status {record.status!r} is not subscribed or unsubscribed"
            )
        contact = self._known_contact(record.contact_external_id)
        row = self._page.list_row(contact, record.list, record.status, record.ref)
        self._page.lists.put(row, ("status", "ref", "updated_at", "since"), own=True)

    def _event(self, record: EventRecord, props: Any) -> None:
        page = self._page
        if not record.external_id:
            raise Rejected("event without an id")
        if not record.type or len(record.type) > 100:
            raise Rejected(f"bad event type {record.type!r}")
        email: str | None = None
        contact: int | None = None
        ref = record.contact_external_id
        if record.email is not None:
            email = normalise_email(record.email)
            contact = page.emails.get(email)  # None: a contact the page makes
        elif ref is not None:
            contact = page.identity(ref)  # None: linked when known
        else:
            raise Rejected("event without a contact (no e-mail, no contact id)")
        occurred = moment(record.occurred_at, "event time")
        stored = page.event_owner(record.external_id)
        if stored is not None:
            contact = self._same_owner(record.external_id, stored, (contact, ref), email)
        if email is not None:
            contact = page.contact(email)
        page.event_rows[record.external_id] = {
            "source": self.instance,
            "external_id": record.external_id,
            "contact_id": contact,
            "contact_ref": record.contact_external_id,
            "type": record.type,
            "raw_type": record.raw_type,
            "occurred_at": occurred,
            "value": record.value,
            "properties": props,
        }

    def _same_owner(
        self,
        event: str,
        stored: tuple[int | None, str | None],
        given: tuple[int | None, str | None],
        email: str | None,
    ) -> int | None:
        """The contact of an event the store (or the page) has already: the one it had when
        the record names no other; an event is never moved to another contact."""
        (was, was_ref), (now, ref) = stored, given
        if was is not None and (now is not None or email is not None):
            moved = now != was
        else:
            moved = bool(ref and was_ref and ref != was_ref)
        if moved:
            page = self._page

            def who(contact: int | None, ref: str | None, email: str | None = None) -> str:
                if contact is not None:
                    return page.email_of(contact)
                return email or f"contact id {ref!r}"

            raise Rejected(
                f"conflict: event {event!r} belongs to {who(was, was_ref)}, this record gives it "
                f"to {who(now, ref, email)}; not moved"
            )
        return now if now is not None else was

    def _deal(self, record: DealRecord) -> None:
        if not record.external_id:
            raise Rejected("deal without an id")
        if record.status is not None and record.status not in DEAL_STATUSES:
            raise Rejected(f"deal status {record.status!r} is not open, won or lost")
        updated_at = record.updated_at or self.now
        moment(updated_at, "deal time")
        row = {
            "source": self.instance,
            "external_id": record.external_id,
            "name": record.name,
            "stage": record.stage,
            "status": record.status,
            "pipeline": record.pipeline,
            "owner": record.owner_email.strip().lower() if record.owner_email else None,
            "amount": record.amount,
            "updated_at": updated_at,
            "created_at": None
            if record.created_at is None
            else moment(record.created_at, "deal creation time"),
            "closed_at": None
            if record.closed_at is None
            else moment(record.closed_at, "deal close time"),
        }
        # the associations are the whole set: contacts this instance does not know are left out
        known = (self._page.identity(ref) for ref in record.contact_external_ids)
        self._page.deal_rows[record.external_id] = (row, {c for c in known if c is not None})


def _checked(record: Record) -> tuple[str | None, Any]:
    """Why ``record`` cannot be stored (None: it can), and an event's properties as stored."""
    try:
        return None, check_record(record)
    except Rejected as exc:
        return str(exc), None


def _lookups(records: list[Record], now: datetime) -> tuple[set[str], set[str], set[str]]:
    """The e-mails, this instance's contact ids and its event ids the page's records may look
    up (with the events a contact's lists may make, ``list_events``)."""
    emails: set[str] = set()
    external_ids: set[str] = set()
    event_ids: set[str] = set()
    for record in records:
        if isinstance(record, ContactRecord | EventRecord) and record.email is not None:
            with contextlib.suppress(Rejected):
                emails.add(normalise_email(record.email))
        if isinstance(record, EventRecord) and record.external_id:
            event_ids.add(record.external_id)
        if isinstance(record, ContactRecord) and record.external_id:
            external_ids.add(record.external_id)
            event_ids.update(e.external_id for e in candidates(record, now))
        elif isinstance(record, TagRecord | ListRecord | EventRecord):
            if record.contact_external_id is not None:
                external_ids.add(record.contact_external_id)
        elif isinstance(record, DealRecord):
            external_ids.update(record.contact_external_ids)
    return emails, external_ids, event_ids


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
