"""The outbox over months: claims of a dead push freed at once (and a live one elsewhere
kept), done rows compacted, a change refused for good not planned again until its contact
changes, and consent asked again when a subscription is pushed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta

import pytest
import sqlalchemy as sa

from syncd.clock import fixed_clock
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Outcome
from syncd.store.schema import contacts, identities, memberships, outbox, runs
from syncd.sync.outbox import (
    claimant,
    compact,
    forget_failed,
    release_dead_claims,
    write_plan,
)
from syncd.sync.plan import DestinationPlan, PlannedChange
from syncd.sync.push import push_destination
from syncd.sync.runs import host_name, reap_dead_runs, this_process

from .outbox_rows import queued
from .test_outbox_claims import DEST, NOW, Recording, claim, fill, statuses


def dead_process() -> str:
    """``pid:start`` of a process of this host that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{child.pid}:1"


def test_claims_of_a_dead_process_on_this_host_are_freed_at_once(engine: sa.Engine) -> None:
    ids = fill(engine, 2)
    dead = f"{host_name()}:{dead_process()}:abc"
    alive = claimant()  # this very process
    claim(engine, ids[0:2], dead, NOW + timedelta(minutes=9))
    claim(engine, ids[2:4], alive, NOW + timedelta(minutes=9))
    target = Recording()
    counts = push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    # the dead push's contact goes now; the live one's waits for its holder, and says so
    assert sorted(target.sent) == ids[0:2]
    assert counts == {"done": 2, "waiting": 2}


def run_row(engine: sa.Engine, run_id: str, host: str, process: str, beat_age: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            runs.insert().values(
                id=run_id,
                job="sync",
                started_at=NOW,
                outcome="running",
                host=host,
                pid=process,
                heartbeat_at=sa.func.now() - sa.literal(timedelta(seconds=beat_age), sa.Interval())
                if engine.dialect.name != "sqlite"
                else None,
            )
        )


def test_a_push_on_another_host_is_dead_only_when_its_heartbeat_stopped(
    engine: sa.Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("hosts share a store on PostgreSQL; SQLite runs beat no heartbeat")
    ids = fill(engine, 2)
    run_row(engine, "a" * 32, "replica-a", "100:5", beat_age=5)  # beating
    run_row(engine, "b" * 32, "replica-b", "100:5", beat_age=600)  # silent for 10 minutes
    claim(engine, ids[0:2], "replica-a:100:5:x", NOW + timedelta(minutes=9))
    claim(engine, ids[2:4], "replica-b:100:5:y", NOW + timedelta(minutes=9))
    with engine.begin() as conn:
        assert release_dead_claims(conn, DEST, NOW) == 2
        assert reap_dead_runs(conn, fixed_clock(NOW)) == ["b" * 32]
        outcomes = dict(conn.execute(sa.select(runs.c.id, runs.c.outcome)).all())
    assert outcomes == {"a" * 32: "running", "b" * 32: "abandoned"}
    target = Recording()
    push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert sorted(target.sent) == ids[2:4]  # the live replica keeps its contact


def test_a_run_whose_process_died_is_marked_killed_and_a_live_one_is_not(
    engine: sa.Engine,
) -> None:
    run_row(engine, "d" * 32, host_name(), dead_process(), beat_age=0)
    run_row(engine, "e" * 32, host_name(), this_process(), beat_age=0)
    run_row(engine, "f" * 32, "elsewhere", dead_process(), beat_age=0)  # not ours to judge
    with engine.begin() as conn:
        assert reap_dead_runs(conn, fixed_clock(NOW)) == ["d" * 32]
        outcomes = dict(conn.execute(sa.select(runs.c.id, runs.c.outcome)).all())
    assert outcomes == {"d" * 32: "killed", "e" * 32: "running", "f" * 32: "running"}


def rows(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.select(outbox.c.key, outbox.c.status).order_by(outbox.c.id))
        ]


