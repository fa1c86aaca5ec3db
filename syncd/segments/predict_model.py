"""Buy-till-you-die models: BG/NBD for when people buy, Gamma-Gamma for how much they spend.

Each customer is summed up by x (repeat purchases: purchases after the first), t_x (the
time of the last purchase since the first), T (the time from the first purchase to now) and,
with x > 0, m (the mean value of the repeat purchases). Times are in any one unit (syncd uses
days; the CDNOW sample is in weeks).

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive, a
  customer buys at a rate lambda ~ Gamma(r, alpha); after each purchase they drop out with a
  probability p ~ Beta(a, b). The log-likelihood is the paper's equation (6).
- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV", and Fader & Hardie's note "The
  Gamma-Gamma model of monetary value"): each purchase's value has mean 1/nu and
  nu ~ Gamma(q, v), with shape p per purchase; fitted on the customers with x > 0.

Parameters are found by maximum likelihood with scipy's L-BFGS-B over their logarithms (so
they stay positive), with the gradient written out: one pass of a few special functions
over every customer per step, vectorised with numpy, all in log space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

Array = NDArray[np.float64]


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD parameters, and the mean log-likelihood per customer of the fit."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma parameters, and the mean log-likelihood per repeat customer of the fit."""

    p: float
    q: float
    v: float
    log_likelihood: float = float("nan")


class FitError(ValueError):
    """The data cannot be fitted (too few customers, or the optimiser did not converge)."""


def _arrays(*values: Array | list[float]) -> list[Array]:
    return [np.asarray(v, dtype=np.float64) for v in values]


# --- BG/NBD ------------------------------------------------------------------------------


def _bgnbd_head(r: float, alpha: float, a: float, b: float, x: Array) -> Array:
    """log A1 + log A2 of equation (6): the terms in x alone."""
    return (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
    )


