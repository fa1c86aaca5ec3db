"""ActiveCampaign: the connector and the emulator of its API v3."""

from syncd.connectors import vendor_hooks

syncd_connectors, syncd_emulators, syncd_webhook_receivers = vendor_hooks(
    __name__, "ActiveCampaign"
)
