"""The daemon's run lock: a micro-cycle runs while a scheduled job lends it between the pages
of its pull, and only then; nothing else takes it on loan; the job goes on once the
micro-cycle is done."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.config import ScheduleConfig
from syncd.daemon.jobs import run_schedule
from syncd.daemon.run_lock import RunLock
from syncd.daemon.service import build


def wait_until(what: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not what():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_waiting_micro_cycle_runs_when_the_job_lends_the_lock_and_the_job_waits_for_it() -> None:
    lock, order = RunLock(), []
    finish = threading.Event()

    def micro_cycle() -> None:
        with lock.between():
            order.append("micro-cycle began")
            finish.wait(10)
            order.append("micro-cycle ended")

    with lock:  # a scheduled job
        assert lock.lend() is False  # none waits: the job goes straight on
        micro = threading.Thread(target=micro_cycle)
        micro.start()
        time.sleep(0.2)
        assert order == []  # held by the job: the micro-cycle waits
        lent = threading.Thread(target=lambda: order.append(f"job went on: {lock.lend()}"))
        lent.start()
        wait_until(lambda: order == ["micro-cycle began"])
        assert lock.acquire(blocking=False) is False  # a reload does not take it on loan
        assert lent.is_alive()  # the job waits for the micro-cycle
        finish.set()
        lent.join(10)
        micro.join(10)
    assert order == ["micro-cycle began", "micro-cycle ended", "job went on: True"]
    assert lock.acquire(blocking=False) is True  # released by the job
    lock.release()


def test_a_micro_cycle_takes_a_free_lock_and_a_job_waits_for_it() -> None:
    lock = RunLock()
    with lock.between():
        assert lock.acquire(timeout=0.1) is False
        assert lock.lend() is False  # lent only by a job that holds it
    assert lock.acquire(timeout=0.1) is True
    lock.release()


@pytest.fixture
def env_runtime(env: Path):  # type: ignore[no-untyped-def]
    runtime = build(env / "syncd.yaml")
    yield runtime
    runtime.close()


def test_a_sync_job_lends_the_run_lock_after_each_page_it_pulled(env_runtime) -> None:  # type: ignore[no-untyped-def]
    pages: list[int] = []
    job = ScheduleConfig.model_validate({"run": "sync", "every": "15m"})
    run_schedule(env_runtime, "cycle", job, None, lend=lambda: pages.append(1))
    assert len(pages) >= 2  # a page or more per stream of the sample
