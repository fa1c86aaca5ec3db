"""An incremental compute leaves the store as a whole compute would, after any sequence of
changes to the data and moves of the clock, on SQLite and PostgreSQL; and the property
fails when the incremental compute forgets a contact or a crossed time window."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from syncd.segments import incremental
from syncd.segments import scores as scores_module
from syncd.segments.rules import Rule
from syncd.segments.scores import ScoreModel
from syncd.store import open_store
from syncd.store.schema import (
    contact_fields,
    contact_rfm,
    contacts,
    deal_contacts,
    deals,
    events,
    memberships,
    segment_members,
    tags,
)
from syncd.sync import compute as compute_module
from syncd.sync.compute import compute_segments
from tests.reference import Reference
from tests.segment_data import Contact, Dataset, Event, clear, field_value, load, parse, split_tag
from tests.strategies import (
    EVENT_TYPES,
    EVENT_VALUES,
    FIELD_NAMES,
    FIELD_TEXTS,
    LIST_SOURCES,
    LISTS,
    SQL_RULES,
    TAG_SOURCES,
    TAGS,
    TIMES,
    configs,
    datasets,
    properties,
)
from tests.test_segments_property import SETTINGS

CLOCK_MOVES = (
    timedelta(0), timedelta(seconds=1), timedelta(hours=1), timedelta(days=1),
    timedelta(days=7), timedelta(days=30), timedelta(days=31), timedelta(days=90),
)  # fmt: skip


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = open_store(store_url)
    yield engine
    engine.dispose()


class Store:
    """A store and the dataset it holds, changed together, one row at a time (as pulls
    change it: the triggers see each change)."""

    def __init__(self, engine: sa.Engine, data: Dataset) -> None:
        self.engine = engine
        self.data = data
        self.ids = itertools.count(len(data.events))  # load() names event i "e{i}"
        self.event_ids = {f"e{i}": e for i, e in enumerate(data.events)}
        with engine.begin() as conn:
            clear(conn)
            load(conn, data)

    def _event_row(self, key: str, e: Event) -> dict[str, Any]:
        return {"source": e.source, "external_id": key, "contact_id": e.contact_id,
                "type": e.type, "occurred_at": e.at, "value": e.value,
                "properties": dict(e.properties) if e.properties is not None else None}  # fmt: skip

    def change(self, draw: st.DrawFn) -> str:
        """Make one random change; say what it was."""
        data = self.data
        kind = draw(st.sampled_from(
            ("event", "event", "drop_event", "move_event", "tag", "list", "field", "contact",
             "deal", "clock", "clock")
        ))  # fmt: skip
        if kind == "clock":
            step = draw(st.sampled_from(CLOCK_MOVES))
            data.now += step
            return f"clock +{step}"
        if kind == "contact" or not data.contacts:
            added = Contact(len(data.contacts) + 1, f"c{len(data.contacts) + 1}@example.com")
            data.contacts.append(added)
            with self.engine.begin() as conn:
                conn.execute(
                    contacts.insert().values(
                        id=added.id, email=added.email, created_at=data.now, updated_at=data.now
                    )
                )
            return f"contact {added.id}"
        who = draw(st.sampled_from(data.contacts))
        with self.engine.begin() as conn:
            if kind == "event" or (kind in ("drop_event", "move_event") and not self.event_ids):
                e = Event(who.id, draw(st.sampled_from(EVENT_TYPES)), draw(st.sampled_from(TIMES)),
                          draw(st.sampled_from(EVENT_VALUES)), draw(properties()))  # fmt: skip
                key = f"e{next(self.ids)}"
                self.event_ids[key] = e
                data.events.append(e)
                conn.execute(events.insert().values(**self._event_row(key, e)))
                return f"event {e}"
            if kind in ("drop_event", "move_event"):
                key = draw(st.sampled_from(sorted(self.event_ids)))
                e = self.event_ids.pop(key)
                data.events.remove(e)
                if kind == "drop_event":
                    conn.execute(events.delete().where(events.c.external_id == key))
                    return f"drop {e}"
                moved = replace(e, at=draw(st.sampled_from(TIMES)))
                self.event_ids[key] = moved
                data.events.append(moved)
                conn.execute(events.update().where(events.c.external_id == key)
                             .values(occurred_at=moved.at))  # fmt: skip
                return f"move {e} to {moved.at}"
            if kind == "tag":
                source, tag = draw(st.sampled_from(TAG_SOURCES)), draw(st.sampled_from(TAGS))
                mine = tags.c.contact_id == who.id, tags.c.source == source, tags.c.tag == tag
                if (source, tag) in who.tags:
                    who.tags.discard((source, tag))
                    who.tag_since.pop((source, tag), None)
                    conn.execute(tags.delete().where(*mine))
                    return f"untag {who.id} {tag}"
                who.tags.add((source, tag))
                who.tag_since[(source, tag)] = data.now  # first seen now, as a pull stores it
                name, count = split_tag(tag)
                conn.execute(tags.insert().values(contact_id=who.id, source=source, tag=tag,
                                                  name=name, count=count, managed=False,
                                                  updated_at=data.now, since=data.now))  # fmt: skip
                return f"tag {who.id} {tag}"
            if kind == "list":
                key = (draw(st.sampled_from(LIST_SOURCES)), draw(st.sampled_from(LISTS)))
                status = draw(st.sampled_from(("subscribed", "unsubscribed")))
                mine = (memberships.c.contact_id == who.id, memberships.c.source == key[0],
                        memberships.c.list == key[1])  # fmt: skip
                if key in who.lists:
                    if who.lists[key] != status:  # a new status begins its time again
                        who.list_since[key] = data.now
                    conn.execute(memberships.update().where(*mine)
                                 .values(status=status, since=who.list_since[key]))  # fmt: skip
                else:
                    who.list_since[key] = data.now
                    conn.execute(memberships.insert().values(
                        contact_id=who.id, source=key[0], list=key[1], status=status,
                        managed=False, updated_at=data.now, since=data.now))  # fmt: skip
                who.lists[key] = status
                return f"list {who.id} {key} {status}"
            if kind == "field":
                name = draw(st.sampled_from(FIELD_NAMES))
                mine = contact_fields.c.contact_id == who.id, contact_fields.c.name == name
                conn.execute(contact_fields.delete().where(*mine))
                if draw(st.booleans()) and name in who.fields:
                    del who.fields[name]
                    return f"unset {who.id} {name}"
                value = field_value(draw(st.sampled_from(FIELD_TEXTS)))
                who.fields[name] = value
                conn.execute(contact_fields.insert().values(
                    contact_id=who.id, name=name, value=value.text, num=value.num, ts=value.ts,
                    source="crm"))  # fmt: skip
                return f"field {who.id} {name} {value.text}"
            # a deal: a new stage and status, or a contact joining or leaving it
            if not data.deals:
                return "no deal"
            i = draw(st.integers(0, len(data.deals) - 1))
            deal = data.deals[i]
            if draw(st.booleans()):
                stage = draw(st.sampled_from(("negotiation", "proposal", None)))
                status = draw(st.sampled_from(("open", "won", "lost")))
                data.deals[i] = replace(deal, stage=stage, status=status)
                conn.execute(deals.update().where(deals.c.external_id == deal.id)
                             .values(stage=stage, status=status))  # fmt: skip
                return f"deal {deal.id} {stage} {status}"
            link = deal_contacts.c.deal_id == deal.id, deal_contacts.c.contact_id == who.id
            if who.id in deal.contact_ids:
                data.deals[i] = replace(deal, contact_ids=deal.contact_ids - {who.id})
                conn.execute(deal_contacts.delete().where(*link))
                return f"deal {deal.id} without {who.id}"
            data.deals[i] = replace(deal, contact_ids=deal.contact_ids | {who.id})
            conn.execute(deal_contacts.insert().values(source=deal.source, deal_id=deal.id,
                                                       contact_id=who.id))  # fmt: skip
            return f"deal {deal.id} with {who.id}"

    def compute(
        self, rules: Mapping[str, Rule], models: Mapping[str, ScoreModel], full: bool
    ) -> dict[str, Any]:
        """Compute and read back what a segment or a destination reads; a whole compute is
        rolled back, so the next incremental one starts from what the last one left."""
        with self.engine.connect() as conn:
            transaction = conn.begin()
            compute_segments(conn, rules, self.data.now, models, full=full)
            found: dict[str, Any] = {name: set() for name in rules}
            for name, contact_id in conn.execute(
                sa.select(segment_members.c.segment, segment_members.c.contact_id)
            ):
                found[name].add(contact_id)
            found["rfm"] = set(conn.execute(sa.select(contact_rfm)).all())
            # as the view shows them: a score with a half-life at its worth now
            found["scores"] = {
                (score, c): value
                for c, score, value in conn.execute(sa.text("SELECT * FROM syncd_scores"))
            }
            found["sizes"] = dict(conn.execute(sa.text("SELECT name, size FROM segments")).all())
            if full:
                transaction.rollback()
            else:
                transaction.commit()
        return found


def same(
    rules: Mapping[str, Rule], models: Mapping[str, ScoreModel], data: Dataset,
    got: dict[str, Any], whole: dict[str, Any], step: str,
) -> None:  # fmt: skip
    """The incremental compute's result is the whole compute's, but for contacts whose score
    is too close to a threshold to call (floating point sums in another order)."""
    verdicts = Reference(data, models, SQL_RULES).evaluate(rules)
    for name in rules:
        differ = got[name] ^ whole[name]
        assert not differ - verdicts[name].maybe, (
            f"after {step}: segment {name} differs for {sorted(data.emails(differ))}"
        )
        assert got["sizes"][name] == len(got[name]), f"after {step}: size of {name}"
        assert not (got[name] - verdicts[name].yes - verdicts[name].maybe), (
            f"after {step}: {name} selects more than the reference"
        )
    assert got["rfm"] == whole["rfm"], f"after {step}: the RFM differs"
    assert got["scores"].keys() == whole["scores"].keys(), f"after {step}: scored contacts"
    for key, value in got["scores"].items():
        assert value == pytest.approx(whole["scores"][key], rel=1e-9, abs=1e-9), (
            f"after {step}: score {key}"
        )


def run_steps(
    engine: sa.Engine,
    data: Dataset,
    config: tuple[dict[str, Any], dict[str, Any]],
    draw: st.DataObject,
) -> None:
    rules, models = parse(*config)
    store = Store(engine, data)
    store.compute(rules, models, full=False)  # the first one: whole
    for _ in range(draw.draw(st.integers(1, 6), label="steps")):
        step = store.change(draw.draw)
        got = store.compute(rules, models, full=False)
        whole = store.compute(rules, models, full=True)
        same(rules, models, data, got, whole, step)


def property_of(engine: sa.Engine, **overrides: Any) -> Any:
    """The property as a Hypothesis test on ``engine``."""

    @settings(SETTINGS, **overrides)
    @given(data=datasets(), config=configs(size=5, nested=True), draw=st.data())
    def incremental_equals_whole(
        data: Dataset, config: tuple[dict[str, Any], dict[str, Any]], draw: st.DataObject
    ) -> None:
        run_steps(engine, data, config, draw)

    return incremental_equals_whole


def test_incremental_equals_whole(engine: sa.Engine) -> None:
    property_of(engine, max_examples=40)()


def fails(engine: sa.Engine) -> None:
    """The property, run until it fails (no shrinking): it must."""
    broken = property_of(
        engine, max_examples=200, phases=[Phase.generate], report_multiple_bugs=False,
        database=None,
    )  # fmt: skip
    with pytest.raises(AssertionError, match=r"^after "):
        broken()


def test_a_compute_that_forgets_a_changed_contact_fails_the_property(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The property is able to fail: with a change tracker that forgets the lowest marked
    contact, some sequence of changes leaves a segment as a whole compute would not."""
    real = incremental.take_changes

    def forgetful(conn: sa.Connection, into_scope: bool) -> None:
        real(conn, into_scope)
        if into_scope:
            table = incremental.scope_table
            lowest = sa.select(sa.func.min(table.c.contact_id)).scalar_subquery()
            conn.execute(table.delete().where(table.c.contact_id == lowest))

    monkeypatch.setattr(compute_module, "take_changes", forgetful)
    fails(engine)


