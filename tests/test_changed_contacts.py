"""Change tracking on both stores: every insert, delete and real change of the rows a rule
reads marks its contact in ``changed_contacts``; an echo (only ``updated_at`` or a ref moved)
marks nothing; a deal's change marks the contacts it is associated with. A pull's own writes
(resolving contacts, writing a page of deals) mark only what really changed; the end-to-end
echo of a push read back is tests/test_echoes.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.connectors.contract import DealRecord
from syncd.store.schema import (
    attributes,
    changed_contacts,
    contact_fields,
    contacts,
    deal_contacts,
    deals,
    events,
    identities,
    memberships,
    tags,
)
from syncd.store.upsert import upsert
from syncd.sync.records import PageWriter
from syncd.sync.resolve import resolve_all_if_precedence_changed, resolve_fields

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(store: sa.Engine) -> sa.Engine:
    """A fresh store with contacts 1, 2 and 3, none of them marked."""
    with store.begin() as conn:
        conn.execute(
            contacts.insert(),
            [{"id": i, "email": f"c{i}@example.com", "created_at": NOW, "updated_at": NOW}
             for i in (1, 2, 3)],
        )  # fmt: skip
        conn.execute(changed_contacts.delete())
    return store


def taken(engine: sa.Engine) -> set[int]:
    """The contacts marked since the last call, unmarked."""
    with engine.begin() as conn:
        found = set(conn.execute(sa.select(changed_contacts.c.contact_id)).scalars())
        conn.execute(changed_contacts.delete())
    return found


def test_a_new_contact_is_marked(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(contacts.insert().values(id=50, email="new@example.com", created_at=NOW,
                                              updated_at=NOW))  # fmt: skip
        conn.execute(contacts.update().where(contacts.c.id == 1).values(updated_at=NOW))
    assert taken(engine) == {50}


def test_events_mark_their_contacts_and_an_echo_does_not(engine: sa.Engine) -> None:
    row = {"source": "s", "external_id": "e1", "contact_id": 1, "type": "order_placed",
           "occurred_at": NOW, "value": 10.0, "properties": {"a": 1}}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(events.insert().values(**row))
        conn.execute(events.insert().values(**{**row, "external_id": "e0", "contact_id": None}))
    assert taken(engine) == {1}
    with engine.begin() as conn:  # the same values written again, and a raw type: an echo
        conn.execute(events.update().values(value=10.0, raw_type="x", properties={"a": 1}))
    assert taken(engine) == set()
    with engine.begin() as conn:
        conn.execute(events.update().where(events.c.external_id == "e1").values(value=11.0))
    assert taken(engine) == {1}
    with engine.begin() as conn:  # a pending event linked: the contact it joins
        conn.execute(events.update().where(events.c.external_id == "e0").values(contact_id=2))
    assert taken(engine) == {2}
    with engine.begin() as conn:  # moved from one contact to another: both
        conn.execute(events.update().where(events.c.external_id == "e1").values(contact_id=3))
    assert taken(engine) == {1, 3}
    with engine.begin() as conn:
        conn.execute(events.update().values(occurred_at=NOW - timedelta(days=1)))
    assert taken(engine) == {2, 3}
    with engine.begin() as conn:
        conn.execute(events.delete().where(events.c.external_id == "e0"))
    assert taken(engine) == {2}


def test_tags_lists_and_fields_mark_only_what_a_rule_reads(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(tags.insert().values(contact_id=1, source="s", tag="VIP", name="VIP",
                                          managed=False, updated_at=NOW))  # fmt: skip
        conn.execute(memberships.insert().values(contact_id=2, source="s", list="L",
                                                 status="subscribed", managed=False,
                                                 updated_at=NOW))  # fmt: skip
        conn.execute(contact_fields.insert().values(contact_id=3, name="city", value="Oslo",
                                                    source="crm"))  # fmt: skip
    assert taken(engine) == {1, 2, 3}
    later = NOW + timedelta(hours=1)
    with engine.begin() as conn:  # a pull that read them back unchanged, a push's ref
        conn.execute(tags.update().values(updated_at=later, ref="r1", managed=True))
        conn.execute(memberships.update().values(updated_at=later, ref="r2"))
        conn.execute(contact_fields.update().values(source="shop"))
    assert taken(engine) == set()
    with engine.begin() as conn:
        conn.execute(memberships.update().values(status="unsubscribed"))
        conn.execute(contact_fields.update().values(value="Bergen"))
    assert taken(engine) == {2, 3}
    with engine.begin() as conn:  # a tool's score on the tag: {tag: X, score: {gte: 10}}
        conn.execute(tags.update().values(score=30.0))
    assert taken(engine) == {1}
    with engine.begin() as conn:
        conn.execute(tags.delete())
    assert taken(engine) == {1}


def test_a_deal_marks_its_contacts(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(deals.insert().values(source="crm", external_id="d1", stage="proposal",
                                           status="open", updated_at=NOW))  # fmt: skip
        conn.execute(deal_contacts.insert(), [{"source": "crm", "deal_id": "d1", "contact_id": c}
                                              for c in (1, 2)])  # fmt: skip
    assert taken(engine) == {1, 2}
    with engine.begin() as conn:
        conn.execute(deals.update().values(updated_at=NOW + timedelta(days=1), name="x"))
    assert taken(engine) == set()
    with engine.begin() as conn:
        conn.execute(deals.update().values(stage="negotiation"))
    assert taken(engine) == {1, 2}


# --- a pull's writes: resolving contacts and writing deals mark only real changes ------


def say(engine: sa.Engine, *values: tuple[int, str, str, str | None]) -> None:
    """Sources say attribute values (contact, source, name, value), then the contacts are
    resolved as a pull resolves a page's: the fields they said."""
    with engine.begin() as conn:
        for contact, source, name, value in values:
            upsert(conn, attributes, [{"contact_id": contact, "source": source, "name": name,
                                       "value": value, "updated_at": NOW}],
                   ["contact_id", "source", "name"], ["value", "updated_at"])  # fmt: skip
        resolve_fields(conn, ["crm", "shop"], {(c, name) for c, _, name, _ in values})


