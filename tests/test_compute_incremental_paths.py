"""The incremental paths of a compute one at a time, each against a whole compute: since
when a tag or list is held has time edges (a segment with ``since:`` is evaluated for its
scope, not whole), and a top share of the candidates keeps their number from one compute to
the next instead of counting them all."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.segments.compile import Compiler
from syncd.segments.incremental import TOP_COUNTS
from syncd.segments.top_shares import count_tops, top_shares
from syncd.store.schema import changed_contacts, contacts, events, memberships, meta, tags
from syncd.sync import compute as compute_module
from tests.segment_data import DAY, NOW, Dataset, parse
from tests.test_compute_incremental import Store, whole_computes

SINCE = {
    "new_vip": {"tag": "VIP", "since": "7d"},
    "faithful": {"list": "*", "since": {"older_than": "365d"}},
}
SCORE = {
    "heat": {
        "points": [
            {"event": "email_clicked", "points": 5},
            {"event": "page_visited", "points": 10},
        ],
        "half_life": "7d",
    }
}
RISING = {"rising": {"score": "heat", "change": {"over": "30d", "top": "50%"}}}


def test_a_since_segment_is_evaluated_for_its_scope_and_moves_at_its_edges(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tag held for 7 days leaves ``since: 7d`` and a subscription of a year joins
    ``older_than: 365d`` as the clock passes their edges, with no row changed: found by
    their edges, evaluated for the scope only. Without the edges they would stand."""
    data = Dataset()
    vip = data.contact("vip@x.com")
    vip.tags.add(("sm", "VIP"))
    vip.tag_since[("sm", "VIP")] = NOW - DAY
    reader = data.contact("reader@x.com")
    reader.lists[("esp", "Newsletter")] = "subscribed"
    reader.list_since[("esp", "Newsletter")] = NOW - 364 * DAY
    data.contact("other@x.com").lists[("esp", "Newsletter")] = "subscribed"  # since now
    rules, models = parse(SINCE)
    store = Store(engine, data)
    first = store.compute(rules, models, full=False)
    assert first["new_vip"] == {vip.id} and first["faithful"] == set()
    whole = whole_computes(monkeypatch)
    for days, new_vip, faithful in ((2, {vip.id}, {reader.id}), (7, set(), {reader.id})):
        data.now = NOW + days * DAY
        got = store.compute(rules, models, full=False)
        assert whole == [], "no segment with since: computed whole"
        assert (got["new_vip"], got["faithful"]) == (new_vip, faithful), f"+{days} days"
        assert got["sizes"] == {"new_vip": len(new_vip), "faithful": len(faithful)}
        again = store.compute(rules, models, full=True)
        assert {n: got[n] for n in rules} == {n: again[n] for n in rules}
        whole.clear()


@pytest.mark.parametrize(("table", "key"), [(tags, "tag"), (memberships, "list")])
def test_a_new_since_marks_the_contact_changed(
    engine: sa.Engine, table: sa.Table, key: str
) -> None:
    """A rule reads since when a tag or list is held: a change of it alone marks the
    contact, as a change of its status or count does."""
    with engine.begin() as conn:
        conn.execute(contacts.insert().values(id=1, email="a@x.com", created_at=NOW,
                                              updated_at=NOW))  # fmt: skip
        row = {"contact_id": 1, "source": "sm", key: "VIP", "managed": False,
               "updated_at": NOW, "since": NOW}  # fmt: skip
        row.update({"name": "VIP"} if key == "tag" else {"status": "subscribed"})
        conn.execute(table.insert().values(**row))
        conn.execute(changed_contacts.delete())
        conn.execute(table.update().values(updated_at=NOW + DAY))  # an echo: not a change
        assert conn.execute(sa.select(changed_contacts.c.contact_id)).all() == []
        conn.execute(table.update().values(since=NOW - DAY))
        assert conn.execute(sa.select(changed_contacts.c.contact_id)).scalars().all() == [1]


def _counted(engine: sa.Engine, rules: Any, models: Any, at: Any) -> tuple[dict[str, int], Any]:
    """The number of candidates of each top share as remembered, and as counted now."""
    with engine.connect() as conn:
        kept = json.loads(conn.execute(sa.select(meta.c.value).where(meta.c.key == TOP_COUNTS))
                          .scalar_one())  # fmt: skip
        counted = count_tops(conn, Compiler(rules, at, models), top_shares(rules))
    return kept, counted


def test_a_top_share_keeps_the_number_of_its_candidates_without_counting_them_all(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After new events make some contacts risers and others no longer, the number of
    risers an incremental compute remembers is the number there are, found by counting
    the contacts of its scope only; the share's members are a whole compute's."""
    data = Dataset()
    for n in range(10):
        data.event(f"p{n}@x.com", "page_visited", NOW - (n * 4 + 1) * DAY)
    data.contact("quiet@x.com")
    rules, models = parse(RISING, SCORE)
    store = Store(engine, data)
    store.compute(rules, models, full=False)
    kept, counted = _counted(engine, rules, models, data.now)
    assert kept == counted and list(counted.values()) == [8]  # the visits of 30 days or less
    calls: list[Any] = []  # the counts of every candidate
    real = compute_module.count_tops

    def spy(conn: sa.Connection, compiler: Any, shares: Any, scope: Any = None) -> Any:
        if scope is None and shares:
            calls.append(shares)
        return real(conn, compiler, shares, scope)

    monkeypatch.setattr(compute_module, "count_tops", spy)
    seen = []
    steps = [("quiet@x.com", "page_visited", 1), ("p9@x.com", "page_visited", 1),
             ("p0@x.com", "email_clicked", 1), (None, None, 10), (None, None, 25)]  # fmt: skip
    for n, (email, kind, hours) in enumerate(steps):
        data.now += timedelta(hours=hours)
        if email is not None:
            with engine.begin() as conn:
                conn.execute(events.insert().values(
                    source="t", external_id=f"new{n}", contact_id=data.contact(email).id,
                    type=kind, occurred_at=data.now))  # fmt: skip
        got = store.compute(rules, models, full=False)
        assert calls == [], f"step {n}: every candidate counted"
        kept, counted = _counted(engine, rules, models, data.now)
        assert kept == counted, f"step {n}"
        again = store.compute(rules, models, full=True)
        calls.clear()
        assert got["rising"] == again["rising"], f"step {n}"
        seen.append(counted)
    # three joined; then p7's visit of 29 days ago left the 30 days
    assert [list(c.values()) for c in seen] == [[9], [10], [10], [10], [9]]
