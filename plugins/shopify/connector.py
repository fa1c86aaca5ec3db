"""The Shopify connector (Admin API, pinned version): customers with their tags and e-mail
marketing consent, orders with their line items and abandoned checkouts in through the
GraphQL Admin API (paged by cursor, a first pull of a large shop through a bulk operation);
customer tags out through GraphQL ``tagsAdd`` / ``tagsRemove``. No REST call is made."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator

from syncd.connectors import ApiUrl, ErrorRules, HttpConnector, HttpOptions, dig
from syncd_plugins.init_tools import TOOLS as INIT_TOOLS
from syncd_plugins.shopify import streams
from syncd_plugins.shopify.api import GraphQL, graphql_error
from syncd_plugins.shopify.destination import ShopifyDestination
from syncd_plugins.shopify.streams import EVENT_TYPES, FIELDS, ShopifyStream

REST_REMOVED = (
    "the REST reads are no longer offered (Shopify made its REST Admin API legacy in 2024-10); "
    "delete the line: syncd reads through the GraphQL Admin API and the stored cursors go on"
)


class ShopifyOptions(HttpOptions):
    # the shop: "my-store" (→ https://my-store.myshopify.com), a host name, or a whole URL
    # (an emulator on loopback)
    shop: Annotated[str, ApiUrl(host="{}.myshopify.com", example="my-store")]
    access_token: SecretStr  # ${SHOPIFY_ACCESS_TOKEN} in the YAML
    api_version: str = "2024-10"  # pinned, as Shopify asks
    page_size: int = Field(default=250, ge=1, le=250)
    # contacts per push; their mutations go 100 to a document (Shopify's 1,000 points)
    batch_size: int = Field(default=500, ge=1, le=5000)
    # requests a second at most; Shopify paces GraphQL by cost (below), not by requests
    # ("rest_rate": its name when syncd read over REST)
    rate_limit: float = Field(
        default=20.0, gt=0, validation_alias=AliasChoices("rest_rate", "rate_limit")
    )
    # GraphQL points restored a second: 100 standard, 200 Advanced, 1000 Plus
    graphql_restore_rate: float = Field(default=100.0, gt=0)
    # a stream's first pull goes through a bulk operation from this many objects (counted
    # first); ``bulk: true`` takes a bulk operation for every first pull
    bulk_threshold: int = Field(default=10_000, ge=1)
    bulk: bool = False
    # the longest pause between two looks at a running bulk operation (the first is 0.1 s)
    bulk_poll: float = Field(default=2.0, gt=0)
    # the REST reads are gone: "graphql" (the former default) is taken, "rest" refused
    reads: str | None = None

    @field_validator("reads")
    @classmethod
    def _reads(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() != "graphql":
            raise ValueError(REST_REMOVED)
        return value

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}", value.strip()):
            raise ValueError("an API version such as 2024-10")
        return value.strip()


class ShopifyConnector(HttpConnector):
    name = "shopify"
    init = INIT_TOOLS["shopify"]  # what `syncd init` writes for it
    vendor = "Shopify"
    Options = ShopifyOptions
    fields = FIELDS
    event_types = EVENT_TYPES
    stream_classes = (streams.Customers, streams.Orders, streams.Checkouts)
    rules = ErrorRules(vendor="Shopify", body_error=graphql_error)
    auth_header = ("X-Shopify-Access-Token", "{access_token}")
    destination_class = ShopifyDestination
    _graphql: GraphQL | None = None

    options: ShopifyOptions

    def base_url(self) -> str:
        return f"{self.options.shop}/admin/api/{self.options.api_version}"

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

    def wants_bulk(self, stream: ShopifyStream) -> bool:
        """Whether a stream's first pull goes through a bulk operation: always with
        ``bulk: true``, else when the shop holds ``bulk_threshold`` objects of it or more."""
        if self.options.bulk:
            return True
        limit = self.options.bulk_threshold
        query = f"query syncd_count($limit: Int) {{ {stream.count}(limit: $limit) {{ count }} }}"
        data, _ = self.graphql.call(query, {"limit": limit}, cost=1)
        found = dig(data, f"{stream.count}.count")
        return isinstance(found, int) and found >= limit
