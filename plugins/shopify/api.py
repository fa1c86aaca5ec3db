"""Shopify's GraphQL cost budget, read from ``extensions.cost.throttleStatus``. A throttled
reply is HTTP 200 with ``Throttled`` in ``errors``: it becomes RateLimited, so the
retry policy waits for the points to come back. Other request-wide GraphQL errors are fatal
for that request."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from syncd.connectors import (
    ApiClient,
    ConnectorContext,
    ConnectorError,
    FatalError,
    RateLimited,
    RateLimiter,
    RetryableError,
    dig,
    one_line,
)

MAX_QUERY_COST = 1000  # points Shopify refuses a single document asking for more


def graphql_error(response: httpx.Response) -> ConnectorError | None:
    """The error a GraphQL answer in HTTP 200 stands for, if any."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        return None  # the client retries a broken answer
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors or not isinstance(errors, list):
        return None
    if any(dig(e, "extensions.code") == "THROTTLED" or _text(e) == "Throttled" for e in errors):
        status, wait = dig(body, "extensions.cost.throttleStatus"), None
        if isinstance(status, dict) and status.get("restoreRate"):
            need = float(dig(body, "extensions.cost.requestedQueryCost") or 0)
            wait = max(0.0, need - float(status.get("currentlyAvailable") or 0))
            wait /= float(status["restoreRate"])
        return RateLimited("Shopify GraphQL: Throttled", status=200, retry_after=wait)
    if any("path" in e for e in errors if isinstance(e, dict)) and body.get("data"):
        return None  # errors of single fields: the caller answers for those changes
    said = one_line("; ".join(_text(e) for e in errors[:5]))
    return FatalError(f"Shopify GraphQL refused the request: {said}", status=200)


def _text(error: Any) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


class GraphQL:
    """Shopify's GraphQL cost budget, and POSTs to ``graphql.json`` through the connector's
    client. Before a call it waits until the points the call costs should be back, from what
    Shopify last said of the budget (``extensions.cost.throttleStatus`` of every answer)."""

    def __init__(self, api: ApiClient, restore_rate: float, context: ConnectorContext) -> None:
        self.api, self.restore_rate, self.context = api, restore_rate, context
        self.available: float | None = None  # unknown until the first reply
        self.maximum, self.at = 0.0, 0.0
        self._lock = threading.Lock()

    def call(self, query: str, variables: dict[str, Any], *, cost: float) -> tuple[dict, Any]:
        """The ``data`` and ``errors`` of one request whose cost is about ``cost`` points."""
        body = self.api.post(
            "graphql.json", {"query": query, "variables": variables}, limiters=[self.ahead(cost)]
        )
        if not isinstance(body, dict):
            raise RetryableError("Shopify GraphQL: the answer is not an object", status=200)
        self.observe(dig(body, "extensions.cost.throttleStatus"))
        data = body.get("data")
        return (data if isinstance(data, dict) else {}), body.get("errors")

    def ahead(self, cost: float) -> RateLimiter:
        """A limiter for the client: each request through it waits for ``cost`` points."""
        return Points(self, cost)

    def wait_for(self, cost: float) -> float:
        """Sleep until ``cost`` points should be back; the seconds slept."""
        with self._lock:
            if self.available is None:
                return 0.0  # nothing said yet: go
            elapsed = self.context.monotonic() - self.at
            have = min(self.maximum, self.available + elapsed * self.restore_rate)
            delay = (min(cost, self.maximum) - have) / self.restore_rate
        if delay <= 0:
            return 0.0
        self.context.sleep(delay)
        return delay

    def observe(self, status: Any) -> None:
        """What an answer said of the budget: the points left, the most and the restore rate."""
        if not isinstance(status, dict) or "currentlyAvailable" not in status:
            return
        with self._lock:
            self.available = float(status["currentlyAvailable"])
            self.maximum = float(status.get("maximumAvailable") or self.available)
            self.restore_rate = float(status.get("restoreRate") or self.restore_rate)
            self.at = self.context.monotonic()


class Points(RateLimiter):
    """One request's pace by the GraphQL budget: ``acquire`` waits for its ``cost``."""

    def __init__(self, budget: GraphQL, cost: float) -> None:
        context = budget.context
        super().__init__(budget.restore_rate, sleep=context.sleep, monotonic=context.monotonic)
        self.budget, self.cost = budget, cost

    def acquire(self) -> float:
        waited = self.budget.wait_for(self.cost)
        self.waited += waited
        return waited
