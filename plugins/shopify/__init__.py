"""Shopify: the connector and the emulator of its Admin API (REST reads, GraphQL tag writes)."""

from syncd.connectors import plugin_hooks, receivers_hook

syncd_connectors, syncd_emulators = plugin_hooks(
    "syncd_plugins.shopify.connector.ShopifyConnector",
    emulators={"shopify": "syncd_plugins.shopify.emulator.ShopifyEmulator"},
)
syncd_webhook_receivers = receivers_hook(
    {"shopify": "syncd_plugins.shopify.webhooks.ShopifyWebhooks"}
)
