"""What syncd reads from a shop, through the GraphQL Admin API only:

    POST graphql.json {"query": CUSTOMERS, "variables": {"first": N, "after": CURSOR,
                                                          "query": "updated_at:>='ISO'"}}

for ``customers`` and ``orders`` (``sortKey: UPDATED_AT``) and ``abandonedCheckouts``
(sorted by id: Shopify has no update-time sort key for them), each a Relay connection read
by ``pageInfo { hasNextPage endCursor }``. Page sizes keep a page's requested cost under
Shopify's 1,000 points.

Customers become contacts (tags, e-mail marketing consent as granted / revoked), orders
``order_placed`` events (``order_cancelled`` once cancelled) and open abandoned checkouts
``checkout_abandoned`` events, with their money and line items.

A stream with no cursor yet on a large shop (``bulk_threshold`` objects or more, counted
with ``customersCount`` and the like, or always with ``bulk: true``) is read whole through
a bulk operation (``bulk.py``); the cursor then is the newest ``updatedAt`` read, and the
next reads go by pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from syncd.connectors import (
    ContactMap,
    Cursor,
    CursorPaginator,
    EventRecord,
    InvalidRecord,
    Page,
    Paginator,
    RateLimiter,
    Record,
    RestStream,
    as_number,
    dig,
    line_item,
    parse_time,
    text_id,
)
from syncd_plugins.shopify.api import MAX_QUERY_COST
from syncd_plugins.shopify.journey import (
    JOURNEY_FIELDS,
    SOURCE_FIELDS,
    first_source,
    journey_properties,
)

if TYPE_CHECKING:
    from syncd_plugins.shopify.connector import ShopifyConnector

#: emailMarketingConsent.marketingState → consent (NOT_SUBSCRIBED, PENDING, INVALID: the
#: customer said nothing either way)
CONSENT = {"SUBSCRIBED": "granted", "UNSUBSCRIBED": "revoked", "REDACTED": "revoked"}
FIELDS = {
    "shopify_orders_count": "number",
    "shopify_total_spent": "number",
    "shopify_state": "text",
    **SOURCE_FIELDS,
}
EVENT_TYPES = frozenset(
    {"order_placed", "order_cancelled", "checkout_abandoned", "email_unsubscribed"}
)
#: where a customer holds its id, e-mail and update time; ``Customers.map`` reads the attributes
CUSTOMER = ContactMap(id="legacyResourceId", updated_at="updatedAt", what="Shopify customer")
#: ``fulfillment_status`` by ``displayFulfillmentStatus`` (others: null)
FULFILLMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial", "RESTOCKED": "restocked"}

LINE_ITEMS = 25  # line items of one order or checkout read with it on a page

CUSTOMER_FIELDS = """legacyResourceId email firstName lastName phone state tags numberOfOrders
amountSpent { amount } updatedAt emailMarketingConsent { marketingState consentUpdatedAt }
defaultAddress { city countryCodeV2 phone }"""
LINE_ITEM_FIELDS = """title quantity sku vendor originalUnitPriceSet { shopMoney { amount } }
variantTitle product { legacyResourceId productType vendor } variant { legacyResourceId }"""
CHECKOUT_LINE_ITEM_FIELDS = """title quantity sku originalUnitPriceSet { shopMoney { amount } }
variantTitle product { legacyResourceId productType vendor } variant { legacyResourceId }"""
ORDER_FIELDS = (
    """legacyResourceId name email createdAt updatedAt cancelledAt currencyCode
