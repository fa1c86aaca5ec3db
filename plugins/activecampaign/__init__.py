"""ActiveCampaign: the connector and the emulator of its API v3."""

from syncd.connectors import plugin_hooks, receivers_hook

syncd_connectors, syncd_emulators = plugin_hooks(
    "syncd_plugins.activecampaign.connector.ActiveCampaignConnector",
    emulators={"activecampaign": "syncd_plugins.activecampaign.emulator.ActiveCampaignEmulator"},
)
syncd_webhook_receivers = receivers_hook(
    {"activecampaign": "syncd_plugins.activecampaign.webhooks.ActiveCampaignWebhooks"}
)
