"""Webhooks an emulator sends: a courier that posts them from background threads, so the
request that changed the state never waits for them, and retries them on the vendor's
documented schedule.

A vendor's emulator says how a delivery looks (its body and signed headers, made for each
attempt) and how its vendor retries (``RetryPolicy``); the courier does the rest. Events for
one address may be batched (``batch`` > 1: events queued before the first is sent go in one
request, as a vendor that sends arrays does). The schedule's delays are the vendor's,
multiplied by ``time_scale`` (an emulator's retries would otherwise take hours); a
``Retry-After`` the receiver sends with a 503 or 429 is honoured as given.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

#: makes one attempt's request: (the events it carries, the attempt number from 0) →
#: (body, headers)
Render = Callable[[list[Any], int], tuple[bytes, dict[str, str]]]


@dataclass(frozen=True)
class RetryPolicy:
    """How a vendor retries a delivery: the delays in seconds before each retry (empty: never
    retried) and which answers it retries (by default any that is not 2xx)."""

    delays: tuple[float, ...] = ()
    retries: Callable[[int], bool] = field(default=lambda status: not 200 <= status < 300)

    @classmethod
    def exponential(cls, count: int, window: float) -> RetryPolicy:
        """``count`` retries whose delays double and add up to ``window`` seconds."""
        first = window / (2**count - 1)
        return cls(tuple(first * 2**i for i in range(count)))


@dataclass(frozen=True)
class Attempt:
    """One attempt at a delivery, as the courier logged it."""

    url: str
    topic: str
    attempt: int  # 0: the first try
    status: int  # 0: no answer (the connection failed or timed out)
    events: int  # how many events the request carried
    at: float  # time.time() when the answer came
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Parcel:
    url: str
    topic: str
    events: list[Any]
    render: Render
    attempt: int = 0


class Courier:
    """Posts webhooks from ``workers`` background threads; ``wait_idle`` blocks until all
    queued deliveries are done (delivered, or given up after the last retry)."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        batch: int = 1,
        time_scale: float = 0.001,
        timeout: float = 5.0,
        workers: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.policy, self.batch, self.time_scale = policy, max(1, batch), time_scale
        self.log: list[Attempt] = []
        self._timeout, self._transport, self._workers = timeout, transport, max(1, workers)
        self._client: httpx.Client | None = None
        self._lock = threading.Condition()
        self._open: dict[str, _Parcel] = {}  # batches still taking events
        self._due: list[tuple[float, int, _Parcel]] = []  # a heap by due time
        self._seq = itertools.count()
        self._busy = 0
        self._closed = False
        self._threads: list[threading.Thread] = []  # started by the first delivery

    def _start(self) -> None:
        self._client = httpx.Client(
            timeout=self._timeout, transport=self._transport, follow_redirects=False
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"syncd-emulator-webhooks-{i}", daemon=True)
            for i in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()

    def send(self, url: str, topic: str, event: Any, render: Render) -> None:
        """Queue ``event`` for ``url``; with batching, in the batch still waiting there."""
        with self._lock:
            if not self._threads:
                self._start()
            key = url
            parcel = self._open.get(key) if self.batch > 1 else None
            if parcel is not None and len(parcel.events) < self.batch:
                parcel.events.append(event)
                return
            parcel = _Parcel(url, topic, [event], render)
            if self.batch > 1:
                self._open[key] = parcel
            heapq.heappush(self._due, (time.monotonic(), next(self._seq), parcel))
            self._lock.notify()

    def pending(self) -> int:
        """Deliveries queued, waiting for a retry or being sent."""
        with self._lock:
            return len(self._due) + self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight; False when ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._due or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
        return True

    def attempts(self, topic: str | None = None) -> list[Attempt]:
        with self._lock:
            return [a for a in self.log if topic is None or a.topic == topic]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=2)
        if self._client is not None:
            self._client.close()

    # --- the workers --------------------------------------------------------------------------

    def _next(self) -> _Parcel | None:
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    parcel = heapq.heappop(self._due)[2]
                    self._open.pop(parcel.url, None)
                    self._busy += 1
                    return parcel
                wait = self._due[0][0] - now if self._due else 0.5
                self._lock.wait(min(wait, 0.5))
            return None

    def _work(self) -> None:
        while (parcel := self._next()) is not None:
            try:
                status, retry_after, body, headers = self._post(parcel)
                with self._lock:
                    self.log.append(
                        Attempt(
                            parcel.url,
                            parcel.topic,
                            parcel.attempt,
                            status,
                            len(parcel.events),
                            time.time(),
                            body,
                            headers,
                        )
                    )
                    delay = self._retry_delay(parcel.attempt, status, retry_after)
                    if delay is not None:
                        parcel.attempt += 1
                        due = time.monotonic() + delay
                        heapq.heappush(self._due, (due, next(self._seq), parcel))
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    def _post(self, parcel: _Parcel) -> tuple[int, float | None, bytes, dict[str, str]]:
        body, headers = parcel.render(parcel.events, parcel.attempt)
        assert self._client is not None  # started with the threads
        try:
            answer = self._client.post(parcel.url, content=body, headers=headers)
        except httpx.HTTPError:
            return 0, None, body, headers
        return answer.status_code, retry_after(answer.headers.get("retry-after")), body, headers

    def _retry_delay(self, attempt: int, status: int, said: float | None) -> float | None:
        """Seconds before the next attempt, or None when the delivery is done or given up."""
        if status and not self.policy.retries(status):
            return None
        if attempt >= len(self.policy.delays):
            return None
        if said is not None and status in (429, 503):
            return min(said, 3600.0)
        return self.policy.delays[attempt] * self.time_scale


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (its seconds or HTTP-date form); None when absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def delivered(log: Sequence[Attempt]) -> list[Attempt]:
    """The attempts that were answered with a 2xx."""
    return [a for a in log if 200 <= a.status < 300]


@dataclass(frozen=True)
class Caught:
    """One request a ``Catcher`` received."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class Catcher:
    """An ASGI app that records every request it is sent and answers each with the next of
    ``statuses`` (then 200), with ``headers``: the receiving end of a test's webhooks."""

    def __init__(self, statuses: Sequence[int] = (), headers: dict[str, str] | None = None):
        self.statuses = list(statuses)
        self.headers = headers or {}
        self.caught: list[Caught] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.caught.append(Caught(scope["path"], headers, b"".join(chunks)))
        status = self.statuses.pop(0) if self.statuses else 200
        answer = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": answer})
        await send({"type": "http.response.body", "body": b""})
