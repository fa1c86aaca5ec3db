"""Calls to the SALESmanago JSON API: every body signed, every answer's ``success`` checked.

SALESmanago answers its errors as HTTP 200 ``{"success": false, "message": [...]}``; the
words of the message decide what the error is (``refusal``), through the toolkit's
``ErrorRules.body_error``, so retries and the rate limiter treat it like any other error.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from syncd.clock import Clock
from syncd.connectors.classify import ErrorRules
from syncd.connectors.client import ApiClient
from syncd.connectors.redaction import one_line
from syncd.errors import (
    AuthError,
    ConnectorError,
    FatalError,
    RateLimited,
    RecordError,
    RetryableError,
)
from syncd.secrets import register_secret

VENDOR = "SALESmanago"
AUTH_WORDS = ("not authenticated", "authentication", "unauthori", "sha", "apikey", "clientid")
LIMIT_WORDS = ("too many", "rate limit", "limit exceeded", "throttl")
RETRY_WORDS = ("try again", "temporar", "timeout", "internal error", "unavailable", "busy")
FATAL_WORDS = ("owner", "not found in this account", "unknown method", "no access")


def signature(api_key: str, client_id: str, api_secret: str) -> str:
    """``sha1(apiKey + clientId + apiSecret)`` in lowercase hex, as every body carries it."""
    return hashlib.sha1(f"{api_key}{client_id}{api_secret}".encode()).hexdigest()


def refusal(response: httpx.Response) -> ConnectorError | None:
    """The error a 2xx SALESmanago answer stands for, or None when ``success`` is true."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        return None  # not JSON: the client retries it as a broken answer
    what = response.request.url.path.rsplit("/api/", 1)[-1]
    if not isinstance(body, dict) or "success" not in body:
        return RetryableError(f"{VENDOR} {what}: the answer has no success flag", status=200)
    if body["success"] is True:
        return None
    message = body.get("message")
    words = message if isinstance(message, list) else [message] if message else []
    said = one_line("; ".join(str(w) for w in words if w)) or "no reason given"
    text, low = f"{VENDOR} {what} refused: {said}", said.lower()
    if any(w in low for w in AUTH_WORDS):
        return AuthError(
            f"{VENDOR} refused the credentials ({said}); check clientId, apiKey, apiSecret "
            "and the server",
            status=200,
        )
    if any(w in low for w in LIMIT_WORDS):
        return RateLimited(text, status=200)
    if any(w in low for w in RETRY_WORDS):
        return RetryableError(text, status=200)
    if any(w in low for w in FATAL_WORDS):
        return FatalError(text, status=200)
    return RecordError(text, status=200)


RULES = ErrorRules(vendor=VENDOR, body_error=refusal)


class SignedApi:
    """One SALESmanago account: ``call("contact/upsert", {...})`` signs and sends a body."""

    def __init__(
        self,
        api: ApiClient,
        *,
        client_id: str,
        api_key: str,
        api_secret: str,
        owner: str,
        clock: Clock,
    ) -> None:
        self.api, self.client_id, self.api_key, self.owner = api, client_id, api_key, owner
        self.clock = clock
        self.sha = signature(api_key, client_id, api_secret)
        for secret in (api_secret, self.sha):
            register_secret(secret)

    def call(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The answer of a successful call; a ConnectorError from syncd.errors otherwise."""
        signed = {
            "clientId": self.client_id,
            "apiKey": self.api_key,
            "requestTime": int(self.clock().timestamp() * 1000),
            "sha": self.sha,
            "owner": self.owner,
            **(body or {}),
        }
        answer = self.api.post(method, signed)
        return answer if isinstance(answer, dict) else {}

    def close(self) -> None:
        self.api.close()
