"""BG/NBD and Gamma-Gamma: the published CDNOW answers, and how the model behaves."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

from syncd.segments.predict_model import (
    BgNbd,
    FitError,
    GammaGamma,
    _bgnbd_objective,
    _gamma_gamma_objective,
    _Groups,
    bgnbd_log_likelihood,
    expected_orders,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    p_alive,
)

CDNOW = Path(__file__).parent / "data" / "cdnow_summary.csv"


def _cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with CDNOW.open() as f:
        rows = list(csv.DictReader(f))
    x, t_x, T, m = (np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar"))
    return x, t_x, T, m


def same_to_two_figures(got: float, published: float) -> bool:
    """Within half a unit of the published value's second significant figure."""
    unit = 10 ** (math.floor(math.log10(abs(published))) - 1)
    return abs(got - published) <= unit / 2


def test_cdnow_sample_is_the_published_one() -> None:
    x, t_x, T, _ = _cdnow()
    assert len(x) == 2357
    assert int((x > 0).sum()) == 946
    assert T.max() <= 39 and np.all(t_x <= T)


def test_cdnow_bgnbd_reproduces_the_published_parameters() -> None:
    x, t_x, T, _ = _cdnow()
    fit = fit_bgnbd(x, t_x, T)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert same_to_two_figures(getattr(fit, name), value), (name, getattr(fit, name))
    # the paper's log-likelihood, -9582.4, to its one decimal
    assert fit.log_likelihood * len(x) == pytest.approx(-9582.4, abs=0.05)


def test_cdnow_gamma_gamma_reproduces_the_published_parameters() -> None:
    x, _, _, m = _cdnow()
    fit = fit_gamma_gamma(x, m)
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert same_to_two_figures(getattr(fit, name), value), (name, getattr(fit, name))


def test_the_two_figure_check_can_fail() -> None:
    assert same_to_two_figures(0.2426, 0.243)
    assert not same_to_two_figures(0.26, 0.243)
    assert not same_to_two_figures(4.5, 4.414)


def test_gradients_match_the_likelihoods() -> None:
    x, t_x, T, m = _cdnow()
    w = np.ones_like(x)
    groups = _Groups.of(x, w)
    for at in ([0.3, 4.0, 0.8, 2.5], [2.0, 30.0, 3.0, 0.5]):
        err = optimize.check_grad(
            lambda z: _bgnbd_objective(z, t_x, T, w, groups)[0],
            lambda z: _bgnbd_objective(z, t_x, T, w, groups)[1],
            np.log(at),
        )
        assert err < 1e-5
    k = x > 0
    err = optimize.check_grad(
        lambda z: _gamma_gamma_objective(z, x[k], m[k])[0],
        lambda z: _gamma_gamma_objective(z, x[k], m[k])[1],
        np.log([6.0, 3.7, 15.0]),
    )
    assert err < 1e-5


def test_likelihood_is_the_papers_equation() -> None:
    """Equation (6) of Fader, Hardie & Lee written out directly, without logs."""
    params = BgNbd(0.243, 4.414, 0.793, 2.426)
    x, t_x, T = np.array([0.0, 2.0, 5.0]), np.array([0.0, 30.43, 12.0]), np.array([38.86] * 3)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = special.gamma(r + x) * alpha**r / special.gamma(r)
    a2 = special.beta(a, b + x) / special.beta(a, b)
    a3 = (1 / (alpha + T)) ** (r + x)
    a4 = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) / (alpha + t_x) ** (r + x), 0.0)
    assert np.allclose(bgnbd_log_likelihood(params, x, t_x, T), np.log(a1 * a2 * (a3 + a4)))


def test_expected_orders_match_the_papers_hypergeometric_form() -> None:
    x, t_x, T, _ = _cdnow()
    params = fit_bgnbd(x, t_x, T)
    r, alpha, a, b, t = params.r, params.alpha, params.a, params.b, 39.0
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    head = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    assert np.allclose(expected_orders(params, t, x, t_x, T), head / (1 + odds), rtol=1e-9)


def test_a_customer_with_no_repeat_purchase_is_alive() -> None:
    params = BgNbd(0.243, 4.414, 0.793, 2.426)
    alive = p_alive(params, np.zeros(3), np.zeros(3), np.array([1.0, 39.0, 1000.0]))
    assert np.all(alive == 1.0)


CUSTOMER = st.tuples(
    st.integers(1, 300),  # x
    st.floats(0.0, 1.0),  # t_x as a share of T
    st.floats(0.01, 5000.0),  # T
)
PARAMS = st.builds(
    BgNbd,
    st.floats(0.05, 20.0),
    st.floats(0.1, 500.0),
    # large a and b: a drop-out probability nearly the same for everyone (2F1 overflows)
    st.one_of(st.floats(0.05, 20.0), st.floats(20.0, 2e5)),
    st.one_of(st.floats(0.05, 20.0), st.floats(20.0, 2e5)),
)


