"""Push as the outbox drives it: a stop between batches, metrics per change, and claims that let
several processes push one destination without sending a change twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from syncd.clock import fixed_clock
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Destination, Outcome
from syncd.errors import AuthError
from syncd.metrics import REGISTRY
from syncd.store import create_engine
from syncd.store.schema import contacts, outbox, tags
from syncd.sync.outbox import adopt_applied, held_plans, release_held, write_plan
from syncd.sync.plan import DestinationPlan, PlannedChange
from syncd.sync.push import push_destination

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEST = "esp"


class Recording(Destination):
    """Answers done for every change and remembers each batch it was given."""

    batch_size = 2
    change_kinds = frozenset(ChangeKind)

    def __init__(self) -> None:
        self.batches: list[list[Change]] = []
        self.lock = threading.Lock()

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        with self.lock:
            self.batches.append(list(changes))
        return [ChangeResult(c.id, Outcome.DONE) for c in changes]

    @property
    def sent_changes(self) -> list[Change]:
        return [c for b in self.batches for c in b]

    @property
    def sent(self) -> list[int]:
        return [c.id for c in self.sent_changes]


def fill(engine: sa.Engine, n_contacts: int, per_contact: int = 2) -> list[int]:
    """``n_contacts`` contacts with ``per_contact`` pending changes each; the changes' ids."""
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {"email": f"p{i}@example.com", "created_at": NOW, "updated_at": NOW}
                for i in range(n_contacts)
            ],
        )
        ids = conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars().all()
        conn.execute(
            outbox.insert(),
            [
                {
                    "destination": DEST,
                    "contact_id": cid,
                    "kind": "add_tag",
                    "key": f"T{k}",
                    "status": "pending",
                    "attempts": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for cid in ids
                for k in range(per_contact)
            ],
        )
        return list(conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id)).scalars())


def statuses(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
        ).all()
    return {s: n for s, n in rows}


def test_a_stop_set_during_a_batch_ends_the_push_after_that_batch(engine: sa.Engine) -> None:
    fill(engine, 5)
    stop = threading.Event()

    class StopsAfterFirst(Recording):
        def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
            stop.set()
            return super().push(changes)

    target = StopsAfterFirst()
    counts = push_destination(engine, DEST, target, clock=fixed_clock(NOW), stop=stop)
    assert len(target.batches) == 1
    assert counts == {"done": 4}
    assert statuses(engine) == {"done": 4, "pending": 6}

    again = Recording()
    counts = push_destination(engine, DEST, again, clock=fixed_clock(NOW), stop=threading.Event())
    assert counts == {"done": 6}
    assert len(again.batches) == 2  # three contacts, two a batch
    assert statuses(engine) == {"done": 10}
    assert not set(target.sent) & set(again.sent)


def test_a_stop_set_before_the_push_sends_nothing(engine: sa.Engine) -> None:
    fill(engine, 2)
    stop = threading.Event()
    stop.set()
    target = Recording()
    assert push_destination(engine, DEST, target, clock=fixed_clock(NOW), stop=stop) == {}
    assert target.batches == []
    assert statuses(engine) == {"pending": 4}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_change_result_is_counted_by_destination_kind_and_result(engine: sa.Engine) -> None:
    ids = fill(engine, 3)  # six add_tag changes
    with engine.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == ids[0]).values(kind="set_field"))

    class Mixed(Recording):
        batch_size = 10

        def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
            super().push(changes)
            answer = [Outcome.DONE, Outcome.DONE, Outcome.RETRYABLE, Outcome.FAILED]
            return [ChangeResult(c.id, answer[i % 4], "no") for i, c in enumerate(changes)]

    def value(kind: str, result: str) -> float:
        return sample("syncd_changes_pushed_total", destination=DEST, kind=kind, result=result)

    keys = [(k, r) for k in ("add_tag", "set_field") for r in ("done", "retryable", "failed")]
    before = {key: value(*key) for key in keys}
    push_destination(engine, DEST, Mixed(), clock=fixed_clock(NOW))
    delta = {key: value(*key) - before[key] for key in keys}
    # ids[0] (set_field) done; then done, retryable, failed, done, done for the add_tags
    assert delta == {
        ("add_tag", "done"): 3,
        ("add_tag", "retryable"): 1,
        ("add_tag", "failed"): 1,
        ("set_field", "done"): 1,
        ("set_field", "retryable"): 0,
        ("set_field", "failed"): 0,
    }
    assert statuses(engine) == {"done": 4, "pending": 1, "failed": 1}


