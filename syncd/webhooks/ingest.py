"""``POST /webhooks/{instance}`` on the daemon's port: bound the body, verify, read, store
durably (with the deliveries of concurrent requests, in one transaction), then answer.

A request is answered 200 only once its delivery is committed to the store's inbox; a forged
one 401 and a body that cannot be read 400, both counted and never stored; a body over
``webhooks.max_body`` 413; and 503 with ``Retry-After`` when the inbox holds ``webhooks.queue``
deliveries not yet applied (or the store stays busy), which the vendors retry.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from syncd import metrics
from syncd.connectors.webhooks import WebhookReceiver, WebhookRefused, WebhookRequest
from syncd.daemon.health import NOT_FOUND
from syncd.errors import error_line
from syncd.secrets import redact
from syncd.webhooks.group_commit import GroupCommit
from syncd.webhooks.inbox import pending_count

if TYPE_CHECKING:
    from syncd.runtime import Runtime

log = structlog.get_logger("syncd.webhooks")

PREFIX = "/webhooks/"


class Backlog:
    """How many deliveries are stored and not applied yet, plus those being stored: what
    the bounded queue counts. Read from the store once, then kept in memory."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._stored: int | None = None
        self._storing = 0
        #: when the first delivery the micro-cycles have not taken yet was stored (monotonic)
        self._first: float | None = None
        self.changed = threading.Event()  # set when a delivery is stored: the worker wakes
        #: contacts a micro-cycle applied and could not plan or push (it failed): the next
        #: micro-cycle plans them with its own (only the micro-cycle's thread touches it)
        self.unplanned: set[int] = set()

    def load(self, engine: sa.Engine, *, again: bool = False) -> None:
        """Count what the store holds not applied yet: once, or ``again`` (another replica's
        micro-cycle may have applied what this one stored)."""
        with self._lock:
            if self._stored is not None and not again:
                return
        found = pending_count(engine)
        with self._lock:
            self._stored = found
            if found and self._first is None:
                self._first = self._monotonic()
        if found:
            self.changed.set()

    def reserve(self, bound: int) -> bool:
        """Take a place for one delivery; False when ``bound`` are taken already."""
        with self._lock:
            if (self._stored or 0) + self._storing >= bound:
                return False
            self._storing += 1
            return True

    def release(self, stored: bool) -> None:
        with self._lock:
            self._storing -= 1
            if stored:
                self._stored = (self._stored or 0) + 1
                if self._first is None:
                    self._first = self._monotonic()
        if stored:
            self.changed.set()

    def due_in(self, debounce: float) -> float:
        """Seconds until ``debounce`` has passed since the first delivery not taken yet: a
        delivery stored while a micro-cycle ran has waited that long already."""
        with self._lock:
            if self._first is None:
                return debounce
            return max(0.0, self._first + debounce - self._monotonic())

    def take(self) -> None:
        """A micro-cycle takes what is stored: the next burst's window starts with the next
        delivery."""
        with self._lock:
            self._first = None
        self.changed.clear()

    def applied(self, count: int) -> None:
        with self._lock:
            self._stored = max(0, (self._stored or 0) - count)

    @property
    def size(self) -> int:
        with self._lock:
            return (self._stored or 0) + self._storing


