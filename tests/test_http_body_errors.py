"""Vendors that answer errors in HTTP 200: ``ErrorRules.body_error`` reads a 2xx body, and
the client retries or raises what it makes of it, like any other error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from syncd.connectors import ApiClient, ErrorRules, RateLimiter, RetryPolicy, error_for_response
from syncd.errors import ConnectorError, RecordError, RetryableError

BASE = "https://vendor.example/api"


def success_false(response: httpx.Response) -> ConnectorError | None:
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("success") is not False:
        return None
    said = "; ".join(body.get("message") or [])
    kind = RetryableError if "try again" in said else RecordError
    return kind(f"refused: {said}", status=response.status_code)


RULES = ErrorRules(vendor="Vendor", body_error=success_false)


def _classify(status: int, body: Any, rules: ErrorRules | None = RULES) -> Exception | None:
    request = httpx.Request("POST", f"{BASE}/contact/upsert")
    return error_for_response(httpx.Response(status, json=body, request=request), rules)


def test_a_2xx_body_that_says_it_failed_is_an_error() -> None:
    error = _classify(200, {"success": False, "message": ["Contact email invalid"]})
    assert isinstance(error, RecordError)
    assert str(error) == "refused: Contact email invalid"
    assert _classify(200, {"success": True, "message": []}) is None
    # without the rule, the same body is a success, as before
    assert _classify(200, {"success": False, "message": ["x"]}, None) is None
    # a redirect or a 4xx is not read by the body rule
    assert _classify(302, {"success": False, "message": ["x"]}) is None
    assert not isinstance(_classify(404, {"success": False, "message": ["x"]}), RetryableError)


def test_a_retryable_2xx_refusal_is_retried_then_succeeds() -> None:
    sleeps: list[float] = []
    api = ApiClient(
        BASE,
        rate_limit=RateLimiter(1000, sleep=sleeps.append),
        retry=RetryPolicy(attempts=3, initial_wait=0.1, jitter=0.0, sleep=sleeps.append),
        rules=RULES,
    )
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/contact/upsert").mock(
            side_effect=[
                httpx.Response(200, json={"success": False, "message": ["busy, try again"]}),
                httpx.Response(200, json={"success": True, "contactId": "c1"}),
            ]
        )
        assert api.post("contact/upsert", {"a": 1}) == {"success": True, "contactId": "c1"}
        assert route.call_count == 2
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/contact/upsert").mock(
            return_value=httpx.Response(200, json={"success": False, "message": ["no owner"]})
        )
        with pytest.raises(RecordError, match="no owner"):
            api.post("contact/upsert", {"a": 1})
        assert route.call_count == 1
