"""Reading a vendor's rows: ids as text, numbers sent as text, the values a row holds, and a
contact or an event made from a row as a declared map says.

    CONTACT = ContactMap(
        attributes={"firstName": "first_name", "phone": "phone"},   # vendor path: syncd name
        updated_at="udate",
    )

    def map(self, row: dict[str, Any]) -> Record:
        return CONTACT.record(row)       # a ContactRecord, or an InvalidRecord saying why not

    OPENED = EventMap("open", at="tstamp", properties=("campaignid", "subject"))
    OPENED.record(row, "email_opened", raw_type="open")   # an EventRecord keyed "open:ID"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

from syncd.clock import parse_time
from syncd.connectors.contract import ITEM_TEXTS, ContactRecord, EventRecord, InvalidRecord
from syncd.connectors.paging import dig
from syncd.errors import RecordError


def text_id(value: Any) -> str | None:
    """A vendor's id as text: ``"12"``, ``12`` and ``12.0`` are all ``"12"``; None when
    absent (None, a bool, blank text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def as_number(value: Any) -> float | None:
    """A number a vendor sent as a number or as text; None when absent or not a number."""
    if value in (None, "") or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str | None:
    """A vendor's text trimmed; None when absent or blank."""
    return str(value).strip() or None if value is not None else None


class _ItemTexts(TypedDict, total=False):
    """The texts of a line item, as the vendor sent them."""

    product: Any  # the product's title
    variant: Any  # the variant's title (size, colour)
    sku: Any
    category: Any  # the category or product type
    vendor: Any  # the brand or vendor


def line_item(
    quantity: Any = None, price: Any = None, **texts: Unpack[_ItemTexts]
) -> dict[str, Any]:
    """One line of a purchase or a cart in the shared item shape (docs/events.md, "Line
    items"): each text trimmed (None when blank or not given), the quantity a whole number (0
    when it is none), the unit price a number (None when it is none)."""
    units = as_number(quantity)
    item: dict[str, Any] = {key: as_text(texts.get(key)) for key in ITEM_TEXTS}
    item["quantity"] = int(units) if units is not None else 0
    item["price"] = as_number(price)
    return item


def number_at(row: Any, path: str) -> float | None:
    """The number at the dotted ``path`` of a row (sent as a number or as text), None when
    absent; something else there is a RecordError, so the stream quarantines the row."""
    raw = dig(row, path)
    number = as_number(raw)
    if number is None and raw not in (None, ""):
        raise RecordError(f"{path} {raw!r} is not a number")
    return number


def values_of(row: Any, paths: Iterable[str] | Mapping[str, str]) -> dict[str, Any]:
    """The values ``row`` holds at ``paths`` (dotted), leaving out None and ``""``; by path,
    or by syncd's name when ``paths`` maps each path to one (``{"firstName": "first_name"}``).
    """
    pairs = paths.items() if isinstance(paths, Mapping) else ((p, p) for p in paths)
    return {name: value for path, name in pairs if (value := _get(row, path)) not in (None, "")}


def _first_present(row: Any, paths: str | tuple[str, ...] | None) -> Any:
    """The value at the first of ``paths`` (dotted) that holds one (not None or ``""``), or
    None."""
    for path in (paths,) if isinstance(paths, str) else paths or ():
        if (value := dig(row, path)) not in (None, ""):
            return value
    return None


@dataclass(frozen=True)
class ContactMap:
    """Where a vendor's row holds a contact's id, e-mail and update time (dotted paths; for the
    id and the time, the first present of several), and which of its values are attributes, as
    text under syncd's names; see the module. A row without an id or an e-mail is an
    InvalidRecord that says so, naming the row as ``what``."""

    attributes: Mapping[str, str] = field(default_factory=dict)
    id: str | tuple[str, ...] = "id"
    email: str = "email"
    updated_at: str | tuple[str, ...] | None = None
    what: str = "contact"

    def record(self, row: Any) -> ContactRecord | InvalidRecord:
        """The contact ``row`` holds, with no tags, lists or consent (a vendor adds those)."""
        contact_id = text_id(_first_present(row, self.id))
        if contact_id is None:
            return InvalidRecord(f"{self.what} without an id", row)
        email = dig(row, self.email)
        if not isinstance(email, str) or not email.strip():
            return InvalidRecord(f"{self.what} {contact_id} has no e-mail", row)
        attributes = {name: str(v) for name, v in values_of(row, self.attributes).items()}
        return ContactRecord(contact_id, email.strip(), attributes, updated_at=self.updated(row))

    def updated(self, row: Any) -> datetime | None:
        """The row's update time (the first path that holds one), or None."""
        return parse_time(_first_present(row, self.updated_at))


@dataclass(frozen=True)
class EventMap:
    """Where a vendor's row holds an event: its id (the record's key is ``prefix:id``, and with
    ``keyed_by`` "s" or "ms" its time too, so each time it happens is another event), its time,
    its contact's id or e-mail (one at least) and which of its values are properties (as
    ``values_of`` reads them); see the module. ``id``, ``at`` and ``contact`` may name several
    paths, the first present counts; ``no_id`` is what the vendor writes for no id (``"0"``).
    A row lacking one is an InvalidRecord that says so."""

    prefix: str
    at: str | tuple[str, ...]
    properties: Iterable[str] | Mapping[str, str] = ()
    id: str | tuple[str, ...] = "id"
    contact: str | tuple[str, ...] = "contact"
    email: str | None = "email"
    keyed_by: Literal["", "s", "ms"] = ""
    no_id: tuple[str, ...] = ()
    # the properties as (path, name) pairs, worked out once: a map reads many rows
    pairs: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("id", "at", "contact"):
            paths = getattr(self, name)
            object.__setattr__(self, name, (paths,) if isinstance(paths, str) else tuple(paths))
        props = self.properties
        pairs = props.items() if isinstance(props, Mapping) else ((p, p) for p in props)
        object.__setattr__(self, "pairs", tuple(pairs))

    def record(
        self,
        row: Any,
        type: str,
        raw_type: str | None = None,
        properties: Mapping[str, Any] | None = None,
        value: float | None = None,
    ) -> EventRecord | InvalidRecord:
        """The event of ``type`` ``row`` holds, its declared properties updated with
        ``properties`` (kept even when None)."""
        row_id = self.id_of(row, self.id)
        if row_id is None:
            return InvalidRecord(f"{type} without an id", row)
        when = None
        for path in self.at:  # the first present
            if (when := _get(row, path)) is not None and when != "":
                break
        at = parse_time(when)
        if at is None:
            return InvalidRecord(f"{type} {row_id} without a time ({when!r})", row)
        contact = self.id_of(row, self.contact)
        email = _get(row, self.email) if self.email else None
        email = (email.strip() or None) if isinstance(email, str) else None
        if contact is None and email is None:
            return InvalidRecord(f"{type} {row_id}: no contact and no e-mail", row)
        key = f"{self.prefix}:{row_id}"
        if self.keyed_by:
            key += f":{int(at.timestamp() * (1000 if self.keyed_by == 'ms' else 1))}"
        found = {n: v for p, n in self.pairs if (v := _get(row, p)) is not None and v != ""}
        if properties:
            found.update(properties)
        return EventRecord(key, type, at, contact, email, raw_type, found, value)

    def id_of(self, row: Any, paths: str | tuple[str, ...]) -> str | None:
        """The first id at ``paths`` that is one (not absent, nor one of ``no_id``)."""
        for path in (paths,) if isinstance(paths, str) else paths:
            found = text_id(_get(row, path))
            if found is not None and found not in self.no_id:
                return found
        return None


def _get(row: Any, path: str) -> Any:
    """``dig``, with a plain key of a dict read directly (a map reads many rows)."""
    return row.get(path) if type(row) is dict and "." not in path else dig(row, path)


#: where a reshaped value comes from: a dotted path, the first present of several, or a
#: function of the row
Source = str | tuple[str, ...] | Callable[[Any], Any]


class Reshape:
    """A row put in another shape, declared as ``{target path: source}`` (dotted target paths
    build nested objects), e.g. a webhook's payload in the shape a pull reads so that the
    stream's own mapping maps it:

        ORDER = Reshape({"legacyResourceId": "id", "totalPriceSet.shopMoney.amount": "total"})
    """

    def __init__(self, fields: Mapping[str, Source]) -> None:
        self.fields = dict(fields)

    def __call__(self, row: Any) -> dict[str, Any]:
        shaped: dict[str, Any] = {}
        for target, source in self.fields.items():
            value = _value(row, source)
            *parents, name = target.split(".")
            node = shaped
            for parent in parents:
                node = node.setdefault(parent, {})
            node[name] = value
        return shaped

    @staticmethod
    def each(path: str, source: Source) -> Callable[[Any], list[Any]]:
        """A source: ``source``'s value for each object of the list at ``path`` (none when it is
        no list), e.g. ``Reshape.each("line_items", LINE)`` or ``Reshape.each("codes", "code")``.
        """
        return lambda row: [_value(item, source) for item in _objects(dig(row, path))]

    @staticmethod
    def at(path: str, source: Source) -> Callable[[Any], Any]:
        """A source: ``source``'s value for the object at ``path``, or None when it is none."""
        return lambda row: (
            _value(found, source) if isinstance(found := dig(row, path), dict) else None
        )


def _value(row: Any, source: Source) -> Any:
    if callable(source):
        return source(row)
    return dig(row, source) if isinstance(source, str) else _first_present(row, source)


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
