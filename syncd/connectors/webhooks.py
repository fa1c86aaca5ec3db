"""Webhooks a connector receives: the request as it came, how it is verified and read.

A plugin gives receivers through the ``syncd_webhook_receivers`` hook, by connector type.
A receiver declares what the vendor's documentation says, and maps a payload to records:

    class ShopWebhooks(WebhookReceiver):
        signature = HmacSignature("X-Shop-Hmac-Sha256", digest="sha256", encoding="base64")
        topic_header = "X-Shop-Topic"            # or topic_field = "type" (in the body)
        id_header = "X-Shop-Webhook-Id"          # or id_from_body = True: a digest of it
        subscriber = ShopSubscriptions           # a WebhookSubscriptions: list, create

        def records(self, topic, payload):       # the records a pull would make of it
            return [...]

``verify`` checks the ``signature`` (syncd.connectors.webhook_auth); ``read`` parses the body
(JSON object, or form-encoded with ``form = True``), names the topic and the delivery's id,
and calls ``records``. A vendor whose deliveries are otherwise overrides ``read``.

The core answers ``POST /webhooks/{instance}``: a request that ``verify`` refuses is counted
and never stored; one it accepts is stored durably before the answer, then its records go
through the same record path as a pull's (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field

from syncd.clock import Clock, system_clock
from syncd.connectors.contract import Connector, Record
from syncd.connectors.redaction import safe_url
from syncd.connectors.streams import RestStream


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
    """One subscription at the vendor: its id there, its topic, the address it posts to (its
    secrets masked), and whether the vendor holds it paused."""

    id: str
    topic: str
    address: str
    paused: bool = False

    @property
    def shown_topic(self) -> str:
        """The topic as listed to people: `` (paused)`` after a paused one's."""
        return self.topic + (" (paused)" if self.paused else "")


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


class Verifier(Protocol):
    """How a receiver checks a request (syncd.connectors.webhook_auth): the secrets it reads,
    its check, and the address the vendor is told to post to."""

    @property
    def secrets(self) -> tuple[str, ...]: ...

    def check(self, receiver: WebhookReceiver, request: WebhookRequest) -> None: ...

    def address(self, receiver: WebhookReceiver, address: str) -> str: ...


class WebhookSubscriptions:
    """A vendor's subscription API for one connector instance, made per use. A vendor says
    what syncd subscribes to (``topics``), how its API lists the subscriptions and creates
    the missing ones; ``register`` reconciles: it points an app's one target URL at the
    address (for a vendor that has one), creates what the address lacks, and lists it."""

    def __init__(self, connector: Connector, secrets: WebhookSecrets) -> None:
        self.connector = connector
        self.secrets = secrets

    def topics(self) -> list[str]:
        """The topics syncd subscribes to, in the order they are created."""
        raise NotImplementedError

    def subscriptions(self) -> list[WebhookSubscription]:
        """Every subscription the vendor holds, at the address it holds (the receiver masks
        the secrets an address carries before it shows one)."""
        raise NotImplementedError

    def create(self, address: str, missing: list[str], held: list[WebhookSubscription]) -> None:
        """Subscribe ``address`` to the ``missing`` topics; ``held`` are its subscriptions."""
        raise NotImplementedError

    def target(self) -> str | None:
        """The one address every subscription posts to ("" when unset), for a vendor whose
        app has one; None for a vendor whose subscriptions each name theirs."""
        return None

    def set_target(self, address: str) -> None:
        raise NotImplementedError

    def register(self, address: str) -> list[WebhookSubscription]:
        """The subscriptions syncd needs at ``address``, created where missing; all of the
        address's subscriptions."""
        target = self.target()
        if target is not None and target != address:
            self.set_target(address)
        held = [s for s in self.subscriptions() if s.address == address]
        missing = [t for t in self.topics() if t not in {s.topic for s in held}]
        if missing:
            self.create(address, missing, held)
            held = [s for s in self.subscriptions() if s.address == address]
        return held


class SubscribedByHand(WebhookSubscriptions):
    """A vendor whose API has no webhook endpoint: ``how`` tells where its webhooks are set
    up instead; both list and register say so in one line (register with the address)."""

    how: ClassVar[str] = "its webhooks are set up in its UI"

    def subscriptions(self) -> list[WebhookSubscription]:
        raise NotImplementedError(f"its API does not list webhooks: {self.how}")

    def register(self, address: str) -> list[WebhookSubscription]:
        raise NotImplementedError(f"{self.how}, with the endpoint {address}")


