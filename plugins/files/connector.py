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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

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
    EventRecord,
    FatalError,
    InvalidRecord,
    Outcome,
    Page,
    Record,
    Stream,
)
from syncd_plugins.files.reading import FileCursor, Line, read_from

CONTACT_KEYS = {"id", "email", "tags", "lists", "consent", "fields", "updated_at"}
EVENT_KEYS = {"id", "email", "contact_id", "type", "at", "value", "properties", "raw_type"}


class FilesOptions(ConnectorOptions):
    contacts: str | None = None  # a .jsonl or .csv file of contacts
    events: str | None = None  # a .jsonl or .csv file of events
    state: str | None = None  # makes the instance a destination: its JSON state file
    changes: str | None = None  # the JSONL log of changes received (default: beside state)
    page_size: int = Field(default=500, ge=1, le=100_000)
    batch_size: int = Field(default=100, ge=1, le=10_000)


def _parse_time(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _split(text: str, sep: str = ";") -> list[str]:
    return [part.strip() for part in text.split(sep) if part.strip()]


def contact_from(line: Line) -> Record:
    """Map one line of a contacts file to a contact record."""
    data = line.value
    if data is None:
        return InvalidRecord(line.error or "unreadable", line.raw)
    try:
        email = data.get("email")
        if email is not None and not isinstance(email, str):
            raise ValueError(f"email must be text, got {type(email).__name__}")
        tags = data.get("tags")
        if isinstance(tags, str):
            tags = _split(tags)
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        ):
            raise ValueError("tags must be a list of names")
        lists = data.get("lists")
        if isinstance(lists, str):  # CSV: "newsletter:subscribed;offers:unsubscribed"
            lists = dict(part.split(":", 1) for part in _split(lists))
        if lists is not None and not isinstance(lists, dict):
            raise ValueError("lists must map list names to subscribed or unsubscribed")
        fields = data.get("fields") or {}
        if not isinstance(fields, dict):
            raise ValueError("fields must be a mapping")
        attributes = {k: v for k, v in data.items() if k not in CONTACT_KEYS and v != ""}
        attributes.update(fields)
        for name, value in attributes.items():
            if isinstance(value, dict | list):
                raise ValueError(f"field {name!r} must be a single value")
        consent = data.get("consent") or None
        if consent not in (None, "granted", "revoked"):
            raise ValueError(f"consent must be granted or revoked, got {consent!r}")
        updated = data.get("updated_at")
        external_id = str(data.get("id") or email or "")
        if not external_id:
            raise ValueError("no e-mail and no id")
        return ContactRecord(
            external_id=external_id,
            email=email,
            attributes=attributes,
            tags=tags,
            lists={str(k): str(v).strip() for k, v in lists.items()} if lists else lists,
            consent=consent,
            updated_at=_parse_time(updated) if updated else None,
        )
    except ValueError as exc:
        return InvalidRecord(f"line {line.number}: {exc}", line.raw)


def event_from(line: Line) -> Record:
    """Map one line of an events file to an event record."""
    data = line.value
    if data is None:
        return InvalidRecord(line.error or "unreadable", line.raw)
    try:
        kind = data.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError("no event type")
        occurred = _parse_time(data.get("at"))
        email, contact_id = data.get("email") or None, data.get("contact_id") or None
        if email is None and contact_id is None:
            raise ValueError("no email and no contact_id")
        value = data.get("value")
        value = float(value) if value not in (None, "") else None
        properties = data.get("properties") or {}
        if not isinstance(properties, dict):
            raise ValueError("properties must be a mapping")
        properties = {**{k: v for k, v in data.items() if k not in EVENT_KEYS}, **properties}
        external_id = str(data.get("id") or hashlib.sha1(line.raw.encode()).hexdigest())
        return EventRecord(
            external_id=external_id,
            type=kind.strip(),
            occurred_at=occurred,
            contact_external_id=str(contact_id) if contact_id is not None else None,
            email=email,
            raw_type=data.get("raw_type") or kind.strip(),
            properties=properties,
            value=value,
        )
    except (TypeError, ValueError) as exc:
        return InvalidRecord(f"line {line.number}: {exc}", line.raw)


class FileStream(Stream):
    """Records of one file, from a byte-offset cursor."""

    def __init__(self, name: str, path: Path, page_size: int, mapper: Any) -> None:
        self.name = name  # type: ignore[misc]
        self.path = path
        self.page_size = page_size
        self.mapper = mapper

    def read(self, cursor: str | None) -> Iterator[Page]:
        for lines, position in read_from(self.path, FileCursor.load(cursor), self.page_size):
            yield Page([self.mapper(line) for line in lines], position.dump())


