"""The ActiveCampaign connector (API v3): contacts, tags, lists, fields, e-mail activity,
bounces and shop orders in; tags, lists, field values and contacts out."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr

from syncd.connectors import ApiUrl, HttpConnector, HttpOptions
from syncd_plugins.activecampaign.destination import ActiveCampaignDestination
from syncd_plugins.activecampaign.streams import STREAMS
from syncd_plugins.init_tools import TOOLS as INIT_TOOLS


class ActiveCampaignOptions(HttpOptions):
    # the account's API URL from Settings → Developer, with or without /api/3
    url: Annotated[str, ApiUrl(path="/api/3", example="https://ACCOUNT.api-us1.com")]
    token: SecretStr  # ${AC_TOKEN} in the YAML
    rate_limit: float = Field(default=5.0, gt=0, le=5.0)  # AC allows 5 a second per account
    page_size: int = Field(default=100, ge=1, le=100)
    batch_size: int = Field(default=10_000, ge=1, le=100_000)
    import_wait: float = Field(default=120.0, ge=0)  # seconds to wait for a bulk import
    # bulk imports a minute at most: AC allows 100 per account
    import_rate: float = Field(default=100.0, gt=0, le=100.0)
    list_sender_url: str | None = None  # lets syncd create a missing list
    list_sender_reminder: str = "You signed up on our website."
    # read each contact's site visits (one call a contact read: off for large accounts)
    site_tracking: bool = False


class ActiveCampaignConnector(HttpConnector):
    name = "activecampaign"
    init = INIT_TOOLS["activecampaign"]  # what `syncd init` writes for it
    vendor = "ActiveCampaign"
    Options = ActiveCampaignOptions
    stream_classes = STREAMS
    probe = "users/me"  # who the token belongs to
    refused = (
        "ActiveCampaign refused the API token (HTTP {status}); check token and url in the config"
    )
    auth_retries = 1  # public AC clients retry an intermittent 403 once before believing it
    auth_header = ("Api-Token", "{token}")
    destination_class = ActiveCampaignDestination

    options: ActiveCampaignOptions
