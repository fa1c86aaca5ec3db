"""The micro-cycle: a webhook's contact tagged at the destination emulator without a scheduled
cycle; only the touched contacts planned (other contacts' queued changes left alone); a held
destination stays held; and it waits for a scheduled job holding the daemon's run lock."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd import metrics
from syncd.daemon.run_lock import RunLock
from syncd.emulator import ManualClock, VirtualTime
from syncd.store.schema import contacts, meta, outbox, runs, segment_history, webhook_inbox
from syncd.sync import cycle
from syncd.testing import route_to_emulators
from syncd.webhooks import inbox, micro
from syncd.webhooks.ingest import Backlog
from syncd.webhooks.micro import MicroCycles, forget_runs, micro_cycle
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator
from tests.outbox_rows import queued
from tests.test_daemon import wait_for
from tests.webhook_world import CUSTOMER, NOW, ORDER, World, runtime


@pytest.fixture
def esp(monkeypatch: pytest.MonkeyPatch) -> ActiveCampaignEmulator:
    clock = ManualClock(NOW)
    emulator = ActiveCampaignEmulator(seed=3, people=0, clock=clock)
    # only the destination is called: a webhook needs no pull
    route_to_emulators(monkeypatch, emulator, time=VirtualTime(clock))
    return emulator


def tagged(ac: ActiveCampaignEmulator, tag: str) -> set[str]:
    state = ac.state()
    emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
    tag_id = next((t["id"] for t in state["tags"] if t["tag"] == tag), None)
    return {emails[x["contact"]] for x in state["contactTags"] if x["tag"] == tag_id}


def order_for(email: str, order_id: int, customer_id: int) -> dict[str, Any]:
    return {**ORDER, "id": order_id, "email": email,
            "customer": {"id": customer_id, "email": email}}  # fmt: skip


def test_a_webhook_order_tags_its_buyer_at_the_destination(
    tmp_path: Path, esp: ActiveCampaignEmulator, store_url: str
) -> None:
    world = World(runtime(tmp_path, store=store_url))
    assert world.shopify("customers/create", CUSTOMER, webhook_id="c-1").status_code == 200
    assert world.shopify("orders/create", ORDER, webhook_id="o-1").status_code == 200
    assert tagged(esp, "BUYER") == set()

    run = micro_cycle(world.rt, world.receivers, world.backlog)

    assert run is not None and run.outcome == "ok"
    assert run.counts["deliveries"] == 2 and run.counts["pushed"] >= 1
    assert tagged(esp, "BUYER") == {"jon@example.com"}
    with world.rt.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(webhook_inbox.c.applied_at.is_(None))
            ).scalar_one()
            == 0
        )
        job = conn.execute(sa.select(runs.c.job).where(runs.c.id == run.id)).scalar_one()
    assert job == "webhooks"
    # nothing left: the next micro-cycle has nothing to do
    assert micro_cycle(world.rt, world.receivers, world.backlog) is None


def test_only_the_touched_contacts_are_planned(tmp_path: Path, esp: ActiveCampaignEmulator) -> None:
    world = World(runtime(tmp_path))
    world.shopify("orders/create", order_for("ann@example.com", 1, 11), webhook_id="o-1")
    micro_cycle(world.rt, world.receivers, world.backlog)
    assert tagged(esp, "BUYER") == {"ann@example.com"}
    cycle.compute(world.rt)  # a scheduled compute takes the marks the push left
    # a change of ann's waits in the outbox, out of any plan of bob's
    with world.rt.engine.begin() as conn:
        ann = conn.execute(
            sa.select(contacts.c.id).where(contacts.c.email == "ann@example.com")
        ).scalar_one()
        conn.execute(queued("esp", ann, "set_field", "x", NOW, value="1", status="held"))
    world.shopify("orders/create", order_for("bob@example.com", 2, 12), webhook_id="o-2")
    run = micro_cycle(world.rt, world.receivers, world.backlog)
    assert run is not None and run.counts["contacts"] == 1 and run.counts["planned"] == 1
    assert tagged(esp, "BUYER") == {"ann@example.com", "bob@example.com"}
    with world.rt.engine.connect() as conn:
        left = conn.execute(
            sa.select(outbox.c.status).where(outbox.c.key == "x", outbox.c.contact_id == ann)
        ).scalar_one()
    assert left == "held"  # bob's plan neither dropped nor released ann's change


def test_the_micro_cycle_waits_for_a_scheduled_job_and_runs_when_it_lends_the_lock(
    tmp_path: Path, esp: ActiveCampaignEmulator
) -> None:
    world = World(runtime(tmp_path))
    world.shopify("orders/create", ORDER, webhook_id="o-1")
    run_lock, stop = RunLock(), threading.Event()
    micro = MicroCycles(lambda: world.rt, world.receivers, world.backlog, run_lock, stop)
    with run_lock:  # a scheduled job is running
        worker = threading.Thread(target=micro.once)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive()  # it waits for the job
        assert tagged(esp, "BUYER") == set()
        assert run_lock.lend() is True  # between two pages: the micro-cycle runs whole
        assert tagged(esp, "BUYER") == {"jon@example.com"}
        worker.join(10)
        assert not worker.is_alive()
        assert run_lock.acquire(blocking=False) is False  # the job holds it again


def test_micro_cycles_keep_no_chart_history_and_forget_their_old_runs(
    tmp_path: Path, esp: ActiveCampaignEmulator
) -> None:
    world = World(runtime(tmp_path))
    world.shopify("orders/create", ORDER, webhook_id="o-1")
    assert micro_cycle(world.rt, world.receivers, world.backlog) is not None
    day = timedelta(days=1, seconds=1)
    with world.rt.engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(segment_history)).scalar() == 0
        old = {"job": "webhooks", "started_at": NOW - day, "finished_at": NOW - day}
        conn.execute(runs.insert(), [{**old, "id": "old-ok", "outcome": "ok"},
                                     {**old, "id": "old-failed", "outcome": "failed"}])  # fmt: skip
    assert forget_runs(world.rt.engine, NOW) == 1
    with world.rt.engine.connect() as conn:
        left = set(conn.execute(sa.select(runs.c.id).where(runs.c.job == "webhooks")).scalars())
    assert "old-failed" in left and "old-ok" not in left and len(left) == 2


def test_the_worker_wakes_on_a_delivery_and_pushes_it(
    tmp_path: Path, esp: ActiveCampaignEmulator
) -> None:
    world = World(runtime(tmp_path))  # debounce 0s
    run_lock, stop = RunLock(), threading.Event()
    micro = MicroCycles(lambda: world.rt, world.receivers, world.backlog, run_lock, stop)
    lags = "syncd_webhook_lag_seconds_count"
    before = metrics.REGISTRY.get_sample_value(lags, {"instance": "shop"}) or 0.0
    micro.start()
    try:
        assert world.shopify("orders/create", ORDER, webhook_id="o-1").status_code == 200
        wait_for("the buyer's tag", lambda: tagged(esp, "BUYER") == {"jon@example.com"})
    finally:
        stop.set()
        micro.join(10)
    assert metrics.REGISTRY.get_sample_value(lags, {"instance": "shop"}) == before + 1
    assert world.backlog.size == 0


def test_a_micro_cycle_whose_push_failed_plans_its_contacts_again_at_the_next(
    tmp_path: Path, esp: ActiveCampaignEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(runtime(tmp_path))
    world.shopify("orders/create", order_for("ann@example.com", 1, 11), webhook_id="o-1")

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OSError("connection reset by the destination")

    monkeypatch.setattr(cycle, "push", down)
    with pytest.raises(OSError):
        micro_cycle(world.rt, world.receivers, world.backlog)
    assert tagged(esp, "BUYER") == set()
    monkeypatch.undo()

    # nothing is pending in the inbox any more, yet the failed cycle's contacts are retried
    run = micro_cycle(world.rt, world.receivers, world.backlog)

    assert run is not None and run.outcome == "ok"
    assert run.counts["deliveries"] == 0 and run.counts["contacts"] == 1
    assert tagged(esp, "BUYER") == {"ann@example.com"}
    assert micro_cycle(world.rt, world.receivers, world.backlog) is None


def test_removals_are_left_to_the_scheduled_cycle_whose_guard_sees_the_whole(
    tmp_path: Path, esp: ActiveCampaignEmulator
) -> None:
    world = World(runtime(tmp_path))
    world.shopify("orders/create", order_for("ann@example.com", 1, 11), webhook_id="o-1")
    micro_cycle(world.rt, world.receivers, world.backlog)
    assert tagged(esp, "BUYER") == {"ann@example.com"}

    cancelled = {**order_for("ann@example.com", 1, 11), "cancelled_at": "2026-12-07T10:01:00Z"}
    world.shopify("orders/cancelled", cancelled, webhook_id="o-1-cancel")
    run = micro_cycle(world.rt, world.receivers, world.backlog)

    # ann left the segment: the micro-cycle does not remove her tag, the scheduled cycle does
    assert run is not None and run.counts["removals_left"] == 1
    assert tagged(esp, "BUYER") == {"ann@example.com"}
    _, plans = cycle.plan(world.rt)
    assert [p.removals for p in plans] == [1] and not plans[0].held
    cycle.queue(world.rt, plans, "scheduled")
    cycle.push(world.rt)
    assert tagged(esp, "BUYER") == set()


@pytest.mark.parametrize("reading", ["pending", "held_plans"])
def test_a_delivery_stored_while_a_micro_cycle_reads_does_not_fail_it(
    tmp_path: Path, esp: ActiveCampaignEmulator, monkeypatch: pytest.MonkeyPatch, reading: str
) -> None:
    # SQLite: a transaction that reads, then writes after another connection committed, fails
    # at once with "database is locked"; the micro-cycle's take the write lock at BEGIN, so
    # the ingest waits for it (then 503, which the vendor retries) and the cycle goes through
    world = World(runtime(tmp_path))
    world.shopify("orders/create", order_for("ann@example.com", 1, 11), webhook_id="o-1")
    monkeypatch.setattr(inbox, "STORE_WAIT", 0.05)
    answers: list[int] = []
    read = getattr(micro, reading)

    def read_then_a_delivery_arrives(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        if not answers:
            bob = order_for("bob@example.com", 2, 12)
            answers.append(world.shopify("orders/create", bob, webhook_id="o-2").status_code)
        return found

    monkeypatch.setattr(micro, reading, read_then_a_delivery_arrives)
    run = micro_cycle(world.rt, world.receivers, world.backlog)

    assert run is not None and run.outcome == "ok" and run.counts["deliveries"] == 1
    assert tagged(esp, "BUYER") == {"ann@example.com"}
    assert answers == [503]  # not stored, not answered 200: the vendor sends it again
    monkeypatch.setattr(micro, reading, read)
    world.shopify("orders/create", order_for("bob@example.com", 2, 12), webhook_id="o-2")
    assert micro_cycle(world.rt, world.receivers, world.backlog) is not None
    assert tagged(esp, "BUYER") == {"ann@example.com", "bob@example.com"}


def test_the_debounce_counts_from_the_first_delivery_not_taken_yet() -> None:
    now = [100.0]
    backlog = Backlog(monotonic=lambda: now[0])
    assert backlog.due_in(2.0) == 2.0  # nothing stored: a whole window
    assert backlog.reserve(10)
    backlog.release(True)
    now[0] = 101.5  # a micro-cycle was running meanwhile; another delivery comes
    assert backlog.reserve(10)
    backlog.release(True)
    # the window is not started again by each delivery, nor by the end of a micro-cycle
    assert backlog.due_in(2.0) == pytest.approx(0.5)
    now[0] = 103.0
    assert backlog.due_in(2.0) == 0.0
    backlog.take()
    assert not backlog.changed.is_set() and backlog.due_in(2.0) == 2.0


def test_a_scheduled_job_beside_the_ingest_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    """With webhooks taken, the ingest commits a delivery at any moment. A scheduled job's
    transaction that has read and then writes after such a commit failed at once on SQLite
    ("database is locked"): the daemon runs its jobs with the write lock taken at BEGIN, so
    the ingest's commit waits for the job's instead. Without webhooks, jobs run as they did."""
    from syncd.daemon.service import scheduled

    rt = runtime(tmp_path)  # a SQLite file, webhooks.connectors configured
    assert rt.config.webhooks.connectors

    done: list[int] = []

    def job_then_ingest(engine: sa.Engine) -> str:
        """A job's transaction reads, the ingest commits a row meanwhile, the job writes."""
        ingest_done = threading.Event()

        def ingest() -> None:
            with rt.engine.begin() as other:
                other.execute(meta.insert().values(key=f"hook {len(done)}", value="x"))
            ingest_done.set()
            done.append(1)

        with engine.connect() as conn, conn.begin():
            conn.execute(sa.select(sa.func.count()).select_from(meta)).scalar_one()
            thread = threading.Thread(target=ingest)
            thread.start()
            ingest_done.wait(1.0)  # with the lock held at BEGIN, the ingest waits for us
            try:
                conn.execute(meta.insert().values(key=f"job {len(done)}", value="x"))
            except sa.exc.OperationalError as exc:
                thread.join()
                return "locked" if "locked" in str(exc) else str(exc)
        thread.join()
        return "ok"

    assert job_then_ingest(scheduled(rt).engine) == "ok"
    assert job_then_ingest(rt.engine) == "locked"  # what a job did before
    quiet = rt.config.model_copy(update={"webhooks": type(rt.config.webhooks)()})
    plain = dataclasses.replace(rt, config=quiet)
    assert not plain.config.webhooks.connectors and scheduled(plain) is plain
