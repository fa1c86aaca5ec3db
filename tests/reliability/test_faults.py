"""Faults at the vendor: with every emulator answering a share of its requests with a fault
of each kind the emulators inject, syncs converge exactly to a clean run's state once the
faults stop, and a destination that fails does not keep the others from being pushed."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.sync import push
from tests.reliability import harness

SHARE = 0.25  # of the requests, for each kind of fault


@pytest.fixture
def reference(tmp_path: Path, dialect: str) -> harness.Snapshot:
    return harness.soak_reference(tmp_path / "reference", dialect)


@pytest.mark.parametrize("kind", harness.FAULT_KINDS)
def test_syncs_under_each_kind_of_fault_converge_to_the_clean_state(
    tmp_path: Path, dialect: str, reference: harness.Snapshot, kind: str
) -> None:
    result = harness.soak(tmp_path / "soak", reference, f"{kind}={SHARE}", dialect=dialect)
    assert result.faults >= 0.15 * result.requests  # the faults did happen
    assert result.outcome.ok, (result.outcome.details, result.outcome.stuck)


def test_syncs_under_every_kind_of_fault_at_once_converge(
    tmp_path: Path, dialect: str, reference: harness.Snapshot
) -> None:
    spec = ",".join(f"{kind}=0.2" for kind in harness.FAULT_KINDS)
    result = harness.soak(tmp_path / "soak", reference, spec, dialect=dialect)
    assert result.outcome.ok, (result.outcome.details, result.outcome.stuck)


def test_a_destination_whose_writes_all_fail_does_not_keep_the_others_from_theirs(
    tmp_path: Path, dialect: str, reference: harness.Snapshot
) -> None:
    code, outcome = harness.one_down(tmp_path / "down", reference, "activecampaign", dialect)
    assert code == 4  # partial
    assert outcome.ok, outcome.details


def test_the_soak_sees_a_push_that_drops_a_change(
    tmp_path: Path, reference: harness.Snapshot, dialect: str
) -> None:
    if dialect != "sqlite":
        pytest.skip("the harness's own check is the same on both stores")
    original = harness.break_push("drop")
    try:
        result = harness.soak(tmp_path / "soak", reference, "5xx=0.25")
    finally:
        push._send = original
    assert not result.outcome.ok and result.outcome.lost > 0
