"""sd_notify: the datagrams systemd would receive, on a real unix socket bound by the test."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.daemon.notify import Notifier


class Listener:
    """A unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, address: str, env_name: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(2)
        self.env = {"NOTIFY_SOCKET": env_name}

    def receive(self) -> str:
        return self.sock.recv(4096).decode()

    def nothing_waiting(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(2)
        return False


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    path = tmp_path / "notify.sock"
    listen = Listener(str(path), str(path))
    yield listen
    listen.sock.close()


def test_ready_sends_ready_and_main_pid(listener: Listener) -> None:
    Notifier(listener.env).ready()
    assert listener.receive() == f"READY=1\nMAINPID={os.getpid()}"


def test_each_message_exactly(listener: Listener) -> None:
    notifier = Notifier(listener.env)
    notifier.status("last run: sync ok\n3 changes")
    assert listener.receive() == "STATUS=last run: sync ok 3 changes"
    notifier.watchdog()
    assert listener.receive() == "WATCHDOG=1"
    notifier.stopping()
    assert listener.receive() == "STOPPING=1"
    assert listener.nothing_waiting()


def test_reloading_carries_the_monotonic_time(listener: Listener) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier(listener.env).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = listener.receive().split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_abstract_socket_name() -> None:
    name = f"syncd-test-{uuid.uuid4().hex}"
    listen = Listener("\0" + name, "@" + name)
    try:
        Notifier(listen.env).watchdog()
        assert listen.receive() == "WATCHDOG=1"
    finally:
        listen.sock.close()


def test_no_socket_means_nothing_is_sent(listener: Listener) -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready()
    notifier.status("x")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()
    assert notifier.send("READY=1") is False
    assert listener.nothing_waiting()


def test_a_vanished_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.send("READY=1") is False
    notifier.ready()  # no exception


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 60.0),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}, 1.5),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert Notifier(env).watchdog_interval() == expected


def test_reads_the_process_environment(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.env["NOTIFY_SOCKET"])
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier()
    assert notifier.watchdog_interval() == 5.0
    notifier.status("ready")
    assert listener.receive() == "STATUS=ready"
