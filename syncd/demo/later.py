"""New activity in the tools while the daemon runs, sent through each vendor's API the way the
tool itself would record it: a deal won in HubSpot, a cart left in SALESmanago."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import httpx

from syncd.demo.shop import SM_API_KEY


@dataclass(frozen=True)
class Activity:
    """One thing that happened, and whom it concerns."""

    tool: str
    emails: tuple[str, ...]
    what: str  # for people: "won the deal 'Deal 4'"
    call: str  # the API call that recorded it

    def sentence(self) -> str:
        return f"{' and '.join(self.emails)} {self.what}"


def deal_won(apps: dict[str, Any], url: str, negotiating: set[str]) -> Activity | None:
    """Move one open deal in negotiation to closed-won: its contacts leave ``in_negotiation``.

    The deal is one whose contacts have no other deal in negotiation, one of them in
    ``negotiating``, so the changes it implies are exactly theirs."""
    state = apps["hubspot"].state()
    emails = {c["id"]: c["properties"].get("email", "").lower() for c in state["contacts"]}
    open_deals = [d for d in state["deals"] if d["properties"].get("dealstage") == "negotiation"]
    deals_of: dict[str, int] = {}
    for deal in open_deals:
        for cid in deal["contacts"]:
            deals_of[cid] = deals_of.get(cid, 0) + 1
    for deal in sorted(open_deals, key=lambda d: int(d["id"])):
        people = tuple(emails.get(cid, "") for cid in deal["contacts"])
        alone = all(deals_of[cid] == 1 for cid in deal["contacts"])
        if alone and negotiating.intersection(people):
            path = f"/crm/v3/objects/deals/{deal['id']}"
            answer = httpx.patch(
                url + path,
                json={"properties": {"dealstage": "closedwon"}},
                headers={"Authorization": f"Bearer {apps['hubspot'].token}"},
                timeout=10,
            )
            answer.raise_for_status()
            name = deal["properties"].get("dealname") or f"deal {deal['id']}"
            return Activity("hubspot", people, f"won the deal {name!r}", f"PATCH {path}")
    return None


def cart_left(apps: dict[str, Any], url: str, candidates: list[str]) -> Activity | None:
    """Record a cart left on the site just now for the first candidate SALESmanago knows:
    they join ``cart_abandoners``."""
    sm = apps["salesmanago"]
    known = {c["email"].lower() for c in sm.state()["contacts"]}
    email = next((e for e in candidates if e in known), None)
    if email is None:
        return None
    now = int(time.time() * 1000)
    body = {
        "clientId": sm.client_id,
        "apiKey": SM_API_KEY,
        "requestTime": now,
        "sha": hashlib.sha1(f"{SM_API_KEY}{sm.client_id}{sm.api_secret}".encode()).hexdigest(),
        "owner": sm.owner,
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
    answer = httpx.post(url + path, json=body, timeout=10)
    answer.raise_for_status()
    if not answer.json().get("success"):
        raise RuntimeError(f"SALESmanago refused the cart: {answer.json().get('message')}")
    return Activity("salesmanago", (email,), "left a Trail runner in the cart", f"POST {path}")
