"""The Shopify emulator's part in ``syncd demo``: the demo's shop itself, where the orders and
carts count from, and which receives four segments as customer tags."""

from __future__ import annotations

from typing import Any, ClassVar

from syncd.emulator import DemoPart, Emulator, Held
from syncd_plugins.shopify.emulator_state import split_tags


class ShopDemo(Emulator):
    """The emulator's base: what ``syncd demo`` asks of it."""

    access_token: str

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
    )

    def connector_config(self, url: str) -> dict[str, Any]:
        return {"type": "shopify", "shop": url, "access_token": self.access_token}

    def holds(self) -> dict[str, Held]:
        return {
            c["email"].lower(): Held(tags=frozenset(split_tags(c.get("tags") or "")))
            for c in self.state()["customers"]
            if c.get("email")
        }
