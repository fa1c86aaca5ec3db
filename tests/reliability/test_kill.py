"""Kill at every stage: a `syncd sync` killed (SIGKILL) in pull, compute or push, then one
normal sync, leaves the tools as an uninterrupted run does: nothing lost, nothing
duplicated, nothing stuck. pytest runs a sample of the kill points on SQLite and
PostgreSQL; ``tests/reliability/run.py kill`` runs them all (200 and more)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import harness

SAMPLE = 8  # kill points pytest runs per store, spread over the 200 of run.py


@pytest.fixture
def reference(tmp_path: Path, dialect: str) -> harness.Reference:
    return harness.reference(tmp_path / "reference", dialect)


def test_a_sample_of_kill_points_loses_nothing_and_leaves_nothing_stuck(
    tmp_path: Path, dialect: str, reference: harness.Reference
) -> None:
    points = harness.kill_points(reference.counts, 200)
    sample = points[:: len(points) // SAMPLE][:SAMPLE]
    results = {
        p: harness.kill_and_recover(tmp_path / "kill", reference, p, dialect) for p in sample
    }
    assert all(r.killed for r in results.values()), {p: r.stage for p, r in results.items()}
    # the sample reaches into every step of the cycle that does work
    assert {"pull", "compute", "push"} <= {r.stage for r in results.values()}
    failed = {
        p: (r.outcome.details, r.outcome.stuck) for p, r in results.items() if not r.outcome.ok
    }
    assert failed == {}


def test_the_harness_sees_a_push_that_drops_a_change_or_sends_twice(
    tmp_path: Path, reference: harness.Reference, dialect: str
) -> None:
    if dialect != "sqlite":
        pytest.skip("the harness's own check is the same on both stores")
    clean = harness.kill_and_recover(tmp_path / "clean", reference, "")
    assert clean.outcome.ok and clean.outcome.resent == 0
    dropped = harness.kill_and_recover(tmp_path / "drop", reference, "", broken="drop")
    assert not dropped.outcome.ok and dropped.outcome.lost > 0
    twice = harness.kill_and_recover(tmp_path / "twice", reference, "", broken="twice")
    assert twice.outcome.resent > 0
