"""HubSpot: the connector and the emulator of its CRM API v3."""

from typing import Any

from syncd import hookimpl


@hookimpl
def syncd_connectors() -> list[type]:
    from syncd_plugins.hubspot.connector import HubSpotConnector

    return [HubSpotConnector]


@hookimpl
def syncd_emulators() -> dict[str, Any]:
    from syncd_plugins.hubspot.emulator import HubSpotEmulator

    return {"hubspot": HubSpotEmulator}
