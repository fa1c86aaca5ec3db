"""RFM: recency, frequency and monetary value of each purchaser, scored 1-5 by quintile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.segments.rules import RFM_CLASSES
from syncd.store.schema import contact_rfm, events

PURCHASE = "order_placed"

# (class, r range, f range, m range): the first row that fits gives the class
CLASS_TABLE: tuple[tuple[str, tuple[int, int], tuple[int, int], tuple[int, int]], ...] = (
    ("champions", (4, 5), (4, 5), (4, 5)),
    ("loyal", (3, 5), (4, 5), (1, 5)),
    ("cant_lose_them", (1, 2), (4, 5), (4, 5)),
    ("at_risk", (1, 2), (3, 5), (1, 5)),
    ("potential_loyalists", (4, 5), (2, 3), (1, 5)),
    ("new", (4, 5), (1, 1), (1, 5)),
    ("promising", (3, 3), (1, 2), (1, 5)),
    ("need_attention", (3, 3), (3, 3), (1, 5)),
    ("about_to_sleep", (2, 2), (1, 2), (1, 5)),
    ("hibernating", (1, 1), (2, 2), (1, 5)),
    ("lost", (1, 1), (1, 1), (1, 5)),
)
assert tuple(row[0] for row in CLASS_TABLE) == RFM_CLASSES


def rfm_class(r: int, f: int, m: int) -> str:
    """The class of one (r, f, m), by the table."""
    for name, (r0, r1), (f0, f1), (m0, m1) in CLASS_TABLE:
        if r0 <= r <= r1 and f0 <= f <= f1 and m0 <= m <= m1:
            return name
    raise ValueError(f"no RFM class for r={r} f={f} m={m}")


def _class_expression(r: Any, f: Any, m: Any) -> Any:
    return sa.case(
        *[
            (sa.and_(r.between(r0, r1), f.between(f0, f1), m.between(m0, m1)), name)
            for name, (r0, r1), (f0, f1), (m0, m1) in CLASS_TABLE
        ],
        else_="lost",
    )


def compute_rfm(conn: sa.Connection, now: datetime) -> None:
    """Replace ``contact_rfm`` with the RFM of every purchaser at ``now``."""
    purchases = (
        sa.select(
            events.c.contact_id,
            sa.func.max(events.c.occurred_at).label("recency"),
            sa.func.count().label("frequency"),
            sa.func.sum(sa.func.coalesce(events.c.value, 0.0)).label("monetary"),
        )
        .where(
            events.c.type == PURCHASE, events.c.occurred_at <= now, events.c.contact_id.is_not(None)
        )
        .group_by(events.c.contact_id)
        .cte("purchases")
    )
    n = sa.func.count().over()  # the purchasers, without reading the CTE a second time

    def quintile(column: Any) -> Any:
        rank = sa.func.rank().over(order_by=column)
        return 1 + (5 * (rank - 1)) // n

    ranked = sa.select(
        purchases.c.contact_id,
        purchases.c.recency,
        purchases.c.frequency,
        purchases.c.monetary,
        quintile(purchases.c.recency).label("r"),
        quintile(purchases.c.frequency).label("f"),
        quintile(purchases.c.monetary).label("m"),
    ).subquery("ranked")
    conn.execute(contact_rfm.delete())
    conn.execute(
        contact_rfm.insert().from_select(
            ["contact_id", "recency", "frequency", "monetary", "r", "f", "m", "class"],
            sa.select(
                ranked.c.contact_id,
                ranked.c.recency,
                ranked.c.frequency,
                ranked.c.monetary,
                ranked.c.r,
                ranked.c.f,
                ranked.c.m,
                _class_expression(ranked.c.r, ranked.c.f, ranked.c.m),
            )
            # in the table's order: each row is added at its end instead of amid the others
            .order_by(ranked.c.contact_id),
        )
    )
