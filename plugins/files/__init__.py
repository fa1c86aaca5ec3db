"""The files connector: contacts and events from JSONL or CSV files; changes into a JSON state."""

from syncd import hookimpl
from syncd_plugins.files.connector import FilesConnector


@hookimpl
def syncd_connectors() -> list[type]:
    return [FilesConnector]
