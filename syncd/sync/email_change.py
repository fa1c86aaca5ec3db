"""Accepting an e-mail a vendor changed: ``syncd accept-email CONNECTOR CONTACT_ID``.

A record that gives a contact id the store knows a new e-mail is quarantined (``conflict:
contact id '7' is ann@example.com in the store, this record gives it ann@new.example;
not re-pointed``): from one record syncd cannot tell a person who changed their address from a
vendor that gave two people one id, and it never re-points an identity on its own. When the
user knows it is the former, this accepts the vendor's new e-mail: the contact keeps its id,
its data and its identities, and takes the new address; the quarantined record is written
again (it now agrees with the store) and leaves the quarantine. A new e-mail another contact
holds already would take a merge of two contacts, which syncd does not do: that is refused.
Other tools that know the person by the old address then make a contact of their own for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.connectors.contract import ContactRecord
from syncd.errors import ConfigError
from syncd.store.schema import contacts, identities, quarantine
from syncd.sync.checks import normalise_email
from syncd.sync.records import PageWriter
from syncd.sync.resolve import resolve_contacts


@dataclass(frozen=True)
class Accepted:
    connector: str
    external_id: str
    old: str
    new: str


def _conflict(external_id: str) -> str:
    return f"conflict: contact id {external_id!r} is "


def accept_email(
    conn: sa.Connection,
    connector: str,
    external_id: str,
    now: datetime,
    precedence: list[str],
) -> Accepted:
    """Give the contact ``connector`` knows as ``external_id`` the e-mail of the newest record
    quarantined for it as an e-mail conflict, and write that record again; ConfigError (one
    line) when there is none or the e-mail is another contact's."""
    held = conn.execute(
        sa.select(identities.c.contact_id, contacts.c.email)
        .join(contacts, contacts.c.id == identities.c.contact_id)
        .where(identities.c.connector == connector, identities.c.external_id == external_id)
    ).first()
    if held is None:
        raise ConfigError(f"{connector} has no contact id {external_id!r} in the store")
    found = conn.execute(
        sa.select(quarantine.c.id, quarantine.c.stream, quarantine.c.record)
        .where(
            quarantine.c.connector == connector,
            quarantine.c.reason.startswith(_conflict(external_id), autoescape=True),
        )
        .order_by(quarantine.c.id.desc())
    ).all()
    if not found:
        raise ConfigError(
            f"no record of {connector}'s contact id {external_id!r} is quarantined for an "
            "e-mail conflict"
        )
    record = _record(found[0].record, connector, external_id)
    assert record.email is not None
    new = normalise_email(record.email)
    other = conn.execute(sa.select(contacts.c.id).where(contacts.c.email == new)).scalar()
    if other is not None and other != held.contact_id:
        raise ConfigError(
            f"{new} is another contact in the store; syncd does not merge two contacts "
            f"(contact id {external_id!r} stays {held.email})"
        )
    conn.execute(
        contacts.update().where(contacts.c.id == held.contact_id).values(email=new, updated_at=now)
    )
    writer = PageWriter(conn, connector, found[0].stream, None, now)
    writer.write([record])
    if writer.counts["quarantined"]:  # the record is bad in another way: it stays where it was
        raise ConfigError(
            f"the record of contact id {external_id!r} is still refused; see syncd errors"
        )
    resolve_contacts(conn, precedence, writer.touched)
    conn.execute(quarantine.delete().where(quarantine.c.id.in_([r.id for r in found])))
    return Accepted(connector, external_id, held.email, new)


def _record(dumped: str | None, connector: str, external_id: str) -> ContactRecord:
    """The quarantined contact record, as the page writer dumped it."""
    try:
        data: Any = json.loads(dumped or "")
        record = ContactRecord(
            str(data["external_id"]),
            str(data["email"]),
            dict(data.get("attributes") or {}),
            data.get("tags"),
            data.get("lists"),
            data.get("consent"),
        )
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"the quarantined record of {connector}'s contact id {external_id!r} cannot be "
            "read back"
        ) from None
    if record.external_id != external_id:
        raise ConfigError(f"the quarantined record is not contact id {external_id!r}")
    return record
