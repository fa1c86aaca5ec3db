"""The micro-cycle: the webhook deliveries stored since the last one, applied through the
record path, then only the contacts they touched re-evaluated, planned, guarded and pushed.

Deliveries are gathered for ``webhooks.debounce`` after the first one arrives; the cycle runs
under the daemon's run lock, so it never runs beside a scheduled job (they share the store),
and it is recorded as a run of job ``webhooks``. Scheduled cycles still plan everyone and
reconcile whatever a webhook missed.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from syncd import metrics
from syncd.connectors.webhooks import WebhookDelivery
from syncd.daemon.locks import job_lock
from syncd.daemon.run_lock import RunLock
from syncd.errors import SyncdError, error_line
from syncd.runtime import Runtime
from syncd.secrets import redact
from syncd.store.engine import WRITES
from syncd.store.schema import changed_contacts, outbox, runs, webhook_inbox
from syncd.sync import cycle
from syncd.sync.outbox import OPEN, adopt_applied, forget_failed, held_plans, write_plan
from syncd.sync.plan import REMOVALS, DestinationPlan, guard, plan_destination
from syncd.sync.records import PageWriter, link_pending_events
from syncd.sync.resolve import resolve_contacts
from syncd.sync.runs import Run, recorded_run
from syncd.webhooks.inbox import Stored, mark_applied, mark_not_applied, pending, prune
from syncd.webhooks.ingest import Backlog, Receivers, received_lag

log = structlog.get_logger("syncd.webhooks")

JOB = "webhooks"
BATCH = 1000  # deliveries applied in one transaction
SCOPE_LIMIT = 10_000  # contacts a plan names in one statement
RUNS_KEPT = timedelta(days=1)  # how long a micro-cycle that went well stays in the runs
NOT_APPLIED = "not applied: "  # the outcome of a delivery left pending


@dataclass
class Applied:
    """What one micro-cycle applied: deliveries, their arrival by instance, the contacts
    whose rows changed, and the record counts."""

    deliveries: int = 0
    not_applied: int = 0  # deliveries left pending: unreadable now, or their instance gone
    arrivals: list[tuple[str, datetime]] = field(default_factory=list)
    contacts: set[int] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)


def apply_inbox(rt: Runtime, receivers: Receivers, run_id: str | None) -> Applied:
    """Apply the pending deliveries, a batch per transaction, through the record path
    (quarantine, identity, resolve) and marked applied in the same transaction. The
    deliveries of one instance that follow each other are written as one page: the record
    path's statements are per page, not per record."""
    applied = Applied()
    last = 0  # a delivery that cannot be applied now stays pending: read past it
    engine = writing(rt).engine  # the ingest commits at any moment: see writing()
    while True:
        now = rt.clock()
        with engine.begin() as conn:
            batch = pending(conn, BATCH, after=last)
            readable: list[tuple[Stored, WebhookDelivery]] = []
            for stored in batch:
                last = stored.id
                delivery = _read(rt, receivers, stored)
                if isinstance(delivery, str):
                    mark_not_applied(conn, stored.id, delivery)
                    log.warning("webhook delivery left pending", inbox_id=stored.id, why=delivery)
                    applied.not_applied += 1
                else:
                    readable.append((stored, delivery))
            instances = set()
            for instance, page in _pages(readable):
                outcome = _write_page(rt, conn, instance, page, run_id, applied)
                mark_applied(conn, [stored.id for stored, _ in page], now, outcome)
                applied.deliveries += len(page)
                applied.arrivals.extend((instance, s.request.received_at) for s, _ in page)
                instances.add(instance)
            for instance in sorted(instances):
                applied.counts["events_linked"] += link_pending_events(conn, instance)
            applied.contacts.update(
                conn.execute(sa.select(changed_contacts.c.contact_id)).scalars()
            )
            prune(conn, now)
        if len(batch) < BATCH:
            return applied


def _read(rt: Runtime, receivers: Receivers, stored: Stored) -> WebhookDelivery | str:
    """The delivery ``stored`` holds, or why it cannot be applied now (it stays pending)."""
    receiver = receivers.of(rt, stored.instance)
    if receiver is None:
        return f"{NOT_APPLIED}the instance takes no webhooks any more; kept pending"
    try:
        return receiver.read(stored.request)
    except Exception as exc:  # read once before it was stored: a changed receiver
        return redact(f"{NOT_APPLIED}{error_line(exc)}; kept pending")


def _pages(
    readable: list[tuple[Stored, WebhookDelivery]],
) -> Iterator[tuple[str, list[tuple[Stored, WebhookDelivery]]]]:
    """The deliveries in the order they came, the runs of one instance each together."""
    for instance, run in itertools.groupby(readable, key=lambda pair: pair[0].instance):
        yield instance, list(run)


