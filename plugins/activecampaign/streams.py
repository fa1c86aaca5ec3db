"""The ActiveCampaign streams. Each page is yielded with the cursor that covers it.

``contacts`` pages by key (``orders[id]=ASC&id_greater=``) from ``filters[updated_after]``.
The other tables have no server-side time filter, so they are read in the order of their
bookmark and resumed from the offset reached last time, less a margin: rows that changed
meanwhile moved to the end, shifting the rest down. Rows at or before the stored position
are skipped; if the first page starts past it, the read starts again from offset 0 (reading
again is harmless: every record is an upsert).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from syncd.clock import parse_time
from syncd.connectors.client import ApiClient
from syncd.connectors.contract import (
    ContactRecord,
    InvalidRecord,
    ListRecord,
    Page,
    Record,
    Stream,
    TagRecord,
)
from syncd.connectors.paging import KeysetPaginator, OffsetPaginator
from syncd_plugins.activecampaign.mapping import (
    activity_from,
    bounce_from,
    contact_from,
    order_from,
    parse_id,
    sort_key,
)

STREAM_NAMES = (
    "contacts",
    "contact_tags",
    "contact_lists",
    "field_values",
    "email_activities",
    "bounce_logs",
    "orders",
)
Mapper = Callable[[dict[str, Any]], Record | None]


def _rows(key: str) -> Callable[[Any], list[dict[str, Any]]]:
    def rows(body: Any) -> list[dict[str, Any]]:
        found = body.get(key) if isinstance(body, dict) else None
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []

    return rows


class Catalog:
    """Names by id of one table (tags, lists, fields), read whole and read again on a miss."""

    def __init__(self, api: ApiClient, path: str, name_key: str, page_size: int) -> None:
        self.api, self.path, self.name_key, self.page_size = api, path, name_key, page_size
        self.rows: dict[str, dict[str, Any]] = {}
        self.loaded = False
        self.missed: set[str] = set()  # ids not found even after reading again

    def load(self) -> None:
        rows: dict[str, dict[str, Any]] = {}
        paginator = OffsetPaginator(self.page_size)
        for items, _ in self.api.pages(self.path, paginator, _rows(self.path)):
            for row in items:
                row_id = parse_id(row.get("id"))
                if row_id is not None:
                    rows[row_id] = row
        self.rows, self.loaded = rows, True

    def name(self, row_id: str | None) -> str | None:
        if row_id is None:
            return None
        if not self.loaded or (row_id not in self.rows and row_id not in self.missed):
            # a row made since the last read; one more read per unknown id, not per row
            self.load()
            if row_id not in self.rows:
                self.missed.add(row_id)
        row = self.rows.get(row_id)
        return str(row[self.name_key]) if row and row.get(self.name_key) else None

    def find(self, name: str, *keys: str) -> str | None:
        """The id of the row whose ``keys`` (default: the name) equal ``name``, any case."""
        if not self.loaded:
            self.load()
        wanted = name.strip().lower()
        for row_id, row in self.rows.items():
            for key in keys or (self.name_key,):
                if str(row.get(key) or "").strip().lower() == wanted:
                    return row_id
        return None


class ContactsStream(Stream):
    """Contacts changed since the cursor, by key; cursor ``{"since", "after", "max"}``."""

    name = "contacts"

    def __init__(self, api: ApiClient, page_size: int) -> None:
        self.api, self.page_size = api, page_size

    def read(self, cursor: str | None) -> Iterator[Page]:
        state = json.loads(cursor) if cursor else {}
        since: str | None = state.get("since")
        newest: str | None = state.get("max") or since
        params: dict[str, Any] = {"orders[id]": "ASC"}
        if since:
            params["filters[updated_after]"] = since
        paginator = KeysetPaginator(self.page_size, key=lambda r: r["id"], after=state.get("after"))
        for items, _ in self.api.pages("contacts", paginator, _rows("contacts"), params):
            records = [contact_from(r) for r in items]
            for row in items:
                if _later(row.get("udate"), newest):
                    newest = row["udate"]
            if len(items) < self.page_size:  # the last page: the next read starts from here
                yield Page(records, json.dumps({"since": newest}))
            else:
                after = parse_id(items[-1].get("id"))
                yield Page(records, json.dumps({"since": since, "after": after, "max": newest}))


def _later(value: Any, than: str | None) -> bool:
    at = parse_time(value)
    if at is None:
        return False
    before = parse_time(than)
    return before is None or at > before


class BookmarkStream(Stream):
    """A table read in bookmark order, resumed from the offset reached (see the module)."""

    def __init__(
        self,
        api: ApiClient,
        name: str,
        path: str,
        bookmark: str,
        mapper: Mapper,
        page_size: int,
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.api, self.path, self.bookmark = api, path, bookmark
        self.mapper, self.page_size = mapper, page_size

    def position(self, row: dict[str, Any]) -> tuple[str, int]:
        row_id = parse_id(row.get("id")) or "0"
        return sort_key(row.get(self.bookmark)), int(row_id) if row_id.isdigit() else 0

    def read(self, cursor: str | None) -> Iterator[Page]:
        state = json.loads(cursor) if cursor else {}
        last = tuple(state["last"]) if state.get("last") else None
        start = max(0, int(state.get("offset", 0)) - self.page_size) if last else 0
        for restarted in (False, True):
            offset = start
            for index, page in enumerate(self._pages(offset, last)):
                rows, seen_offset, first_past = page
                if index == 0 and first_past and offset > 0 and not restarted:
                    break  # the stored position is no longer where it was: read it all
                records = [r for r in (self.mapper(row) for row in rows) if r is not None]
                if rows:
                    last = self.position(rows[-1])
                yield Page(records, json.dumps({"offset": seen_offset, "last": last}))
            else:
                return
            start = 0

    def _pages(
        self, offset: int, last: tuple[str, int] | None
    ) -> Iterator[tuple[list[dict[str, Any]], int, bool]]:
        """Each page's new rows, the offset after it, and whether it began past ``last``."""
        params = {f"orders[{self.bookmark}]": "ASC", "orders[id]": "ASC"}
        paginator = OffsetPaginator(self.page_size, start=offset)
        for items, _ in self.api.pages(self.path, paginator, _rows(self.path), params):
            first_past = bool(items) and last is not None and self.position(items[0]) > last
            new = [r for r in items if last is None or self.position(r) > last]
            offset += len(items)
            yield new, offset, first_past


