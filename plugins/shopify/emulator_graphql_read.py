"""What the emulator's GraphQL schema reads: the store's REST rows rendered as GraphQL objects
(camelCase names, global ids, UTC ``DateTime``, upper-case enums, money as ``MoneyV2`` /
``MoneyBag``), Relay connections over them (``first`` / ``last`` / ``after`` / ``before``,
``reverse``, ``sortKey``, opaque cursors), and Shopify's search syntax in ``query:``.

A rendered object is a plain dict; a field that takes arguments or costs work (a nested
connection, a linked object) is a callable in that dict, which graphql-core's default resolver
calls with ``(info, **arguments)``, so only what a query selects is computed."""

from __future__ import annotations

import base64
import binascii
import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from functools import cache
from typing import Any

from graphql import GraphQLError

from syncd.connectors import parse_time
from syncd.emulator.people import CATALOG
from syncd_plugins.shopify.emulator_state import ShopState, split_tags

MAX_PAGE = 250
Row = dict[str, Any]
Render = Callable[[Row], Mapping[str, Any]]
VENDOR = "Emulated Outfitters"
PRODUCTS = {p.sku: p for p in CATALOG}


@dataclass
class Context:
    """What resolvers see as ``info.context``: the store, and whether the query runs as a
    bulk operation (connections then take every row, ``first`` / ``last`` ignored)."""

    shop: ShopState
    bulk: bool = False
    orders_by_customer: dict[int, list[Row]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # in a bulk operation (a snapshot of the store, read only): each catalog product or
    # variant, and each customer, rendered once for every line item or order that names it
    rendered: dict[tuple[str, int], Row | None] = field(default_factory=dict)

    def once(self, key: tuple[str, int], render: Callable[[], Row | None]) -> Row | None:
        if not self.bulk:
            return render()
        if key not in self.rendered:
            self.rendered[key] = render()
        return self.rendered[key]

    def customer_orders(self, customer_id: int) -> list[Row]:
        if self.orders_by_customer is None:
            index: dict[int, list[Row]] = {}
            for _, order in sorted(self.shop.orders.items()):
                owner = (order.get("customer") or {}).get("id")
                if owner is not None:
                    index.setdefault(owner, []).append(order)
            self.orders_by_customer = index
        return self.orders_by_customer.get(customer_id, [])


def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def legacy_node(kind: str, row: Row) -> Row:
    """The fields of a ``LegacyInteroperability`` node: its type, global id and REST id."""
    return {"__typename": kind, "id": gid(kind, row["id"]), "legacyResourceId": str(row["id"])}


class Node(Mapping[str, Any]):
    """A rendered object whose fields beyond ``fields`` are made by ``more`` when one of them
    is first read: a listing (a bulk operation's above all) renders every row, and a query
    selects a few fields; what it reads is the same either way. ``more``'s fields win over
    ``fields`` of the same name, as when both are merged at once."""

    __slots__ = ("_fields", "_more")

    def __init__(self, fields: Row, more: Callable[[], Row]) -> None:
        self._fields: Row = fields
        self._more: Callable[[], Row] | None = more

    def _whole(self) -> Row:
        if self._more is not None:
            self._fields = {**self._fields, **self._more()}
            self._more = None
        return self._fields

    def __getitem__(self, key: str) -> Any:
        if self._more is None or key not in self._fields:
            return self._whole()[key]
        return self._fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self._fields or (self._more is not None and key in self._whole())

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())


GID = re.compile(r"^gid://shopify/(\w+)/(\d+)$")


def parse_gid(value: Any) -> tuple[str, int] | None:
    match = GID.match(value) if isinstance(value, str) else None
    return (match.group(1), int(match.group(2))) if match else None


_UTC: dict[str, str] = {}
_EPOCH: dict[str, float] = {}


def utc(text: str | None) -> str | None:
    """A REST time (the shop's offset) as GraphQL's ``DateTime``: UTC, ``Z``."""
    if not text:
        return None
    found = _UTC.get(text)
    if found is None:
        at = parse_time(text)
        found = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else ""
        _UTC[text] = found
    return found or None


def epoch(text: str | None) -> float:
    """A REST time as seconds (cached: the filters compare every row on every page)."""
    if not text:
        return float("-inf")
    found = _EPOCH.get(text)
    if found is None:
        at = parse_time(text)
        found = _EPOCH[text] = at.timestamp() if at else float("-inf")
    return found


def money_v2(amount: str | None, currency: str) -> Row:
    return {"amount": amount or "0.00", "currencyCode": currency}


def money_bag(amount: str | None, currency: str) -> Row:
    one = money_v2(amount, currency)
    return {"shopMoney": one, "presentmentMoney": one}