def test_a_compute_blind_to_time_windows_fails_the_property(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, when no rule tells when a member's answer next changes."""
    monkeypatch.setattr(compute_module, "edges", lambda rule: [])
    monkeypatch.setattr(compute_module, "score_edges", lambda model, windows: [])
    fails(engine)


def test_recurring_dates_and_ages_stand_within_a_day_and_move_on_the_next(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within one UTC day an incremental compute keeps the members of a birthday, an
    anniversary and an age segment without evaluating them; the next day it evaluates
    them again (a birthday 8 days ahead comes into a 7-day window, an 18th birthday makes
    an adult), as a whole compute does. A compute that took the days to stand across
    midnight would keep the day before's members."""
    data = Dataset(now=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    data.contact("soon@example.com").fields["birthday"] = field_value("1990-03-09")
    data.contact("adult@example.com").fields["birthday"] = field_value("2008-03-02")
    rules, models = parse(
        {
            "birthday_week": {"birthday": {"within_next": "7d"}},
            "signup_week": {"anniversary": "birthday", "within_next": "7d"},
            "adults": {"age": {"gte": 18}},
        }
    )
    store = Store(engine, data)
    assert store.compute(rules, models, full=False)["birthday_week"] == {2}
    evaluated = whole_computes(monkeypatch)
    store.data = replace(data, now=data.now + timedelta(hours=11))  # 23:00, the same day
    later = store.compute(rules, models, full=False)
    assert evaluated == [], "no row changed and the day is the same: nothing to evaluate"
    assert later["birthday_week"] == {2} and later["adults"] == {1}
    store.data = replace(data, now=data.now + timedelta(hours=12))  # midnight: 2 March
    got = store.compute(rules, models, full=False)
    assert set(evaluated) == set(rules)
    assert got["birthday_week"] == got["signup_week"] == {1, 2}
    assert got["adults"] == {1, 2}
    whole = store.compute(rules, models, full=True)
    assert {n: got[n] for n in rules} == {n: whole[n] for n in rules}


def whole_computes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the segments the computes evaluate whole from now on, in order."""
    evaluated: list[str] = []
    real = compute_module._segment

    def counting(conn: sa.Connection, compiler: Any, name: str, *rest: Any) -> Any:
        evaluated.append(name)
        return real(conn, compiler, name, *rest)

    monkeypatch.setattr(compute_module, "_segment", counting)
    return evaluated


def test_incremental_equals_whole_across_new_reference_times(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The property, with a score's reference time moving every 4 half-lives (28 days for
    a half-life of 7): clock moves cross it, and the scores are stored again at the next."""
    monkeypatch.setattr(scores_module, "REBASE_EVERY", 4)
    property_of(engine, max_examples=20)()


def test_full_computes_what_no_change_tracker_saw(env: Any, store_url: str) -> None:
    """``syncd plan --full`` evaluates every contact: an order written behind the change
    tracker's back (its mark taken away) is seen by it, not by the incremental compute."""
    from tests.test_cycle import run

    assert run(env, "sync") == 0
    engine = sa.create_engine(store_url)
    member = sa.select(segment_members.c.contact_id).where(
        segment_members.c.segment == "loyal_customers"
    )
    with engine.begin() as conn:
        before = set(conn.execute(member).scalars())
        buyer = conn.execute(
            sa.select(contacts.c.id).where(contacts.c.id.not_in(before)).limit(1)
        ).scalar_one()
        when = datetime(2026, 11, 19, tzinfo=UTC)  # the day before the sample's
        for n in range(2):
            conn.execute(events.insert().values(source="shop", external_id=f"hidden{n}",
                                                contact_id=buyer, type="order_placed",
                                                occurred_at=when, value=10.0))  # fmt: skip
        conn.execute(sa.text("DELETE FROM changed_contacts"))
    assert run(env, "plan") == 0
    with engine.connect() as conn:
        assert set(conn.execute(member).scalars()) == before
    assert run(env, "plan", "--full") == 0
    with engine.connect() as conn:
        assert set(conn.execute(member).scalars()) == before | {buyer}
    engine.dispose()
