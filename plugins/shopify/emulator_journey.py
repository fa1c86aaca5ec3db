"""The customer journey the emulator gives an order (``Order.customerJourneySummary``): the
visits that led to it, made from the sample person's source (where they first came from)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from syncd.emulator.people import Order, Person

SHOP = "https://shop.example.com"
#: the sample's channel → Shopify's ``source`` and ``sourceType`` (a ``MarketingTactic``)
TACTICS: dict[str, tuple[str, str | None]] = {
    "organic_search": ("Google", "SEO"),
    "paid_search": ("Google", "AD"),
    "social_media": ("Instagram", "POST"),
    "paid_social": ("Facebook", "AD"),
    "email_marketing": ("Newsletter", "NEWSLETTER"),
    "referrals": ("blog.example.net", "LINK"),
    "direct_traffic": ("direct", None),
}


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def journey(person: Person, index: int, order: Order, oid: int) -> dict[str, Any] | None:
    """The summary of ``person``'s order number ``index`` (from 0): the first order's first
    visit is where the person came from; a later order's visits came straight to the shop."""
    src = person.source
    if src is None:
        return None
    last = {
        "id": f"gid://shopify/CustomerVisit/{oid}2",
        "source": "direct",
        "sourceType": None,
        "sourceDescription": None,
        "referrerUrl": None,
        "referralCode": None,
        "landingPage": f"{SHOP}/",
        "occurredAt": _stamp(order.placed_at - timedelta(minutes=12)),
        "utmParameters": None,
    }
    if index > 0:
        return {"customerOrderIndex": index, "daysToConversion": 0, "ready": True,
                "firstVisit": last, "lastVisit": last}  # fmt: skip
    source, tactic = TACTICS.get(src.channel, ("an unknown source", None))
    utm = (
        {"source": src.utm_source, "medium": src.utm_medium, "campaign": src.utm_campaign,
         "content": None, "term": None}
        if src.utm_source else None
    )  # fmt: skip
    first = {
        "id": f"gid://shopify/CustomerVisit/{oid}1",
        "source": source,
        "sourceType": tactic,
        "sourceDescription": None,
        "referrerUrl": src.referrer,
        "referralCode": None,
        "landingPage": f"{SHOP}{src.landing_page}",
        "occurredAt": _stamp(min(src.at, order.placed_at)),
        "utmParameters": utm,
    }
    days = max((order.placed_at - src.at).days, 0)
    return {"customerOrderIndex": 0, "daysToConversion": days, "ready": True,
            "firstVisit": first, "lastVisit": last}  # fmt: skip