def cents(text: str | None) -> int:
    return round(float(text or 0) * 100)


# --- rendering ------------------------------------------------------------------------------


def address_node(address: Row | None) -> Row | None:
    if not address:
        return None
    first, last = address.get("first_name"), address.get("last_name")
    lines = [
        " ".join(p for p in (first, last) if p),
        address.get("address1"),
        " ".join(p for p in (address.get("zip"), address.get("city")) if p),
        address.get("country_code"),
    ]
    return {
        "__typename": "MailingAddress",
        "id": gid("MailingAddress", address["id"]),
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "company": address.get("company"),
        "country": address.get("country"),
        "countryCodeV2": address.get("country_code"),
        "firstName": first,
        "lastName": last,
        "name": " ".join(p for p in (first, last) if p) or None,
        "phone": address.get("phone"),
        "province": address.get("province"),
        "provinceCode": address.get("province_code"),
        "zip": address.get("zip"),
        "formatted": lambda info, **_: [line for line in lines if line],
    }


def customer_node(row: Row) -> Row:
    """A REST customer in the GraphQL ``Customer`` shape."""
    consent = row.get("email_marketing_consent") or {}
    name = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
    currency = row.get("currency") or "EUR"
    cid = row["id"]

    def orders(info: Any, **args: Any) -> Row:
        rows = info.context.customer_orders(cid)
        return connection(info, rows, order_node, ORDER_SEARCH, ORDER_SORT, args)

    def last_order(info: Any, **_: Any) -> Node | None:
        found = info.context.shop.orders.get(row.get("last_order_id"))
        return order_node(found) if found else None

    def addresses(info: Any, first: int | None = None) -> list[Row]:
        listed = [address_node(a) for a in row.get("addresses") or []]
        return [a for a in listed if a][: first if first is not None else None]

    return {
        "__typename": "Customer",
        "id": gid("Customer", cid),
        "legacyResourceId": str(cid),
        "email": row.get("email"),
        "firstName": row.get("first_name"),
        "lastName": row.get("last_name"),
        "displayName": name or row.get("email") or "",
        "phone": row.get("phone"),
        "note": row.get("note"),
        "state": str(row.get("state") or "disabled").upper(),
        "tags": split_tags(row.get("tags") or ""),
        "verifiedEmail": bool(row.get("verified_email")),
        "validEmailAddress": bool(row.get("email")),
        "canDelete": not row.get("orders_count"),
        "numberOfOrders": str(row.get("orders_count") or 0),
        "amountSpent": money_v2(row.get("total_spent"), currency),
        "createdAt": utc(row.get("created_at")),
        "updatedAt": utc(row.get("updated_at")),
        "lifetimeDuration": "",
        "locale": "en",
        "taxExempt": False,
        "emailMarketingConsent": (
            {
                "marketingState": str(consent.get("state") or "not_subscribed").upper(),
                "marketingOptInLevel": (consent.get("opt_in_level") or "").upper() or None,
                "consentUpdatedAt": utc(consent.get("consent_updated_at")),
            }
            if row.get("email")
            else None
        ),
        "defaultAddress": lambda info, **_: address_node(row.get("default_address")),
        "addresses": addresses,
        "orders": orders,
        "lastOrder": last_order,
        **_more().customer_more(row),
    }


def product_node(sku: str, product_id: int) -> Row:
    known = PRODUCTS.get(sku)
    title = known.name if known else sku
    return {
        "__typename": "Product",
        "id": gid("Product", product_id),
        "legacyResourceId": str(product_id),
        "title": title,
        "handle": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
        "productType": known.category.title() if known else "",
        "vendor": VENDOR,
        "status": "ACTIVE",
        "tags": [],
        "createdAt": "2023-01-02T09:00:00Z",
        "updatedAt": "2023-01-02T09:00:00Z",
    }


def variant_node(item: Row) -> Row:
    product = product_node(item["sku"] or item["title"], item["product_id"])
    return {
        "__typename": "ProductVariant",
        "id": gid("ProductVariant", item["variant_id"]),
        "legacyResourceId": str(item["variant_id"]),
        "title": "Default Title",
        "displayName": f"{product['title']} - Default Title",
        "sku": item["sku"],
        "price": item["price"],
        "product": product,
    }


@cache  # an import statement each call cost more than many a field
def _more() -> Any:
    """The module rendering the fields beyond the connector's (it imports this one)."""
    from syncd_plugins.shopify import emulator_graphql_orders

    return emulator_graphql_orders


