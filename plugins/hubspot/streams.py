"""The HubSpot streams: contacts and deals, read through the search endpoints sorted by their
last-modified time. A search serves at most 10,000 results, so a long read goes on in time
windows: when a query is exhausted before its total, the next one starts at the last time
seen (``GTE``: the records at that instant are read again, which is harmless)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from syncd.clock import parse_time
from syncd.connectors.client import ApiClient
from syncd.connectors.contract import (
    ContactRecord,
    DealRecord,
    InvalidRecord,
    Page,
    Record,
    Stream,
)
from syncd.connectors.ratelimit import RateLimiter
from syncd.errors import FatalError

CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "phone",
    "city",
    "country",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "lastmodifieddate",
    "hs_email_optout",
    "hs_legal_basis",
]
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "dealstage",
    "pipeline",
    "hubspot_owner_id",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_lastmodifieddate",
]
CONTACT_ATTRIBUTES = {
    "firstname": "first_name",
    "lastname": "last_name",
    "phone": "phone",
    "city": "city",
    "country": "country",
    "lifecyclestage": "lifecycle_stage",
    "hs_lead_status": "lead_status",
}
ASSOCIATIONS_BATCH = 100


def to_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def consent(props: dict[str, Any]) -> str | None:
    """Opted out of all e-mail: revoked; consent as the GDPR legal basis: granted."""
    if props.get("hs_email_optout") == "true":
        return "revoked"
    if "consent" in str(props.get("hs_legal_basis") or "").lower():
        return "granted"
    return None


class Owners:
    """The account's owners (sales reps) by id, read once per stream read."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._emails: dict[str, str] | None = None

    def email(self, owner_id: str | None) -> str | None:
        if not owner_id:
            return None
        if self._emails is None:
            self._emails = {}
            params: dict[str, Any] = {"limit": 100}
            while True:
                body = self.api.get("crm/v3/owners", params)
                for owner in body.get("results") or []:
                    if owner.get("email"):
                        self._emails[str(owner["id"])] = str(owner["email"])
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
                params = {"limit": 100, "after": after}
        return self._emails.get(str(owner_id))

    def forget(self) -> None:
        self._emails = None


class SearchStream(Stream):
    """One object type read through its search endpoint, by last-modified time."""

    kind: str
    modified: str
    properties: list[str]

    def __init__(
        self, api: ApiClient, search: RateLimiter, owners: Owners, page_size: int = 200
    ) -> None:
        self.api, self.search, self.owners, self.page_size = api, search, owners, page_size

    @abstractmethod
    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        """The records of one page of search results."""

    def read(self, cursor: str | None) -> Iterator[Page]:
        self.owners.forget()  # owners change too: read them afresh each time
        since = int(cursor) if cursor else 0
        while True:
            served, last, total, after = 0, since, 0, None
            while True:
                body = self.query(since, after)
                reply = self.api.post(
                    f"crm/v3/objects/{self.kind}/search", body, limiters=[self.search]
                )
                rows = list(reply.get("results") or [])
                total = int(reply.get("total") or 0)
                served += len(rows)
                for row in rows:
                    at = parse_time((row.get("properties") or {}).get(self.modified))
                    if at is not None:
                        last = max(last, to_ms(at))
                yield Page(self.map_page(rows), str(last))
                after = ((reply.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
            if served >= total:
                return
            if last == since:
                raise FatalError(
                    f"HubSpot {self.kind}: more results than a search serves share one "
                    f"{self.modified} ({since}); they cannot be paged by time"
                )
            since = last

    def query(self, since: int, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": self.modified, "operator": "GTE", "value": since}]}
            ],
            "sorts": [{"propertyName": self.modified, "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.page_size,
        }
        if after:
            body["after"] = after
        return body


class ContactsStream(SearchStream):
    name = "contacts"
    kind = "contacts"
    modified = "lastmodifieddate"
    properties = CONTACT_PROPERTIES

    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        out: list[Record] = []
        for row in rows:
            props = row.get("properties") or {}
            if not row.get("id") or not props.get("email"):
                out.append(InvalidRecord("a HubSpot contact without an id or e-mail", row))
                continue
            attributes: dict[str, Any] = {
                ours: props[theirs]
                for theirs, ours in CONTACT_ATTRIBUTES.items()
                if props.get(theirs) not in (None, "")
            }
            owner = self.owners.email(props.get("hubspot_owner_id"))
            if owner:
                attributes["owner_email"] = owner
            updated = parse_time(props.get("lastmodifieddate") or row.get("updatedAt"))
            out.append(
                ContactRecord(
                    str(row["id"]),
                    props["email"],
                    attributes,
                    consent=consent(props),
                    updated_at=updated,
                )
            )
        return out


class DealsStream(SearchStream):
    name = "deals"
    kind = "deals"
    modified = "hs_lastmodifieddate"
    properties = DEAL_PROPERTIES

    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        contacts = self.contacts_of([str(r["id"]) for r in rows if r.get("id")])
        out: list[Record] = []
        for row in rows:
            props = row.get("properties") or {}
            if not row.get("id"):
                out.append(InvalidRecord("a HubSpot deal without an id", row))
                continue
            status = "open"
            if props.get("hs_is_closed") == "true":
                status = "won" if props.get("hs_is_closed_won") == "true" else "lost"
            try:
                amount = float(props["amount"]) if props.get("amount") else None
            except ValueError:
                amount = None
            out.append(
                DealRecord(
                    str(row["id"]),
                    name=props.get("dealname"),
                    stage=props.get("dealstage"),
                    status=status,
                    pipeline=props.get("pipeline"),
                    owner_email=self.owners.email(props.get("hubspot_owner_id")),
                    amount=amount,
                    contact_external_ids=contacts.get(str(row["id"]), []),
                    updated_at=parse_time(props.get("hs_lastmodifieddate")),
                )
            )
        return out

    def contacts_of(self, deal_ids: list[str]) -> dict[str, list[str]]:
        """The contacts of each deal, through the v4 batch read of associations."""
        found: dict[str, list[str]] = {}
        for start in range(0, len(deal_ids), ASSOCIATIONS_BATCH):
            chunk = deal_ids[start : start + ASSOCIATIONS_BATCH]
            reply = self.api.post(
                "crm/v4/associations/deals/contacts/batch/read",
                {"inputs": [{"id": d} for d in chunk]},
            )
            for result in reply.get("results") or []:
                deal = str((result.get("from") or {}).get("id"))
                found[deal] = [str(t["toObjectId"]) for t in result.get("to") or []]
        return found


STREAMS: dict[str, Callable[..., SearchStream]] = {"contacts": ContactsStream, "deals": DealsStream}
