"""The daemon's locks and its config: one replica per job on PostgreSQL, one daemon per SQLite
store, the ``daemon:`` section and schedules as APScheduler triggers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.config import ScheduleConfig, load_config
from syncd.daemon.locks import StoreInUse, hold_store, job_lock, lock_key
from syncd.daemon.scheduler import Schedules, trigger
from syncd.errors import ConfigError

from .conftest import pg_skip_reason
from .stores import pg_schemas as fresh_schemas


@pytest.fixture
def pg_schemas() -> Iterator[list[str]]:
    """URLs of two fresh schemas of the test PostgreSQL database: two stores."""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    with fresh_schemas(2) as urls:
        yield urls


@pytest.mark.postgres
def test_a_job_lock_is_held_by_one_replica_at_a_time(pg_schemas: list[str]) -> None:
    one, two = sa.create_engine(pg_schemas[0]), sa.create_engine(pg_schemas[0])
    job = f"job_{uuid.uuid4().hex[:8]}"
    try:
        with job_lock(one, job) as first:
            assert first is True
            with job_lock(two, job) as second:
                assert second is False  # the other replica skips this firing
            with job_lock(two, job + "_other") as other:
                assert other is True  # another job is not held
        with job_lock(two, job) as after:
            assert after is True  # released when the holder's run ended
        with job_lock(one, job) as again, job_lock(one, job) as same_engine_twice:
            # two connections of one pool are two sessions: still one holder
            assert (again, same_engine_twice) == (True, False)
    finally:
        one.dispose()
        two.dispose()


@pytest.mark.postgres
def test_a_job_lock_is_released_when_the_holder_fails(pg_schemas: list[str]) -> None:
    engine = sa.create_engine(pg_schemas[0])
    try:
        with pytest.raises(RuntimeError), job_lock(engine, "sync") as got:
            assert got
            raise RuntimeError("the run failed")
        with job_lock(engine, "sync") as got_again:
            assert got_again
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_stores_in_two_schemas_do_not_share_job_locks(pg_schemas: list[str]) -> None:
    first, second = (sa.create_engine(url) for url in pg_schemas)
    try:
        with job_lock(first, "sync") as a, job_lock(second, "sync") as b:
            assert (a, b) == (True, True)
    finally:
        first.dispose()
        second.dispose()


def test_lock_keys_are_stable_signed_64_bit_numbers() -> None:
    keys = {lock_key(name) for name in ("sync", "pull", "push", "every_15_minutes")}
    assert len(keys) == 4
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert lock_key("sync") == lock_key("sync", "public") != lock_key("sync", "tenant_a")


def test_job_lock_on_sqlite_always_succeeds(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with job_lock(engine, "sync") as a, job_lock(engine, "sync") as b:
        assert (a, b) == (True, True)  # one daemon per file: hold_store sees to it


def test_one_daemon_per_sqlite_store(tmp_path: Path) -> None:
    db = tmp_path / "var" / "store.db"
    url = f"sqlite:///{db}"
    lock = hold_store(url)
    assert lock is not None
    assert lock.path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(StoreInUse) as refused:
        hold_store(url)
    assert str(refused.value) == (
        f"another syncd run is using the store {db} (pid {os.getpid()}); stop it first"
    )
    other = hold_store(f"sqlite:///{tmp_path / 'other.db'}")
    assert other is not None  # another store is another daemon's
    lock.release()
    other.release()
    again = hold_store(url)  # released: the next daemon takes it
    assert again is not None
    again.release()
    assert hold_store("sqlite://") is None
    assert hold_store("postgresql+psycopg://u@h/db") is None  # replicas share PostgreSQL


CONFIG = """\
store:
  url: sqlite:///store.db
connectors:
  shop: {type: files, contacts: contacts.jsonl}
  esp: {type: files, state: esp.json}
segments:
  everyone: {field: email, exists: true}
destinations:
  - connector: esp
    tags: {everyone: ALL}
schedules:
  often: {run: pull, every: 30s, connectors: [shop]}
  nightly: {run: push, cron: '0 3 * * *', timezone: Europe/Warsaw, destinations: [esp]}
