"""What the command line shows: segments, members, runs, cursors, outbox, quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from syncd.store.schema import (
    contact_fields,
    contacts,
    cursors,
    outbox,
    quarantine,
    runs,
    segment_members,
    segments,
)
from syncd.sync.plan import DestinationPlan


def emails(conn: sa.Connection, ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        out.update(
            conn.execute(
                sa.select(contacts.c.id, contacts.c.email).where(contacts.c.id.in_(chunk))
            ).all()
        )
    return out


def plans_as_dicts(conn: sa.Connection, plans: Sequence[DestinationPlan]) -> list[dict[str, Any]]:
    by_id = emails(conn, [c.contact_id for p in plans for c in p.changes])
    return [
        {
            "destination": p.destination,
            "held": p.held,
            "reason": p.reason,
            "counts": p.counts(),
            "skipped": p.skipped,
            "changes": [
                {"email": by_id[c.contact_id], "kind": str(c.kind), "key": c.key, "value": c.value}
                for c in sorted(p.changes, key=lambda c: (by_id[c.contact_id], c.kind, c.key))
            ],
        }
        for p in plans
    ]


def segment_rows(conn: sa.Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(segments.select().order_by(segments.c.name))]


def segment_sample(conn: sa.Connection, name: str, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(contacts.c.email, segment_members.c.since)
        .join(contacts, contacts.c.id == segment_members.c.contact_id)
        .where(segment_members.c.segment == name)
        .order_by(contacts.c.email)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def contact_id_of(conn: sa.Connection, email: str) -> int | None:
    """The id of the contact with ``email`` (normalised as resolve does), or None."""
    found = conn.execute(
        sa.select(contacts.c.id).where(contacts.c.email == email.strip().lower())
    ).scalar()
    return None if found is None else int(found)


def contact_field_values(conn: sa.Connection, email: str) -> dict[str, Any]:
    rows = conn.execute(
        sa.select(contact_fields.c.name, contact_fields.c.value)
        .join(contacts, contacts.c.id == contact_fields.c.contact_id)
        .where(contacts.c.email == email)
    )
    return {name: value for name, value in rows}


def status(
    conn: sa.Connection, *, runs_limit: int = 10, quarantine_limit: int = 10
) -> dict[str, Any]:
    recent = conn.execute(sa.select(runs).order_by(runs.c.started_at.desc()).limit(runs_limit))
    backlog = conn.execute(
        sa.select(outbox.c.destination, outbox.c.status, sa.func.count())
        .where(outbox.c.status.in_(("pending", "held", "failed")))
        .group_by(outbox.c.destination, outbox.c.status)
        .order_by(outbox.c.destination, outbox.c.status)
    )
    q_counts = conn.execute(
        sa.select(quarantine.c.connector, quarantine.c.stream, sa.func.count())
        .group_by(quarantine.c.connector, quarantine.c.stream)
        .order_by(quarantine.c.connector, quarantine.c.stream)
    )
    latest = conn.execute(
        sa.select(
            quarantine.c.connector,
            quarantine.c.stream,
            quarantine.c.reason,
            quarantine.c.created_at,
        )
        .order_by(quarantine.c.id.desc())
        .limit(quarantine_limit)
    )
    failed = conn.execute(
        sa.select(
            outbox.c.destination, outbox.c.kind, outbox.c.key, outbox.c.last_error, contacts.c.email
        )
        .join(contacts, contacts.c.id == outbox.c.contact_id)
        .where(outbox.c.status == "failed")
        .order_by(outbox.c.id.desc())
        .limit(quarantine_limit)
    )
    return {
        "runs": [dict(r._mapping) for r in recent],
        "cursors": [
            dict(r._mapping)
            for r in conn.execute(cursors.select().order_by(cursors.c.connector, cursors.c.stream))
        ],
        "outbox": [{"destination": d, "status": s, "count": n} for d, s, n in backlog],
        "failed_changes": [dict(r._mapping) for r in failed],
        "quarantine": {
            "counts": [{"connector": c, "stream": s, "count": n} for c, s, n in q_counts],
            "latest": [dict(r._mapping) for r in latest],
        },
    }