sourceName displayFinancialStatus displayFulfillmentStatus discountCodes
totalPriceSet { shopMoney { amount } } subtotalPriceSet { shopMoney { amount } }
totalTaxSet { shopMoney { amount } } totalDiscountsSet { shopMoney { amount } }
customer { legacyResourceId email } """
    + JOURNEY_FIELDS
)
CHECKOUT_FIELDS = """legacyResourceId: id createdAt updatedAt completedAt
totalPriceSet { shopMoney { amount currencyCode } } customer { legacyResourceId email }"""


def document(connection: str, fields: str, *, sort: str | None, line_items: str = "") -> str:
    """A page of ``connection``: its nodes with ``fields`` (and their first line items)."""
    order = f", sortKey: {sort}" if sort else ""
    items = f" lineItems(first: {LINE_ITEMS}) {{ nodes {{ {line_items} }} }}" if line_items else ""
    return (
        f"query syncd_{connection}($first: Int!, $after: String, $query: String) "
        f"{{ {connection}(first: $first, after: $after, query: $query{order}) "
        f"{{ nodes {{ {fields}{items} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )


def bulk_document(connection: str, fields: str, line_items: str = "") -> str:
    """The same selection as a bulk operation's query: every node, line items as lines of
    their own (``edges { node }``, no ``first``)."""
    items = f" lineItems {{ edges {{ node {{ {line_items} }} }} }}" if line_items else ""
    return f"{{ {connection} {{ edges {{ node {{ id {fields}{items} }} }} }} }}"


def node_cost(fields: str, line_items: str) -> int:
    """Points one node costs: 1, plus 1 for each object it selects, plus its line items."""
    objects = fields.count("{")
    items = (2 + LINE_ITEMS * (1 + line_items.count("{"))) if line_items else 0
    return 1 + objects + items


class ShopifyStream(RestStream):
    """One connection of the GraphQL Admin API, read by ``updatedAt``."""

    connection: ClassVar[str]
    fields: ClassVar[str]
    line_items: ClassVar[str] = ""
    sort: ClassVar[str | None] = "UPDATED_AT"
    count: ClassVar[str]  # the count query's root field

    method = "POST"
    path = "graphql.json"
    primary_key = "legacyResourceId"
    cursor_field = "updatedAt"
    # customers and orders come by update time, but checkouts by id, and a bulk operation in
    # no order: the bound stays no later than the read's start (on Shopify's clock when that
    # is behind, as its replies' Date says), and the next read asks from there
    hold_at_start = True
    asked: float = 0.0  # what Shopify said the last page cost

    connector: ShopifyConnector

    @property
    def records(self) -> str:  # type: ignore[override]
        return f"data.{self.connection}.nodes"

    @property
    def cost(self) -> int:
        """The requested cost of one page."""
        return 2 + self.first * node_cost(self.fields, self.line_items)

    @property
    def first(self) -> int:
        per_node = node_cost(self.fields, self.line_items)
        return max(1, min(self.page_size, (MAX_QUERY_COST - 2) // per_node))

    @property
    def body(self) -> dict[str, Any]:  # type: ignore[override]
        query = document(self.connection, self.fields, sort=self.sort, line_items=self.line_items)
        return {"query": query, "variables": {"first": self.first}}

    def paginator(self) -> Paginator:
        def after(reply: Any) -> str | None:
            info = dig(reply, f"data.{self.connection}.pageInfo") or {}
            return info.get("endCursor") if info.get("hasNextPage") else None

        return CursorPaginator(after, param="variables.after", place="body")

    def since(self, value: Any) -> dict[str, Any]:
        return {"variables.query": f"updated_at:>='{value}'"}

    def after(self, value: Any) -> dict[str, Any]:
        return {"variables.query": f"updated_at:>'{value}'"}

    def limiters(self) -> list[RateLimiter]:
        return [self.connector.graphql.ahead(max(self.cost, self.asked))]

    def rows(self, reply: Any) -> list[Any]:
        cost = dig(reply, "extensions.cost")
        self.connector.graphql.observe(dig(cost, "throttleStatus"))
        self.asked = float(dig(cost, "requestedQueryCost") or 0)
        return super().rows(reply)

    def read(self, cursor: str | None) -> Iterator[Page]:
        stored = Cursor.load(cursor)
        if stored.reading and dig(stored.resume, "method") != "POST":
            # a read over REST (syncd before GraphQL) cut short: read again from its bound
            stored = Cursor(stored.bound, stored.seen)
            cursor = stored.dump()
        if stored.bound is None and not stored.reading and self.connector.wants_bulk(self):
            from syncd_plugins.shopify.bulk import BulkRead

            found = BulkRead(self).pages()
            if found is not None:
                yield from found
                return
        yield from super().read(cursor)


class Customers(ShopifyStream):
    name = "customers"
    connection = "customers"
    fields = CUSTOMER_FIELDS
    count = "customersCount"

    def map(self, row: dict[str, Any]) -> Record | list[Record]:
        """The customer; an unsubscribed one also as an ``email_unsubscribed`` event at the
        consent's ``consentUpdatedAt``, keyed by that time."""
        contact = CUSTOMER.record(row)
        if isinstance(contact, InvalidRecord):
            return contact
        texts = {
            "first_name": row.get("firstName"),
            "last_name": row.get("lastName"),
            "phone": row.get("phone") or dig(row, "defaultAddress.phone"),
            "city": dig(row, "defaultAddress.city"),
            "country": dig(row, "defaultAddress.countryCodeV2"),
            "shopify_state": _lower(row.get("state")),
        }
        numbers = {
            "shopify_orders_count": as_number(row.get("numberOfOrders")),
            "shopify_total_spent": as_number(dig(row, "amountSpent.amount")),
        }
        contact.attributes = {k: str(v).strip() for k, v in texts.items() if v}
        contact.attributes.update({k: v for k, v in numbers.items() if v is not None})
        contact.tags = split_tags(row.get("tags"))
        state = str(dig(row, "emailMarketingConsent.marketingState"))
        contact.consent = CONSENT.get(state)
        at = parse_time(dig(row, "emailMarketingConsent.consentUpdatedAt") or None)
        if state != "UNSUBSCRIBED" or at is None:
            return contact
        key = f"unsubscribe/{contact.external_id}/{int(at.timestamp())}"
        quit_event = EventRecord(
            key, "email_unsubscribed", at, contact.external_id, contact.email, "unsubscribed"
        )
        return [contact, quit_event]


