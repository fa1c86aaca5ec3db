"""The outbox: a plan becomes persisted changes; a later plan supersedes what it no longer wants.

A push claims the changes of its next batch before sending them, so that several processes
on one PostgreSQL store can push one destination at once and no change is sent twice.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.connectors.contract import ChangeKind
from syncd.store.schema import contacts, identities, memberships, meta, outbox, tags
from syncd.store.upsert import upsert
from syncd.sync.page_rows import REMOVED
from syncd.sync.plan import DestinationPlan
from syncd.sync.runs import dead_holder, host_name, this_process

OPEN = ("pending", "held")
MAX_ATTEMPTS = 8  # a change that failed this often is given up (failed) for this plan
REFUSED = "refused: "  # leads the reason of a change the destination refused on its own
HELD_KEY = "held:"  # meta key prefix: why a destination's plan is held, and since when
# long enough for one batch with its retries and rate-limit waits; a holder that dies loses
# its claim after this, and another push takes the changes again
LEASE = timedelta(minutes=10)
# what a change is (PlannedChange.identity): a row of the outbox is one change to one contact
CHANGE = (outbox.c.contact_id, outbox.c.kind, outbox.c.key, outbox.c.value)


def adopt_applied(
    conn: sa.Connection, destination: str, contacts: Collection[int] | None = None
) -> None:
    """A change that was sent but not confirmed, and is now seen at the destination, was
    syncd's doing: mark what it added as managed before the plan forgets the change.

    That includes a change superseded while a push had it on its way and never answered for
    it (the push died): the destination may hold it all the same. Given ``contacts`` (a plan
    of those contacts only, which forgets no other contact's change), only theirs: the
    destination's every tag and membership need not be looked at.
    """

    def sent(
        kind: ChangeKind, table: sa.Table, key: sa.ColumnElement[str]
    ) -> sa.ColumnElement[bool]:
        """A change of ``kind`` that added this row of ``table`` went out, unanswered: still
        open, or superseded while a push had it. Two look-ups by change, each served by
        ``ix_outbox_change`` (one test with an OR of statuses made the database scan)."""
        same = (
            outbox.c.destination == destination,
            outbox.c.contact_id == table.c.contact_id,
            outbox.c.kind == kind.value,
            outbox.c.key == key,
            outbox.c.attempts > 0,
        )
        return sa.or_(
            sa.exists().where(*same, outbox.c.status.in_(OPEN)),
            sa.exists().where(
                *same, outbox.c.status == "superseded", outbox.c.claimed_by.is_not(None)
            ),
        )

    def of(table: sa.Table) -> sa.ColumnElement[bool]:
        return sa.true() if contacts is None else table.c.contact_id.in_(sorted(contacts))

    def mark(table: sa.Table, kind: ChangeKind, key: Any, which: Any, **values: object) -> None:
        """Mark ``which`` rows of ``table`` at this destination with ``values`` where a change
        of ``kind`` added them."""
        conn.execute(
            table.update()
            .where(table.c.source == destination, which, sent(kind, table, key), of(table))
            .values(**values)
        )

    mark(tags, ChangeKind.ADD_TAG, tags.c.tag, tags.c.managed.is_(False), managed=True)
    subscribed = sa.and_(memberships.c.managed.is_(False), memberships.c.status == "subscribed")
    mark(memberships, ChangeKind.SUBSCRIBE, memberships.c.list, subscribed, managed=True)
    # an unsubscribe sent, unanswered, and now seen: syncd's removal, not the person's
    unsubscribed = memberships.c.status == "unsubscribed"
    mark(memberships, ChangeKind.UNSUBSCRIBE, memberships.c.list, unsubscribed, status=REMOVED)


def write_plan(
    conn: sa.Connection,
    plan: DestinationPlan,
    run_id: str,
    now: datetime,
    contacts: Collection[int] | None = None,
) -> dict[str, int]:
    """Make the outbox of ``plan.destination`` equal the plan; return what was added or dropped.
    Given ``contacts`` (a plan of those contacts only), the other contacts' changes stay.

    A change a push holds claimed may be on its way: superseding it only marks it (the push
    still records it done if the destination confirms it, and otherwise leaves it superseded),
    and while the claim lasts a plan that wants it again takes it back instead of adding a
    second copy of it.
    """
    status = "held" if plan.held else "pending"
    _take_write_lock(conn)
    in_flight = sa.and_(outbox.c.status == "superseded", live_claim(now))
    # the updates below repeat the condition: a push may confirm a change meanwhile, and a
    # change done must stay done
    still_open = outbox.c.status.in_(OPEN) | in_flight
    open_rows = conn.execute(
        sa.select(outbox.c.id, *CHANGE, outbox.c.status)
        .where(outbox.c.destination == plan.destination, still_open)
        .where(outbox.c.contact_id.in_(sorted(contacts)) if contacts is not None else sa.true())
        # an open row wins over a superseded one of the same change
        .order_by(sa.case((outbox.c.status == "superseded", 0), else_=1), outbox.c.id)
    ).all()
    existing = {(r.contact_id, r.kind, r.key, r.value): (r.id, r.status) for r in open_rows}
    wanted = {c.identity for c in plan.changes}
    stale = [
        row_id for key, (row_id, st) in existing.items() if key not in wanted and st != "superseded"
    ]
    for start in range(0, len(stale), 500):
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(stale[start : start + 500]), outbox.c.status.in_(OPEN))
            .values(status="superseded", updated_at=now)
        )
    restatus = [row_id for key, (row_id, st) in existing.items() if key in wanted and st != status]
    for start in range(0, len(restatus), 500):
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(restatus[start : start + 500]), still_open)
            .values(status=status, updated_at=now)
        )
    new = [
        {
            "destination": plan.destination,
            "contact_id": c.contact_id,
            "kind": str(c.kind),
            "key": c.key,
            "value": c.value,
            "status": status,
            "attempts": 0,
            "run_id": run_id,
            "created_at": now,
            "updated_at": now,
        }
        for c in plan.changes
        if c.identity not in existing
    ]
    if new:
        conn.execute(outbox.insert(), new)
    if contacts is None or plan.held:  # a plan of a few contacts releases no hold
        _remember_hold(conn, plan, now)
    return {"queued": len(new), "superseded": len(stale)}


def forget_failed(conn: sa.Connection, plan: DestinationPlan) -> DestinationPlan:
    """Leave out of ``plan`` the changes the destination refused for good, each on its own
    (``REFUSED``; not a whole batch failing, not retries running out), since their
    contact's data last changed: planned, sent and refused again every cycle, they would
    cost requests and say nothing new. A change of the contact (a source reports it anew)
    plans it again. ``plan.refused`` counts them."""
    if not plan.changes:
        return plan
    changed_since = sa.or_(
        sa.exists().where(
            contacts.c.id == outbox.c.contact_id, contacts.c.updated_at > outbox.c.updated_at
        ),
        sa.exists().where(
            identities.c.contact_id == outbox.c.contact_id,
            identities.c.updated_at > outbox.c.updated_at,
        ),
    )
    refused = {
        (r.contact_id, r.kind, r.key, r.value)
        for r in conn.execute(
            sa.select(*CHANGE).where(
                outbox.c.destination == plan.destination,
                outbox.c.status == "failed",
                outbox.c.last_error.startswith(REFUSED, autoescape=True),
                sa.not_(changed_since),
            )
        )
    }
    if refused:
        kept = [c for c in plan.changes if c.identity not in refused]
        plan.refused = len(plan.changes) - len(kept)
        plan.changes = kept
    return plan


def compact(conn: sa.Connection, now: datetime, keep: timedelta) -> int:
    """Delete the outbox rows done or superseded longer than ``keep`` ago (and unclaimed),
    and failed ones older than that a later plan took up again; return how many.

    A failed row with no later row is kept: it is what ``forget_failed`` remembers."""
    before = now - keep
    unclaimed = sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now)
    gone = conn.execute(
        outbox.delete().where(
            outbox.c.status.in_(("done", "superseded")), outbox.c.updated_at < before, unclaimed
        )
    ).rowcount
    later = outbox.alias("later")
    gone += conn.execute(
        outbox.delete().where(
            outbox.c.status == "failed",
            outbox.c.updated_at < before,
            sa.exists().where(
                later.c.destination == outbox.c.destination,
                later.c.contact_id == outbox.c.contact_id,
                later.c.kind == outbox.c.kind,
                later.c.key == outbox.c.key,
                later.c.id > outbox.c.id,
            ),
        )
    ).rowcount
    return int(gone or 0)


def _remember_hold(conn: sa.Connection, plan: DestinationPlan, now: datetime) -> None:
    """Keep why and since when a destination's plan is held, for ``syncd status``."""
    key = HELD_KEY + plan.destination
    if not plan.held:
        conn.execute(meta.delete().where(meta.c.key == key))
        return
    before = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
    since = (json.loads(before).get("since") if before else None) or now.isoformat()
    value = json.dumps({"reason": plan.reason, "since": since})
    upsert(conn, meta, [{"key": key, "value": value}], ["key"], ["value"])


def held_plans(conn: sa.Connection) -> dict[str, dict[str, str | None]]:
    """destination -> the guard's reason and since when (ISO time) its plan is held."""
    rows = conn.execute(sa.select(meta.c.key, meta.c.value).where(meta.c.key.startswith(HELD_KEY)))
    return {key[len(HELD_KEY) :]: json.loads(value) for key, value in rows}


def release_held(conn: sa.Connection, destination: str | None, now: datetime) -> int:
    """``push --confirm``: held changes become pending."""
    stmt = outbox.update().where(outbox.c.status == "held")
    forget = meta.delete().where(meta.c.key.startswith(HELD_KEY))
    if destination:
        stmt = stmt.where(outbox.c.destination == destination)
        forget = meta.delete().where(meta.c.key == HELD_KEY + destination)
    conn.execute(forget)
    return int(conn.execute(stmt.values(status="pending", updated_at=now)).rowcount or 0)


def _take_write_lock(conn: sa.Connection) -> None:
    """On SQLite, hold the store's one write lock from the start of this transaction.

    SQLite ignores FOR UPDATE, and a transaction that reads and then writes fails at once
    when another wrote in between; taking the lock first makes such transactions take turns.
    """
    if conn.dialect.name == "sqlite":
        conn.execute(outbox.update().where(outbox.c.id == -1).values(claimed_by=None))


def claimant() -> str:
    """A name for one push, unique across hosts, processes and threads:
    ``host:pid:start time:random``, from which ``dead_holder`` tells whether it died."""
    return f"{host_name()}:{this_process()}:{uuid.uuid4().hex[:12]}"


def release_dead_claims(conn: sa.Connection, destination: str, now: datetime) -> int:
    """Free at once the live claims of pushes known dead (their process is gone, or their
    run on another host stopped beating); a holder that may be alive keeps its lease."""
    holders = conn.execute(
        sa.select(outbox.c.claimed_by)
        .where(outbox.c.destination == destination, live_claim(now))
        .where(outbox.c.claimed_by.is_not(None))
        .distinct()
    ).scalars()
    dead = [h for h in holders if dead_holder(conn, h)]
    if not dead:
        return 0
    # as when a lease runs out: the holder's name stays, a trace adopt_applied reads
    stmt = outbox.update().where(outbox.c.claimed_by.in_(dead)).values(claimed_until=None)
    return int(conn.execute(stmt).rowcount or 0)


def live_claim(now: datetime) -> sa.ColumnElement[bool]:
    """A change some push holds claimed at ``now``."""
    return sa.and_(outbox.c.claimed_until.is_not(None), outbox.c.claimed_until >= now)


def claim_batch(
    conn: sa.Connection,
    destination: str,
    *,
    after: int,
    contacts: int,
    claimant: str,
    now: datetime,
    lease: timedelta = LEASE,
) -> tuple[list[int], int | None]:
    """Claim every pending change of the next ``contacts`` contacts after contact id ``after``
    that no other push holds; return the changes' ids and the last contact id looked at
    (None when no contact is left). Call it in a transaction of its own, committed before
    the batch is sent.

    A contact is taken whole or not at all: its pending changes must all be locked here
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and none may be under a live claim, so two
    pushes never share a contact, even when a plan adds a change to it in the meantime.
    """
    _take_write_lock(conn)
    pending = (outbox.c.destination == destination, outbox.c.status == "pending")
    held_live = sa.func.max(sa.case((live_claim(now), 1), else_=0))
    while True:
        candidates = list(
            conn.execute(
                sa.select(outbox.c.contact_id)
                .where(*pending, outbox.c.contact_id > after)
                .group_by(outbox.c.contact_id)
                .having(held_live == 0)
                .order_by(outbox.c.contact_id)
                .limit(contacts)
            ).scalars()
        )
        if not candidates:
            return [], None
        of_candidates = (*pending, outbox.c.contact_id.in_(candidates))
        lock = (
            sa.select(outbox.c.id, outbox.c.contact_id, outbox.c.claimed_until)
            .where(*of_candidates)
            .with_for_update(skip_locked=True)
        )
        if conn.dialect.name != "sqlite":
            # rows locked in one order by every push; SQLite locks no rows, and ordering by
            # id there made it walk the whole table by its key for each batch
            lock = lock.order_by(outbox.c.id)
        locked = {r.id: r for r in conn.execute(lock)}
        # a fresh look: a change locked by another push, or added since, is not in ``locked``
        every: dict[int, list[int]] = defaultdict(list)
        for row_id, contact_id in conn.execute(
            sa.select(outbox.c.id, outbox.c.contact_id).where(*of_candidates)
        ):
            every[contact_id].append(row_id)
        taken = [
            row_id
            for ids in every.values()
            if all(
                i in locked and (locked[i].claimed_until is None or locked[i].claimed_until < now)
                for i in ids
            )
            for row_id in ids
        ]
        after = candidates[-1]
        if taken:
            conn.execute(
                outbox.update()
                .where(outbox.c.id.in_(taken))
                .values(
                    claimed_by=claimant,
                    claimed_until=now + lease,
                    # the attempt is recorded before sending, so a crash mid-send leaves a
                    # trace that the next plan uses to adopt what did arrive (adopt_applied)
                    attempts=outbox.c.attempts + 1,
                    updated_at=now,
                )
            )
            return sorted(taken), after
        # every candidate was taken by another push meanwhile: look further


def release_claims(conn: sa.Connection, claimant: str) -> int:
    """Give up every claim of ``claimant`` (a push that stops on an error it cannot answer for)."""
    stmt = (
        outbox.update()
        .where(outbox.c.claimed_by == claimant)
        .values(claimed_by=None, claimed_until=None)
    )
    return int(conn.execute(stmt).rowcount or 0)
