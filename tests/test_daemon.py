"""End to end: the real ``syncd run`` process against the SALESmanago emulator on loopback.
SALESmanago is both the source (its ``CHROME`` behaviour tag) and the destination (the
segment goes back as the tag ``SYNCD_CHROME``), so one emulator shows a whole cycle."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.emulator import running
from syncd.store import open_store
from syncd.store.schema import runs
from syncd_plugins.salesmanago.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_OWNER,
    DEFAULT_SECRET,
    SalesmanagoEmulator,
)

WRITE = "/api/contact/batchupsert"
BATCH = 2

CONFIG = """
store:
  url: sqlite:///{db}
connectors:
  sm:
    type: salesmanago
    server: {url}
    client_id: {client_id}
    api_key: syncd-daemon-test
    api_secret: ${{SM_API_SECRET}}
    owner: {owner}
    batch_size: {batch}
    rate_limit: 20
segments:
  chrome: {{tag: CHROME}}
destinations:
  - connector: sm
    tags: {{chrome: SYNCD_CHROME}}
daemon:
  shutdown_timeout: {shutdown_timeout}
schedules:
{schedules}
"""


def write_config(
    path: Path, url: str, schedules: str, *, shutdown_timeout: str = "30s", batch: int = BATCH
) -> Path:
    path.write_text(
        CONFIG.format(
            db=path.parent / "store.db",
            url=url,
            client_id=DEFAULT_CLIENT_ID,
            owner=DEFAULT_OWNER,
            batch=batch,
            shutdown_timeout=shutdown_timeout,
            schedules=schedules,
        )
    )
    return path


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    out.pop("NOTIFY_SOCKET", None)
    out.update(SM_API_SECRET=DEFAULT_SECRET, SYNCD_LOG_FORMAT="json", SYNCD_LOG_LEVEL="info")
    return out


def command(config: Path) -> list[str]:
    """``syncd run`` with its health endpoint on a free port (logged as ``health_port``)."""
    return [
        sys.executable,
        "-m",
        "syncd.cli",
        "--config",
        str(config),
        "run",
        "--health",
        "127.0.0.1:0",
    ]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 45.0) -> Any:
    """Poll ``check`` until it returns something true; fail saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    """One ``syncd run`` process; its log lines (JSON) go to a file the test reads."""

    def __init__(self, config: Path, log: Path, **extra_env: str) -> None:
        self.log_path = log
        self.config = config
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                command(config),
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**env(), **extra_env},
            )

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for text in self.log_path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                line = {"event": text, "raw": True}
            out.append(line if isinstance(line, dict) else {"event": text, "raw": True})
        return out

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]

    def started(self) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"syncd run exited {self.proc.returncode}: {self.text()}")
            found = self.events("daemon started")
            return found[0] if found else None

        return wait_for("the daemon to start", check)  # type: ignore[no-any-return]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 45.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def killed_at_end() -> Iterator[list[Daemon]]:
    """Every daemon a test starts is gone at its end, whatever happened."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    yield from killed_at_end()


def run_rows(db: Path) -> list[dict[str, Any]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT job, outcome, counts, error FROM runs ORDER BY started_at")
            ).mappings()
            return [
                {**row, "counts": json.loads(row["counts"]) if row["counts"] else {}}
                for row in rows
            ]
    except sa.exc.OperationalError:
        return []  # the daemon has not created the store yet
    finally:
        engine.dispose()


def outbox_counts(db: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status, count(*) FROM outbox GROUP BY status"))
            return {str(status): int(n) for status, n in rows}
    finally:
        engine.dispose()


def tagged(emu: SalesmanagoEmulator, tag: str) -> set[str]:
    return {
        c["email"].lower()
        for c in emu.state()["contacts"]
        if any(t["tag"] == tag for t in c["contactTags"])
    }


def writes(emu: SalesmanagoEmulator) -> int:
    return sum(1 for r in emu.requests() if r.path == WRITE)


def ok_runs(db: Path, job: str) -> list[dict[str, Any]]:
    return [r for r in run_rows(db) if r["job"] == job and r["outcome"] == "ok"]


def test_schedules_fire_under_their_names_and_changes_reach_the_emulator(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    emu = SalesmanagoEmulator(seed=5, people=30)
    wanted = tagged(emu, "CHROME")
    assert wanted and tagged(emu, "SYNCD_CHROME") == set()
    with running(emu) as url:
        schedules = "  cycle: {run: sync, every: 1s}\n  tags_pull: {run: pull, every: 0.4s}\n"
        config = write_config(tmp_path / "syncd.yaml", url, schedules)
        db = tmp_path / "store.db"
        daemon = Daemon(config, tmp_path / "daemon.log")
        daemons.append(daemon)
        port = daemon.started()["health_port"]
        wait_for("two ok runs of each schedule", lambda: len(ok_runs(db, "cycle")) >= 2)
        wait_for("pulls under their own name", lambda: len(ok_runs(db, "tags_pull")) >= 2)
        assert tagged(emu, "SYNCD_CHROME") == wanted
        # the first cycle sent each contact's change once; later cycles had nothing to send
        assert writes(emu) == math.ceil(len(wanted) / BATCH)
        first, second = ok_runs(db, "cycle")[:2]
        assert first["counts"]["pushed"] == len(wanted)
        assert second["counts"]["pushed"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            exposition = answer.read().decode()
        assert f'syncd_segment_size{{segment="chrome"}} {len(wanted):.1f}' in exposition
        pulled = re.search(
            r'syncd_records_pulled_total\{instance="sm",stream="contacts"\} (\S+)', exposition
        )
        assert pulled and float(pulled.group(1)) >= len(emu.state()["contacts"])
        assert daemon.stop() == 0
    lines = daemon.lines()
    assert not [line for line in lines if line.get("raw")], "every log line is JSON"
    job_lines = [line for line in lines if line.get("event") in ("run started", "stream pulled")]
    assert {line["job"] for line in job_lines} == {"cycle", "tags_pull"}
    assert all(line.get("run_id") for line in job_lines)
    assert all(line["connector"] == "sm" for line in lines if line["event"] == "stream pulled")
    assert daemon.events("stopped")


def test_a_second_daemon_on_one_sqlite_store_is_refused(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    emu = SalesmanagoEmulator(seed=5, people=10)
    with running(emu) as url:
        config = write_config(tmp_path / "syncd.yaml", url, "  tags_pull: {run: pull, every: 1s}")
        first = Daemon(config, tmp_path / "first.log")
        daemons.append(first)
        first.started()
        second = subprocess.run(
            command(config),
            capture_output=True,
            text=True,
            env=env(),
            timeout=60,
        )
        assert second.returncode == 2
        assert second.stderr == (
            f"error: another syncd run is using the store {tmp_path / 'store.db'} "
            f"(pid {first.proc.pid}); stop it first\n"
        )
        assert first.proc.poll() is None  # the first one goes on
        assert first.stop() == 0


class Systemd:
    """The notify socket's other end: every datagram the daemon sent, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.heard: list[str] = []

    def hears(self, prefix: str, since: int = 0) -> Callable[[], bool]:
        def check() -> bool:
            with contextlib.suppress(TimeoutError):
                self.heard.append(self.sock.recv(4096).decode())
            return any(m.startswith(prefix) for m in self.heard[since:])

        return check


