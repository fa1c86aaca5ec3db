"""What a record's values must be for the store to keep them, checked before a page is written.

Every bound here is one the store (SQLite or PostgreSQL) or a later step would otherwise hit
with an error that rolls the whole page back: a NUL byte (PostgreSQL keeps none in text or
JSON), a value longer than its column or than PostgreSQL's btree index entry, a time outside
what a datetime holds, a number that is not finite. A record that breaks one is refused with a
reason that says which value and why, and goes to quarantine; the rest of its page is stored.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from syncd.clock import as_utc
from syncd.connectors.contract import (
    ContactRecord,
    DealRecord,
    EventRecord,
    InvalidRecord,
    ListRecord,
    Record,
    TagRecord,
)
from syncd.connectors.email import email_problem

# Names (ids, tags, lists, types, attribute names) hold no control character at all; free
# text (attribute values, properties, a deal's name) keeps tabs and line breaks.
# A lone surrogate is no Unicode text: neither store can encode it.
CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
NUL_IN_JSON = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# An attribute's value is indexed with its name in contact_fields: PostgreSQL's btree keeps
# entries of at most 2,704 bytes, and a name may take 800 (200 characters of 4 bytes).
MAX_VALUE_BYTES = 1_500
MAX_TEXT = 10_000  # a deal's name
MAX_PROPERTIES_BYTES = 65_536  # an event's properties, as JSON
MAX_NUMBER = 1e15  # money and counts beyond this are a vendor's bad value, not a fact
# Events and deals happen between these times; a vendor's 0, 1e18 ms or year 9999 does not.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
CONSENT = {None, "", "granted", "revoked"}

# the longest of each name the store's columns keep
ID, REF, TAG, LIST, TYPE, RAW_TYPE, ATTRIBUTE, STAGE = 255, 100, 255, 255, 100, 200, 200, 200


class Rejected(Exception):
    """A record that cannot be stored: it goes to quarantine with this reason."""


def check_record(record: Record) -> Any:
    """Raise Rejected when a value of ``record`` is one the store cannot keep; return an
    event's properties as the plain JSON the store keeps (None for another record)."""
    if isinstance(record, ContactRecord):
        name(record.external_id, "contact id", ID)
        if record.consent not in CONSENT:
            raise Rejected(f"consent {short(record.consent)} is not granted or revoked")
        for key, value in record.attributes.items():
            attribute(key, value)
        for tag in record.tags or ():
            name(tag, "tag", TAG)
        for list_name in record.lists or {}:
            name(list_name, "list", LIST)
    elif isinstance(record, TagRecord):
        name(record.contact_external_id, "contact id", ID)
        name(record.tag, "tag", TAG)
        name(record.ref, "tag ref", REF)
    elif isinstance(record, ListRecord):
        name(record.contact_external_id, "contact id", ID)
        name(record.list, "list", LIST)
        name(record.ref, "list ref", REF)
    elif isinstance(record, EventRecord):
        return _event(record)
    elif isinstance(record, DealRecord):
        _deal(record)
    elif not isinstance(record, InvalidRecord):
        raise Rejected(f"not a record syncd knows: {type(record).__name__}")
    return None


def _event(record: EventRecord) -> Any:
    name(record.external_id, "event id", ID)
    name(record.type, "event type", TYPE)
    name(record.raw_type, "event raw type", RAW_TYPE)
    name(record.contact_external_id, "contact id", ID)
    moment(record.occurred_at, "event time")
    number(record.value, "event value")
    return properties(record.properties)


def _deal(record: DealRecord) -> None:
    name(record.external_id, "deal id", ID)
    text(record.name, "deal name", MAX_TEXT)
    for value, what in ((record.stage, "deal stage"), (record.pipeline, "deal pipeline")):
        name(value, what, STAGE)
    if record.owner_email is not None:
        name(record.owner_email, "deal owner", 320)
    number(record.amount, "deal amount")
    for ref in record.contact_external_ids:
        name(ref, "contact id", ID)
    if record.updated_at is not None:
        moment(record.updated_at, "deal time")


def short(value: Any, limit: int = 60) -> str:
    """``value`` as its repr, cut to about ``limit`` characters (a reason is one short line)."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[:limit]}...{len(shown) - limit:,} more"


def name(value: Any, what: str, limit: int, control: re.Pattern[str] = CONTROL) -> None:
    """An id, tag, list or type: text of at most ``limit`` characters, no character of
    ``control`` (None and blanks are left to the checks that know whether one is needed)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise Rejected(f"{what} must be text, not {type(value).__name__} {short(value)}")
    if len(value) > limit:
        raise Rejected(f"{what} of {len(value):,} characters is longer than {limit:,}")
    if control.search(value):
        raise Rejected(f"{what} {short(value)} holds a control character")


def text(value: Any, what: str, limit: int) -> None:
    """Free text: a name that may hold tabs and line breaks."""
    name(value, what, limit, CONTROL_IN_TEXT)


def attribute(key: Any, value: Any) -> None:
    """An attribute: its name, and its value as the text it is stored as."""
    name(key, "attribute name", ATTRIBUTE)
    if isinstance(value, float) and not math.isfinite(value):
        raise Rejected(f"attribute {key!r}: {value} is not a number the store keeps")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 332:
        raise Rejected(f"attribute {key!r}: a number of over 100 digits")
    if value is None or isinstance(value, bool | int | float | datetime):
        return
    shown = value if isinstance(value, str) else str(value)
    text(shown, f"attribute {key!r}", MAX_VALUE_BYTES)
    size = len(shown.encode("utf-8", errors="replace"))
    if size > MAX_VALUE_BYTES:
        raise Rejected(
            f"attribute {key!r}: a value of {size:,} bytes is longer than the {MAX_VALUE_BYTES:,}"
            " the store indexes"
        )