class Orders(ShopifyStream):
    name = "orders"
    connection = "orders"
    fields = ORDER_FIELDS
    line_items = LINE_ITEM_FIELDS
    count = "ordersCount"

    def map(self, row: dict[str, Any]) -> Record | list[Record]:
        """An ``order_placed`` event; a cancelled order ``order_cancelled`` at its cancellation,
        under the same id, so the purchase it replaces stops counting. A customer's first
        order also gives their source fields (``journey.py``)."""
        oid, at = text_id(row.get("legacyResourceId")), parse_time(row.get("createdAt"))
        if oid is None or at is None:
            return InvalidRecord("Shopify order without an id or createdAt", row)
        cancelled = parse_time(row.get("cancelledAt")) if row.get("cancelledAt") else None
        if row.get("cancelledAt") and cancelled is None:
            return InvalidRecord(f"Shopify order {oid}: unreadable cancelledAt", row)
        name = row.get("name")
        number = re.search(r"(\d+)\D*$", name) if isinstance(name, str) else None
        codes = row.get("discountCodes")
        properties = {
            "order_name": name,
            "order_number": int(number.group(1)) if number else None,
            **_purchase(row, row.get("currencyCode")),
            "subtotal": _money(row, "subtotalPriceSet"),
            "total_tax": _money(row, "totalTaxSet"),
            "total_discounts": _money(row, "totalDiscountsSet"),
            "discount_codes": [c for c in _list(codes) if isinstance(c, str) and c],
            "financial_status": _lower(row.get("displayFinancialStatus")),
            "fulfillment_status": FULFILLMENT.get(str(row.get("displayFulfillmentStatus"))),
            "source_name": row.get("sourceName"),
            "cancelled": cancelled is not None,
            "placed_at": at.isoformat(),
            **journey_properties(row),
        }
        kind = "order_cancelled" if cancelled else "order_placed"
        found = _event(
            row, f"order/{oid}", kind, at=cancelled or at, raw="order", properties=properties
        )
        source = first_source(row)
        return [source, found] if source is not None else found


class Checkouts(ShopifyStream):
    name = "checkouts"
    connection = "abandonedCheckouts"
    fields = CHECKOUT_FIELDS
    line_items = CHECKOUT_LINE_ITEM_FIELDS
    sort = None  # by id: AbandonedCheckoutSortKeys has no UPDATED_AT
    count = "abandonedCheckoutsCount"

    def map(self, row: dict[str, Any]) -> Record | None:
        """A ``checkout_abandoned`` event; None once it was completed (it became an order)."""
        kid = text_id(str(row.get("legacyResourceId") or "").rsplit("/", 1)[-1])
        at = parse_time(row.get("createdAt"))
        if kid is None or at is None:
            return InvalidRecord("Shopify checkout without an id or createdAt", row)
        if row.get("completedAt"):
            return None
        currency = dig(row, "totalPriceSet.shopMoney.currencyCode")
        return _event(
            row,
            f"checkout/{kid}",
            "checkout_abandoned",
            at=at,
            raw="abandoned_checkout",
            properties=_purchase(row, currency),
        )


def split_tags(value: Any) -> list[str]:
    """The customer's tags as a list, trimmed, in Shopify's order, without repeats."""
    tags = (str(t).strip() for t in value) if isinstance(value, list) else ()
    return list(dict.fromkeys(t for t in tags if t))


def _event(
    row: dict[str, Any], key: str, kind: str, *, at: Any, raw: str, properties: dict[str, Any]
) -> EventRecord:
    """A purchase or a cart as an event of the customer who made it, worth its total."""
    email = row.get("email") or dig(row, "customer.email")
    return EventRecord(
        external_id=key,
        type=kind,
        occurred_at=at,
        contact_external_id=text_id(dig(row, "customer.legacyResourceId")),
        email=email.strip() or None if isinstance(email, str) else None,
        raw_type=raw,
        properties=properties,
        value=_money(row, "totalPriceSet"),
    )


def _purchase(row: dict[str, Any], currency: Any) -> dict[str, Any]:
    """The money and line items of an order or a checkout, each line in the shared item shape
    (docs/events.md, "Line items"): the product type is its category, the unit price a number
    in the order's currency."""
    items = [_item(item) for item in _list(dig(row, "lineItems.nodes")) if isinstance(item, dict)]
    return {
        "currency": currency,
        "items": items,
        "skus": [i["sku"] for i in items if i.get("sku")],
        "products": [i["product"] for i in items if i.get("product")],
        "quantity": sum(i["quantity"] for i in items),
    }


def _item(line: dict[str, Any]) -> dict[str, Any]:
    """One line item as syncd's normalised item (Shopify sends "" for an empty product type)."""
    return line_item(
        line.get("quantity"),
        dig(line, "originalUnitPriceSet.shopMoney.amount"),
        product=line.get("title"),
        variant=line.get("variantTitle"),
        sku=line.get("sku"),
        category=dig(line, "product.productType"),
        vendor=line.get("vendor") or dig(line, "product.vendor"),
    )


def _money(row: dict[str, Any], field: str) -> float | None:
    return as_number(dig(row, f"{field}.shopMoney.amount"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None