def tag_mapper(tags: Catalog) -> Mapper:
    def tag_from(row: dict[str, Any]) -> Record:
        contact, name = parse_id(row.get("contact")), tags.name(parse_id(row.get("tag")))
        if contact is None or name is None:
            return InvalidRecord("contact tag without a known contact or tag", row)
        return TagRecord(contact, name, present=True, ref=parse_id(row.get("id")))

    return tag_from


def list_mapper(lists: Catalog) -> Mapper:
    def list_from(row: dict[str, Any]) -> Record:
        contact, name = parse_id(row.get("contact")), lists.name(parse_id(row.get("list")))
        status = {"1": "subscribed", "2": "unsubscribed"}.get(parse_id(row.get("status")) or "")
        if contact is None or name is None:
            return InvalidRecord("list membership without a known contact or list", row)
        if status is None:
            return InvalidRecord(f"list membership with status {row.get('status')!r}", row)
        return ListRecord(contact, name, status, ref=parse_id(row.get("id")))

    return list_from


def field_value_mapper(fields: Catalog) -> Mapper:
    """A field value as an attribute of its contact, named by the field's title."""

    def field_value_from(row: dict[str, Any]) -> Record:
        contact, title = parse_id(row.get("contact")), fields.name(parse_id(row.get("field")))
        if contact is None or title is None:
            return InvalidRecord("field value without a known contact or field", row)
        value = row.get("value")
        return ContactRecord(contact, None, attributes={title: value if value != "" else None})

    return field_value_from


def all_streams(api: ApiClient, page_size: int) -> list[Stream]:
    """Every stream, contacts first: the others name contacts by their id."""
    tags = Catalog(api, "tags", "tag", page_size)
    lists = Catalog(api, "lists", "name", page_size)
    fields = Catalog(api, "fields", "title", page_size)

    def bookmark(name: str, path: str, key: str, mapper: Mapper) -> BookmarkStream:
        return BookmarkStream(api, name, path, key, mapper, page_size)

    return [
        ContactsStream(api, page_size),
        bookmark("contact_tags", "contactTags", "id", tag_mapper(tags)),
        bookmark("contact_lists", "contactLists", "updated_timestamp", list_mapper(lists)),
        bookmark("field_values", "fieldValues", "updated_timestamp", field_value_mapper(fields)),
        bookmark("email_activities", "emailActivities", "tstamp", activity_from),
        bookmark("bounce_logs", "bounceLogs", "updated_timestamp", bounce_from),
        bookmark("orders", "ecomOrders", "updatedDate", order_from),
    ]
