"""What the status page shows of the webhooks: per instance, the deliveries the inbox keeps
(received, pending, the latest), their lag from arrival to applied, and the refusals this
process counted (refused requests are never stored)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from syncd import metrics
from syncd.clock import as_utc
from syncd.store.schema import webhook_inbox

LAG_SAMPLE = 200  # the latest applied deliveries whose lag is shown


def webhook_rows(conn: sa.Connection, instances: Iterable[str]) -> list[dict[str, Any]]:
    """One row per instance that takes webhooks."""
    inbox = webhook_inbox.c
    counted = conn.execute(
        sa.select(
            inbox.instance,
            sa.func.count(),
            sa.func.count().filter(inbox.applied_at.is_(None)),
            sa.func.max(inbox.received_at),
        ).group_by(inbox.instance)
    ).all()
    found = {str(r[0]): (int(r[1]), int(r[2]), r[3]) for r in counted}
    rows = []
    for instance in instances:
        received, pending, latest = found.get(instance, (0, 0, None))
        lags = sorted(_lags(conn, instance))
        rows.append(
            {
                "instance": instance,
                "received": received,
                "pending": pending,
                "latest": as_utc(latest) if latest else None,
                "lag_p50": _quantile(lags, 0.5),
                "lag_p95": _quantile(lags, 0.95),
                "refused": refused_counts(instance),
            }
        )
    return rows


def _lags(conn: sa.Connection, instance: str) -> list[float]:
    inbox = webhook_inbox.c
    rows = conn.execute(
        sa.select(inbox.received_at, inbox.applied_at)
        .where(inbox.instance == instance, inbox.applied_at.is_not(None))
        .order_by(inbox.id.desc())
        .limit(LAG_SAMPLE)
    ).all()
    return [max(0.0, (as_utc(a) - as_utc(r)).total_seconds()) for r, a in rows]


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def refused_counts(instance: str) -> dict[str, int]:
    """The requests of ``instance`` this process refused, by reason."""
    out: dict[str, int] = {}
    for family in metrics.WEBHOOKS_REFUSED.collect():
        for sample in family.samples:
            mine = sample.labels.get("instance") == instance
            if sample.name.endswith("_total") and mine and sample.value:
                out[sample.labels["reason"]] = int(sample.value)
    return out


def lag_text(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f}s"
