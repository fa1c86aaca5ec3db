"""Predictions in the store: fitted during compute at the configured interval, stored per
purchaser, read by `predicted:` rules on both stores as the reference evaluator reads them,
and shown by `syncd segments model`."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.errors import ConfigError
from syncd.segments.predict import summarize
from syncd.segments.predict_config import PredictConfig
from syncd.segments.predict_model import BgNbd, GammaGamma, expected_orders, expected_spend
from syncd.segments.predict_model import p_alive as alive_of
from syncd.segments.predict_report import last_fit, lines, report
from syncd.segments.rules import PREDICTED
from syncd.store.schema import contact_predictions, segment_members
from syncd.sync.compute import compute_segments
from tests.reference import Reference
from tests.segment_data import DAY, NOW, Dataset, clear, load, parse

HORIZON = PredictConfig(horizon=timedelta(days=90), every=timedelta(days=1))


def shop(seed: int, customers: int, span_days: int = 720) -> Dataset:
    """Customers who buy as BG/NBD tells, from a first order within ``span_days`` of now."""
    rng = np.random.default_rng(seed)
    data = Dataset()
    data.contact("never@example.com")  # a contact with no order: no prediction
    for i in range(customers):
        first = float(rng.uniform(1, span_days))
        rate, drop = rng.gamma(0.8, 1 / 40), rng.beta(0.6, 3.0)
        spend = float(rng.gamma(4.0, 10.0))
        t = 0.0
        while t <= first:
            at = NOW - (first - t) * DAY
            data.event(f"c{i}@example.com", "order_placed", at, round(spend * rng.gamma(6), 2))
            if t > 0 and rng.random() < drop:
                break
            t += float(rng.exponential(1 / rate))
    return data


def reference_predictions(data: Dataset, fit: Any) -> dict[int, dict[str, float | None]]:
    """Each purchaser's predictions, from the events in Python and the stored parameters."""
    orders: dict[int, list[tuple[Any, float]]] = {}
    for e in data.events:
        if e.type == "order_placed" and e.at <= data.now:
            orders.setdefault(e.contact_id, []).append((e.at, e.value or 0.0))
    ids = sorted(orders)
    x, t_x, T, m = [], [], [], []
    for c in ids:
        history = sorted(orders[c], key=lambda o: o[0])
        first, last = history[0][0], history[-1][0]
        x.append(len(history) - 1.0)
        t_x.append((last - first) / DAY)
        T.append((data.now - first) / DAY)
        m.append(sum(v for _, v in history[1:]) / max(len(history) - 1, 1))
    xa, ta, Ta, ma = (np.array(v, dtype=float) for v in (x, t_x, T, m))
    bg = BgNbd(**fit.bgnbd)
    orders_ahead = expected_orders(bg, fit.horizon_days, xa, ta, Ta)
    alive = alive_of(bg, xa, ta, Ta)
    own = np.array([sum(v for _, v in orders[c]) / len(orders[c]) for c in ids])
    spend = (
        own if fit.gamma_gamma is None else expected_spend(GammaGamma(**fit.gamma_gamma), xa, ma)
    )
    value = orders_ahead * np.where(np.isfinite(spend), spend, own)
    return {
        c: {
            "churn_risk": 1 - float(alive[i]),
            "p_alive": float(alive[i]),
            "expected_orders": float(orders_ahead[i]),
            "value": float(value[i]),
        }
        for i, c in enumerate(ids)
    }


def compute(engine: sa.Engine, data: Dataset, segments: dict[str, Any], **kw: Any) -> Any:
    rules, models = parse(segments, {})
    with engine.begin() as conn:
        clear(conn)
        load(conn, data)
    with engine.begin() as conn:
        compute_segments(conn, rules, data.now, scores=models, predict=HORIZON, **kw)
        members: dict[str, set[int]] = {name: set() for name in rules}
        for name, cid in conn.execute(
            sa.select(segment_members.c.segment, segment_members.c.contact_id)
        ):
            members[name].add(cid)
        fit = last_fit(conn)
    return rules, members, fit


