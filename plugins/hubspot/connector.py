"""The HubSpot connector (CRM API v3): contacts with lifecycle stage, lead status and owner,
and deals with their stage, pipeline, amount, owner and contacts in; segments as MANUAL list
memberships and computed values as contact properties out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from syncd.connectors.classify import ErrorRules, connection_check
from syncd.connectors.client import ApiClient
from syncd.connectors.contract import (
    Connector,
    ConnectorContext,
    ConnectorOptions,
    Destination,
    Stream,
)
from syncd.connectors.ratelimit import RateHeaders, RateLimiter
from syncd.connectors.retrying import RetryPolicy
from syncd.secrets import register_secret
from syncd_plugins.hubspot.destination import HubSpotDestination
from syncd_plugins.hubspot.streams import STREAMS, Owners

RULES = ErrorRules(vendor="HubSpot")


def hubspot_rate_headers(response: httpx.Response) -> RateHeaders:
    """``X-HubSpot-RateLimit-Remaining`` and the window length (the search endpoints send none)."""
    h = response.headers
    remaining = h.get("x-hubspot-ratelimit-remaining")
    interval = h.get("x-hubspot-ratelimit-interval-milliseconds")
    return RateHeaders(
        remaining=int(remaining) if remaining is not None else None,
        reset_after=int(interval) / 1000 if interval is not None else None,
    )


class HubSpotOptions(ConnectorOptions):
    token: SecretStr  # a private app's access token; ${HUBSPOT_TOKEN} in the YAML
    base_url: str = "https://api.hubapi.com"
    # the private app's burst limit: 100 (Free, Starter) or 190 (Professional, Enterprise)
    burst_limit: Literal[100, 190] = 100
    search_rate: float = Field(default=4.0, gt=0, le=5.0)  # the search endpoints allow ~5/s
    page_size: int = Field(default=200, ge=1, le=200)
    streams: list[str] | None = None  # which streams to read (default: all)
    # segments as values of this multi-checkbox contact property instead of MANUAL lists
    segment_property: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ValueError("must be a URL, like https://api.hubapi.com")
        return url

    @field_validator("streams")
    @classmethod
    def _streams(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or []) - set(STREAMS))
        if unknown:
            raise ValueError(f"unknown streams {unknown} (known: {', '.join(STREAMS)})")
        return value


class HubSpotConnector(Connector):
    name = "hubspot"
    Options = HubSpotOptions
    fields = {"lifecycle_stage": "text", "lead_status": "text", "owner_email": "text"}

    options: HubSpotOptions

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        register_secret(self.options.token.get_secret_value())
        # time is injectable so tests never wait for real
        self.sleep: Callable[[float], None] = time.sleep
        self.monotonic: Callable[[], float] = time.monotonic
        self._api: ApiClient | None = None
        self._search: RateLimiter | None = None
        self._destination: HubSpotDestination | None = None

    @property
    def api(self) -> ApiClient:
        """One client, and so one rate limiter, for everything this instance sends."""
        if self._api is None:
            burst = self.options.burst_limit
            self._api = ApiClient(
                self.options.base_url,
                auth_headers={"Authorization": f"Bearer {self.options.token.get_secret_value()}"},
                # the burst spread over its 10 s; the headers stop it at the window's end
                rate_limit=RateLimiter(
                    burst / 10, burst=burst / 10, sleep=self.sleep, monotonic=self.monotonic
                ),
                context=self.context,
                retry=RetryPolicy(sleep=self.sleep),
                rules=RULES,
                rate_headers=hubspot_rate_headers,
            )
        return self._api

    @property
    def search(self) -> RateLimiter:
        """The search endpoints' own limit, on top of the burst limit."""
        if self._search is None:
            self._search = RateLimiter(
                self.options.search_rate, burst=1, sleep=self.sleep, monotonic=self.monotonic
            )
        return self._search

    def streams(self) -> list[Stream]:
        owners = Owners(self.api)
        wanted = self.options.streams or list(STREAMS)
        return [
            STREAMS[name](self.api, self.search, owners, self.options.page_size) for name in wanted
        ]

    def destination(self) -> Destination | None:
        if self._destination is None:
            self._destination = HubSpotDestination(self.api, self.options.segment_property)
        return self._destination

    def check_connection(self) -> None:
        """One cheap authenticated call: the first owner."""
        refused = "HubSpot refused the access token (HTTP {status}); check token in the config"
        with connection_check(
            self.context.instance, "HubSpot", self.options.base_url, refused=refused
        ):
            self.api.get("crm/v3/owners", {"limit": 1})

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
