"""Deals from a CRM source: upserted into ``deals``, their contacts resolved through identities."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from syncd.connectors.contract import ContactRecord, DealRecord
from syncd.store.schema import contacts, deal_contacts, deals, quarantine
from syncd.sync.records import PageWriter

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def write(store: sa.Engine, instance: str, *records: object) -> PageWriter:
    with store.begin() as conn:
        writer = PageWriter(conn, instance, "deals", None, NOW)
        writer.write(records)  # type: ignore[arg-type]
    return writer


def deal_members(store: sa.Engine, source: str, deal: str) -> set[str]:
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(contacts.c.email)
            .join(deal_contacts, deal_contacts.c.contact_id == contacts.c.id)
            .where(deal_contacts.c.source == source, deal_contacts.c.deal_id == deal)
        ).scalars()
        return set(rows)


def test_a_deal_is_stored_with_its_contacts_resolved_by_identity(store: sa.Engine) -> None:
    write(
        store,
        "crm",
        ContactRecord("1", "ann@example.com"),
        ContactRecord("2", "bob@example.com"),
    )
    # another instance uses the same external id for someone else: it must not be picked
    write(store, "other", ContactRecord("3", "eve@example.com"))
    writer = write(
        store,
        "crm",
        DealRecord(
            "d1",
            name="Big one",
            stage="negotiation",
            status="open",
            pipeline="default",
            owner_email=" Rep@Example.com ",
            amount=1200.5,
            contact_external_ids=["1", "2", "3"],
        ),
    )
    assert writer.counts["deals"] == 1
    with store.connect() as conn:
        row = conn.execute(sa.select(deals)).one()
    assert (row.source, row.external_id, row.stage, row.status) == (
        "crm",
        "d1",
        "negotiation",
        "open",
    )
    assert (row.pipeline, row.owner, row.amount, row.name) == (
        "default",
        "rep@example.com",
        1200.5,
        "Big one",
    )
    assert deal_members(store, "crm", "d1") == {"ann@example.com", "bob@example.com"}


def test_a_deal_pulled_again_is_updated_and_its_contacts_replaced(store: sa.Engine) -> None:
    write(
        store, "crm", ContactRecord("1", "ann@example.com"), ContactRecord("2", "bob@example.com")
    )
    write(
        store,
        "crm",
        DealRecord("d1", stage="negotiation", status="open", contact_external_ids=["1"]),
    )
    write(
        store, "crm", DealRecord("d1", stage="closedwon", status="won", contact_external_ids=["2"])
    )
    with store.connect() as conn:
        rows = conn.execute(sa.select(deals.c.stage, deals.c.status)).all()
    assert [tuple(r) for r in rows] == [("closedwon", "won")]
    assert deal_members(store, "crm", "d1") == {"bob@example.com"}


def test_a_deal_with_an_unknown_status_is_quarantined(store: sa.Engine) -> None:
    writer = write(store, "crm", DealRecord("d1", status="pending"))
    assert writer.counts["quarantined"] == 1
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deals)).scalar_one() == 0
        reason = conn.execute(sa.select(quarantine.c.reason)).scalar_one()
    assert "pending" in reason


def test_a_deal_keeps_its_create_and_close_dates_and_a_bad_one_is_quarantined(
    store: sa.Engine,
) -> None:
    created, closed = datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC)
    write(store, "crm", DealRecord("d1", status="won", created_at=created, closed_at=closed))
    write(store, "crm", DealRecord("d2", status="open"))
    write(store, "crm", DealRecord("d3", closed_at=datetime(1, 1, 1, tzinfo=UTC)))
    with store.connect() as conn:
        rows = {r.external_id: (r.created_at, r.closed_at) for r in conn.execute(sa.select(deals))}
        reasons = list(conn.execute(sa.select(quarantine.c.reason)).scalars())
    assert rows == {"d1": (created, closed), "d2": (None, None)}
    assert len(reasons) == 1 and "deal close time" in reasons[0]
