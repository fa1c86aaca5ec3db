"""A token-bucket rate limiter shared by every request of one connector instance.

The bucket follows the vendor's documented limit; the vendor's answers adjust it: a 429 or a
``Retry-After`` pauses every caller of the instance, and rate headers (requests remaining,
seconds to the reset) pause it before the vendor has to say no.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from syncd.connectors.rows import as_number
from syncd.metrics import RATE_LIMIT_WAIT

Sleep = Callable[[float], None]

# float refills land a hair short of a whole token; without slack a caller would spin
_EPSILON = 1e-9
Monotonic = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateHeaders:
    """What a response said about the rate limit (None: it did not say)."""

    remaining: int | None = None
    reset_after: float | None = None  # seconds until the window resets


class RateLimiter:
    """``rate`` requests per second with bursts up to ``burst``; thread-safe.

    ``waited`` is the total time callers spent waiting here, in seconds, and ``waits`` how
    many times they had to; each wait is also added to ``syncd_rate_limit_wait_seconds`` of
    ``instance`` (the ApiClient that sends through the limiter names it).
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
        instance: str | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = monotonic()
        self._paused_until = 0.0
        self.waited = 0.0
        self.waits = 0
        self.instance = instance

    def now(self) -> float:
        """This limiter's monotonic time, in seconds."""
        return self._monotonic()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now

    def acquire(self) -> float:
        """Take one token, waiting as long as needed; return the seconds waited."""
        total = 0.0
        while True:
            with self._lock:
                now = self._monotonic()
                self._refill(now)
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif self._tokens >= 1.0 - _EPSILON:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    if total:
                        self.waited += total
                        self.waits += 1
                        RATE_LIMIT_WAIT.labels(self.instance or "unnamed").inc(total)
                    return total
                else:
                    delay = (1.0 - self._tokens) / self.rate
            # sleep outside the lock so other threads can see a pause set meanwhile
            self._sleep(delay)
            total += delay

    def pause(self, seconds: float) -> None:
        """Let no request through for ``seconds`` (the vendor said slow down)."""
        if seconds <= 0:
            return
        with self._lock:
            now = self._monotonic()
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = 0.0
            self._updated = now

    def observe(self, headers: RateHeaders) -> None:
        """Feed what the vendor said: nothing left in its window pauses until the reset."""
        if headers.remaining is not None and headers.remaining <= 0:
            self.pause(headers.reset_after if headers.reset_after is not None else 1.0 / self.rate)


RateHeaderReader = Callable[[httpx.Response], RateHeaders]

# a value above this is an epoch time, not a number of seconds
_EPOCH_THRESHOLD = 1_000_000_000


def standard_rate_headers(response: httpx.Response) -> RateHeaders:
    """``RateLimit-Remaining``/``-Reset`` or their ``X-RateLimit-`` forms, when present."""
    h = response.headers
    remaining = as_number(h.get("ratelimit-remaining") or h.get("x-ratelimit-remaining"))
    reset = as_number(h.get("ratelimit-reset") or h.get("x-ratelimit-reset"))
    if reset is not None and reset > _EPOCH_THRESHOLD:
        reset = max(0.0, reset - time.time())
    return RateHeaders(
        remaining=int(remaining) if remaining is not None else None, reset_after=reset
    )
