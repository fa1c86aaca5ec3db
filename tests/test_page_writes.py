"""A pulled page is written in a bounded number of SQL statements, whatever its size, and
leaves the store as writing its records one at a time does; bad records are quarantined with
their reasons and the rest of the page is stored. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.connectors.contract import (
    ContactRecord,
    DealRecord,
    EventRecord,
    InvalidRecord,
    ListRecord,
    Record,
    TagRecord,
)
from syncd.store import upsert as upsert_module
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
from syncd.sync.page_rows import PageRows
from syncd.sync.records import PageWriter, link_pending_events

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SOURCE = "crm"
SKIPPED = "skipped_type"
# children first, so that rows can be deleted in this order
TABLES = (deal_contacts, deals, quarantine, events, memberships, tags, attributes, identities)
FAR_EAST = timezone(timedelta(hours=5))
OUT_OF_RANGE = datetime(1, 1, 1, tzinfo=FAR_EAST)  # before the year 1 in UTC


def write(
    engine: sa.Engine, records: Sequence[Record], sent: list[str] | None = None
) -> PageWriter:
    """Write ``records`` as one page, committed; the writer's statements go to ``sent``
    (the transaction's own BEGIN and COMMIT are the caller's)."""
    with engine.begin() as conn:
        writer = PageWriter(conn, SOURCE, "page", "run-1", NOW, frozenset({SKIPPED}))
        with statements(engine) as executed:
            writer.write(records)
    if sent is not None:
        sent += executed
    return writer


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def clear(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table in (*TABLES, contacts):
            conn.execute(table.delete())


def contents(engine: sa.Engine) -> dict[str, list[Any]]:
    """Every row a page writes, each contact named by its e-mail (ids differ between runs)."""
    with engine.connect() as conn:
        email = {r.id: r.email for r in conn.execute(sa.select(contacts.c.id, contacts.c.email))}
        found: dict[str, list[Any]] = {
            "contacts": sorted(
                conn.execute(
                    sa.select(contacts.c.email, contacts.c.created_at, contacts.c.updated_at)
                ).all()
            )
        }
        for table in TABLES:
            rows = []
            select = sa.select(table).order_by(table.c.id if table is quarantine else None)
            for row in conn.execute(select).mappings():
                named = {k: v for k, v in row.items() if k != "id"}
                if "contact_id" in named:
                    named["contact_id"] = email.get(named["contact_id"])
                rows.append(named)
            # the quarantine keeps the page's order; other tables are sets of rows
            found[table.name] = rows if table is quarantine else sorted(rows, key=repr)
    return found


def emails_of(engine: sa.Engine, ids: set[int]) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(sa.select(contacts.c.email).where(contacts.c.id.in_(ids))).scalars()
        )


def mixed_page(size: int, prefix: str) -> list[Record]:
    """``size`` records (a multiple of ten) of every kind, good and bad, in groups of ten."""
    records: list[Record] = []
    for g in range(size // 10):
        key = f"{prefix}{g}"
        at = NOW - timedelta(minutes=g)
        records += [
            ContactRecord(
                key,
                f" Person.{key}@Example.com ",
                {"first_name": f"P{g}", "orders": g, "since": "2025-01-31"},
                tags=["customer", f"CENNIK ({g % 3})"],
                lists={"newsletter": "subscribed"},
                consent="granted",
            ),
            ContactRecord(key, None, {"city": "Gdańsk"}),  # a partial update of the same one
            TagRecord(key, "vip", ref=f"t{key}"),
            TagRecord(key, "customer", present=False),
            ListRecord(key, "offers", "unsubscribed", ref=f"l{key}"),
            EventRecord(f"o{key}", "order_placed", at, email=f"buyer.{key}@example.com", value=9.5),
            EventRecord(f"v{key}", "email_opened", at, contact_external_id=key),
            EventRecord(f"p{key}", "page_visited", at, contact_external_id=f"later{key}"),
            DealRecord(f"d{key}", status="won", contact_external_ids=[key, "nobody"]),
            ContactRecord(f"x{key}", "not an e-mail"),
        ]
    return records


# --- 1. statements ----------------------------------------------------------------------

# Without chunking, a page sends at most one statement for each kind of row it reads
# (contacts, identities, tags, list memberships: 4) and for each kind it writes (contacts
# inserted and touched, identities, attributes, events, deals, deal contacts deleted and
# inserted, quarantine: 9; tags and list memberships deleted, inserted as a whole set says,
# upserted as a tag or list record says: 6), and one more to read the contacts that another
# writer inserted meanwhile.
MOST_STATEMENTS = 4 + 9 + 6 + 1


def test_a_page_of_1000_records_takes_as_many_statements_as_a_page_of_10(
    store: sa.Engine,
) -> None:
    sent: dict[tuple[int, str], int] = {}
    for size in (10, 1000):
        prefix = f"s{size}-"
        for when in ("new", "again"):  # into an empty store, then over the rows it wrote
            executed: list[str] = []
            writer = write(store, mixed_page(size, prefix), executed)
            sent[size, when] = len(executed)
            assert writer.counts == Counter(
                contacts=size // 10 * 2,
                tags=size // 10 * 2,
                lists=size // 10,
                events=size // 10 * 3,
                deals=size // 10,
                quarantined=size // 10,
            )
    assert sent[10, "new"] == sent[1000, "new"] <= MOST_STATEMENTS
    assert sent[10, "again"] == sent[1000, "again"] <= MOST_STATEMENTS


def test_a_page_beyond_the_parameter_limit_is_written_in_chunks_with_the_same_result(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = mixed_page(200, "c")
    whole: list[str] = []
    write(store, page, whole)
    write(store, page, whole)
    expected = contents(store)
    clear(store)
    monkeypatch.setattr(upsert_module, "PARAMETERS", 100)  # 84 a statement: 9 events
    chunked: list[str] = []
    write(store, page, chunked)
    write(store, page, chunked)
    assert contents(store) == expected
    assert len(chunked) > len(whole)


def test_links_a_page_drops_are_deleted_through_their_keys_not_a_scan(store: sa.Engine) -> None:
    """SQLite answers ``(a, b) IN (VALUES ...)`` by scanning the table (a page's cost grew with
    the store): a dropped tag, list membership or deal contact is deleted by its key."""
    if store.dialect.name != "sqlite":
        pytest.skip("the query plan asked for is SQLite's")
    deletes: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("DELETE"):
            deletes.append((statement, parameters))

    write(store, mixed_page(20, "k"))
    sa.event.listen(store, "before_cursor_execute", seen)
    try:
        write(store, mixed_page(20, "k"))  # drops "customer" and "offers", then takes them
        write(store, [DealRecord(f"dk{g}", status="won") for g in range(2)])
    finally:
        sa.event.remove(store, "before_cursor_execute", seen)
    assert {statement.split()[2] for statement, _ in deletes} == {
        "tags",
        "memberships",
        "deal_contacts",
    }
    with store.connect() as conn:
        for statement, parameters in deletes:
            table = statement.split()[2]
            first = parameters[0] if isinstance(parameters, list) else parameters
            plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", first)]
            assert plan and all(f"{table} USING" in step for step in plan), (statement, plan)
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deal_contacts)).scalar() == 0
        held = conn.execute(sa.select(tags.c.tag).where(tags.c.source == SOURCE)).scalars()
        assert sorted(held) == ["CENNIK (0)", "CENNIK (1)", "vip", "vip"]


def test_a_page_is_written_without_writing_a_file_before_its_commit(store: sa.Engine) -> None:
    """The savepoint's sub-journal (the originals of the pages a page's rows change) stays in
    memory: in a temporary file it took some 14 KB of writes a record."""
    if store.dialect.name != "sqlite" or not Path("/proc/self/io").exists():
        pytest.skip("SQLite's temporary files, counted by Linux")

    def written() -> int:
        fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return int(fields["wchar"])

    write(store, mixed_page(100, "a"))  # the tables' first pages, made and committed
    with store.begin() as conn:
        writer = PageWriter(conn, SOURCE, "page", "run-1", NOW)
        before = written()
        writer.write(mixed_page(100, "b"))
        during = written() - before
    assert writer.counts["contacts"] == 20
    assert during < 100_000, f"{during:,} bytes written before the commit"


# --- 2. one page equals its records written one at a time -------------------------------

EMAILS = ("ann@example.com", " Ann@Example.COM ", "bob@example.com", "cy@example.org")
IDS = ("1", "2", "3", "4")  # the seed knows 1 and 4
TAGS = ("customer", "vip", "CENNIK (3)", "CENNIK (4)")
NAMES = ("first_name", "city")
VALUES = (None, "Ann", 3, 2.5, True, "2026-01-31", NOW)
TIMES = (NOW, NOW - timedelta(days=1), datetime(2026, 1, 1))
STATUSES = ("subscribed", "unsubscribed")


def mostly(good: Sequence[Any], bad: Sequence[Any]) -> st.SearchStrategy[Any]:
    """A good value three times in four (one of ``good``), else one of ``bad``."""
    return st.sampled_from([*good, *good, *good, *bad])


def records() -> st.SearchStrategy[Record]:
    """Records over small pools of keys, so that they meet the same contacts, tags and events;
    some of them bad in each way a record can be."""
    ids = mostly(IDS, [""])
    maybe = st.one_of
    contact = st.builds(
        ContactRecord,
        external_id=ids,
        email=mostly(EMAILS, [None, "bad@", ""]),
        attributes=st.dictionaries(
            mostly(NAMES, ["", "n" * 201]),
            mostly(VALUES, ["0001-01-01T00:00:00+05:00", OUT_OF_RANGE]),
            max_size=3,
        ),
        tags=maybe(st.none(), st.lists(mostly(TAGS, [" ", "x" * 256]), max_size=4)),
        lists=maybe(
            st.none(),
            st.dictionaries(
                st.sampled_from(("news", "offers")), mostly(STATUSES, ["x"]), max_size=2
            ),
        ),
        consent=st.sampled_from((None, "granted", "revoked", "")),
        updated_at=st.sampled_from((None, *TIMES[:2])),
        list_events=st.sampled_from((None, {"unsubscribed": "email_unsubscribed"})),
    )
    tag = st.builds(
        TagRecord,
        ids,
        mostly(TAGS, [" ", "x" * 256]),
        st.booleans(),
        maybe(st.none(), st.sampled_from(("r1", "r2"))),
    )
    member = st.builds(
        ListRecord,
        ids,
        st.sampled_from(("news", "offers")),
        mostly(STATUSES, ["x"]),
        maybe(st.none(), st.sampled_from(("m1", "m2"))),
    )
    event = st.builds(
        EventRecord,
        external_id=mostly(("e1", "e2", "e3"), [""]),
        type=mostly(("order_placed", "email_opened", SKIPPED), ["", "t" * 101]),
        occurred_at=mostly(TIMES, [OUT_OF_RANGE]),
        contact_external_id=maybe(st.none(), ids, st.just("unknown")),
        email=maybe(st.none(), mostly(EMAILS, ["bad@"])),
        properties=mostly(({}, {"items": [1, 2]}, {"at": NOW}), [{("not", "a key"): 1}]),
        value=maybe(st.none(), st.just(12.5)),
    )
    deal = st.builds(
        DealRecord,
        external_id=mostly(("d1", "d2"), [""]),
        stage=st.sampled_from((None, "won")),
        status=mostly((None, "open", "won"), ["pending"]),
        owner_email=st.sampled_from((None, " Rep@Example.com ")),
        contact_external_ids=st.lists(maybe(ids, st.just("unknown")), max_size=3),
        updated_at=mostly(
            (None, NOW - timedelta(hours=1)), [datetime(9999, 12, 31, tzinfo=FAR_EAST)]
        ),
    )
    invalid = st.builds(
        InvalidRecord, st.sampled_from(("unreadable", "no shape")), st.just({"a": 1})
    )
    return maybe(contact, tag, member, event, deal, invalid)


def seed(engine: sa.Engine) -> None:
    """A store the page meets: known contacts and ids, tags and lists held, some of them added
    by syncd (managed), an identity with consent, and a held tag a source could not send now."""
    write(
        engine,
        [
            ContactRecord(
                "1", "ann@example.com", {"city": "Kraków"}, ["customer"], {"news": "subscribed"}
            ),
            ContactRecord("4", "cy@example.org", consent="granted"),
            TagRecord("4", "vip", ref="r0"),
            EventRecord("e2", "email_opened", NOW, contact_external_id="3"),
        ],
    )
    with engine.begin() as conn:
        cid = conn.execute(
            sa.select(contacts.c.id).where(contacts.c.email == "ann@example.com")
        ).scalar_one()
        row = {"contact_id": cid, "source": SOURCE, "ref": "s", "managed": True}
        row["updated_at"] = NOW - timedelta(days=1)
        conn.execute(
            tags.insert(),
            [{**row, "tag": tag, "name": tag, "count": None} for tag in ("vip", " ")],
        )
        conn.execute(memberships.insert(), [{**row, "list": "offers", "status": "subscribed"}])


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(page=st.lists(records(), min_size=2, max_size=20))
def test_a_page_leaves_the_store_as_its_records_written_one_at_a_time(
    store: sa.Engine, page: list[Record]
) -> None:
    clear(store)
    seed(store)
    writer = write(store, page)
    at_once = contents(store), writer.counts, emails_of(store, writer.touched)

    clear(store)
    seed(store)
    counts: Counter[str] = Counter()
    touched: set[int] = set()
    for record in page:
        single = write(store, [record])
        counts.update(single.counts)
        touched |= single.touched
    # the page touches the contacts whose attributes it leaves changed; record by record, a
    # value changed and changed back touches its contact too
    assert at_once[:2] == (contents(store), counts)
    assert at_once[2] <= emails_of(store, touched)


# --- 3. bad records among good ones ------------------------------------------------------


def reasons(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(quarantine.c.reason).order_by(quarantine.c.id)).scalars()
        )


def test_bad_records_are_quarantined_with_their_reasons_and_the_good_ones_stored(
    store: sa.Engine,
) -> None:
    write(store, [ContactRecord("1", "ann@example.com")])
    page: list[Record] = [
        ContactRecord("2", "bob@example.com", {"city": "Gdańsk"}, ["customer"]),
        ContactRecord("", "nobody@example.com"),
        ContactRecord("3", None),
        ContactRecord("3", "not an e-mail"),
        ContactRecord("3", "cy@example.com", {"": "x"}),
        ContactRecord("3", "cy@example.com", lists={"news": "maybe"}),
        ContactRecord("3", "cy@example.com", {"when": OUT_OF_RANGE}),
        ContactRecord("3", "cy@example.com", tags=["ok", "   "]),
        InvalidRecord("unreadable row", {"line": 7}),
        TagRecord("9", "vip"),
        TagRecord("1", "x" * 256),
        ListRecord("1", "news", "pending"),
        ListRecord("9", "news", "subscribed"),
        EventRecord("", "order_placed", NOW, email="ann@example.com"),
        EventRecord("e1", "", NOW, email="ann@example.com"),
        EventRecord("e1", "order_placed", NOW),
        EventRecord("e1", "order_placed", OUT_OF_RANGE, email="ann@example.com"),
        EventRecord("e1", "order_placed", NOW, email="ann@example.com", properties={(1, 2): 3}),
        EventRecord("e2", "order_placed", NOW, email="new@example.com", value=5.0),
        DealRecord("", status="won"),
        DealRecord("d1", status="pending"),
        DealRecord(
            "d1", updated_at=datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=5)))
        ),
        DealRecord("d2", status="won", contact_external_ids=["1", "2"]),
        TagRecord("1", "vip", ref="r1"),
    ]
    writer = write(store, page)
    assert reasons(store) == [
        "no id",
        "no e-mail, and the contact's id is not known yet",
        "malformed e-mail 'not an e-mail'",
        "bad attribute name ''",
        "list 'news': status 'maybe' is not subscribed or unsubscribed",
        f"attribute 'when': time {OUT_OF_RANGE!r} is out of range",
        "bad tag '   '",
        "unreadable row",
        "contact '9' is not known yet",
        "tag of 256 characters is longer than 255",
        "list 'news': status 'pending' is not subscribed or unsubscribed",
        "contact '9' is not known yet",
        "event without an id",
        "bad event type ''",
        "event without a contact (no e-mail, no contact id)",
        f"event time {OUT_OF_RANGE!r} is out of range",
        "event properties are not JSON: keys must be str, int, float, bool or None, not tuple",
        "deal without an id",
        "deal status 'pending' is not open, won or lost",
        "deal time datetime.datetime(9999, 12, 31, 23, 0, tzinfo=datetime.timezone("
        "datetime.timedelta(days=-1, seconds=68400))) is out of range",
    ]
    assert writer.counts == Counter(contacts=1, events=1, deals=1, tags=1, quarantined=20)
    found = contents(store)
    # nothing of a quarantined record is stored: cy@example.com was never created
    assert [c[0] for c in found["contacts"]] == [
        "ann@example.com",
        "bob@example.com",
        "new@example.com",
    ]
    assert [(t["contact_id"], t["tag"], t["ref"]) for t in found["tags"]] == [
        ("ann@example.com", "vip", "r1"),
        ("bob@example.com", "customer", None),
    ]
    assert [(e["external_id"], e["contact_id"]) for e in found["events"]] == [
        ("e2", "new@example.com")
    ]
    assert [(d["deal_id"], d["contact_id"]) for d in found["deal_contacts"]] == [
        ("d2", "ann@example.com"),
        ("d2", "bob@example.com"),
    ]
    assert found["quarantine"][7]["record"] == '{"line": 7}'
    assert found["quarantine"][1]["record"].startswith('{"attributes": {}, "consent": null')
    assert emails_of(store, writer.touched) == {"bob@example.com"}


# --- 4. the same contact, tag, list, event or deal twice in a page -----------------------


def test_a_later_record_in_a_page_wins_as_it_did_record_by_record(store: sa.Engine) -> None:
    write(
        store,
        [
            ContactRecord(
                "1", "ann@example.com", {"city": "Kraków"}, ["old"], {"a": "subscribed"}, "granted"
            )
        ],
    )
    writer = write(
        store,
        [
            ContactRecord("1", "Ann@Example.com", {"city": "Gdańsk", "age": 30}, ["a", "b", "a"]),
            ContactRecord("1", None, {"city": "Poznań"}, ["b", "c"], {"b": "unsubscribed"}),
            ContactRecord("2", "ann@example.com", consent="revoked"),  # a second id, same contact
            TagRecord("1", "vip", ref="r1"),
            TagRecord("1", "vip", present=False),
            TagRecord("1", "gone", present=False),
            TagRecord("2", "later", ref="r2"),
            TagRecord("2", "later", ref="r3"),
            ListRecord("1", "b", "subscribed", ref="m1"),
            ListRecord("1", "b", "unsubscribed"),
            EventRecord("e1", "order_placed", NOW, email="ann@example.com", value=1.0),
            EventRecord("e1", "order_refunded", NOW, contact_external_id="1", value=2.0),
            DealRecord("d1", stage="new", contact_external_ids=["1"]),
            DealRecord("d1", stage="won", contact_external_ids=["2", "1"]),
        ],
    )
    assert writer.counts == Counter(contacts=3, tags=5, lists=2, events=2, deals=2)
    found = contents(store)
    assert [c[0] for c in found["contacts"]] == ["ann@example.com"]
    assert [(i["external_id"], i["consent"]) for i in found["identities"]] == [
        ("1", "granted"),  # a record without consent keeps what the source said before
        ("2", "revoked"),
    ]
    assert {a["name"]: a["value"] for a in found["attributes"]} == {"city": "Poznań", "age": "30"}
    assert {t["tag"]: t["ref"] for t in found["tags"]} == {"b": None, "c": None, "later": "r3"}
    assert {m["list"]: (m["status"], m["ref"]) for m in found["memberships"]} == {
        "b": ("unsubscribed", None)  # a list record says the whole link: its ref too
    }
    assert [(e["type"], e["value"], e["contact_ref"]) for e in found["events"]] == [
        ("order_refunded", 2.0, "1")
    ]
    assert [(d["stage"]) for d in found["deals"]] == ["won"]
    assert len(found["deal_contacts"]) == 1
    assert emails_of(store, writer.touched) == {"ann@example.com"}


def test_a_record_about_a_contact_before_the_contact_in_the_page_is_quarantined(
    store: sa.Engine,
) -> None:
    writer = write(
        store, [TagRecord("1", "vip"), ContactRecord("1", "ann@example.com"), TagRecord("1", "vip")]
    )
    assert reasons(store) == ["contact '1' is not known yet"]
    assert writer.counts == Counter(contacts=1, tags=1, quarantined=1)


def test_an_event_before_its_contact_is_kept_pending_and_linked_later(store: sa.Engine) -> None:
    writer = write(
        store,
        [
            EventRecord("e1", "email_opened", NOW, contact_external_id="1"),
            ContactRecord("1", "ann@example.com"),
            EventRecord("e2", "email_opened", NOW, contact_external_id="1"),
            EventRecord("e3", SKIPPED, NOW, contact_external_id="1"),
        ],
    )
    assert writer.counts == Counter(events=2, contacts=1, events_skipped=1)
    linked = {e["external_id"]: e["contact_id"] for e in contents(store)["events"]}
    assert linked == {"e1": None, "e2": "ann@example.com"}
    with store.begin() as conn:
        assert link_pending_events(conn, SOURCE) == 1
    linked = {e["external_id"]: e["contact_id"] for e in contents(store)["events"]}
    assert linked == {"e1": "ann@example.com", "e2": "ann@example.com"}


# --- links syncd added, and links another writer makes meanwhile --------------------------


def ann_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        query = sa.select(contacts.c.id).where(contacts.c.email == "ann@example.com")
        return int(conn.execute(query).scalar_one())


def pushed(conn: sa.Connection, contact: int, tag: str, name: str) -> None:
    """What push records when the destination confirmed a tag and a list it added."""
    row = {"contact_id": contact, "source": SOURCE, "ref": "pushed", "managed": True}
    row["updated_at"] = NOW - timedelta(days=1)
    conn.execute(tags.insert(), [{**row, "tag": tag, "name": tag, "count": None}])
    conn.execute(memberships.insert(), [{**row, "list": name, "status": "subscribed"}])


def links(engine: sa.Engine) -> dict[str, tuple[Any, ...]]:
    found = contents(engine)
    return {
        **{t["tag"]: (t["ref"], t["managed"]) for t in found["tags"]},
        **{m["list"]: (m["status"], m["ref"], m["managed"]) for m in found["memberships"]},
    }


def test_links_syncd_added_keep_their_mark_when_the_source_reports_them(store: sa.Engine) -> None:
    write(store, [ContactRecord("1", "ann@example.com")])
    with store.begin() as conn:
        pushed(conn, ann_id(store), "vip", "news")
        pushed(conn, ann_id(store), "kept", "kept list")
    write(
        store,
        [
            ContactRecord(
                "1",
                None,
                tags=["vip", "kept"],
                lists={"kept list": "subscribed", "news": "subscribed"},
            ),
            TagRecord("1", "vip", ref="r1"),
            ListRecord("1", "news", "unsubscribed", ref="m1"),
        ],
    )
    assert links(store) == {
        "vip": ("r1", True),
        "kept": ("pushed", True),
        "news": ("unsubscribed", "m1", True),
        "kept list": ("subscribed", "pushed", True),
    }


def test_a_link_made_meanwhile_keeps_what_the_page_does_not_speak_of(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page writes over a link only the columns its records set, as row by row did: a push
    confirmed after the page read its links keeps its ref and its managed mark."""
    write(store, [ContactRecord("1", "ann@example.com")])
    ann, write_rows = ann_id(store), PageRows.write

    def push_meanwhile(self: PageRows, conn: sa.Connection) -> dict[int, int]:
        pushed(conn, ann, "vip", "news")
        return write_rows(self, conn)

    monkeypatch.setattr(PageRows, "write", push_meanwhile)
    write(store, [ContactRecord("1", None, tags=["vip"], lists={"news": "unsubscribed"})])
    assert links(store) == {"vip": ("pushed", True), "news": ("unsubscribed", "pushed", True)}


