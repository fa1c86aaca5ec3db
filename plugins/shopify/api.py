"""The two sides of the Shopify Admin API a connector instance talks to: REST reads under the
leaky bucket (read from ``X-Shopify-Shop-Api-Call-Limit``), and GraphQL calls under the cost
budget (read from ``extensions.cost.throttleStatus``). A throttled GraphQL reply is HTTP 200
with ``Throttled`` in ``errors``; it becomes RateLimited, so the retry policy waits for the
points to come back. Other request-wide GraphQL errors are fatal for that request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from syncd.connectors.classify import ErrorRules
from syncd.connectors.client import ApiClient
from syncd.connectors.ratelimit import RateHeaders
from syncd.connectors.redaction import one_line
from syncd.errors import ConnectorError, FatalError, RateLimited, RetryableError

VENDOR = "Shopify"
CALL_LIMIT = "x-shopify-shop-api-call-limit"


def call_limit_reader(leak_rate: float) -> Callable[[httpx.Response], RateHeaders]:
    """Reads ``USED/BUCKET``: the room left in the bucket, and when one more call fits."""

    def read(response: httpx.Response) -> RateHeaders:
        value = response.headers.get(CALL_LIMIT)
        if not value:
            return RateHeaders()
        used, _, size = value.partition("/")
        room = int(size) - int(used)
        return RateHeaders(remaining=room, reset_after=1.0 / leak_rate if room <= 0 else None)

    return read


def rest_message(response: httpx.Response) -> str | None:
    """Shopify's REST ``{"errors": "text"}`` or ``{"errors": {"field": [...]}}``."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        return one_line(response.text, 200) if response.content else None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, str):
        return one_line(errors)
    if isinstance(errors, dict):
        return one_line("; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5]))
    if isinstance(errors, list):
        return one_line("; ".join(str(e.get("message", e)) for e in errors[:5]))
    return None


@dataclass
class CostBudget:
    """What Shopify last said of the GraphQL budget, to wait before asking for too much."""

    restore_rate: float
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    available: float | None = None  # unknown until the first reply
    maximum: float | None = None
    at: float = 0.0
    waited: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def observe(self, status: dict[str, Any]) -> None:
        with self._lock:
            self.available = float(status["currentlyAvailable"])
            self.maximum = float(status.get("maximumAvailable") or self.available)
            self.restore_rate = float(status.get("restoreRate") or self.restore_rate)
            self.at = self.monotonic()

    def wait_for(self, cost: float) -> None:
        """Sleep until ``cost`` points should be available again."""
        with self._lock:
            if self.available is None:
                return
            now = self.monotonic()
            have = self.available + (now - self.at) * self.restore_rate
            have = min(have, self.maximum or have)
            delay = (cost - have) / self.restore_rate if have < cost else 0.0
        if delay > 0:
            self.waited += delay
            self.sleep(delay)


class GraphQL:
    """POSTs to ``graphql.json`` through its own ApiClient, paced by the cost budget."""

    def __init__(self, make_client: Callable[[ErrorRules], ApiClient], budget: CostBudget):
        self.budget = budget
        rules = ErrorRules(vendor=VENDOR, message=rest_message, body_error=self._body_error)
        self.api = make_client(rules)

    def call(self, query: str, variables: dict[str, Any], *, cost: float) -> dict[str, Any]:
        """The ``data`` of one GraphQL request whose cost is about ``cost`` points."""
        self.budget.wait_for(cost)
        body = self.api.post("graphql.json", {"query": query, "variables": variables})
        if not isinstance(body, dict):
            raise RetryableError(f"{VENDOR} GraphQL: the answer is not an object", status=200)
        data = body.get("data")
        return {"data": data if isinstance(data, dict) else {}, "errors": body.get("errors")}

    def _body_error(self, response: httpx.Response) -> ConnectorError | None:
        if not response.request.url.path.endswith("/graphql.json"):
            return None
        try:
            body: Any = response.json()
        except (ValueError, UnicodeDecodeError):
            return None  # the client retries a broken answer
        if not isinstance(body, dict):
            return None
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus")
        if isinstance(status, dict) and "currentlyAvailable" in status:
            self.budget.observe(status)
        errors = body.get("errors")
        if not errors or not isinstance(errors, list):
            return None
        if any(_code(e) == "THROTTLED" or _text(e) == "Throttled" for e in errors):
            wait = None
            if isinstance(status, dict) and status.get("restoreRate"):
                need = float(cost.get("requestedQueryCost") or 0) - float(
                    status.get("currentlyAvailable") or 0
                )
                wait = max(0.0, need) / float(status["restoreRate"])
            return RateLimited(f"{VENDOR} GraphQL: Throttled", status=200, retry_after=wait)
        if any("path" in e for e in errors if isinstance(e, dict)) and body.get("data"):
            return None  # errors of single fields: the caller answers for those changes
        said = one_line("; ".join(_text(e) for e in errors[:5]))
        return FatalError(f"{VENDOR} GraphQL refused the request: {said}", status=200)


def _code(error: Any) -> str | None:
    ext = error.get("extensions") if isinstance(error, dict) else None
    return ext.get("code") if isinstance(ext, dict) else None


def _text(error: Any) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)
