"""Line items as rows (docs/events.md, Line items): ``event_items`` follows the events'
``items`` lists on both stores — inserted, rewritten and removed with their event, typed the
same way everywhere — and the migration reads the events already stored."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncd.store import migrations
from syncd.store.schema import contacts, event_items, events

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
COLUMNS = ("position", "contact_id", "type", "product", "variant", "sku", "category", "vendor",
           "quantity", "price")  # fmt: skip


def _contact(conn: sa.Connection, email: str) -> int:
    row = conn.execute(
        contacts.insert()
        .values(email=email, created_at=NOW, updated_at=NOW)
        .returning(contacts.c.id)
    )
    return int(row.scalar_one())


def _event(conn: sa.Connection, contact: int | None, key: str, properties: Any, **kw: Any) -> int:
    values = {"source": "shop", "external_id": key, "contact_id": contact, "type": "order_placed",
              "occurred_at": NOW, "properties": properties, **kw}  # fmt: skip
    return int(conn.execute(events.insert().values(**values).returning(events.c.id)).scalar_one())


def _items(conn: sa.Connection, event_id: int) -> list[tuple[Any, ...]]:
    columns = [event_items.c[name] for name in COLUMNS]
    rows = conn.execute(
        sa.select(*columns).where(event_items.c.event_id == event_id).order_by("position")
    )
    return [tuple(row) for row in rows]


def test_items_follow_their_event_typed_alike_on_both_stores(store: sa.Engine) -> None:
    items = [
        {"product": "Trail shoe", "variant": "42", "sku": "TS-42", "category": "Running",
         "vendor": "Acme", "quantity": 2, "price": 89.5},
        {"sku": "SOCK", "quantity": 1.0, "price": 5},  # a whole float is a quantity
        {"sku": 7, "quantity": 1.5, "price": "12.00", "category": None},  # wrong types: NULL
        "not a line",  # not an object: no row
    ]  # fmt: skip
    with store.begin() as conn:
        ada = _contact(conn, "ada@example.com")
        bob = _contact(conn, "bob@example.com")
        order = _event(conn, None, "o1", {"items": items, "total": 184})
        _event(conn, ada, "o2", {"items": "none"})  # not a list: nothing
        _event(conn, ada, "o3", None)
        assert _items(conn, order) == [
            (0, None, "order_placed", "Trail shoe", "42", "TS-42", "Running", "Acme", 2, 89.5),
            (1, None, "order_placed", None, None, "SOCK", None, None, 1, 5.0),
            (2, None, "order_placed", None, None, None, None, None, None, None),
        ]
        assert conn.execute(sa.select(sa.func.count()).select_from(event_items)).scalar() == 3
        # linked to its contact, then cancelled and moved: the rows follow
        conn.execute(events.update().where(events.c.id == order).values(contact_id=ada))
        assert {r[1] for r in _items(conn, order)} == {ada}
        later = NOW + timedelta(days=1)
        conn.execute(
            events.update()
            .where(events.c.id == order)
            .values(type="order_cancelled", occurred_at=later, contact_id=bob)
        )
        rows = conn.execute(
            sa.select(
                event_items.c.type, event_items.c.occurred_at, event_items.c.contact_id
            ).where(event_items.c.event_id == order)
        ).all()
        assert set(rows) == {("order_cancelled", later, bob)}
        # new lines replace the old ones
        conn.execute(
            events.update()
            .where(events.c.id == order)
            .values(properties={"items": [{"sku": "NEW", "price": 1}]})
        )
        assert [(r[0], r[5]) for r in _items(conn, order)] == [(0, "NEW")]
        conn.execute(events.delete().where(events.c.id == order))
        assert _items(conn, order) == []
        # the view sql: rules read shows linked lines only
        _event(conn, None, "o4", {"items": [{"sku": "X"}]})
        _event(conn, ada, "o5", {"items": [{"sku": "Y"}]})
        seen = conn.execute(sa.text("SELECT contact_id, sku FROM syncd_items")).all()
        assert [tuple(r) for r in seen] == [(ada, "Y")]


def test_the_migration_reads_the_items_of_events_already_stored(store: sa.Engine) -> None:
    """The backfill of migration 0012, run again over events whose rows were removed (a
    the same backfill as a store migrated long ago ran)."""
    path = Path(migrations.__file__).parent / "versions" / "0012_event_items.py"
    spec = importlib.util.spec_from_file_location("event_items_0012", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with store.begin() as conn:
        ada = _contact(conn, "ada@example.com")
        order = _event(conn, ada, "o1", {"items": [{"sku": "A", "quantity": 3, "price": 2.5}]})
        conn.execute(event_items.delete())
        if conn.dialect.name == "postgresql":
            backfill = module._pg_select("events").replace(
                "FROM jsonb_array_elements", "FROM events, jsonb_array_elements"
            )
        else:
            backfill = (
                module._sqlite_insert("events")
                .replace("FROM json_each", "FROM events, json_each")
                .rstrip(";")
            )
        conn.exec_driver_sql(backfill)
        assert _items(conn, order) == [
            (0, ada, "order_placed", None, None, "A", None, None, 3, 2.5)
        ]