def test_systemd_hears_ready_status_watchdog_reloading_and_stopping(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    emu = SalesmanagoEmulator(seed=5, people=10)
    name = f"syncd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, running(emu) as url:
        sock.bind("\0" + name)  # an abstract socket, as systemd may hand out
        sock.settimeout(0.2)
        systemd = Systemd(sock)
        config = write_config(tmp_path / "syncd.yaml", url, "  cycle: {run: sync, every: 1s}")
        daemon = Daemon(
            config, tmp_path / "daemon.log", NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="400000"
        )
        daemons.append(daemon)
        wait_for("READY", systemd.hears("READY=1"))
        wait_for("the status of a run", systemd.hears("STATUS=sync cycle ok at "))
        wait_for("a watchdog ping", systemd.hears("WATCHDOG=1"))
        daemon.signal(signal.SIGHUP)
        wait_for("RELOADING", systemd.hears("RELOADING=1"))
        reloading = len(systemd.heard)
        wait_for("READY after the reload", systemd.hears("READY=1", since=reloading))
        daemon.signal(signal.SIGTERM)
        wait_for("STOPPING", systemd.hears("STOPPING=1"))
        assert daemon.proc.wait(45) == 0
    heard = systemd.heard
    assert heard[0] == f"READY=1\nMAINPID={daemon.proc.pid}"
    status = next(m for m in heard if m.startswith("STATUS=sync cycle ok at "))
    assert re.fullmatch(
        r"STATUS=sync cycle ok at \d\d:\d\d: pulled \d+, planned \d+, pushed \d+", status
    )
    # no ping once stopping began: the watchdog hears only a main loop that turns
    assert "WATCHDOG=1" not in heard[heard.index("STOPPING=1") :]


def test_a_started_daemon_reports_the_last_successes_already_in_the_store(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    emu = SalesmanagoEmulator(seed=5, people=10)
    with running(emu) as url:
        config = write_config(
            tmp_path / "syncd.yaml", url, '  yearly: {run: sync, cron: "0 0 1 1 *"}'
        )
        once = subprocess.run(
            [sys.executable, "-m", "syncd.cli", "--config", str(config), "sync"],
            capture_output=True, text=True, env=env(), timeout=60,
        )  # fmt: skip
        assert once.returncode == 0, once.stderr
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        with store.connect() as conn:
            [finished] = conn.execute(
                sa.select(runs.c.finished_at).where(runs.c.job == "sync", runs.c.outcome == "ok")
            ).scalars()
        store.dispose()
        daemon = Daemon(config, tmp_path / "daemon.log")
        daemons.append(daemon)
        port = daemon.started()["health_port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            exposition = answer.read().decode()
        assert daemon.stop() == 0
    found = re.search(r'syncd_last_success_timestamp_seconds\{job="sync"\} (\S+)', exposition)
    assert found and float(found.group(1)) == pytest.approx(finished.timestamp(), abs=1e-3)
