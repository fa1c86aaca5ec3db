"""The vendor's rate limit as an emulator enforces it: a token bucket on the emulator's clock."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from syncd.clock import Clock


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` requests a second, bursts of up to ``burst`` (default: one second's worth)."""

    rate: float
    burst: float | None = None

    @property
    def capacity(self) -> float:
        return self.burst if self.burst is not None else max(1.0, self.rate)


class TokenBucket:
    """Refills ``rate`` tokens a second up to ``capacity``; each request takes one."""

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self.tokens = limit.capacity
        self.last = clock()

    def take(self) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        elapsed = max(0.0, (now - self.last).total_seconds())
        self.last = now
        self.tokens = min(self.limit.capacity, self.tokens + elapsed * self.limit.rate)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.limit.rate


def retry_after_header(wait: float) -> str:
    """``Retry-After`` in whole seconds, as HTTP wants it: rounded up, 0 only for no wait."""
    return str(max(0, math.ceil(wait - 1e-9)))


class ManualClock:
    """A clock that moves only when told to: for tests of rate limits and time windows."""

    START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # where one starts unless told

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or self.START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class VirtualTime:
    """``sleep`` and ``monotonic`` for a connector under test: sleeping moves the emulator's
    ``ManualClock`` (a new one by default) instead of waiting, so rate limits and Retry-After
    cost no real time. ``sleeps`` are the waits one by one, ``slept`` their sum; threads that
    share one client may sleep at once."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock if clock is not None else ManualClock()
        self.now, self.slept = 0.0, 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        with self._lock:
            self.now += seconds
            self.slept += seconds
            self.sleeps.append(seconds)
            self.clock.advance(seconds)
