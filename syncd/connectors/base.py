"""The one connector base for HTTP vendors: options with their secrets, the injected clock
and sleep, one client (and so one rate limiter) per instance, declared streams, a lazy
destination, the connection check and the close.

    class AcmeDestination(HttpDestination):
        change_kinds = frozenset({ChangeKind.ADD_TAG})

        def write(self, answers: Answers) -> None:
            ...  # answer the open changes (the kit answers the others)

    class AcmeConnector(HttpConnector):
        name = "acme"
        vendor = "Acme"
        Options = AcmeOptions            # an HttpOptions with url, token, rate_limit ...
        stream_classes = (Contacts, Orders)
        probe = "users/me"               # one cheap authenticated GET
        auth_header = ("Authorization", "Bearer {token}")
        destination_class = AcmeDestination   # built once, with the connector
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import httpx
from pydantic import BaseModel, Field, GetCoreSchemaHandler, SecretStr
from pydantic_core import CoreSchema, core_schema

from syncd.connectors.classify import ErrorRules, connection_check
from syncd.connectors.client import ApiClient
from syncd.connectors.contract import (
    Connector,
    ConnectorContext,
    ConnectorOptions,
    Destination,
    Stream,
)
from syncd.connectors.ratelimit import RateHeaders, RateLimiter, standard_rate_headers
from syncd.connectors.retrying import RetryPolicy
from syncd.secrets import register_secret

if TYPE_CHECKING:
    from syncd.connectors.destination import HttpDestination
    from syncd.connectors.streams import RestStream


class HttpOptions(ConnectorOptions):
    """What every HTTP connector's options hold besides the vendor's own."""

    rate_limit: float = Field(default=5.0, gt=0)  # requests a second for the whole instance
    page_size: int = Field(default=100, ge=1)
    streams: list[str] | None = None  # which streams to read (default: all)
    # seconds each stream reads again before its cursor, by stream (default: the stream's own)
    lookback: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


@dataclass(frozen=True)
class ApiUrl:
    """Marks the option that names the vendor's API, and normalises it to the API's root:
    trimmed, without a trailing slash, ``path`` added when missing. With ``host``
    (``"{}.vendor.example"``) an account's name or a host name is taken too; without, only an
    http(s) URL. ``HttpConnector.base_url`` is this option's value.

        url: Annotated[str, ApiUrl(path="/api/3", example="https://ACCOUNT.api-us1.com")]
    """

    path: str = ""
    host: str | None = None
    example: str = "https://api.example.com"  # in the message of a value it refuses

    def __call__(self, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            if self.host is None or not url:
                what = "an account's name or a URL" if self.host else "a URL"
                raise ValueError(f"must be {what}, like {self.example}")
            url = "https://" + (url if "." in url else self.host.format(url))
        return url if url.endswith(self.path) else url + self.path

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self, handler(source))


def secrets_of(model: BaseModel) -> list[str]:
    """Every secret value in ``model`` and the models it holds."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found += secrets_of(value)
    return found


