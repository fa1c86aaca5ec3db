"""What a line of a contacts or events file must hold, and the record it becomes."""

from __future__ import annotations

import hashlib
import reprlib
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationError,
    model_validator,
)

from syncd.connectors import ContactRecord, EventRecord, InvalidRecord, Record, as_utc


def _names(cell: Any) -> Any:
    """A CSV cell of names: ``VIP; Beta``."""
    return [n.strip() for n in cell.split(";") if n.strip()] if isinstance(cell, str) else cell


def _memberships(cell: Any) -> Any:
    """A CSV cell of list memberships: ``Newsletter:subscribed;Offers:unsubscribed``."""
    return dict(n.partition(":")[::2] for n in _names(cell)) if isinstance(cell, str) else cell


def _trimmed(text: Any) -> Any:
    return text.strip() if isinstance(text, str) else text


Empty = BeforeValidator(lambda v: None if v == "" else v)  # an empty cell says nothing
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Names = Annotated[list[str], BeforeValidator(_names)]
Status = Annotated[Literal["subscribed", "unsubscribed"], BeforeValidator(_trimmed)]
Memberships = Annotated[dict[str, Status], BeforeValidator(_memberships)]
Time = Annotated[datetime, AfterValidator(as_utc)]  # without a time zone: UTC
Single = str | int | float | bool | None

# what a key must be, for the reason a line gives when it is not (any other key: one value)
MUST = {
    "id": "text or a number",
    "email": "text",
    "contact_id": "text or a number",
    "tags": "a list of names",
    "lists": "a mapping of list names to subscribed or unsubscribed",
    "consent": "granted or revoked",
    "fields": "a mapping of names to single values",
    "properties": "a mapping",
    "type": "a name",
    "at": "a time",
    "updated_at": "a time",
    "value": "a number",
}


class FileLine(BaseModel):
    """A line of a file; its other keys are the record's attributes or properties."""

    model_config = ConfigDict(extra="allow")

    def record(self, raw: str) -> Record:
        raise NotImplementedError

    @classmethod
    def parse(cls, number: int, raw: str, data: dict[str, Any] | str) -> Record:
        """The record of line ``number`` (``data``: its keys, or why it has none)."""
        if isinstance(data, str):
            return InvalidRecord(f"line {number}: {data}", raw)
        try:
            return cls.model_validate(data).record(raw)
        except ValidationError as exc:
            return InvalidRecord(f"line {number}: {_reason(exc, data)}", raw)


def _reason(exc: ValidationError, data: dict[str, Any]) -> str:
    """The first thing wrong with a line, in the words of MUST."""
    error = exc.errors()[0]
    if not error["loc"]:  # a rule over the whole line
        return str(error.get("ctx", {}).get("error", error["msg"]))
    key = str(error["loc"][0])
    if error["type"] == "missing":
        return f"{key} is missing"
    return f"{key} must be {MUST.get(key, 'a single value')}, got {reprlib.repr(data[key])}"


class ContactLine(FileLine):
    """A line of a contacts file: the e-mail or the id names the contact. Empty tags or lists
    say the contact has none; absent ones say nothing."""

    __pydantic_extra__: dict[str, Single]

    id: Id | None = None
    email: str | None = None
    tags: Names | None = None
    lists: Memberships | None = None
    consent: Annotated[Literal["granted", "revoked"] | None, Empty] = None
    fields: Annotated[dict[str, Single] | None, Empty] = None
    updated_at: Annotated[Time | None, Empty] = None

    @model_validator(mode="after")
    def _named(self) -> ContactLine:
        if not (self.id or self.email):
            raise ValueError("no e-mail and no id")
        return self

    def record(self, raw: str) -> Record:
        attributes = {k: v for k, v in self.__pydantic_extra__.items() if v != ""}
        return ContactRecord(
            external_id=self.id or str(self.email),
            email=self.email,
            attributes=attributes | (self.fields or {}),
            tags=self.tags,
            lists=None if self.lists is None else dict(self.lists),
            consent=self.consent,
            updated_at=self.updated_at,
        )


class EventLine(FileLine):
    """A line of an events file: a type, a time and the contact's e-mail or id. Without an id,
    the digest of its raw text is its id, the same each time it is read."""

    id: Id | None = None
    email: str | None = None
    contact_id: Id | None = None
    type: Name
    at: Time
    value: Annotated[float | None, Empty] = None
    properties: Annotated[dict[str, Any] | None, Empty] = None
    raw_type: str | None = None

    @model_validator(mode="after")
    def _of_someone(self) -> EventLine:
        if not (self.email or self.contact_id):
            raise ValueError("no email and no contact_id")
        return self

    def record(self, raw: str) -> Record:
        return EventRecord(
            external_id=self.id or hashlib.sha1(raw.encode()).hexdigest(),
            type=self.type,
            occurred_at=self.at,
            contact_external_id=self.contact_id or None,
            email=self.email or None,
            raw_type=self.raw_type or self.type,
            properties={**(self.model_extra or {}), **(self.properties or {})},
            value=self.value,
        )
