"""The deployment files: the systemd unit, the Containerfile and its ignore files, and the
sd_notify conversation the unit's ``Type=notify`` and ``WatchdogSec=`` rely on, with the real
``syncd run`` process."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer

from syncd.cli import app, read_argv
from syncd.config import DaemonConfig
from syncd.daemon import command
from syncd.daemon.health import HealthServer
from syncd.daemon.notify import Notifier
from syncd.metrics import REGISTRY

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "config" / "syncd.service"
CONTAINERFILE = REPO / "Containerfile"
VENV_SYNCD = Path(sys.executable).with_name("syncd")


def cli(argv: list[str]) -> argparse.Namespace:
    """``argv`` read as ``syncd.cli.main`` reads it: a command's own options go to the command,
    and they must be valid for it."""
    read = read_argv(argv)
    typer.main.get_command(app).make_context("syncd", list(read.args))  # the CLI accepts it
    args = argparse.Namespace(command=read.command, config=read.config, argv=read.argv)
    if args.command == "run":
        args.run = command.parser().parse_args(args.argv)
    return args


# --- the systemd unit --------------------------------------------------------------------


def read_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file, each a list of (key, value): keys may repeat in systemd."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in read_unit(UNIT.read_text())["Service"]:
        found.setdefault(key, []).append(value)
    return found


def one(service: dict[str, list[str]], key: str) -> str:
    values = service.get(key, [])
    assert len(values) == 1, f"{key}= should be set once, found {values}"
    return values[0]


def seconds(value: str) -> float:
    """A systemd time span such as ``120s``, ``2min``, ``1h 30s`` or a bare ``90``."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts, f"not a time span: {value!r}"
    for number, unit in parts:
        total += float(number) * units[unit]
    return total


def test_unit_is_type_notify_with_a_watchdog(service: dict[str, list[str]]) -> None:
    assert one(service, "Type") == "notify"
    assert one(service, "NotifyAccess") == "main"
    watchdog = seconds(one(service, "WatchdogSec"))
    assert watchdog >= 10
    # what systemd hands the process, and what syncd makes of it: a ping at half the period
    env = {"WATCHDOG_USEC": str(int(watchdog * 1_000_000))}
    assert Notifier(env).watchdog_interval() == watchdog / 2


def test_unit_starts_and_reloads_syncd_as_the_cli_reads_it(service: dict[str, list[str]]) -> None:
    argv = shlex.split(one(service, "ExecStart"))
    assert argv[0] == "/usr/local/bin/syncd"
    args = cli(argv[1:])
    assert args.command == "run"
    assert args.config == "/etc/syncd/syncd.yaml"
    assert shlex.split(one(service, "ExecReload")) == ["/bin/kill", "-HUP", "$MAINPID"]
    assert one(service, "KillSignal") == "SIGTERM"
    assert one(service, "Restart") == "on-failure"


def test_unit_waits_longer_than_the_daemon_takes_to_stop(service: dict[str, list[str]]) -> None:
    shutdown = DaemonConfig().shutdown_timeout
    stop = timedelta(seconds=seconds(one(service, "TimeoutStopSec")))
    assert shutdown < stop <= shutdown + timedelta(minutes=2)


HARDENING = {
    "DynamicUser": "yes",
    "StateDirectory": "syncd",
    "ConfigurationDirectory": "syncd",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
}


def test_unit_keeps_its_hardening(service: dict[str, list[str]]) -> None:
    for key, value in HARDENING.items():
        assert one(service, key) == value, key
    assert "@system-service" in service["SystemCallFilter"]


def test_unit_environment_puts_the_store_in_the_state_directory(
    service: dict[str, list[str]],
) -> None:
    env = dict(item.split("=", 1) for item in service["Environment"])
    assert env["SYNCD_LOG_FORMAT"] == "json"
    state = "/var/lib/" + one(service, "StateDirectory")
    assert env["SYNCD_STORE_URL"] == f"sqlite:///{state}/syncd.db"
    config = shlex.split(one(service, "ExecStart"))[2]
    assert config.startswith("/etc/" + one(service, "ConfigurationDirectory") + "/")


