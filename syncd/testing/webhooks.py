"""A connector's webhooks under test: its receiver and the requests it is handed, at one
fixed time, as syncd's ingest would hand them over."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

from syncd.connectors.contract import Connector
from syncd.connectors.webhooks import WebhookReceiver, WebhookRequest, WebhookSecrets

W = TypeVar("W", bound=WebhookReceiver)

#: when the requests of a test are received, and where its receivers' clocks stand
WEBHOOK_NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def webhook_receiver(webhooks: type[W], connector: Connector, **secrets: str | None) -> W:
    """``connector``'s webhooks class ``webhooks``, verifying with ``secrets`` (what
    ``webhooks.connectors.NAME`` gives), its clock standing at ``WEBHOOK_NOW``."""
    return webhooks(connector, WebhookSecrets(**secrets), lambda: WEBHOOK_NOW)


def received(
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> WebhookRequest:
    """A request as syncd's ingest hands it to a receiver, received at ``WEBHOOK_NOW``."""
    return WebhookRequest(method, url, headers or {}, query or {}, body, WEBHOOK_NOW)
