"""The root fields of the emulator's GraphQL schema, bound to one store: the reads
(``customers``, ``orders``, ``abandonedCheckouts`` and their counts, ``customer``, ``order``,
``node``, ``nodes``, ``shop``, ``currentBulkOperation``) and the mutations (``tagsAdd``,
``tagsRemove``, which touch only the named tags; ``bulkOperationRunQuery``,
``bulkOperationCancel``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from syncd_plugins.shopify.emulator_bulk import BulkOperations
from syncd_plugins.shopify.emulator_graphql_catalog import catalog_node, catalog_roots
from syncd_plugins.shopify.emulator_graphql_read import (
    CHECKOUT_SEARCH,
    CHECKOUT_SORT,
    CUSTOMER_SEARCH,
    CUSTOMER_SORT,
    ORDER_SEARCH,
    ORDER_SORT,
    Render,
    Row,
    Term,
    checkout_node,
    connection,
    customer_node,
    matches,
    order_node,
    parse_gid,
)
from syncd_plugins.shopify.emulator_state import MAX_TAG_LENGTH, ShopState, split_tags

SHOP_ID = 548380009


class Store(Protocol):
    """What the root fields need of the emulator."""

    shop: ShopState
    bulk: BulkOperations
    hooks: Any  # the webhook subscriptions (emulator_webhooks.ShopWebhooks)

    def clock(self) -> datetime: ...

    def run_bulk(self, prepared: Any) -> tuple[list[Row], int]: ...


def node_by_id(store: Store, value: Any) -> Row | None:
    """The object a global id names, rendered; None for one the store lacks."""
    parsed = parse_gid(value)
    if parsed is None:
        return None
    kind, number = parsed
    if kind == "Customer" and number in store.shop.customers:
        return customer_node(store.shop.customers[number])
    if kind == "Order" and number in store.shop.orders:
        return order_node(store.shop.orders[number])
    if kind == "AbandonedCheckout" and number in store.shop.checkouts:
        return checkout_node(store.shop.checkouts[number])
    if kind == "BulkOperation":
        found = store.bulk.get(number)
        if found is not None:
            store.bulk.advance(found, store.clock())
            return found.render()
        return None
    return catalog_node(store.shop.catalog, kind, number)


def root_value(store: Store, base_url: str, host: str) -> dict[str, Callable[..., Any]]:
    """The root object graphql-core executes against: each root field a callable."""

    def listing(rows: dict[int, Row], render: Render, search: dict[str, Term], sorts: Any):
        def resolve(info: Any, **args: Any) -> Row:
            return connection(
                info, (r for _, r in sorted(rows.items())), render, search, sorts, args
            )

        return resolve

    def count(rows: dict[int, Row], search: dict[str, Term]) -> Callable[..., Row]:
        def resolve(info: Any, query: str | None = None, limit: int | None = 10000) -> Row:
            n = sum(1 for r in rows.values() if not query or matches(r, query, search))
            if limit is not None and n > limit:
                return {"count": limit, "precision": "AT_LEAST"}
            return {"count": n, "precision": "EXACT"}

        return resolve

    def one(kind: str) -> Callable[..., Row | None]:
        def resolve(info: Any, id: str) -> Row | None:
            parsed = parse_gid(id)
            return node_by_id(store, id) if parsed and parsed[0] == kind else None

        return resolve

    def current(info: Any, type: str = "QUERY") -> Row | None:
        found = store.bulk.current() if type == "QUERY" else None
        if found is None:
            return None
        store.bulk.advance(found, store.clock())
        return found.render()

    def run_query(info: Any, query: str, groupObjects: bool = True) -> Row:
        made, errors = store.bulk.start(query, store.clock(), base_url)
        if made is not None:
            store.bulk.begin(made, store.run_bulk)
        return {"bulkOperation": made.render() if made else None, "userErrors": errors}

    def cancel(info: Any, id: str) -> Row:
        parsed = parse_gid(id)
        number = parsed[1] if parsed and parsed[0] == "BulkOperation" else -1
        found, errors = store.bulk.cancel(number)
        return {"bulkOperation": found.render() if found else None, "userErrors": errors}

    def tags(adding: bool) -> Callable[..., Row]:
        def resolve(info: Any, id: str, tags: list[str]) -> Row:
            return _tags(store, id, tags, adding)

        return resolve

    shop = store.shop
    return {
        **catalog_roots(shop),
        **store.hooks.roots(),
        "customers": listing(shop.customers, customer_node, CUSTOMER_SEARCH, CUSTOMER_SORT),
        "orders": listing(shop.orders, order_node, ORDER_SEARCH, ORDER_SORT),
        "abandonedCheckouts": listing(
            shop.checkouts, checkout_node, CHECKOUT_SEARCH, CHECKOUT_SORT
        ),
        "customersCount": count(shop.customers, CUSTOMER_SEARCH),
        "ordersCount": count(shop.orders, ORDER_SEARCH),
        "abandonedCheckoutsCount": count(shop.checkouts, CHECKOUT_SEARCH),
        "customer": one("Customer"),
        "order": one("Order"),
        "node": lambda info, id: node_by_id(store, id),
        "nodes": lambda info, ids: [node_by_id(store, i) for i in ids],
        "currentBulkOperation": current,
        "shop": lambda info: {
            "__typename": "Shop",
            "id": f"gid://shopify/Shop/{SHOP_ID}",
            "name": "Emulated shop",
            "email": "owner@example.com",
            "myshopifyDomain": host,
            "url": base_url,
            "currencyCode": "EUR",
            "ianaTimezone": "America/New_York",
            "timezoneAbbreviation": "EDT",
        },
        "tagsAdd": tags(True),
        "tagsRemove": tags(False),
        "bulkOperationRunQuery": run_query,
        "bulkOperationCancel": cancel,
    }


def _tags(store: Store, gid: str, tags: list[str], adding: bool) -> Row:
    """``tagsAdd`` / ``tagsRemove`` on a customer: only the named tags change."""
    parsed = parse_gid(gid)
    customer = store.shop.customers.get(parsed[1]) if parsed and parsed[0] == "Customer" else None
    listed = [t for given in tags for t in split_tags(given)]
    if customer is None:
        return {
            "node": None,
            "userErrors": [{"field": ["id"], "message": "Customer does not exist"}],
        }
    if any(len(t) > MAX_TAG_LENGTH for t in listed):
        problem = "Tags is too long (maximum is 255)"
        return {"node": None, "userErrors": [{"field": ["tags"], "message": problem}]}
    if adding:
        said = store.shop.add_tags(customer, listed, store.clock())
        if said:
            return {"node": None, "userErrors": [{"field": ["tags"], "message": said}]}
    else:
        store.shop.remove_tags(customer, listed, store.clock())
    return {"node": customer_node(customer), "userErrors": []}
