"""The HubSpot streams: contacts and deals, read through the search endpoints by their
last-modified time (epoch milliseconds in the filter, ISO text in each record)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from syncd.connectors import (
    CappedQuery,
    Catalog,
    ContactMap,
    ContactRecord,
    CursorPaginator,
    DealRecord,
    InvalidRecord,
    RateLimiter,
    Record,
    RestStream,
    as_number,
    dig,
    in_batches,
    parse_time,
    text_id,
)
from syncd_plugins.hubspot import analytics

if TYPE_CHECKING:
    from syncd_plugins.hubspot.connector import HubSpotConnector

CONTACT = ContactMap(
    {
        "properties.firstname": "first_name",
        "properties.lastname": "last_name",
        "properties.phone": "phone",
        "properties.city": "city",
        "properties.country": "country",
        "properties.lifecyclestage": "lifecycle_stage",
        "properties.hs_lead_status": "lead_status",
    },
    email="properties.email",
    updated_at=("properties.lastmodifieddate", "updatedAt"),
    what="HubSpot contact",
)
ASSOCIATIONS_BATCH = 100


def next_after(body: Any) -> str | None:
    return dig(body, "paging.next.after")


class SearchStream(RestStream):
    """One object type through ``POST /crm/v3/objects/{type}/search``, sorted ascending by
    its last-modified property (the cursor field), with the owners' e-mails (``GET
    /crm/v3/owners``: they change too, so read afresh each read, when first named)."""

    method = "POST"
    records = "results"
    properties: ClassVar[tuple[str, ...]] = ()  # what the search returns of each object
    cursor_type = "ms"
    connector: HubSpotConnector
    catalogs = {
        "owners": Catalog(
            "crm/v3/owners",
            "results",
            "email",
            paginator=lambda: CursorPaginator(next_after, param="after"),
            params={"limit": 100},
            fresh=True,
        )
    }

    modified: ClassVar[str]  # the last-modified property: the cursor field's last name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.modified = str(cls.cursor_field).rpartition(".")[2]
        sort = {"propertyName": cls.modified, "direction": "ASCENDING"}
        cls.body = {"sorts": [sort], "properties": list(cls.properties)}

    def paginator(self) -> CappedQuery:
        """``after`` in the body, the index of the query's next result; a search serves at
        most 10,000 results of a query, and tells its ``total``."""
        inner = CursorPaginator(next_after, param="after", place="body", limit=self.page_size)
        return CappedQuery(self, inner, total="total")

    def since(self, value: Any) -> dict[str, Any]:
        return self.modified_from("GTE", value)

    def after(self, value: Any) -> dict[str, Any]:
        return self.modified_from("GT", value)  # nothing changed since: no result at all

    def modified_from(self, operator: str, value: Any) -> dict[str, Any]:
        """The one filter of a read: the last-modified property ``operator`` ``value``."""
        bound = {"propertyName": self.modified, "operator": operator, "value": value}
        return {"filterGroups": [{"filters": [bound]}]}

    def limiters(self) -> tuple[RateLimiter]:
        return (self.connector.search_limit,)


class Contacts(SearchStream):
    name = "contacts"
    path = "crm/v3/objects/contacts/search"
    cursor_field = "properties.lastmodifieddate"
    properties = (
        "email", "firstname", "lastname", "phone", "city", "country", "lifecyclestage",
        "hs_lead_status", "hubspot_owner_id", "lastmodifieddate", "hs_email_optout",
        "hs_legal_basis", *analytics.PROPERTIES,
    )  # fmt: skip

    def map(self, row: dict[str, Any]) -> Record | list[Record]:
        """The contact, with its source fields, and the forms it submitted as events."""
        record = CONTACT.record(row)
        if not isinstance(record, ContactRecord):
            return record
        props = row.get("properties") or {}
        if owner := self.names["owners"].name(props.get("hubspot_owner_id")):
            record.attributes["owner_email"] = owner
        record.attributes.update(analytics.attributes(props))
        record.consent = consent(props)
        forms = analytics.form_submissions(record.external_id, record.email, props)
        return [record, *forms]


def consent(props: dict[str, Any]) -> str | None:
    """Opted out of all e-mail: revoked; consent as the GDPR legal basis: granted."""
    if props.get("hs_email_optout") == "true":
        return "revoked"
    if "consent" in str(props.get("hs_legal_basis") or "").lower():
        return "granted"
    return None


class Deals(SearchStream):
    name = "deals"
    path = "crm/v3/objects/deals/search"
    cursor_field = "properties.hs_lastmodifieddate"
    properties = (
        "dealname", "amount", "dealstage", "pipeline", "hubspot_owner_id", "hs_is_closed",
        "hs_is_closed_won", "hs_lastmodifieddate", "createdate", "closedate",
    )  # fmt: skip

    contacts: dict[str, list[str]]  # the page's deal id -> its contacts' ids

    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        ids = [found for r in rows if isinstance(r, dict) and (found := text_id(r.get("id")))]
        self.contacts = self.contacts_of(ids)
        return super().map_page(rows)

    def map(self, row: dict[str, Any]) -> Record:
        props, deal_id = row.get("properties") or {}, text_id(row.get("id"))
        if deal_id is None:
            return InvalidRecord("a HubSpot deal without an id", row)
        status = "open"
        if props.get("hs_is_closed") == "true":
            status = "won" if props.get("hs_is_closed_won") == "true" else "lost"
        return DealRecord(
            deal_id,
            name=props.get("dealname"),
            stage=props.get("dealstage"),
            status=status,
            pipeline=props.get("pipeline"),
            owner_email=self.names["owners"].name(props.get("hubspot_owner_id")),
            amount=as_number(props.get("amount")),
            contact_external_ids=self.contacts.get(deal_id, []),
            updated_at=parse_time(props.get("hs_lastmodifieddate")),
            created_at=parse_time(props.get("createdate")),
            closed_at=parse_time(props.get("closedate")),
        )

    def contacts_of(self, deal_ids: list[str]) -> dict[str, list[str]]:
        """The contacts of each deal, through the v4 batch read of associations."""
        found: dict[str, list[str]] = {}
        for chunk in in_batches(deal_ids, ASSOCIATIONS_BATCH):
            reply = self.api.post(
                "crm/v4/associations/deals/contacts/batch/read",
                {"inputs": [{"id": d} for d in chunk]},
            )
            for result in dig(reply, "results") or []:
                deal = text_id(dig(result, "from.id"))
                if deal is not None:
                    to = dig(result, "to") or []
                    found[deal] = [i for t in to if (i := text_id(dig(t, "toObjectId")))]
        return found
