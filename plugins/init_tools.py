"""What ``syncd init`` writes for each bundled tool: its instance name, a comment, and its
options with ``${ENV}`` secrets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    instance: str  # the connector instance's name in the config
    about: str  # the comment on its entry
    options: str  # its options, indented four spaces, with ${ENV} secrets
    receives: bool  # a destination: tags, lists and fields go to it


TOOLS: dict[str, Tool] = {
    "shopify": Tool(
        "shop",
        "the shop: customers, orders and carts in",
        "    shop: ${SHOPIFY_SHOP}              # my-store (for my-store.myshopify.com)\n"
        "    access_token: ${SHOPIFY_ACCESS_TOKEN}  # a custom app's Admin API token\n",
        receives=False,
    ),
    "hubspot": Tool(
        "hubspot",
        "the CRM: contacts and lifecycle in; lists and properties out",
        "    token: ${HUBSPOT_TOKEN}            # a private app's access token\n"
        "    # burst_limit: 190                 # Professional and Enterprise accounts\n",
        receives=True,
    ),
    "activecampaign": Tool(
        "ac",
        "the e-mail tool: contacts, opens and clicks in; tags, lists and fields out",
        "    url: ${AC_URL}                     # Settings → Developer: https://ACCOUNT.api-us1.com\n"
        "    token: ${AC_TOKEN}                 # the API key beside it\n",
        receives=True,
    ),
    "salesmanago": Tool(
        "sm",
        "marketing automation: contacts, tags and events in; tags and details out",
        "    server: ${SM_SERVER}               # app3 (for app3.salesmanago.com)\n"
        "    client_id: ${SM_CLIENT_ID}\n"
        "    api_key: ${SM_API_KEY}\n"
        "    api_secret: ${SM_API_SECRET}\n"
        "    owner: ${SM_OWNER}                 # the e-mail of the user who owns the contacts\n",
        receives=True,
    ),
}
DEFAULT_TOOLS = "shopify,activecampaign"
