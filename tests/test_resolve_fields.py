"""A pull resolves only the fields its page changed (resolve_fields): the store is left as
resolving those contacts whole (resolve_contacts) leaves it. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.store.schema import attributes, contact_fields, contacts
from syncd.store.upsert import upsert
from syncd.sync.resolve import resolve_contacts, resolve_fields

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PRECEDENCE = ["crm", "shop"]
CONTACTS = (1, 2, 3)

# (contact, source, name, value or None: withdrawn, minutes later)
saying = st.tuples(
    st.sampled_from(CONTACTS),
    st.sampled_from(["crm", "shop", "files"]),
    st.sampled_from(["city", "tier", "phone"]),
    st.sampled_from(["Oslo", "Rome", "A", None]),
    st.integers(0, 3),
)


def say(conn: sa.Connection, said: list[tuple[int, str, str, str | None, int]]) -> None:
    for contact, source, name, value, later in said:
        row = {"contact_id": contact, "source": source, "name": name, "value": value}
        row["updated_at"] = NOW + timedelta(minutes=later)
        upsert(conn, attributes, [row], ["contact_id", "source", "name"], ["value", "updated_at"])


def fields(conn: sa.Connection) -> set[tuple[object, ...]]:
    columns = [contact_fields.c[c] for c in ("contact_id", "name", "value", "source")]
    return {tuple(r) for r in conn.execute(sa.select(*columns))}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.lists(saying, max_size=15), page=st.lists(saying, min_size=1, max_size=8))
def test_resolving_the_changed_fields_leaves_what_resolving_the_contacts_does(
    store: sa.Engine, before: list[tuple[int, str, str, str | None, int]],
    page: list[tuple[int, str, str, str | None, int]],
) -> None:  # fmt: skip
    with store.connect() as conn:
        trans = conn.begin()
        # each example in a transaction rolled back: the store is empty again
        conn.execute(contacts.insert(), [
            {"id": c, "email": f"p{c}@example.com", "created_at": NOW, "updated_at": NOW}
            for c in CONTACTS
        ])  # fmt: skip
        say(conn, before)
        resolve_contacts(conn, PRECEDENCE, CONTACTS)
        say(conn, page)
        nested = conn.begin_nested()
        resolve_contacts(conn, PRECEDENCE, {c for c, *_ in page})
        whole = fields(conn)
        nested.rollback()
        resolve_fields(conn, PRECEDENCE, {(c, name) for c, _, name, *_ in page})
        assert fields(conn) == whole
        trans.rollback()