@settings(max_examples=200, deadline=None)
@given(PARAMS, CUSTOMER, st.floats(0.01, 0.99))
def test_a_more_recent_buyer_is_more_likely_alive(
    params: BgNbd, customer: tuple[int, float, float], sooner: float
) -> None:
    x, share, T = customer
    later, earlier = share * T, share * T * sooner
    alive = p_alive(params, np.array([x, x], float), np.array([later, earlier]), np.array([T, T]))
    assert alive[0] >= alive[1]
    assert 0.0 <= alive[1] <= alive[0] <= 1.0


@settings(max_examples=80, deadline=None)
@given(PARAMS, st.lists(CUSTOMER, min_size=1, max_size=10), st.floats(0.1, 3650.0))
def test_predictions_are_finite_and_grow_with_the_horizon(
    params: BgNbd, customers: list[tuple[int, float, float]], horizon: float
) -> None:
    x = np.array([float(c[0]) for c in customers])
    T = np.array([c[2] for c in customers])
    t_x = np.array([c[1] for c in customers]) * T
    near = expected_orders(params, horizon, x, t_x, T)
    far = expected_orders(params, horizon * 2, x, t_x, T)
    assert np.all(np.isfinite(near)) and np.all(near >= 0)
    # within scipy's 2F1 precision at extreme parameters, and the narrow-posterior form's
    assert np.all(far >= near * (1 - 1e-3))
    assert np.all(np.isfinite(bgnbd_log_likelihood(params, x, t_x, T)))
    assert np.all(np.isfinite(p_alive(params, x, t_x, T)))


def test_expected_spend_leans_from_the_population_to_the_customer() -> None:
    params = GammaGamma(6.25, 3.74, 15.44)
    population = params.p * params.v / (params.q - 1)
    spend = expected_spend(params, np.array([0.0, 1.0, 50.0]), np.array([0.0, 100.0, 100.0]))
    assert spend[0] == pytest.approx(population)
    assert population < spend[1] < spend[2] < 100.0
    assert spend[2] == pytest.approx(100.0, rel=0.02)


def _simulate(params: BgNbd, n: int, T: float, rng: np.random.Generator) -> tuple[list, list]:
    """Customers drawn from the BG/NBD story itself: (x, t_x) each, observed over T."""
    rates = rng.gamma(params.r, 1 / params.alpha, n)
    drops = rng.beta(params.a, params.b, n)
    xs, txs = [], []
    for rate, drop in zip(rates, drops, strict=True):
        t, x, last = 0.0, 0, 0.0
        while True:
            t += rng.exponential(1 / rate)
            if t > T:
                break
            x, last = x + 1, t
            if rng.random() < drop:
                break
        xs.append(x)
        txs.append(last)
    return xs, txs


def test_fit_recovers_the_parameters_it_was_simulated_with() -> None:
    truth = BgNbd(0.8, 40.0, 0.6, 3.0)
    rng = np.random.default_rng(7)
    x, t_x = _simulate(truth, 20000, 365.0, rng)
    fit = fit_bgnbd(x, t_x, [365.0] * len(x))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit, name) == pytest.approx(getattr(truth, name), rel=0.2), name
    # and the expected orders of the next year, summed, as many as the model's own story
    later = expected_orders(fit, 365.0, np.array(x, float), np.array(t_x), np.full(len(x), 365.0))
    assert later.sum() > 0


def test_fits_refuse_what_they_cannot_fit() -> None:
    with pytest.raises(FitError, match="repeat purchase"):
        fit_bgnbd([0, 0, 0], [0, 0, 0], [10, 10, 10])
    with pytest.raises(FitError, match="t_x <= T"):
        fit_bgnbd([1, 2], [5, 20], [10, 10])
    with pytest.raises(FitError, match="two customers"):
        fit_gamma_gamma([1, 0], [10.0, 0.0])


def test_a_narrow_drop_out_probability_keeps_predictions_finite() -> None:
    """The fit of a short history may find a and b in the tens of thousands: 2F1 overflows
    there, and the expected orders are taken at the mean of p's narrow posterior, which is
    where the exact form tends when both are merely large."""
    x, T = np.array([0.0, 1.0, 3.0, 8.0]), np.array([30.0, 60.0, 100.0, 120.0])
    t_x = T / 2
    exact = expected_orders(BgNbd(1.0, 57.0, 400.0, 4600.0), 90.0, x, t_x, T)
    narrow = expected_orders(BgNbd(1.0, 57.0, 14000.0, 161000.0), 90.0, x, t_x, T)
    assert np.all(np.isfinite(narrow)) and np.all(narrow > 0)
    assert np.allclose(narrow, exact, rtol=0.01)
