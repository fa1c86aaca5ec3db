"""ActiveCampaign: the connector and the emulator of its API v3."""

from typing import Any

from syncd import hookimpl


@hookimpl
def syncd_connectors() -> list[type]:
    from syncd_plugins.activecampaign.connector import ActiveCampaignConnector

    return [ActiveCampaignConnector]


@hookimpl
def syncd_emulators() -> dict[str, Any]:
    from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator

    return {"activecampaign": ActiveCampaignEmulator}