def claim(engine: sa.Engine, ids: Sequence[int], by: str, until: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(list(ids)))
            .values(claimed_by=by, claimed_until=until)
        )


def test_a_live_claim_is_skipped_with_its_whole_contact_and_an_expired_one_is_taken(
    engine: sa.Engine,
) -> None:
    ids = fill(engine, 3)  # contact 1: ids[0:2], contact 2: ids[2:4], contact 3: ids[4:6]
    claim(engine, ids[0:1], "other:1:a", NOW + timedelta(minutes=5))  # live, half the contact
    claim(engine, ids[2:4], "other:1:b", NOW - timedelta(seconds=1))  # expired
    target = Recording()
    counts = push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert counts == {"done": 4, "waiting": 1}  # one change another push holds
    assert sorted(target.sent) == ids[2:6]
    with engine.connect() as conn:
        left = conn.execute(
            sa.select(outbox.c.id, outbox.c.status, outbox.c.claimed_by).order_by(outbox.c.id)
        ).all()
    assert [tuple(r) for r in left[:2]] == [
        (ids[0], "pending", "other:1:a"),
        (ids[1], "pending", None),
    ]
    assert all(r.claimed_by is None for r in left[2:])
    # the holder died: once its lease ran out, the contact goes whole
    later = Recording()
    push_destination(engine, DEST, later, clock=fixed_clock(NOW + timedelta(minutes=6)))
    assert [[c.id for c in b] for b in later.batches] == [ids[0:2]]
    assert statuses(engine) == {"done": 6}


def test_an_error_the_push_cannot_answer_for_frees_its_claims_at_once(engine: sa.Engine) -> None:
    fill(engine, 2)

    class Refused(Recording):
        def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
            raise AuthError("esp: the API key was refused")

    with pytest.raises(AuthError):
        push_destination(engine, DEST, Refused(), clock=fixed_clock(NOW))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.status, outbox.c.claimed_by)).all()
    assert [tuple(r) for r in rows] == [("pending", None)] * 4
    target = Recording()
    assert push_destination(engine, DEST, target, clock=fixed_clock(NOW)) == {"done": 4}


def run_together(engine_url: str, engine: sa.Engine, n_contacts: int) -> list[list[Change]]:
    """Two pushes of DEST, each on its own engine, whose first batches are in flight at the
    same time; return every batch sent."""
    fill(engine, n_contacts, per_contact=3)
    both_sending = threading.Barrier(2, timeout=30)
    recorder = Recording()
    errors: list[BaseException] = []

    class Meeting(Recording):
        batch_size = 3

        def __init__(self) -> None:
            super().__init__()
            self.first = True

        def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
            if self.first:
                self.first = False
                both_sending.wait()  # each holds its first claim while the other claims
            recorder.push(changes)
            return super().push(changes)

    def worker() -> None:
        own = create_engine(engine_url)  # migrated already; alembic is not thread-safe
        try:
            push_destination(own, DEST, Meeting(), clock=fixed_clock(NOW))
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return recorder.batches


def test_two_pushes_at_once_send_every_change_once_and_never_split_a_contact(
    store_url: str, engine: sa.Engine
) -> None:
    batches = run_together(store_url, engine, 20)
    sent = [c.id for b in batches for c in b]
    assert len(sent) == 60 and len(set(sent)) == 60
    contact_batches: dict[str, set[int]] = {}
    for number, batch in enumerate(batches):
        for change in batch:
            contact_batches.setdefault(change.email, set()).add(number)
    assert len(contact_batches) == 20
    assert all(len(numbers) == 1 for numbers in contact_batches.values())
    assert statuses(engine) == {"done": 60}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.max(outbox.c.attempts))).scalar() == 1
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(outbox.c.claimed_by.is_not(None))
            ).scalar()
            == 0
        )


