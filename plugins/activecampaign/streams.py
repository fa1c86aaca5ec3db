"""The ActiveCampaign streams, as its API reference lists them. AC sends ids and numbers as
strings, sometimes as integers; times as ISO 8601 with the account's offset, or
``YYYY-MM-DD HH:MM:SS``.

``contacts`` is filtered by the vendor from the cursor. The other tables have no server-side
time filter: they are read in bookmark order and start at the last row the last read reached
(there and unchanged: nothing before it moved), else a page before it (rows that changed
meanwhile moved to the end, shifting the rest down); when that page too starts past the
cursor, the kit reads the table again from the start.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial
from typing import Any, ClassVar

from syncd.connectors import (
    ApiClient,
    Catalog,
    ContactMap,
    ContactRecord,
    EventMap,
    InvalidRecord,
    KeysetPaginator,
    ListRecord,
    Lookup,
    OffsetPaginator,
    Page,
    PageRequest,
    Paginator,
    Record,
    RecordError,
    Reply,
    RestStream,
    TagRecord,
    as_number,
    dig,
    every_row,
    number_at,
    text_id,
)
from syncd_plugins.activecampaign.items import order_item

#: contact attributes syncd reads, under the names the other sources use
CONTACT_ATTRIBUTES = {"firstName": "first_name", "lastName": "last_name", "phone": "phone"}
CONTACT = ContactMap(CONTACT_ATTRIBUTES, updated_at="udate")
#: ecomOrders state → syncd event type (0 pending and 4 waiting are not purchases yet)
ORDER_EVENTS = {"1": "order_placed", "2": "checkout_abandoned", "3": "order_placed"}
#: the most order products a read lists at once and holds by id, each only as the fields an
#: item is made of (``PRODUCT_KEYS``: a few hundred bytes, ~80 MB at the most)
BULK_PRODUCTS = 200_000
PRODUCT_KEYS = ("id", "price", "quantity", "name", "sku", "category")
ACTIVITY_EVENTS = {"open": "email_opened", "click": "email_clicked"}
LIST_STATUS = {"1": "subscribed", "2": "unsubscribed"}
NO_ID = ("0", "null")  # what AC writes for no id
#: AC's events: a row with an id, a time, and a contact id (or the subscriber's) or an e-mail
ac_event = partial(EventMap, contact=("contact", "subscriberid"), no_id=NO_ID)
ACTIVITY = ac_event("activity", "tstamp", ("campaignid", "subject", "messageid"))
BOUNCE = ac_event(
    "bounce", ("tstamp", "timestamp", "created_timestamp"), ("code", "error", "campaignid")
)
ORDER_KEYS = ("externalid", "externalcheckoutid", "currency", "connectionid", "customerid")
CREATED = ("createdDate", "externalCreatedDate", "tstamp")
ORDER = {
    "order_placed": ac_event("order:order_placed", ("orderDate", *CREATED), ORDER_KEYS),
    "checkout_abandoned": ac_event("order:checkout_abandoned", CREATED, ORDER_KEYS),
}
TRACKING = ac_event("tracking", "tstamp")
#: an unsubscribe (keyed by its time: a second one is a second event), a form's submission
UNSUBSCRIBE = EventMap("unsubscribe", ("udate", "updated_timestamp"), email=None, keyed_by="s")
FORM = EventMap("form", ("sdate", "created_timestamp"), email=None, no_id=NO_ID)


def parse_id(value: Any) -> str | None:
    """An AC id as text (``text_id``); AC writes ``0`` or ``"null"`` for no id."""
    text = text_id(value)
    return None if text in NO_ID else text


def catalog(api: ApiClient, table: str, name: str) -> Lookup:
    """The names by id of one table (tags, lists, fields), its rows' ``name`` key."""
    return names_in(table, None, name).lookup(api)


class Contacts(RestStream):
    """``GET /contacts?filters[updated_after]=…&orders[id]=ASC&id_greater=LAST_ID``: keyset
    paging, as AC advises for large accounts."""

    name = "contacts"
    path = records = "contacts"
    cursor_field = "udate"
    cursor_step = 1.0  # AC's times are whole seconds: strictly after a bound is a second on
    hold_at_start = True  # paged by id: a contact changed during the read may be behind us
    params = {"orders[id]": "ASC"}

    def paginator(self) -> Paginator:
        return KeysetPaginator(self.page_size, key=lambda row: dig(row, "id"))

    def since(self, value: Any) -> dict[str, Any]:
        return {"filters[updated_after]": value}

    def map(self, row: dict[str, Any]) -> Record:
        return CONTACT.record(row)

    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        """The contacts and, with ``site_tracking`` on, the site visits of each
        (``GET /contacts/{id}/trackingLogs``: AC lists them per contact only, one call each)."""
        records = super().map_page(rows)
        if not getattr(self.options, "site_tracking", False):
            return records
        visits: list[Record] = []
        for record in records:
            if isinstance(record, ContactRecord) and record.external_id:
                path = f"contacts/{record.external_id}/trackingLogs"
                logs = every_row(self.api, path, OffsetPaginator(100), "trackingLogs")
                visits += [tracking_event(log, record.external_id) for log in logs]
        return records + visits


