"""The daemon's HTTP endpoint: ``/healthz``, ``/readyz`` and Prometheus ``/metrics``, and the
status page (syncd.ui) beside them, and webhook ingest (``POST /webhooks/NAME``,
syncd.webhooks.ingest), as one ASGI app served by uvicorn.

It runs in its own thread beside the scheduler and must never take the daemon down: a
readiness check that fails is a 503 saying why, and a broken request is that request's
problem only. The health endpoints answer without the page's token: probes and Prometheus
scrapes carry none, and they show no contact.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

import sqlalchemy as sa
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

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
HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
NOT_FOUND = "not found: try /healthz, /readyz or /metrics\n"


class HealthServer:
    """Serves ``/healthz``, ``/readyz``, ``/metrics`` and, given ``pages``, the status page on
    ``address`` in a thread of its own.

    Off loopback the page needs ``token``: without one the server refuses to start."""

    def __init__(
        self,
        address: str,
        readiness: Readiness,
        *,
        pages: ASGIApp | None = None,
        token: str | None = None,
        webhooks: ASGIApp | None = None,
        where: str = "daemon.health",
    ) -> None:
        self.address = address
        self.where = where  # what the operator set the address with, for a bind error
        self.webhooks = webhooks
        self.host, self._requested_port = parse_address(address)
        self.readiness = readiness
        self.pages = pages
        self.token = token or None
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve; ConfigError (one line) when the address cannot be bound, or the
        page would be served off loopback without a token."""
        if self._server is not None:
            return
        if self.pages is not None and self.token is None and not is_loopback(self.host):
            raise ConfigError(
                f"the status page would be served on {self.address}, off loopback, without a "
                "token: set daemon.ui_token (e.g. ${SYNCD_UI_TOKEN}), bind 127.0.0.1, "
                "or turn the page off with ui: {enabled: false}",
                path="daemon.ui_token",
            )
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {self.address}: {exc.strerror or exc}", path=self.where
            ) from None
        app = build_app(self.readiness, pages=self.pages, token=self.token, webhooks=self.webhooks)
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level=logging.WARNING,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
            server_header=False,
        )
        server = uvicorn.Server(config)
        self._server, self._socket = server, sock
        started = threading.Event()
        self._thread = threading.Thread(
            target=_serve, args=(server, sock, started), name="syncd-health", daemon=True
        )
        self._thread.start()
        started.wait(10)
        log.info("health endpoint listening", address=f"{self.host}:{self.port}")

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    @property
    def port(self) -> int:
        """The bound port (the one the system chose when the address asked for port 0)."""
        if self._socket is None:
            return self._requested_port
        return int(self._socket.getsockname()[1])

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(server: uvicorn.Server, sock: socket.socket, started: threading.Event) -> None:
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            loop.run_until_complete(asyncio.sleep(0.01))
        started.set()
        loop.run_until_complete(task)
    finally:
        started.set()
        loop.close()


def is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def build_app(
    readiness: Readiness,
    *,
    pages: ASGIApp | None = None,
    token: str | None = None,
    webhooks: ASGIApp | None = None,
) -> ASGIApp:
    """The one ASGI app: the health endpoints, the status page under ``/``, read-only and
    with the page's security headers (syncd.ui.guard); and, given ``webhooks``, the paths
    under ``/webhooks/``, which take POST without the page's token (each vendor's own
    signature or secret guards them)."""
    from syncd.ui.guard import Guard

    def healthz(request: Request) -> Response:
        return _text(200, "ok\n")

    def readyz(request: Request) -> Response:
        ready, reason = _check(readiness)
        return _text(200 if ready else 503, reason + "\n")

    def metrics_page(request: Request) -> Response:
        try:
            body, content_type = metrics.exposition()
        except Exception as exc:  # a broken collector must not break the endpoint
            log.warning("metrics failed", error=str(exc))
            return _text(500, f"metrics failed: {exc}\n")
        return Response(body, 200, {"Cache-Control": "no-store"}, media_type=content_type)

    routes: list[Route | Mount] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_page),
    ]
    if pages is not None:
        routes.append(Mount("/", app=pages))

    async def not_found(request: Request, exc: Exception) -> Response:
        return _text(404, NOT_FOUND)

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    guarded = Guard(app, token=token, open_paths=HEALTH_PATHS)
    if webhooks is None:
        return guarded
    return _WebhooksBeside(webhooks, guarded)


class _WebhooksBeside:
    """Sends ``/webhooks/...`` to the ingest and everything else through the guard."""

    def __init__(self, webhooks: ASGIApp, rest: ASGIApp) -> None:
        self.webhooks, self.rest = webhooks, rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/webhooks/"):
            await self.webhooks(scope, receive, send)
        else:
            await self.rest(scope, receive, send)


def _text(status: int, body: str) -> Response:
    return Response(
        body.encode(),
        status,
        {"Cache-Control": "no-store"},
        media_type="text/plain; charset=utf-8",
    )


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
