"""What a SALESmanago call carries and what its answer means: every body is signed
(``signature``), and every answer's ``success`` flag is read (``refusal``), since SALESmanago
answers its errors as HTTP 200 ``{"success": false, "message": [...]}``. The words of the
message decide what the error is, through the kit's ``ErrorRules.body_error``, so retries and
the rate limiter treat it like any other error.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from syncd.connectors import (
    AuthError,
    ConnectorError,
    ErrorRules,
    FatalError,
    RateLimited,
    RecordError,
    RetryableError,
    answer_json,
    one_line,
)

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
        body: Any = answer_json(response)
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
