"""What one firing of each kind of schedule does, on the sample config, on SQLite and
PostgreSQL: pull, compute and push as separate jobs add up to a whole cycle; runs carry the
schedule's name; a stop asked before a step leaves the work for the next run."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from syncd import metrics
from syncd.clock import fixed_clock
from syncd.config import ScheduleConfig
from syncd.connectors.contract import (
    Connector,
    ConnectorContext,
    ConnectorOptions,
    ContactRecord,
    Page,
    Stream,
)
from syncd.daemon.jobs import in_words, last_run, run_schedule
from syncd.daemon.service import Daemon, build
from syncd.logs import configure_logging
from syncd.runtime import Runtime
from syncd.store import open_store
from syncd.store.schema import contacts, cursors, outbox, runs
from syncd.sync import cycle
from syncd.sync.pull import pull_instance, read_cursor
from syncd.sync.reading import AHEAD

from .test_cycle import EXPECTED, state


@pytest.fixture
def rt(env: Path) -> Any:
    runtime = build(env / "syncd.yaml")
    yield runtime
    runtime.close()


def schedule(run: str, **kw: Any) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"run": run, "every": "15m", **kw})


def recorded(rt: Runtime) -> list[tuple[str, str]]:
    """Every run's job and outcome, sorted (the fixed clock gives them all one start time)."""
    with rt.engine.connect() as conn:
        return sorted(
            (job, outcome) for job, outcome in conn.execute(sa.select(runs.c.job, runs.c.outcome))
        )


def outcome(rt: Runtime, run_id: str | None) -> str:
    run = last_run(rt.engine, run_id or "")
    assert run is not None
    return str(run["outcome"])


def count(rt: Runtime, table: sa.Table, *where: Any) -> int:
    with rt.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return int(conn.execute(query).scalar_one())


def test_pull_compute_and_push_jobs_add_up_to_a_cycle(rt: Runtime, sample_dir: Path) -> None:
    pulled_before = metrics.REGISTRY.get_sample_value(
        "syncd_records_pulled_total", {"instance": "shop", "stream": "contacts"}
    )
    pull_id = run_schedule(rt, "morning_pull", schedule("pull", connectors=["shop", "crm"]), None)
    pulled = last_run(rt.engine, pull_id or "")
    assert pulled is not None and pulled["counts"]["pulled"] > 0
    assert set(pulled["counts"]["instances"]) == {"shop", "crm"}
    after = metrics.REGISTRY.get_sample_value(
        "syncd_records_pulled_total", {"instance": "shop", "stream": "contacts"}
    )
    assert after is not None and after > (pulled_before or 0)

    compute_id = run_schedule(rt, "nightly_compute", schedule("compute"), None)
    computed = last_run(rt.engine, compute_id or "")
    assert computed is not None and computed["counts"]["planned"] == 15
    assert count(rt, outbox, outbox.c.status == "pending") == 15
    assert state(sample_dir) == {}  # computing sends nothing
    loyal = metrics.REGISTRY.get_sample_value("syncd_segment_size", {"segment": "loyal_customers"})
    assert loyal == 2  # ada and alan

    push_id = run_schedule(rt, "push_esp", schedule("push", destinations=["esp"]), None)
    assert state(sample_dir) == EXPECTED
    assert count(rt, outbox, outbox.c.status == "pending") == 0
    assert recorded(rt) == [("morning_pull", "ok"), ("nightly_compute", "ok"), ("push_esp", "ok")]
    assert in_words("push", last_run(rt.engine, push_id or "") or {}) == (
        "push push_esp ok at 12:00: pushed 15"
    )


def test_a_sync_job_is_recorded_under_the_schedule_name(rt: Runtime, sample_dir: Path) -> None:
    run_id = run_schedule(rt, "every_15_minutes", schedule("sync"), None)
    run = last_run(rt.engine, run_id or "")
    assert run is not None
    assert (run["job"], run["outcome"], run["counts"]["pushed"]) == ("every_15_minutes", "ok", 15)
    assert state(sample_dir) == EXPECTED


