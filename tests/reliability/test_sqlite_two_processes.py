"""Two syncd processes on one SQLite store: the second waits for the first (up to
``store.busy_timeout``) or says in one line that another syncd holds the store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncd.daemon.locks import StoreLock, hold_store

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_env")]
NOW = "2026-11-20T12:00:00Z"


def _syncd(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SYNCD_NOW": NOW}
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "--config", str(config), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _syncd_while_held(lock: StoreLock, config: Path, *args: str) -> tuple[int, str, str]:
    """``syncd ARGS`` run to its end while ``lock`` holds the store (released after): its exit
    code, stdout and stderr."""
    try:
        proc = _syncd(config, *args)
        code = proc.wait(timeout=120)
        out, err = proc.communicate()
    finally:
        lock.release()
    return code, out, err


def _store(sample_dir: Path) -> Path:
    return (sample_dir.parent / "var" / "syncd.db").resolve()


def test_two_syncs_started_together_on_a_new_store_both_finish(sample_dir: Path) -> None:
    """Once the loser printed a 92-line ``database is locked`` traceback: the migration and
    the first page raced. Now the second waits; both finish, and the store holds one run of
    each."""
    config = sample_dir / "syncd.yaml"
    # --quiet: progress lines go to stderr, which must hold nothing else
    procs = [_syncd(config, "--quiet", "sync"), _syncd(config, "--quiet", "sync")]
    procs.append(_syncd(config, "status"))
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, _out, err in results:
        assert (code, err) == (0, ""), err[-3000:]
    import sqlite3

    with sqlite3.connect(_store(sample_dir)) as db:
        outcomes = db.execute("SELECT outcome FROM runs WHERE job = 'sync'").fetchall()
    assert len(outcomes) == 2, outcomes


def busy_timeout_1s(sample_dir: Path) -> Path:
    """The sample config with ``store.busy_timeout: 1s``."""
    config = sample_dir / "syncd.yaml"
    text = config.read_text()
    config.write_text(
        text.replace(
            "url: sqlite:///../var/syncd.db", "url: sqlite:///../var/syncd.db\n  busy_timeout: 1s"
        )
    )
    return config


def test_a_busy_store_is_one_line_after_the_busy_timeout(sample_dir: Path) -> None:
    config = busy_timeout_1s(sample_dir)
    store = _store(sample_dir)
    lock = hold_store(f"sqlite:///{store}", command="push")  # another one-shot command
    assert lock is not None
    code, out, err = _syncd_while_held(lock, config, "sync")
    assert code == 1
    assert err.splitlines() == [
        f"error: another syncd push is writing the store {store} (pid {os.getpid()}); waited 1s "
        "(store.busy_timeout): try again when it has finished"
    ]
    assert out == ""


def test_the_second_command_waits_for_the_first(sample_dir: Path) -> None:
    config = sample_dir / "syncd.yaml"
    store = _store(sample_dir)
    lock = hold_store(f"sqlite:///{store}", command="sync")
    assert lock is not None
    try:
        proc = _syncd(config, "--quiet", "sync")  # stderr then holds only errors
        time.sleep(3)  # long enough to have reached the lock on most machines
        assert proc.poll() is None, proc.communicate()  # it waits, it does not fail
    finally:
        lock.release()
    code = proc.wait(timeout=300)
    out, err = proc.communicate()
    assert (code, err) == (0, ""), err[-3000:]
    assert " done, 0 to retry, 0 failed" in out, out


def test_a_daemon_lets_a_command_write_between_its_jobs(sample_dir: Path) -> None:
    """A running daemon holds the store for good against another daemon, not against a
    one-shot command: ``push --confirm`` of a held plan runs between the daemon's jobs, and
    waits for the job in hand (here one that outlasts the busy timeout: one line)."""
    config = busy_timeout_1s(sample_dir)
    store = _store(sample_dir)
    daemon = hold_store(f"sqlite:///{store}")  # as `syncd run` takes it: for its life
    assert daemon is not None
    try:
        between = _syncd(config, "sync")
        assert between.wait(timeout=300) == 0, between.communicate()
        job = hold_store(f"sqlite:///{store}", command="run (job every_15_minutes)")
        assert job is not None
        code, _out, err = _syncd_while_held(job, config, "push")
    finally:
        daemon.release()
    assert code == 1
    assert err.splitlines() == [
        f"error: another syncd run (job every_15_minutes) is writing the store {store} "
        f"(pid {os.getpid()}); waited 1s (store.busy_timeout): try again when it has finished"
    ]
