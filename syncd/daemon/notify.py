"""sd_notify: tell systemd the daemon is ready, alive, reloading or stopping.

The protocol is one datagram of ``KEY=value`` lines to the unix socket named by
``$NOTIFY_SOCKET`` (a name starting with ``@`` is in the abstract namespace). Without the
variable every method does nothing, so the same daemon runs under systemd, in a container and
in a terminal.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("syncd.notify")


class Notifier:
    """Messages to systemd's notify socket; each one a no-op when there is no socket."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")

    @property
    def enabled(self) -> bool:
        """True when there is a notify socket to write to."""
        return self._address is not None

    def ready(self) -> None:
        self.send(f"READY=1\nMAINPID={os.getpid()}")

    def status(self, text: str) -> None:
        # one line: a newline would start another assignment
        self.send("STATUS=" + " ".join(text.split()))

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def reloading(self) -> None:
        # systemd (Type=notify-reload and newer notify) matches the reload by this timestamp
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or None when off."""
        if self._watchdog_pid and self._watchdog_pid.strip() != str(os.getpid()):
            return None  # the watchdog is meant for another process
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 2_000_000 if usec > 0 else None

    def send(self, message: str) -> bool:
        """Send one datagram; True when it went. A failure is logged, never raised."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode())
        except OSError as exc:
            # systemd gone or the socket unreachable: the daemon itself must carry on
            log.warning("sd_notify failed", error=str(exc), message=message.split("=", 1)[0])
            return False
        return True


def _socket_address(name: str) -> str | None:
    if not name:
        return None
    if name.startswith("@"):
        return "\0" + name[1:]
    if name.startswith("/"):
        return name
    log.warning("NOTIFY_SOCKET is neither a path nor an abstract name; not notifying", value=name)
    return None
