"""GraphQL renderings of what ``emulator_catalog`` holds (products, variants, inventory items
and levels, locations, collections, metafields, events, fulfillment orders, fulfillments,
transactions) and the root fields that list them, in the style of
``emulator_graphql_read``: a rendered object is a dict, a field that takes arguments or links
to another object a callable of ``(info, **arguments)``.

A field the emulator has no data for (a product's media, an order's duties) is not rendered:
``fallback`` answers for it what Shopify answers for an object that has none, an empty list
or connection, ``false``, zero."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLType,
)

from syncd_plugins.shopify.emulator_graphql_read import (
    COMMON,
    Row,
    SortKey,
    Term,
    connection,
    epoch,
    gid,
    legacy_node,
    money_bag,
    money_v2,
    parse_gid,
    text_term,
    utc,
)

EMPTY_PAGE = {
    "hasNextPage": False,
    "hasPreviousPage": False,
    "startCursor": None,
    "endCursor": None,
}
NOTHING = object()


def fallback(kind: GraphQLType) -> Any:
    """What a field the emulator does not hold answers: None where the field may be null, else
    the type's empty value (a list, a connection, a count of 0, ``false``, ``0``, ``""``).
    ``NOTHING`` for a non-null object or enum, which the emulator must render itself."""
    if not isinstance(kind, GraphQLNonNull):
        return None
    inner = kind.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLObjectType):
        if inner.name.endswith("Connection"):
            return {"edges": [], "nodes": [], "pageInfo": EMPTY_PAGE}
        if inner.name == "Count":
            return {"count": 0, "precision": "EXACT"}
        return NOTHING
    if isinstance(inner, GraphQLScalarType):
        return {
            "Boolean": False,
            "Int": 0,
            "Float": 0.0,
            "String": "",
            "UnsignedInt64": "0",
            "Decimal": "0.0",
            "Money": "0.00",
        }.get(inner.name, NOTHING)
    return NOTHING


def field_value(source: Any, info: Any, args: dict[str, Any]) -> Any:
    """graphql-core's default resolver for a rendered dict, with ``fallback`` for a field the
    dict does not hold."""
    if isinstance(source, Mapping):
        if info.field_name in source:
            value = source[info.field_name]
        else:
            value = fallback(info.return_type)
            if value is NOTHING:
                return None  # graphql-core then says the non-null field came back null
            return value
    else:
        value = getattr(source, info.field_name, None)
    return value(info, **args) if callable(value) else value


def resolve(source: Any, info: Any, **args: Any) -> Any:
    return field_value(source, info, args)


def _zero(currency: str) -> Row:
    return money_bag("0.00", currency)


# --- rendering ------------------------------------------------------------------------------


def product_node(row: Row) -> Row:
    variants = row["variants"]

    def variant_connection(info: Any, **args: Any) -> Row:
        return connection(info, variants, lambda v: variant_node(v, row), {}, {}, args)

    return {
        **_page("Product", row),
        "vendor": row["vendor"],
        "productType": row["product_type"],
        "status": row["status"].upper(),
        "tags": [t.strip() for t in row["tags"].split(",") if t.strip()],
        "templateSuffix": row["template_suffix"],
        "publishedAt": utc(row["published_at"]),
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "options": lambda info, first=None: [
            {
                "__typename": "ProductOption",
                "id": gid("ProductOption", o["id"]),
                "name": o["name"],
                "position": o["position"],
                "values": o["values"],
            }
            for o in row["options"]
        ][:first],
        "hasOnlyDefaultVariant": len(variants) == 1 and variants[0]["title"] == "Default Title",
        "hasOutOfStockVariants": any(v["inventory_quantity"] <= 0 for v in variants),
        "totalInventory": sum(v["inventory_quantity"] for v in variants),
        "tracksInventory": True,
        "compareAtPriceRange": {
            "maxVariantCompareAtPrice": money_v2("0.0", "EUR"),
            "minVariantCompareAtPrice": money_v2("0.0", "EUR"),
        },
        "variants": variant_connection,
        "metafields": metafield_connection("product", row["id"]),
    }


def _page(kind: str, row: Row) -> Row:
    """What a product and a collection both are: a page with a title, a handle and an HTML
    description."""
    return {
        **legacy_node(kind, row),
        "title": row["title"],
        "handle": row["handle"],
        "descriptionHtml": row["body_html"],
        "description": lambda info, truncateAt=None: _text(row["body_html"])[:truncateAt],
    }


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def variant_node(row: Row, product: Row | None = None) -> Row:
    def product_of(info: Any, **_: Any) -> Row:
        found = product or info.context.shop.catalog.products[row["product_id"]]
        return product_node(found)

    def item(info: Any, **_: Any) -> Row:
        return inventory_item_node(
            info.context.shop.catalog.inventory_items[row["inventory_item_id"]]
        )

    title = product["title"] if product else ""
    return {
        **legacy_node("ProductVariant", row),
        "title": row["title"],
        "displayName": f"{title} - {row['title']}" if title else row["title"],
        "sku": row["sku"],
        "price": row["price"],
        "compareAtPrice": row["compare_at_price"],
        "barcode": row["barcode"],
        "position": row["position"],
        "taxable": row["taxable"],
        "availableForSale": row["inventory_quantity"] > 0,
        "inventoryPolicy": row["inventory_policy"].upper(),
        "inventoryQuantity": row["inventory_quantity"],
        "sellableOnlineQuantity": row["inventory_quantity"],
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "product": product_of,
        "inventoryItem": item,
    }


def inventory_item_node(row: Row) -> Row:
    def variant(info: Any, **_: Any) -> Row:
        product = info.context.shop.catalog.products[row["product_id"]]
        found = next(v for v in product["variants"] if v["id"] == row["variant_id"])
        return variant_node(found, product)

    def levels(info: Any, **args: Any) -> Row:
        rows = [
            lv
            for lv in info.context.shop.catalog.inventory_levels
            if lv["inventory_item_id"] == row["id"]
        ]
        return connection(info, _with_ids(rows), level_node, LEVEL_SEARCH, {}, args)

    return {
        **legacy_node("InventoryItem", row),
        "sku": row["sku"],
        "tracked": row["tracked"],
        "requiresShipping": row["requires_shipping"],
        "unitCost": money_v2(row["cost"], "EUR"),
        "countryCodeOfOrigin": row["country_code_of_origin"],
        "provinceCodeOfOrigin": None,
        "harmonizedSystemCode": row["harmonized_system_code"],
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "measurement": lambda info, **_: _measurement(info, row),
        "variant": variant,
        "inventoryLevels": levels,
    }


def _measurement(info: Any, row: Row) -> Row:
    product = info.context.shop.catalog.products[row["product_id"]]
    found = next(v for v in product["variants"] if v["id"] == row["variant_id"])
    unit = {"kg": "KILOGRAMS", "g": "GRAMS", "lb": "POUNDS", "oz": "OUNCES"}[found["weight_unit"]]
    return {
        "id": gid("InventoryItemMeasurement", row["id"]),
        "weight": {"unit": unit, "value": found["weight"]},
    }


def _with_ids(levels: list[Row]) -> list[Row]:
    """Inventory levels with a sortable ``id`` (the connection orders by it)."""
    return [
        {**lv, "id": lv["inventory_item_id"] * 1000 + lv["location_id"] % 1000} for lv in levels
    ]


def level_node(row: Row) -> Row:
    item, place = row["inventory_item_id"], row["location_id"]
    held = {"available": row["available"], "on_hand": row["on_hand"]}

    def quantities(info: Any, names: list[str]) -> list[Row]:
        return [
            {
                "__typename": "InventoryQuantity",
                "id": f"gid://shopify/InventoryQuantity/{place}?inventory_item_id={item}&name={n}",
                "name": n,
                "quantity": held.get(n, 0),
                "updatedAt": utc(row["updated_at"]) if n in held else None,
            }
            for n in names
        ]

    return {
        "__typename": "InventoryLevel",
        "id": f"gid://shopify/InventoryLevel/{place}?inventory_item_id={item}",
        "canDeactivate": False,
        "deactivationAlert": "Inventory at this location has committed or incoming stock",
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "location": lambda info, **_: location_node(info.context.shop.catalog.locations[place]),
        "item": lambda info, **_: inventory_item_node(
            info.context.shop.catalog.inventory_items[item]
        ),
        "quantities": quantities,
    }


def location_node(row: Row) -> Row:
    lid = row["id"]
    parts = [row["address1"], f"{row['zip']} {row['city']}", row["country"]]

    def levels(info: Any, **args: Any) -> Row:
        rows = [lv for lv in info.context.shop.catalog.inventory_levels if lv["location_id"] == lid]
        return connection(info, _with_ids(rows), level_node, LEVEL_SEARCH, {}, args)

    return {
        "__typename": "Location",
        "id": gid("Location", lid),
        "legacyResourceId": str(lid),
        "name": row["name"],
        "address": {
            "address1": row["address1"],
            "address2": row["address2"],
            "city": row["city"],
            "zip": row["zip"],
            "province": row["province"],
            "provinceCode": row["province_code"],
            "country": row["country"],
            "countryCode": row["country_code"],
            "phone": row["phone"],
            "formatted": [p for p in parts if p],
            "latitude": None,
            "longitude": None,
        },
        "isActive": row["active"],
        "activatable": not row["active"],
        "deactivatable": row["active"],
        "deactivatedAt": None,
        "deletable": False,
        "addressVerified": True,
        "fulfillsOnlineOrders": True,
        "hasActiveInventory": True,
        "shipsInventory": True,
        "isFulfillmentService": False,
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "localPickupSettingsV2": None,
        "inventoryLevels": levels,
        "metafields": metafield_connection("location", lid),
    }


def collection_node(row: Row) -> Row:
    rules = row["rules"]
    order = {"manual": "MANUAL", "best-selling": "BEST_SELLING"}.get(row["sort_order"], "MANUAL")

    def products(info: Any, **args: Any) -> Row:
        held = info.context.shop.catalog.products
        rows = [held[p] for p in row["product_ids"] if p in held]
        return connection(info, rows, product_node, PRODUCT_SEARCH, PRODUCT_SORT, args)

    return {
        **_page("Collection", row),
        "updatedAt": utc(row["updated_at"]),
        "sortOrder": order,
        "productsCount": {"count": len(row["product_ids"]), "precision": "EXACT"},
        "ruleSet": (
            {
                "appliedDisjunctively": row["disjunctive"],
                "rules": [
                    {
                        "column": r["column"].upper(),
                        "relation": r["relation"].upper(),
                        "condition": r["condition"],
                    }
                    for r in rules
                ],
            }
            if rules
            else None
        ),
        "seo": {"title": None, "description": None},
        "feedback": None,
        "products": products,
        "metafields": metafield_connection("collection", row["id"]),
    }


OWNERS = {
    "customer": "Customer",
    "product": "Product",
    "order": "Order",
    "collection": "Collection",
    "location": "Location",
}


def metafield_connection(owner: str, owner_id: int) -> Callable[..., Row]:
    def resolve_(info: Any, **args: Any) -> Row:
        rows = info.context.shop.catalog.metafields_of(owner, owner_id)
        namespace, keys = args.get("namespace"), args.get("keys")
        if namespace:
            rows = [r for r in rows if r["namespace"] == namespace]
        if keys:
            rows = [r for r in rows if f"{r['namespace']}.{r['key']}" in keys]
        return connection(info, rows, metafield_node, {}, {}, args)

    return resolve_


def metafield_node(row: Row) -> Row:
    kind = OWNERS[row["owner_resource"]]

    def owner(info: Any, **_: Any) -> Row | None:
        shop = info.context.shop
        held: dict[int, Row] = {
            "customer": shop.customers,
            "order": shop.orders,
            "product": shop.catalog.products,
            "collection": shop.catalog.collections,
            "location": shop.catalog.locations,
        }[row["owner_resource"]]
        found = held.get(row["owner_id"])
        return {"__typename": kind, "id": gid(kind, row["owner_id"])} if found else None

    return {
        **legacy_node("Metafield", row),
        "namespace": row["namespace"],
        "key": row["key"],
        "type": row["type"],
        "value": row["value"],
        "jsonValue": row["value"],
        "description": row["description"],
        "ownerType": row["owner_resource"].upper(),
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "owner": owner,
    }


def event_node(row: Row) -> Row:
    return {
        "__typename": "BasicEvent",
        "id": gid("BasicEvent", row["id"]),
        "action": row["verb"],
        "message": row["message"],
        "secondaryMessage": None,
        "appTitle": None,
        "attributeToApp": False,
        "attributeToUser": False,
        "criticalAlert": False,
        "createdAt": utc(row["created_at"]),
        "subjectId": gid(row["subject_type"], row["subject_id"]),
        "subjectType": row["subject_type"].upper(),
        "arguments": row["arguments"],
        "additionalContent": None,
        "additionalData": None,
        "hasAdditionalContent": False,
    }


def transaction_node(row: Row) -> Row:
    currency = row["currency"]
    return {
        "__typename": "OrderTransaction",
        "id": gid("OrderTransaction", row["id"]),
        "kind": row["kind"].upper(),
        "status": row["status"].upper(),
        "gateway": row["gateway"],
        "formattedGateway": "Shopify Payments",
        "amountSet": money_bag(row["amount"], currency),
        "amountRoundingSet": None,
        "maximumRefundableV2": money_v2(row["amount"], currency),
        "authorizationCode": row["authorization"],
        "createdAt": utc(row["created_at"]),
        "processedAt": utc(row["processed_at"]),
        "test": row["test"],
        "manualPaymentGateway": False,
        "manuallyCapturable": False,
        "multiCapturable": False,
        "paymentId": f"c{row['id']}.1",
        "settlementCurrency": None,
        "totalUnsettledSet": _zero(currency),
        "order": lambda info, **_: {"__typename": "Order", "id": gid("Order", row["order_id"])},
        "parentTransaction": None,
        "paymentDetails": None,
    }


def _line_item_ref(line_item_id: int) -> Row:
    return {"__typename": "LineItem", "id": gid("LineItem", line_item_id)}


def fulfillment_node(row: Row) -> Row:
    def line_items(info: Any, **args: Any) -> Row:
        order = info.context.shop.orders.get(row["order_id"]) or {}
        by_id = {li["id"]: li for li in order.get("line_items") or []}
        currency = order.get("currency") or "EUR"

        def render(line: Row) -> Row:
            item = by_id.get(line["line_item_id"], {"price": "0.00"})
            total = f"{float(item['price']) * line['quantity']:.2f}"
            return {
                "__typename": "FulfillmentLineItem",
                "id": gid("FulfillmentLineItem", line["id"]),
                "quantity": line["quantity"],
                "originalTotalSet": money_bag(total, currency),
                "discountedTotalSet": money_bag(total, currency),
                "lineItem": _line_item_ref(line["line_item_id"]),
            }

        return connection(info, row["line_items"], render, {}, {}, args)

    def orders_of(info: Any, **args: Any) -> Row:
        found = info.context.shop.catalog.fulfillment_orders.get(row["fulfillment_order_id"])
        rows = [found] if found else []
        return connection(info, rows, fulfillment_order_node, {}, {}, args)

    at = utc(row["created_at"])
    return {
        **legacy_node("Fulfillment", row),
        "name": row["name"],
        "status": row["status"].upper(),
        "displayStatus": "FULFILLED",
        "totalQuantity": sum(li["quantity"] for li in row["line_items"]),
        "requiresShipping": True,
        "createdAt": at,
        "updatedAt": utc(row["updated_at"]),
        "deliveredAt": None,
        "inTransitAt": None,
        "estimatedDeliveryAt": None,
        "trackingInfo": lambda info, first=None: [
            {
                "company": row["tracking_company"],
                "number": row["tracking_number"],
                "url": f"https://www.dhl.de/track?piececode={row['tracking_number']}",
            }
        ][:first],
        "service": None,
        "originAddress": None,
        "location": lambda info, **_: location_node(
            info.context.shop.catalog.locations[row["location_id"]]
        ),
        "order": lambda info, **_: {"__typename": "Order", "id": gid("Order", row["order_id"])},
        "fulfillmentLineItems": line_items,
        "fulfillmentOrders": orders_of,
    }


def fulfillment_order_node(row: Row) -> Row:
    def fulfillments(info: Any, **args: Any) -> Row:
        held = info.context.shop.catalog.fulfillments
        rows = [held[i] for i in row["fulfillment_ids"] if i in held]
        return connection(info, rows, fulfillment_node, {}, {}, args)

    def assigned(info: Any, **_: Any) -> Row:
        place = info.context.shop.catalog.locations[row["assigned_location_id"]]
        return {
            "name": place["name"],
            "address1": place["address1"],
            "address2": place["address2"],
            "city": place["city"],
            "zip": place["zip"],
            "province": place["province"],
            "countryCode": place["country_code"],
            "phone": place["phone"],
            "location": location_node(place),
        }

    def order_fields(info: Any) -> Row:
        return info.context.shop.orders.get(row["order_id"]) or {}

    open_ = row["status"] == "open"
    return {
        "__typename": "FulfillmentOrder",
        "id": gid("FulfillmentOrder", row["id"]),
        "orderId": gid("Order", row["order_id"]),
        "orderName": lambda info, **_: order_fields(info).get("name", ""),
        "orderProcessedAt": lambda info, **_: utc(
            order_fields(info).get("processed_at") or row["created_at"]
        ),
        "status": row["status"].upper(),
        "requestStatus": "UNSUBMITTED",
        "createdAt": utc(row["created_at"]),
        "updatedAt": utc(row["updated_at"]),
        "fulfillAt": utc(row["created_at"]) if open_ else None,
        "fulfillBy": None,
        "channelId": None,
        # what an open fulfillment order assigned to the merchant's own location allows; a
        # closed one allows nothing
        "supportedActions": [
            {"action": action, "externalUrl": None}
            for action in (("CREATE_FULFILLMENT", "MOVE", "HOLD", "SPLIT") if open_ else ())
        ],
        "assignedLocation": assigned,
        "destination": None,
        "deliveryMethod": None,
        "internationalDuties": None,
        "fulfillments": fulfillments,
    }


# --- search and sort ------------------------------------------------------------------------

PRODUCT_SEARCH: dict[str, Term] = {
    **COMMON,
    "title": text_term("title"),
    "vendor": text_term("vendor"),
    "product_type": text_term("product_type"),
    "handle": text_term("handle"),
    "status": text_term("status"),
}
PRODUCT_SORT: dict[str, SortKey] = {
    "UPDATED_AT": lambda r: epoch(r["updated_at"]),
    "CREATED_AT": lambda r: epoch(r["created_at"]),
    "TITLE": lambda r: r["title"].lower(),
}
LEVEL_SEARCH: dict[str, Term] = COMMON
SORT_BY_TIMES: dict[str, SortKey] = {
    "UPDATED_AT": lambda r: epoch(r["updated_at"]),
    "CREATED_AT": lambda r: epoch(r["created_at"]),
}
LOCATION_SORT: dict[str, SortKey] = {"NAME": lambda r: r["name"].lower()}
COLLECTION_SORT: dict[str, SortKey] = {
    "UPDATED_AT": lambda r: epoch(r["updated_at"]),
    "TITLE": lambda r: r["title"].lower(),
}


def catalog_node(catalog: Any, kind: str, number: int) -> Row | None:
    """The catalogue's object of a global id's type and number, rendered; None if it lacks
    one."""
    if kind == "ProductVariant":
        for product in catalog.products.values():
            for variant in product["variants"]:
                if variant["id"] == number:
                    return variant_node(variant, product)
        return None
    held: dict[str, tuple[dict[int, Row], Callable[[Row], Row]]] = {
        "Product": (catalog.products, product_node),
        "Collection": (catalog.collections, collection_node),
        "Location": (catalog.locations, location_node),
        "InventoryItem": (catalog.inventory_items, inventory_item_node),
        "FulfillmentOrder": (catalog.fulfillment_orders, fulfillment_order_node),
        "Fulfillment": (catalog.fulfillments, fulfillment_node),
        "Metafield": (catalog.metafields, metafield_node),
        "OrderTransaction": (catalog.transactions, transaction_node),
        "BasicEvent": (catalog.events, event_node),
    }
    rows, render = held.get(kind, ({}, product_node))
    found = rows.get(number)
    return render(found) if found else None


def catalog_roots(shop: Any) -> dict[str, Callable[..., Any]]:
    """The root fields over the catalogue, fulfillment orders and events."""
    catalog = shop.catalog

    def listing(
        rows: Callable[[], list[Row]],
        render: Callable[[Row], Row],
        search: dict[str, Term],
        sorts: dict[str, SortKey],
    ) -> Callable[..., Row]:
        def resolve_(info: Any, **args: Any) -> Row:
            return connection(
                info, sorted(rows(), key=lambda r: r["id"]), render, search, sorts, args
            )

        return resolve_

    def variants() -> list[Row]:
        return [v for p in catalog.products.values() for v in p["variants"]]

    def locations(info: Any, **args: Any) -> Row:
        rows = [
            r
            for r in catalog.locations.values()
            if (r["active"] or args.get("includeInactive"))
            and (not r["legacy"] or args.get("includeLegacy"))
        ]
        return connection(
            info, sorted(rows, key=lambda r: r["id"]), location_node, COMMON, LOCATION_SORT, args
        )

    def fulfillment_orders(info: Any, **args: Any) -> Row:
        rows = [
            r
            for r in catalog.fulfillment_orders.values()
            if args.get("includeClosed") or r["status"] not in ("closed", "cancelled")
        ]
        return connection(
            info,
            sorted(rows, key=lambda r: r["id"]),
            fulfillment_order_node,
            COMMON,
            SORT_BY_TIMES,
            args,
        )

    def one(kind: str) -> Callable[..., Row | None]:
        def resolve_(info: Any, id: str | None = None) -> Row | None:
            parsed = parse_gid(id)
            return catalog_node(catalog, kind, parsed[1]) if parsed and parsed[0] == kind else None

        return resolve_

    return {
        "products": listing(
            lambda: list(catalog.products.values()), product_node, PRODUCT_SEARCH, PRODUCT_SORT
        ),
        "productVariants": listing(
            variants, variant_node, {**COMMON, "sku": text_term("sku")}, {"SKU": lambda r: r["sku"]}
        ),
        "inventoryItems": listing(
            lambda: list(catalog.inventory_items.values()),
            inventory_item_node,
            {**COMMON, "sku": text_term("sku")},
            {},
        ),
        "collections": listing(
            lambda: list(catalog.collections.values()),
            collection_node,
            {**COMMON, "title": text_term("title")},
            COLLECTION_SORT,
        ),
        "events": listing(
            lambda: list(catalog.events.values()),
            event_node,
            {**COMMON, "subject_type": text_term("subject_type"), "action": text_term("verb")},
            {"CREATED_AT": lambda r: epoch(r["created_at"])},
        ),
        "locations": locations,
        "fulfillmentOrders": fulfillment_orders,
        "product": one("Product"),
        "productVariant": one("ProductVariant"),
        "inventoryItem": one("InventoryItem"),
        "collection": one("Collection"),
        # without an id: the shop's primary location
        "location": lambda info, id=None: (
            one("Location")(info, id)
            if id
            else location_node(next(iter(catalog.locations.values())))
        ),
        "fulfillmentOrder": one("FulfillmentOrder"),
        "fulfillment": one("Fulfillment"),
        "currentAppInstallation": lambda info: {
            "id": "gid://shopify/AppInstallation/1",
            "accessScopes": [{"handle": s, "description": ""} for s in ACCESS_SCOPES],
            "app": {"id": "gid://shopify/App/1", "name": "syncd", "icon": {"url": ""}},
        },
    }


#: the scopes the emulator's access token was granted (every read the schema serves, and the
#: writes of customers)
ACCESS_SCOPES = (
    "read_customers",
    "write_customers",
    "read_orders",
    "read_all_orders",
    "read_products",
    "read_inventory",
    "read_locations",
    "read_fulfillments",
    "read_assigned_fulfillment_orders",
    "read_merchant_managed_fulfillment_orders",
    "read_third_party_fulfillment_orders",
    "read_checkouts",
    "read_users",
)
