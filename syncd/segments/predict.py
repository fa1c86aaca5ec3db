"""Predictions per purchaser, from the BG/NBD and Gamma-Gamma models fitted on the store's
order history (syncd.segments.predict_model), stored in ``contact_predictions``.

A purchaser's history is summed up as RFM reads it (syncd.segments.rfm): the ``order_placed``
events up to now, x = orders - 1 (repeat orders), t_x = days from the first order to the last,
T = days from the first order to now, m = mean value of the repeat orders. The model is fitted
again during a compute once ``predict.every`` has passed since the last fit (or with --full);
the fit itself (parameters, log-likelihood, customers, quality) is one ``meta`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog

from syncd.clock import as_utc
from syncd.segments import sqlfuncs
from syncd.segments.predict_config import PredictConfig
from syncd.segments.predict_model import (
    Array,
    BgNbd,
    FitError,
    GammaGamma,
    expected_orders,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    p_alive,
)
from syncd.segments.predict_report import Fit, last_fit, remember
from syncd.store.schema import Time, contact_predictions, events

log = structlog.get_logger(__name__)

PURCHASE = "order_placed"
# no next order date further away than this: a customer so unlikely to buy has none
_FARTHEST_NEXT_ORDER = timedelta(days=3650)
_BATCH = 20000
NDArrayInt = Any  # an array of contact ids (int64)


@dataclass
class Summary:
    """Every purchaser's history at one time, in contact id order."""

    ids: NDArrayInt
    x: Array
    t_x: Array
    T: Array
    m: Array
    mean_order: Array  # the mean value of all the orders, the first too

    def __len__(self) -> int:
        return len(self.ids)


