"""Mailchimp: the connector of one audience and the emulator of the Marketing API, registered
with syncd through the ``syncd_connectors`` and ``syncd_emulators`` hooks."""

from syncd.connectors import plugin_hooks

syncd_connectors, syncd_emulators = plugin_hooks(
    "syncd_mailchimp.connector.MailchimpConnector",
    emulators={"mailchimp": "syncd_mailchimp.emulator.MailchimpEmulator"},
)
