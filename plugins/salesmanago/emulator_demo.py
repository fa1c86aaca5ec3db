"""The SALESmanago emulator's part in ``syncd demo``: an e-mail tool of the demo's shop that
keeps copies of the shop's purchases, receives three segments as tags, and later records a
cart left on the site."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from syncd.emulator import Activity, ActivityPlan, DemoPart, Emulator, Held, tool_call
from syncd_plugins.salesmanago.signed import signature

DEFAULT_API_KEY = "syncd-demo"  # SALESmanago takes any key the caller chooses


class AccountDemo(Emulator):
    """The emulator's base: what ``syncd demo`` asks of it."""

    client_id: str
    api_secret: str
    owner: str

    demo: ClassVar[DemoPart | None] = DemoPart(
        title="SALESmanago",
        order=4,
        precedence=4,
        destination={
            "tags": {
                "loyal_customers": "LOYAL",
                "cart_abandoners": "CART_ABANDONED",
                "top_leads": "HOT_LEAD",
            },
        },
        push_order=2,
        # SALESmanago keeps a copy of each purchase; the shop's own count once
        options={"skip_events": ["order_placed"]},
        # a cart left by a customer with none pending: they join the segment
        activity=ActivityPlan("cart_abandoners", joins=True, among="loyal_customers"),
    )

    def connector_config(self, url: str) -> dict[str, Any]:
        return {
            "type": "salesmanago",
            "server": url,
            "client_id": self.client_id,
            "api_key": DEFAULT_API_KEY,
            "api_secret": self.api_secret,
            "owner": self.owner,
            # the vendor publishes no limit: the one this account enforces
            "rate_limit": self.rate_limit.rate if self.rate_limit else 5.0,
        }

    def holds(self) -> dict[str, Held]:
        return {
            c["email"].lower(): Held(tags=frozenset(t["tag"] for t in c["contactTags"]))
            for c in self.state()["contacts"]
        }

    def make_activity(self, url: str, candidates: Sequence[str]) -> Activity | None:
        """Record a cart left on the site just now for the first candidate the account knows,
        through ``contact/addContactExtEvent``."""
        known = self.emails()
        email = next((e for e in candidates if e in known), None)
        if email is None:
            return None
        now = int(self.clock().timestamp() * 1000)
        body = {
            "clientId": self.client_id,
            "apiKey": DEFAULT_API_KEY,
            "requestTime": now,
            "sha": signature(DEFAULT_API_KEY, self.client_id, self.api_secret),
            "owner": self.owner,
            "email": email,
            "contactEvent": {
                "contactExtEventType": "CART",
                "date": now,
                "products": "SH-TR-01",
                "value": 129.0,
                "externalId": f"demo-cart-{now}",
                "shopDomain": "shop.example.com",
            },
        }
        path = "/api/contact/addContactExtEvent"
        answer = tool_call("POST", url, path, body)
        if not answer.json().get("success"):
            raise RuntimeError(f"SALESmanago refused the cart: {answer.json().get('message')}")
        return Activity((email,), "left a Trail runner in the cart", f"POST {path}")
