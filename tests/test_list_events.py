"""A list membership taking a status as an event (``ContactRecord.list_events``): made when
the store first sees the status, at the contact's time, never again while the status holds,
and again after the status ended and came back. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.connectors.contract import ContactRecord, Record
from syncd.store.schema import events, memberships, quarantine
from syncd.sync.records import PageWriter

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
OPT_OUT = {"unsubscribed": "email_unsubscribed"}


def write(engine: sa.Engine, records: Sequence[Record], now: datetime = NOW) -> PageWriter:
    with engine.begin() as conn:
        writer = PageWriter(conn, "crm", "contacts", "run-1", now)
        writer.write(records)
    return writer


def person(status: str, at: datetime | None, **more: Any) -> ContactRecord:
    """Ann as a source that keeps her opt-out as a flag sends her."""
    return ContactRecord(
        "c1",
        "ann@example.com",
        lists={"email": status},
        updated_at=at,
        list_events=OPT_OUT,
        **more,
    )


def stored(engine: sa.Engine) -> list[tuple[str, str, datetime, str | None, Any]]:
    """The events as (type, raw type, time, key, properties), oldest first."""
    query = sa.select(
        events.c.type,
        events.c.raw_type,
        events.c.occurred_at,
        events.c.external_id,
        events.c.properties,
    ).order_by(events.c.occurred_at)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(t, raw, at.replace(tzinfo=UTC), key, props) for t, raw, at, key, props in rows]


def test_an_opt_out_is_one_event_at_the_contacts_time_and_a_reread_adds_none(
    store: sa.Engine,
) -> None:
    subscribed_at = NOW - timedelta(days=9)
    write(store, [person("subscribed", subscribed_at)])
    assert stored(store) == []  # only the status named makes an event
    out_at = NOW - timedelta(days=3)
    writer = write(store, [person("unsubscribed", out_at)])
    assert writer.counts["events"] == 1
    ((kind, raw, at, key, props),) = stored(store)
    assert (kind, raw, at) == ("email_unsubscribed", "unsubscribed", out_at)
    assert props == {"list": "email"}
    # read again, unchanged, and again after something else about her changed: no second one
    write(store, [person("unsubscribed", out_at)], NOW + timedelta(hours=1))
    later = person("unsubscribed", NOW, attributes={"city": "Kraków"})
    assert write(store, [later], NOW + timedelta(hours=2)).counts["events"] == 0
    assert [e[3] for e in stored(store)] == [key]


def test_an_opt_in_then_an_opt_out_again_is_a_second_event(store: sa.Engine) -> None:
    first, back, second = (NOW - timedelta(days=d) for d in (20, 10, 2))
    write(store, [person("unsubscribed", first)])
    write(store, [person("subscribed", back)])
    write(store, [person("unsubscribed", second)])
    assert [(e[0], e[2]) for e in stored(store)] == [
        ("email_unsubscribed", first),
        ("email_unsubscribed", second),
    ]


def test_a_contact_first_read_opted_out_makes_the_event_and_one_page_makes_it_once(
    store: sa.Engine,
) -> None:
    """A first pull of someone opted out long ago: the event at the contact's time, the only
    evidence; the same record twice in a page is one event."""
    at = NOW - timedelta(days=400)
    writer = write(store, [person("unsubscribed", at), person("unsubscribed", at)])
    assert writer.counts["events"] == 1
    assert [(e[0], e[2]) for e in stored(store)] == [("email_unsubscribed", at)]


def test_without_list_events_or_a_time_the_record_says_when(store: sa.Engine) -> None:
    """A record naming no ``list_events`` makes no event (a source that sends its own); one
    without a time is dated by the pull that saw the change."""
    plain = ContactRecord("c2", "bob@example.com", lists={"email": "unsubscribed"})
    write(store, [plain, person("unsubscribed", None)])
    assert [(e[0], e[2]) for e in stored(store)] == [("email_unsubscribed", NOW)]


def test_a_status_syncd_itself_set_is_no_event(store: sa.Engine) -> None:
    """syncd's own removal read back ("removed" stays) is not the person's unsubscribe."""
    write(store, [person("subscribed", NOW - timedelta(days=5))])
    with store.begin() as conn:
        conn.execute(memberships.update().values(status="removed"))
    write(store, [person("unsubscribed", NOW - timedelta(days=1))])
    assert stored(store) == []
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar() == 0


def test_a_long_contact_id_and_list_name_keep_the_key_within_the_stores_limit(
    store: sa.Engine,
) -> None:
    long = ContactRecord(
        "c" * 250,
        "ann@example.com",
        lists={"l" * 250: "unsubscribed"},
        updated_at=NOW,
        list_events=OPT_OUT,
    )
    assert write(store, [long]).counts["events"] == 1
    ((_, _, _, key, props),) = stored(store)
    assert key is not None and len(key) <= 255 and props == {"list": "l" * 250}
