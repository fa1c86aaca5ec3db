"""The Shopify connector (Admin API, pinned version): customers with their tags and e-mail
marketing consent, orders with their line items and abandoned checkouts in through the
GraphQL Admin API (paged by cursor, a first pull of a large shop through a bulk operation);
customer tags out through GraphQL ``tagsAdd`` / ``tagsRemove``. ``reads: rest`` reads the
legacy REST resources instead."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator

from syncd.connectors import (
    ApiUrl,
    Destination,
    ErrorRules,
    HttpConnector,
    HttpOptions,
    Stream,
    dig,
)
from syncd_plugins.shopify import graphql_streams, streams
from syncd_plugins.shopify.api import GraphQL, call_limit, graphql_error
from syncd_plugins.shopify.destination import MAX_MUTATIONS, ShopifyDestination
from syncd_plugins.shopify.streams import EVENT_TYPES, FIELDS

if TYPE_CHECKING:
    from syncd_plugins.shopify.graphql_streams import GraphQLStream


class ShopifyOptions(HttpOptions):
    # the shop: "my-store" (→ https://my-store.myshopify.com), a host name, or a whole URL
    # (an emulator on loopback)
    shop: Annotated[str, ApiUrl(host="{}.myshopify.com", example="my-store")]
    access_token: SecretStr  # ${SHOPIFY_ACCESS_TOKEN} in the YAML
    api_version: str = "2024-10"  # pinned, as Shopify asks
    page_size: int = Field(default=250, ge=1, le=250)
    # contacts per push; each may need a tagsAdd and a tagsRemove, all in one document
    batch_size: int = Field(default=50, ge=1, le=MAX_MUTATIONS // 2)
    # REST calls a second: 2 on standard plans, 4 on Advanced, 20 on Plus ("rest_rate")
    rate_limit: float = Field(
        default=2.0, gt=0, validation_alias=AliasChoices("rest_rate", "rate_limit")
    )
    # GraphQL points restored a second: 100 standard, 200 Advanced, 1000 Plus
    graphql_restore_rate: float = Field(default=100.0, gt=0)
    # "graphql" (the default): the GraphQL Admin API (REST is legacy since 2024-10); "rest":
    # the legacy REST resources, kept for one more release
    reads: Literal["graphql", "rest"] = "graphql"
    # a stream's first pull goes through a bulk operation from this many objects (counted
    # first); ``bulk: true`` takes a bulk operation for every first pull
    bulk_threshold: int = Field(default=10_000, ge=1)
    bulk: bool = False
    # seconds between two looks at a running bulk operation
    bulk_poll: float = Field(default=2.0, gt=0)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}", value.strip()):
            raise ValueError("an API version such as 2024-10")
        return value.strip()


class ShopifyConnector(HttpConnector):
    name = "shopify"
    vendor = "Shopify"
    Options = ShopifyOptions
    fields = FIELDS
    event_types = EVENT_TYPES
    stream_classes = (graphql_streams.Customers, graphql_streams.Orders, graphql_streams.Checkouts)
    rest_classes = (streams.Customers, streams.Orders, streams.Checkouts)
    rules = ErrorRules(vendor="Shopify", body_error=graphql_error)
    rate_headers = staticmethod(call_limit)
    burst = 40  # the REST leaky bucket, on every plan
    _graphql: GraphQL | None = None

    options: ShopifyOptions

    def base_url(self) -> str:
        return f"{self.options.shop}/admin/api/{self.options.api_version}"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self.secret("access_token")}

    @property
    def graphql(self) -> GraphQL:
        """The shop's GraphQL budget, shared by every read and write of this instance."""
        api = self.api
        if self._graphql is None or self._graphql.api is not api:
            self._graphql = GraphQL(api, self.options.graphql_restore_rate, self.context)
        return self._graphql

    def check(self) -> None:
        """One cheap authenticated GraphQL query."""
        self.graphql.call("query syncd_check { shop { name } }", {}, cost=1)

    def streams(self) -> list[Stream]:
        if self.options.reads == "graphql":
            return super().streams()
        wanted = self.options.streams
        return [cls(self) for cls in self.rest_classes if wanted is None or cls.name in wanted]

    def wants_bulk(self, stream: GraphQLStream) -> bool:
        """Whether a stream's first pull goes through a bulk operation: always with
        ``bulk: true``, else when the shop holds ``bulk_threshold`` objects of it or more."""
        if self.options.bulk:
            return True
        limit = self.options.bulk_threshold
        query = f"query syncd_count($limit: Int) {{ {stream.count}(limit: $limit) {{ count }} }}"
        data, _ = self.graphql.call(query, {"limit": limit}, cost=1)
        found = dig(data, f"{stream.count}.count")
        return isinstance(found, int) and found >= limit

    def build_destination(self) -> Destination:
        rest = self.options.reads == "rest"
        return ShopifyDestination(
            self.graphql, batch_size=self.options.batch_size, rest_lookup=rest
        )
