"""The model's fit as remembered in the store, and as ``syncd segments model`` shows it.
Apart from syncd.segments.predict so that showing it imports neither numpy nor scipy."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from syncd.store.schema import contact_predictions, meta
from syncd.store.upsert import upsert

FIT_KEY = "predict:fit"  # meta: the last fit, as JSON (see Fit)


@dataclass
class Fit:
    """What ``syncd segments model`` shows: the model as last fitted."""

    fitted_at: str
    horizon_days: float
    customers: int
    repeat_customers: int
    bgnbd: dict[str, float] | None = None
    gamma_gamma: dict[str, float] | None = None
    # the fit's log-likelihood summed over its customers
    log_likelihood: float | None = None
    # a holdout check: fitted again up to now - horizon, its predicted orders over the horizon
    # against the orders that came (None when the history is shorter than two horizons)
    quality: dict[str, float] | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def remember(conn: sa.Connection, fit: Fit) -> None:
    text = json.dumps(asdict(fit))
    upsert(conn, meta, [{"key": FIT_KEY, "value": text}], ["key"], ["value"])


def last_fit(conn: sa.Connection) -> Fit | None:
    """The fit last remembered, or None."""
    text = conn.execute(sa.select(meta.c.value).where(meta.c.key == FIT_KEY)).scalar()
    if not text:
        return None
    return Fit(**json.loads(text))


def report(conn: sa.Connection) -> dict[str, Any] | None:
    """The last fit and the predictions it left, for ``syncd segments model``."""
    fit = last_fit(conn)
    if fit is None:
        return None
    c = contact_predictions.c
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.avg(c.p_alive),
            sa.func.sum(c.expected_orders),
            sa.func.sum(c.value),
            sa.func.sum(sa.case((c.churn_risk >= 0.7, 1), else_=0)),
        )
    ).one()
    out = asdict(fit)
    out["predictions"] = {
        "contacts": int(row[0]),
        "mean_p_alive": row[1],
        "expected_orders": row[2],
        "predicted_value": row[3],
        "churn_risk_0_7_or_more": int(row[4] or 0),
    }
    return out


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


def lines(found: dict[str, Any] | None) -> list[str]:
    """``report`` for people."""
    if found is None:
        return [
            "no model fitted yet: a compute fits it once a segment reads predicted: "
            "or the config has a predict: section"
        ]
    out = [
        f"fitted at        {found['fitted_at']}",
        f"horizon          {found['horizon_days']:g} days",
        f"customers        {found['customers']:,} "
        f"({found['repeat_customers']:,} with a repeat order)",
    ]
    if found.get("error"):
        return [*out, f"not fitted       {found['error']}"]
    bg, gg = found.get("bgnbd") or {}, found.get("gamma_gamma") or {}
    out.append("BG/NBD           " + "  ".join(f"{k}={_number(v)}" for k, v in bg.items()))
    out.append(f"log-likelihood   {_number(found.get('log_likelihood'))}")
    if gg:
        out.append("Gamma-Gamma      " + "  ".join(f"{k}={_number(v)}" for k, v in gg.items()))
    quality = found.get("quality")
    if quality:
        out.append(
            "holdout          "
            f"{_number(quality['predicted_orders'])} orders predicted over the last horizon, "
            f"{_number(quality['actual_orders'])} came "
            f"(mean absolute error {_number(quality['mean_absolute_error'])} per customer, "
            f"correlation {_number(quality['correlation'])})"
        )
    else:
        out.append("holdout          none: the order history is shorter than two horizons")
    p = found["predictions"]
    out.append(
        f"predictions      {p['contacts']:,} contacts, mean P(alive) {_number(p['mean_p_alive'])}, "
        f"{_number(p['expected_orders'])} orders and {_number(p['predicted_value'])} expected, "
        f"{p['churn_risk_0_7_or_more']:,} with a churn risk of 0.7 or more"
    )
    out += [f"note             {n}" for n in found.get("notes") or []]
    return out