def _catalog_product(info: Any, item: Row) -> Row | None:
    """A line item's product: the store's own, else one made from its SKU; none for a
    custom line item (an order made through the API with a title and a price only: Shopify's
    ``LineItem.product`` and ``variant`` are nullable)."""
    from syncd_plugins.shopify.emulator_graphql_catalog import product_node as full

    if item["product_id"] is None:
        return None
    found = info.context.shop.catalog.products.get(item["product_id"])
    if found is None:
        return product_node(item["sku"] or item["title"], item["product_id"])
    context: Context = info.context
    return context.once(("Product", item["product_id"]), lambda: full(found))


def _catalog_variant(info: Any, item: Row) -> Row | None:
    from syncd_plugins.shopify.emulator_graphql_catalog import variant_node as full

    if item["variant_id"] is None or item["product_id"] is None:
        return None
    product = info.context.shop.catalog.products.get(item["product_id"])
    found = next(
        (v for v in (product or {}).get("variants", []) if v["id"] == item["variant_id"]), None
    )
    if not (found and product):
        return variant_node(item)
    context: Context = info.context
    return context.once(("ProductVariant", item["variant_id"]), lambda: full(found, product))


def line_item_node(item: Row, currency: str, kind: str = "LineItem") -> Row:
    total = f"{cents(item['price']) * item['quantity'] / 100:.2f}"
    common = {
        "__typename": kind,
        "id": gid(kind, item["id"]),
        "title": item["title"],
        "sku": item["sku"],
        "quantity": item["quantity"],
        "variantTitle": None,
        "product": lambda info, **_: _catalog_product(info, item),
        "variant": lambda info, **_: _catalog_variant(info, item),
        "originalUnitPriceSet": money_bag(item["price"], currency),
        "customAttributes": [],
    }
    if kind == "LineItem":
        return {
            **common,
            **_more().line_item_more(item, currency),
            "name": item["title"],
            "vendor": item.get("vendor", VENDOR),
            "currentQuantity": item["quantity"],
            "originalTotalSet": money_bag(total, currency),
            "discountedTotalSet": money_bag(total, currency),
        }
    return {
        **common,
        **_more().checkout_line_item_more(item, currency),
        "originalTotalPriceSet": money_bag(total, currency),
        "discountedTotalPriceSet": money_bag(total, currency),
    }


def _linked_customer(row: Row) -> Callable[..., Row | None]:
    def customer(info: Any, **_: Any) -> Row | None:
        cid = (row.get("customer") or {}).get("id")
        found = info.context.shop.customers.get(cid)
        if not found:
            return None
        context: Context = info.context
        return context.once(("Customer", found["id"]), lambda: customer_node(found))

    return customer


def _line_items(row: Row, kind: str) -> Callable[..., Row]:
    currency = row.get("currency") or "EUR"

    def line_items(info: Any, **args: Any) -> Row:
        rows = row.get("line_items") or []
        return connection(info, rows, lambda li: line_item_node(li, currency, kind), {}, {}, args)

    return line_items


def order_node(row: Row) -> Node:
    currency = row.get("currency") or "EUR"
    financial = str(row.get("financial_status") or "pending").upper()
    fulfilled = row.get("fulfillment_status")
    oid = row["id"]
    fields = {
        **legacy_node("Order", row),
        "name": row["name"],
        "email": row.get("email"),
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "processedAt": utc(row.get("processed_at") or row["created_at"]),
        "cancelledAt": utc(row.get("cancelled_at")),
        "cancelReason": "OTHER" if row.get("cancelled_at") else None,
        "closedAt": utc(row.get("closed_at")),
        "closed": row.get("closed_at") is not None,
        "currencyCode": currency,
        "presentmentCurrencyCode": currency,
        "displayFinancialStatus": financial,
        "displayFulfillmentStatus": "FULFILLED" if fulfilled == "fulfilled" else "UNFULFILLED",
        "totalPriceSet": money_bag(row.get("total_price"), currency),
        "currentTotalPriceSet": money_bag(row.get("total_price"), currency),
        "subtotalPriceSet": money_bag(row.get("subtotal_price"), currency),
        "totalTaxSet": money_bag(row.get("total_tax"), currency),
        "totalDiscountsSet": money_bag(row.get("total_discounts"), currency),
        "discountCodes": [d["code"] for d in row.get("discount_codes") or []],
        "discountCode": next((d["code"] for d in row.get("discount_codes") or []), None),
        "sourceName": row.get("source_name"),
        "tags": split_tags(row.get("tags") or ""),
        "note": row.get("note"),
        "customer": _linked_customer(row),
        "lineItems": _line_items(row, "LineItem"),
        "customerJourneySummary": lambda info, **_: info.context.shop.journeys.get(oid),
    }
    return Node(fields, lambda: _more().order_more(row))


