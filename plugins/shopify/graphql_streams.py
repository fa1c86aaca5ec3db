"""What syncd reads from a shop through the GraphQL Admin API:

    POST graphql.json {"query": CUSTOMERS, "variables": {"first": N, "after": CURSOR,
                                                          "query": "updated_at:>='ISO'"}}

for ``customers`` and ``orders`` (``sortKey: UPDATED_AT``) and ``abandonedCheckouts``
(sorted by id: Shopify has no update-time sort key for them), each a Relay connection read
by ``pageInfo { hasNextPage endCursor }``. Every node is turned into the row the REST
resource answers, so the records, events and their values are the REST mapping's
(``streams.py``). Page sizes keep a page's requested cost under Shopify's 1,000 points.

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
    Cursor,
    CursorPaginator,
    Page,
    Paginator,
    RateLimiter,
    Record,
    RestStream,
    dig,
)
from syncd_plugins.shopify import streams as rest
from syncd_plugins.shopify.api import MAX_QUERY_COST

if TYPE_CHECKING:
    from syncd_plugins.shopify.connector import ShopifyConnector

LINE_ITEMS = 25  # line items of one order or checkout read with it on a page

CUSTOMER_FIELDS = """legacyResourceId email firstName lastName phone state tags numberOfOrders
amountSpent { amount } updatedAt emailMarketingConsent { marketingState }
defaultAddress { city countryCodeV2 phone }"""
LINE_ITEM_FIELDS = """title quantity sku vendor originalUnitPriceSet { shopMoney { amount } }
product { legacyResourceId productType vendor } variant { legacyResourceId }"""
CHECKOUT_LINE_ITEM_FIELDS = """title quantity sku originalUnitPriceSet { shopMoney { amount } }
product { legacyResourceId productType vendor } variant { legacyResourceId }"""
ORDER_FIELDS = """legacyResourceId name email createdAt updatedAt cancelledAt currencyCode
sourceName displayFinancialStatus displayFulfillmentStatus discountCodes
totalPriceSet { shopMoney { amount } } subtotalPriceSet { shopMoney { amount } }
totalTaxSet { shopMoney { amount } } totalDiscountsSet { shopMoney { amount } }
customer { legacyResourceId }"""
CHECKOUT_FIELDS = """legacyResourceId: id createdAt updatedAt completedAt
totalPriceSet { shopMoney { amount currencyCode } } customer { legacyResourceId email }"""
#: REST ``fulfillment_status`` by ``displayFulfillmentStatus`` (others: null, as REST says)
FULFILLMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial", "RESTOCKED": "restocked"}


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


class GraphQLStream(RestStream):
    """One connection of the GraphQL Admin API, read by ``updatedAt``."""

    connection: ClassVar[str]
    fields: ClassVar[str]
    line_items: ClassVar[str] = ""
    sort: ClassVar[str | None] = "UPDATED_AT"
    count: ClassVar[str]  # the count query's root field
    rest: ClassVar[type[rest.ShopifyStream]]  # the REST stream whose mapping is this one's

    method = "POST"
    path = "graphql.json"
    primary_key = "legacyResourceId"  # the REST id: cursors of REST reads go on
    cursor_field = "updatedAt"
    # customers and orders come by update time, but checkouts by id, and a bulk operation in
    # no order: the bound stays at the read's start, the next read asks from a minute before
    hold_at_start = True
    lookback = 60.0

    connector: ShopifyConnector

    def __init__(self, connector: ShopifyConnector) -> None:  # type: ignore[override]
        super().__init__(connector)
        self.mapper = self.rest(connector)

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

    asked: float = 0.0  # what Shopify said the last page cost

    def limiters(self) -> list[RateLimiter]:
        return [self.connector.graphql.ahead(max(self.cost, self.asked))]

    def rows(self, reply: Any) -> list[Any]:
        cost = dig(reply, "extensions.cost")
        self.connector.graphql.observe(dig(cost, "throttleStatus"))
        self.asked = float(dig(cost, "requestedQueryCost") or 0)
        return super().rows(reply)

    def map(self, row: dict[str, Any]) -> Record | None:
        return self.mapper.map(self.as_rest(row))  # type: ignore[return-value]

    def as_rest(self, node: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def read(self, cursor: str | None) -> Iterator[Page]:
        stored = Cursor.load(cursor)
        if stored.bound is None and not stored.reading and self.connector.wants_bulk(self):
            from syncd_plugins.shopify.bulk import BulkRead

            found = BulkRead(self).pages()
            if found is not None:
                yield from found
                return
        yield from super().read(cursor)


class Customers(GraphQLStream):
    name = "customers"
    connection = "customers"
    fields = CUSTOMER_FIELDS
    count = "customersCount"
    rest = rest.Customers

    def as_rest(self, node: dict[str, Any]) -> dict[str, Any]:
        address = node.get("defaultAddress") or {}
        return {
            "id": _number(node.get("legacyResourceId")),
            "email": node.get("email"),
            "first_name": node.get("firstName"),
            "last_name": node.get("lastName"),
            "phone": node.get("phone"),
            "state": _lower(node.get("state")),
            "tags": node.get("tags") or [],
            "orders_count": node.get("numberOfOrders"),
            "total_spent": dig(node, "amountSpent.amount"),
            "email_marketing_consent": {
                "state": _lower(dig(node, "emailMarketingConsent.marketingState"))
            },
            "updated_at": node.get("updatedAt"),
            "default_address": {
                "city": address.get("city"),
                "country_code": address.get("countryCodeV2"),
                "phone": address.get("phone"),
            },
        }


class Orders(GraphQLStream):
    name = "orders"
    connection = "orders"
    fields = ORDER_FIELDS
    line_items = LINE_ITEM_FIELDS
    count = "ordersCount"
    rest = rest.Orders

    def as_rest(self, node: dict[str, Any]) -> dict[str, Any]:
        name = node.get("name")
        number = re.search(r"(\d+)\D*$", name) if isinstance(name, str) else None
        return {
            "id": _number(node.get("legacyResourceId")),
            "name": name,
            "order_number": int(number.group(1)) if number else None,
            "email": node.get("email"),
            "currency": node.get("currencyCode"),
            "total_price": dig(node, "totalPriceSet.shopMoney.amount"),
            "subtotal_price": dig(node, "subtotalPriceSet.shopMoney.amount"),
            "total_tax": dig(node, "totalTaxSet.shopMoney.amount"),
            "total_discounts": dig(node, "totalDiscountsSet.shopMoney.amount"),
            "discount_codes": [{"code": c} for c in node.get("discountCodes") or []],
            "financial_status": _lower(node.get("displayFinancialStatus")),
            "fulfillment_status": FULFILLMENT.get(str(node.get("displayFulfillmentStatus"))),
            "source_name": node.get("sourceName"),
            "cancelled_at": node.get("cancelledAt"),
            "created_at": node.get("createdAt"),
            "updated_at": node.get("updatedAt"),
            "customer": {"id": _number(dig(node, "customer.legacyResourceId"))},
            "line_items": _line_items(node),
        }


class Checkouts(GraphQLStream):
    name = "checkouts"
    connection = "abandonedCheckouts"
    fields = CHECKOUT_FIELDS
    line_items = CHECKOUT_LINE_ITEM_FIELDS
    sort = None  # by id: AbandonedCheckoutSortKeys has no UPDATED_AT
    count = "abandonedCheckoutsCount"
    rest = rest.Checkouts

    def as_rest(self, node: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": _number(str(node.get("legacyResourceId") or "").rsplit("/", 1)[-1]),
            "email": dig(node, "customer.email"),
            "completed_at": node.get("completedAt"),
            "currency": dig(node, "totalPriceSet.shopMoney.currencyCode"),
            "total_price": dig(node, "totalPriceSet.shopMoney.amount"),
            "created_at": node.get("createdAt"),
            "updated_at": node.get("updatedAt"),
            "customer": {"id": _number(dig(node, "customer.legacyResourceId"))},
            "line_items": _line_items(node),
        }


def _line_items(node: dict[str, Any]) -> list[dict[str, Any]]:
    """An order's or checkout's line items as REST's, with the product's type and vendor."""
    items = dig(node, "lineItems.nodes")
    return [
        {
            "product_id": _number(dig(item, "product.legacyResourceId")),
            "variant_id": _number(dig(item, "variant.legacyResourceId")),
            "sku": item.get("sku"),
            "title": item.get("title"),
            "quantity": item.get("quantity"),
            "price": dig(item, "originalUnitPriceSet.shopMoney.amount"),
            "product_type": dig(item, "product.productType"),
            "vendor": item.get("vendor") or dig(item, "product.vendor"),
        }
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]


def _number(value: Any) -> int | str | None:
    """A legacy id (UnsignedInt64, sent as text) as REST's number."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else (text or None)


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None
