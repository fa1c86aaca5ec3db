"""How a compute runs, beyond which members it finds: a rule written again elsewhere reads the
members already computed, and the SQLite settings a compute uses are given back after it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from syncd.segments.compile import Compiler, kept_changes
from syncd.store import open_store
from syncd.store.schema import (
    contact_score_changes,
    contact_scores,
    events,
    score_scales,
    segment_members,
)
from syncd.sync.compute import compute_segments
from tests.reference import Reference
from tests.segment_data import DAY, NOW, Dataset, clear, compute_in_store, load, parse

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


SCORE = {
    "heat": {
        "points": [
            {"event": "email_clicked", "points": 5},
            {"event": "page_visited", "where": {"url": {"contains": "/pricing"}}, "points": 10},
        ],
        "half_life": "7d",
    }
}
BY_SCORE = {
    "hot": {"score": "heat", "gte": 4},
    "warming": {"score": "heat", "change": {"over": "3d", "gt": 0}},
    "cooling": {"score": "heat", "change": {"over": "10d", "lt": 0}},
}


def _stored(conn: sa.Connection) -> dict[str, Any]:
    """The scores and changes at their worth at the last compute (stored at the reference
    time, times the score's scale)."""
    scale = sa.func.coalesce(
        sa.select(score_scales.c.scale)
        .where(score_scales.c.score == contact_scores.c.score)
        .scalar_subquery(),
        1.0,
    )
    scores = conn.execute(sa.select(contact_scores.c.score, contact_scores.c.contact_id,
                                    contact_scores.c.value * scale)).all()  # fmt: skip
    over = sa.func.coalesce(
        sa.select(score_scales.c.scale)
        .where(score_scales.c.score == contact_score_changes.c.score)
        .scalar_subquery(),
        1.0,
    )
    changes = conn.execute(
        sa.select(contact_score_changes.c.score, contact_score_changes.c.over_seconds,
                  contact_score_changes.c.contact_id, contact_score_changes.c.change * over)
    ).all()  # fmt: skip
    return {
        "scores": {(s, c): round(v, 9) for s, c, v in scores},
        "changes": {(s, o, c): round(v, 9) for s, o, c, v in changes},
    }


def test_scores_kept_from_a_compute_before_equal_scores_computed_afresh(engine: sa.Engine) -> None:
    data = Dataset()
    data.event("a@x.com", "email_clicked", NOW - 2 * DAY)
    data.event("b@x.com", "page_visited", NOW - 5 * DAY, url="/pricing")
    data.event("c@x.com", "email_clicked", NOW - 20 * DAY)
    data.contact("d@x.com")
    rules, models = parse(BY_SCORE, SCORE)
    with engine.begin() as conn:
        clear(conn)
        load(conn, data)
        compute_segments(conn, rules, NOW, models)
        # c's events go, d earns its first points, b a second visit; two days pass;
        # the 10-day window is no longer asked about
        conn.execute(events.delete().where(events.c.contact_id == 3))
        later = NOW + 2 * DAY
        conn.execute(
            events.insert(),
            [
                {"source": "shop", "external_id": "n1", "contact_id": 4, "type": "email_clicked",
                 "occurred_at": later - DAY},
                {"source": "shop", "external_id": "n2", "contact_id": 2, "type": "page_visited",
                 "occurred_at": later, "properties": {"url": "/pricing"}},
            ],
        )  # fmt: skip
        fewer = {k: v for k, v in BY_SCORE.items() if k != "cooling"}
        rules, models = parse(fewer, SCORE)
        compute_segments(conn, rules, later, models)
        kept = _stored(conn)
        rows = conn.execute(sa.select(events)).mappings().all()
        clear(conn)
        load(conn, Dataset(contacts=data.contacts))
        conn.execute(events.insert(), [dict(r) for r in rows])
        compute_segments(conn, rules, later, models)
        afresh = _stored(conn)
    assert kept == afresh
    assert {c for _, c in kept["scores"]} == {1, 2, 4}
    assert {o for _, o, _ in kept["changes"]} == {3 * 86400}


def test_a_change_is_stored_only_where_a_rule_may_select_it(engine: sa.Engine) -> None:
    """``gt: 0`` over 3 days and ``lt: 0`` over 10 days select no change of the other sign:
    none is stored; a rule that may select any change over 10 days has them all stored."""
    data = Dataset()
    data.event("a@x.com", "email_clicked", NOW - 2 * DAY)  # rose over 3 and 10 days
    data.event("b@x.com", "page_visited", NOW - 5 * DAY, url="/pricing")  # over 10 only
    data.event("c@x.com", "email_clicked", NOW - 20 * DAY)  # fell over both

    def stored(conn: sa.Connection) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        for over, contact in conn.execute(
            sa.select(contact_score_changes.c.over_seconds, contact_score_changes.c.contact_id)
        ):
            out.setdefault(over // 86400, set()).add(contact)
        return out

    with engine.begin() as conn:
        clear(conn)
        load(conn, data)
        rules, models = parse(BY_SCORE, SCORE)
        compute_segments(conn, rules, NOW, models)
        assert stored(conn) == {3: {1}, 10: {3}}
        assert _members_of(conn, "warming") == {1} and _members_of(conn, "cooling") == {3}
        wider = {**BY_SCORE, "moved": {"score": "heat", "change": {"over": "10d", "gte": -1}}}
        rules, models = parse(wider, SCORE)
        compute_segments(conn, rules, NOW, models)  # incremental: nothing else changed
        assert stored(conn) == {3: {1}, 10: {1, 2, 3}}
        assert _members_of(conn, "moved") == {1, 2}


@pytest.mark.parametrize(
    ("tests", "kept"),
    [
        ([{"gt": 0}], {"gt"}),
        ([{"gte": 0}], {"gte"}),
        ([{"gte": 5}, {"lt": -1}], {"gt", "lt"}),  # two rules: either sign
        ([{"lte": -2}], {"lt"}),
        ([{"top": 3}], {"gt"}),  # the risers
        ([{"gt": 0}, {"lt": 5}], None),  # lt 5 may select a change above 0
        ([{"ne": 0}], None),
        ([{"gte": -1}], None),
    ],
)
def test_the_changes_kept_are_those_a_rule_may_select(
    tests: list[dict[str, Any]], kept: set[str] | None
) -> None:
    rules, _ = parse(
        {f"s{i}": {"score": "heat", "change": {"over": "3d", **t}} for i, t in enumerate(tests)},
        SCORE,
    )
    assert kept_changes(rules.values()) == {("heat", 3 * DAY): kept and frozenset(kept)}


DECAYING = {
    "hot": {"score": "heat", "gte": 4},
    "rising": {"score": "heat", "change": {"over": "30d", "gte": 4}},
}


def _members_of(conn: sa.Connection, name: str) -> set[int]:
    found = sa.select(segment_members.c.contact_id).where(segment_members.c.segment == name)
    return set(conn.execute(found).scalars())


def test_a_decaying_score_leaves_its_segments_as_the_clock_moves_and_rewrites_no_value(
    engine: sa.Engine,
) -> None:
    """A score with a half-life is stored at a reference time: a clock move leaves its rows
    as they are, and the members whose value fell below a threshold since, and only they,
    leave the segments comparing with it."""
    data = Dataset()
    data.event("a@x.com", "email_clicked", NOW)  # 5 points: below 4 after 2.3 days
    data.event("b@x.com", "page_visited", NOW, url="/pricing")  # 10: below 4 after 9.3 days
    rules, models = parse(DECAYING, SCORE)
    with engine.begin() as conn:
        clear(conn)
        load(conn, data)
    with engine.begin() as conn:
        compute_segments(conn, rules, NOW, models)
        assert _members_of(conn, "hot") == _members_of(conn, "rising") == {1, 2}
        rows = _rows(conn)
        results = compute_segments(conn, rules, NOW + 2.5 * DAY, models)
        assert _rows(conn) == rows  # not a value rewritten
        assert _members_of(conn, "hot") == _members_of(conn, "rising") == {2}
        assert {r.name: r.removed for r in results} == {"hot": 1, "rising": 1}
        worth = conn.execute(sa.text("SELECT contact_id, value FROM syncd_scores")).all()
        assert dict(worth) == pytest.approx({1: 5 * 2 ** (-2.5 / 7), 2: 10 * 2 ** (-2.5 / 7)})
        compute_segments(conn, rules, NOW + 9 * DAY, models)
        assert _members_of(conn, "hot") == {2}
        compute_segments(conn, rules, NOW + 10 * DAY, models)
        assert _members_of(conn, "hot") == _members_of(conn, "rising") == set()
        assert _rows(conn) == rows


def _rows(conn: sa.Connection) -> list[Any]:
    return [
        *conn.execute(sa.select(contact_scores).order_by(*contact_scores.primary_key)),
        *conn.execute(
            sa.select(contact_score_changes).order_by(*contact_score_changes.primary_key)
        ),
    ]


def _scored_data(data: Dataset | None = None) -> Dataset:
    data = data or Dataset()
    for n in range(12):
        data.event(f"p{n}@x.com", "page_visited", NOW - n * DAY, url="/pricing")
        data.event(f"p{n}@x.com", "email_clicked", NOW - (n % 5) * DAY)
    data.event("a@x.com", "email_clicked", NOW - 2 * DAY)
    data.event("b@x.com", "page_visited", NOW - 5 * DAY, url="/blog")
    data.contact("d@x.com")
    return data


def _aside_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ReadAside of each compute that read aside, in order."""
    from syncd.sync import compute as compute_module

    made: list[Any] = []
    real = compute_module.ReadAside

    def spy(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(compute_module, "ReadAside", spy)
    return made


def test_score_passes_read_aside_store_what_this_connection_would(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compute on committed data sums the scores on a second connection; one in a
    transaction that already wrote sums them itself. Both store the same, and the same as
    the reference evaluator."""
    from syncd.segments import aside as aside_module

    made = _aside_spy(monkeypatch)
    monkeypatch.setattr(aside_module, "_BATCH", 5)  # the 13 sums cross in three batches
    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    data = _scored_data()
    # two models: the first is summed aside, the second here
    cold = {"cold": {"points": [{"event": "email_clicked", "points": -1}]}}
    rules, models = parse({**BY_SCORE, "chilly": {"score": "cold", "lt": 0}}, {**SCORE, **cold})
    try:
        with engine.begin() as conn:
            load(conn, data)
        with engine.begin() as conn:
            compute_segments(conn, rules, NOW, models)
            aside = _stored(conn), _members(conn)
        assert len(made) == 1
        with engine.begin() as conn:
            conn.execute(events.delete().where(sa.false()))  # nothing: but not a fresh start
            conn.exec_driver_sql("CREATE TEMP TABLE scratch (x)")
            conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")
            compute_segments(conn, rules, NOW, models)
            here = _stored(conn), _members(conn)
        assert len(made) == 1
    finally:
        engine.dispose()
    assert aside == here
    assert len(aside[0]["scores"]) == 13 + 13  # each model: every contact it gave points
    expected = Reference(data, models).evaluate(rules)
    assert {n: data.emails(v.yes) for n, v in expected.items()} == {
        n: data.emails(aside[1].get(n, set())) for n in rules
    }
    assert aside[1]["chilly"]


def _members(conn: sa.Connection) -> dict[str, set[int]]:
    from syncd.store.schema import segment_members

    out: dict[str, set[int]] = {}
    for name, cid in conn.execute(
        sa.select(segment_members.c.segment, segment_members.c.contact_id)
    ):
        out.setdefault(name, set()).add(cid)
    return out


def test_events_written_in_the_compute_transaction_are_scored(tmp_path: object) -> None:
    """A second connection would not see them: the passes are then summed here."""
    from syncd.segments.aside import may_read_aside

    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    rules, models = parse(BY_SCORE, SCORE)
    try:
        with engine.begin() as conn:
            load(conn, _scored_data())
        with engine.begin() as conn:
            assert may_read_aside(conn)
            conn.execute(
                events.insert().values(source="shop", external_id="late", contact_id=1,
                                       type="email_clicked", occurred_at=NOW)
            )  # fmt: skip
            assert not may_read_aside(conn)
            compute_segments(conn, rules, NOW, models)
            value = conn.execute(
                sa.text("SELECT value FROM syncd_scores WHERE contact_id = 1")
            ).scalar_one()
    finally:
        engine.dispose()
    # p0: a pricing visit (10) and a click (5) today, and the late click (5)
    assert value == pytest.approx(20)


def test_a_failure_aside_is_raised_by_the_compute_and_leaves_no_thread(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from syncd.segments import aside as aside_module

    def broken(conn: sa.Connection, job: Any, now: Any) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(aside_module, "fill_pass", broken)
    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    rules, models = parse(BY_SCORE, SCORE)
    try:
        with engine.begin() as conn:
            load(conn, _scored_data())
        with pytest.raises(RuntimeError, match="disk gone"), engine.begin() as conn:
            compute_segments(conn, rules, NOW, models)
        with engine.connect() as conn:  # rolled back: nothing stored
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(contact_scores)).scalar() == 0
            )
    finally:
        engine.dispose()
    assert not [t for t in threading.enumerate() if t.name == "syncd-read-aside"]


def test_rfm_classes_by_the_table_docs_segments_shows() -> None:
    from syncd.segments.rfm import CLASS_TABLE
    from tests.reference import RFM_TABLE

    assert CLASS_TABLE == RFM_TABLE


def test_rfm_scores_with_ties_at_the_quintile_cuts(engine: sa.Engine) -> None:
    from datetime import timedelta

    from syncd.segments.rfm import compute_rfm, rfm_class
    from syncd.store.schema import contact_rfm

    # 23 purchasers: the quintile cuts fall at sorted positions 5, 10, 14 and 19, each inside
    # a run of equal frequencies, sums and last order times
    counts = [1] * 9 + [2] * 7 + [3] * 4 + [5] * 3
    data = Dataset()
    measures = {}
    for i, count in enumerate(counts):
        email = f"p{i}@x.com"
        last = NOW - (i % 4) * DAY - timedelta(microseconds=250 * (i % 3))
        value = (10.0, 25.5, 10.0)[i % 3]
        for k in range(count):
            data.event(email, "order_placed", last - 7 * k * DAY, value)
        measures[data.contact(email).id] = (last, count, count * value)
    data.event("p0@x.com", "order_placed", NOW + DAY, 999.0)  # after now: not counted
    data.event("p1@x.com", "email_clicked", NOW, 5.0)
    data.contact("none@x.com")

    n = len(measures)

    def score(k: int, v: Any) -> int:  # rank() over the purchasers, ties sharing the lowest
        rank = 1 + sum(1 for m in measures.values() if m[k] < v)
        return 1 + 5 * (rank - 1) // n

    expected = {}
    for c, (last, count, total) in measures.items():
        r, f, m = score(0, last), score(1, count), score(2, total)
        expected[c] = (last, count, total, r, f, m, rfm_class(r, f, m))
    assert {v[4] for v in expected.values()} == {1, 2, 4, 5}  # ties: no purchaser scores f3

    with engine.begin() as conn:
        clear(conn)
        load(conn, data)
    with engine.begin() as conn:
        for _ in range(2):  # a second compute in the same transaction gives the same
            compute_rfm(conn, NOW)
            got = {row[0]: tuple(row[1:]) for row in conn.execute(sa.select(contact_rfm))}
            assert got == expected
        compute_rfm(conn, NOW - 400 * DAY)  # before every order: no purchaser
        assert conn.execute(sa.select(sa.func.count()).select_from(contact_rfm)).scalar() == 0


def test_segments_read_aside_are_stored_as_if_computed_here(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second connection takes every segment it may (the first one is held back): those
    reading neither a score nor the RFM. Their members, stored by the first connection, are
    the reference evaluator's; a second compute finds nothing changed."""
    from syncd.sync import compute as compute_module

    made = _aside_spy(monkeypatch)
    real_rfm = compute_module.compute_rfm

    def held_back(conn: sa.Connection, now: Any, *scope: Any) -> None:
        if made:
            made[-1]._read_done.wait(30)  # until the second connection read all it may
        real_rfm(conn, now, *scope)

    monkeypatch.setattr(compute_module, "compute_rfm", held_back)
    data = _scored_data(_data())
    data.event("buyer@x.com", "order_placed", NOW - 3 * DAY, value=40.0)
    everything = {
        **SEGMENTS,
        **BY_SCORE,
        "champions": {"rfm": {"class": "champions"}},
        "hot_vip": {"all": [{"segment": "hot"}, {"tag": "VIP"}]},
        "vip_buyers": {"all": [{"segment": "active_vip"}, {"purchases": {"count": {"gte": 1}}}]},
    }
    rules, models = parse(everything, SCORE)
    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    try:
        with engine.begin() as conn:
            load(conn, data)
        with engine.begin() as conn:
            first = compute_segments(conn, rules, NOW, models)
            members = _members(conn)
        shared = [n for n in rules if n not in {"champions", "hot_vip", *BY_SCORE}]
        assert made[-1].names_read == shared[::-1]  # from the end of the list
        assert made[-1]._read == {}  # every segment read aside was stored
        with engine.begin() as conn:
            again = compute_segments(conn, rules, NOW, models)
    finally:
        engine.dispose()
    expected = Reference(data, models).evaluate(rules)
    assert {n: data.emails(members.get(n, set())) for n in rules} == {
        n: data.emails(v.yes) for n, v in expected.items()
    }
    assert [(r.name, r.size) for r in again] == [(r.name, r.size) for r in first]
    assert all(r.added == 0 and r.removed == 0 for r in again)


def test_both_connections_go_back_to_the_pool_with_the_page_cache_they_came_with(
    tmp_path: object,
) -> None:
    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    rules, models = parse(BY_SCORE, SCORE)
    try:
        with engine.begin() as conn:
            load(conn, _scored_data())
            default = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        with engine.begin() as conn:
            compute_segments(conn, rules, NOW, models)
        assert engine.pool.checkedin() == 2  # the compute's and the one reading aside
        with engine.connect() as one, engine.connect() as two:
            for conn in (one, two):
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == default
    finally:
        engine.dispose()


def test_a_failure_here_stops_the_reading_aside(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from syncd.sync import compute as compute_module

    def broken(conn: sa.Connection, now: Any) -> None:
        raise RuntimeError("no room")

    monkeypatch.setattr(compute_module, "compute_rfm", broken)
    engine = open_store(f"sqlite:///{tmp_path}/store.db")
    rules, models = parse({**SEGMENTS, **BY_SCORE}, SCORE)
    try:
        with engine.begin() as conn:
            load(conn, _scored_data(_data()))
        with pytest.raises(RuntimeError, match="no room"), engine.begin() as conn:
            compute_segments(conn, rules, NOW, models)
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()
    assert not [t for t in threading.enumerate() if t.name == "syncd-read-aside"]
