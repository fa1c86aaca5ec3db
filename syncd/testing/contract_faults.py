"""Faults converge: a pull or a push through faults ends exactly where a clean one ends.

Two kinds of test. On the wire (any harness with a transport), every other request fails in
one way, so a connector must retry within the run, and wait out a 429's Retry-After. At the
vendor (a harness whose ``start`` takes a fault spec), faults come at random, as the
emulator draws them, and the suite runs cycles as the daemon would until the work is done.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from syncd.testing.bench import Bench, PushRun
from syncd.testing.contract_pull import Conformance
from syncd.testing.contract_push import assert_all_done, plan_for
from syncd.testing.store import Content, content_diff, store_content
from syncd.testing.wire import RETRY_AFTER, WIRE_FAULTS, Wire

T = TypeVar("T")
FAULT_SEEDS = 5
VENDOR_FAULTS = {
    "429-storm": "429=0.4,retry_after=2",
    "5xx-bursts": "5xx=0.3",
    "dropped-connections": "drop=0.2",
    "lost-answers": "drop_after=0.2",
    "malformed-bodies": "malformed=0.2",
    "everything": "429=0.1,5xx=0.1,drop=0.05,drop_after=0.1,malformed=0.05",
}


def clean_pull(bench: Bench) -> Content:
    engine, _ = bench.full_pull("the clean pull")
    return store_content(engine)


def clean_push(bench: Bench) -> Any:
    bench.start()
    connector = bench.connector()
    changes = plan_for(bench, bench.destination(connector))
    assert_all_done(bench.push(changes, connector), "the clean push")
    return bench.ask("remote")


def assert_retry_after_waited(wire: Wire | None) -> None:
    sent = wire.sent if wire is not None else []
    for told, then in itertools.pairwise(sent):
        if told.fault == "429":
            waited = then.at - told.at
            assert waited >= RETRY_AFTER - 1e-6, (
                f"the request after a 429 asking to wait {RETRY_AFTER} s came {waited:.3f} s "
                "later (virtual time): Retry-After is not honoured"
            )


def remote_diff(expected: Any, got: Any, limit: int = 3) -> str:
    """What differs between two ``remote()`` states, shortly."""
    if isinstance(expected, dict) and isinstance(got, dict):
        lines = []
        for key in sorted(set(expected) | set(got), key=str):
            want, have = expected.get(key), got.get(key)
            if want == have:
                continue
            if isinstance(want, list) and isinstance(have, list):
                missing = [x for x in want if x not in have][:limit]
                extra = [x for x in have if x not in want][:limit]
                lines.append(f"{key}: missing {missing}, extra {extra}")
            else:
                lines.append(f"{key}: expected {want!r:.120}, found {have!r:.120}")
        return "\n".join(lines)
    return f"expected {expected!r:.300}\nfound    {got!r:.300}"


def ends_as_clean(expected: Any, got: Any, what: str, diff: Callable[[Any, Any], str]) -> None:
    """A store's content (a pull) or the vendor's ``remote()`` (a push) as the clean run left
    it, or an AssertionError: ``what`` went wrong, and by ``diff`` how."""
    if got != expected:
        raise AssertionError(f"{what}:\n" + diff(expected, got))


def vendor_faults(bench: Bench) -> None:
    if not bench.harness.vendor_faults:
        pytest.skip(f"{type(bench.harness).__name__} cannot start its vendor with faults")


def under_vendor_faults(
    bench: Bench, spec: str, clean: Callable[[Bench], Any], run: Callable[[], T]
) -> tuple[T, Any]:
    """``run`` on a vendor started with ``spec``, and what ``clean`` makes of a vendor with
    no fault; skipped for a harness that cannot start its vendor with faults."""
    vendor_faults(bench)
    expected = clean(bench)
    return under_faults(bench, spec, run), expected


def under_faults(bench: Bench, spec: str, run: Callable[[], T]) -> T:
    """``run`` on a vendor started with ``spec``; again with the next fault seed while the
    vendor drew no fault at all (a small sample may dodge a share of 0.2)."""
    for seed in range(FAULT_SEEDS):
        bench.start(spec, fault_seed=seed)
        result = run()
        if bench.harness.faults_served() != 0:
            return result
    raise AssertionError(f"the vendor served no fault of {spec!r} in {FAULT_SEEDS} runs")


class FaultContract(Conformance):
    """What every connector does under faults."""

    @pytest.mark.parametrize("fault", WIRE_FAULTS)
    def test_a_pull_retries_through_faults_within_one_run(
        self, conformance: Bench, fault: str
    ) -> None:
        bench = conformance
        expected = clean_pull(bench)
        bench.start(wire_fault=fault)
        engine = bench.store()
        run = bench.pull(engine)
        assert run.error is None, (
            f"a pull in which every other request failed ({fault}) did not get through in one "
            f"run: {type(run.error).__name__}: {run.error}"
        )
        got = store_content(engine)
        ends_as_clean(
            expected,
            got,
            f"a pull through faults ({fault}) did not end as a clean one",
            content_diff,
        )
        assert_retry_after_waited(bench.wire)

    @pytest.mark.parametrize("spec", VENDOR_FAULTS.values(), ids=VENDOR_FAULTS.keys())
    def test_a_pull_under_vendor_faults_ends_as_a_clean_one(
        self, conformance: Bench, spec: str
    ) -> None:
        def pulls() -> Content:
            engine = conformance.store()
            conformance.pull_until_done(engine)
            return store_content(engine)

        got, expected = under_vendor_faults(conformance, spec, clean_pull, pulls)
        ends_as_clean(
            expected, got, f"pulls under faults ({spec}) did not end as a clean one", content_diff
        )

    @pytest.mark.parametrize("fault", WIRE_FAULTS)
    def test_a_push_retries_through_faults_within_one_run(
        self, conformance: Bench, fault: str
    ) -> None:
        bench = conformance
        expected = clean_push(bench)
        bench.start(wire_fault=fault)
        connector = bench.connector()
        run = bench.push(plan_for(bench, bench.destination(connector)), connector)
        assert_all_done(run, f"a push in which every other request failed ({fault})")
        got = bench.ask("remote")
        ends_as_clean(
            expected, got, f"a push through faults ({fault}) left the vendor otherwise", remote_diff
        )
        assert_retry_after_waited(bench.wire)

    @pytest.mark.parametrize("spec", VENDOR_FAULTS.values(), ids=VENDOR_FAULTS.keys())
    def test_a_push_under_vendor_faults_ends_as_a_clean_one(
        self, conformance: Bench, spec: str
    ) -> None:
        bench = conformance

        def pushes() -> PushRun:
            connector = bench.connector()
            return bench.push(plan_for(bench, bench.destination(connector)), connector, rounds=40)

        run, expected = under_vendor_faults(bench, spec, clean_push, pushes)
        assert_all_done(run, f"pushes under faults ({spec})")
        got = bench.ask("remote")
        ends_as_clean(
            expected, got, f"pushes under faults ({spec}) left the vendor otherwise", remote_diff
        )