class Receivers:
    """The webhook receiver of each connector instance named under ``webhooks.connectors``,
    made once per runtime (a reload makes them again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._for: int | None = None
        self._made: dict[str, WebhookReceiver | None] = {}

    def of(self, rt: Runtime, instance: str) -> WebhookReceiver | None:
        with self._lock:
            if self._for != id(rt):
                self._for, self._made = id(rt), {}
            if instance not in self._made:
                self._made[instance] = _make(rt, instance)
            return self._made[instance]


def _make(rt: Runtime, instance: str) -> WebhookReceiver | None:
    secrets = rt.config.webhooks.connectors.get(instance)
    connector = rt.connectors.get(instance)
    if secrets is None or connector is None:
        return None
    factory = rt.plugins.webhook_receivers().get(rt.config.connectors[instance].type)
    if factory is None:
        return None
    receiver: WebhookReceiver = factory(connector, secrets, rt.clock)
    return receiver


class Ingest:
    """The ASGI app of ``POST /webhooks/{instance}``, over the daemon's current runtime."""

    def __init__(
        self,
        runtime: Callable[[], Runtime],
        backlog: Backlog | None = None,
        receivers: Receivers | None = None,
    ) -> None:
        self.runtime = runtime
        self.backlog = backlog or Backlog()
        self.receivers = receivers or Receivers()
        self.inbox = GroupCommit()  # concurrent deliveries share a transaction

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.answer(request)
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        instance = request.url.path[len(PREFIX) :]
        rt = self.runtime()
        receiver = self.receivers.of(rt, instance) if "/" not in instance else None
        if receiver is None:
            return _text(404, NOT_FOUND)
        if request.method != "POST":
            return _text(405, "webhooks are POST\n", {"Allow": "POST"})
        config = rt.config.webhooks
        retry = str(max(1, int(config.retry_after.total_seconds())))
        try:
            body = await _bounded_body(request, config.max_body)
        except ClientDisconnect:
            return self._refused(instance, 400, "unreadable", "the client went away")
        if body is None:
            return self._refused(instance, 413, "too_large", f"body over {config.max_body} bytes")
        webhook = WebhookRequest(
            method=request.method,
            url=_url(request, config.public_url),
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=body,
            received_at=rt.clock(),
        )
        try:
            receiver.verify(webhook)
            delivery = receiver.read(webhook)
        except WebhookRefused as refused:
            kind = "unauthorized" if refused.status == 401 else "unreadable"
            return self._refused(instance, refused.status, kind, refused.reason)
        except Exception as exc:  # a receiver's bug: the vendor sends it again later
            log.error(
                "webhook receiver failed",
                instance=instance,
                error=redact(error_line(exc)),
                traceback=traceback.format_exc(),
            )
            return self._refused(instance, 500, "failed", "the receiver failed")
        self.backlog.load(rt.engine)
        reserved = self.backlog.reserve(config.queue)
        if not reserved:  # full as this process counts: is it so in the store?
            self.backlog.load(rt.engine, again=True)
            reserved = self.backlog.reserve(config.queue)
        if not reserved:
            return self._refused(
                instance, 503, "queue_full", "the queue is full", {"Retry-After": retry}
            )
        stored = False
        try:
            new = await run_in_threadpool(self.inbox.store, rt.engine, instance, webhook, delivery)
            stored = new
        except sa.exc.OperationalError as exc:
            log.warning("webhook not stored", instance=instance, error=redact(error_line(exc)))
            return self._refused(instance, 503, "busy", "the store is busy", {"Retry-After": retry})
        finally:
            self.backlog.release(stored)
        if new:
            metrics.WEBHOOKS_RECEIVED.labels(instance, delivery.topic[:100]).inc()
            return _text(200, "stored\n")
        metrics.WEBHOOKS_REPLAYED.labels(instance).inc()
        return _text(200, "stored before\n")

    def _refused(
        self,
        instance: str,
        status: int,
        reason: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        metrics.WEBHOOKS_REFUSED.labels(instance, reason).inc()
        log.warning("webhook refused", instance=instance, status=status, reason=redact(detail))
        return _text(status, redact(detail) + "\n", headers)


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _url(request: Request, public_url: str | None) -> str:
    """The URL the vendor called: the public one when configured (a proxy in between
    changes scheme and host), else the one this request names."""
    if public_url is None:
        return str(request.url)
    query = request.url.query
    return public_url + request.url.path + (f"?{query}" if query else "")


def _text(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body.encode(),
        status,
        {"Cache-Control": "no-store", **(headers or {})},
        media_type="text/plain; charset=utf-8",
    )


def received_lag(received_at: datetime, now: datetime) -> float:
    """Seconds from a delivery's arrival to ``now``, never negative."""
    return max(0.0, (now - received_at).total_seconds())
