"""How a webhook proves it comes from the vendor, declared as the vendor documents it:

    signature = HmacSignature("X-Shop-Hmac-Sha256", digest="sha256", encoding="base64")
    signature = HmacSignature("X-App-Signature-v3", signs=("method", "url", "body", "timestamp"),
                              timestamp=SignedTimestamp("X-App-Request-Timestamp",
                                                        unit="ms", max_age=timedelta(minutes=5)))
    signature = UrlToken()                          # the vendor signs nothing: ?token=SECRET
    signature = FirstConfigured(BasicAuth(), UrlToken())

Each reads the secrets it names from ``webhooks.connectors.NAME`` (``WebhookSecrets``), refuses
with ``WebhookRefused(401, one line)`` and compares in constant time. ``address`` is what the
vendor is told to post to (with the token, for a ``UrlToken``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from syncd.clock import epoch_time
from syncd.connectors.webhooks import (
    Verifier,
    WebhookReceiver,
    WebhookRefused,
    WebhookRequest,
    same_secret,
)
from syncd.errors import FatalError

#: what a signature may cover, in the order the vendor concatenates them
Signed = Literal["method", "url", "body", "timestamp"]


@dataclass(frozen=True)
class SignedTimestamp:
    """A header holding when the request was signed (epoch ``unit``); a request signed more
    than ``max_age`` before or after the receiver's clock is refused (a replay, or a clock
    far off)."""

    header: str
    unit: Literal["s", "ms"] = "s"
    max_age: timedelta = timedelta(minutes=5)

    def check(self, stamp: str, now: datetime) -> None:
        sent = epoch_time(stamp, self.unit) if stamp.isdigit() else None
        if sent is None:
            raise WebhookRefused(401, f"{self.header} is not epoch {self._unit_name}")
        minutes = f"{self.max_age.total_seconds() / 60:g} minutes"
        if now - sent > self.max_age:
            raise WebhookRefused(401, f"{self.header} is older than {minutes}")
        if sent - now > self.max_age:  # a signature made for later is no fresher one
            raise WebhookRefused(401, f"{self.header} is over {minutes} ahead")

    @property
    def _unit_name(self) -> str:
        return "milliseconds" if self.unit == "ms" else "seconds"


@dataclass(frozen=True)
class HmacSignature:
    """A header holding the HMAC, under the ``secret`` named, of the parts ``signs`` lists
    concatenated (the body alone, as a rule), as ``encoding`` text. ``url`` rewrites the URL
    first, as a vendor that decodes some characters before signing says."""

    header: str
    digest: str = "sha256"
    encoding: Literal["base64", "hex"] = "base64"
    signs: tuple[Signed, ...] = ("body",)
    timestamp: SignedTimestamp | None = None
    secret: str = "secret"
    url: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        if self.digest not in hashlib.algorithms_available:
            raise ValueError(f"HmacSignature {self.header}: no digest named {self.digest!r}")
        if "timestamp" in self.signs and self.timestamp is None:
            raise ValueError(f"HmacSignature {self.header} signs a timestamp but names none")
        if self.encoding not in ("base64", "hex"):
            raise ValueError(f"HmacSignature {self.header}: no encoding {self.encoding!r}")

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.secret,)

    def sign(self, key: str, request: WebhookRequest, stamp: str = "") -> str:
        """The signature of ``request`` under ``key`` (as the vendor computes it)."""
        url = self.url(request.url) if self.url else request.url
        part = {"method": request.method.encode(), "url": url.encode(), "body": request.body}
        message = b"".join(part[p] if p != "timestamp" else stamp.encode() for p in self.signs)
        mac = hmac.new(key.encode(), message, self.digest).digest()
        return base64.b64encode(mac).decode() if self.encoding == "base64" else mac.hex()

    def check(self, receiver: WebhookReceiver, request: WebhookRequest) -> None:
        key = receiver.needs(self.secret)[self.secret]
        given = request.headers.get(self.header.lower())
        stamp = ""
        if self.timestamp:
            stamp = request.headers.get(self.timestamp.header.lower(), "").strip()
        if not given or (self.timestamp and not stamp):
            wanted = f"{self.header} or {self.timestamp.header}" if self.timestamp else self.header
            raise WebhookRefused(401, f"no {wanted} header")
        if self.timestamp:
            self.timestamp.check(stamp, receiver.clock())
        if not same_secret(self.sign(key, request, stamp), given):
            what = "the body" if self.signs == ("body",) else "the request"
            raise WebhookRefused(401, f"{self.header} does not match {what}")

    def address(self, receiver: WebhookReceiver, address: str) -> str:
        return address


@dataclass(frozen=True)
class UrlToken:
    """For a vendor that signs nothing: the webhook URL carries the ``secret`` named as the
    query parameter ``param``, which the request must hold."""

    param: str = "token"
    secret: str = "token"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.secret,)

    def check(self, receiver: WebhookReceiver, request: WebhookRequest) -> None:
        token = receiver.needs(self.secret)[self.secret]
        if not same_secret(token, request.query.get(self.param)):
            raise WebhookRefused(401, f"the URL's {self.param} is missing or wrong")

    def address(self, receiver: WebhookReceiver, address: str) -> str:
        """``address`` with the token as its ``param``; FatalError when none is configured."""
        token = getattr(receiver.secrets, self.secret)
        if not token:
            instance = receiver.connector.context.instance
            raise FatalError(
                f"webhooks.connectors.{instance}.{self.secret} is not set: the vendor signs "
                "nothing, so its webhook URL must carry a secret"
            )
        parts = urlsplit(address)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != self.param]
        return urlunsplit(parts._replace(query=urlencode([*query, (self.param, token)])))


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The user name and password of an ``Authorization: Basic ...`` header, or None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic authorization the vendor sends, checked against the secrets named."""

    username: str = "username"
    password: str = "password"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.username, self.password)

    def check(self, receiver: WebhookReceiver, request: WebhookRequest) -> None:
        wanted = receiver.needs(self.username, self.password)
        given = basic_credentials(request.headers.get("authorization"))
        if given is None:
            raise WebhookRefused(401, "no HTTP Basic authorization")
        user_ok = same_secret(wanted[self.username], given[0])
        password_ok = same_secret(wanted[self.password], given[1])
        if not (user_ok and password_ok):
            raise WebhookRefused(401, "the HTTP Basic user name or password is wrong")

    def address(self, receiver: WebhookReceiver, address: str) -> str:
        return address


class FirstConfigured:
    """The first of ``choices`` any of whose secrets is configured (the first of all when
    none is, so that its refusal names what to set)."""

    def __init__(self, *choices: Verifier) -> None:
        self.choices = choices

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(name for choice in self.choices for name in choice.secrets)

    def chosen(self, receiver: WebhookReceiver) -> Verifier:
        for choice in self.choices:
            if any(getattr(receiver.secrets, name) for name in choice.secrets):
                return choice
        return self.choices[0]

    def check(self, receiver: WebhookReceiver, request: WebhookRequest) -> None:
        self.chosen(receiver).check(receiver, request)

    def address(self, receiver: WebhookReceiver, address: str) -> str:
        return self.chosen(receiver).address(receiver, address)