def analyze(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    analyzer = shutil.which("systemd-analyze")
    if analyzer is None:
        pytest.skip("systemd-analyze is not installed here, so the unit cannot be verified")
    unit = tmp_path / "syncd.service"
    unit.write_text(unit_text)
    return subprocess.run(
        [analyzer, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify insists that ExecStart's program exists: the copy checked here starts this
    # virtualenv's syncd instead of /usr/local/bin/syncd, and is otherwise the unit itself
    text = UNIT.read_text()
    assert "/usr/local/bin/syncd " in text
    result = analyze(text.replace("/usr/local/bin/syncd ", f"{VENV_SYNCD} "), tmp_path)
    complaints = [line for line in result.stderr.splitlines() if "syncd.service" in line]
    assert result.returncode == 0, result.stderr
    assert complaints == []


def test_systemd_analyze_would_notice_a_mistake(tmp_path: Path) -> None:
    # the check above can fail: verify reports a misspelt setting in this environment
    text = UNIT.read_text().replace("/usr/local/bin/syncd ", f"{VENV_SYNCD} ")
    result = analyze(text.replace("Type=notify", "Type=notfy"), tmp_path)
    assert "notfy" in result.stderr


# --- the Containerfile -------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Containerfile ends in a continuation line"
    return out


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions(CONTAINERFILE.read_text()):
        if word == "FROM":
            found.append([])
        assert found, "the Containerfile must start with FROM"
        found[-1].append((word, rest))
    return found


def final(stages: list[list[tuple[str, str]]], word: str) -> list[str]:
    return [rest for w, rest in stages[-1] if w == word]


def test_containerfile_builds_a_wheel_then_runs_on_slim_python(
    stages: list[list[tuple[str, str]]],
) -> None:
    assert len(stages) >= 2, "a multi-stage build"
    assert stages[0][0][1].startswith("python:3.12-slim AS ")
    assert stages[-1][0][1] == "python:3.12-slim"
    build = " ".join(rest for word, rest in stages[0] if word == "RUN")
    assert "pip wheel" in build
    for word, rest in stages[-1]:
        if word == "COPY" and not rest.startswith("--from="):
            for source in rest.split()[:-1]:
                assert (REPO / source).exists(), source


def test_containerfile_runs_as_a_fixed_non_root_user(stages: list[list[tuple[str, str]]]) -> None:
    (user,) = final(stages, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "a numeric uid, so runAsNonRoot can check it"
    created = " ".join(final(stages, "RUN"))
    assert f"--uid {uid}" in created
    assert f"chown {user} /var/lib/syncd" in created


def test_containerfile_volumes_and_environment(stages: list[list[tuple[str, str]]]) -> None:
    (volumes,) = final(stages, "VOLUME")
    assert json.loads(volumes) == ["/etc/syncd", "/var/lib/syncd"]
    env: dict[str, str] = {}
    for rest in final(stages, "ENV"):
        env.update(item.split("=", 1) for item in shlex.split(rest))
    assert env["SYNCD_CONFIG"] == "/etc/syncd/syncd.yaml"
    assert env["SYNCD_STORE_URL"] == "sqlite:////var/lib/syncd/syncd.db"
    assert env["SYNCD_LOG_FORMAT"] == "json"


def container_command(stages: list[list[tuple[str, str]]]) -> list[str]:
    (entrypoint,) = final(stages, "ENTRYPOINT")
    (cmd,) = final(stages, "CMD")
    assert json.loads(entrypoint) == ["syncd"]
    return list(json.loads(cmd))


def test_containerfile_command_is_one_the_cli_accepts(stages: list[list[tuple[str, str]]]) -> None:
    args = cli(container_command(stages))
    assert args.command == "run"
    (exposed,) = final(stages, "EXPOSE")
    assert args.run.health.rsplit(":", 1)[1] == exposed


def healthcheck_argv(stages: list[list[tuple[str, str]]]) -> list[str]:
    (check,) = final(stages, "HEALTHCHECK")
    options, _, cmd = check.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(cmd)
    assert argv[:2] == ["python", "-c"]
    return list(argv)


def test_healthcheck_asks_healthz_on_the_daemons_port(
    stages: list[list[tuple[str, str]]],
) -> None:
    code = healthcheck_argv(stages)[2]
    port = cli(container_command(stages)).run.health.rsplit(":", 1)[1]
    assert f"http://127.0.0.1:{port}/healthz" in code


def test_healthcheck_command_passes_and_fails_for_real(
    stages: list[list[tuple[str, str]]],
) -> None:
    code = healthcheck_argv(stages)[2]
    with HealthServer("127.0.0.1:0", lambda: (False, "not ready")) as health:
        up = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{health.port}", code)
        assert subprocess.run([sys.executable, "-c", up], timeout=30).returncode == 0
        port = health.port
    down = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", code)
    result = subprocess.run([sys.executable, "-c", down], capture_output=True, timeout=30)
    assert result.returncode != 0
    wrong_path = up.replace("/healthz", "/nothing-here")
    with HealthServer(f"127.0.0.1:{port}", lambda: (True, "ok")):
        result = subprocess.run([sys.executable, "-c", wrong_path], capture_output=True, timeout=30)
    assert result.returncode != 0  # a 404 is a failed check, not a pass


def test_ignore_files_agree_and_keep_what_the_build_copies(
    stages: list[list[tuple[str, str]]],
) -> None:
    container = (REPO / ".containerignore").read_text()
    assert (REPO / ".dockerignore").read_text() == container
    patterns = [p for p in container.splitlines() if p and not p.startswith("#")]
    assert {".git", ".venv"} <= set(patterns)
    copied = [
        source
        for stage in stages
        for word, rest in stage
        if word == "COPY" and not rest.startswith("--from=")
        for source in rest.split()[:-1]
    ]
    assert "syncd" in copied and "plugins" in copied
    for source in copied:
        top = source.split("/")[0]
        assert top not in patterns, f"{source} is copied but ignored"


# --- the notify conversation with the real process ---------------------------------------


class NotifySocket:
    """What systemd would receive from the service on its notify socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, wanted: str, timeout: float = 45.0) -> list[str]:
        """Receive until a message starting with ``wanted`` arrives; every message so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(message)
            if message.startswith(wanted):
                return self.messages
        raise AssertionError(f"no {wanted} within {timeout}s; received {self.messages}")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.sock.close()


def test_the_daemon_speaks_sd_notify_as_the_unit_expects(
    sample_dir: Path, tmp_path: Path, notify_socket: NotifySocket
) -> None:
    config = sample_dir / "syncd.yaml"
    state = tmp_path / "state"
    state.mkdir()
    # the sample config, with its store and its files destination in a state folder
    text = config.read_text()
    text = text.replace("sqlite:///../var/syncd.db", f"sqlite:///{state}/syncd.db")
    text = text.replace("../var/esp/state.json", f"{state}/esp.json")
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "WATCHDOG_"))}
    env.update(
        NOTIFY_SOCKET=str(notify_socket.path),
        WATCHDOG_USEC="1000000",  # WatchdogSec=1s: a ping every half second
        SYNCD_LOG_FORMAT="json",
    )
    argv = [sys.executable, "-m", "syncd.cli", "--config", str(config), "run"]
    with (tmp_path / "daemon.log").open("wb") as log:
        proc = subprocess.Popen([*argv, "--health", "127.0.0.1:0"], stdout=log, stderr=log, env=env)
    try:
        ready = notify_socket.wait_for("READY=1")[-1]
        assert ready == f"READY=1\nMAINPID={proc.pid}"
        # the first run's outcome reaches systemctl status, then the watchdog keeps pinging
        notify_socket.wait_for("STATUS=sync")
        pings = len([m for m in notify_socket.messages if m == "WATCHDOG=1"])
        for _ in range(2):
            notify_socket.wait_for("WATCHDOG=1", timeout=10)
        assert len([m for m in notify_socket.messages if m == "WATCHDOG=1"]) >= pings + 2

        proc.send_signal(signal.SIGHUP)
        reloading = notify_socket.wait_for("RELOADING=1")[-1]
        assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", reloading)
        assert notify_socket.wait_for("READY=1")[-1] == f"READY=1\nMAINPID={proc.pid}"

        proc.send_signal(signal.SIGTERM)
        notify_socket.wait_for("STOPPING=1")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# --- docs/deploy.md ----------------------------------------------------------------------


def test_deploy_docs_list_every_metric_and_daemon_setting() -> None:
    docs = (REPO / "docs" / "deploy.md").read_text()
    for family in REGISTRY.collect():
        if family.name.startswith("syncd_"):
            shown = family.name + ("_total" if family.type == "counter" else "")
            assert f"`{shown}`" in docs, f"{shown} is not in docs/deploy.md"
    for setting in DaemonConfig.model_fields:
        assert re.search(rf"^  {setting}: ", docs, re.MULTILINE), setting
