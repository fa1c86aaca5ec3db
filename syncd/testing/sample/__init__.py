"""The sample connector (the Sample CRM), its emulator and its conformance harness: the
smallest connector that passes the conformance suite, and the template of a new one."""

from syncd import hookimpl
from syncd.testing.sample.connector import SampleConnector
from syncd.testing.sample.emulator import SampleEmulator


@hookimpl
def syncd_connectors() -> list[type]:
    return [SampleConnector]


@hookimpl
def syncd_emulators() -> dict[str, type]:
    return {"sample": SampleEmulator}


__all__ = ["SampleConnector", "SampleEmulator"]
