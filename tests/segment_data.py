"""An in-memory dataset of contacts, tags, lists, events and deals, and its loader into a store.

The same dataset feeds the plain-Python reference (tests/reference.py) and the store, so the
segment compiler's SQL can be checked against the reference on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.segments.rules import Rule, parse_segments
from syncd.segments.scores import ScoreModel, parse_scores
from syncd.store.schema import (
    contact_fields,
    contacts,
    deal_contacts,
    deals,
    events,
    memberships,
    metadata,
    segment_members,
    tags,
)
from syncd.yamlsource import SourceMap

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_COUNTER = re.compile(r"^(.*\S) \((\d+)\)$")


@dataclass(frozen=True)
class FieldValue:
    """A resolved field: its text, and the number and the time the text reads as."""

    text: str
    num: float | None
    ts: datetime | None


def field_value(text: str) -> FieldValue:
    """``"30"`` reads as the number 30, ``"2026-01-31"`` as midnight UTC of that day."""
    num = float(text) if _NUMBER.match(text) else None
    ts: datetime | None = None
    stripped = text.strip()
    if num is None and len(stripped) >= 10 and stripped[4] == "-" and stripped[7] == "-":
        try:
            parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            ts = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        else:
            try:
                day = date.fromisoformat(stripped[:10])
                ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
            except ValueError:
                ts = None
    return FieldValue(text, num, ts)


def split_tag(tag: str) -> tuple[str, int | None]:
    """``"CENNIK (3)"`` is the tag CENNIK with the counter 3."""
    match = _COUNTER.match(tag)
    return (match.group(1), int(match.group(2))) if match else (tag, None)


@dataclass
class Contact:
    id: int
    email: str
    fields: dict[str, FieldValue] = field(default_factory=dict)
    tags: set[tuple[str, str]] = field(default_factory=set)  # (source, tag as written)
    tag_scores: dict[tuple[str, str], float] = field(default_factory=dict)  # of those tags
    lists: dict[tuple[str, str], str] = field(default_factory=dict)  # (source, list): status
    # since when each tag and list status is held (none given: since the dataset's now)
    tag_since: dict[tuple[str, str], datetime] = field(default_factory=dict)
    list_since: dict[tuple[str, str], datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    contact_id: int
    type: str
    at: datetime
    value: float | None = None
    properties: Mapping[str, Any] | None = None
    source: str = "shop"


@dataclass(frozen=True)
class Deal:
    id: str
    contact_ids: frozenset[int]
    stage: str | None = None
    status: str | None = None
    pipeline: str | None = None
    owner: str | None = None
    amount: float | None = None
    source: str = "crm"
    created_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass
class Dataset:
    contacts: list[Contact] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    now: datetime = NOW

    def contact(self, email: str) -> Contact:
        """Add a contact (or return the one with this e-mail)."""
        for existing in self.contacts:
            if existing.email == email:
                return existing
        added = Contact(len(self.contacts) + 1, email)
        self.contacts.append(added)
        return added

    def event(
        self, email: str, kind: str, at: datetime, value: float | None = None, **properties: Any
    ) -> Event:
        """Add an event of the contact with this e-mail (added when new)."""
        added = Event(self.contact(email).id, kind, at, value, properties or None)
        self.events.append(added)
        return added

    def emails(self, ids: Iterable[int]) -> set[str]:
        by_id = {c.id: c.email for c in self.contacts}
        return {by_id[i] for i in ids}


def clear(conn: sa.Connection) -> None:
    """Empty every table of the store (children first, so no foreign key breaks)."""
    existing = set(sa.inspect(conn).get_table_names())
    for table in reversed(metadata.sorted_tables):
        if table.name in existing:
            conn.execute(table.delete())


def load(conn: sa.Connection, data: Dataset) -> None:
    """Write ``data`` into an empty store, as resolve and pull would have left it."""
    now = data.now
    if data.contacts:
        conn.execute(
            contacts.insert(),
            [{"id": c.id, "email": c.email, "created_at": now, "updated_at": now}
             for c in data.contacts],
        )  # fmt: skip
    rows: list[dict[str, Any]] = [
        {"contact_id": c.id, "name": name, "value": v.text, "num": v.num, "ts": v.ts,
         "source": "crm"}
        for c in data.contacts
        for name, v in c.fields.items()
    ]  # fmt: skip
    if rows:
        conn.execute(contact_fields.insert(), rows)
    rows = []
    for c in data.contacts:
        for source, tag in c.tags:
            name, count = split_tag(tag)
            rows.append(
                {"contact_id": c.id, "source": source, "tag": tag, "name": name, "count": count,
                 "score": c.tag_scores.get((source, tag)), "managed": False, "updated_at": now,
                 "since": c.tag_since.setdefault((source, tag), now)}
            )  # fmt: skip
    if rows:
        conn.execute(tags.insert(), rows)
    rows = [
        {"contact_id": c.id, "source": source, "list": name, "status": status,
         "managed": False, "updated_at": now, "since": c.list_since.setdefault((source, name), now)}
        for c in data.contacts
        for (source, name), status in c.lists.items()
    ]  # fmt: skip
    if rows:
        conn.execute(memberships.insert(), rows)
    rows = [
        {"source": e.source, "external_id": f"e{i}", "contact_id": e.contact_id, "type": e.type,
         "occurred_at": e.at, "value": e.value,
         "properties": dict(e.properties) if e.properties is not None else None}
        for i, e in enumerate(data.events)
    ]  # fmt: skip
    if rows:
        conn.execute(events.insert(), rows)
    if data.deals:
        conn.execute(
            deals.insert(),
            [{"source": d.source, "external_id": d.id, "name": d.id, "stage": d.stage,
              "status": d.status, "pipeline": d.pipeline, "owner": d.owner, "amount": d.amount,
              "updated_at": now, "created_at": d.created_at, "closed_at": d.closed_at}
             for d in data.deals],
        )  # fmt: skip
    rows = [
        {"source": d.source, "deal_id": d.id, "contact_id": cid}
        for d in data.deals
        for cid in sorted(d.contact_ids)
    ]
    if rows:
        conn.execute(deal_contacts.insert(), rows)


def parse(
    segments_yaml: Mapping[str, Any], scores_yaml: Mapping[str, Any] | None = None
) -> tuple[dict[str, Rule], dict[str, ScoreModel]]:
    """Rules and score models from YAML-shaped mappings, with a permissive catalog."""
    source = SourceMap("test.yaml")
    models = parse_scores(scores_yaml or {}, source)
    rules = parse_segments(segments_yaml, source, scores=list(models))
    return rules, models


def compute_in_store(
    engine: sa.Engine,
    data: Dataset,
    rules: Mapping[str, Rule],
    models: Mapping[str, ScoreModel],
) -> dict[str, set[int]]:
    """Load ``data`` into the (cleared) store, compute every segment in SQL, read the members.

    The data is committed before the compute: on a SQLite file the score passes are then
    read aside, on a second connection (syncd.segments.aside), as in a cycle.
    """
    from syncd.sync.compute import compute_segments

    with engine.begin() as conn:
        clear(conn)
        load(conn, data)
    with engine.begin() as conn:
        compute_segments(conn, rules, data.now, scores=models)
        found: dict[str, set[int]] = {name: set() for name in rules}
        for name, contact_id in conn.execute(
            sa.select(segment_members.c.segment, segment_members.c.contact_id)
        ):
            found.setdefault(name, set()).add(contact_id)
    return found