def test_predictions_are_stored_for_every_purchaser(engine: sa.Engine) -> None:
    data = shop(1, 300)
    segments = {
        "likely_to_churn": {"predicted": {"churn_risk": {"gte": 0.7}}},
        "high_value": {"predicted": {"value": {"top": "10%"}}},
        "alive_repeat": {
            "all": [{"predicted": {"p_alive": {"gt": 0.5}}}, {"purchases": {"count": 2}}]
        },
    }
    rules, members, fit = compute(engine, data, segments)
    assert fit is not None and fit.error is None and fit.customers == 300
    with engine.connect() as conn:
        rows = {r.contact_id: r for r in conn.execute(sa.select(contact_predictions))}
        summary = summarize(conn, NOW)
    assert len(rows) == 300  # the contact with no order has none
    expected = reference_predictions(data, fit)
    assert set(rows) == set(expected)
    for cid, row in rows.items():
        assert row.churn_risk == pytest.approx(1 - row.p_alive)
        for name in PREDICTED:
            assert getattr(row, name) == pytest.approx(expected[cid][name], rel=1e-6, abs=1e-9)
        assert row.fitted_at == NOW
        if row.next_order_at is not None:
            days = (row.next_order_at - NOW) / DAY
            assert days == pytest.approx(90 / row.expected_orders, rel=1e-6)
    one_order = summary.ids[summary.x == 0]
    assert len(one_order) and all(rows[int(c)].p_alive == 1.0 for c in one_order)
    verdicts = Reference(data, predictions=expected).evaluate(rules)
    for name in segments:
        verdict = verdicts[name]
        assert verdict.yes <= members[name] <= verdict.yes | verdict.maybe, name
    assert len(members["high_value"]) == math.ceil(0.1 * 300)
    assert members["likely_to_churn"]  # the simulated drop-outs are there to be found


def test_the_model_is_fitted_again_only_once_every_has_passed(engine: sa.Engine) -> None:
    data = shop(2, 120)
    segments = {"churn": {"predicted": {"churn_risk": {"gte": 0.5}}}}
    compute(engine, data, segments)
    rules, _ = parse(segments, {})

    def fitted_at(at: Any, **kw: Any) -> str:
        with engine.begin() as conn:
            compute_segments(conn, rules, at, predict=HORIZON, **kw)
            fit = last_fit(conn)
            assert fit is not None
            return fit.fitted_at

    assert fitted_at(NOW + timedelta(hours=23)) == NOW.isoformat()  # not yet
    assert (
        fitted_at(NOW + timedelta(hours=23), full=True) == (NOW + timedelta(hours=23)).isoformat()
    )
    later = NOW + timedelta(hours=23) + DAY
    assert fitted_at(later) == later.isoformat()


def test_a_history_long_enough_gets_a_holdout_check(engine: sa.Engine) -> None:
    _, _, fit = compute(engine, shop(3, 400, span_days=720), {})
    assert fit.quality is not None
    q = fit.quality
    assert q["customers"] > 0 and q["actual_orders"] > 0
    # the model was told nothing of the last 90 days: its count is still of their order
    assert 0.5 < q["predicted_orders"] / q["actual_orders"] < 2.0
    _, _, short = compute(engine, shop(3, 100, span_days=120), {})
    assert short.quality is None


def test_a_history_it_cannot_fit_leaves_no_predictions_and_says_why(engine: sa.Engine) -> None:
    data = Dataset()
    for i in range(5):  # one order each: nothing to learn the repeat rate from
        data.event(f"once{i}@example.com", "order_placed", NOW - (i + 1) * DAY, 10.0)
    _, members, fit = compute(engine, data, {"churn": {"predicted": {"churn_risk": {"gte": 0.5}}}})
    assert fit.error and "repeat purchase" in fit.error
    assert members["churn"] == set()
    with engine.connect() as conn:
        found = report(conn)
    assert found is not None and "not fitted" in "\n".join(lines(found))


