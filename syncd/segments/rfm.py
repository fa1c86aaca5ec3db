"""RFM: recency, frequency and monetary value of each purchaser, scored 1-5 by quintile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.segments.rules import RFM_CLASSES
from syncd.store.schema import Id, Time, contact_rfm, events
from syncd.store.temporary import empty

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


_purchases = sa.Table(
    "syncd_rfm_purchases",
    sa.MetaData(),
    # INTEGER PRIMARY KEY on SQLite: the rows are kept, and read back, in contact order
    sa.Column("contact_id", Id, primary_key=True, autoincrement=False),
    sa.Column("recency", Time, nullable=False),
    sa.Column("frequency", sa.Integer, nullable=False),
    sa.Column("monetary", sa.Float, nullable=False),
    prefixes=["TEMPORARY"],
)


def compute_rfm(conn: sa.Connection, now: datetime) -> None:
    """Replace ``contact_rfm`` with the RFM of every purchaser at ``now``.

    A score is 1 + 5 (rank - 1) // n, with rank() over the n purchasers (ties share the
    lowest rank). Rank - 1 is the number of values below a value, so with s the values
    sorted, the score is 1 plus the number of the four cuts s[ceil(k n / 5) - 1], k = 1..4,
    that the value exceeds. The cuts take one sort of one column per measure, and are
    four values read back; rank() windows would sort whole rows, once per measure, and
    again by contact to write them.
    """
    _purchases.create(conn, checkfirst=True)
    empty(conn, _purchases)
    conn.execute(
        _purchases.insert().from_select(
            ["contact_id", "recency", "frequency", "monetary"],
            sa.select(
                events.c.contact_id,
                sa.func.max(events.c.occurred_at),
                sa.func.count(),
                sa.func.sum(sa.func.coalesce(events.c.value, 0.0)),
            )
            .where(
                events.c.type == PURCHASE,
                events.c.occurred_at <= now,
                events.c.contact_id.is_not(None),
            )
            .group_by(events.c.contact_id),
        )
    )
    conn.execute(contact_rfm.delete())
    n = conn.execute(sa.select(sa.func.count()).select_from(_purchases)).scalar_one()
    if n:
        positions = [(k * n + 4) // 5 for k in range(1, 5)]  # ceil(k n / 5), counted from 1
        p = _purchases.c
        # a last order's time is nearly always the purchaser's alone; counts and sums of
        # orders repeat, and the window then runs over their distinct values only
        r = _Score(p.recency, _cuts(conn, p.recency, positions, repeats=False))
        f = _Score(p.frequency, _cuts(conn, p.frequency, positions, repeats=True))
        m = _Score(p.monetary, _cuts(conn, p.monetary, positions, repeats=True))
        conn.execute(
            contact_rfm.insert().from_select(
                ["contact_id", "recency", "frequency", "monetary", "r", "f", "m", "class"],
                sa.select(
                    p.contact_id,
                    p.recency,
                    p.frequency,
                    p.monetary,
                    r.expression(),
                    f.expression(),
                    m.expression(),
                    _class_expression(r, f, m),
                )
                # in the table's order: each row is added at its end instead of amid the
                # others (on SQLite the temporary table is read in this order, unsorted)
                .order_by(p.contact_id),
            )
        )
    empty(conn, _purchases)


def _cuts(conn: sa.Connection, column: Any, positions: list[int], repeats: bool) -> list[Any]:
    """The values at ``positions`` (counted from 1) of ``column`` sorted, in one query: four
    values, not rows. The value at position p is the least value with at least p values up
    to it, itself included.

    With ``repeats``, the values are grouped first: each distinct value once, with the count
    of the values up to it.
    """
    if repeats:
        upto = sa.func.sum(sa.func.count()).over(order_by=column)
        values = sa.select(column.label("v"), upto.label("upto")).group_by(column).subquery()
    else:
        upto = sa.func.row_number().over(order_by=column)
        values = sa.select(column.label("v"), upto.label("upto")).subquery()
    at = [sa.func.min(sa.case((values.c.upto >= p, values.c.v))) for p in positions]
    return list(conn.execute(sa.select(*at)).one())


class _Score:
    """A measure's score, 1 plus the number of its ascending ``cuts`` that it exceeds, as
    compared in SQL. Each cut is bound with the column's own type, so a time compares as
    the store keeps it."""

    def __init__(self, column: Any, cuts: list[Any]) -> None:
        self.above = [column > sa.literal(cut, column.type) for cut in cuts]  # score > k + 1

    def expression(self) -> Any:
        return sa.case(*[(self.above[k], k + 2) for k in reversed(range(4))], else_=1)

    def between(self, low: int, high: int) -> Any:
        """low <= score <= high, from the comparisons themselves: the class tests each
        score once per row of CLASS_TABLE, and SQLite would evaluate the CASE at each."""
        return sa.and_(
            self.above[low - 2] if low > 1 else sa.true(),
            ~self.above[high - 1] if high < 5 else sa.true(),
        )