def fields(engine: sa.Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.select(
            contact_fields.c.contact_id, contact_fields.c.name, contact_fields.c.value,
            contact_fields.c.source))}  # fmt: skip


def test_resolving_contacts_whose_fields_stand_writes_and_marks_nothing(
    engine: sa.Engine,
) -> None:
    say(engine, (1, "shop", "city", "Oslo"), (2, "crm", "city", "Rome"), (2, "shop", "tier", "A"))
    assert taken(engine) == {1, 2}  # their new fields
    # the same values said again, and a weaker source agreeing: nothing moves
    say(engine, (1, "shop", "city", "Oslo"), (2, "shop", "city", "Rome"))
    assert taken(engine) == set()
    assert fields(engine) == {(1, "city", "Oslo", "shop"), (2, "city", "Rome", "crm"),
                              (2, "tier", "A", "shop")}  # fmt: skip
    # a real change is marked: a stronger source's new value, a value withdrawn
    say(engine, (1, "crm", "city", "Bergen"), (2, "shop", "tier", None))
    assert taken(engine) == {1, 2}
    assert fields(engine) == {(1, "city", "Bergen", "crm"), (2, "city", "Rome", "crm")}
    # every contact resolved again (a changed precedence) leaves standing fields unmarked
    with engine.begin() as conn:
        resolve_all_if_precedence_changed(conn, ["crm", "shop"])
    assert taken(engine) == set()


def test_a_deal_read_back_with_its_contacts_marks_none_and_a_new_association_marks_one(
    engine: sa.Engine,
) -> None:
    deal = DealRecord("d1", "Big", "negotiation", "open", contact_external_ids=["a", "b"])

    def write(record: DealRecord) -> None:
        with engine.begin() as conn:
            PageWriter(conn, "crm", "deals", None, NOW).write([record])

    with engine.begin() as conn:
        conn.execute(identities.insert(), [
            {"connector": "crm", "external_id": x, "contact_id": c, "updated_at": NOW}
            for x, c in (("a", 1), ("b", 2), ("c", 3))])  # fmt: skip
    write(deal)
    assert taken(engine) == {1, 2}
    write(deal)
    assert taken(engine) == set()
    write(DealRecord("d1", "Big", "negotiation", "open", contact_external_ids=["b", "c"]))
    assert taken(engine) == {1, 3}
