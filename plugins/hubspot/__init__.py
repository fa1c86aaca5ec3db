"""HubSpot: the connector and the emulator of its CRM API v3."""

from syncd.connectors import plugin_hooks, receivers_hook

syncd_connectors, syncd_emulators = plugin_hooks(
    "syncd_plugins.hubspot.connector.HubSpotConnector",
    emulators={"hubspot": "syncd_plugins.hubspot.emulator.HubSpotEmulator"},
)
syncd_webhook_receivers = receivers_hook(
    {"hubspot": "syncd_plugins.hubspot.webhooks.HubSpotWebhooks"}
)