class During(Recording):
    """Runs ``meanwhile`` while its first batch is on its way, then answers ``answer``."""

    batch_size = 1

    def __init__(self, meanwhile: Callable[[], object], answer: Outcome = Outcome.DONE) -> None:
        super().__init__()
        self.meanwhile: Callable[[], object] | None = meanwhile
        self.answer = answer

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        super().push(changes)
        if self.meanwhile is not None:
            self.meanwhile()
            self.meanwhile = None
            return [ChangeResult(c.id, self.answer, "later") for c in changes]
        return [ChangeResult(c.id, Outcome.DONE) for c in changes]


def plan_of(engine: sa.Engine, keys: Sequence[str], *, held: bool = False) -> None:
    """Write a plan for DEST that wants tags ``keys`` on the first contact, and what ``fill``
    queued on the others."""
    with engine.begin() as conn:
        first, *others = conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars()
        changes = [PlannedChange(first, "add_tag", k) for k in keys]
        changes += [PlannedChange(c, "add_tag", k) for c in others for k in ("T0", "T1")]
        plan = DestinationPlan(
            DEST, changes, held=held, reason="too many removals" if held else None
        )
        write_plan(conn, plan, "r2", NOW)


def rows_of(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.key, outbox.c.status).order_by(outbox.c.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_change_superseded_on_its_way_and_confirmed_is_done_and_known(engine: sa.Engine) -> None:
    fill(engine, 1)
    target = During(lambda: plan_of(engine, ["T1"]))
    push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert rows_of(engine) == [("T0", "done"), ("T1", "done")]
    with engine.connect() as conn:
        known = conn.execute(sa.select(tags.c.tag, tags.c.managed).order_by(tags.c.tag)).all()
    assert [tuple(k) for k in known] == [("T0", True), ("T1", True)]


def test_a_change_superseded_on_its_way_and_not_confirmed_is_not_sent_again(
    engine: sa.Engine,
) -> None:
    fill(engine, 1)
    target = During(lambda: plan_of(engine, ["T1"]), answer=Outcome.RETRYABLE)
    push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert rows_of(engine) == [("T0", "superseded"), ("T1", "pending")]
    again = Recording()
    push_destination(engine, DEST, again, clock=fixed_clock(NOW))
    assert [c.key for c in again.batches[0]] == ["T1"]


def test_a_change_wanted_again_while_on_its_way_is_taken_back_not_copied(
    engine: sa.Engine,
) -> None:
    fill(engine, 1)

    def unwant_then_want() -> None:
        plan_of(engine, ["T1"])
        plan_of(engine, ["T0", "T1"])

    target = During(unwant_then_want, answer=Outcome.RETRYABLE)
    push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert rows_of(engine) == [("T0", "pending"), ("T1", "pending")]
    again = Recording()
    push_destination(engine, DEST, again, clock=fixed_clock(NOW))
    assert sorted(c.key for c in again.batches[0]) == ["T0", "T1"]
    assert rows_of(engine) == [("T0", "done"), ("T1", "done")]


def test_a_plan_held_while_its_changes_are_on_their_way_stays_held(engine: sa.Engine) -> None:
    fill(engine, 1)
    target = During(lambda: plan_of(engine, ["T0", "T1"], held=True), answer=Outcome.RETRYABLE)
    push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert rows_of(engine) == [("T0", "held"), ("T1", "held")]
    assert push_destination(engine, DEST, Recording(), clock=fixed_clock(NOW)) == {}
    with engine.connect() as conn:
        assert held_plans(conn) == {DEST: {"reason": "too many removals", "since": NOW.isoformat()}}
    with engine.begin() as conn:
        assert release_held(conn, DEST, NOW) == 2
        assert held_plans(conn) == {}
    assert push_destination(engine, DEST, Recording(), clock=fixed_clock(NOW)) == {"done": 2}


def test_a_change_planned_for_a_contact_on_its_way_waits_for_that_batch(
    store_url: str, engine: sa.Engine
) -> None:
    fill(engine, 3)
    other = Recording()
    other.batch_size = 3

    def plan_more_then_push_elsewhere() -> None:
        plan_of(engine, ["T0", "T1", "T2"])  # the first contact, whose batch is on its way
        second = create_engine(store_url)
        try:
            push_destination(second, DEST, other, clock=fixed_clock(NOW))
        finally:
            second.dispose()

    first = During(plan_more_then_push_elsewhere)
    push_destination(engine, DEST, first, clock=fixed_clock(NOW))
    emails = {c.email for b in other.batches for c in b}
    assert emails == {"p1@example.com", "p2@example.com"}
    assert [[c.key for c in b] for b in first.batches] == [["T0", "T1"]]
    # T2 waited for the first contact's batch to be confirmed; the next push sends it
    assert statuses(engine) == {"done": 6, "pending": 1}
    last = Recording()
    assert push_destination(engine, DEST, last, clock=fixed_clock(NOW)) == {"done": 1}
    assert [(c.email, c.key) for c in last.sent_changes] == [("p0@example.com", "T2")]


def test_changes_another_transaction_locks_are_skipped_without_waiting(
    store_url: str, engine: sa.Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite takes one writer at a time")
    ids = fill(engine, 3)
    holder = create_engine(store_url)
    try:
        with holder.connect() as conn, conn.begin():
            # another push in the middle of its claim holds one change of the first contact
            conn.execute(
                sa.select(outbox.c.id).where(outbox.c.id == ids[1]).with_for_update()
            ).all()
            target = Recording()
            assert push_destination(engine, DEST, target, clock=fixed_clock(NOW)) == {"done": 4}
            assert sorted(target.sent) == ids[2:]
    finally:
        holder.dispose()
    assert statuses(engine) == {"done": 4, "pending": 2}


def test_a_change_superseded_on_its_way_by_a_push_that_died_is_adopted_if_it_arrived(
    engine: sa.Engine,
) -> None:
    ids = fill(engine, 1)  # T0, T1 on the first contact
    claim(engine, ids, "dead:1:a", NOW + timedelta(minutes=5))
    with engine.begin() as conn:
        conn.execute(outbox.update().values(attempts=1))
    plan_of(engine, [])  # the plan no longer wants either: both superseded while on their way
    assert rows_of(engine) == [("T0", "superseded"), ("T1", "superseded")]
    with engine.begin() as conn:
        contact = conn.execute(sa.select(contacts.c.id)).scalar_one()
        # a pull then saw T0 at the destination: the dead push's change did arrive
        conn.execute(
            tags.insert().values(
                contact_id=contact, source=DEST, tag="T0", name="T0", managed=False, updated_at=NOW
            )
        )
        adopt_applied(conn, DEST)
        known = conn.execute(sa.select(tags.c.tag, tags.c.managed)).all()
    assert [tuple(k) for k in known] == [("T0", True)]


def test_a_plan_of_some_contacts_adopts_what_arrived_for_those_contacts_only(
    engine: sa.Engine,
) -> None:
    fill(engine, 2)  # T0, T1 on each of two contacts
    with engine.begin() as conn:
        conn.execute(outbox.update().values(attempts=1))  # sent, not answered
        one, two = conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars()
        # a pull then saw T0 at the destination on both
        conn.execute(
            tags.insert(),
            [
                {"contact_id": c, "source": DEST, "tag": "T0", "name": "T0", "managed": False}
                | {"updated_at": NOW}
                for c in (one, two)
            ],
        )
        adopt_applied(conn, DEST, {two})
        managed = dict(conn.execute(sa.select(tags.c.contact_id, tags.c.managed)).all())
        assert managed == {one: False, two: True}
        adopt_applied(conn, DEST)
        managed = dict(conn.execute(sa.select(tags.c.contact_id, tags.c.managed)).all())
    assert managed == {one: True, two: True}
