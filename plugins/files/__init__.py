"""The files connector: contacts and events from JSONL or CSV files; changes into a JSON state."""

from syncd.connectors import plugin_hooks

syncd_connectors, syncd_emulators = plugin_hooks("syncd_plugins.files.connector.FilesConnector")