def _bgnbd_terms(
    r: float, alpha: float, a: float, b: float, x: Array, t_x: Array, T: Array
) -> tuple[Array, Array, Array]:
    """log A1 + log A2, log A3 and log A4 of equation (6); log A4 is -inf where x = 0."""
    repeat = x > 0
    head = _bgnbd_head(r, alpha, a, b, x)
    log_a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a4 = np.where(
            repeat,
            np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return head, log_a3, log_a4


def bgnbd_log_likelihood(params: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    """The log-likelihood of each customer under ``params``."""
    x, t_x, T = _arrays(x, t_x, T)
    head, log_a3, log_a4 = _bgnbd_terms(params.r, params.alpha, params.a, params.b, x, t_x, T)
    return head + np.logaddexp(log_a3, log_a4)


def _bgnbd_objective(
    log_params: Array, t_x: Array, T: Array, weights: Array, groups: _Groups
) -> tuple[float, Array]:
    """Minus the weighted mean log-likelihood, and its gradient in the log parameters.

    x takes few values (whole numbers of orders): every term that depends on x alone
    (log-gamma, log-beta, digamma) is taken once per distinct x and summed with its weight;
    only the terms in t_x and T are taken per customer.
    """
    r, alpha, a, b = np.exp(log_params)
    xs, inv, wx = groups.xs, groups.inv, groups.weights
    psi = special.digamma
    repeat = xs > 0
    safe_bx = np.where(repeat, b + xs - 1, 1.0)
    head = _bgnbd_head(r, alpha, a, b, xs)
    log_c = np.where(repeat, np.log(a) - np.log(safe_bx), -np.inf)
    rx = r + groups.x
    log_at, log_tx = np.log(alpha + T), np.log(alpha + t_x)
    log_a3 = -rx * log_at
    log_a4 = log_c[inv] - rx * log_tx
    total = np.logaddexp(log_a3, log_a4)
    w4 = np.exp(log_a4 - total) * weights  # the share of A4 in A3 + A4, weighted
    w3 = weights - w4
    n = weights.sum()
    d_r = wx @ (psi(r + xs) - psi(r) + np.log(alpha)) - w3 @ log_at - w4 @ log_tx
    d_alpha = r / alpha * n - w3 @ (rx / (alpha + T)) - w4 @ (rx / (alpha + t_x))
    d_a = wx @ (psi(a + b) - psi(a + b + xs)) + w4.sum() / a
    w4x = np.bincount(inv, weights=w4, minlength=len(xs))
    d_b = wx @ (psi(b + xs) - psi(a + b + xs) - psi(b) + psi(a + b)) - w4x @ np.where(
        repeat, 1.0 / safe_bx, 0.0
    )
    grad = np.array([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    value = wx @ head + weights @ total
    return float(-value / n), -grad / n


@dataclass(frozen=True)
class _Groups:
    """The customers' x, its distinct values, each customer's index among them, and the
    weight of each distinct value."""

    x: Array
    xs: Array
    inv: NDArray[np.intp]
    weights: Array

    @classmethod
    def of(cls, x: Array, weights: Array) -> _Groups:
        xs, inv = np.unique(x, return_inverse=True)
        counts = np.bincount(inv, weights=weights, minlength=len(xs)).astype(np.float64)
        return cls(x, xs, inv, counts)


def fit_bgnbd(
    x: Array | list[float],
    t_x: Array | list[float],
    T: Array | list[float],
    weights: Array | None = None,
    start: BgNbd | None = None,
) -> BgNbd:
    """The BG/NBD parameters of greatest likelihood for these customers (``weights``: how
    many customers each row stands for, when rows are shared)."""
    x, t_x, T = _arrays(x, t_x, T)
    _check_summary(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.sum() < 2 or not np.any(x > 0):
        raise FitError("BG/NBD needs at least two customers and one repeat purchase")
    # start from a rate of repeat purchases per unit of time near the data's own
    scale = float(np.average(T, weights=w)) or 1.0
    first = start or BgNbd(1.0, scale, 1.0, 1.0)
    x0 = np.log([first.r, first.alpha, first.a, first.b])
    args = (t_x, T, w, _Groups.of(x, w))
    (r, alpha, a, b), ll = _fit("BG/NBD", _bgnbd_objective, x0, args, tol=(1e-12, 1e-8))
    return BgNbd(r, alpha, a, b, ll)


def _fit(
    model: str,
    objective: Callable[..., tuple[float, Array]],
    x0: Array,
    args: tuple[Any, ...],
    tol: tuple[float, float],
) -> tuple[list[float], float]:
    """The parameters minimising ``objective`` (minus the mean log-likelihood, over the log
    parameters, with its gradient), and the log-likelihood there; FitError when it diverges."""
    found = optimize.minimize(
        objective,
        x0,
        args=args,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-12.0, 12.0)] * len(x0),
        options={"maxiter": 500, "ftol": tol[0], "gtol": tol[1]},
    )
    if not np.all(np.isfinite(found.x)) or not np.isfinite(found.fun):
        raise FitError(f"{model} fit did not converge: {found.message}")
    return [float(v) for v in np.exp(found.x)], -float(found.fun)


def p_alive(params: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    """P(alive | x, t_x, T): 1 for a customer with no repeat purchase (under BG/NBD one can
    only drop out right after a purchase, and the first is not one of the x)."""
    x, t_x, T = _arrays(x, t_x, T)
    return 1.0 / (1.0 + _odds_dead(params, x, t_x, T))


def _odds_dead(params: BgNbd, x: Array, t_x: Array, T: Array) -> Array:
    """delta(x > 0) a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x), in log space."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_odds = (
            np.log(a)
            - np.log(np.where(repeat, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        return np.where(repeat, np.exp(np.minimum(log_odds, 700.0)), 0.0)


def expected_orders(params: BgNbd, horizon: float, x: Array, t_x: Array, T: Array) -> Array:
    """E[orders in (T, T + horizon] | x, t_x, T], equation (10) of Fader, Hardie & Lee.

    The hypergeometric term is taken through Euler's transformation,
    (1 - z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = (1 - z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
    whose first two parameters no longer grow with x: it neither overflows for frequent
    buyers nor loses its digits to cancellation.
    """
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) < 1e-9:  # the formula's a - 1 in a denominator: a hair away from it
        a = 1.0 + 1e-9
    z = horizon / (alpha + T + horizon)
    with np.errstate(over="ignore", invalid="ignore"):
        hyp = _hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        tail = np.power(1.0 - z, a - 1) * hyp
        alive_orders = (a + b + x - 1) / (a - 1) * (1.0 - tail)
    # beyond 1e250 scipy's 2F1 keeps only a few digits, and 1 - tail none
    lost = ~np.isfinite(alive_orders) | ~(hyp < 1e250)
    if np.any(lost):
        alive_orders[lost] = _concentrated(params, horizon, x[lost], T[lost])
    out = alive_orders / (1.0 + _odds_dead(params, x, t_x, T))
    return np.maximum(out, 0.0)


def _concentrated(params: BgNbd, horizon: float, x: Array, T: Array) -> Array:
    """E[orders | alive] when 2F1 overflows or nearly, which happens when a is large (the fit
    finds the drop-out probability p nearly the same for everyone): then p's posterior
    Beta(a, b + x) is narrow, and the expectation over it of
    (1 - ((alpha + T) / (alpha + T + p t))^(r + x)) / p is taken by three points at its mean
    and a standard deviation of root 3 either side (exact to the third moment of a normal)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    mean = a / (a + b + x)
    spread = np.sqrt(3 * mean * (1 - mean) / (a + b + x + 1))

    def g(p: Array) -> Array:
        return -np.expm1(-(r + x) * np.log1p(p * horizon / (alpha + T))) / p

    low = np.maximum(mean - spread, mean * 1e-3)
    high = np.minimum(mean + spread, 1.0)
    return (g(low) + 4 * g(mean) + g(high)) / 6


def _hyp2f1(p: float, q: float, c: Array, z: Array) -> Array:
    """scipy's 2F1, taken again a hair away where it gives no finite answer: at some whole
    and half-whole parameters with z > 0.9 (c - p - q a whole number) it answers inf or nan,
    and a pole at c = 0 cancels in the formula. The function is smooth in its parameters;
    a shift of 1e-7 moves the answer by as little."""
    out = np.asarray(special.hyp2f1(p, q, c, z), dtype=np.float64)
    bad = ~np.isfinite(out)
    if np.any(bad):
        c_bad = np.broadcast_to(c, out.shape)[bad]
        z_bad = np.broadcast_to(z, out.shape)[bad]
        out[bad] = special.hyp2f1(p + 1e-7, q + 1e-7, c_bad + 1e-7, z_bad)
    return out


# --- Gamma-Gamma -------------------------------------------------------------------------


def gamma_gamma_log_likelihood(params: GammaGamma, x: Array, m: Array) -> Array:
    """The log-likelihood of each repeat customer's mean value ``m`` over ``x`` purchases."""
    x, m = _arrays(x, m)
    return _gamma_gamma_ll(params.p, params.q, params.v, x, m, np.log(x * m + params.v))


def _gamma_gamma_ll(p: float, q: float, v: float, x: Array, m: Array, log_xmv: Array) -> Array:
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_xmv
    )


def _gamma_gamma_objective(log_params: Array, x: Array, m: Array) -> tuple[float, Array]:
    p, q, v = np.exp(log_params)
    px = p * x
    psi = special.digamma
    log_xmv = np.log(x * m + v)
    ll = _gamma_gamma_ll(p, q, v, x, m, log_xmv)
    d_p = x * (psi(px + q) - psi(px) + np.log(m) + np.log(x) - log_xmv)
    d_q = psi(px + q) - psi(q) + np.log(v) - log_xmv
    d_v = q / v - (px + q) / (x * m + v)
    n = len(x)
    grad = np.array([p * d_p.sum(), q * d_q.sum(), v * d_v.sum()])
    return float(-ll.sum() / n), -grad / n


def fit_gamma_gamma(x: Array | list[float], m: Array | list[float]) -> GammaGamma:
    """The Gamma-Gamma parameters of greatest likelihood, from the customers with a repeat
    purchase (x > 0) and a positive mean value; the others carry no spend to learn from."""
    x, m = _arrays(x, m)
    keep = (x > 0) & (m > 0) & np.isfinite(m)
    x, m = x[keep], m[keep]
    if len(x) < 2:
        raise FitError("Gamma-Gamma needs at least two customers with a repeat purchase")
    mean = float(m.mean())
    x0 = np.log([1.0, 2.0, mean])  # q > 1 gives the population a finite mean
    (p, q, v), ll = _fit("Gamma-Gamma", _gamma_gamma_objective, x0, (x, m), tol=(1e-13, 1e-9))
    return GammaGamma(p, q, v, ll)


def expected_spend(params: GammaGamma, x: Array, m: Array) -> Array:
    """E[value of a purchase | x, m]: a weighted mean of the population's mean p v / (q - 1)
    and the customer's own m (the population's mean alone when x = 0). With q <= 1 the
    population has no finite mean: the customer's own mean is taken, or NaN with x = 0."""
    x, m = _arrays(x, m)
    p, q, v = params.p, params.q, params.v
    m = np.where(x > 0, m, 0.0)
    if q <= 1.0:
        return np.where(x > 0, m, np.nan)
    return p * (v + x * m) / (p * x + q - 1)


def _check_summary(x: Array, t_x: Array, T: Array) -> None:
    if not (len(x) == len(t_x) == len(T)):
        raise FitError("x, t_x and T differ in length")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T) or not np.all(np.isfinite(T)):
        raise FitError("each customer needs x >= 0 and 0 <= t_x <= T")
