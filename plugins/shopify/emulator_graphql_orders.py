"""The fields of ``Order``, ``LineItem``, ``Customer`` and ``AbandonedCheckout`` beyond what
the connector reads, rendered from the store's REST rows and what ``emulator_catalog`` keeps
beside them (transactions, fulfillments, shipping lines, metafields): merged into the renderings
of ``emulator_graphql_read``."""

from __future__ import annotations

from typing import Any

from syncd_plugins.shopify.emulator_graphql_catalog import (
    fulfillment_node,
    location_node,
    metafield_connection,
    transaction_node,
)
from syncd_plugins.shopify.emulator_graphql_read import (
    Row,
    address_node,
    connection,
    gid,
    line_item_node,
    money_bag,
    money_v2,
    utc,
)

SHOP_URL = "https://shop.example.com"


def _bag(amount: Any, currency: str) -> Row:
    return money_bag(amount if isinstance(amount, str) else f"{amount:.2f}", currency)


def order_more(row: Row) -> Row:
    currency = row.get("currency") or "EUR"
    zero = _bag("0.00", currency)
    total = row.get("total_price") or "0.00"
    shipping_rows = row.get("shipping_lines") or []
    shipping = f"{sum(float(s['price']) for s in shipping_rows):.2f}"
    codes = [d["code"] for d in row.get("discount_codes") or []]
    oid = row["id"]
    customer = row.get("customer") or {}

    def shipping_line(s: Row) -> Row:
        price = _bag(s["price"], currency)
        return {
            "__typename": "ShippingLine",
            "id": gid("ShippingLine", s["id"]),
            "title": s["title"],
            "code": s["code"],
            "source": s["source"],
            "carrierIdentifier": s["carrier_identifier"],
            "custom": False,
            "isRemoved": False,
            "originalPriceSet": price,
            "discountedPriceSet": price,
            "currentDiscountedPriceSet": price,
            "shippingRateHandle": None,
            "deliveryCategory": None,
            "phone": None,
        }

    def shipping_lines(info: Any, **args: Any) -> Row:
        return connection(info, shipping_rows, shipping_line, {}, {}, args)

    def transactions(info: Any, first: int | None = None, **_: Any) -> list[Row]:
        held = info.context.shop.catalog.transactions_of(oid)
        return [transaction_node(t) for t in held][:first]

    def fulfillments(info: Any, first: int | None = None) -> list[Row]:
        held = info.context.shop.catalog.fulfillments_of(oid)
        return [fulfillment_node(f) for f in held][:first]

    def discount_applications(info: Any, **args: Any) -> Row:
        rows = [
            {"id": n, "code": d["code"], "amount": d["amount"], "type": d.get("type")}
            for n, d in enumerate(row.get("discount_codes") or [])
        ]
        return connection(info, rows, lambda d: discount_application(d, currency), {}, {}, args)

    def address(info: Any, **_: Any) -> Row | None:
        found = info.context.shop.customers.get(customer.get("id"))
        return address_node(found.get("default_address")) if found else None

    number = int(row.get("order_number") or 1000)
    # a bag that several fields hold is made once (as ``zero``): nodes are only read
    total_bag = _bag(total, currency)
    shipping_bag = _bag(shipping, currency)
    discounts_bag = _bag(row.get("total_discounts") or "0.00", currency)
    return {
        "number": number - 1000,
        "confirmed": True,
        "confirmationNumber": None,
        "test": False,
        "taxesIncluded": True,
        "taxExempt": False,
        "dutiesIncluded": False,
        "estimatedTaxes": False,
        "edited": False,
        "unpaid": row.get("financial_status") not in ("paid", "partially_refunded", "refunded"),
        "fullyPaid": row.get("financial_status") == "paid",
        "fulfillable": row.get("fulfillment_status") is None and row.get("cancelled_at") is None,
        "requiresShipping": True,
        "refundable": row.get("financial_status") == "paid",
        "restockable": row.get("fulfillment_status") is None,
        "capturable": False,
        "canMarkAsPaid": False,
        "canNotifyCustomer": bool(row.get("email")),
        "customerAcceptsMarketing": False,
        "returnStatus": "NO_RETURN",
        "statusPageUrl": f"{SHOP_URL}/{oid}/orders/{oid:x}/authenticate",
        "paymentGatewayNames": ["shopify_payments"],
        "subtotalLineItemsQuantity": sum(li["quantity"] for li in row.get("line_items") or []),
        "currentSubtotalLineItemsQuantity": sum(
            li["quantity"] for li in row.get("line_items") or []
        ),
        "currentTotalWeight": "0",
        "totalWeight": "0",
        "billingAddress": address,
        "shippingAddress": address,
        "billingAddressMatchesShippingAddress": True,
        "originalTotalPriceSet": total_bag,
        "currentSubtotalPriceSet": _bag(row.get("subtotal_price") or "0.00", currency),
        "currentTotalDiscountsSet": discounts_bag,
        "currentTotalTaxSet": _bag(row.get("total_tax") or "0.00", currency),
        "currentShippingPriceSet": shipping_bag,
        "totalShippingPriceSet": shipping_bag,
        "currentCartDiscountAmountSet": discounts_bag,
        "cartDiscountAmountSet": discounts_bag,
        "netPaymentSet": total_bag,
        "totalReceivedSet": total_bag,
        "totalOutstandingSet": zero,
        "totalCapturableSet": zero,
        "totalRefundedSet": zero,
        "totalRefundedShippingSet": zero,
        "totalTipReceivedSet": zero,
        "refundDiscrepancySet": zero,
        "totalCashRoundingAdjustment": {"paymentSet": zero, "refundSet": zero},
        "merchantBusinessEntity": {
            "id": "gid://shopify/BusinessEntity/1",
            "displayName": "Emulated shop",
            "companyName": None,
            "primary": True,
            "address": {
                "countryCode": "DE",
                "address1": None,
                "address2": None,
                "city": None,
                "province": None,
                "zip": None,
            },
        },
        "discountCodes": codes,
        "shippingLine": shipping_line(shipping_rows[0]) if shipping_rows else None,
        "shippingLines": shipping_lines,
        "transactions": transactions,
        "fulfillments": fulfillments,
        "fulfillmentsCount": lambda info, **_: {
            "count": len(info.context.shop.catalog.fulfillments_of(oid)),
            "precision": "EXACT",
        },
        "transactionsCount": lambda info, **_: {
            "count": len(info.context.shop.catalog.transactions_of(oid)),
            "precision": "EXACT",
        },
        "refunds": lambda info, first=None: [refund_node(r, row) for r in row.get("refunds") or []][
            :first
        ],
        "discountApplications": discount_applications,
        "metafields": metafield_connection("order", oid),
    }


