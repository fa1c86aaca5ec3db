"""How a compute runs, beyond which members it finds: a rule written again elsewhere reads the
members already computed, and the SQLite settings a compute uses are given back after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from syncd.segments.compile import Compiler
from syncd.store import open_store
from syncd.sync.compute import compute_segments
from tests.reference import Reference
from tests.segment_data import DAY, NOW, Dataset, compute_in_store, load, parse

ACTIVE = [
    {"event": "email_clicked", "within": "30d"},
    {"event": "page_visited", "within": "30d"},
]
SEGMENTS = {
    "active": {"any": ACTIVE},
    "inactive": {"not": {"any": ACTIVE}},  # the same rule as active's, written out again
    "active_vip": {"all": [{"any": ACTIVE}, {"tag": "VIP"}]},
    "clicked_long_ago": {"all": [{"event": "email_clicked"}, {"not": {"any": ACTIVE}}]},
}


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = open_store(store_url)
    yield engine
    engine.dispose()


def _data() -> Dataset:
    data = Dataset()
    data.event("clicked@x.com", "email_clicked", NOW - 2 * DAY)
    data.event("visited@x.com", "page_visited", NOW - 29 * DAY, url="/")
    data.event("old@x.com", "email_clicked", NOW - 31 * DAY)
    data.event("vip@x.com", "page_visited", NOW - DAY, url="/pricing")
    data.contact("vip@x.com").tags.add(("sm", "VIP"))
    data.contact("oldvip@x.com").tags.add(("sm", "VIP"))
    data.contact("quiet@x.com")
    return data


def test_a_rule_written_again_selects_what_it_selects_alone(engine: sa.Engine) -> None:
    data = _data()
    rules, models = parse(SEGMENTS)
    got = {
        name: data.emails(ids)
        for name, ids in compute_in_store(engine, data, rules, models).items()
    }
    assert got == {
        "active": {"clicked@x.com", "visited@x.com", "vip@x.com"},
        "inactive": {"old@x.com", "oldvip@x.com", "quiet@x.com"},
        "active_vip": {"vip@x.com"},
        "clicked_long_ago": {"old@x.com"},
    }
    expected = Reference(data, models).evaluate(rules)
    assert {name: data.emails(v.yes) for name, v in expected.items()} == got


def test_a_rule_written_again_reads_the_stored_members_of_this_compute_only() -> None:
    rules, models = parse(SEGMENTS)
    compiler = Compiler(rules, NOW, models)
    alone = str(compiler.members(rules["inactive"]))
    assert "segment_members" not in alone  # nothing computed yet in this compute
    compiler.materialized.add("active")
    again = compiler.members(rules["inactive"])
    assert "segment_members" in str(again)
    assert "events" not in str(again)


def test_a_later_compute_sees_the_members_of_its_own_time(engine: sa.Engine) -> None:
    data = _data()
    rules, models = parse(SEGMENTS)
    compute_in_store(engine, data, rules, models)
    data.now = NOW + 10 * DAY  # vip's visit is now 11 days old, visited's 39
    found = compute_in_store(engine, data, rules, models)
    assert data.emails(found["inactive"]) == {
        "old@x.com",
        "oldvip@x.com",
        "quiet@x.com",
        "visited@x.com",
    }


def test_sqlite_page_cache_is_given_back_after_a_compute(tmp_path: object) -> None:
    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    rules, models = parse(SEGMENTS)
    try:
        with engine.begin() as conn:
            load(conn, _data())
            conn.exec_driver_sql("PRAGMA cache_size = -4000")
            results = compute_segments(conn, rules, NOW, models)
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -4000
    finally:
        engine.dispose()
    assert {r.name: r.size for r in results}["inactive"] == 3