def checkout_node(row: Row) -> Row:
    currency = row.get("currency") or "EUR"
    return {
        "__typename": "AbandonedCheckout",
        "id": gid("AbandonedCheckout", row["id"]),
        "name": f"#{row['id']}",
        "note": "",
        "abandonedCheckoutUrl": row["abandoned_checkout_url"],
        "completedAt": utc(row.get("completed_at")),
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "discountCodes": [],
        "taxesIncluded": True,
        "totalPriceSet": money_bag(row.get("total_price"), currency),
        "subtotalPriceSet": money_bag(row.get("total_price"), currency),
        "customer": _linked_customer(row),
        "lineItems": _line_items(row, "AbandonedCheckoutLineItem"),
        **_more().checkout_more(row),
    }


# --- connections ----------------------------------------------------------------------------

SortKey = Callable[[Row], Any]
CUSTOMER_SORT: dict[str, SortKey] = {
    "UPDATED_AT": lambda r: epoch(r["updated_at"]),
    "CREATED_AT": lambda r: epoch(r["created_at"]),
    "NAME": lambda r: f"{r.get('first_name') or ''} {r.get('last_name') or ''}".lower(),
}
ORDER_SORT: dict[str, SortKey] = {
    "UPDATED_AT": lambda r: epoch(r["updated_at"]),
    "CREATED_AT": lambda r: epoch(r["created_at"]),
    "PROCESSED_AT": lambda r: epoch(r.get("processed_at") or r["created_at"]),
    "ORDER_NUMBER": lambda r: r["order_number"],
    "TOTAL_PRICE": lambda r: cents(r.get("total_price")),
}
CHECKOUT_SORT: dict[str, SortKey] = {
    "CREATED_AT": lambda r: epoch(r["created_at"]),
    "TOTAL_PRICE": lambda r: cents(r.get("total_price")),
}


def connection(
    info: Any,
    rows: Iterable[Row],
    render: Render,
    search: dict[str, Term],
    sorts: dict[str, SortKey],
    args: dict[str, Any],
) -> Row:
    """A Relay connection over ``rows`` (in id order) as the arguments ask: filtered by
    ``query``, ordered by ``sortKey`` then id (``reverse`` turns it), cut by the cursors and
    ``first`` / ``last``. In a bulk operation every row is taken."""
    bulk = bool(getattr(info.context, "bulk", False))
    first, last = args.get("first"), args.get("last")
    if not bulk:
        if first is None and last is None:
            raise GraphQLError("you must provide one of first or last")
        if first is not None and last is not None:
            raise GraphQLError("providing both first and last is not supported")
        size = int(first if first is not None else last or 0)
        if size < 0 or size > MAX_PAGE:
            raise GraphQLError(f"The page size must be between 0 and {MAX_PAGE}")
    query = args.get("query")
    picked = [r for r in rows if matches(r, query, search)] if query else list(rows)
    key = sorts.get(str(args.get("sortKey") or "ID"))
    if key is not None:
        picked.sort(key=lambda r: (key(r), r["id"]))
    order = [(key(r) if key else 0, r["id"]) for r in picked]
    reverse = bool(args.get("reverse"))
    # positions in the ascending list: [lo, hi) is the window the cursors leave
    lo, hi = 0, len(picked)
    for name in ("after", "before"):
        if args.get(name) is None:
            continue
        at = _decode(args[name])
        if (name == "after") != reverse:  # later in the ascending order
            lo = max(lo, bisect_right(order, at))
        else:
            hi = min(hi, bisect_left(order, at))
    window = list(range(lo, max(lo, hi)))
    if reverse:
        window.reverse()
    if not bulk:
        window = window[-last:] if last is not None else window[:first]
    # a bulk operation's lines carry no cursors: there each is made only if asked for
    cursor: Callable[[tuple[Any, int]], Any] = _later if bulk else _encode
    edges = [{"cursor": cursor(order[i]), "node": render(picked[i])} for i in window]
    last_at = len(picked) - 1
    seat = [last_at - i if reverse else i for i in (window[:1] + window[-1:])]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": bool(seat) and seat[-1] < last_at,
            "hasPreviousPage": bool(seat) and seat[0] > 0,
            "startCursor": _encode(order[window[0]]) if window else None,
            "endCursor": _encode(order[window[-1]]) if window else None,
        },
    }


def _later(at: tuple[Any, int]) -> Callable[..., str]:
    return lambda info, **_: _encode(at)


