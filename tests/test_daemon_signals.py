"""End to end: the real ``syncd run`` process and its signals. SIGTERM in the middle of a slow
push ends the batch in flight and exits 0, and the next start finishes the work with no change
sent twice; a job that outlives the shutdown timeout makes the daemon exit 1; SIGHUP with a
broken config keeps the old one, with a valid one puts the new schedules in force."""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.emulator import FaultPlan, running
from syncd_plugins.salesmanago.emulator import SalesmanagoEmulator

from .test_daemon import (
    BATCH,
    WRITE,
    Daemon,
    killed_at_end,
    ok_runs,
    outbox_counts,
    run_rows,
    tagged,
    wait_for,
    write_config,
    writes,
)

CYCLE = "  cycle: {run: sync, every: 1s}"


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    yield from killed_at_end()


def attempted(db: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM outbox WHERE attempts > 0")).scalar()
                or 0
            )
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def slow_writes(latency: str) -> FaultPlan:
    return FaultPlan.parse(f"POST {WRITE}:latency={latency}", 5)


def test_sigterm_mid_push_exits_0_and_the_next_start_finishes_the_work(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    emu = SalesmanagoEmulator(seed=5, people=30, faults=slow_writes("300ms"))
    wanted = tagged(emu, "CHROME")
    batches = math.ceil(len(wanted) / BATCH)
    db = tmp_path / "store.db"
    with running(emu) as url:
        config = write_config(tmp_path / "syncd.yaml", url, CYCLE)
        first = Daemon(config, tmp_path / "first.log")
        daemons.append(first)
        first.started()
        wait_for("the first batch to arrive", lambda: writes(emu) >= 1)
        first.signal(signal.SIGTERM)
        assert first.proc.wait(45) == 0
        sent = writes(emu)
        assert 1 <= sent < batches, "the stop came in the middle of the push"
        assert [r["outcome"] for r in run_rows(db)] == ["stopped"]
        left = outbox_counts(db)
        assert left["done"] == len(tagged(emu, "SYNCD_CHROME")) == sent * BATCH
        assert left["pending"] == len(wanted) - sent * BATCH
        assert first.events("push stopped; the rest waits for the next run")

        second = Daemon(config, tmp_path / "second.log")
        daemons.append(second)
        second.started()
        wait_for("a cycle with nothing left to send", lambda: len(ok_runs(db, "cycle")) >= 2)
        assert second.stop() == 0
    assert tagged(emu, "SYNCD_CHROME") == wanted
    assert writes(emu) == batches  # every contact's change was sent exactly once
    assert outbox_counts(db) == {"done": len(wanted)}
    finishing, quiet = ok_runs(db, "cycle")[:2]
    assert finishing["counts"]["pushed"] == len(wanted) - sent * BATCH
    assert quiet["counts"]["pushed"] == 0


def test_a_job_longer_than_the_shutdown_timeout_makes_the_daemon_exit_1(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    emu = SalesmanagoEmulator(seed=5, people=30, faults=slow_writes("4s"))
    db = tmp_path / "store.db"
    with running(emu) as url:
        config = write_config(tmp_path / "syncd.yaml", url, CYCLE, shutdown_timeout="0.5s")
        daemon = Daemon(config, tmp_path / "daemon.log")
        daemons.append(daemon)
        daemon.started()
        # the attempt is recorded just before a batch is sent: then the push is in flight
        wait_for("a batch in flight", lambda: attempted(db) > 0)
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 1
    errors = [line for line in daemon.lines() if line.get("level") == "error"]
    assert len(errors) == 1
    assert errors[0]["event"].startswith(
        "the running job did not end within the shutdown timeout (0.5s)"
    )
    assert errors[0]["job"] == "cycle"
    [run] = run_rows(db)
    assert run["outcome"] == "failed"
    assert run["error"].startswith("cut short: the daemon stopped after its shutdown timeout")


def test_sighup_keeps_the_old_config_when_the_new_one_is_broken_and_takes_a_valid_one(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    emu = SalesmanagoEmulator(seed=5, people=10)
    db = tmp_path / "store.db"
    with running(emu) as url:
        config = write_config(tmp_path / "syncd.yaml", url, "  before: {run: pull, every: 0.3s}")
        daemon = Daemon(config, tmp_path / "daemon.log")
        daemons.append(daemon)
        daemon.started()
        wait_for("runs of the first schedule", lambda: len(ok_runs(db, "before")) >= 2)

        good = config.read_text()
        config.write_text(good.replace("every: 0.3s", "every: soon"))
        daemon.signal(signal.SIGHUP)
        [refused] = wait_for(
            "the reload to be refused",
            lambda: daemon.events("config not reloaded; the old one stays in force"),
        )
        line = good.splitlines().index("  before: {run: pull, every: 0.3s}") + 1
        assert refused["error"] == (
            f"{config}:{line}: schedules.before.every: bad duration 'soon': write a positive "
            "number and one of s, m, h, d, w (e.g. 30d)"
        )
        assert [x for x in daemon.lines() if x.get("level") == "error"] == [refused]
        count = len(ok_runs(db, "before"))
        wait_for("the old schedule to go on", lambda: len(ok_runs(db, "before")) >= count + 2)

        config.write_text(
            good.replace("before: {run: pull, every: 0.3s}", "after: {run: pull, every: 0.3s}")
        )
        daemon.signal(signal.SIGHUP)
        wait_for("the reload", lambda: daemon.events("config reloaded"))
        wait_for("runs of the new schedule", lambda: len(ok_runs(db, "after")) >= 2)
        assert daemon.stop() == 0
    lines = daemon.lines()
    reloaded = next(i for i, x in enumerate(lines) if x.get("event") == "config reloaded")
    assert lines[reloaded]["changed"] == ["after"]
    started = [x["job"] for x in lines[reloaded:] if x.get("event") == "run started"]
    assert started and set(started) == {"after"}
    assert daemon.proc.returncode == 0