def summarize(conn: sa.Connection, at: datetime) -> Summary:
    """The history of every contact with an order up to ``at``."""
    at_value = sa.literal(as_utc(at), Time)
    e = events.c
    agg = (
        sa.select(
            e.contact_id.label("contact_id"),
            sa.func.min(e.occurred_at).label("first"),
            sa.func.max(e.occurred_at).label("last"),
            sa.func.count().label("n"),
            sa.func.sum(sa.func.coalesce(e.value, 0.0)).label("total"),
        )
        .where(e.type == PURCHASE, e.occurred_at <= at_value, e.contact_id.is_not(None))
        .group_by(e.contact_id)
        .subquery("purchasers")
    )
    first_order = events.alias("first_order")
    f = first_order.c
    first_value = (
        sa.select(sa.func.max(sa.func.coalesce(f.value, 0.0)))
        .where(f.contact_id == agg.c.contact_id, f.type == PURCHASE, f.occurred_at == agg.c.first)
        .scalar_subquery()
    )
    query = sa.select(
        agg.c.contact_id,
        agg.c.n,
        sqlfuncs.days_between(agg.c["last"], agg.c.first),
        sqlfuncs.days_between(at_value, agg.c.first),
        agg.c.total - first_value,
        agg.c.total,
    ).order_by(agg.c.contact_id)
    parts: list[np.ndarray] = []
    result = conn.execute(query.execution_options(yield_per=_BATCH))  # not the conn's
    for rows in result.partitions():
        parts.append(np.array(rows, dtype=np.float64).reshape(-1, 6))
    table = np.concatenate(parts) if parts else np.zeros((0, 6))
    ids = table[:, 0].astype(np.int64)
    x = np.maximum(table[:, 1] - 1.0, 0.0)
    T = np.maximum(table[:, 3], 0.0)
    t_x = np.clip(table[:, 2], 0.0, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(x > 0, table[:, 4] / np.where(x > 0, x, 1.0), 0.0)
    return Summary(ids, x, t_x, T, m, table[:, 5] / np.maximum(table[:, 1], 1.0))


def orders_between(conn: sa.Connection, after: datetime, upto: datetime) -> tuple[Any, Array]:
    """Each contact's orders in (after, upto], in contact id order."""
    e = events.c
    query = (
        sa.select(e.contact_id, sa.func.count())
        .where(
            e.type == PURCHASE,
            e.occurred_at > sa.literal(as_utc(after), Time),
            e.occurred_at <= sa.literal(as_utc(upto), Time),
            e.contact_id.is_not(None),
        )
        .group_by(e.contact_id)
        .order_by(e.contact_id)
    )
    rows = np.array(conn.execute(query).all(), dtype=np.float64).reshape(-1, 2)
    return rows[:, 0].astype(np.int64), rows[:, 1]


@dataclass
class Predictions:
    expected_orders: Array
    p_alive: Array
    value: Array
    next_order_days: Array


def predict(
    bgnbd: BgNbd, gg: GammaGamma | None, summary: Summary, horizon_days: float
) -> Predictions:
    """Every purchaser's predictions over the next ``horizon_days``."""
    s = summary
    orders = expected_orders(bgnbd, horizon_days, s.x, s.t_x, s.T)
    alive = p_alive(bgnbd, s.x, s.t_x, s.T)
    # without a spend model (fewer than two repeat customers), a customer's own mean order
    spend = s.mean_order if gg is None else expected_spend(gg, s.x, s.m)
    if gg is not None and gg.q <= 1:  # no population mean: one-order customers' own mean
        spend = np.where(np.isfinite(spend), spend, s.mean_order)
    value = orders * spend
    # the expected time to the next order at the horizon's mean daily rate: horizon / orders
    with np.errstate(divide="ignore"):
        days = np.where(orders > 0, horizon_days / np.where(orders > 0, orders, 1.0), np.inf)
    return Predictions(orders, alive, value, days)


def due(conn: sa.Connection, now: datetime, config: PredictConfig, full: bool) -> bool:
    """Whether the model is to be fitted again in this compute."""
    if full:
        return True
    fit = last_fit(conn)
    if fit is None or fit.horizon_days != config.horizon.total_seconds() / 86400:
        return True
    return as_utc(now) - datetime.fromisoformat(fit.fitted_at) >= config.every


def refresh(
    conn: sa.Connection, now: datetime, config: PredictConfig, full: bool = False
) -> Fit | None:
    """Fit the model and rewrite every prediction when ``due``; the new fit, or None."""
    if not due(conn, now, config, full):
        return None
    return fit_and_store(conn, now, config)


def fit_and_store(conn: sa.Connection, now: datetime, config: PredictConfig) -> Fit:
    """Fit the models on the history up to ``now``, rewrite ``contact_predictions`` and
    remember the fit. A history the model cannot fit leaves no predictions, and says why."""
    now = as_utc(now)
    horizon = config.horizon.total_seconds() / 86400
    summary = summarize(conn, now)
    fit = Fit(
        fitted_at=now.isoformat(),
        horizon_days=horizon,
        customers=len(summary),
        repeat_customers=int((summary.x > 0).sum()),
    )
    conn.execute(contact_predictions.delete())
    try:
        bgnbd = fit_bgnbd(summary.x, summary.t_x, summary.T)
    except FitError as exc:
        fit.error = str(exc)
        log.warning("predictions: the model cannot be fitted", reason=fit.error)
        remember(conn, fit)
        return fit
    fit.bgnbd = {"r": bgnbd.r, "alpha": bgnbd.alpha, "a": bgnbd.a, "b": bgnbd.b}
    fit.log_likelihood = bgnbd.log_likelihood * len(summary)
    gg: GammaGamma | None = None
    try:
        gg = fit_gamma_gamma(summary.x, summary.m)
        fit.gamma_gamma = {"p": gg.p, "q": gg.q, "v": gg.v}
        if gg.q <= 1:
            fit.notes.append("Gamma-Gamma q <= 1, no population mean: one-order customers' own")
    except FitError as exc:
        fit.notes.append(f"predicted value from each customer's mean order: {exc}")
    _store(conn, now, summary, predict(bgnbd, gg, summary, horizon))
    fit.quality = holdout(conn, now, config)
    remember(conn, fit)
    return fit


def holdout(conn: sa.Connection, now: datetime, config: PredictConfig) -> dict[str, float] | None:
    """Fit on the history up to ``now - horizon`` and compare the orders it predicts over the
    horizon with the orders that came. None when the history is shorter than two horizons."""
    cut = as_utc(now) - config.horizon
    first = conn.execute(
        sa.select(sa.func.min(events.c.occurred_at)).where(events.c.type == PURCHASE)
    ).scalar()
    if first is None or as_utc(first) > cut - config.horizon:
        return None
    before = summarize(conn, cut)
    try:
        bgnbd = fit_bgnbd(before.x, before.t_x, before.T)
    except FitError:
        return None
    horizon = config.horizon.total_seconds() / 86400
    expected = expected_orders(bgnbd, horizon, before.x, before.t_x, before.T)
    ids, counts = orders_between(conn, cut, now)
    actual = np.zeros(len(before))
    at = np.searchsorted(before.ids, ids)
    known = (at < len(before)) & (before.ids[np.minimum(at, len(before) - 1)] == ids)
    actual[at[known]] = counts[known]
    return {
        "customers": float(len(before)),
        "predicted_orders": float(expected.sum()),
        "actual_orders": float(actual.sum()),
        "mean_absolute_error": float(np.abs(expected - actual).mean()),
        "correlation": float(np.corrcoef(expected, actual)[0, 1])
        if len(before) > 1 and actual.std() > 0 and expected.std() > 0
        else float("nan"),
    }


def _store(conn: sa.Connection, now: datetime, summary: Summary, p: Predictions) -> None:
    farthest = _FARTHEST_NEXT_ORDER.total_seconds() / 86400
    churn = 1.0 - p.p_alive
    for start in range(0, len(summary), _BATCH):
        end = min(start + _BATCH, len(summary))
        rows = []
        for i in range(start, end):
            days = float(p.next_order_days[i])
            rows.append(
                {
                    "contact_id": int(summary.ids[i]),
                    "expected_orders": float(p.expected_orders[i]),
                    "p_alive": float(p.p_alive[i]),
                    "churn_risk": float(churn[i]),
                    "value": _finite(p.value[i]),
                    "next_order_at": now + timedelta(days=days) if days <= farthest else None,
                    "fitted_at": now,
                }
            )
        conn.execute(contact_predictions.insert(), rows)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