"""


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "syncd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return str(exc.value)


def test_the_daemon_section_has_defaults_and_reads_durations(tmp_path: Path) -> None:
    path = tmp_path / "syncd.yaml"
    path.write_text(CONFIG)
    assert load_config(path).daemon.health == "127.0.0.1:9780"
    path.write_text(CONFIG + "daemon:\n  health: off\n  misfire_grace: 90s\n  ready_within: 1d\n")
    daemon = load_config(path).daemon
    assert daemon.health == "off"
    assert daemon.misfire_grace == timedelta(seconds=90)
    assert daemon.shutdown_timeout == timedelta(minutes=2)
    assert daemon.ready_within == timedelta(days=1)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "daemon:\n  health: 9780\n",
            "syncd.yaml:15: daemon.health: should be a valid string",
        ),
        (
            "daemon:\n  health: somewhere:9780\n",
            "syncd.yaml:15: daemon.health: health address 'somewhere:9780': 'somewhere' is not "
            "an IP address",
        ),
        (
            "daemon:\n  shutdown_timeout: soon\n",
            "syncd.yaml:15: daemon.shutdown_timeout: bad duration 'soon'",
        ),
        ("daemon:\n  grace: 5m\n", "syncd.yaml:15: daemon.grace: unknown key 'grace'"),
    ],
)
def test_daemon_section_mistakes_are_one_line(tmp_path: Path, extra: str, expected: str) -> None:
    message = config_error(tmp_path, CONFIG + extra)
    assert message.startswith(str(tmp_path / expected))
    assert "\n" not in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "destinations: [esp]",
            "destinations: [shop]",
            "syncd.yaml:13: schedules.nightly.destinations[0]: 'shop' is not a destination "
            "(destinations: esp)",
        ),
        (
            "run: pull, every: 30s",
            "run: compute, every: 30s",
            "syncd.yaml:12: schedules.often: connectors: names what a pull reads; this schedule "
            "runs compute",
        ),
        (
            "run: push, cron",
            "run: sync, cron",
            "syncd.yaml:13: schedules.nightly: destinations: names where a push sends; this "
            "schedule runs sync",
        ),
        (
            "  often:",
            "  often now:",
            "syncd.yaml:12: schedules.often now: bad schedule name 'often now'",
        ),
    ],
)
def test_schedule_mistakes_are_one_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert config_error(tmp_path, CONFIG.replace(old, new)).startswith(str(tmp_path / expected))


def test_schedules_become_interval_and_crontab_triggers() -> None:
    start = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    every = trigger(ScheduleConfig(every=timedelta(minutes=15)))
    now = datetime.now(UTC)
    first_fire = every.get_next_fire_time(None, now)
    assert every.get_next_fire_time(first_fire, first_fire) == first_fire + timedelta(minutes=15)
    # 03:00 in Warsaw: 02:00 UTC in winter, 01:00 UTC once summer time began on 29 March
    cron = trigger(ScheduleConfig(cron="0 3 * * *", timezone="Europe/Warsaw"))
    first = cron.get_next_fire_time(None, start)
    second = cron.get_next_fire_time(first, first + timedelta(seconds=1))
    assert (first.astimezone(UTC).hour, second.astimezone(UTC).hour) == (2, 1)
    jittered = trigger(ScheduleConfig(every=timedelta(minutes=15), jitter=timedelta(seconds=40)))
    base = jittered.get_next_fire_time(None, now) - timedelta(seconds=40)  # any fire time
    nexts = {jittered.get_next_fire_time(base, base) for _ in range(20)}
    low, high = base + timedelta(minutes=15), base + timedelta(minutes=15, seconds=40)
    assert len(nexts) > 1 and all(low <= t <= high for t in nexts)


def test_a_reload_reschedules_only_what_changed() -> None:
    fired: list[str] = []
    schedules = Schedules(fired.append, misfire_grace=300)
    schedules.scheduler.start(paused=True)  # jobs are real, none fires
    hourly = ScheduleConfig(every=timedelta(hours=1))
    nightly = ScheduleConfig(cron="0 3 * * *")
    schedules.apply({"hourly": hourly, "nightly": nightly}, 300)
    jobs = {job.id: job for job in schedules.scheduler.get_jobs()}
    assert set(jobs) == {"hourly", "nightly"}
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())
    assert jobs["hourly"].misfire_grace_time == 300
    hourly_next = jobs["hourly"].next_run_time
    changed = schedules.apply(
        {"hourly": hourly, "often": ScheduleConfig(run="pull", every=timedelta(seconds=10))}, 60
    )
    assert changed == ["often"]
    jobs = {job.id: job for job in schedules.scheduler.get_jobs()}
    assert set(jobs) == {"hourly", "often"}
    assert {job.misfire_grace_time for job in jobs.values()} == {60}
    assert jobs["hourly"].next_run_time == hourly_next  # unchanged: not run again at once
    schedules.shutdown()
    assert fired == []
