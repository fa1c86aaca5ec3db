"""The Shopify emulator's part in ``syncd demo``: the demo's shop itself, where the orders and
carts count from, and which receives four segments as customer tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from syncd.emulator import Activity, ActivityPlan, DemoPart, Emulator, Held, tool_call
from syncd_plugins.shopify.emulator_state import ShopState, split_tags


class ShopDemo(Emulator):
    """The emulator's base: what ``syncd demo`` asks of it."""

    access_token: str
    client_secret: str
    shop: ShopState

    demo: ClassVar[DemoPart | None] = DemoPart(
        title="Shopify",
        order=1,
        precedence=2,
        destination={
            "tags": {
                "loyal_customers": "loyal",
                "lapsed_customers": "win-back",
                "cart_abandoners": "abandoned-cart",
                "rfm_champions": "champion",
            },
        },
        push_order=4,
        # the first pull reads the whole shop through bulk operations, as Shopify advises; by
        # pages it would wait on the GraphQL cost budget (orders with their line items cost
        # some 5,000 points, at 100 a second); later pulls go by pages
        options={"bulk": True},
        # a second order makes a customer loyal; it reaches syncd as an orders/create webhook
        webhook=ActivityPlan("loyal_customers", joins=True),
    )

    def connector_config(self, url: str) -> dict[str, Any]:
        return {"type": "shopify", "shop": url, "access_token": self.access_token}

    def holds(self) -> dict[str, Held]:
        return {
            c["email"].lower(): Held(tags=frozenset(split_tags(c.get("tags") or "")))
            for c in self.state()["customers"]
            if c.get("email")
        }

    def webhook_secrets(self) -> dict[str, str] | None:
        return {"secret": self.client_secret}  # the app's client secret signs its webhooks

    def make_webhook_activity(self, url: str, candidates: Sequence[str]) -> Activity | None:
        """A second order, through ``POST orders.json``, for the first of ``candidates`` with
        one order and no open cart (so the order changes nothing else)."""
        carts = {(c.get("email") or "").lower() for c in self.shop.checkouts.values()}
        for email in candidates:
            customer = self.shop.by_email(email)
            if customer is None or customer["orders_count"] != 1 or email in carts:
                continue
            path = "/admin/api/2024-10/orders.json"
            item = {"title": "Leather belt", "price": "39.00", "quantity": 1}
            order = {"order": {"email": email, "line_items": [item]}}
            tool_call("POST", url, path, order, {"X-Shopify-Access-Token": self.access_token})
            return Activity((email,), "placed a second order", f"POST {path}")
        return None
