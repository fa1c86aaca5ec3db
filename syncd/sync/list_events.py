"""Events made from a list membership taking a status (``ContactRecord.list_events``): for a
vendor that keeps a state, such as an opt-out flag, but not the time it changed. The event is
made when the page first sees the status, at the contact's time (``updated_at``), keyed by the
contact, the list, the status and that time: the same change read again is the same event,
and a status the store already holds makes none."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime

from syncd.clock import as_utc
from syncd.connectors.contract import ContactRecord, EventRecord

MAX_KEY = 255  # the store's event id (syncd.sync.checks.ID)


def list_event(record: ContactRecord, name: str, status: str, now: datetime) -> EventRecord:
    """The event of ``record``'s list ``name`` taking ``status``, dated by the record (the
    page's ``now`` when it has no time)."""
    at = as_utc(record.updated_at) if isinstance(record.updated_at, datetime) else now
    stamp = int(at.timestamp() * 1000)
    key = f"list:{status}:{stamp}:{record.external_id}:{name}"
    if len(key) > MAX_KEY:
        digest = hashlib.sha256(f"{record.external_id}\x1f{name}".encode()).hexdigest()
        key = f"list:{status}:{stamp}:sha256:{digest}"
    kind = (record.list_events or {})[status]
    return EventRecord(key, kind, at, record.external_id, record.email, status, {"list": name})


def candidates(record: ContactRecord, now: datetime) -> Iterator[EventRecord]:
    """The events ``record`` would make if each of its lists took its status now."""
    wanted = record.list_events or {}
    for name, status in (record.lists or {}).items():
        if status in wanted:
            yield list_event(record, name, status, now)
