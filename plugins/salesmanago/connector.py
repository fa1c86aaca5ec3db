"""The SALESmanago connector (JSON API v2): contacts with their tags, properties, opt-out
state, score and external events in; tags, opt-in and opt-out, property values and contacts
out, through the batch upsert. Every call is a signed POST (``auth_body``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from syncd.connectors import (
    ApiUrl,
    ConnectorContext,
    ConnectorOptions,
    HttpConnector,
    HttpOptions,
    InvalidRecord,
    PageNumberPaginator,
    Paginator,
    Record,
    RestStream,
    dig,
    in_batches,
    register_secret,
)
from syncd_plugins.init_tools import TOOLS as INIT_TOOLS
from syncd_plugins.salesmanago.destination import SalesmanagoDestination
from syncd_plugins.salesmanago.mapping import EVENT_TYPES, OPT_OUT_EVENTS, contact_records
from syncd_plugins.salesmanago.signed import RULES, VENDOR, signature

IDS_PER_CALL = 50  # what public clients send to contact/listById


class SalesmanagoOptions(HttpOptions):
    # the account's server: "app3" (→ https://app3.salesmanago.com/api), a host name, or a
    # whole URL (an emulator on loopback)
    server: Annotated[str, ApiUrl(path="/api", host="{}.salesmanago.com", example="app3")]
    client_id: str
    api_key: SecretStr  # any random string the caller chooses; ${SM_API_KEY} in the YAML
    api_secret: SecretStr  # ${SM_API_SECRET} in the YAML
    owner: str  # the e-mail of the SALESmanago user who owns the contacts
    batch_size: int = Field(default=100, ge=1, le=1000)
    page_size: int = Field(default=100, ge=1, le=1000)
    # the e-mail opt-in state, shown as one list since SALESmanago has no list object
    consent_list: str = Field(default="email", min_length=1)
    tag_events: dict[str, str] = Field(
        default_factory=dict,
        description="tag -> an external event type (OTHER, PURCHASE, ...): when syncd adds the "
        "tag (a segment's member enters it), it also records a SALESmanago external event of "
        "that type, described by the tag, through contact/batchAddContactExtEvent.",
    )

    @field_validator("tag_events")
    @classmethod
    def _event_types(cls, value: dict[str, str]) -> dict[str, str]:
        for tag, kind in value.items():
            if kind not in EVENT_TYPES:
                known = ", ".join(sorted(EVENT_TYPES))
                raise ValueError(f"tag_events: {tag!r} -> {kind!r} is no event type ({known})")
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        owner = value.strip()
        if "@" not in owner:
            raise ValueError("the e-mail of the SALESmanago user who owns the contacts")
        return owner


class Contacts(RestStream):
    """The ids of contacts modified in a window, ``contact/paginatedModifiedContacts {from,
    to, page, size}`` (milliseconds; pages from 0 until ``hasMore`` is false), then the whole
    contacts with tags, properties and external events through ``contact/listById``.

    The window ends when the read starts; its end is the cursor, and the next read starts
    there. The end is on SALESmanago's clock when that is behind syncd's (the kit reads the
    replies' ``Date``), so no lookback is needed for a skew between the two; a contact listed
    again at the window's edge with the same ``modifiedOn`` is dropped.

    A read resumed after a crash first checks that the window's pages have not shifted
    (``check_resume``): the vendor pages by number and documents no order, and a contact
    modified meanwhile leaves the window (its new time is past the window's end), moving the
    ones listed after it a place forward. The kit asks for one row (``page`` = the last row
    read, ``size`` 1): when it is a contact the read already has at the same ``modifiedOn``,
    the read goes on at its next page; otherwise the window is read again from its first
    page, the contacts already read dropped before ``contact/listById``
    (docs/reliability.md).
    """

    name = "contacts"
    path = "contact/paginatedModifiedContacts"
    method = "POST"
    records = "modifiedContacts"
    primary_key = "contactId"
    cursor_field = "modifiedOn"
    window = True
    cursor_type = "ms"
    check_resume = True  # SALESmanago pages by number and documents no order
    body: ClassVar[dict[str, Any]] = {"from": 0}  # with no cursor yet: every contact

    connector: SalesmanagoConnector

    def paginator(self) -> Paginator:
        return PageNumberPaginator(
            self.page_size, start=0, place="body", has_more=lambda r: bool(dig(r, "hasMore"))
        )

    def since(self, value: Any) -> dict[str, Any]:
        return {"from": value}

    def until(self, value: Any) -> dict[str, Any]:
        return {"to": value}

    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        ids = [self.key_of(row) if isinstance(row, dict) else None for row in rows]
        records: list[Record] = [
            InvalidRecord(f"{self.name}: a modified contact without its contactId", row)
            for row, found in zip(rows, ids, strict=True)
            if not found
        ]
        wanted = list(dict.fromkeys(found for found in ids if found))
        return records + super().map_page(list(self.connector.contacts(wanted)))

    def map(self, row: dict[str, Any]) -> list[Record]:
        return contact_records(row, self.options.consent_list)


class SalesmanagoConnector(HttpConnector):
    name = "salesmanago"
    init = INIT_TOOLS["salesmanago"]  # what `syncd init` writes for it
    vendor = VENDOR
    Options = SalesmanagoOptions
    stream_classes = (Contacts,)
    rules = RULES  # errors come in HTTP 200
    fields = {"salesmanago_score": "number", "salesmanago_state": "text"}
    event_types = frozenset([*EVENT_TYPES.values(), *OPT_OUT_EVENTS.values()])
    destination_class = SalesmanagoDestination

    options: SalesmanagoOptions

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        super().__init__(options, context)
        self.sha = signature(
            self.secret("api_key"), self.options.client_id, self.secret("api_secret")
        )
        register_secret(self.sha)

    def auth_body(self) -> dict[str, Any]:
        return {
            "clientId": self.options.client_id,
            "apiKey": self.secret("api_key"),
            "requestTime": int(self.context.clock().timestamp() * 1000),
            "sha": self.sha,
            "owner": self.options.owner,
        }

    def check(self) -> None:
        self.api.post("contact/tags", {"showSystemTags": False})  # one cheap signed call

    def contacts(self, ids: Iterable[str]) -> Iterator[Any]:
        """Whole contacts by id (``contact/listById``, ``IDS_PER_CALL`` ids a call)."""
        for batch in in_batches(ids, IDS_PER_CALL):
            yield from self.api.post("contact/listById", {"contactId": batch}).get("contacts") or []