def test_a_job_logs_its_progress_as_the_shell_prints_it(rt: Runtime) -> None:
    """A daemon's long job is not silent until its end: each step's lines, as ``sync``
    prints them on a pipe, are ``progress`` events of the job's log."""
    from structlog.testing import capture_logs

    from syncd.logs import configure_logging

    configure_logging("info")  # the daemon's default level (put back after the test)
    with capture_logs() as logged:
        run_schedule(rt, "every_15_minutes", schedule("sync"), None)
    lines = [e["line"] for e in logged if e["event"] == "progress"]
    assert {e["job"] for e in logged if e["event"] == "progress"} == {"every_15_minutes"}
    assert lines[:3] == [
        "pull shop/contacts: 1 page, 11 records",
        "pull shop/events: 1 page, 12 records",
        "pull crm/contacts: 1 page, 5 records",
    ]
    assert re.fullmatch(r"compute: \d+ segments, \d+ changed", lines[3])
    assert lines[4] == "push esp: 15 of 15 sent (15 done, 0 to retry, 0 failed)"


def test_a_stop_before_a_step_leaves_the_work_for_the_next_run(
    rt: Runtime, sample_dir: Path
) -> None:
    stop = threading.Event()
    stop.set()
    assert outcome(rt, run_schedule(rt, "cycle", schedule("sync"), stop)) == "stopped"
    assert outcome(rt, run_schedule(rt, "pulls", schedule("pull"), stop)) == "stopped"
    assert count(rt, cursors) == 0  # nothing was read: the next pull starts where this one would
    assert outcome(rt, run_schedule(rt, "pulls", schedule("pull"), None)) == "ok"
    assert outcome(rt, run_schedule(rt, "compute", schedule("compute"), stop)) == "stopped"
    assert count(rt, outbox) == 0  # the plan was not queued
    assert outcome(rt, run_schedule(rt, "push", schedule("push"), stop)) == "stopped"
    assert outcome(rt, run_schedule(rt, "cycle", schedule("sync"), None)) == "ok"
    assert state(sample_dir) == EXPECTED