def number(value: Any, what: str) -> None:
    """A finite number within ±MAX_NUMBER, or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(f"{what} must be a number, not {type(value).__name__} {short(value)}")
    try:
        finite = math.isfinite(value) and abs(value) <= MAX_NUMBER
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise Rejected(f"{what} {short(value)} is out of range (at most {MAX_NUMBER:g})")


def moment(at: Any, what: str) -> datetime:
    """A time between EARLIEST and LATEST, as an aware UTC datetime."""
    if not isinstance(at, datetime):
        raise Rejected(f"{what} must be a time, not {type(at).__name__} {short(at)}")
    try:
        utc = as_utc(at)
    except OverflowError:  # a time whose zone puts it outside the years 1 to 9999
        raise Rejected(f"{what} {at!r} is out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise Rejected(
            f"{what} {utc.isoformat()} is out of range ({EARLIEST.year} to {LATEST.year})"
        )
    return utc


def properties(value: Any) -> Any:
    """An event's properties as plain JSON the store keeps: a mapping, no NaN or infinity, no
    NUL byte, at most MAX_PROPERTIES_BYTES."""
    if not isinstance(value, Mapping):
        raise Rejected(f"event properties must be a mapping, not {type(value).__name__}")
    try:
        dumped = json.dumps(value, default=str, allow_nan=False, ensure_ascii=False)
        # text of ASCII alone (known without a scan) is as long in UTF-8; other text is
        # encoded, which also refuses a lone surrogate
        size = len(dumped) if dumped.isascii() else len(dumped.encode("utf-8"))
    except (TypeError, ValueError) as exc:  # a UnicodeEncodeError too: a lone surrogate
        raise Rejected(f"event properties are not JSON: {exc}") from None
    except RecursionError:
        raise Rejected("event properties are nested too deep") from None
    if size > MAX_PROPERTIES_BYTES:
        raise Rejected(
            f"event properties of {size:,} bytes are longer than {MAX_PROPERTIES_BYTES:,}"
        )
    if "\\u0000" in dumped and NUL_IN_JSON.search(dumped):  # the search only when it may match
        raise Rejected("event properties hold a NUL byte")
    return json.loads(dumped)


def printable(text: str, limit: int = 65_536) -> str:
    """``text`` as the quarantine keeps it: NUL bytes written out (``\\x00``), at most
    ``limit`` characters, so that a quarantined record is never one the store refuses."""
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more)"


# PostgreSQL's classes of errors a row's own values cause: 22 data exception (a NUL byte, a
# value too long), 23 integrity constraint violation, 54 program limit exceeded (an index
# entry too large); SQLite's errors of the same kind. A lost connection or a busy store is
# none of these: it fails the pull, and the page is read again.
ROW_STATES = ("22", "23", "54")


def refused_by_store(exc: Exception) -> bool:
    """Whether the store refused a statement for the values of its rows."""
    orig = getattr(exc, "orig", None)
    if isinstance(orig, TypeError | ValueError | OverflowError):  # a value no driver binds
        return True
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        return state[:2] in ROW_STATES
    if "cannot adapt type" in str(orig):  # psycopg, before the statement is sent
        return True
    if isinstance(orig, sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return "binding parameter" in str(orig)  # not a closed database
    return isinstance(orig, sqlite3.IntegrityError | sqlite3.DataError)


# --- values as the store keeps them ----------------------------------------------------

LIST_STATUSES = {"subscribed", "unsubscribed"}
DEAL_STATUSES = {"open", "won", "lost"}


def normalise_email(raw: Any) -> str:
    """Lower-cased and trimmed; raise Rejected for a missing or malformed address (the one
    rule of ``syncd.connectors.email``, which destinations send by too)."""
    if raw is None:
        raise Rejected("no e-mail")
    problem = email_problem(raw)
    if problem is not None:
        raise Rejected(problem)
    return str(raw).strip().lower()


def typed(value: Any) -> tuple[str | None, float | None, datetime | None]:
    """A value as text, and as a number and a time when it reads as one."""
    if value is None:
        return None, None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None, None
    if isinstance(value, int | float):
        return str(value), as_finite(value), None
    if isinstance(value, datetime):
        ts = as_utc(value)
        return ts.isoformat(), None, ts
    text = str(value)
    num: float | None = None
    ts_value: datetime | None = None
    stripped = text.strip()
    try:
        num = as_finite(float(stripped)) if stripped and stripped[0] in "+-.0123456789" else None
    except ValueError:
        num = None
    if num is None and len(stripped) >= 10 and stripped[4] == "-" and stripped[7] == "-":
        try:
            parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            ts_value = as_utc(parsed)
        except ValueError:
            try:
                d = date.fromisoformat(stripped[:10])
                ts_value = datetime(d.year, d.month, d.day, tzinfo=UTC)
            except ValueError:
                ts_value = None
    return text, num, ts_value


def check_tag(tag: str) -> None:
    """Raise Rejected for a blank tag or one longer than the store keeps."""
    if not tag.strip() or len(tag) > TAG:
        raise Rejected(f"bad tag {tag!r}")


def as_finite(value: float) -> float | None:
    """``value`` as a float when it is a finite one (an int too large for a float is not)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def typed_attribute(name: str, value: Any) -> tuple[str | None, float | None, datetime | None]:
    """``typed`` for attribute ``name``; raise Rejected for a time out of range."""
    try:
        return typed(value)
    except OverflowError:  # a time whose zone puts it outside the years 1 to 9999
        raise Rejected(f"attribute {name!r}: time {value!r} is out of range") from None
