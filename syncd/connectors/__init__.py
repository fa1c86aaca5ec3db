"""The connector contract and the HTTP toolkit every vendor connector uses."""

from syncd.connectors.contract import (
    Change,
    ChangeKind,
    ChangeResult,
    Connector,
    ConnectorContext,
    ConnectorOptions,
    ContactRecord,
    Destination,
    EventRecord,
    InvalidRecord,
    ListRecord,
    Outcome,
    Page,
    Record,
    Stream,
    TagRecord,
)

__all__ = [
    "Change",
    "ChangeKind",
    "ChangeResult",
    "Connector",
    "ConnectorContext",
    "ConnectorOptions",
    "ContactRecord",
    "Destination",
    "EventRecord",
    "InvalidRecord",
    "ListRecord",
    "Outcome",
    "Page",
    "Record",
    "Stream",
    "TagRecord",
]
