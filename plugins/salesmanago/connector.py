"""The SALESmanago connector (JSON API v2): contacts with their tags, properties, opt-out
state, score and external events in; tags, opt-in and opt-out, property values and contacts
out, through the batch upsert."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import Field, SecretStr, field_validator

from syncd.connectors.classify import connection_check
from syncd.connectors.client import ApiClient
from syncd.connectors.contract import (
    Connector,
    ConnectorContext,
    ConnectorOptions,
    Destination,
    Stream,
)
from syncd.connectors.ratelimit import RateLimiter
from syncd.connectors.retrying import RetryPolicy
from syncd.secrets import register_secret
from syncd_plugins.salesmanago.destination import SalesmanagoDestination
from syncd_plugins.salesmanago.mapping import EVENT_TYPES
from syncd_plugins.salesmanago.signed import RULES, SignedApi
from syncd_plugins.salesmanago.streams import ContactsStream


class SalesmanagoOptions(ConnectorOptions):
    # the account's server: "app3" (→ https://app3.salesmanago.com/api/), a host name, or a
    # whole URL (an emulator on loopback)
    server: str
    client_id: str
    api_key: SecretStr  # any random string the caller chooses; ${SM_API_KEY} in the YAML
    api_secret: SecretStr  # ${SM_API_SECRET} in the YAML
    owner: str  # the e-mail of the SALESmanago user who owns the contacts
    batch_size: int = Field(default=100, ge=1, le=1000)
    page_size: int = Field(default=100, ge=1, le=1000)
    # SALESmanago publishes no rate limit: requests a second, as the account allows
    rate_limit: float = Field(default=5.0, gt=0)
    # the e-mail opt-in state, shown as one list since SALESmanago has no list object
    consent_list: str = Field(default="email", min_length=1)

    @field_validator("server")
    @classmethod
    def _base_url(cls, value: str) -> str:
        server = value.strip().rstrip("/")
        if not server:
            raise ValueError("name the account's server, like app3")
        if server.startswith(("https://", "http://")):
            return server if server.endswith("/api") else server + "/api"
        host = server if "." in server else f"{server}.salesmanago.com"
        return f"https://{host}/api"

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        owner = value.strip()
        if "@" not in owner:
            raise ValueError("the e-mail of the SALESmanago user who owns the contacts")
        return owner


class SalesmanagoConnector(Connector):
    name = "salesmanago"
    Options = SalesmanagoOptions
    fields = {"salesmanago_score": "number", "salesmanago_state": "text"}
    event_types = frozenset(EVENT_TYPES.values())

    options: SalesmanagoOptions

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        register_secret(self.options.api_secret.get_secret_value())
        # time is injectable so tests never wait for real
        self.sleep: Callable[[float], None] = time.sleep
        self.monotonic: Callable[[], float] = time.monotonic
        self._sm: SignedApi | None = None
        self._destination: SalesmanagoDestination | None = None

    @property
    def sm(self) -> SignedApi:
        """One client, and so one rate limiter, for everything this instance sends."""
        if self._sm is None:
            api = ApiClient(
                self.options.server,
                rate_limit=RateLimiter(
                    self.options.rate_limit, sleep=self.sleep, monotonic=self.monotonic
                ),
                context=self.context,
                retry=RetryPolicy(sleep=self.sleep),
                rules=RULES,
            )
            self._sm = SignedApi(
                api,
                client_id=self.options.client_id,
                api_key=self.options.api_key.get_secret_value(),
                api_secret=self.options.api_secret.get_secret_value(),
                owner=self.options.owner,
                clock=self.context.clock,
            )
        return self._sm

    def streams(self) -> list[Stream]:
        return [
            ContactsStream(
                self.sm, self.options.page_size, self.options.consent_list, self.context.clock
            )
        ]

    def destination(self) -> Destination | None:
        if self._destination is None:
            self._destination = SalesmanagoDestination(
                self.sm, batch_size=self.options.batch_size, consent_list=self.options.consent_list
            )
        return self._destination

    def check_connection(self) -> None:
        """One cheap signed call: the account's tags."""
        with connection_check(self.context.instance, "SALESmanago", self.options.server):
            self.sm.call("contact/tags", {"showSystemTags": False})

    def close(self) -> None:
        if self._sm is not None:
            self._sm.close()
            self._sm = None
