"""End to end on PostgreSQL: two ``syncd run`` replicas on one store share a schedule. A job
runs on one replica at a time (the other skips its firing), no change is sent twice, and when
one replica stops in the middle of a push the other carries the work to the end."""

from __future__ import annotations

import itertools
import math
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.emulator import FaultPlan, running
from syncd_plugins.salesmanago.emulator import SalesmanagoEmulator

from .test_daemon import BATCH, WRITE, Daemon, killed_at_end, tagged, wait_for, write_config

pytestmark = pytest.mark.postgres


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    yield from killed_at_end()


def query(url: str, sql: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [dict(row) for row in conn.execute(sa.text(sql)).mappings()]
    except sa.exc.ProgrammingError:
        return []  # no table yet: the store is being created
    finally:
        engine.dispose()


def cycle_runs(url: str) -> list[dict[str, Any]]:
    return query(
        url,
        "SELECT id, outcome, started_at, finished_at, counts FROM runs "
        "WHERE job = 'cycle' ORDER BY started_at",
    )


def run_ids(daemon: Daemon) -> set[str]:
    return {line["run_id"] for line in daemon.events("run started")}


def test_two_replicas_share_a_schedule_and_one_carries_on_when_the_other_stops(
    tmp_path: Path, daemons: list[Daemon], pg_store: str
) -> None:
    slow = FaultPlan.parse(f"POST {WRITE}:latency=500ms", 5)
    emu = SalesmanagoEmulator(seed=5, people=40, faults=slow)
    wanted = tagged(emu, "CHROME")
    batches = math.ceil(len(wanted) / BATCH)
    with running(emu) as url:
        config = write_config(tmp_path / "syncd.yaml", url, "  cycle: {run: sync, every: 1s}")
        first = Daemon(config, tmp_path / "first.log", SYNCD_STORE_URL=pg_store)
        daemons.append(first)
        wait_for("the first replica to push", lambda: any(r.path == WRITE for r in emu.requests()))
        second = Daemon(config, tmp_path / "second.log", SYNCD_STORE_URL=pg_store)
        daemons.append(second)
        second.started()
        wait_for(
            "the second replica to skip a firing while the first runs the job",
            lambda: second.events("job skipped: another replica is running it"),
        )
        first.signal(signal.SIGTERM)
        assert first.proc.wait(45) == 0
        assert 0 < sum(1 for r in emu.requests() if r.path == WRITE) < batches

        def finished() -> bool:
            ok = [r for r in cycle_runs(pg_store) if r["id"] in run_ids(second)]
            return len([r for r in ok if r["outcome"] == "ok"]) >= 2

        wait_for("the second replica to finish the work and run once more", finished)
        assert second.stop() == 0

    assert tagged(emu, "SYNCD_CHROME") == wanted
    assert sum(1 for r in emu.requests() if r.path == WRITE) == batches  # none sent twice
    assert query(pg_store, "SELECT status, count(*) AS n FROM outbox GROUP BY status") == [
        {"status": "done", "n": len(wanted)}
    ]
    runs = cycle_runs(pg_store)
    mine, theirs = run_ids(first), run_ids(second)
    assert {r["id"] for r in runs} == mine | theirs and not mine & theirs
    assert [r["outcome"] for r in runs if r["id"] in mine] == ["stopped"]
    for earlier, later in itertools.pairwise(runs):
        assert earlier["finished_at"] <= later["started_at"], "one replica at a time"


def test_replicas_starting_together_on_an_empty_store_all_start(
    tmp_path: Path, daemons: list[Daemon], pg_store: str
) -> None:
    # each one migrates the new store; they take turns instead of racing to create tables
    emu = SalesmanagoEmulator(seed=5, people=10)
    with running(emu) as url:
        config = write_config(tmp_path / "syncd.yaml", url, "  tags_pull: {run: pull, every: 1s}")
        for i in range(3):
            daemons.append(Daemon(config, tmp_path / f"replica{i}.log", SYNCD_STORE_URL=pg_store))
        for daemon in daemons:
            daemon.started()
        assert [daemon.stop() for daemon in daemons] == [0, 0, 0]
    assert query(pg_store, "SELECT count(*) AS n FROM runs WHERE outcome = 'failed'") == [{"n": 0}]
