"""SALESmanago: the connector and the emulator of its JSON API (v2)."""

from syncd.connectors import vendor_hooks

syncd_connectors, syncd_emulators, syncd_webhook_receivers = vendor_hooks(__name__, "Salesmanago")
