"""Shopify: the connector and the emulator of its Admin API (REST reads, GraphQL tag writes)."""

from syncd.connectors import vendor_hooks

syncd_connectors, syncd_emulators, syncd_webhook_receivers = vendor_hooks(__name__, "Shopify")
