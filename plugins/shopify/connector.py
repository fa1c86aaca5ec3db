"""The Shopify connector (Admin API, pinned version): customers with their tags and e-mail
marketing consent, orders and abandoned checkouts in over REST; customer tags out through
GraphQL ``tagsAdd`` / ``tagsRemove``."""

from __future__ import annotations

import re
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
from syncd_plugins.shopify.api import (
    VENDOR,
    CostBudget,
    GraphQL,
    call_limit_reader,
    rest_message,
)
from syncd_plugins.shopify.destination import MAX_MUTATIONS, ShopifyDestination
from syncd_plugins.shopify.mapping import EVENT_TYPES, FIELDS
from syncd_plugins.shopify.streams import CheckoutsStream, CustomersStream, OrdersStream

REST_BUCKET = 40  # calls, on every plan


class ShopifyOptions(ConnectorOptions):
    # the shop: "my-store" (→ https://my-store.myshopify.com), a host name, or a whole URL
    # (an emulator on loopback)
    shop: str
    access_token: SecretStr  # ${SHOPIFY_ACCESS_TOKEN} in the YAML
    api_version: str = "2024-10"  # pinned, as Shopify asks
    page_size: int = Field(default=250, ge=1, le=250)
    # contacts per push; each may need a tagsAdd and a tagsRemove, all in one document
    batch_size: int = Field(default=50, ge=1, le=MAX_MUTATIONS // 2)
    # REST calls a second: 2 on standard plans, 4 on Advanced, 20 on Plus
    rest_rate: float = Field(default=2.0, gt=0)
    # GraphQL points restored a second: 100 standard, 200 Advanced, 1000 Plus
    graphql_restore_rate: float = Field(default=100.0, gt=0)

    @field_validator("shop")
    @classmethod
    def _shop_url(cls, value: str) -> str:
        shop = value.strip().rstrip("/")
        if not shop:
            raise ValueError("name the shop, like my-store")
        if shop.startswith(("https://", "http://")):
            return shop
        host = shop if "." in shop else f"{shop}.myshopify.com"
        return f"https://{host}"

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}", value.strip()):
            raise ValueError("an API version such as 2024-10")
        return value.strip()


class ShopifyConnector(Connector):
    name = "shopify"
    Options = ShopifyOptions
    fields = FIELDS
    event_types = EVENT_TYPES

    options: ShopifyOptions

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        # time is injectable so tests never wait for real
        self.sleep: Callable[[float], None] = time.sleep
        self.monotonic: Callable[[], float] = time.monotonic
        self._rest: ApiClient | None = None
        self._graphql: GraphQL | None = None
        self._destination: ShopifyDestination | None = None

    @property
    def base_url(self) -> str:
        return f"{self.options.shop}/admin/api/{self.options.api_version}"

    def _client(self, rules: ErrorRules, limiter: RateLimiter) -> ApiClient:
        return ApiClient(
            self.base_url,
            auth_headers={"X-Shopify-Access-Token": self.options.access_token.get_secret_value()},
            rate_limit=limiter,
            context=self.context,
            retry=RetryPolicy(sleep=self.sleep),
            rules=rules,
            rate_headers=call_limit_reader(self.options.rest_rate),
        )

    @property
    def rest(self) -> ApiClient:
        """One REST client, and so one leaky-bucket limiter, for every read of this shop."""
        if self._rest is None:
            limiter = RateLimiter(
                self.options.rest_rate,
                burst=REST_BUCKET,
                sleep=self.sleep,
                monotonic=self.monotonic,
            )
            self._rest = self._client(ErrorRules(vendor=VENDOR, message=rest_message), limiter)
        return self._rest

    @property
    def graphql(self) -> GraphQL:
        """The GraphQL side: its pace is the cost budget, not a count of requests."""
        if self._graphql is None:
            budget = CostBudget(
                self.options.graphql_restore_rate, monotonic=self.monotonic, sleep=self.sleep
            )
            # a request count limit far above any reachable rate: the budget paces instead
            limiter = RateLimiter(1000.0, sleep=self.sleep, monotonic=self.monotonic)
            self._graphql = GraphQL(lambda rules: self._client(rules, limiter), budget)
        return self._graphql

    def streams(self) -> list[Stream]:
        size, clock = self.options.page_size, self.context.clock
        return [
            CustomersStream(self.rest, size, clock),
            OrdersStream(self.rest, size, clock),
            CheckoutsStream(self.rest, size, clock),
        ]

    def destination(self) -> Destination | None:
        if self._destination is None:
            self._destination = ShopifyDestination(
                self.rest, self.graphql, batch_size=self.options.batch_size
            )
        return self._destination

    def check_connection(self) -> None:
        """One cheap REST call: the shop."""
        with connection_check(self.context.instance, "Shopify", self.options.shop):
            self.rest.get("shop.json")

    def close(self) -> None:
        for client in (self._rest, self._graphql.api if self._graphql else None):
            if client is not None:
                client.close()
        self._rest = self._graphql = self._destination = None
