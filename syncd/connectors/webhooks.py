"""Webhooks a connector receives: the request as it came, how it is verified and read.

A plugin gives receivers through the ``syncd_webhook_receivers`` hook, by connector type:

    class ShopWebhooks(WebhookReceiver):
        def verify(self, request):       # raise WebhookRefused(401, "...") when forged
            ...
        def read(self, request):         # the delivery: its id, topic and records
            return WebhookDelivery(request.headers.get("x-shop-webhook-id"), topic, records)

The core answers ``POST /webhooks/{instance}``: a request that ``verify`` refuses is counted
and never stored; one it accepts is stored durably before the answer, then its records go
through the same record path as a pull's (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from syncd.clock import Clock, system_clock
from syncd.connectors.contract import Connector, Record


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One webhook request as received: ``url`` is the whole URL the vendor called (the
    public one when ``webhooks.public_url`` is set), ``headers`` have lower-case names."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    received_at: datetime


class WebhookRefused(Exception):
    """A request the receiver will not take: 401 when its signature or secret is missing or
    wrong, 400 when its body cannot be read. ``reason`` is one line, with no secret in it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class WebhookDelivery:
    """What one request delivers: the vendor's id of it (replays of one id are applied
    once; None when the vendor gives none), its topic, and its records."""

    id: str | None
    topic: str
    records: list[Record] = field(default_factory=list)


@dataclass(slots=True)
class WebhookSubscription:
    """One subscription at the vendor: its id there, its topic, the address it posts to."""

    id: str
    topic: str
    address: str


class WebhookSecrets(BaseModel):
    """``webhooks.connectors.NAME``: what verifies the webhooks of one connector instance.
    Each vendor reads the ones it needs (docs/webhooks.md)."""

    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(
        default=None,
        description="The key the vendor signs its webhooks with (an app's client secret).",
    )
    token: str | None = Field(
        default=None,
        description="A secret the webhook URL carries as ?token=..., for a vendor that signs "
        "nothing.",
    )
    username: str | None = Field(
        default=None, description="The user name of the HTTP Basic authorization the vendor sends."
    )
    password: str | None = Field(
        default=None, description="The password of the HTTP Basic authorization the vendor sends."
    )


class WebhookSubscriber(Protocol):
    """What lists and makes a vendor's subscriptions for a connector instance (a module of
    the plugin's, as a rule)."""

    def subscriptions(self, connector: Connector) -> list[WebhookSubscription]: ...

    def register(self, connector: Connector, address: str) -> list[WebhookSubscription]: ...


class WebhookReceiver:
    """Verifies and reads one connector instance's webhooks; subclassed per vendor."""

    #: what manages the vendor's subscriptions, when it has nothing more to be told
    subscriber: ClassVar[WebhookSubscriber | None] = None

    def __init__(
        self, connector: Connector, secrets: WebhookSecrets, clock: Clock = system_clock
    ) -> None:
        self.connector = connector
        self.secrets = secrets
        self.clock = clock

    def verify(self, request: WebhookRequest) -> None:
        """Raise WebhookRefused unless ``request`` comes from the vendor."""
        raise WebhookRefused(401, f"{type(self).__name__} verifies nothing")

    def read(self, request: WebhookRequest) -> WebhookDelivery:
        """The delivery of a verified request; WebhookRefused(400) when it cannot be read."""
        raise NotImplementedError

    def subscriptions(self) -> list[WebhookSubscription]:
        """The subscriptions the vendor holds for this instance."""
        if self.subscriber is None:
            raise NotImplementedError(f"{type(self).__name__} cannot list subscriptions")
        return self.subscriber.subscriptions(self.connector)

    def register(self, address: str) -> list[WebhookSubscription]:
        """Create the subscriptions syncd needs, posting to ``address``; return them."""
        if self.subscriber is None:
            raise NotImplementedError(f"{type(self).__name__} cannot register subscriptions")
        return self.subscriber.register(self.connector, address)

    def needs(self, *names: str) -> dict[str, str]:
        """The named secrets; WebhookRefused(401) naming the first one not configured."""
        found = {name: getattr(self.secrets, name) for name in names}
        for name, value in found.items():
            if not value:
                instance = self.connector.context.instance
                raise WebhookRefused(401, f"webhooks.connectors.{instance}.{name} is not set")
        return found


def hmac_base64(key: str, message: bytes) -> str:
    """base64 of the HMAC-SHA256 of ``message`` under ``key``."""
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def same_secret(expected: str, given: str | None) -> bool:
    """Whether ``given`` equals ``expected``, compared in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def json_body(request: WebhookRequest) -> Any:
    """The request's body as JSON; WebhookRefused(400) when it is not."""
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRefused(400, f"the body is not JSON: {exc}") from None