class StateStream(Stream):
    """The destination's state file, read back as what the destination holds."""

    name = "state"

    def __init__(self, state: FileState) -> None:
        self.state = state

    def read(self, cursor: str | None) -> Iterator[Page]:
        digest = self.state.digest()
        if digest is None or digest == Cursor.load(cursor).bound:
            return
        records: list[Record] = [
            ContactRecord(
                external_id=email,
                email=email,
                attributes=dict(held.get("fields", {})),
                tags=sorted(held.get("tags", [])),
                lists=dict(held.get("lists", {})),
            )
            for email, held in sorted(self.state.load().items())
        ]
        yield Page(records, Cursor(digest).dump())


class FileState:
    """The JSON state file of a files destination, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def digest(self) -> str | None:
        try:
            return hashlib.sha1(self.path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return None

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise FatalError(f"cannot read the state file {self.path}: {_reason(exc)}") from None
        except json.JSONDecodeError as exc:
            raise FatalError(
                f"state file {self.path} is not JSON (line {exc.lineno}: {exc.msg})"
            ) from None
        contacts = data.get("contacts", {}) if isinstance(data, dict) else None
        if not isinstance(contacts, dict):
            raise FatalError(f"state file {self.path} holds no contacts mapping")
        return contacts

    def save(self, contacts: dict[str, dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as f:
                json.dump({"contacts": contacts}, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise FatalError(f"cannot write the state file {self.path}: {_reason(exc)}") from None


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or str(exc)


class FilesDestination(Destination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind)

    def __init__(self, state: FileState, log_path: Path, batch_size: int, clock: Clock) -> None:
        self.state = state
        self.log_path = log_path
        self.batch_size = batch_size  # type: ignore[misc]
        self.clock = clock

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        contacts = self.state.load()
        results = []
        now = self.clock().isoformat()
        try:
            log = self.log_path.open("a", encoding="utf-8")
        except OSError as exc:
            raise FatalError(
                f"cannot write the change log {self.log_path}: {_reason(exc)}"
            ) from None
        with log:
            for change in changes:
                held = contacts.setdefault(change.email, {"tags": [], "lists": {}, "fields": {}})
                self.apply(held, change)
                entry: dict[str, str | None] = {
                    "at": now,
                    "kind": change.kind.value,
                    "email": change.email,
                    "key": change.key,
                }
                if change.kind is ChangeKind.SET_FIELD:
                    entry["value"] = change.value
                log.write(json.dumps(entry) + "\n")
                results.append(ChangeResult(change.id, Outcome.DONE, external_id=change.email))
        self.state.save(contacts)
        return results

    @staticmethod
    def apply(held: dict[str, Any], change: Change) -> None:
        tags: list[str] = held.setdefault("tags", [])
        lists: dict[str, str] = held.setdefault("lists", {})
        fields: dict[str, Any] = held.setdefault("fields", {})
        if change.kind is ChangeKind.ADD_TAG and change.key not in tags:
            tags.append(change.key)
            tags.sort()
        elif change.kind is ChangeKind.REMOVE_TAG and change.key in tags:
            tags.remove(change.key)
        elif change.kind is ChangeKind.SUBSCRIBE:
            lists[change.key] = "subscribed"
        elif change.kind is ChangeKind.UNSUBSCRIBE:
            lists[change.key] = "unsubscribed"
        elif change.kind is ChangeKind.SET_FIELD:
            if change.value is None:
                fields.pop(change.key, None)
            else:
                fields[change.key] = change.value


class FilesConnector(Connector):
    name = "files"
    Options = FilesOptions

    options: FilesOptions

    def __init__(self, options: FilesOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        for label in ("contacts", "events", "state", "changes"):
            value = getattr(options, label)
            if value and context.path(value).is_dir():
                raise ValueError(f"{label}: {context.path(value)} is a folder; name a file in it")

    def _state(self) -> FileState | None:
        return FileState(self.context.path(self.options.state)) if self.options.state else None

    def streams(self) -> list[Stream]:
        found: list[Stream] = []
        size = self.options.page_size
        if self.options.contacts:
            found.append(
                FileStream("contacts", self.context.path(self.options.contacts), size, contact_from)
            )
        if self.options.events:
            found.append(
                FileStream("events", self.context.path(self.options.events), size, event_from)
            )
        state = self._state()
        if state is not None:
            found.append(StateStream(state))
        return found

    def destination(self) -> Destination | None:
        state = self._state()
        if state is None:
            return None
        log = (
            self.context.path(self.options.changes)
            if self.options.changes
            else state.path.with_suffix(".changes.jsonl")
        )
        log.parent.mkdir(parents=True, exist_ok=True)
        return FilesDestination(state, log, self.options.batch_size, self.context.clock)

    def check_connection(self) -> None:
        for label in ("contacts", "events"):
            value = getattr(self.options, label)
            if value and not self.context.path(value).is_file():
                raise FatalError(f"{label} file {self.context.path(value)} does not exist")
