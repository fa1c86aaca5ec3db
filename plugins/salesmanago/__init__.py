"""SALESmanago: the connector and the emulator of its JSON API (v2)."""

from typing import Any

from syncd import hookimpl


@hookimpl
def syncd_connectors() -> list[type]:
    from syncd_plugins.salesmanago.connector import SalesmanagoConnector

    return [SalesmanagoConnector]


@hookimpl
def syncd_emulators() -> dict[str, Any]:
    from syncd_plugins.salesmanago.emulator import SalesmanagoEmulator

    return {"salesmanago": SalesmanagoEmulator}
