"""Push: send the outbox in batches; a change is done, and the destination's known state
updated, in one transaction, only after the destination confirmed it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from syncd.clock import Clock
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Destination, Outcome
from syncd.errors import AuthError, FatalError, RetryableError
from syncd.metrics import CHANGES_PUSHED
from syncd.store.schema import contacts, identities, memberships, outbox, tags
from syncd.sync.confirm import confirm
from syncd.sync.outbox import (
    CHANGE,
    LEASE,
    claim_batch,
    claimant,
    live_claim,
    release_claims,
    release_dead_claims,
)
from syncd.sync.page_rows import REMOVED
from syncd.sync.plan import consents

log = structlog.get_logger("syncd.push")

Progress = Callable[[str, Counter[str]], None]


def _changes(conn: sa.Connection, destination: str, ids: list[int]) -> list[Any]:
    """The claimed changes ``ids``, with what the destination needs to apply each one."""
    ident = identities.alias("ident")
    external = (
        sa.select(ident.c.external_id)
        .where(ident.c.contact_id == outbox.c.contact_id, ident.c.connector == destination)
        .order_by(ident.c.updated_at.desc())
        .limit(1)
        .scalar_subquery()
    )

    def ref(table: sa.Table, key: sa.ColumnElement[str]) -> sa.ScalarSelect[Any]:
        """The destination's id of the tag or list the change is about."""
        return (
            sa.select(table.c.ref)
            .where(
                table.c.contact_id == outbox.c.contact_id,
                table.c.source == destination,
                key == outbox.c.key,
            )
            .scalar_subquery()
        )

    return list(
        conn.execute(
            sa.select(
                outbox.c.id,
                *CHANGE,
                outbox.c.attempts,
                contacts.c.email,
                external.label("external_id"),
                sa.case(
                    (outbox.c.kind == "remove_tag", ref(tags, tags.c.tag)),
                    else_=ref(memberships, memberships.c.list),
                ).label("ref"),
                sa.exists()
                .where(
                    memberships.c.contact_id == outbox.c.contact_id,
                    memberships.c.source == destination,
                    memberships.c.list == outbox.c.key,
                    memberships.c.status == REMOVED,
                )
                .label("syncd_removed"),
                sa.case(
                    (
                        outbox.c.kind == ChangeKind.SUBSCRIBE.value,
                        consents(destination, outbox.c.contact_id, outbox.c.key),
                    ),
                    else_=sa.true(),
                ).label("consent"),
            )
            .join(contacts, contacts.c.id == outbox.c.contact_id)
            .where(outbox.c.id.in_(ids))
            .order_by(outbox.c.contact_id, outbox.c.id)
        )
    )


def push_destination(
    engine: sa.Engine,
    destination: str,
    target: Destination,
    *,
    clock: Clock,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    lease: timedelta = LEASE,
    precedence: Sequence[str] | None = None,
) -> Counter[str]:
    """Send every pending change of ``destination``; return counts by outcome. With the
    config's ``precedence``, the fields of a contact a field value was confirmed for are
    resolved again in the same transaction.

    Each batch holds every pending change of ``target.batch_size`` contacts, claimed for
    ``lease`` before it is sent, so another process pushing the same destination skips it.
    When ``stop`` is set, the batch in flight is sent and confirmed, and no other is begun.
    """
    counts: Counter[str] = Counter()
    me = claimant()
    after = 0
    with engine.begin() as conn:
        freed = release_dead_claims(conn, destination, clock())
    if freed:
        log.warning("freed the claims of a push that died", destination=destination, changes=freed)
    try:
        while True:
            if stop is not None and stop.is_set():
                log.info("push stopped; the rest waits for the next run", destination=destination)
                return counts
            with engine.begin() as conn:
                ids, last = claim_batch(
                    conn,
                    destination,
                    after=after,
                    contacts=target.batch_size,
                    claimant=me,
                    now=clock(),
                    lease=lease,
                )
                rows = _changes(conn, destination, ids) if ids else []
                rows = _without_consent(conn, rows, counts, clock())
            if last is None:
                waiting = _claimed_elsewhere(engine, destination, clock())
                if waiting:
                    counts["waiting"] = waiting
                return counts
            after = last
            results, whole_batch = _send(target, rows) if rows else ([], False)
            outcomes = confirm(
                engine, destination, me, rows, results, clock(), whole_batch, precedence
            )
            for result in results:
                counts[str(result.outcome)] += 1
            for kind, outcome in outcomes:
                CHANGES_PUSHED.labels(destination, kind, outcome).inc()
            if progress is not None:
                progress(destination, counts)
            if counts[Outcome.RETRYABLE] and all(r.outcome is Outcome.RETRYABLE for r in results):
                log.warning(
                    "destination is failing; the rest waits for the next run",
                    destination=destination,
                )
                counts["failing"] = 1
                return counts
    except BaseException:
        # what this push claimed and did not confirm is free for the next one at once
        _release(engine, me)
        raise


def _without_consent(
    conn: sa.Connection, rows: list[Any], counts: Counter[str], now: datetime
) -> list[Any]:
    """The claimed changes less the subscriptions the store no longer consents to (the
    person unsubscribed or revoked consent since the plan, held plans included): those are
    superseded unsent, with the reason, and counted ``no_consent``."""
    refused = [r.id for r in rows if not r.consent]
    if not refused:
        return rows
    conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(refused))
        .values(
            status="superseded",
            attempts=outbox.c.attempts - 1,  # it was not sent
            last_error="not sent: no consent as of the push",
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
    )
    counts["no_consent"] += len(refused)
    log.info("subscriptions not sent: consent withdrawn since the plan", changes=len(refused))
    return [r for r in rows if r.consent]


def _claimed_elsewhere(engine: sa.Engine, destination: str, now: datetime) -> int:
    """Pending changes of ``destination`` another push holds claimed (and may be alive)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    outbox.c.destination == destination,
                    outbox.c.status == "pending",
                    live_claim(now),
                )
            ).scalar_one()
        )


def _send(target: Destination, rows: list[Any]) -> tuple[list[ChangeResult], bool]:
    """What the destination answered for each change, and whether its whole batch failed at
    once (an error of the destination, not an answer about each change)."""
    batch = [
        Change(
            id=r.id,
            kind=ChangeKind(r.kind),
            email=r.email,
            key=r.key,
            value=r.value,
            external_id=r.external_id,
            ref=r.ref,
            syncd_removed=bool(r.syncd_removed) and r.kind == ChangeKind.SUBSCRIBE,
        )
        for r in rows
    ]
    try:
        return target.push(batch), False
    except AuthError:
        raise
    except (RetryableError, FatalError) as exc:
        # the whole batch failed; for a retryable error nothing is lost, it goes again
        retry = isinstance(exc, RetryableError)
        return [
            ChangeResult(c.id, Outcome.RETRYABLE if retry else Outcome.FAILED, str(exc))
            for c in batch
        ], True


def _release(engine: sa.Engine, me: str) -> None:
    try:
        with engine.begin() as conn:
            release_claims(conn, me)
    except Exception as exc:  # the store is gone too: the lease runs out instead
        # an error without a message must not replace the one this push is stopping on
        error = str(exc).strip().split("\n", 1)[0] or type(exc).__name__
        log.warning("could not release the claimed changes", error=error)