def _encode(at: tuple[Any, int]) -> str:
    value, number = at
    text = json.dumps({"last_id": number, "last_value": value})
    return base64.b64encode(text.encode()).decode()


def _decode(cursor: Any) -> tuple[Any, int]:
    try:
        data = json.loads(base64.b64decode(str(cursor), validate=True))
        return (data["last_value"], int(data["last_id"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from None


# --- search syntax --------------------------------------------------------------------------

Term = Callable[[Row, str | None, str], bool]
_TOKEN = re.compile(r"""(-)?(?:(\w+):)?(<=|>=|<|>)?(?:'([^']*)'|"([^"]*)"|(\S+))""")


def _compare(have: Any, op: str | None, want: Any) -> bool:
    if op == ">":
        return bool(have > want)
    if op == ">=":
        return bool(have >= want)
    if op == "<":
        return bool(have < want)
    if op == "<=":
        return bool(have <= want)
    return bool(have == want)


def _bound(value: str) -> float | None:
    at = parse_time(value)
    if at is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        at = parse_time(value + "T00:00:00Z")
    return at.timestamp() if at else None


def time_term(name: str) -> Term:
    def term(row: Row, op: str | None, value: str) -> bool:
        bound = _bound(value)
        return bound is not None and _compare(epoch(row.get(name)), op, bound)

    return term


def id_term(row: Row, op: str | None, value: str) -> bool:
    number = value.rsplit("/", 1)[-1]
    return number.isdigit() and _compare(row["id"], op, int(number))


def text_term(name: str) -> Term:
    def term(row: Row, op: str | None, value: str) -> bool:
        have = str(row.get(name) or "").lower()
        want = value.lower()
        return have.startswith(want[:-1]) if want.endswith("*") else have == want

    return term


def tag_term(row: Row, op: str | None, value: str) -> bool:
    return value.lower() in {t.lower() for t in split_tags(row.get("tags") or "")}


def _words(*names: str) -> Term:
    def term(row: Row, op: str | None, value: str) -> bool:
        words = " ".join(str(row.get(n) or "") for n in names).lower()
        return value.lower() in words

    return term


def _order_status(row: Row, op: str | None, value: str) -> bool:
    wanted = value.lower()
    if wanted == "any":
        return True
    if wanted == "cancelled":
        return row.get("cancelled_at") is not None
    closed = row.get("closed_at") is not None
    return closed if wanted == "closed" else not closed and row.get("cancelled_at") is None


COMMON: dict[str, Term] = {
    "updated_at": time_term("updated_at"),
    "created_at": time_term("created_at"),
    "id": id_term,
    "email": text_term("email"),
}
CUSTOMER_SEARCH: dict[str, Term] = {
    **COMMON,
    "tag": tag_term,
    "state": text_term("state"),
    "first_name": text_term("first_name"),
    "last_name": text_term("last_name"),
    "": _words("first_name", "last_name", "email"),
}
ORDER_SEARCH: dict[str, Term] = {
    **COMMON,
    "processed_at": time_term("processed_at"),
    "tag": tag_term,
    "name": text_term("name"),
    "financial_status": text_term("financial_status"),
    "fulfillment_status": text_term("fulfillment_status"),
    "status": _order_status,
    "customer_id": lambda r, op, v: str((r.get("customer") or {}).get("id")) == v,
    "": _words("name", "email"),
}
CHECKOUT_SEARCH: dict[str, Term] = {**COMMON, "": _words("email")}


def matches(row: Row, query: str, terms: dict[str, Term]) -> bool:
    """Shopify's search syntax: ``field:value`` terms (``:>``, ``:>=``, ``:<``, ``:<=`` for
    times and ids, a quoted value, ``-`` or ``NOT`` to negate), ANDed, with ``OR`` between
    groups. A field this search does not know matches everything, as Shopify ignores it."""
    groups: list[list[tuple[bool, str, str | None, str]]] = [[]]
    negate_next = False
    for m in _TOKEN.finditer(query):
        negate, name, op = bool(m.group(1)), (m.group(2) or "").lower(), m.group(3)
        value = next(g for g in m.group(4, 5, 6) if g is not None)
        if not name and not op and value in ("AND", "OR", "NOT"):
            if value == "OR":
                groups.append([])
            negate_next = value == "NOT"
            continue
        groups[-1].append((negate != negate_next, name, op, value))
        negate_next = False
    return any(all(_holds(row, t, terms) for t in group) for group in groups)


def _holds(row: Row, term: tuple[bool, str, str | None, str], terms: dict[str, Term]) -> bool:
    negate, name, op, value = term
    check = terms.get(name)
    if check is None:
        return True
    return check(row, op, value) != negate
