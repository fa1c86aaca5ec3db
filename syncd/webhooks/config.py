"""``webhooks:``: where the daemon is reached, how deliveries are batched and bounded, and
each connector instance's webhook secrets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncd.connectors.webhooks import WebhookSecrets
from syncd.duration import as_duration

_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib)?\s*$", re.I)
_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}


def parse_size(value: Any) -> int:
    """Bytes from ``1048576``, ``"512KB"``, ``"1MB"`` or ``"1MiB"``; ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    found = _SIZE.match(str(value))
    if found is None:
        raise ValueError(f"{value!r} is not a size: write bytes, or e.g. 512KB, 1MB")
    return int(found.group(1)) * _UNITS[(found.group(2) or "b").lower()]


class WebhooksConfig(BaseModel):
    """``webhooks:`` (docs/webhooks.md)."""

    model_config = ConfigDict(extra="forbid")

    public_url: str | None = Field(
        default=None,
        description="The URL at which the vendors reach the daemon's port, e.g. "
        "https://syncd.example.com: subscriptions post to PUBLIC_URL/webhooks/NAME, and "
        "signatures over the URL are checked against it.",
    )
    debounce: timedelta = Field(
        default=timedelta(seconds=2),
        description="How long deliveries are gathered before a micro-cycle applies them.",
    )
    max_body: int = Field(
        default=1_000_000,
        gt=0,
        description="The largest body taken, in bytes or as 512KB, 1MB; a larger one gets 413.",
    )
    queue: int = Field(
        default=10_000,
        gt=0,
        description="Deliveries stored and not yet applied, at most; beyond, 503 with "
        "Retry-After (the vendors send again).",
    )
    retry_after: timedelta = Field(
        default=timedelta(seconds=10),
        description="The Retry-After of a 503 when the queue is full or the store busy.",
    )
    connectors: dict[str, WebhookSecrets] = Field(
        default_factory=dict,
        description="The connector instances that take webhooks, each with its secrets "
        "(secret, token, or username and password, as its vendor needs).",
    )

    @field_validator("debounce", "retry_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if str(value).strip() in ("0", "0s"):  # debounce 0: a micro-cycle per delivery
            return timedelta(0)
        return as_duration(value)

    @field_validator("max_body", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError(f"{value!r} is not an http(s) URL like https://syncd.example.com")
        return value.rstrip("/") if value else value
