"""Failures in sight: changes left to retry make a run partial (exit 4) and say why; ``syncd
status`` shows per destination what is pending, retrying and failed with the last reason;
``syncd errors`` lists each record; readiness is degraded after a failed or partial run and
the metrics carry the counts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd import metrics
from syncd.cli import main
from syncd.clock import fixed_clock
from syncd.daemon.health import readiness
from syncd.store import open_store
from syncd.store.schema import runs
from syncd.sync.failures import refresh_metrics

from .test_cycle_failures import use_flaky_esp

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def flaky(env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The sample config with its e-mail tool answering 'timeout' (retryable) for every other
    change of its first push."""
    config = use_flaky_esp(env, monkeypatch, tmp_path) / "syncd.yaml"
    monkeypatch.setenv("FLAKY", "odd")
    return config


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_changes_left_to_retry_make_the_run_partial_and_say_why(
    flaky: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "--config", str(flaky), "sync")
    assert code == 4, out
    [line] = [x for x in out.splitlines() if "FAILED" in x]
    assert re.fullmatch(
        r"push esp FAILED \(the rest of the run went on\): \d+ to retry: timeout", line
    )
    engine = open_store(store_url)
    with engine.connect() as conn:
        outcome, error = conn.execute(sa.select(runs.c.outcome, runs.c.error)).one()
    engine.dispose()
    assert outcome == "partial"
    assert re.fullmatch(r"push esp: \d+ to retry: timeout", error)
    # the next run sends the rest and is ok again
    assert run_cli(capsys, "--config", str(flaky), "sync")[0] == 0


