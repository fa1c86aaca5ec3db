"""The daemon's HTTP endpoint: ``/healthz``, ``/readyz`` and Prometheus ``/metrics``.

It runs in its own threads beside the scheduler and must never take the daemon down: a
readiness check that fails is a 503 saying why, and a broken request is that request's
problem only.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
import structlog

from syncd import metrics
from syncd.clock import Clock, as_utc
from syncd.duration import duration_text
from syncd.errors import ConfigError, first_line
from syncd.secrets import redact
from syncd.store.schema import outbox, runs
from syncd.sync.failures import NOT_OK
from syncd.sync.outbox import OPEN

log = structlog.get_logger("syncd.health")

Readiness = Callable[[], tuple[bool, str]]


class HealthServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` on ``address`` in daemon threads."""

    def __init__(self, address: str, readiness: Readiness) -> None:
        self.address = address
        self.host, self._requested_port = parse_address(address)
        self.readiness = readiness
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve; ConfigError (one line) when the address cannot be bound."""
        if self._server is not None:
            return
        server_class = _V6Server if ":" in self.host else _V4Server
        try:
            server = server_class((self.host, self._requested_port), _handler(self.readiness))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.address}: {exc.strerror or exc}", path="daemon.health"
            ) from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="syncd-health",
            daemon=True,
        )
        self._thread.start()
        log.info("health endpoint listening", address=f"{self.host}:{self.port}")

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        """The bound port (the one the system chose when the address asked for port 0)."""
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:9780"``, ``"[::1]:9780"`` or ``":9780"`` (loopback) → host and port."""
    text = address.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ConfigError(
            f"health address {address!r} needs a port, like 127.0.0.1:9780", path="daemon.health"
        )
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(
            f"health address {address!r}: the port must be a number from 0 to 65535",
            path="daemon.health",
        )
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(
                f"health address {address!r}: {host!r} is not an IP address "
                "(use 127.0.0.1, ::1 or 0.0.0.0)",
                path="daemon.health",
            ) from None
    return host, port


class _V4Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hung up early is its own problem: one log line, no traceback on stderr
        error = sys.exc_info()[1]
        log.debug("health request failed", client=client_address[0], error=repr(error))


class _V6Server(_V4Server):
    address_family = socket.AF_INET6


def _handler(readiness: Readiness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "syncd"
        timeout = 10  # a client that never finishes its request does not hold a thread

        head = False

        def do_HEAD(self) -> None:
            self.head = True
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._reply(200, b"ok\n")
            elif path == "/readyz":
                ready, reason = _check(readiness)
                self._reply(200 if ready else 503, (reason + "\n").encode())
            elif path == "/metrics":
                try:
                    body, content_type = metrics.exposition()
                except Exception as exc:  # a broken collector must not break the endpoint
                    log.warning("metrics failed", error=str(exc))
                    self._reply(500, f"metrics failed: {exc}\n".encode())
                    return
                self._reply(200, body, content_type)
            else:
                self._reply(404, b"not found: try /healthz, /readyz or /metrics\n")

        def _reply(
            self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not self.head:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health request", client=self.client_address[0], line=format % args)

    return Handler


def _check(readiness: Readiness) -> tuple[bool, str]:
    try:
        ready, reason = readiness()
    except Exception as exc:
        return False, redact(f"readiness check failed: {first_line(exc)}")
    return bool(ready), redact(str(reason))


def readiness(
    engine: sa.Engine, ready_within: timedelta, clock: Clock, jobs: Sequence[str]
) -> tuple[bool, str]:
    """Ready when the store answers and one of ``jobs`` last succeeded within ``ready_within``,
    and no run of them failed or was partial since (degraded until a run is ok again)."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            last, latest = None, None
            if jobs:
                last = conn.execute(
                    sa.select(sa.func.max(runs.c.finished_at)).where(
                        runs.c.job.in_(list(jobs)), runs.c.outcome == "ok"
                    )
                ).scalar()
                latest = conn.execute(
                    sa.select(runs.c.job, runs.c.outcome, runs.c.error, runs.c.finished_at)
                    .where(runs.c.job.in_(list(jobs)), runs.c.finished_at.is_not(None))
                    .order_by(runs.c.finished_at.desc())
                    .limit(1)
                ).first()
    except Exception as exc:
        return False, f"store unreachable: {first_line(exc)}"
    if not jobs:
        return True, "ok: the store answers; no schedule to wait for"
    # a partial run (a source or destination failed, the rest went on) is not a success
    partial = f"; the last run was partial: {latest.error}" if latest and (
        latest.outcome == "partial"
    ) else ""  # fmt: skip
    if last is None:
        return False, "no successful run yet" + partial
    age = max(timedelta(0), clock() - last)
    if age > ready_within:
        return False, f"last successful run {ago(age)} ago, older than {ago(ready_within)}{partial}"
    if latest is not None and latest.outcome in NOT_OK and as_utc(latest.finished_at) > last:
        # an ok run at the same time (another job) counts as the newer news
        what = "was partial" if latest.outcome == "partial" else latest.outcome
        since = ago(max(timedelta(0), clock() - as_utc(latest.finished_at)))
        return False, (
            f"degraded: the last run ({latest.job}, {since} ago) {what}: "
            f"{latest.error or 'no reason recorded'}; last successful run {ago(age)} ago"
        )
    return True, f"ok: last successful run {ago(age)} ago"


def refresh_backlog(engine: sa.Engine) -> None:
    """Set OUTBOX_BACKLOG from the outbox; a label set that emptied goes back to zero."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.destination, outbox.c.status, sa.func.count())
            .where(outbox.c.status.in_(OPEN))  # still waiting to be sent
            .group_by(outbox.c.destination, outbox.c.status)
        ).all()
    counts = {(str(d), str(s)): int(n) for d, s, n in rows}
    with _backlog_lock:
        for key in _backlog_seen - counts.keys():
            metrics.OUTBOX_BACKLOG.labels(*key).set(0)
        for key, n in counts.items():
            metrics.OUTBOX_BACKLOG.labels(*key).set(n)
        _backlog_seen.update(counts)


_backlog_lock = threading.Lock()
_backlog_seen: set[tuple[str, str]] = set()


def refresh_last_success(engine: sa.Engine) -> None:
    """Set LAST_SUCCESS of every job from the store's runs, so a restarted daemon, or a
    replica that did not run the job itself, reports the same time as the one that did."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(runs.c.job, sa.func.max(runs.c.finished_at))
            .where(runs.c.outcome == "ok", runs.c.finished_at.is_not(None))
            .group_by(runs.c.job)
        ).all()
    for job, finished in rows:
        metrics.LAST_SUCCESS.labels(str(job)).set(finished.timestamp())


def ago(delta: timedelta) -> str:
    """How long ago, in words for people, to the minute: ``45s``, ``4m``, ``2h 30m``, ``2d 3h``."""
    seconds = int(delta.total_seconds())
    return duration_text(seconds if seconds < 60 else seconds // 60 * 60)
