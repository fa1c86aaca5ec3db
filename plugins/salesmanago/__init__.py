"""SALESmanago: the connector and the emulator of its JSON API (v2)."""

from syncd.connectors import plugin_hooks, receivers_hook

syncd_connectors, syncd_emulators = plugin_hooks(
    "syncd_plugins.salesmanago.connector.SalesmanagoConnector",
    emulators={"salesmanago": "syncd_plugins.salesmanago.emulator.SalesmanagoEmulator"},
)
syncd_webhook_receivers = receivers_hook(
    {"salesmanago": "syncd_plugins.salesmanago.webhooks.SalesmanagoWebhooks"}
)