def _write_page(
    rt: Runtime,
    conn: sa.Connection,
    instance: str,
    page: list[tuple[Stored, WebhookDelivery]],
    run_id: str | None,
    applied: Applied,
) -> str:
    """Write the records of ``page``'s deliveries, in their order, as one page; the outcome
    each delivery records (with the counts of the whole page)."""
    skip = frozenset(rt.config.connectors[instance].skip_events)
    topics = sorted({delivery.topic for _, delivery in page})
    stream = f"webhook {', '.join(topics)}"[:100]  # what a quarantined record came as
    writer = PageWriter(conn, instance, stream, run_id, rt.clock(), skip, skip_older=True)
    records = [record for _, delivery in page for record in delivery.records]
    writer.write(records)
    resolve_contacts(conn, rt.config.precedence, writer.touched)
    applied.counts.update(writer.counts)
    metrics.RECORDS_PULLED.labels(instance, "webhook").inc(
        len(records)
        - writer.counts["quarantined"]
        - writer.counts["events_skipped"]
        - writer.counts["stale"]
    )
    metrics.QUARANTINED.labels(instance, "webhook").inc(writer.counts["quarantined"])
    counts = ", ".join(f"{k} {v}" for k, v in sorted(writer.counts.items()) if v)
    page_of = f" (in a page of {len(page)} deliveries)" if len(page) > 1 else ""
    return f"applied{page_of}: {counts or 'nothing to write'}"


def micro_cycle(rt: Runtime, receivers: Receivers, backlog: Backlog) -> Run | None:
    """Apply what the inbox holds, then re-evaluate, plan, guard and push its contacts; the
    run, or None when there was nothing to apply (or a replica applies it)."""
    writer = writing(rt)
    with job_lock(rt.engine, JOB) as mine:
        if not mine:
            return None
        left = set(backlog.unplanned)  # a failed micro-cycle's contacts: planned again
        if not left and not _anything_pending(rt):
            return None
        with recorded_run(writer.engine, JOB, rt.clock) as run:
            applied = apply_inbox(rt, receivers, run.id)
            # the deliveries are applied and the compute clears the change marks: until the
            # push is done, the scope is kept for the next micro-cycle should this one fail
            applied.contacts |= left
            backlog.unplanned |= applied.contacts
            backlog.applied(applied.deliveries)
            metrics.WEBHOOKS_PENDING.set(backlog.size)
            run.counts = {
                "deliveries": applied.deliveries,
                "not_applied": applied.not_applied,
                "pulled": sum(
                    applied.counts[k] for k in ("contacts", "events", "tags", "lists", "deals")
                ),
                "quarantined": applied.counts["quarantined"],
                "stale": applied.counts["stale"],
                "contacts": len(applied.contacts),
            }
            if applied.contacts:
                removals: Counter[str] = Counter()
                plans = plan_contacts(writer, applied.contacts, run.id, removals)
                run.counts["removals_left"] = sum(removals.values())
                run.counts["planned"] = sum(len(p.changes) for p in plans)
                run.counts["held"] = sum(1 for p in plans if p.held)
                ready = [p.destination for p in plans if not p.held and p.changes]
                pushed = cycle.push(writer, destinations=ready, run=run) if ready else {}
                run.counts["pushed"] = sum(c["done"] for c in pushed.values())
                run.counts["failed"] = sum(c["failed"] for c in pushed.values())
            backlog.unplanned -= applied.contacts
            done = rt.clock()
            for instance, received in applied.arrivals:
                metrics.WEBHOOK_LAG.labels(instance).observe(received_lag(received, done))
        forget_runs(writer.engine, rt.clock())
        return run


def writing(rt: Runtime) -> Runtime:
    """``rt`` whose transactions take SQLite's write lock at BEGIN (waiting the busy timeout
    for it): the ingest commits a delivery at any moment, and a deferred transaction that read
    before that commit fails at its first write with "database is locked", at once."""
    return dataclasses.replace(rt, _engine=rt.engine.execution_options(**{WRITES: True}))


def forget_runs(engine: sa.Engine, now: datetime) -> int:
    """Forget the micro-cycles' runs older than RUNS_KEPT that went well (a failed or partial
    one stays with the other runs): one every few seconds would crowd out the scheduled."""
    with engine.begin() as conn:
        gone = conn.execute(
            runs.delete().where(
                runs.c.job == JOB,
                runs.c.outcome == "ok",
                runs.c.started_at < now - RUNS_KEPT,
            )
        )
    return int(gone.rowcount or 0)


