"""HubSpot's webhook subscriptions for one app, through the webhooks API v3 with the developer
API key (``?hapikey=``): the app's one target URL (``/webhooks/v3/{appId}/settings``) and its
event subscriptions (``/subscriptions``). A subscription is the app's, for every account that
installed it; its address is the settings' target URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from syncd.connectors import ApiClient, Connector, ConnectorError, FatalError, WebhookSubscription
from syncd_plugins.hubspot.streams import CONTACT

if TYPE_CHECKING:
    from syncd_plugins.hubspot.connector import HubSpotConnector

#: what syncd subscribes to: new contacts, and a change of each contact property it reads
#: (its e-mail, the fields the contacts stream maps, the opt-out)
PROPERTIES = (
    "email",
    *(path.partition(".")[2] for path in CONTACT.attributes),
    "hs_email_optout",
)
WANTED = [("contact.creation", None)] + [("contact.propertyChange", p) for p in PROPERTIES]


def _client(connector: Connector) -> tuple[ApiClient, str, dict[str, str]]:
    """The developer API's client (no bearer token), the app's path and the key parameter."""
    options = cast("HubSpotConnector", connector).options
    instance = connector.context.instance
    if options.app_id is None or options.developer_api_key is None:
        raise FatalError(
            f"connectors.{instance}: set app_id and developer_api_key to manage the HubSpot "
            "app's webhooks"
        )
    client = ApiClient(options.base_url, rate_limit=5.0, context=connector.context)
    key = {"hapikey": options.developer_api_key.get_secret_value()}
    return client, f"webhooks/v3/{options.app_id}", key


def subscriptions(connector: Connector) -> list[WebhookSubscription]:
    """The app's event subscriptions, each at the settings' target URL."""
    client, app, key = _client(connector)
    return _listed(client, app, key, _target(client, app, key))


def register(connector: Connector, address: str) -> list[WebhookSubscription]:
    """Point the app's target URL at ``address`` and add the subscriptions it lacks."""
    client, app, key = _client(connector)
    if _target(client, app, key) != address:
        settings = {
            "targetUrl": address,
            "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"},
        }
        client.request("PUT", f"{app}/settings", params=key, json=settings)
    have = {(s["eventType"], s.get("propertyName")) for s in _rows(client, app, key)}
    for event_type, prop in WANTED:
        if (event_type, prop) in have:
            continue
        body: dict[str, Any] = {"eventType": event_type, "active": True}
        if prop is not None:
            body["propertyName"] = prop
        client.request("POST", f"{app}/subscriptions", params=key, json=body)
    return _listed(client, app, key, address)


def _target(client: ApiClient, app: str, key: dict[str, str]) -> str:
    try:
        settings = client.request_json("GET", f"{app}/settings", params=key)
    except ConnectorError as exc:
        if getattr(exc, "status", None) == 404:
            return ""  # no settings yet
        raise
    return str((settings or {}).get("targetUrl") or "")


def _rows(client: ApiClient, app: str, key: dict[str, str]) -> list[dict[str, Any]]:
    body = client.request_json("GET", f"{app}/subscriptions", params=key)
    return list((body or {}).get("results") or [])


def _listed(
    client: ApiClient, app: str, key: dict[str, str], target: str
) -> list[WebhookSubscription]:
    return [
        WebhookSubscription(
            str(row["id"]),
            row["eventType"]
            + (f" {row['propertyName']}" if row.get("propertyName") else "")
            + ("" if row.get("active", True) else " (paused)"),
            target,
        )
        for row in _rows(client, app, key)
    ]