class HeardBySystemd:
    """A Notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def ready(self) -> None:
        self.said.append("READY")

    def status(self, text: str) -> None:
        self.said.append(f"STATUS {text}")

    def watchdog(self) -> None:
        self.said.append("WATCHDOG")

    def stopping(self) -> None:
        self.said.append("STOPPING")

    def reloading(self) -> None:
        self.said.append("RELOADING")

    def watchdog_interval(self) -> float | None:
        return None


def test_a_failing_run_is_recorded_failed_and_the_daemon_goes_on(
    rt: Runtime, sample_dir: Path
) -> None:
    # the destination's state file cannot be read: every cycle fails at its pull
    broken = sample_dir.parent / "var" / "esp" / "state.json"
    broken.mkdir(parents=True)
    heard = HeardBySystemd()
    logged = io.StringIO()
    configure_logging("info", "json", stream=logged)
    daemon = Daemon(rt, sample_dir / "syncd.yaml", health_address="off", notifier=heard)  # type: ignore[arg-type]
    daemon.fire("every_15_minutes")
    # the other sources were pulled all the same: the run is partial, and says why
    assert recorded(rt) == [("every_15_minutes", "partial")]
    assert heard.said[-1].startswith("STATUS sync every_15_minutes partial at ")
    assert "pull esp: cannot read the state file" in heard.said[-1]
    assert "Is a directory" in heard.said[-1]
    failed = [json.loads(x) for x in logged.getvalue().splitlines() if "failed;" in x]
    assert [(x["job"], x["level"]) for x in failed] == [("every_15_minutes", "error")]
    error = failed[0]["error"]
    assert re.fullmatch(r"cannot read the state file .*state\.json: Is a directory", error)
    assert "traceback" not in failed[0]  # a broken file is the operator's to mend: one line
    broken.rmdir()
    daemon.fire("every_15_minutes")  # the next firing works again
    # (both runs start at the same fixed time: their order is not told)
    assert sorted(recorded(rt)) == [("every_15_minutes", "ok"), ("every_15_minutes", "partial")]
    assert state(sample_dir) == EXPECTED
    assert heard.said[-1].startswith("STATUS sync every_15_minutes ok at ")
    assert heard.said[-1].endswith("pushed 15")


class Pages(Stream):
    """Three pages of two contacts each; remembers which pages were asked for."""

    name = "contacts"

    def __init__(self) -> None:
        self.read_pages: list[int] = []

    def read(self, cursor: str | None) -> Iterator[Page]:
        start = int(cursor or 0)
        for page in range(start, 3):
            self.read_pages.append(page)
            records = [
                ContactRecord(external_id=f"{page}-{i}", email=f"p{page}c{i}@example.com")
                for i in range(2)
            ]
            yield Page(records=list(records), cursor=str(page + 1))


class PagedSource(Connector):
    name = "paged"

    def __init__(self, stream: Pages) -> None:
        super().__init__(ConnectorOptions(), ConnectorContext("paged"))
        self.stream = stream

    def streams(self) -> list[Stream]:
        return [self.stream]


def test_a_stopped_pull_leaves_the_cursor_at_the_last_committed_page(store_url: str) -> None:
    engine = open_store(store_url)
    stream, stop = Pages(), threading.Event()
    source = PagedSource(stream)

    def progress(instance: str, name: str, counts: Any) -> None:
        stop.set()  # asked while the first page is being handled

    kw: dict[str, Any] = {
        "precedence": [],
        "run_id": None,
        "clock": fixed_clock(datetime(2026, 11, 20, tzinfo=UTC)),
    }
    counts = pull_instance(engine, "paged", source, progress=progress, stop=stop, ahead=None, **kw)
    assert counts["contacts"] == 2 and stream.read_pages == [0]  # the second page never asked
    read_before = len(stream.read_pages)
    with engine.connect() as conn:
        assert read_cursor(conn, "paged", "contacts") == "1"
    counts = pull_instance(engine, "paged", source, **kw)  # the next run goes on from there
    assert counts["contacts"] == 4 and stream.read_pages[read_before:] == [1, 2]
    with engine.connect() as conn:
        assert read_cursor(conn, "paged", "contacts") == "3"
        assert conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar_one() == 6
    engine.dispose()


def test_a_reload_waits_for_the_running_job_and_a_broken_one_changes_nothing(
    rt: Runtime, sample_dir: Path
) -> None:
    heard = HeardBySystemd()
    logged = io.StringIO()
    configure_logging("info", "json", stream=logged)
    path = sample_dir / "syncd.yaml"
    daemon = Daemon(rt, path, health_address="off", notifier=heard)  # type: ignore[arg-type]
    daemon.schedules.scheduler.start(paused=True)
    daemon.schedules.apply(rt.config.schedules, 300)
    good = path.read_text()
    path.write_text(
        good.replace("every_15_minutes: {run: sync, every: 15m}", "hourly: {run: sync, every: 1h}")
    )
    with daemon.run_lock:  # a job is running
        daemon.reload()
        assert daemon.rt is rt and daemon.pending is not None
        assert [job.id for job in daemon.schedules.scheduler.get_jobs()] == ["every_15_minutes"]
    daemon.swap()  # the next turn of the main loop, between two runs
    assert daemon.rt is not rt and daemon.pending is None
    assert [job.id for job in daemon.schedules.scheduler.get_jobs()] == ["hourly"]
    assert heard.said == ["RELOADING", "READY"]

    path.write_text(good.replace("every: 15m", "every: 15 parsecs"))
    new = daemon.rt
    daemon.reload()
    assert daemon.rt is new and daemon.pending is None
    assert [job.id for job in daemon.schedules.scheduler.get_jobs()] == ["hourly"]
    refused = [json.loads(x) for x in logged.getvalue().splitlines() if "not reloaded" in x]
    assert (
        len(refused) == 1
        and "schedules.every_15_minutes.every: bad duration" in refused[0]["error"]
    )
    daemon.schedules.shutdown()
    new.close()


@pytest.mark.parametrize(
    ("webhooks", "lend", "ahead"),
    [(["shop"], lambda: False, None), ([], lambda: False, AHEAD), (["shop"], None, AHEAD)],
)
def test_a_scheduled_cycle_reads_in_line_while_micro_cycles_run_between_its_pages(
    monkeypatch: pytest.MonkeyPatch, webhooks: list[str], lend: Any, ahead: int | None
) -> None:
    # a page read ahead of a micro-cycle would undo what the webhook applied: read in line
    asked: list[int | None] = []

    def sync(rt: Any, **kw: Any) -> Any:
        asked.append(kw["ahead"])
        return SimpleNamespace(run_id="r")

    monkeypatch.setattr(cycle, "sync", sync)
    rt = SimpleNamespace(config=SimpleNamespace(webhooks=SimpleNamespace(connectors=webhooks)))
    schedule = ScheduleConfig(every=timedelta(minutes=15))
    assert run_schedule(rt, "sync", schedule, None, lend=lend) == "r"  # type: ignore[arg-type]
    assert asked == [ahead]
