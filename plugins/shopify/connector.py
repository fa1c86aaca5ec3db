"""The Shopify connector (Admin API, pinned version): customers with their tags and e-mail
marketing consent, orders and abandoned checkouts in over REST; customer tags out through
GraphQL ``tagsAdd`` / ``tagsRemove``."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator

from syncd.connectors import ApiUrl, Destination, ErrorRules, HttpConnector, HttpOptions
from syncd_plugins.shopify.api import GraphQL, call_limit, graphql_error
from syncd_plugins.shopify.destination import MAX_MUTATIONS, ShopifyDestination
from syncd_plugins.shopify.streams import EVENT_TYPES, FIELDS, Checkouts, Customers, Orders


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
    stream_classes = (Customers, Orders, Checkouts)
    rules = ErrorRules(vendor="Shopify", body_error=graphql_error)
    rate_headers = staticmethod(call_limit)
    burst = 40  # the REST leaky bucket, on every plan
    probe = "shop.json"

    options: ShopifyOptions

    def base_url(self) -> str:
        return f"{self.options.shop}/admin/api/{self.options.api_version}"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self.secret("access_token")}

    def build_destination(self) -> Destination:
        graphql = GraphQL(self.api, self.options.graphql_restore_rate, self.context)
        return ShopifyDestination(self.api, graphql, batch_size=self.options.batch_size)