class WebhookReceiver:
    """Verifies and reads one connector instance's webhooks; subclassed per vendor, which
    declares its ``signature``, where the topic and the delivery's id are, and its
    ``subscriber``, and maps a payload with ``records``."""

    #: how a request is verified (syncd.connectors.webhook_auth)
    signature: ClassVar[Verifier | None] = None
    #: the body is form-encoded (``a=1&b=2``), else one JSON object
    form: ClassVar[bool] = False
    #: the header, or else the body's field, naming the topic
    topic_header: ClassVar[str | None] = None
    topic_field: ClassVar[str | None] = None
    #: the header holding the vendor's id of a delivery, or else a digest of the body as it
    #: (a vendor that delivers at least once and sends no id); neither: no id
    id_header: ClassVar[str | None] = None
    id_from_body: ClassVar[bool] = False
    #: the body is a batch: a list of events (one object: a batch of one), each read by
    #: ``records`` with its own ``topic_field``; the delivery's id is a digest of the events'
    #: ``id_field`` values in any order (a retry may reorder them), its topic theirs joined
    batch: ClassVar[bool] = False
    id_field: ClassVar[str | None] = None
    #: the vendor's subscription API
    subscriber: ClassVar[type[WebhookSubscriptions] | None] = None

    def __init__(
        self, connector: Connector, secrets: WebhookSecrets, clock: Clock = system_clock
    ) -> None:
        self.connector = connector
        self.secrets = secrets
        self.clock = clock

    def verify(self, request: WebhookRequest) -> None:
        """Raise WebhookRefused unless ``request`` comes from the vendor."""
        if self.signature is None:
            raise WebhookRefused(401, f"{type(self).__name__} verifies nothing")
        self.signature.check(self, request)

    def read(self, request: WebhookRequest) -> WebhookDelivery:
        """The delivery of a verified request; WebhookRefused(400) when it cannot be read."""
        if self.batch:
            return self.read_batch(request)
        header = self.topic_header
        topic = request.headers.get(header.lower()) or "" if header else None
        if topic == "":  # a header named is checked before the body is read
            raise WebhookRefused(400, f"no {header} header")
        payload = form_body(request) if self.form else json_body(request)
        if not isinstance(payload, dict):
            raise WebhookRefused(400, "the body is not a JSON object")
        topic = topic or self.topic_of(payload)
        return WebhookDelivery(self.delivery_id(request), topic, self.records(topic, payload))

    def read_batch(self, request: WebhookRequest) -> WebhookDelivery:
        """The delivery of a batch of events (``batch = True``)."""
        events = json_body(request)
        events = [events] if isinstance(events, dict) else events
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise WebhookRefused(400, "the body is not a list of event objects")
        named = self.id_field or ""
        ids = sorted(str(e[named]) for e in events if e.get(named) is not None)
        key = f"events:{digest_of(','.join(ids).encode())}" if ids else None
        field = self.topic_field or ""
        topics = sorted({str(e.get(field) or "") for e in events} - {""})
        found = [r for event in events for r in self.records(str(event.get(field) or ""), event)]
        return WebhookDelivery(key, ",".join(topics)[:200] or "none", found)

    def topic_of(self, payload: dict[str, Any]) -> str:
        """The topic a payload names (its ``topic_field``); WebhookRefused(400) without one."""
        topic = str(payload.get(self.topic_field or "") or "").strip()
        if not topic:
            raise WebhookRefused(400, f"a webhook without a {self.topic_field or 'topic'}")
        return topic

    def delivery_id(self, request: WebhookRequest) -> str | None:
        """The vendor's id of the delivery (its ``id_header``, or a digest of the body)."""
        if self.id_header is not None:
            return request.headers.get(self.id_header.lower()) or None
        return f"body:{digest_of(request.body)}" if self.id_from_body else None

    def records(self, topic: str, payload: dict[str, Any]) -> list[Record]:
        """The records a payload of ``topic`` makes: those a pull would make of it."""
        raise NotImplementedError

    def mapped(self, stream: str, row: dict[str, Any]) -> list[Record]:
        """The records the instance's stream named ``stream`` makes of ``row``, mapped as a
        pull maps it (put ``row`` in the stream's shape first: ``Reshape``); none when the
        instance does not read that stream."""
        for found in self.connector.streams():
            if found.name == stream and isinstance(found, RestStream):
                made = found.map(row)
                return list(made) if isinstance(made, Sequence) else [] if made is None else [made]
        return []

    def subscriptions(self) -> list[WebhookSubscription]:
        """The subscriptions the vendor holds for this instance."""
        if self.subscriber is None:
            raise NotImplementedError(f"{type(self).__name__} cannot list subscriptions")
        return _masked(self.subscriber(self.connector, self.secrets).subscriptions())

    def register(self, address: str) -> list[WebhookSubscription]:
        """Create the subscriptions syncd needs, posting to ``address``; return them. The
        address carries what the ``signature`` needs it to (a URL token)."""
        if self.subscriber is None:
            raise NotImplementedError(f"{type(self).__name__} cannot register subscriptions")
        if self.signature is not None:
            address = self.signature.address(self, address)
        return _masked(self.subscriber(self.connector, self.secrets).register(address))

    def needs(self, *names: str) -> dict[str, str]:
        """The named secrets; WebhookRefused(401) naming the first one not configured."""
        found = {name: getattr(self.secrets, name) for name in names}
        for name, value in found.items():
            if not value:
                instance = self.connector.context.instance
                raise WebhookRefused(401, f"webhooks.connectors.{instance}.{name} is not set")
        return found


def _masked(found: list[WebhookSubscription]) -> list[WebhookSubscription]:
    """``found`` with the secrets their addresses carry masked (``?token=***``)."""
    return [replace(s, address=safe_url(s.address)) for s in found]


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


def form_body(request: WebhookRequest) -> dict[str, str]:
    """A form-encoded body as a mapping (the last value of a repeated key); WebhookRefused(400)
    when it is not UTF-8."""
    try:
        return dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise WebhookRefused(400, "the body is not UTF-8 form data") from None


def digest_of(data: bytes) -> str:
    """A short digest of ``data`` (40 hex characters of its SHA-256): a delivery's id made from
    what identifies it, for a vendor that sends none."""
    return hashlib.sha256(data).hexdigest()[:40]