def test_status_shows_each_destination_pending_retrying_failed_and_why(
    flaky: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(capsys, "--config", str(flaky), "sync")
    code, out, _ = run_cli(capsys, "--config", str(flaky), "status", "--json")
    assert code == 0
    [esp] = json.loads(out)["destinations"]
    assert esp["destination"] == "esp"
    assert esp["retrying"] > 0 and esp["pending"] == 0 and esp["failed"] == 0
    assert esp["last_error"] == "timeout" and esp["last_error_at"] == NOW.isoformat()
    code, out, _ = run_cli(capsys, "--config", str(flaky), "status")
    lines = out.splitlines()
    assert lines[0] == "destinations:"
    assert re.split(r"\s{2,}", lines[1]) == [
        "DESTINATION", "PENDING", "RETRYING", "HELD", "FAILED", "BEING SENT", "LAST FAILURE",
    ]  # fmt: skip
    assert re.split(r"\s{2,}", lines[2]) == [
        "esp", "0", str(esp["retrying"]), "0", "0", "0", "2026-11-20 12:00:00: timeout",
    ]  # fmt: skip
    assert lines[3] == "each failed change and why: syncd errors"
    # once sent, nothing is left to retry and status says so
    run_cli(capsys, "--config", str(flaky), "sync")
    out = run_cli(capsys, "--config", str(flaky), "status")[1]
    assert re.split(r"\s{2,}", out.splitlines()[2]) == ["esp", "0", "0", "0", "0", "0", "-"]
    assert "syncd errors" not in out.splitlines()[3]


def test_errors_lists_each_change_and_why(flaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(capsys, "--config", str(flaky), "sync")
    code, out, _ = run_cli(capsys, "--config", str(flaky), "errors", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"changes", "quarantined"}
    changes = data["changes"]
    assert changes and {c["state"] for c in changes} == {"retrying"}
    assert {c["error"] for c in changes} == {"timeout"}
    assert {c["destination"] for c in changes} == {"esp"}
    assert all(c["attempts"] == 1 and "@" in c["email"] for c in changes)
    assert set(changes[0]) == {
        "destination", "email", "kind", "key", "value", "state", "attempts", "error", "at",
    }  # fmt: skip
    # the sample's shop sends a record it cannot read: quarantined, with its reason
    assert data["quarantined"] and all(q["error"] for q in data["quarantined"])
    assert set(data["quarantined"][0]) == {"instance", "stream", "error", "record", "at"}
    out = run_cli(capsys, "--config", str(flaky), "errors", "--limit", "1")[1]
    table = out.split("\n\n")[0].splitlines()
    assert table[0] == "changes that failed (newest first):"
    row = re.split(r"\s{2,}", table[2])
    assert row[1:3] == ["esp", changes[0]["email"]] and row[-3:] == ["retrying", "1", "timeout"]
    assert len(table) == 3
    assert "the newest 1 of each are shown; --limit N for more" in out
    only = json.loads(
        run_cli(capsys, "--config", str(flaky), "errors", "--json", "--destination", "crm")[1]
    )
    assert only["changes"] == []
    code, _, err = run_cli(capsys, "--config", str(flaky), "errors", "--destination", "eps")
    assert code == 2
    assert err == "unknown connector instance 'eps'; did you mean 'esp'?\n"


def test_status_and_errors_through_the_real_process(flaky: Path) -> None:
    syncd = [sys.executable, "-m", "syncd", "--config", str(flaky)]
    first = subprocess.run([*syncd, "sync"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 4, first.stderr
    shown = subprocess.run([*syncd, "status"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^esp\s+0\s+\d+\s+0\s+0\s+0\s+\S+ \S+: timeout$", shown.stdout, re.M)
    listed = subprocess.run(
        [*syncd, "errors", "--json"], capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert {c["error"] for c in json.loads(listed.stdout)["changes"]} == {"timeout"}


def add_run(engine: sa.Engine, job: str, minutes_ago: int, outcome: str, error: str = "") -> None:
    finished = NOW - timedelta(minutes=minutes_ago)
    with engine.begin() as conn:
        conn.execute(
            runs.insert().values(
                id=f"{job}-{minutes_ago}-{outcome}",
                job=job,
                started_at=finished - timedelta(seconds=30),
                finished_at=finished,
                outcome=outcome,
                error=error or None,
            )
        )


def test_readiness_is_degraded_after_a_partial_or_failed_run_until_one_is_ok(
    store: sa.Engine,
) -> None:
    within = timedelta(hours=2)
    ready = lambda: readiness(store, within, fixed_clock(NOW), ["sync"])  # noqa: E731
    timeout, full = "push esp: 7 to retry: timeout", "StoreError: disk full"
    # each run in turn (minutes ago, outcome, error), and the readiness it leaves
    runs_and_readiness = [
        ((10, "ok", ""), "ok: last successful run 10m ago"),
        ((5, "partial", timeout), f"degraded: the last run (sync, 5m ago) was partial: {timeout}; "
         "last successful run 10m ago"),
        ((3, "ok", ""), "ok: last successful run 3m ago"),
        ((1, "failed", full), f"degraded: the last run (sync, 1m ago) failed: {full}; "
         "last successful run 3m ago"),
    ]  # fmt: skip
    for (minutes_ago, outcome, error), said in runs_and_readiness:
        add_run(store, "sync", minutes_ago, outcome, error)
        assert ready() == (outcome == "ok", said)


def test_metrics_carry_the_outbox_states_and_each_jobs_last_outcome(
    flaky: Path, store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli(capsys, "--config", str(flaky), "sync")
    engine = open_store(store_url)
    refresh_metrics(engine, ["esp"])
    sample = metrics.REGISTRY.get_sample_value
    retrying = sample("syncd_outbox_changes", {"destination": "esp", "state": "retrying"})
    assert retrying and retrying > 0
    assert sample("syncd_outbox_changes", {"destination": "esp", "state": "failed"}) == 0
    assert sample("syncd_last_run_ok", {"job": "sync"}) == 0
    monkeypatch.setenv("SYNCD_NOW", (NOW + timedelta(minutes=15)).isoformat())
    assert run_cli(capsys, "--config", str(flaky), "sync")[0] == 0
    refresh_metrics(engine, ["esp"])
    engine.dispose()
    assert sample("syncd_outbox_changes", {"destination": "esp", "state": "retrying"}) == 0
    assert sample("syncd_last_run_ok", {"job": "sync"}) == 1