def test_values_a_source_said_before_are_not_written_again(store: sa.Engine) -> None:
    """An echo (a page that repeats what the store holds) writes no attribute, tag or list
    row and touches no contact, so resolve and a compute have nothing to do for it."""
    first: list[Record] = [
        ContactRecord("1", "ann@example.com", {"city": "Kraków", "age": 30, "since": "2025-01-31"}),
        ContactRecord("2", "bob@example.com", {"city": "Gdańsk"}, ["vip"], {"news": "subscribed"}),
        TagRecord("1", "customer", ref="t1"),
        ListRecord("1", "offers", "unsubscribed", ref="l1"),
    ]
    write(store, first)
    sent: list[str] = []
    writer = write(store, first, sent)
    assert writer.touched == set()
    written = [s.split()[:3] for s in sent if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert written == [["UPDATE", "contacts", "SET"]]
    assert contents(store)["tags"][0]["ref"] == "t1"
    changed: list[Record] = [*first, ContactRecord("2", None, {"city": "Sopot", "age": 40})]
    writer = write(store, changed)
    assert emails_of(store, writer.touched) == {"bob@example.com"}
    assert {a["value"] for a in contents(store)["attributes"]} == {
        "Kraków",
        "30",
        "2025-01-31",
        "Sopot",
        "40",
    }


def test_rows_sent_to_the_driver_are_stored_as_sqlalchemy_stores_them(store: sa.Engine) -> None:
    """SQLite takes the page's rows as tuples converted by syncd (execute_many): each value
    is stored as SQLAlchemy would store it, so queries compare them alike."""
    write(store, [ContactRecord("1", "ann@example.com"), ContactRecord("2", "bob@example.com")])
    ann, bob = sorted(ann_id_of(store, e) for e in ("ann@example.com", "bob@example.com"))
    at = datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    row = {"source": SOURCE, "tag": "vip", "name": "vip", "count": 3, "ref": None}
    row |= {"managed": True, "updated_at": at}
    stmt = upsert_module._upsert_statement  # the statement the page writes with
    with store.begin() as conn:
        conn.execute(tags.insert(), [{**row, "contact_id": ann}])
        upsert_module.execute_many(
            conn, stmt(conn, tags, ["contact_id", "source", "tag"], None), tags,
            [{**row, "contact_id": bob}],
        )  # fmt: skip
        stored = conn.execute(
            sa.select(
                tags.c.contact_id, sa.cast(tags.c.updated_at, sa.Text), tags.c.managed
            ).order_by(tags.c.contact_id)
        ).all()
    assert stored[0][1:] == stored[1][1:]
    assert stored[0][2] is True


def test_event_properties_sent_to_the_driver_are_stored_as_sqlalchemy_stores_them(
    store: sa.Engine,
) -> None:
    """An event's properties (JSON) go to SQLite converted by syncd too, as the same text
    SQLAlchemy would store; PostgreSQL keeps them as JSONB either way."""
    props = {"items": [1, 2.5, None], "city": "Kraków", "note": 'a "quote"', "ok": True}
    row = {"source": SOURCE, "contact_id": None, "contact_ref": "x", "type": "order_placed"}
    row |= {"raw_type": None, "occurred_at": NOW, "value": None, "properties": props}
    keys = ["source", "external_id"]
    stmt = upsert_module._upsert_statement
    with store.begin() as conn:
        conn.execute(events.insert(), [{**row, "external_id": "e1"}])
        built = stmt(conn, events, keys, ["properties"])
        upsert_module.execute_many(conn, built, events, [{**row, "external_id": "e2"}])
        stored = conn.execute(
            sa.select(sa.cast(events.c.properties, sa.Text)).order_by(events.c.external_id)
        ).scalars()
        first, second = list(stored)
        assert first == second
        assert conn.execute(sa.select(events.c.properties)).scalars().all() == [props, props]
    if store.dialect.name == "sqlite":  # the rows took the driver's path, not SQLAlchemy's
        assert upsert_module._driver_plan(
            store.dialect, built, events, (*row, "external_id")
        ) is not None  # fmt: skip


def ann_id_of(engine: sa.Engine, email: str) -> int:
    with engine.connect() as conn:
        query = sa.select(contacts.c.id).where(contacts.c.email == email)
        return int(conn.execute(query).scalar_one())