class HttpConnector(Connector):
    """A connector for one HTTP vendor; see the module."""

    Options: ClassVar[type[ConnectorOptions]] = HttpOptions
    vendor: ClassVar[str] = "the vendor"  # the vendor's name in messages
    stream_classes: ClassVar[Sequence[type[RestStream]]] = ()
    rules: ClassVar[ErrorRules | None] = None  # default: ErrorRules(vendor=vendor)
    burst: ClassVar[float | None] = None  # requests the vendor takes at once (its bucket)
    auth_retries: ClassVar[int] = 0  # vendors that answer an intermittent 401/403
    probe: ClassVar[str | None] = None  # the path of one cheap authenticated GET
    refused: ClassVar[str | None] = None  # what a refused credential means, with {status}
    # the header that authenticates: its name and value, ``{option}`` standing for the value
    # of that (secret) option: ("Authorization", "Bearer {token}")
    auth_header: ClassVar[tuple[str, str] | None] = None
    destination_class: ClassVar[type[HttpDestination] | None] = None  # built with the connector

    options: Any

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        for secret in secrets_of(options):
            register_secret(secret)
        known = [s.name for s in self.stream_classes]
        wanted = getattr(options, "streams", None)
        unknown = sorted(set(wanted or ()) - set(known))
        if unknown:
            raise ValueError(f"unknown streams {unknown} (known: {', '.join(known)})")
        for stream in getattr(options, "lookback", None) or {}:
            if stream not in known:
                raise ValueError(f"lookback names an unknown stream {stream!r}")
        try:
            httpx.URL(self.base_url())  # a hostname IDNA refuses, a port that is no number
        except httpx.InvalidURL as exc:
            raise ValueError(f"the vendor's URL is not valid: {exc}") from None
        self._api: ApiClient | None = None
        self._destination: Destination | None = None

    # --- what a vendor declares --------------------------------------------------------------

    def base_url(self) -> str:
        """The API's root for this instance: the option marked ``ApiUrl``, else ``url``."""
        for name, info in type(self.options).model_fields.items():
            if any(isinstance(mark, ApiUrl) for mark in info.metadata):
                return str(getattr(self.options, name))
        return str(self.options.url)

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate every request (their values become secrets); by
        default ``auth_header``'s."""
        if self.auth_header is None:
            return {}
        name, value = self.auth_header
        return {name: value.format_map(_SecretValues(self))}

    def auth_body(self) -> dict[str, Any]:
        """Fields every JSON object body carries, made for each request as it is sent (for a
        vendor that authenticates in the body); never stored in a cursor."""
        return {}

    @staticmethod
    def rate_headers(response: httpx.Response) -> RateHeaders:
        """What a response says of the vendor's limit (default: the standard headers); a
        vendor with its own headers overrides this staticmethod."""
        return standard_rate_headers(response)

    def build_destination(self) -> Destination | None:
        """The destination side, built once (by default ``destination_class``'s); None when
        the vendor takes no writes."""
        return None if self.destination_class is None else self.destination_class(self)

    def check(self) -> None:
        """The connection check's call (default: GET ``probe``)."""
        if self.probe is not None:
            self.api.get(self.probe)

    # --- what the kit provides ---------------------------------------------------------------

    def secret(self, option: str) -> str:
        """The value of a secret option."""
        value = getattr(self.options, option)
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def limiter(self, rate: float, *, burst: float | None = None) -> RateLimiter:
        """A rate limiter on this instance's clock (for an endpoint's own limit)."""
        return RateLimiter(
            rate, burst=burst, sleep=self.context.sleep, monotonic=self.context.monotonic
        )

    @property
    def api(self) -> ApiClient:
        """One client, and so one rate limiter, for everything this instance sends."""
        if self._api is None:
            self._api = ApiClient(
                self.base_url(),
                auth_headers=self.auth_headers(),
                rate_limit=self.limiter(
                    float(getattr(self.options, "rate_limit", 5.0)), burst=self.burst
                ),
                context=self.context,
                retry=RetryPolicy(auth_retries=self.auth_retries, sleep=self.context.sleep),
                rules=self.rules or ErrorRules(vendor=self.vendor),
                rate_headers=type(self).rate_headers,
                auth_body=self.auth_body,
            )
        return self._api

    def lookback(self, stream: str, default: float) -> float:
        """Seconds ``stream`` reads again before its cursor: the option's, else the stream's."""
        return float((getattr(self.options, "lookback", None) or {}).get(stream, default))

    def streams(self) -> list[Stream]:
        wanted = getattr(self.options, "streams", None)
        return [cls(self) for cls in self.stream_classes if wanted is None or cls.name in wanted]

    def destination(self) -> Destination | None:
        if self._destination is None:
            self._destination = self.build_destination()
        return self._destination

    def check_connection(self) -> None:
        with connection_check(
            self.context.instance, self.vendor, self.base_url(), refused=self.refused
        ):
            self.check()

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
            self._destination = None  # it holds the closed client


class _SecretValues(dict[str, str]):
    """An option's (secret) value by its name, for ``str.format_map``."""

    def __init__(self, connector: HttpConnector) -> None:
        super().__init__()
        self.connector = connector

    def __missing__(self, option: str) -> str:
        return self.connector.secret(option)