def _anything_pending(rt: Runtime) -> bool:
    with rt.engine.connect() as conn:
        return (
            conn.execute(
                sa.select(webhook_inbox.c.id).where(webhook_inbox.c.applied_at.is_(None)).limit(1)
            ).first()
            is not None
        )


def plan_contacts(
    rt: Runtime, scope: set[int], run_id: str, left: Counter[str] | None = None
) -> list[DestinationPlan]:
    """Compute (incrementally: the marked contacts), then plan, guard and queue each
    destination for the contacts of ``scope`` only. A destination whose plan is held stays
    held: its changes wait with the rest for ``push --confirm``.

    Removals are left to the scheduled cycle, whose guard sees the whole destination: micro-
    cycles each under the limit would otherwise remove any number between two scheduled
    cycles. How many were left, per destination, is added to ``left``."""
    left = Counter() if left is None else left
    if len(scope) > SCOPE_LIMIT:  # past what one statement names: plan everyone
        _, everyone = cycle.plan(rt)
        cycle.queue(rt, everyone, run_id)
        return everyone
    cycle.compute(rt, record_history=False)  # a scheduled compute keeps the sizes
    plans = []
    with rt.engine.begin() as conn:
        held = held_plans(conn)
        for dest in rt.config.destinations:
            target = rt.connectors[dest.connector].destination()
            assert target is not None  # checked when the runtime was built
            adopt_applied(conn, dest.connector, scope)
            mine = plan_destination(conn, dest, target.change_kinds, rt.config.tiers, scope)
            left[dest.connector] = _leave_removals(conn, mine, scope)
            planned = guard(conn, dest, forget_failed(conn, mine))
            if dest.connector in held and not planned.held:
                planned.held = True
                planned.reason = held[dest.connector].get("reason")
            write_plan(conn, planned, run_id, rt.clock(), contacts=scope)
            plans.append(planned)
    return plans


def _leave_removals(conn: sa.Connection, plan: DestinationPlan, scope: set[int]) -> int:
    """Drop from ``plan`` the removals not queued already (by a scheduled plan, guarded whole);
    return how many were dropped."""
    queued = {
        (r.contact_id, r.kind, r.key, r.value)
        for r in conn.execute(
            sa.select(outbox.c.contact_id, outbox.c.kind, outbox.c.key, outbox.c.value).where(
                outbox.c.destination == plan.destination,
                outbox.c.status.in_(OPEN),
                outbox.c.kind.in_([str(k) for k in REMOVALS]),
                outbox.c.contact_id.in_(sorted(scope)),
            )
        )
    }
    kept = [c for c in plan.changes if c.kind not in REMOVALS or c.identity in queued]
    dropped = len(plan.changes) - len(kept)
    plan.changes = kept
    return dropped


class MicroCycles:
    """The thread that runs a micro-cycle after each burst of deliveries."""

    def __init__(
        self,
        runtime: Callable[[], Runtime],
        receivers: Receivers,
        backlog: Backlog,
        lock: RunLock,
        stop: threading.Event,
    ) -> None:
        self.runtime = runtime
        self.receivers = receivers
        self.backlog = backlog
        self.lock = lock
        self.stop = stop
        self._thread: threading.Thread | None = None
        self.running = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="syncd-webhooks", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            self.backlog.load(self.runtime().engine)  # deliveries a stopped daemon left
        except Exception as exc:
            log.warning("could not read the webhook inbox", error=redact(error_line(exc)))
        while not self.stop.is_set():
            if not self.backlog.changed.wait(1.0):
                continue
            debounce = self.runtime().config.webhooks.debounce.total_seconds()
            self.stop.wait(self.backlog.due_in(debounce))
            if self.stop.is_set():
                return
            self.backlog.take()
            self.once()

    def once(self) -> None:
        """One micro-cycle under the run lock (free, or lent by a scheduled job between the
        pages of its pull); its failure is logged and the next burst retries."""
        with self.lock.between():
            if self.stop.is_set():
                return
            rt = self.runtime()
            self.running = True
            try:
                with structlog.contextvars.bound_contextvars(job=JOB):
                    micro_cycle(rt, self.receivers, self.backlog)
            except (SyncdError, sa.exc.SQLAlchemyError, OSError) as exc:
                log.error("micro-cycle failed", error=redact(error_line(exc)))
                self.backlog.changed.set()  # what is stored stays pending: try again
            except Exception as exc:  # a bug: logged whole, the daemon goes on
                log.error(
                    "micro-cycle failed",
                    error=redact(error_line(exc)),
                    traceback=traceback.format_exc(),
                )
            finally:
                self.running = False