def test_done_and_superseded_rows_are_compacted_after_the_retention(engine: sa.Engine) -> None:
    fill(engine, 3)  # T0, T1 for three contacts
    with engine.begin() as conn:
        first, second, third = conn.execute(sa.select(contacts.c.id).order_by("id")).scalars()
        old, recent = NOW - timedelta(days=8), NOW - timedelta(days=1)
        for cid, status, at in (
            (first, "done", old),
            (second, "done", recent),
            (third, "superseded", old),
        ):
            conn.execute(
                outbox.update()
                .where(outbox.c.contact_id == cid, outbox.c.key == "T0")
                .values(status=status, updated_at=at)
            )
        # a change refused long ago: kept while nothing took it up again, then compacted
        conn.execute(
            outbox.update()
            .where(outbox.c.contact_id == first, outbox.c.key == "T1")
            .values(status="failed", attempts=1, updated_at=old)
        )
        assert compact(conn, NOW, timedelta(days=7)) == 2
    assert sorted(rows(engine)) == [
        ("T0", "done"),
        ("T1", "failed"),
        ("T1", "pending"),
        ("T1", "pending"),
    ]
    with engine.begin() as conn:
        conn.execute(queued(DEST, first, "add_tag", "T1", NOW))
        assert compact(conn, NOW, timedelta(days=7)) == 1  # the failed row, taken up again
    assert ("T1", "failed") not in rows(engine)


class Refusing(Recording):
    """Refuses every change for good, as a shop refuses a tag for a contact it lacks."""

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        super().push(changes)
        return [ChangeResult(c.id, Outcome.FAILED, "no such customer") for c in changes]


def plan_all(engine: sa.Engine) -> DestinationPlan:
    with engine.connect() as conn:
        ids = conn.execute(sa.select(contacts.c.id).order_by("id")).scalars().all()
        plan = DestinationPlan(DEST, [PlannedChange(i, ChangeKind.ADD_TAG, "T0") for i in ids])
        return forget_failed(conn, plan)


def test_a_change_refused_for_good_is_not_planned_again_until_its_contact_changes(
    engine: sa.Engine,
) -> None:
    fill(engine, 2, per_contact=1)
    target = Refusing()
    push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert len(target.sent) == 2 and statuses(engine) == {"failed": 2}
    later = NOW + timedelta(hours=1)
    plan = plan_all(engine)
    assert plan.changes == [] and plan.refused == 2
    with engine.begin() as conn:
        write_plan(conn, plan, "r2", later)
        first = conn.execute(sa.select(contacts.c.id).order_by("id")).scalars().first()
        # a source reports the first contact anew: its change is worth trying again
        conn.execute(contacts.update().where(contacts.c.id == first).values(updated_at=later))
    again = plan_all(engine)
    assert [c.contact_id for c in again.changes] == [first] and again.refused == 1
    with engine.connect() as conn:
        reasons = set(conn.execute(sa.select(outbox.c.last_error)).scalars())
    assert reasons == {"refused: no such customer"}
    # a change given up after its retries ran out, or failed with its whole batch, is not
    # a refusal: it is planned again
    with engine.begin() as conn:
        conn.execute(outbox.update().values(last_error="HTTP 400 for the whole batch"))
    assert len(plan_all(engine).changes) == 2


def test_a_subscription_is_not_sent_to_someone_who_unsubscribed_since_the_plan(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {"email": f"p{i}@example.com", "created_at": NOW, "updated_at": NOW}
                for i in range(3)
            ],
        )
        a, b, c = conn.execute(sa.select(contacts.c.id).order_by("id")).scalars()
        conn.execute(
            identities.insert(),
            [
                {"connector": "shop", "external_id": str(i), "contact_id": i,
                 "consent": "granted", "updated_at": NOW}
                for i in (a, b, c)
            ],
        )  # fmt: skip
        plan = DestinationPlan(
            DEST, [PlannedChange(i, ChangeKind.SUBSCRIBE, "Newsletter") for i in (a, b, c)]
        )
        plan.held = True  # held by a guard, confirmed later
        write_plan(conn, plan, "r1", NOW)
        # meanwhile b unsubscribed at the destination, and c revoked consent at the shop
        conn.execute(
            memberships.insert().values(
                contact_id=b, source=DEST, list="Newsletter", status="unsubscribed",
                managed=False, updated_at=NOW,
            )
        )  # fmt: skip
        conn.execute(identities.update().where(identities.c.contact_id == c).values(
            consent="revoked"))  # fmt: skip
        conn.execute(outbox.update().values(status="pending"))  # push --confirm
    target = Recording()
    counts = push_destination(engine, DEST, target, clock=fixed_clock(NOW))
    assert [ch.email for ch in target.sent_changes] == ["p0@example.com"]
    assert counts == {"done": 1, "no_consent": 2}
    assert statuses(engine) == {"done": 1, "superseded": 2}
