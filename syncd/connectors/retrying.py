"""The one retry policy of every HTTP connector, written once with tenacity.

Retried: transport errors, 429 and 5xx (anything the classifier calls ``RetryableError``),
with exponential backoff and jitter, or after the vendor's ``Retry-After`` (clamped) when
it gave one. Everything else is raised at once. Attempts are bounded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import structlog
import tenacity

from syncd.clock import as_utc
from syncd.errors import AuthError, RateLimited, RetryableError

log = structlog.get_logger("syncd.http")

T = TypeVar("T")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, from either of its forms; None when unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    when = as_utc(when)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass
class RetryPolicy:
    """How often and how long to wait. Tests pass ``sleep`` and small waits."""

    attempts: int = 5
    # a vendor that says "slow down" (a 429, a GraphQL 'throttled' reply) has told how long to wait:
    # those answers count against this budget, not against ``attempts``, so a throttle
    # between two dropped connections does not use up the tries a fault is given
    rate_limited_attempts: int = 20
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_retry_after: float = 120.0  # a vendor asking for longer is clamped to this
    jitter: float = 0.5
    # some vendors answer an intermittent 401/403 for valid credentials: try again this often
    auth_retries: int = 0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    slept: float = field(default=0.0, init=False)  # total seconds waited between attempts

    def wait_for(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(max(0.0, error.retry_after), self.max_retry_after)
        backoff = self.initial_wait * (2 ** (attempt - 1))
        return min(self.max_wait, backoff + self.jitter * self.random())

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        if isinstance(error, RetryableError):
            return True
        return isinstance(error, AuthError) and attempt <= self.auth_retries

    def call(self, fn: Callable[[], T], *, what: str = "request") -> T:
        """Run ``fn`` under this policy; the last error is raised as it was."""

        def _wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.wait_for(state.attempt_number, error)

        told = [0]  # the failed attempts that were a vendor's "slow down"

        def _retry(state: tenacity.RetryCallState) -> bool:
            if state.outcome is None or not state.outcome.failed:
                return False
            error = state.outcome.exception()
            if isinstance(error, RateLimited):
                told[0] += 1
                return told[0] < max(1, self.rate_limited_attempts)
            faults = state.attempt_number - told[0]
            return error is not None and faults < self.attempts and self.should_retry(faults, error)

        def _sleep(seconds: float) -> None:
            self.slept += seconds
            self.sleep(seconds)

        def _before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            # the error's message is already secret-free (see classify.py)
            log.info(
                "retrying",
                what=what,
                attempt=state.attempt_number,
                wait=round(state.upcoming_sleep, 3),
                error=str(error),
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_never,  # _retry counts faults and throttles apart
            wait=_wait,
            retry=_retry,
            sleep=_sleep,
            before_sleep=_before_sleep,
            reraise=True,
        )
        return retrying(fn)


def poll(
    look: Callable[[], T | None],
    timeout: float,
    *,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    first: float = 0.5,
    longest: float = 5.0,
) -> T | None:
    """What ``look()`` finds (not None) once a vendor's job is done, looked at again and again,
    each pause twice the last (from ``first``, at most ``longest``); None when the next pause
    would end past ``timeout`` seconds. Waits on the connector's sleep and monotonic."""
    deadline = monotonic() + timeout
    pause = first
    while (found := look()) is None:
        if monotonic() + pause > deadline:
            return None
        sleep(pause)
        pause = min(pause * 2, longest)
    return found
