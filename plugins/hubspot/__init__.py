"""HubSpot: the connector and the emulator of its CRM API v3."""

from syncd.connectors import plugin_hooks

syncd_connectors, syncd_emulators = plugin_hooks(
    "syncd_plugins.hubspot.connector.HubSpotConnector",
    emulators={"hubspot": "syncd_plugins.hubspot.emulator.HubSpotEmulator"},
)