class Table(RestStream):
    """``GET /TABLE?orders[BOOKMARK]=ASC&orders[id]=ASC&limit=…&offset=…``, resumed by offset
    (see the module)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # bookmark order, ties by id: orders[id] alone when the bookmark is the id
        cls.params = {f"orders[{cls.cursor_field}]": "ASC", "orders[id]": "ASC"}

    def paginator(self) -> Paginator:
        return OffsetPaginator(self.page_size)

    def seek(self, hint: Any, back: int) -> dict[str, Any]:
        offset = int(hint) - back  # back: what moved shifted the rest down
        return {"offset": offset} if offset > 0 else {}

    def hint(self, request: PageRequest, reply: Reply) -> int:
        return int(request.params.get("offset") or 0) + len(reply.items)


def names_in(table: str, link: str | None, name: str = "name") -> Catalog:
    """The table of names (its rows' ``name`` key) a row names by id at ``link``."""
    return Catalog(table, table, name, link, no_id=NO_ID)


class Named(Table):
    """A table whose rows name a tag, list or field by id (at ``link``): names from its
    catalog, read again at most once a page when a row names one it lacks."""

    link: ClassVar[str]

    def named(self, row: dict[str, Any]) -> tuple[str, str]:
        """The row's contact id and the name it links to."""
        contact = parse_id(row.get("contact"))
        name = self.names[self.link].name(parse_id(row.get(self.link)))
        if contact is None or name is None:
            raise RecordError(f"no known contact and {self.link}")
        return contact, name


class ContactTags(Named):
    """``GET /contactTags`` by id; tag names from ``GET /tags``."""

    name = "contact_tags"
    path = records = "contactTags"
    cursor_field, cursor_type = "id", "int"
    link, catalogs = "tag", {"tag": names_in("tags", "tag", "tag")}

    def map(self, row: dict[str, Any]) -> Record:
        return TagRecord(*self.named(row), present=True, ref=parse_id(row.get("id")))


class ContactLists(Named):
    """``GET /contactLists`` by ``updated_timestamp``; status 1 subscribed, 2 unsubscribed."""

    name = "contact_lists"
    path = records = "contactLists"
    cursor_field = "updated_timestamp"
    link = "list"
    catalogs = {"form": names_in("forms", "form"), "list": names_in("lists", "list")}

    def map(self, row: dict[str, Any]) -> list[Record]:
        """The membership. AC lists no form submissions, but a membership made through a form
        names it (``form``, at ``sdate``): also a ``form_submitted`` event (docs/events.md).
        An unsubscribe (status 2) is also an ``email_unsubscribed`` event at its ``udate``."""
        contact, name = self.named(row)
        status = LIST_STATUS.get(parse_id(row.get("status")) or "")
        if status is None:
            return [InvalidRecord(f"list membership with status {row.get('status')!r}", row)]
        membership: list[Record] = [ListRecord(contact, name, status, ref=parse_id(row.get("id")))]
        if (form := parse_id(row.get("form"))) is not None:
            properties = {"form": self.names["form"].name(form) or form, "list": name}
            membership.append(FORM.record(row, "form_submitted", "contact_list_form", properties))
        if status == "unsubscribed":
            left = {"list": name, "reason": row.get("unsubreason") or None}
            raw_type = "contact_list_status_2"
            membership.append(UNSUBSCRIBE.record(row, "email_unsubscribed", raw_type, left))
        return membership


class FieldValues(Named):
    """``GET /fieldValues`` by ``updated_timestamp``: an attribute of the contact, named by the
    field's title (``GET /fields``)."""

    name = "field_values"
    path = records = "fieldValues"
    cursor_field = "updated_timestamp"
    link, catalogs = "field", {"field": names_in("fields", "field", "title")}

    def map(self, row: dict[str, Any]) -> Record:
        contact, title = self.named(row)
        value = row.get("value")
        return ContactRecord(contact, None, attributes={title: value if value != "" else None})


class EmailActivities(Table):
    """``GET /emailActivities`` by ``tstamp``: opens and clicks (with the link's URL)."""

    name = "email_activities"
    path = records = "emailActivities"
    cursor_field = "tstamp"

    def map(self, row: dict[str, Any]) -> Record:
        raw_type = str(row.get("event") or row.get("reltype") or row.get("type") or "").lower()
        kind = ACTIVITY_EVENTS.get(raw_type)
        if kind is None:
            return InvalidRecord(f"e-mail activity of unknown type {raw_type!r}", row)
        link = row.get("link") or row.get("url")
        if isinstance(link, dict):
            link = link.get("link") or link.get("url")
        url = {"url": str(link)} if kind == "email_clicked" and link else {}
        return ACTIVITY.record(row, kind, raw_type, url)


class BounceLogs(Table):
    """``GET /bounceLogs`` by ``updated_timestamp``: hard and soft bounces."""

    name = "bounce_logs"
    path = records = "bounceLogs"
    cursor_field = "updated_timestamp"

    def map(self, row: dict[str, Any]) -> Record:
        raw_type = str(row.get("bounceType") or row.get("type") or "").lower()
        if raw_type not in ("hard", "soft"):
            # an SMTP status says it when the row does not: 5.x.x is permanent, 4.x.x transient
            raw_type = {"5": "hard", "4": "soft"}.get(str(row.get("code") or "")[:1], "")
        if not raw_type:
            return InvalidRecord("bounce that is neither hard nor soft", row)
        return BOUNCE.record(row, f"email_bounced_{raw_type}", raw_type)


class Orders(Table):
    """``GET /ecomOrders`` by ``updatedDate``: orders and abandoned carts; amounts in cents."""

    name = "orders"
    path = records = "ecomOrders"
    cursor_field = "updatedDate"

    def read(self, cursor: str | None) -> Iterator[Page]:
        self._listing: dict[str, dict[str, Any]] | None = None  # every order product by id
        self._decided = False
        return super().read(cursor)

    def map_page(self, rows: list[dict[str, Any]]) -> list[Record]:
        """The orders, each with its products: an order lists only their ids. They are read
        per order (``GET /ecomOrders/{id}/orderProducts``) for the orders that are events,
        or, when that would take more requests, all at once for the read
        (``GET /ecomOrderProducts``, which has no filter: docs/api/activecampaign.md)."""
        wanted = [
            row
            for row in rows
            if isinstance(row, dict)
            and ORDER_EVENTS.get(parse_id(row.get("state")) or "")
            and parse_id(row.get("id")) is not None
        ]
        needing = [row for row in wanted if row.get("orderProducts")]
        if needing and not self._decided:
            self._decided = True
            if self._listing_is_cheaper(rows, len(needing)):
                listing = every_row(self.api, "ecomOrderProducts", OffsetPaginator(100),
                                    "ecomOrderProducts", keys=PRODUCT_KEYS)  # fmt: skip
                self._listing = {str(parse_id(p.get("id"))): p for p in listing}
        for row in wanted:
            row["_products"] = self._products_of(row) if row.get("orderProducts") else []
        return super().map_page(rows)

    def _listing_is_cheaper(self, rows: list[Any], needing: int) -> bool:
        """Whether listing every order product takes fewer requests than this read's orders
        would one by one, estimated from this page: its share of orders with products and its
        products an order (the ids each lists), over the orders the read has left."""
        orders = int(as_number(dig(self.reply and self.reply.body, "meta.total")) or 0)
        if orders <= 0:
            return False  # no total (the listing's ``meta.total``): nothing to weigh
        start = int(self.started_from.params.get("offset") or 0) if self.started_from else 0
        left = orders - start - self.rows_answered + len(rows)
        ids = [r.get("orderProducts") for r in rows if isinstance(r, dict)]
        each = sum(len(i) if isinstance(i, list) else 0 for i in ids) / max(len(ids), 1)
        products = orders * each
        one_by_one = needing * max(left, len(rows)) / max(len(rows), 1)
        return products <= BULK_PRODUCTS and math.ceil(products / 100) < one_by_one

    def _products_of(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        ids = [parse_id(i) for i in row.get("orderProducts") or []]
        if self._listing is not None and all(i in self._listing for i in ids):
            return [self._listing[str(i)] for i in ids]
        # not in the listing (an order placed since it was read): its own products
        path = f"ecomOrders/{parse_id(row.get('id'))}/orderProducts"
        return every_row(self.api, path, OffsetPaginator(100), "ecomOrderProducts")

    def map(self, row: dict[str, Any]) -> Record | None:
        state = parse_id(row.get("state")) or "0"
        kind = ORDER_EVENTS.get(state)
        if kind is None:
            return None  # not an event (yet)
        cents = number_at(row, "totalPrice")
        properties: dict[str, Any] = {"state": state}
        if isinstance(row.get("_products"), list):  # read by map_page
            properties["items"] = [order_item(p, row.get("currency")) for p in row["_products"]]
        # a cart that was abandoned, then recovered, is one row: both events must survive
        value = round((cents or 0.0) / 100, 2)
        return ORDER[kind].record(row, kind, f"ecom_order_state_{state}", properties, value)


def tracking_event(log: dict[str, Any], contact: str) -> Record:
    """A tracking log: a site visit (``type`` "site", ``value`` its URL) as ``page_visited``;
    an event of AC's event tracking (another ``type``, the event's name) as
    ``external_event`` with its name and value."""
    raw_type, value = str(log.get("type") or "").strip(), log.get("value")
    if raw_type == "site":
        return TRACKING.record(
            {**log, "contact": contact}, "page_visited", raw_type, {"url": value}
        )
    properties = {"name": raw_type or None, "value": value}
    return TRACKING.record({**log, "contact": contact}, "external_event", raw_type, properties)


#: contacts first: the other streams name contacts by their id
STREAMS = (Contacts, ContactTags, ContactLists, FieldValues, EmailActivities, BounceLogs, Orders)