def test_the_model_report_shows_the_fit(engine: sa.Engine) -> None:
    compute(engine, shop(4, 200, span_days=400), {})
    with engine.connect() as conn:
        found = report(conn)
    assert found is not None
    assert set(found["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert found["predictions"]["contacts"] == 200
    text = "\n".join(lines(found))
    assert "BG/NBD" in text and "log-likelihood" in text and "holdout" in text
    with engine.connect() as conn:
        conn.execute(sa.text("DELETE FROM meta WHERE key = 'predict:fit'"))
        assert report(conn) is None
    assert "no model fitted yet" in lines(None)[0]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"predicted": {"churn": 0.5}}, "unknown key 'churn'"),
        ({"predicted": {"value": {"top": "200%"}}}, "top takes a share"),
        ({"predicted": {"churn_risk": {"over": 1}}}, "unknown test 'over'"),
        ({"predicted": {}}, "predicted takes tests"),
        ({"predicted": {"p_alive": "high"}}, "takes a number or tests"),
    ],
)
def test_a_bad_predicted_rule_is_one_clear_line(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse({"s": rule}, {})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("section", "message"),
    [({"horizon": "0d"}, "horizon"), ({"every": "soon"}, "bad duration"), ({"span": "9d"}, "span")],
)
def test_a_bad_predict_section_is_one_clear_line(
    tmp_path: Any, section: dict[str, Any], message: str
) -> None:
    import yaml

    from syncd.config import load_config

    path = tmp_path / "syncd.yaml"
    path.write_text(yaml.safe_dump({"predict": section}))
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert "\n" not in str(caught.value) and "predict" in str(caught.value)


MEASURE = st.sampled_from(PREDICTED)
THRESHOLDS = {
    "churn_risk": (0.1, 0.3, 0.5, 0.7, 0.9),
    "p_alive": (0.1, 0.5, 0.9, 1.0),
    "expected_orders": (0.05, 0.2, 0.5, 1.0, 2.0),
    "value": (1.0, 10.0, 50.0, 200.0),
}


@st.composite
def predicted_rules(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in draw(st.sets(MEASURE, min_size=1, max_size=2)):
        test: dict[str, Any] = {}
        if draw(st.booleans()):
            test["top"] = draw(st.sampled_from(("10%", "25%", "50%", 3, 1)))
        if not test or draw(st.booleans()):
            op = draw(st.sampled_from(("gt", "gte", "lt", "lte", "ne")))
            test[op] = draw(st.sampled_from(THRESHOLDS[name]))
        body[name] = test
    rule: dict[str, Any] = {"predicted": body}
    return draw(
        st.sampled_from(
            (
                rule,
                {"not": rule},
                {"all": [rule, {"purchases": {"count": {"gte": 2}}}]},
                {"any": [rule, {"purchases": {"total": {"gte": 500}}}]},
            )
        )
    )


@settings(
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    customers=st.integers(3, 40),
    rules=st.lists(predicted_rules(), min_size=1, max_size=4),
)
def test_predicted_rules_match_the_reference(
    engine: sa.Engine, seed: int, customers: int, rules: list[dict[str, Any]]
) -> None:
    data = shop(seed, customers)
    segments = {f"s{i}": rule for i, rule in enumerate(rules)}
    parsed, members, fit = compute(engine, data, segments)
    predictions = reference_predictions(data, fit) if fit.error is None else {}
    verdicts = Reference(data, predictions=predictions).evaluate(parsed)
    for name, rule in segments.items():
        verdict = verdicts[name]
        missing = verdict.yes - members[name]
        extra = members[name] - verdict.yes - verdict.maybe
        assert not missing and not extra, (name, rule, sorted(missing), sorted(extra))


def test_segments_model_shows_the_fit(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from syncd.cli import main
    from tests.test_cycle import run

    config = env / "syncd.yaml"
    capsys.readouterr()
    assert main(["--config", str(config), "segments", "model", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"model": None}
    config.write_text(config.read_text() + "\npredict: {horizon: 30d, every: 7d}\n")
    assert run(env, "sync") == 0
    capsys.readouterr()
    assert main(["--config", str(config), "segments", "model", "--json"]) == 0
    model = json.loads(capsys.readouterr().out)["model"]
    assert model["horizon_days"] == 30 and model["customers"] > 0
    assert main(["--config", str(config), "segments", "model"]) == 0
    text = capsys.readouterr().out
    assert "fitted at" in text and "customers" in text
