"""A value the store cannot keep is refused at the edge with a reason, and the rest of the page
is stored; a duplicate id that would move an event or re-point an identity is a conflict in
quarantine with both sides named. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from syncd.connectors.contract import ContactRecord, DealRecord, EventRecord, Record, TagRecord
from syncd.store.schema import contacts, events, quarantine
from syncd.sync import records as records_module
from syncd.sync.checks import MAX_PROPERTIES_BYTES, Rejected, properties, refused_by_store
from syncd.sync.records import PageWriter
from tests.stores import identity_emails

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def write(engine: sa.Engine, page: list[Record]) -> PageWriter:
    with engine.begin() as conn:
        writer = PageWriter(conn, "crm", "page", "run-1", NOW)
        writer.write(page)
    return writer


def reasons(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        query = sa.select(quarantine.c.reason).order_by(quarantine.c.id)
        return list(conn.execute(query).scalars())


def stored_emails(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(contacts.c.email)).scalars())


def good(n: int) -> ContactRecord:
    return ContactRecord(f"g{n}", f"good{n}@example.com", {"city": "Kraków"})


BAD: list[tuple[Record, str]] = [
    (ContactRecord("1", "a\x00@example.com"), "malformed e-mail 'a\\x00@example.com'"),
    (ContactRecord("1\x00", "a@example.com"), "contact id '1\\x00' holds a control character"),
    (
        ContactRecord("1", "a@example.com", {"notes": "x" * 9_000}),
        "attribute 'notes' of 9,000 characters is longer than 1,500",
    ),
    (
        ContactRecord("1", "a@example.com", {"notes": "ż" * 1_000}),
        "attribute 'notes': a value of 2,000 bytes is longer than the 1,500 the store indexes",
    ),
    (
        ContactRecord("1", "a@example.com", {"city": "Kra\x00ków"}),
        "attribute 'city' 'Kra\\x00ków' holds a control character",
    ),
    (ContactRecord("1", "a@example.com", {"score": float("nan")}), "attribute 'score': nan"),
    (ContactRecord("1", "a@example.com", {"n": 10**400}), "attribute 'n': a number of over"),
    (ContactRecord("1", "a@example.com", consent="granted" * 3), "consent 'grantedgrantedg"),
    (ContactRecord("1", "a@example.com", tags=["v\x00ip"]), "tag 'v\\x00ip' holds a control"),
    (TagRecord("g1", "vip", ref="r" * 101), "tag ref of 101 characters is longer than 100"),
    (
        EventRecord("e1", "order_placed", datetime(1, 1, 1, tzinfo=UTC), email="a@example.com"),
        "event time 0001-01-01T00:00:00+00:00 is out of range (1900 to 2200)",
    ),
    (
        EventRecord("e1", "order_placed", datetime(9999, 1, 1, tzinfo=UTC), email="a@b.com"),
        "event time 9999-01-01T00:00:00+00:00 is out of range (1900 to 2200)",
    ),
    (
        EventRecord("e1", "order_placed", True, email="a@example.com"),  # type: ignore[arg-type]
        "event time must be a time, not bool True",
    ),
    (
        EventRecord("e1", "order_placed", NOW, email="a@example.com", value=float("inf")),
        "event value inf is out of range",
    ),
    (
        EventRecord("e1", "order_placed", NOW, email="a@b.com", properties={"n": "\x00"}),
        "event properties hold a NUL byte",
    ),
    (
        EventRecord("e1", "order_placed", NOW, email="a@b.com", properties={"x": float("nan")}),
        "event properties are not JSON: Out of range float values are not JSON compliant",
    ),
    (
        EventRecord("e1", "order\x00placed", NOW, email="a@example.com"),
        "event type 'order\\x00placed' holds a control character",
    ),
    (DealRecord("d1", name="De\x00al"), "deal name 'De\\x00al' holds a control character"),
    (DealRecord("d1", amount=1e300), "deal amount 1e+300 is out of range"),
]


@pytest.mark.parametrize(("record", "reason"), BAD, ids=[r for _, r in BAD])
def test_a_bad_value_is_quarantined_with_its_reason_and_the_rest_of_the_page_stored(
    store: sa.Engine, record: Record, reason: str
) -> None:
    writer = write(store, [good(1), record, good(2)])
    assert writer.counts["quarantined"] == 1
    (found,) = reasons(store)
    assert found.startswith(reason)
    assert stored_emails(store) == ["good1@example.com", "good2@example.com"]
    # the same record again, in a later pull, is quarantined again and blocks nothing
    write(store, [record, good(3)])
    assert len(reasons(store)) == 2
    assert "good3@example.com" in stored_emails(store)


def test_event_properties_are_measured_in_utf8_bytes_and_nul_is_told_from_its_spelling() -> None:
    ascii_text = "a" * (MAX_PROPERTIES_BYTES - 20)
    assert properties({"n": ascii_text}) == {"n": ascii_text}
    with pytest.raises(Rejected, match="bytes are longer than"):
        properties({"n": "ą" * (MAX_PROPERTIES_BYTES // 2)})  # as many characters, twice the bytes
    # a backslash and "u0000" spelled out is text, not a NUL byte; a NUL beside it is one
    assert properties({"n": "\\u0000", "m": ["\\\\u0000"]}) == {"n": "\\u0000", "m": ["\\\\u0000"]}
    with pytest.raises(Rejected, match="hold a NUL byte"):
        properties({"n": "\\\x00"})
    with pytest.raises(Rejected, match="not JSON"):
        properties({"n": "\ud800"})  # a lone surrogate


def test_a_quarantined_record_with_a_nul_byte_is_kept_readable(store: sa.Engine) -> None:
    write(store, [ContactRecord("1", "a@example.com", {"city": "x\x00y"})])
    with store.connect() as conn:
        kept = conn.execute(sa.select(quarantine.c.record)).scalar_one()
    assert "x\\\\u0000y" in kept or "x\\u0000y" in kept


def test_an_event_id_given_to_another_contact_is_a_conflict_not_a_move(store: sa.Engine) -> None:
    write(store, [ContactRecord("1", "ann@example.com"), ContactRecord("2", "bob@example.com")])
    write(store, [EventRecord("o1", "order_placed", NOW, contact_external_id="1", value=10.0)])
    writer = write(
        store,
        [
            EventRecord("o1", "order_placed", NOW, contact_external_id="2", value=99.0),
            EventRecord("o1", "order_placed", NOW, email="bob@example.com", value=99.0),
            EventRecord("o1", "order_placed", NOW, email="new@example.com", value=99.0),
            EventRecord("o2", "order_placed", NOW, email="bob@example.com"),
            EventRecord("o2", "order_placed", NOW, contact_external_id="1"),  # in the page
            EventRecord("o1", "order_placed", NOW, contact_external_id="1", value=12.0),
        ],
    )
    assert reasons(store) == [
        "conflict: event 'o1' belongs to ann@example.com, this record gives it to "
        "bob@example.com; not moved",
        "conflict: event 'o1' belongs to ann@example.com, this record gives it to "
        "bob@example.com; not moved",
        "conflict: event 'o1' belongs to ann@example.com, this record gives it to "
        "new@example.com; not moved",
        "conflict: event 'o2' belongs to bob@example.com, this record gives it to "
        "ann@example.com; not moved",
    ]
    assert writer.counts["events"] == 2
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.external_id, contacts.c.email, events.c.value)
            .join(contacts, contacts.c.id == events.c.contact_id)
            .order_by(events.c.external_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("o1", "ann@example.com", 12.0),  # the same contact may correct its event
        ("o2", "bob@example.com", None),
    ]
    assert stored_emails(store) == ["ann@example.com", "bob@example.com"]


def test_a_contact_id_given_another_email_is_a_conflict_not_a_re_point(store: sa.Engine) -> None:
    write(store, [ContactRecord("1", "ann@example.com"), ContactRecord("2", "bob@example.com")])
    write(
        store,
        [
            ContactRecord("1", "bob@example.com", {"city": "Gdańsk"}),
            ContactRecord("1", "carl@example.com"),
            ContactRecord("3", "dan@example.com"),
            ContactRecord("3", "eve@example.com"),  # in the page
            ContactRecord("1", " ANN@example.com ", {"city": "Kraków"}),
        ],
    )
    assert reasons(store) == [
        "conflict: contact id '1' is ann@example.com in the store, this record gives it "
        "bob@example.com; not re-pointed",
        "conflict: contact id '1' is ann@example.com in the store, this record gives it "
        "carl@example.com; not re-pointed",
        "conflict: contact id '3' is dan@example.com in the store, this record gives it "
        "eve@example.com; not re-pointed",
    ]
    assert identity_emails(store) == [
        ("1", "ann@example.com"),
        ("2", "bob@example.com"),
        ("3", "dan@example.com"),
    ]


def test_a_row_the_store_refuses_after_all_is_found_and_quarantined_alone(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the checks switched off, a value the store refuses (here one no driver binds) is
    found by writing the page in halves: that record is quarantined with the store's reason,
    the others stored."""
    monkeypatch.setattr(records_module, "check_record", lambda record: None)
    page: list[Record] = [good(n) for n in range(7)]
    page.insert(5, TagRecord("g0", "vip", ref={"not": "text"}))  # type: ignore[arg-type]
    writer = write(store, page)
    assert writer.counts["quarantined"] == 1
    assert writer.counts["contacts"] == 7
    assert writer.counts["tags"] == 0
    (reason,) = reasons(store)
    assert reason.startswith("the store refused it: ")
    assert stored_emails(store) == sorted(f"good{n}@example.com" for n in range(7))


def test_a_lost_connection_is_not_taken_for_a_bad_record() -> None:
    class Lost(Exception):
        sqlstate = "08006"  # connection failure

    assert not refused_by_store(sa.exc.OperationalError("select", {}, Lost()))

    class Nul(Exception):
        sqlstate = "22021"  # character not in repertoire

    assert refused_by_store(sa.exc.DataError("insert", {}, Nul()))
