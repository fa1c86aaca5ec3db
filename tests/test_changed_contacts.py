"""Change tracking on both stores: every insert, delete and real change of the rows a rule
reads marks its contact in ``changed_contacts``; an echo (only ``updated_at`` or a ref moved)
marks nothing; a deal's change marks the contacts it is associated with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from syncd.store import open_store
from syncd.store.schema import (
    changed_contacts,
    contact_fields,
    contacts,
    deal_contacts,
    deals,
    events,
    memberships,
    tags,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = open_store(store_url)
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [{"id": i, "email": f"c{i}@example.com", "created_at": NOW, "updated_at": NOW}
             for i in (1, 2, 3)],
        )  # fmt: skip
        conn.execute(changed_contacts.delete())
    yield engine
    engine.dispose()


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
