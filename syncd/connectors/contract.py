"""What a connector is: its options, its streams (source) and its destination.

A connector class is registered through the ``syncd_connectors`` hook. The core builds one
object per connector instance of the YAML and asks it only for what it declares: the streams
it reads, and the change kinds and batch size its destination accepts.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from syncd.clock import Clock, system_clock

# --- what a source yields ---------------------------------------------------------------

# the keys of an event's line item (docs/events.md, Line items): text, and numbers
ITEM_TEXTS = ("product", "variant", "sku", "category", "vendor")
ITEM_NUMBERS = ("quantity", "price")


@dataclass(slots=True)
class ContactRecord:
    """One contact as a source sees it.

    ``email`` may be None when the source's id is already known (a partial update).
    ``attributes`` are merged into what the source said before. ``tags`` and ``lists``,
    when not None, are the *whole* set this source holds for the contact and replace it.
    """

    external_id: str
    email: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] | None = None
    lists: dict[str, str] | None = None  # list name -> "subscribed" | "unsubscribed"
    consent: str | None = None  # "granted" | "revoked" | None (the source says nothing)
    updated_at: datetime | None = None
    tag_scores: dict[str, float] | None = None  # a tag's score, for the tags that have one
    #: list status -> event type: a list of ``lists`` taking that status, which this source
    #: did not hold so before, is also an event of that type at ``updated_at``; for a vendor
    #: that keeps a state but not when it changed (read again unchanged: no second event)
    list_events: dict[str, str] | None = None


@dataclass(slots=True)
class TagRecord:
    """One tag on one contact, as a source sees it (present or removed)."""

    contact_external_id: str
    tag: str
    present: bool = True
    ref: str | None = None  # the vendor's id of the tag link, needed to remove it later


@dataclass(slots=True)
class ListRecord:
    """One contact's membership of one list."""

    contact_external_id: str
    list: str
    status: str  # "subscribed" | "unsubscribed"
    ref: str | None = None


@dataclass(slots=True)
class EventRecord:
    """Something a contact did, at a time; ``type`` is syncd's normalised type."""

    external_id: str
    type: str
    occurred_at: datetime
    contact_external_id: str | None = None
    email: str | None = None
    raw_type: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    value: float | None = None  # money, for purchases


@dataclass(slots=True)
class DealRecord:
    """One CRM deal and the contacts (by this source's contact ids) associated with it."""

    external_id: str
    name: str | None = None
    stage: str | None = None
    status: str | None = None  # "open" | "won" | "lost"
    pipeline: str | None = None
    owner_email: str | None = None
    amount: float | None = None
    contact_external_ids: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    created_at: datetime | None = None
    closed_at: datetime | None = None  # closed; an open deal: when it is expected to close


@dataclass(slots=True)
class InvalidRecord:
    """A record the connector could not map; it is quarantined with the reason."""

    reason: str
    raw: Any


Record = ContactRecord | TagRecord | ListRecord | EventRecord | DealRecord | InvalidRecord


@dataclass(slots=True)
class Page:
    """Records and the cursor that covers them: the two are committed together."""

    records: list[Record]
    cursor: str | None


class Stream(ABC):
    """One incremental read of a source."""

    name: ClassVar[str]

    @abstractmethod
    def read(self, cursor: str | None) -> Iterator[Page]:
        """Yield pages of records from ``cursor`` (None: from the beginning)."""


# --- what a destination takes -----------------------------------------------------------


class ChangeKind(enum.StrEnum):
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SET_FIELD = "set_field"
    UPSERT_CONTACT = "upsert_contact"


@dataclass(frozen=True, slots=True)
class Change:
    """One operation for one contact at one destination."""

    id: int  # the outbox row
    kind: ChangeKind
    email: str
    key: str  # tag, list or field name; "" for upsert_contact
    value: str | None = None  # the field value for set_field
    external_id: str | None = None  # the contact's id at this destination, when known
    ref: str | None = None  # the vendor's link id, when known (e.g. to remove a tag)
    attributes: dict[str, Any] = field(default_factory=dict)  # names etc. for upsert_contact
    # subscribe: syncd itself took the contact off this list before (the store says so), so
    # an "unsubscribed" the vendor shows is syncd's doing, not the person's: they may be
    # added back. Never set for someone who unsubscribed on their own.
    syncd_removed: bool = False


class Outcome(enum.StrEnum):
    DONE = "done"
    RETRYABLE = "retryable"
    FAILED = "failed"


@dataclass(slots=True)
class ChangeResult:
    """What the destination says of one change."""

    change_id: int
    outcome: Outcome
    reason: str | None = None
    external_id: str | None = None  # the contact's id the vendor gave, to remember
    ref: str | None = None  # the link id the vendor gave, to remember
    # the name a pull of this vendor reads a field's value back under, when it is not the
    # change's key (a field written by its tag and read by its title): the value is
    # remembered under both, so reading it back is recognised as syncd's own write
    read_as: str | None = None


class Destination(ABC):
    """Accepts batches of changes and answers for each change."""

    batch_size: ClassVar[int] = 100  # contacts a batch holds, with all their pending changes
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset()

    @abstractmethod
    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        """Apply ``changes`` (those of at most ``batch_size`` contacts); answer once per change."""


# --- the connector ----------------------------------------------------------------------


class ConnectorOptions(BaseModel):
    """Base of every connector's options model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(slots=True)
class ConnectorContext:
    """What the core hands a connector instance."""

    instance: str
    base_dir: Path = field(default_factory=Path.cwd)  # relative paths resolve from here
    clock: Clock = system_clock
    # how the instance waits and measures waits: tests hand in virtual time, so nothing
    # patches a module's ``time``
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    # an HTTP connector sends through this transport when given one (tests, the demo's
    # in-process emulators); None means the network
    transport: httpx.BaseTransport | None = None

    def path(self, value: str | Path) -> Path:
        """A path from the config, resolved against the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p


class Connector(ABC):
    """A plugin class for one vendor. One object per connector instance."""

    name: ClassVar[str]  # the `type:` in the YAML
    Options: ClassVar[type[ConnectorOptions]] = ConnectorOptions
    # contact fields (name -> text|number|date|bool) and event types this connector
    # produces beyond the built-in ones, so segment rules may name them
    fields: ClassVar[dict[str, str]] = {}
    event_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        self.options = options
        self.context = context

    def streams(self) -> list[Stream]:
        """The streams this instance reads; empty when it is not a source."""
        return []

    def destination(self) -> Destination | None:
        """The destination side of this instance, or None."""
        return None

    def check_connection(self) -> None:
        """Raise a ConnectorError when the instance cannot reach its vendor."""

    def close(self) -> None:
        """Release clients and files."""