def refund_node(refund: Row, order: Row) -> Row:
    """A REST refund of ``order`` as GraphQL's ``Refund``."""
    currency = order.get("currency") or "EUR"
    items = {li["id"]: li for li in order.get("line_items") or []}
    total = sum(float(r["subtotal"]) + float(r["total_tax"]) for r in refund["refund_line_items"])

    def line(r: Row) -> Row:
        return {
            "__typename": "RefundLineItem",
            "id": gid("RefundLineItem", r["id"]),
            "quantity": r["quantity"],
            "restockType": r["restock_type"].upper(),
            "restocked": r["restock_type"] != "no_restock",
            "priceSet": _bag(items[r["line_item_id"]]["price"], currency),
            "subtotalSet": _bag(r["subtotal"], currency),
            "totalTaxSet": _bag(r["total_tax"], currency),
            "location": lambda info, **_: _location(info, r["location_id"]),
            "lineItem": line_item_node(items[r["line_item_id"]], currency),
        }

    def lines(info: Any, **args: Any) -> Row:
        return connection(info, refund["refund_line_items"], line, {}, {}, args)

    def adjustments(info: Any, **args: Any) -> Row:
        return connection(info, refund["order_adjustments"], lambda a: a, {}, {}, args)

    return {
        "__typename": "Refund",
        "id": gid("Refund", refund["id"]),
        "legacyResourceId": str(refund["id"]),
        "note": refund["note"],
        "createdAt": utc(refund["created_at"]),
        "updatedAt": utc(refund["processed_at"]),
        "order": {"__typename": "Order", "id": gid("Order", order["id"])},
        "totalRefundedSet": _bag(total, currency),
        "refundLineItems": lines,
        "orderAdjustments": adjustments,
    }


def _location(info: Any, location_id: int) -> Row | None:
    found = info.context.shop.catalog.locations.get(location_id)
    return location_node(found) if found else None


def discount_application(row: Row, currency: str) -> Row:
    fixed = row.get("type") != "percentage"
    value = (
        {"__typename": "MoneyV2", **money_v2(row["amount"], currency)}
        if fixed
        else {"__typename": "PricingPercentageValue", "percentage": float(row["amount"])}
    )
    return {
        "__typename": "DiscountCodeApplication",
        "id": row["id"],
        "index": row["id"],
        "code": row["code"],
        "allocationMethod": "ACROSS",
        "targetSelection": "ALL",
        "targetType": "LINE_ITEM",
        "value": value,
    }


def line_item_more(item: Row, currency: str) -> Row:
    unit = _bag(item["price"], currency)
    total = _bag(float(item["price"]) * item["quantity"], currency)
    return {
        "requiresShipping": True,
        "taxable": True,
        "isGiftCard": False,
        "discountedUnitPriceSet": unit,
        "totalDiscountSet": _bag("0.00", currency),
        "unfulfilledDiscountedTotalSet": total,
        "unfulfilledOriginalTotalSet": total,
        "lineItemGroup": None,
        "taxLines": lambda info, first=None: [],
    }


def checkout_line_item_more(item: Row, currency: str) -> Row:
    unit = _bag(item["price"], currency)
    return {
        "discountedUnitPriceSet": unit,
        "discountedUnitPriceWithCodeDiscount": unit,
        "components": None,
    }


def checkout_more(row: Row) -> Row:
    currency = row.get("currency") or "EUR"
    customer = row.get("customer") or {}

    def address(info: Any, **_: Any) -> Row | None:
        found = info.context.shop.customers.get(customer.get("id"))
        return address_node(found.get("default_address")) if found else None

    return {
        "billingAddress": address,
        "shippingAddress": address,
        "totalLineItemsPriceSet": _bag(row.get("total_price") or "0.00", currency),
        "totalDiscountSet": _bag("0.00", currency),
        "totalTaxSet": _bag("0.00", currency),
        "totalDutiesSet": None,
    }


def customer_more(row: Row) -> Row:
    return {
        "productSubscriberStatus": "NEVER_SUBSCRIBED",
        "dataSaleOptOut": False,
        "multipassIdentifier": None,
        "smsMarketingConsent": None,
        "metafields": metafield_connection("customer", row["id"]),
    }
