"""The ActiveCampaign connector (API v3): contacts, tags, lists, fields, e-mail activity,
bounces and shop orders in; tags, lists, field values and contacts out."""

from __future__ import annotations

import time
from collections.abc import Callable

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
from syncd.connectors.ratelimit import RateLimiter
from syncd.connectors.retrying import RetryPolicy
from syncd.secrets import register_secret
from syncd_plugins.activecampaign.destination import ActiveCampaignDestination, import_limiter
from syncd_plugins.activecampaign.streams import STREAM_NAMES, all_streams

API_PATH = "/api/3"


class ActiveCampaignOptions(ConnectorOptions):
    url: str  # the account's API URL from Settings → Developer, with or without /api/3
    token: SecretStr  # ${AC_TOKEN} in the YAML
    rate_limit: float = Field(default=5.0, gt=0, le=5.0)  # AC allows 5 a second per account
    page_size: int = Field(default=100, ge=1, le=100)
    batch_size: int = Field(default=10_000, ge=1, le=100_000)
    import_wait: float = Field(default=120.0, ge=0)  # seconds to wait for a bulk import
    list_sender_url: str | None = None  # lets syncd create a missing list
    list_sender_reminder: str = "You signed up on our website."
    streams: list[str] | None = None  # which streams to read (default: all)

    @field_validator("url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ValueError("must be the account's full API URL, like https://ACCOUNT.api-us1.com")
        return url if url.endswith(API_PATH) else url + API_PATH


class ActiveCampaignConnector(Connector):
    name = "activecampaign"
    Options = ActiveCampaignOptions

    options: ActiveCampaignOptions

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        register_secret(self.options.token.get_secret_value())
        if self.options.streams is not None:
            unknown = sorted(set(self.options.streams) - set(STREAM_NAMES))
            if unknown:
                raise ValueError(f"unknown streams {unknown} (known: {', '.join(STREAM_NAMES)})")
        # time is injectable so tests never wait for real
        self.sleep: Callable[[float], None] = time.sleep
        self.monotonic: Callable[[], float] = time.monotonic
        self._api: ApiClient | None = None
        self._destination: ActiveCampaignDestination | None = None

    @property
    def api(self) -> ApiClient:
        """One client, and so one rate limiter, for everything this instance sends."""
        if self._api is None:
            self._api = ApiClient(
                self.options.url,
                auth_headers={"Api-Token": self.options.token.get_secret_value()},
                rate_limit=RateLimiter(
                    self.options.rate_limit, sleep=self.sleep, monotonic=self.monotonic
                ),
                context=self.context,
                # public AC clients retry an intermittent 403 once before believing it
                retry=RetryPolicy(auth_retries=1, sleep=self.sleep),
                rules=ErrorRules(vendor="ActiveCampaign"),
            )
        return self._api

    def streams(self) -> list[Stream]:
        found = all_streams(self.api, self.options.page_size)
        wanted = self.options.streams
        return found if wanted is None else [s for s in found if s.name in wanted]

    def destination(self) -> Destination | None:
        if self._destination is None:
            self._destination = ActiveCampaignDestination(
                self.api,
                batch_size=self.options.batch_size,
                page_size=self.options.page_size,
                imports=import_limiter(self.sleep, monotonic=self.monotonic),
                import_wait=self.options.import_wait,
                list_sender_url=self.options.list_sender_url,
                list_sender_reminder=self.options.list_sender_reminder,
                sleep=self.sleep,
                monotonic=self.monotonic,
            )
        return self._destination

    def check_connection(self) -> None:
        """One cheap authenticated call: who the token belongs to."""
        refused = (
            "ActiveCampaign refused the API token (HTTP {status}); "
            "check token and url in the config"
        )
        with connection_check(
            self.context.instance, "ActiveCampaign", self.options.url, refused=refused
        ):
            self.api.get("users/me")

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
