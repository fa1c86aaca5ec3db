"""The SALESmanago ``contacts`` stream: the ids of contacts modified since the cursor through
``contact/paginatedModifiedContacts`` (pages until ``hasMore`` is false), then their full
records, tags, properties and external events through ``contact/listById``.

The window ``[from, to]`` is fixed when a read starts; its pages carry the old cursor, and
only the last page moves it, to ``to`` less a margin for clock skew between syncd and
SALESmanago. A read cut short starts its window again (every record is an upsert).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from syncd.clock import Clock
from syncd.connectors.contract import Page, Record, Stream
from syncd.connectors.paging import PaginationLoop
from syncd_plugins.salesmanago.mapping import contact_records
from syncd_plugins.salesmanago.signed import SignedApi

OVERLAP_MS = 60_000
IDS_PER_CALL = 50  # what public clients send to contact/listById


class ContactsStream(Stream):
    """Contacts modified since the cursor; cursor ``{"from": ms}``."""

    name = "contacts"

    def __init__(self, sm: SignedApi, page_size: int, consent_list: str, clock: Clock) -> None:
        self.sm, self.page_size, self.consent_list, self.clock = sm, page_size, consent_list, clock

    def read(self, cursor: str | None) -> Iterator[Page]:
        start = int(json.loads(cursor).get("from", 0)) if cursor else 0
        end = int(self.clock().timestamp() * 1000)
        seen_pages: set[tuple[str, ...]] = set()
        page = 0
        while True:
            body = self.sm.call(
                "contact/paginatedModifiedContacts",
                {"from": start, "to": end, "page": page, "size": self.page_size},
            )
            rows = body.get("modifiedContacts") or []
            ids = list(dict.fromkeys(str(r["contactId"]) for r in rows if r.get("contactId")))
            key = tuple(ids)
            if ids and key in seen_pages:
                raise PaginationLoop(
                    f"SALESmanago contact/paginatedModifiedContacts page {page} came back "
                    "the same as an earlier page; the vendor's paging is looping"
                )
            seen_pages.add(key)
            records = self._records(ids)
            if body.get("hasMore") and rows:
                yield Page(records, cursor)
                page += 1
                continue
            yield Page(records, json.dumps({"from": max(start, end - OVERLAP_MS)}))
            return

    def _records(self, ids: list[str]) -> list[Record]:
        records: list[Record] = []
        for at in range(0, len(ids), IDS_PER_CALL):
            body = self.sm.call("contact/listById", {"contactId": ids[at : at + IDS_PER_CALL]})
            for row in body.get("contacts") or []:
                if isinstance(row, dict):
                    records += contact_records(row, self.consent_list)
        return records
