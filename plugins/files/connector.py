"""The files connector: the reference connector and the fixture of the core's tests.

Source: ``contacts`` and ``events`` files (JSONL or CSV), read incrementally.
Destination: every change received is appended to a JSONL log, and the resulting tags, list
memberships and field values are kept in a JSON state file, read back as remote state.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, ValidationError

from syncd.connectors import (
    Change,
    ChangeKind,
    ChangeResult,
    Clock,
    Connector,
    ConnectorContext,
    ConnectorOptions,
    ContactRecord,
    Cursor,
    Destination,
    FatalError,
    Outcome,
    Page,
    Record,
    Stream,
)
from syncd_plugins.files.lines import ContactLine, EventLine
from syncd_plugins.files.reading import FileStream, fatal_os_errors

SOURCES = {"contacts": ContactLine, "events": EventLine}


class FilesOptions(ConnectorOptions):
    contacts: str | None = None  # a .jsonl or .csv file of contacts
    events: str | None = None  # a .jsonl or .csv file of events
    state: str | None = None  # makes the instance a destination: its JSON state file
    changes: str | None = None  # the JSONL log of changes received (default: beside state)
    page_size: int = Field(default=500, ge=1, le=100_000)
    batch_size: int = Field(default=100, ge=1, le=10_000)


class Held(BaseModel):
    """What the destination holds for one contact."""

    tags: list[str] = []
    lists: dict[str, str] = {}
    fields: dict[str, Any] = {}

    def apply(self, change: Change) -> None:
        kind, key = change.kind, change.key
        if kind is ChangeKind.ADD_TAG:
            self.tags = sorted({*self.tags, key})
        elif kind is ChangeKind.REMOVE_TAG:
            self.tags = [tag for tag in self.tags if tag != key]
        elif kind is ChangeKind.SUBSCRIBE:
            self.lists[key] = "subscribed"
        elif kind is ChangeKind.UNSUBSCRIBE:
            self.lists[key] = "unsubscribed"
        elif kind is ChangeKind.SET_FIELD and change.value is None:
            self.fields.pop(key, None)
        elif kind is ChangeKind.SET_FIELD:
            self.fields[key] = change.value


class StateFile(BaseModel):
    contacts: dict[str, Held] = {}


class FilesDestination(Destination):
    """Applies changes to the state file (written atomically) and logs each one."""

    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind)

    def __init__(self, state: Path, log_path: Path, batch_size: int, clock: Clock) -> None:
        self.state, self.log_path, self.clock = state, log_path, clock
        self.batch_size = batch_size  # type: ignore[misc]

    def held(self) -> tuple[dict[str, Held], str | None]:
        """What the state file holds for each contact, and its digest (None: no file yet)."""
        if not self.state.exists():
            return {}, None
        with fatal_os_errors(f"read the state file {self.state}"):
            data = self.state.read_bytes()
        try:
            state = StateFile.model_validate_json(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = "".join(f"{part}: " for part in error["loc"])
            raise FatalError(f"state file {self.state}: {where}{error['msg']}") from None
        return state.contacts, hashlib.sha1(data).hexdigest()

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        contacts, _ = self.held()
        now, entries = self.clock().isoformat(), []
        for change in changes:
            contacts.setdefault(change.email, Held()).apply(change)
            entry = {"at": now, "kind": change.kind.value, "email": change.email, "key": change.key}
            value = {"value": change.value} if change.kind is ChangeKind.SET_FIELD else {}
            entries.append(json.dumps(entry | value) + "\n")
        with fatal_os_errors(f"write the change log {self.log_path}"):
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as log:
                log.writelines(entries)
        tmp = self.state.with_suffix(self.state.suffix + ".tmp")
        with fatal_os_errors(f"write the state file {self.state}"):
            self.state.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as f:
                json.dump(StateFile(contacts=contacts).model_dump(), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state)
        return [ChangeResult(c.id, Outcome.DONE, external_id=c.email) for c in changes]


class StateStream(Stream):
    """The destination's state file, read back as what the destination holds."""

    name = "state"

    def __init__(self, destination: FilesDestination) -> None:
        self.destination = destination

    def read(self, cursor: str | None) -> Iterator[Page]:
        contacts, digest = self.destination.held()
        if digest is None or digest == Cursor.load(cursor).bound:
            return
        records: list[Record] = [
            ContactRecord(email, email, held.fields, sorted(held.tags), held.lists)
            for email, held in sorted(contacts.items())
        ]
        yield Page(records, Cursor(digest).dump())


class FilesConnector(Connector):
    name = "files"
    Options = FilesOptions

    options: FilesOptions

    def __init__(self, options: FilesOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        named = options.model_dump(include={"contacts", "events", "state", "changes"})
        self.paths = {label: context.path(value) for label, value in named.items() if value}
        for label, path in self.paths.items():
            if path.is_dir():
                raise ValueError(f"{label}: {path} is a folder; name a file in it")

    def streams(self) -> list[Stream]:
        size = self.options.page_size
        found: list[Stream] = [
            FileStream(name, self.paths[name], size, line)
            for name, line in SOURCES.items()
            if name in self.paths
        ]
        destination = self.destination()
        return [*found, StateStream(destination)] if destination else found

    def destination(self) -> FilesDestination | None:
        if "state" not in self.paths:
            return None
        state = self.paths["state"]
        log = self.paths.get("changes", state.with_suffix(".changes.jsonl"))
        return FilesDestination(state, log, self.options.batch_size, self.context.clock)

    def check_connection(self) -> None:
        for label, path in self.paths.items():
            if label in SOURCES and not path.is_file():
                raise FatalError(f"{label} file {path} does not exist")
