"""An order's customer journey (``Order.customerJourneySummary``, GraphQL Admin API): where
the visits that led to it came from. The first order's first visit is where the customer
came from, kept as the contact's source fields (docs/events.md, "Source and web-analytics
fields"); every order keeps its first and last visit's source in its event's properties."""

from __future__ import annotations

from typing import Any

from syncd.connectors import ContactRecord, as_text, dig, text_id

VISIT = """occurredAt source sourceType referrerUrl landingPage
utmParameters { source medium campaign content term }"""
JOURNEY_FIELDS = (
    f"customerJourneySummary {{ customerOrderIndex firstVisit {{ {VISIT} }} "
    f"lastVisit {{ {VISIT} }} }}"
)
SOURCE_FIELDS = {
    "source": "text",
    "source_detail": "text",
    "referrer": "text",
    "landing_page": "text",
    "utm_source": "text",
    "utm_medium": "text",
    "utm_campaign": "text",
}
#: Shopify's ``sourceType`` (a ``MarketingTactic``) → the shared channel names
TACTIC_CHANNEL = {
    "SEO": "organic_search",
    "SEARCH": "paid_search",
    "POST": "social_media",
    "NEWSLETTER": "email_marketing",
    "MESSAGE": "email_marketing",
    "TRANSACTIONAL": "email_marketing",
    "NOTIFICATION": "email_marketing",
    "ABANDONED_CART": "email_marketing",
    "LINK": "referrals",
    "AFFILIATE": "referrals",
    "LOYALTY": "referrals",
    "DIRECT": "direct_traffic",
}
SOCIAL = ("facebook", "instagram", "tiktok", "pinterest", "twitter", "x", "linkedin", "snapchat")


def channel(visit: dict[str, Any]) -> str | None:
    """The visit's channel in the shared names: by its tactic; an ad is paid social on a
    social network, else paid search; with no tactic, a referrer makes it a referral, none
    direct traffic."""
    tactic, source = visit.get("sourceType"), str(visit.get("source") or "").strip().lower()
    if tactic == "AD":
        return "paid_social" if source in SOCIAL else "paid_search"
    if isinstance(tactic, str) and tactic:
        return TACTIC_CHANNEL.get(tactic, "other_campaigns")
    if source == "direct" or not visit.get("referrerUrl"):
        return "direct_traffic" if source in ("", "direct") else "other_campaigns"
    return "referrals"


def visit_values(visit: Any) -> dict[str, str | None]:
    """A visit as the shared source fields."""
    if not isinstance(visit, dict):
        return {}
    held = visit.get("utmParameters")
    utm: dict[str, Any] = held if isinstance(held, dict) else {}
    return {
        "source": channel(visit),
        "source_detail": as_text(visit.get("source")),
        "referrer": as_text(visit.get("referrerUrl")),
        "landing_page": as_text(visit.get("landingPage")),
        "utm_source": as_text(utm.get("source")),
        "utm_medium": as_text(utm.get("medium")),
        "utm_campaign": as_text(utm.get("campaign")),
    }


def journey_properties(row: dict[str, Any]) -> dict[str, Any]:
    """The order event's properties of its journey: the first visit's source fields, and the
    last visit's channel and detail as ``last_source`` / ``last_source_detail``."""
    summary = row.get("customerJourneySummary")
    if not isinstance(summary, dict):
        return {}
    first, last = visit_values(summary.get("firstVisit")), visit_values(summary.get("lastVisit"))
    return {
        **{k: v for k, v in first.items() if v is not None},
        **{f"last_{k}": last[k] for k in ("source", "source_detail") if last.get(k)},
    }


def first_source(row: dict[str, Any]) -> ContactRecord | None:
    """The customer's source fields, from their first order's first visit (none when the
    order is not their first, or Shopify has no visit for it)."""
    summary = row.get("customerJourneySummary")
    if not isinstance(summary, dict) or summary.get("customerOrderIndex") != 0:
        return None
    values = {k: v for k, v in visit_values(summary.get("firstVisit")).items() if v is not None}
    customer = text_id(dig(row, "customer.legacyResourceId"))
    email = dig(row, "customer.email")
    if not values or customer is None or not isinstance(email, str) or not email.strip():
        return None
    return ContactRecord(customer, email.strip(), attributes=values)
