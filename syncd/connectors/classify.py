"""The one place that decides what a failed request means, as a type from syncd.errors.

    transport error, 429, 5xx, 408  → RetryableError (RateLimited for 429, or a 503 that
                                      says when to come back)
    the vendor's auth statuses      → AuthError: the run stops with one line
    the vendor's record statuses    → RecordError: that change or record fails, the rest goes on
    any other 4xx                   → FatalError
    a 2xx whose body says it failed → whatever ``ErrorRules.body_error`` makes of it (for
                                      vendors that answer errors in HTTP 200)

A connector adjusts the statuses and the reading of error bodies through ``ErrorRules``.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from syncd.connectors.redaction import mask_url_secrets, one_line, safe_url
from syncd.connectors.retrying import parse_retry_after
from syncd.errors import (
    AuthError,
    ConnectorError,
    FatalError,
    RateLimited,
    RecordError,
    RetryableError,
)

_PARSED: weakref.WeakKeyDictionary[httpx.Response, Any] = weakref.WeakKeyDictionary()


def answer_json(response: httpx.Response) -> Any:
    """A response's JSON body, parsed once however many readers ask (a vendor's check of its
    2xx answers, then the caller); ValueError when it is not JSON. Readers must not change it.
    """
    try:
        return _PARSED[response]
    except KeyError:
        pass
    body = _PARSED[response] = response.json()
    return body


def body_message(response: httpx.Response) -> str | None:
    """The vendor's own words from an error body, if any: JSON:API ``errors``,
    ``message``, ``error`` or a short text."""
    try:
        data: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip() if response.content else ""
        return one_line(text, 200) if text else None
    return _message_of(data)


def _message_of(data: Any) -> str | None:
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            return one_line("; ".join(_error_item(e) for e in errors[:5]))
        if isinstance(errors, dict) and errors:  # {"field": ["message", ...]}
            return one_line("; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5]))
        if isinstance(errors, str) and errors.strip():  # {"errors": "text"}
            return one_line(errors)
        for key in ("message", "error", "detail", "title"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return one_line(value)
            if isinstance(value, dict):
                return _message_of(value)
    if isinstance(data, str) and data.strip():
        return one_line(data)
    return None


def _error_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    words = [str(item[k]) for k in ("title", "detail") if item.get(k)]
    if not words and item.get("message"):
        words.append(str(item["message"]))
    source = item.get("source")
    if isinstance(source, dict) and source.get("pointer"):
        words.append(f"({source['pointer']})")
    elif item.get("code"):
        words.append(f"({item['code']})")
    return " ".join(words) or json.dumps(item)[:100]


@dataclass(frozen=True)
class ErrorRules:
    """How one vendor's statuses and error bodies read."""

    auth_statuses: frozenset[int] = frozenset({401, 403})
    record_statuses: frozenset[int] = frozenset({400, 404, 409, 410, 422})
    retry_statuses: frozenset[int] = frozenset({408, 425, 429})
    message: Callable[[httpx.Response], str | None] = field(default=body_message)
    # the vendor's name in messages: "Acme refused the API token"
    vendor: str = "the vendor"
    # reads a successful (2xx) answer: the error it stands for when the vendor answers its
    # errors in HTTP 200 (``{"success": false, ...}``), else None
    body_error: Callable[[httpx.Response], ConnectorError | None] | None = None


def describe(request: httpx.Request) -> str:
    """``GET https://host/path?query`` without a secret."""
    return f"{request.method} {safe_url(request.url)}"


def error_for_response(
    response: httpx.Response, rules: ErrorRules | None = None, *, now: datetime | None = None
) -> ConnectorError | None:
    """The error a response stands for, or None when it succeeded."""
    status = response.status_code
    rules = rules or ErrorRules()
    if status < 400:
        return rules.body_error(response) if rules.body_error and status < 300 else None
    said = rules.message(response)
    what = describe(response.request)
    detail = f": {said}" if said else ""
    if status in rules.auth_statuses:
        return AuthError(
            f"{rules.vendor} refused the credentials (HTTP {status}{detail}); "
            "check the token and the account URL",
            status=status,
        )
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if status == 429 or (status == 503 and retry_after is not None):
        return RateLimited(
            f"{what}: rate limited (HTTP {status}{detail})", status=status, retry_after=retry_after
        )
    if status >= 500 or status in rules.retry_statuses:
        return RetryableError(f"{what}: HTTP {status}{detail}", status=status)
    if status in rules.record_statuses:
        return RecordError(f"{what}: HTTP {status}{detail}", status=status)
    return FatalError(f"{what}: HTTP {status}{detail}", status=status)


def error_for_transport(exc: httpx.TransportError) -> RetryableError:
    """A transport failure (connect, read, timeout, broken body) as a retryable error."""
    kind = type(exc).__name__
    said = str(exc) or kind
    # no connection was made: the vendor never saw the request
    unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    try:
        request = exc.request
    except RuntimeError:  # the error was raised without its request
        return RetryableError(f"{kind}: {one_line(said, 200)}", unsent=unsent)
    # httpx messages may quote the URL, whose query may hold a credential
    said = mask_url_secrets(said.replace(str(request.url), safe_url(request.url)), request.url)
    return RetryableError(f"{describe(request)}: {kind}: {one_line(said, 200)}", unsent=unsent)


@contextlib.contextmanager
def connection_check(
    instance: str, vendor: str, at: str, *, refused: str | None = None
) -> Iterator[None]:
    """Around the probe call of a connector's ``check_connection``: a refused credential stays
    an AuthError (``refused``, with ``{status}`` in it, says what to check), and any other
    failure becomes a FatalError saying which tool, at which address, could not be used."""
    try:
        yield
    except AuthError as exc:
        reason = refused.format(status=exc.status) if refused else str(exc)
        raise AuthError(f"{instance}: {reason}", status=exc.status) from None
    except ConnectorError as exc:
        raise FatalError(
            f"{instance}: cannot use {vendor} at {at}: {exc}", status=exc.status
        ) from None
