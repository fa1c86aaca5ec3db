"""The real ``syncd`` process where it meets the terminal: options anywhere, one line for a
mistake, a closed pipe, tables as wide as the terminal (a pty), a busy port."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

SYNCD = [sys.executable, "-m", "syncd"]


def syncd(
    *args: str, stdout: int = subprocess.PIPE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def in_pty(args: list[str], columns: int, env: dict[str, str]) -> tuple[int, str]:
    """Run ``syncd args`` on a pseudo-terminal ``columns`` wide; its exit code and output."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        [*SYNCD, *args], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture
def quiet_env(env: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return environ


def test_global_options_after_the_command(env: Path) -> None:
    config = str(env / "syncd.yaml")
    done = syncd("segments", "list", "--config", config, "--json")
    assert done.returncode == 0, done.stderr
    assert {"loyal_customers", "vip"} <= {s["name"] for s in json.loads(done.stdout)["segments"]}
    done = syncd("--json", "status", "--config=" + config)
    assert done.returncode == 0 and "schedules" in json.loads(done.stdout)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["stauts"], "Did you mean 'status'?"),
        (["segments", "show", "loyal_customer"], "did you mean 'loyal_customers'?"),
        (["status", "--verbose"], "No such option: --verbose"),
        (["pull", "shp"], "did you mean 'shop'?"),
    ],
)
def test_a_mistake_is_one_line_and_exit_2(env: Path, args: list[str], said: str) -> None:
    done = syncd("--config", str(env / "syncd.yaml"), *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "╭" not in done.stderr


def test_a_closed_pipe_ends_quietly(env: Path) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # the reader (head -3) has gone before syncd writes
    try:
        done = syncd("--config", str(env / "syncd.yaml"), "status", stdout=writer)
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 141


def test_tables_fit_the_terminal_and_a_pipe_gets_whole_rows(quiet_env: dict[str, str]) -> None:
    piped = syncd("plugins", env=quiet_env)
    assert piped.returncode == 0
    widest = max(len(line) for line in piped.stdout.splitlines())
    assert widest > 70  # the module paths make the rows long
    code, shown = in_pty(["plugins"], 60, quiet_env)
    assert code == 0, shown
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 60, shown
    assert lines[0].split() == ["TYPE", "CLASS", "FROM"]
    assert len(lines) > len(piped.stdout.splitlines())  # long cells wrapped in their column


def test_an_emulator_on_a_busy_port_is_one_line_exit_2() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = syncd("emulator", "activecampaign", "--port", str(port))
    finally:
        taken.close()
    assert done.returncode == 2
    assert done.stderr == (
        f"--port {port}: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["run", "--bogus"], "syncd run: unrecognized arguments: --bogus"),
        (["demo", "--people", "many"], "syncd demo: argument --people: invalid int value: 'many'"),
        (
            ["emulator", "activecampaign", "--port", "abc"],
            "syncd emulator: argument --port: invalid int value: 'abc'",
        ),
        (["emulator"], "syncd emulator: the following arguments are required: name"),
    ],
)
def test_a_mistake_in_a_command_with_its_own_options_is_one_line(
    args: list[str], said: str
) -> None:
    done = syncd(*args)
    assert done.returncode == 2
    assert done.stderr == f"{said} (see syncd {args[0]} --help)\n"
    assert done.stdout == ""


def test_the_status_page_on_a_busy_port_names_the_option(env: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = syncd("--config", str(env / "syncd.yaml"), "ui", "--port", str(port))
    finally:
        taken.close()
    assert done.returncode == 2
    assert done.stderr == (
        f"--port {port}: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_a_heading_is_never_broken(env: Path, quiet_env: dict[str, str]) -> None:
    """``status`` at 60 columns keeps each heading whole (its values fold in their
    columns); at 30, where the headings alone do not fit, each row is a record."""
    config = str(env / "syncd.yaml")
    assert syncd("--config", config, "sync", env=quiet_env).returncode == 0
    piped = syncd("--config", config, "status", env=quiet_env)
    headings = [
        line.split("  ") for line in piped.stdout.splitlines() if line.isupper() and "  " in line
    ]
    assert headings, piped.stdout
    for columns in (60, 30):
        code, shown = in_pty(["--config", config, "status"], columns, quiet_env)
        assert code == 0, shown
        if columns == 60:  # (a line of prose, not a table, may be wider than 30)
            assert max(len(line) for line in shown.splitlines()) <= columns, shown
        else:
            assert re.search(r"^DESTINATION +esp$", shown, re.M), shown  # a record
        words = set(shown.split())
        for row in headings:
            for heading in row:
                for word in heading.split():
                    assert word in words, f"{word} broken at {columns} columns:\n{shown}"
