"""The HubSpot connector (CRM API v3): contacts with lifecycle stage, lead status and owner,
and deals with their stage, pipeline, amount, owner and contacts in; segments as MANUAL list
memberships and computed values as contact properties out."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

import httpx
from pydantic import Field, SecretStr, model_validator

from syncd.connectors import ApiUrl, HttpConnector, HttpOptions, RateHeaders, RateLimiter
from syncd_plugins.hubspot import analytics
from syncd_plugins.hubspot.destination import HubSpotDestination
from syncd_plugins.hubspot.streams import Contacts, Deals
from syncd_plugins.init_tools import TOOLS as INIT_TOOLS


class HubSpotOptions(HttpOptions):
    token: SecretStr  # a private app's access token; ${HUBSPOT_TOKEN} in the YAML
    base_url: Annotated[str, ApiUrl(example="https://api.hubapi.com")] = "https://api.hubapi.com"
    # the private app's burst limit: 100 (Free, Starter) or 190 (Professional, Enterprise)
    burst_limit: Literal[100, 190] = 100
    search_rate: float = Field(default=5.0, gt=0, le=5.0)  # the search endpoints allow ~5/s
    page_size: int = Field(default=200, ge=1, le=200)
    # contacts a push holds: a list's memberships of a whole batch go in one call
    batch_size: int = Field(default=10_000, ge=1, le=100_000)
    # segments as values of this multi-checkbox contact property instead of MANUAL lists
    segment_property: str | None = None
    app_id: int | None = Field(
        default=None,
        description="the id of the HubSpot app whose webhooks syncd webhooks register sets "
        "up (its target URL and event subscriptions)",
    )
    developer_api_key: SecretStr | None = Field(
        default=None,
        description="the developer account's API key the webhooks API takes as ?hapikey= "
        "(syncd webhooks register and list); ${HUBSPOT_DEVELOPER_API_KEY} in the YAML",
    )

    @model_validator(mode="after")
    def _rate(self) -> HubSpotOptions:
        # the burst spread over its 10 s; the headers stop it at the window's end
        if "rate_limit" not in self.model_fields_set:
            self.rate_limit = self.burst_limit / 10
        return self


class HubSpotConnector(HttpConnector):
    name = "hubspot"
    init = INIT_TOOLS["hubspot"]  # what `syncd init` writes for it
    vendor = "HubSpot"
    Options = HubSpotOptions
    fields = {
        "lifecycle_stage": "text",
        "lead_status": "text",
        "owner_email": "text",
        **analytics.FIELDS,
    }
    event_types = frozenset({"form_submitted"})
    stream_classes = (Contacts, Deals)
    probe = "crm/v3/owners?limit=1"
    refused = "HubSpot refused the access token (HTTP {status}); check token in the config"
    auth_header = ("Authorization", "Bearer {token}")
    destination_class = HubSpotDestination

    options: HubSpotOptions

    @staticmethod
    def rate_headers(response: httpx.Response) -> RateHeaders:
        """``X-HubSpot-RateLimit-Remaining`` and the window length (search sends none)."""
        h = response.headers
        remaining = h.get("x-hubspot-ratelimit-remaining")
        interval = h.get("x-hubspot-ratelimit-interval-milliseconds")
        return RateHeaders(
            remaining=int(remaining) if remaining is not None else None,
            reset_after=int(interval) / 1000 if interval is not None else None,
        )

    @cached_property
    def search_limit(self) -> RateLimiter:
        """The search endpoints' own limit, on top of the burst limit."""
        return self.limiter(self.options.search_rate, burst=1)
