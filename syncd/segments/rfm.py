"""RFM: recency, frequency and monetary value of each purchaser, scored 1-5 by quintile."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.clock import as_utc
from syncd.segments.rules import RFM_CLASSES
from syncd.store.schema import Id, Time, contact_rfm, events, meta
from syncd.store.temporary import empty
from syncd.store.upsert import upsert

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


def compute_rfm(conn: sa.Connection, now: datetime, scope: sa.Table | None = None) -> None:
    """Replace ``contact_rfm`` with the RFM of every purchaser at ``now``; with ``scope``
    (a table of contact ids), only the purchases of those contacts are read again.

    A score is 1 + 5 (rank - 1) // n, with rank() over the n purchasers (ties share the
    lowest rank). Rank - 1 is the number of values below a value, so with s the values
    sorted, the score is 1 plus the number of the four cuts s[ceil(k n / 5) - 1], k = 1..4,
    that the value exceeds. The cuts take one sort of one column per measure, and are
    four values read back; rank() windows would sort whole rows, once per measure, and
    again by contact to write them.

    With ``scope``, the cuts are found again over the stored measures, and the scores and
    class are rewritten only for the contacts of the scope and those with a measure between
    a cut as it was and as it is: the others keep theirs. Those whose scores moved are
    added to the scope, so segments over the RFM see them.
    """
    old = _stored_cuts(conn) if scope is not None else None
    if scope is not None and old is None:
        scope = None  # never computed with its cuts remembered: whole
    _purchases.create(conn, checkfirst=True)
    empty(conn, _purchases)
    where = [
        events.c.type == PURCHASE,
        events.c.occurred_at <= now,
        events.c.contact_id.is_not(None),
    ]
    if scope is not None:
        where.append(events.c.contact_id.in_(sa.select(scope.c.contact_id)))
    conn.execute(
        _purchases.insert().from_select(
            ["contact_id", "recency", "frequency", "monetary"],
            sa.select(
                events.c.contact_id,
                sa.func.max(events.c.occurred_at),
                sa.func.count(),
                sa.func.sum(sa.func.coalesce(events.c.value, 0.0)),
            )
            .where(*where)
            .group_by(events.c.contact_id),
        )
    )
    if scope is None:
        conn.execute(contact_rfm.delete())
        measures: Any = _purchases
    else:  # the scope's measures replace theirs, their scores unknown (0) until rewritten
        in_scope = contact_rfm.c.contact_id.in_(sa.select(scope.c.contact_id))
        gone = conn.execute(contact_rfm.delete().where(in_scope)).rowcount
        came = conn.execute(sa.select(sa.func.count()).select_from(_purchases)).scalar_one()
        if not gone and not came:  # no purchaser changed: neither does any cut
            return
        _insert_purchasers(conn, [*[sa.literal(0)] * 3, sa.literal("")])
        measures = contact_rfm
    n = conn.execute(sa.select(sa.func.count()).select_from(measures)).scalar_one()
    cuts: list[list[Any]] | None = None
    if n:
        positions = [(k * n + 4) // 5 for k in range(1, 5)]  # ceil(k n / 5), counted from 1
        c = measures.c
        if scope is None:
            # a last order's time is nearly always the purchaser's alone; counts and sums of
            # orders repeat, and the window then runs over their distinct values only
            cuts = [
                _cuts(conn, c.recency, positions, repeats=False),
                _cuts(conn, c.frequency, positions, repeats=True),
                _cuts(conn, c.monetary, positions, repeats=True),
            ]
        else:
            cuts = [_cuts_by_index(conn, c[m], positions, n) for m in _MEASURES[1:]]
        r, f, m = (_Score(c[name], cut) for name, cut in zip(_MEASURES[1:], cuts, strict=True))
        if scope is None:
            scores = [r.expression(), f.expression(), m.expression()]
            _insert_purchasers(conn, [*scores, _class_expression(r, f, m)])
        else:
            _rewrite_moved(conn, scope, r, f, m, old or [], cuts)
    empty(conn, _purchases)
    _remember_cuts(conn, cuts)


_MEASURES = ("contact_id", "recency", "frequency", "monetary")
_CUTS_KEY = "compute:rfm_cuts"  # meta: the cuts of the last compute, as JSON


def _insert_purchasers(conn: sa.Connection, scores: list[Any]) -> None:
    """Add the purchasers gathered to ``contact_rfm``, with ``scores`` (r, f, m, class)."""
    p = _purchases.c
    conn.execute(
        contact_rfm.insert().from_select(
            [*_MEASURES, "r", "f", "m", "class"],
            sa.select(p.contact_id, p.recency, p.frequency, p.monetary, *scores)
            # in the table's order: each row is added at its end instead of amid the
            # others (on SQLite the temporary table is read in this order, unsorted)
            .order_by(p.contact_id),
        )
    )


def _rewrite_moved(
    conn: sa.Connection,
    scope: sa.Table,
    r: _Score,
    f: _Score,
    m: _Score,
    old: list[list[Any]],
    new: list[list[Any]],
) -> None:
    """Rewrite the scores and class of the scope's purchasers, and of every purchaser with a
    measure between a cut as it was and as it is; add the latter to the scope."""
    c = contact_rfm.c
    between: list[Any] = []
    for name, before, after in zip(_MEASURES[1:], old or [[]] * 3, new, strict=True):
        column = c[name]
        for was, now in zip(before, after, strict=False):
            if was != now:
                low, high = sorted((was, now))
                between.append(
                    column.between(sa.literal(low, column.type), sa.literal(high, column.type))
                )
        if len(before) != len(after):  # no cuts before: every purchaser may move
            between.append(sa.true())
    values = {
        "r": r.expression(),
        "f": f.expression(),
        "m": m.expression(),
        "class": _class_expression(r, f, m),
    }
    if between:
        moved = sa.or_(*[c[k] != v for k, v in values.items()])
        found = sa.select(c.contact_id).where(
            sa.or_(*between), moved, c.contact_id.not_in(sa.select(scope.c.contact_id))
        )
        conn.execute(scope.insert().from_select(["contact_id"], found))
    conn.execute(
        contact_rfm.update().where(c.contact_id.in_(sa.select(scope.c.contact_id))).values(**values)
    )


def _stored_cuts(conn: sa.Connection) -> list[list[Any]] | None:
    text = conn.execute(sa.select(meta.c.value).where(meta.c.key == _CUTS_KEY)).scalar()
    if text is None:
        return None
    data = json.loads(text)
    if not data:
        return []
    return [[as_utc(datetime.fromisoformat(v)) for v in data[0]], data[1], data[2]]


def _remember_cuts(conn: sa.Connection, cuts: list[list[Any]] | None) -> None:
    data: list[Any] = []
    if cuts:
        data = [[as_utc(v).isoformat() for v in cuts[0]], cuts[1], cuts[2]]
    upsert(conn, meta, [{"key": _CUTS_KEY, "value": json.dumps(data)}], ["key"], ["value"])


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


def _cuts_by_index(conn: sa.Connection, column: Any, positions: list[int], n: int) -> list[Any]:
    """The values at ``positions`` of ``column`` sorted, each by walking the column's index
    from the nearer end."""
    out = []
    for p in positions:
        if p - 1 <= n - p:
            at = sa.select(column).order_by(column).offset(p - 1)
        else:
            at = sa.select(column).order_by(column.desc()).offset(n - p)
        out.append(conn.execute(at.limit(1)).scalar_one())
    return out


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
