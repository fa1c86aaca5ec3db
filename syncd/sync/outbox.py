"""The outbox: a plan becomes persisted changes; a later plan supersedes what it no longer wants."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from syncd.connectors.contract import ChangeKind
from syncd.store.schema import memberships, outbox, tags
from syncd.sync.plan import DestinationPlan

OPEN = ("pending", "held")


def adopt_applied(conn: sa.Connection, destination: str) -> None:
    """A change that was sent but not confirmed, and is now seen at the destination, was
    syncd's doing: mark what it added as managed before the plan forgets the change."""
    sent = sa.exists().where(
        outbox.c.destination == destination,
        outbox.c.status.in_(OPEN),
        outbox.c.attempts > 0,
        outbox.c.contact_id == tags.c.contact_id,
        outbox.c.kind == ChangeKind.ADD_TAG.value,
        outbox.c.key == tags.c.tag,
    )
    conn.execute(
        tags.update()
        .where(tags.c.source == destination, tags.c.managed.is_(False), sent)
        .values(managed=True)
    )
    sent_list = sa.exists().where(
        outbox.c.destination == destination,
        outbox.c.status.in_(OPEN),
        outbox.c.attempts > 0,
        outbox.c.contact_id == memberships.c.contact_id,
        outbox.c.kind == ChangeKind.SUBSCRIBE.value,
        outbox.c.key == memberships.c.list,
    )
    conn.execute(
        memberships.update()
        .where(
            memberships.c.source == destination,
            memberships.c.managed.is_(False),
            memberships.c.status == "subscribed",
            sent_list,
        )
        .values(managed=True)
    )


def write_plan(
    conn: sa.Connection, plan: DestinationPlan, run_id: str, now: datetime
) -> dict[str, int]:
    """Make the outbox of ``plan.destination`` equal the plan; return what was added or dropped."""
    status = "held" if plan.held else "pending"
    open_rows = conn.execute(
        sa.select(
            outbox.c.id,
            outbox.c.contact_id,
            outbox.c.kind,
            outbox.c.key,
            outbox.c.value,
            outbox.c.status,
        ).where(outbox.c.destination == plan.destination, outbox.c.status.in_(OPEN))
    ).all()
    existing = {(r.contact_id, r.kind, r.key, r.value): (r.id, r.status) for r in open_rows}
    wanted = {c.identity for c in plan.changes}
    stale = [row_id for key, (row_id, _) in existing.items() if key not in wanted]
    for start in range(0, len(stale), 500):
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(stale[start : start + 500]))
            .values(status="superseded", updated_at=now)
        )
    restatus = [row_id for key, (row_id, st) in existing.items() if key in wanted and st != status]
    for start in range(0, len(restatus), 500):
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(restatus[start : start + 500]))
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
    return {"queued": len(new), "superseded": len(stale)}


def release_held(conn: sa.Connection, destination: str | None, now: datetime) -> int:
    """``push --confirm``: held changes become pending."""
    stmt = outbox.update().where(outbox.c.status == "held")
    if destination:
        stmt = stmt.where(outbox.c.destination == destination)
    return int(conn.execute(stmt.values(status="pending", updated_at=now)).rowcount or 0)
