"""ActiveCampaign's webhooks for one account, through ``/api/3/webhooks``: one webhook named
``syncd`` posting the contact events syncd reads to the address syncd gives. AC signs nothing,
so the address carries ``webhooks.connectors.NAME.token`` as ``?token=``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from syncd.connectors import ApiClient, Connector, FatalError, WebhookSubscription

if TYPE_CHECKING:
    from syncd_plugins.activecampaign.connector import ActiveCampaignConnector

NAME = "syncd"
EVENTS = ["subscribe", "unsubscribe", "update", "contact_tag_added", "contact_tag_removed"]
#: every initiator but the API: syncd's own writes come through the API, and would echo back
SOURCES = ["public", "admin", "system"]


def subscriptions(connector: Connector) -> list[WebhookSubscription]:
    """Every webhook of the account, one row per event (the address's token hidden)."""
    rows = []
    for hook in _webhooks(connector):
        for event in hook.get("events") or []:
            rows.append(WebhookSubscription(str(hook["id"]), event, shown(hook["url"])))
    return rows


def register(
    connector: ActiveCampaignConnector, address: str, token: str | None
) -> list[WebhookSubscription]:
    """Create the ``syncd`` webhook posting to ``address`` (with ``token``) unless a webhook
    already posts there; a webhook there lacking events gets them added."""
    if not token:
        instance = connector.context.instance
        raise FatalError(
            f"webhooks.connectors.{instance}.token is not set: ActiveCampaign signs nothing, "
            "so its webhook URL must carry a secret"
        )
    url = with_token(address, token)
    found = [h for h in _webhooks(connector) if h.get("url") == url]
    if not found:
        body = {"webhook": {"name": NAME, "url": url, "events": EVENTS, "sources": SOURCES}}
        _api(connector).request("POST", "webhooks", json=body)
    else:
        hook = found[0]
        missing = [e for e in EVENTS if e not in (hook.get("events") or [])]
        if missing:
            events = [*(hook.get("events") or []), *missing]
            _api(connector).request(
                "PUT", f"webhooks/{hook['id']}", json={"webhook": {"events": events}}
            )
    return [s for s in subscriptions(connector) if s.address == shown(url)]


def with_token(address: str, token: str) -> str:
    """``address`` with ``?token=`` set."""
    parts = urlsplit(address)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"] + [("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def shown(url: str) -> str:
    """``url`` with its token's value hidden."""
    parts = urlsplit(url)
    query = [(k, "***" if k == "token" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _api(connector: Connector) -> ApiClient:
    return cast("ActiveCampaignConnector", connector).api


def _webhooks(connector: Connector) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = _api(connector).request_json(
            "GET", "webhooks", params={"limit": 100, "offset": offset}
        )
        page = list((body or {}).get("webhooks") or [])
        found += page
        if len(page) < 100:
            return found
        offset += 100
