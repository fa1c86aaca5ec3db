"""The store rows one page of records reads and writes: read in a few SELECTs, changed in
memory record by record, then written in a few set-based statements."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

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
from syncd.store.upsert import chunks, delete_many, insert_many, max_parameters, upsert_many

Rows = dict[int, dict[str, dict[str, Any]]]  # contact -> tag (or list) -> its row
Real = Callable[[int], int]  # a contact of the page -> its id in the store
COUNTER_TAG = re.compile(r"^(.*?)\s*\((\d+)\)\s*$")
#: a membership syncd itself ended (its unsubscribe, confirmed): unlike "unsubscribed", the
#: person's own, it does not forbid adding them back. A vendor reporting "unsubscribed" for
#: it is syncd's removal read back, so it stays so.
REMOVED = "removed"


def split_counter(tag: str) -> tuple[str, int | None]:
    """``"CENNIK (3)"`` → ``("CENNIK", 3)``; a tag without a counter keeps None."""
    match = COUNTER_TAG.match(tag)
    if match and match.group(1):
        return match.group(1), int(match.group(2))
    return tag, None


# What a page reads, built once: ``keys`` is the page's e-mails or ids, ``source`` the instance.
_KEYS: sa.BindParameter[list[Any]] = sa.bindparam("keys", expanding=True)
_SOURCE: sa.BindParameter[str] = sa.bindparam("source")
FIND_CONTACTS = sa.select(contacts.c.email, contacts.c.id).where(contacts.c.email.in_(_KEYS))
FIND_IDENTITIES = (
    sa.select(identities.c.external_id, identities.c.contact_id, identities.c.consent)
    .add_columns(identities.c.vendor_at, contacts.c.email)
    .join(contacts, contacts.c.id == identities.c.contact_id)
    .where(identities.c.connector == _SOURCE, identities.c.external_id.in_(_KEYS))
)
FIND_EVENTS = (
    sa.select(events.c.external_id, events.c.contact_id, events.c.contact_ref)
    .add_columns(contacts.c.email)
    .outerjoin(contacts, contacts.c.id == events.c.contact_id)
    .where(events.c.source == _SOURCE, events.c.external_id.in_(_KEYS))
)
FIND_ATTRIBUTES = sa.select(
    *(attributes.c[name] for name in ("contact_id", "name", "value", "num", "ts"))
).where(attributes.c.source == _SOURCE, attributes.c.contact_id.in_(_KEYS))
FIND_LINKS = {
    name: sa.select(table).where(table.c.source == _SOURCE, table.c.contact_id.in_(_KEYS))
    for name, table in (("tag", tags), ("list", memberships))
}


_AS_OF = ("updated_at", "since")  # when a link was written, and when it began


@dataclass
class LinkRows:
    """The tags (or list memberships) one source holds for the page's contacts, as the page
    leaves them, and what it did to each (contact, name) link, so that only the columns the
    records speak of are written over a row another writer may have changed meanwhile."""

    name: str  # the link's column: "tag" or "list"
    source: str
    rows: Rows = field(default_factory=dict)
    held: set[tuple[int, str]] = field(default_factory=set)  # as the page found them
    changed: set[tuple[int, str]] = field(default_factory=set)
    dropped: set[tuple[int, str]] = field(default_factory=set)  # removed at some point
    own: set[tuple[int, str]] = field(default_factory=set)  # said by a tag or list record

    def of(self, contact: int) -> dict[str, dict[str, Any]]:
        return self.rows.setdefault(contact, {})

    def put(self, row: dict[str, Any], update: Sequence[str], *, own: bool) -> None:
        """Add the link of ``row``; one already there takes the ``update`` columns only."""
        key = (row["contact_id"], row[self.name])
        links = self.of(key[0])
        old = links.get(key[1])
        if old is not None and not update:
            return
        if old is not None and old.get("status") == REMOVED and row.get("status") == "unsubscribed":
            row = {**row, "status": REMOVED}  # syncd's own removal, read back
        if old is not None and all(old.get(c) == row[c] for c in update if c not in _AS_OF):
            return  # the link as it stands: not written again (an echo costs nothing)
        merged = row if old is None else {**old, **{c: row[c] for c in update}}
        if old is not None and old.get("status") == row.get("status") and old.get("since"):
            merged["since"] = old["since"]  # the same tag, the same status: it began before
        links[key[1]] = merged
        self.changed.add(key)
        if own:
            self.own.add(key)

    def drop(self, contact: int, name: str) -> None:
        if self.of(contact).pop(name, None) is not None:
            self.changed.add((contact, name))
            self.dropped.add((contact, name))

    def write(
        self,
        conn: sa.Connection,
        table: sa.Table,
        real: Real,
        update: Sequence[str] | None,
        update_own: Sequence[str],
    ) -> None:
        """Delete what was dropped, then insert what stands; on a conflict a link the page's
        records spoke of takes ``update_own``, another ``update`` (None: left as it is)."""
        gone = sorted(self.dropped & self.held)
        delete_many(
            conn,
            table,
            [{"contact_id": c, "source": self.source, self.name: n} for c, n in gone],
        )
        keys = ["contact_id", "source", self.name]
        for own, columns in ((False, update), (True, update_own)):
            rows = [
                {**self.rows[c][n], "contact_id": real(c)}
                for c, n in sorted(self.changed)
                if ((c, n) in self.own) is own and n in self.rows.get(c, {})
            ]
            upsert_many(conn, table, rows, keys, columns)


@dataclass
class PageRows:
    """What a page will leave in the store, for the contacts, identities and rows it touches.

    A contact the page creates has a negative id until ``write`` inserts it.
    """

    instance: str
    now: datetime
    emails: dict[str, int] = field(default_factory=dict)
    identities: dict[str, tuple[int, str | None]] = field(default_factory=dict)  # consent
    vendor_at: dict[str, datetime] = field(default_factory=dict)  # newest record's vendor time
    new: dict[int, str] = field(default_factory=dict)  # new contact -> its e-mail
    updated: set[int] = field(default_factory=set)  # contacts a contact record wrote
    touched_fields: set[tuple[int, str]] = field(default_factory=set)  # attributes changed
    identity_rows: set[str] = field(default_factory=set)
    attribute_rows: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    event_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    deal_rows: dict[str, tuple[dict[str, Any], set[int]]] = field(default_factory=dict)
    quarantine_rows: list[dict[str, Any]] = field(default_factory=list)
    # what this source said of the page's contacts' attributes before: (value, num, ts)
    attributes_found: dict[tuple[int, str], tuple[Any, Any, Any]] = field(default_factory=dict)
    # the contact (and the source's contact id) of each of the page's events already stored
    events_found: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    tags: LinkRows = field(init=False)
    lists: LinkRows = field(init=False)

    def __post_init__(self) -> None:
        self.tags = LinkRows("tag", self.instance)
        self.lists = LinkRows("list", self.instance)

    # --- reading ------------------------------------------------------------------------

    def read(
        self,
        conn: sa.Connection,
        emails: Iterable[str],
        external_ids: Iterable[str],
        event_ids: Iterable[str] = (),
        *,
        with_tags: bool,
        with_lists: bool,
        with_attributes: bool = False,
    ) -> None:
        """Read the contacts of ``emails``, this instance's ``external_ids`` (with their
        contacts' e-mails) and ``event_ids`` (with their contacts), and the tags and list
        memberships this instance reported for all those contacts."""
        size = max_parameters(conn)

        def found(query: sa.Select[Any], keys: Iterable[Any]) -> Iterable[sa.Row[Any]]:
            for some in chunks(sorted(set(keys)), size):
                yield from conn.execute(query, {"source": self.instance, "keys": list(some)})

        for row in found(FIND_CONTACTS, emails):
            self.emails[row.email] = row.id
        for row in found(FIND_IDENTITIES, external_ids):
            self.identities[row.external_id] = (row.contact_id, row.consent)
            if row.vendor_at is not None:
                self.vendor_at[row.external_id] = row.vendor_at
            self.emails[row.email] = row.contact_id
        for row in found(FIND_EVENTS, event_ids):
            self.events_found[row.external_id] = (row.contact_id, row.contact_ref)
            if row.email is not None:
                self.emails[row.email] = row.contact_id
        known = set(self.emails.values()) | {c for c, _ in self.identities.values()}
        for row in found(FIND_ATTRIBUTES, known if with_attributes else ()):
            self.attributes_found[(row.contact_id, row.name)] = (row.value, row.num, row.ts)
        for links, wanted in ((self.tags, with_tags), (self.lists, with_lists)):
            for row in found(FIND_LINKS[links.name], known if wanted else ()):
                link = row._asdict()
                links.of(link["contact_id"])[link[links.name]] = link
                links.held.add((link["contact_id"], link[links.name]))

    # --- contacts and identities --------------------------------------------------------

    def contact(self, email: str) -> int:
        """The contact of ``email``, made (to be inserted) when there is none."""
        found = self.emails.get(email)
        if found is None:
            found = self.emails[email] = -(len(self.new) + 1)
            self.new[found] = email
        return found

    def email_of(self, contact: int) -> str:
        """The e-mail of a contact the page read or made."""
        return next((e for e, c in self.emails.items() if c == contact), f"contact {contact}")

    def event_owner(self, external_id: str) -> tuple[int | None, str | None] | None:
        """The contact and contact id an event has, as the page leaves it so far (None: no
        such event yet)."""
        row = self.event_rows.get(external_id)
        if row is not None:
            return row["contact_id"], row["contact_ref"]
        return self.events_found.get(external_id)

    def identity(self, external_id: str) -> int | None:
        known = self.identities.get(external_id)
        return known[0] if known is not None else None

    def put_identity(
        self,
        external_id: str,
        contact: int,
        consent: str | None,
        vendor_at: datetime | None = None,
    ) -> None:
        """Point ``external_id`` at ``contact``; the consent is kept when the record gives none,
        and the vendor's time of the record when it is newer than the one kept."""
        known = self.identities.get(external_id)
        if known is not None and not consent:
            consent = known[1]
        kept = self.vendor_at.get(external_id)
        newer = vendor_at is not None and (kept is None or vendor_at > kept)
        if newer:
            assert vendor_at is not None
            self.vendor_at[external_id] = vendor_at
        if known == (contact, consent) and not newer:
            return  # as it stands: not written again
        self.identities[external_id] = (contact, consent)
        self.identity_rows.add(external_id)

    # --- tags and lists -----------------------------------------------------------------

    def tag_row(
        self, contact: int, tag: str, ref: str | None, score: float | None = None
    ) -> dict[str, Any]:
        name, count = split_counter(tag)
        return {
            "score": score,
            "contact_id": contact,
            "source": self.instance,
            "tag": tag,
            "name": name,
            "count": count,
            "ref": ref,
            "managed": False,
            "updated_at": self.now,
            "since": self.now,  # the first time syncd saw it (kept while the tag stays)
        }

    def list_row(self, contact: int, name: str, status: str, ref: str | None) -> dict[str, Any]:
        return {
            "contact_id": contact,
            "source": self.instance,
            "list": name,
            "status": status,
            "ref": ref,
            "managed": False,
            "updated_at": self.now,
            "since": self.now,  # the first time syncd saw this status (kept while it stays)
        }

    # --- writing ------------------------------------------------------------------------

    def write(self, conn: sa.Connection) -> dict[int, int]:
        """Write every row the page changed; return the ids of the contacts it created."""
        ids = self._insert_contacts(conn)

        def real(contact: int) -> int:
            return ids[contact] if contact < 0 else contact

        size = max_parameters(conn)
        existing = sorted(c for c in self.updated if c > 0)
        for part in chunks(existing, size):
            conn.execute(
                contacts.update().where(contacts.c.id.in_(part)).values(updated_at=self.now)
            )
        upsert_many(
            conn,
            identities,
            [
                {
                    "connector": self.instance,
                    "external_id": ext,
                    "contact_id": real(self.identities[ext][0]),
                    "consent": self.identities[ext][1],
                    "vendor_at": self.vendor_at.get(ext),
                    "updated_at": self.now,
                }
                for ext in sorted(self.identity_rows)
            ],
            ["connector", "external_id"],
            ["contact_id", "consent", "vendor_at", "updated_at"],
        )
        # a value the source said before is not written again: its row, the resolved fields
        # and what a compute reads of them stay as they are (an echo costs nothing downstream)
        changed = {
            key: row
            for key, row in self.attribute_rows.items()
            if self.attributes_found.get(key) != (row["value"], row["num"], row["ts"])
        }
        self.touched_fields = {(real(c), name) for c, name in changed}
        upsert_many(
            conn,
            attributes,
            [{**row, "contact_id": real(c)} for (c, _), row in changed.items()],
            ["contact_id", "source", "name"],
            ["value", "num", "ts", "updated_at"],
        )
        # as record by record: a tag record updates the link's ref, a contact's whole set of
        # tags leaves a tag it holds as it is; list statuses are always updated
        # (a tag's score is written over when a record gives one: a tool's own change)
        self.tags.write(conn, tags, real, ["score"], ["ref", "updated_at"])
        self.lists.write(
            conn,
            memberships,
            real,
            ["status", "updated_at", "since"],
            ["status", "ref", "updated_at", "since"],
        )
        upsert_many(
            conn,
            events,
            [
                {
                    **row,
                    "contact_id": None if row["contact_id"] is None else real(row["contact_id"]),
                }
                for row in self.event_rows.values()
            ],
            ["source", "external_id"],
            ["contact_id", "contact_ref", "type", "raw_type", "occurred_at", "value", "properties"],
        )
        self._write_deals(conn, real)
        insert_many(conn, quarantine, self.quarantine_rows)
        return ids

    def _insert_contacts(self, conn: sa.Connection) -> dict[int, int]:
        wanted = {email: new for new, email in self.new.items()}
        rows = [
            {"email": email, "created_at": self.now, "updated_at": self.now} for email in wanted
        ]
        found = upsert_many(
            conn, contacts, rows, ["email"], returning=[contacts.c.email, contacts.c.id]
        )
        ids = {wanted[r.email]: r.id for r in found}
        # a contact another writer inserted meanwhile is not returned: it is read instead
        missing = [email for email, new in wanted.items() if new not in ids]
        for part in chunks(missing, max_parameters(conn)):
            again = sa.select(contacts.c.email, contacts.c.id).where(contacts.c.email.in_(part))
            ids.update({wanted[r.email]: r.id for r in conn.execute(again)})
        return ids

    def _write_deals(self, conn: sa.Connection, real: Real) -> None:
        rows = [row for row, _ in self.deal_rows.values()]
        upsert_many(conn, deals, rows, ["source", "external_id"], list(deals.c.keys())[2:])
        # a record's associations are the deal's whole set: only the pairs it adds or drops
        # are written, so a deal read back as it stands marks none of its contacts changed
        wanted = {(deal, real(c)) for deal, (_, found) in self.deal_rows.items() for c in found}
        held: set[tuple[str, int]] = set()
        for some in chunks(sorted(self.deal_rows), max_parameters(conn)):
            held.update(
                (r.deal_id, r.contact_id)
                for r in conn.execute(
                    sa.select(deal_contacts.c.deal_id, deal_contacts.c.contact_id).where(
                        deal_contacts.c.source == self.instance, deal_contacts.c.deal_id.in_(some)
                    )
                )
            )
        delete_many(
            conn,
            deal_contacts,
            [
                {"source": self.instance, "deal_id": deal, "contact_id": cid}
                for deal, cid in sorted(held - wanted)
            ],
        )
        insert_many(
            conn,
            deal_contacts,
            [
                {"source": self.instance, "deal_id": deal, "contact_id": cid}
                for deal, cid in sorted(wanted - held)
            ],
        )
