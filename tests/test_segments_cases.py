"""The segments of /work/shared/SEGMENTS.md on small explicit datasets, through the SQL path on
SQLite and PostgreSQL; each expected membership follows from docs/segments.md by hand, and
the plain-Python reference must agree with it too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tests.reference import Reference
from tests.segment_data import DAY, NOW, Dataset, Deal, compute_in_store, field_value, parse

SECOND = DAY / 86400
LEAD_SCORE = {
    "lead_score": {
        "points": [
            {"event": "email_clicked", "points": 5},
            {"event": "page_visited", "where": {"url": {"contains": "/pricing"}}, "points": 10},
            {"event": "form_submitted", "points": 20},
            {"event": "email_bounced_hard", "points": -50},
        ],
        "half_life": "30d",
    }
}


def members(
    engine: sa.Engine,
    data: Dataset,
    segments: Mapping[str, Any],
    scores: Mapping[str, Any] | None = None,
) -> dict[str, set[str]]:
    """Each segment's members by e-mail, computed in SQL; the reference must agree."""
    rules, models = parse(segments, scores)
    found = compute_in_store(engine, data, rules, models)
    got = {name: data.emails(ids) for name, ids in found.items()}
    expected = Reference(data, models).evaluate(rules)
    assert {name: data.emails(v.yes) for name, v in expected.items()} == got
    assert not any(v.maybe for v in expected.values())
    return got


def test_soft_bounced_often(engine: sa.Engine) -> None:
    data = Dataset()
    for email, times in {
        "four@x.com": [NOW, NOW - DAY, NOW - 30 * DAY, NOW - 400 * DAY],
        "three@x.com": [NOW - DAY, NOW - 2 * DAY, NOW - 3 * DAY],
        "future@x.com": [NOW - DAY, NOW - 2 * DAY, NOW - 3 * DAY, NOW + SECOND],
        "five@x.com": [NOW - i * DAY for i in range(5)],
    }.items():
        for at in times:
            data.event(email, "email_bounced_soft", at)
    data.event("hard@x.com", "email_bounced_hard", NOW - DAY)
    got = members(
        engine, data, {"soft_bounced_often": {"event": "email_bounced_soft", "count": {"gte": 4}}}
    )
    assert got["soft_bounced_often"] == {"four@x.com", "five@x.com"}


def test_clicked_pricing(engine: sa.Engine) -> None:
    data = Dataset()
    data.event("edge@x.com", "email_clicked", NOW - 30 * DAY, url="/pricing/plans")
    data.event("late@x.com", "email_clicked", NOW - 30 * DAY - SECOND, url="/pricing")
    data.event("case@x.com", "email_clicked", NOW - DAY, url="/Pricing")
    data.event("blog@x.com", "email_clicked", NOW - DAY, url="/blog")
    data.event("visit@x.com", "page_visited", NOW - DAY, url="/pricing")
    data.event("nourl@x.com", "email_clicked", NOW - DAY)
    data.event("future@x.com", "email_clicked", NOW + SECOND, url="/pricing")
    data.event("now@x.com", "email_clicked", NOW, url="https://shop.example/pricing?x=1")
    got = members(
        engine,
        data,
        {
            "clicked_pricing": {
                "event": "email_clicked",
                "where": {"url": {"contains": "/pricing"}},
                "within": "30d",
            }
        },
    )
    assert got["clicked_pricing"] == {"edge@x.com", "now@x.com"}


def test_interested_in_service(engine: sa.Engine) -> None:
    data = Dataset()
    data.event("visit@x.com", "page_visited", NOW - 100 * DAY, url="/service")
    data.event("click@x.com", "email_clicked", NOW - DAY, url="/en/service/repair")
    data.event("form@x.com", "form_submitted", NOW - DAY, form="service-brochure")
    data.event("other_form@x.com", "form_submitted", NOW - DAY, form="newsletter")
    data.event("case@x.com", "page_visited", NOW - DAY, url="/Service")
    data.event("download@x.com", "file_downloaded", NOW - DAY, url="/service")
    got = members(
        engine,
        data,
        {
            "interested_in_service": {
                "any": [
                    {"event": "page_visited", "where": {"url": {"contains": "/service"}}},
                    {"event": "email_clicked", "where": {"url": {"contains": "/service"}}},
                    {"event": "form_submitted", "where": {"form": "service-brochure"}},
                ]
            }
        },
    )
    assert got["interested_in_service"] == {"visit@x.com", "click@x.com", "form@x.com"}


def test_dormant_90d(engine: sa.Engine) -> None:
    data = Dataset()
    data.event("edge@x.com", "email_opened", NOW - 90 * DAY)
    data.event("gone@x.com", "page_visited", NOW - 90 * DAY - SECOND)
    data.event("future@x.com", "page_visited", NOW + DAY)
    data.contact("never@x.com")
    data.event("active@x.com", "order_placed", NOW)
    got = members(engine, data, {"dormant_90d": {"not": {"event": "any", "within": "90d"}}})
    assert got["dormant_90d"] == {"gone@x.com", "future@x.com", "never@x.com"}


def test_lead_score_segments(engine: sa.Engine) -> None:
    data = Dataset()
    data.event("hot@x.com", "email_clicked", NOW - DAY)
    data.event("hot@x.com", "email_clicked", NOW - DAY)
    data.event("hot@x.com", "form_submitted", NOW - 2 * DAY)
    data.event("warm@x.com", "page_visited", NOW - 10 * DAY, url="/pricing")
    data.event("old@x.com", "form_submitted", NOW - 100 * DAY)
    data.event("bounced@x.com", "email_bounced_hard", NOW - 5 * DAY)
    # an old hard bounce fades: its score rises towards 0, yet it is no rising lead
    data.event("recovering@x.com", "email_bounced_hard", NOW - 200 * DAY)
    data.event("blog@x.com", "page_visited", NOW - DAY, url="/blog")
    data.contact("none@x.com")
    got = members(
        engine,
        data,
        {
            "rising_leads": {"score": "lead_score", "change": {"over": "30d", "top": "10%"}},
            "rising_three": {"score": "lead_score", "change": {"over": "30d", "top": 3}},
            "cooling_leads": {"score": "lead_score", "change": {"over": "60d", "lt": 0}},
            "unscored": {"score": "lead_score", "exists": False},
            "hot_leads": {"score": "lead_score", "gte": 20},
            "top_two": {"score": "lead_score", "top": 2},
        },
        LEAD_SCORE,
    )
    assert got["rising_leads"] == {"hot@x.com"}  # ceil(10% of 2 rising) = 1
    assert got["rising_three"] == {"hot@x.com", "warm@x.com"}
    assert got["cooling_leads"] == {"old@x.com", "bounced@x.com"}
    assert got["unscored"] == {"blog@x.com", "none@x.com"}
    assert got["hot_leads"] == {"hot@x.com"}
    assert got["top_two"] == {"hot@x.com", "warm@x.com"}


def test_scores_without_half_life_and_ties(engine: sa.Engine) -> None:
    data = Dataset()
    for email in ("a@x.com", "b@x.com"):  # tied for the best rank
        data.event(email, "form_submitted", NOW - 300 * DAY)
    data.event("c@x.com", "email_clicked", NOW - DAY)
    data.event("zero@x.com", "email_clicked", NOW - DAY)
    data.event("zero@x.com", "email_clicked", NOW - DAY, url="/x")
    data.event("zero@x.com", "email_bounced_hard", NOW - DAY)  # 5 + 5 - 10 = 0: still scored
    data.event("future@x.com", "form_submitted", NOW + DAY)
    scores = {
        "plain": {
            "points": [
                {"event": "form_submitted", "points": 20},
                {"event": "email_clicked", "points": 5},
                {"event": "email_bounced_hard", "points": -10},
            ]
        }
    }
    got = members(
        engine,
        data,
        {
            "top_one": {"score": "plain", "top": 1},
            "scored": {"score": "plain", "exists": True},
            "exactly_20": {"score": "plain", "eq": 20},
            "not_5": {"score": "plain", "ne": 5},
        },
        scores,
    )
    assert got["top_one"] == {"a@x.com", "b@x.com"}
    assert got["scored"] == {"a@x.com", "b@x.com", "c@x.com", "zero@x.com"}
    assert got["exactly_20"] == {"a@x.com", "b@x.com"}
    assert got["not_5"] == {"a@x.com", "b@x.com", "zero@x.com"}  # unscored never pass


def test_in_negotiation(engine: sa.Engine) -> None:
    data = Dataset()
    ids = {e: data.contact(f"{e}@x.com").id for e in ("a", "b", "c", "d", "e", "f")}
    data.deals = [
        Deal("1", frozenset({ids["a"], ids["e"]}), stage="negotiation", status="open"),
        Deal("2", frozenset({ids["b"]}), stage="negotiation", status="won"),
        Deal("3", frozenset({ids["c"]}), stage="Negotiation", status="open"),
        Deal("4", frozenset({ids["d"]}), stage="negotiation", status="lost"),
        Deal("5", frozenset({ids["d"]}), stage="proposal", status="open"),
        Deal("6", frozenset(), stage="negotiation", status="open"),
    ]
    got = members(
        engine,
        data,
        {
            "in_negotiation": {"deal": {"stage": "negotiation", "status": "open"}},
            "big_or_won": {"deal": {"status": ["won", "lost"], "amount": {"gte": 0}}},
        },
    )
    assert got["in_negotiation"] == {"a@x.com", "e@x.com"}
    assert got["big_or_won"] == set()  # no amount: an amount test never passes


def test_deals_won_lately_and_deals_open_long(engine: sa.Engine) -> None:
    data = Dataset()
    ids = {e: data.contact(f"{e}@x.com").id for e in ("won", "old", "open", "new", "none")}
    data.deals = [
        Deal("1", frozenset({ids["won"]}), status="won", closed_at=NOW - 29 * DAY),
        Deal("2", frozenset({ids["old"]}), status="won", closed_at=NOW - 31 * DAY),
        Deal("3", frozenset({ids["open"]}), status="open", created_at=NOW - 100 * DAY,
             closed_at=NOW + 10 * DAY),
        Deal("4", frozenset({ids["new"]}), status="open", created_at=NOW - DAY),
        Deal("5", frozenset({ids["none"]}), status="won"),  # no close date: never passes
    ]  # fmt: skip
    got = members(
        engine,
        data,
        {
            "won_lately": {"deal": {"status": "won", "closed": {"within": "30d"}}},
            "open_long": {"deal": {"status": "open", "created": {"older_than": "90d"}}},
            "closing_soon": {"deal": {"closed": {"within_next": "14d"}}},
            "created_this_year": {"deal": {"created": {"after": "2026-01-01"}}},
        },
    )
    assert got["won_lately"] == {"won@x.com"}
    assert got["open_long"] == {"open@x.com"}
    assert got["closing_soon"] == {"open@x.com"}
    assert got["created_this_year"] == {"new@x.com"}


def test_annas_leads(engine: sa.Engine) -> None:
    data = Dataset()
    for email, stage, owner in (
        ("yes@x.com", "lead", "anna@example.com"),
        ("case@x.com", "Lead", "anna@example.com"),
        ("bob@x.com", "lead", "bob@example.com"),
        ("no_owner@x.com", "lead", None),
    ):
        contact = data.contact(email)
        contact.fields["lifecycle_stage"] = field_value(stage)
        if owner:
            contact.fields["owner_email"] = field_value(owner)
    got = members(
        engine,
        data,
        {
            "annas_leads": {
                "all": [
                    {"field": "lifecycle_stage", "eq": "lead"},
                    {"field": "owner_email", "eq": "anna@example.com"},
                ]
            },
            "not_annas": {"field": "owner_email", "ne": "anna@example.com"},
        },
    )
    assert got["annas_leads"] == {"yes@x.com"}
    assert got["not_annas"] == {"bob@x.com", "no_owner@x.com"}


def test_chrome_mower_pricing(engine: sa.Engine) -> None:
    data = Dataset()
    for email, tags in {
        "yes@x.com": {("sm", "CHROME"), ("sm", "KOSIARKA_AKUMULATOROWA"), ("sm", "CENNIK (3)")},
        "two@x.com": {("sm", "CHROME"), ("sm", "KOSIARKA_AKUMULATOROWA"), ("sm", "CENNIK (2)")},
        "plain@x.com": {("sm", "CHROME"), ("sm", "KOSIARKA_AKUMULATOROWA"), ("sm", "CENNIK")},
        "split@x.com": {("sm", "CHROME"), ("ac", "KOSIARKA_AKUMULATOROWA"), ("ac", "CENNIK (4)")},
        "lower@x.com": {("sm", "chrome"), ("sm", "KOSIARKA_AKUMULATOROWA"), ("sm", "CENNIK (9)")},
    }.items():
        data.contact(email).tags = tags
    got = members(
        engine,
        data,
        {
            "chrome_mower_pricing": {
                "all": [
                    {"tag": "CHROME"},
                    {"tag": "KOSIARKA_AKUMULATOROWA"},
                    {"tag": "CENNIK", "count": {"gte": 3}},
                ]
            },
            "written_with_counter": {"tag": "CENNIK (3)"},
            "mowers": {"tag": "KOSIARKA_*", "source": "ac"},
            "bare_count": {"tag": "CENNIK", "count": 4},
        },
    )
    assert got["chrome_mower_pricing"] == {"yes@x.com", "split@x.com"}
    assert got["written_with_counter"] == {"yes@x.com"}
    assert got["mowers"] == {"split@x.com"}
    assert got["bare_count"] == {"split@x.com", "lower@x.com"}


def test_a_tag_score_is_tested_where_the_tool_keeps_one(engine: sa.Engine) -> None:
    data = Dataset()
    for email, scores in {
        "thirty@x.com": {("sm", "SCORING_ZAKUPY"): 30.0},
        "five@x.com": {("sm", "SCORING_ZAKUPY"): 5.0},
        "none@x.com": {},  # the tag, but no score kept
        "other@x.com": {("sm", "SCORING_INNE"): 50.0},
    }.items():
        contact = data.contact(email)
        contact.tags = {("sm", "SCORING_ZAKUPY"), ("sm", "SCORING_INNE")} if scores else set()
        if email == "none@x.com":
            contact.tags = {("sm", "SCORING_ZAKUPY")}
        contact.tag_scores = scores
    got = members(
        engine,
        data,
        {
            "buyers_10": {"tag": "SCORING_ZAKUPY", "score": {"gte": 10}},
            "bare": {"tag": "SCORING_ZAKUPY", "score": 5},
            "low": {"tag": "SCORING_*", "score": {"lt": 10}},
            "tagged": {"tag": "SCORING_ZAKUPY"},
        },
    )
    assert got["buyers_10"] == {"thirty@x.com"}
    assert got["bare"] == {"thirty@x.com", "five@x.com"}  # a bare number is gte
    assert got["low"] == {"five@x.com"}
    assert got["tagged"] == {"thirty@x.com", "five@x.com", "none@x.com", "other@x.com"}


ECOMMERCE = {
    "prospects": {"all": [{"list": "Newsletter"}, {"purchases": {"count": {"eq": 0}}}]},
    "first_time_customers": {"purchases": {"count": {"eq": 1}}},
    "recent_customers": {"purchases": {"first": {"within": "30d"}}},
    "lapsed_customers": {
        "all": [{"purchases": {"count": 1}}, {"purchases": {"last": {"older_than": "180d"}}}]
    },
    "loyal_customers": {"purchases": {"count": {"gte": 2}}},
    # "no order since": with the documented forms, no order within the same 7 days
    "cart_abandoners": {
        "all": [
            {"event": "checkout_abandoned", "within": "7d"},
            {"not": {"purchases": {"count": 1, "within": "7d"}}},
        ]
    },
    "big_spenders": {"purchases": {"total": {"gte": 500}, "within": "365d"}},
    "average_100": {"purchases": {"average": {"gte": 100}}},
}


def test_five_ecommerce_segments(engine: sa.Engine) -> None:
    data = Dataset()
    data.contact("prospect@x.com").lists = {("ac", "Newsletter"): "subscribed"}
    data.contact("gone@x.com").lists = {("ac", "Newsletter"): "unsubscribed"}
    data.event("new@x.com", "order_placed", NOW - 10 * DAY, 120.0)
    data.event("twice@x.com", "order_placed", NOW - 400 * DAY, 300.0)
    data.event("twice@x.com", "order_placed", NOW - 200 * DAY, 250.0)
    data.event("edge@x.com", "order_placed", NOW - 180 * DAY)  # no value: counts 0
    data.contact("soon@x.com").lists = {("sm", "Newsletter"): "subscribed"}
    data.event("soon@x.com", "order_placed", NOW + DAY, 999.0)
    data.event("cart@x.com", "checkout_abandoned", NOW - 2 * DAY)
    data.event("bought@x.com", "checkout_abandoned", NOW - 3 * DAY)
    data.event("bought@x.com", "order_placed", NOW - DAY, 500.0)
    got = members(engine, data, ECOMMERCE)
    assert got["prospects"] == {"prospect@x.com", "soon@x.com"}
    assert got["first_time_customers"] == {"new@x.com", "edge@x.com", "bought@x.com"}
    assert got["recent_customers"] == {"new@x.com", "bought@x.com"}
    assert got["lapsed_customers"] == {"twice@x.com"}  # edge: exactly 180 days is not older
    assert got["loyal_customers"] == {"twice@x.com"}
    assert got["cart_abandoners"] == {"cart@x.com"}
    assert got["big_spenders"] == {"bought@x.com"}  # twice: 250 within the year
    assert got["average_100"] == {"new@x.com", "twice@x.com", "bought@x.com"}


def test_rfm_classes(engine: sa.Engine) -> None:
    # five purchasers, so each score is the rank (1 + floor(5 (rank - 1) / 5))
    data = Dataset()
    plan = {  # e-mail: (days since the last order, orders, value of each)
        "champion@x.com": (1, 5, 100.0),  # r5 f5 m5 (500)
        "loyal@x.com": (10, 4, 1.0),  # r4 f4 m1 (4)
        "at_risk@x.com": (100, 3, 400 / 3),  # r1 f3 m4 (400)
        "promising@x.com": (20, 2, 30.0),  # r3 f2 m3 (60)
        "sleepy@x.com": (40, 1, 20.0),  # r2 f1 m2 (20)
    }
    for email, (days, orders, value) in plan.items():
        for i in range(orders):
            data.event(email, "order_placed", NOW - (days + 50 * i) * DAY, value)
    data.contact("never@x.com")
    data.event("future@x.com", "order_placed", NOW + DAY, 1000.0)
    classes = ("champions", "loyal", "at_risk", "promising", "about_to_sleep", "lost")
    segments: dict[str, Any] = {f"rfm_{name}": {"rfm": {"class": name}} for name in classes}
    segments["rfm_at_risk_or_cant_lose"] = {"rfm": {"class": ["at_risk", "cant_lose_them"]}}
    segments["recent_not_frequent"] = {"rfm": {"r": {"gte": 4}, "f": {"lte": 4}}}
    segments["low_r"] = {"rfm": {"r": {"lte": 2}}}
    got = members(engine, data, segments)
    assert got["rfm_champions"] == {"champion@x.com"}
    assert got["rfm_loyal"] == {"loyal@x.com"}
    assert got["rfm_at_risk"] == {"at_risk@x.com"}
    assert got["rfm_promising"] == {"promising@x.com"}
    assert got["rfm_about_to_sleep"] == {"sleepy@x.com"}
    assert got["rfm_lost"] == set()
    assert got["rfm_at_risk_or_cant_lose"] == {"at_risk@x.com"}
    assert got["recent_not_frequent"] == {"loyal@x.com"}
    assert got["low_r"] == {"at_risk@x.com", "sleepy@x.com"}  # non-purchasers have no RFM


def test_rfm_ties_share_the_lower_rank(engine: sa.Engine) -> None:
    data = Dataset()
    for email in ("a@x.com", "b@x.com"):
        data.event(email, "order_placed", NOW - DAY, 50.0)
    data.event("c@x.com", "order_placed", NOW - 2 * DAY, 10.0)
    got = members(
        engine,
        data,
        {
            "lost": {"rfm": {"class": "lost"}},  # c: ranks 1, 1, 1 of 3
            "r2": {"rfm": {"r": {"eq": 2}, "m": {"eq": 2}}},  # a, b: rank 2 -> 1 + 5/3 = 2
        },
    )
    assert got["lost"] == {"c@x.com"}
    assert got["r2"] == {"a@x.com", "b@x.com"}


# --- discrepancies the comparison found, now mended -----------------------------------------


def test_a_second_glob_pattern_is_not_served_from_the_statement_cache(engine: sa.Engine) -> None:
    data = Dataset()
    data.contact("vip@x.com").tags = {("sm", "VIP")}
    rules, models = parse({"first": {"tag": "?IP"}, "second": {"tag": "CENNIK*"}})
    found = compute_in_store(engine, data, rules, models)
    assert data.emails(found["second"]) == set()


def test_an_sql_rule_may_return_a_contact_twice(engine: sa.Engine) -> None:
    data = Dataset()
    data.contact("two@x.com").lists = {("ac", "A"): "unsubscribed", ("ac", "B"): "unsubscribed"}
    sql = "SELECT contact_id FROM syncd_lists WHERE status = 'unsubscribed'"
    rules, models = parse({"unsubscribed": {"sql": sql}})
    found = compute_in_store(engine, data, rules, models)
    assert data.emails(found["unsubscribed"]) == {"two@x.com"}


def test_a_tag_count_applies_to_the_tags_held(engine: sa.Engine) -> None:
    # docs/segments.md, tag: a contact without the tag never matches, whatever the count test
    data = Dataset()
    data.contact("once@x.com").tags = {("sm", "CENNIK (1)")}
    data.contact("often@x.com").tags = {("sm", "CENNIK (5)")}
    data.contact("never@x.com")
    rules, models = parse({"few": {"tag": "CENNIK", "count": {"lt": 3}}})
    found = compute_in_store(engine, data, rules, models)
    assert data.emails(found["few"]) == {"once@x.com"}


def test_a_score_of_any_event(engine: sa.Engine) -> None:
    data = Dataset()
    data.event("a@x.com", "email_clicked", NOW - DAY)
    data.contact("b@x.com")
    got = members(
        engine,
        data,
        {"active": {"score": "s", "gte": 5}},
        {"s": {"points": [{"event": "any", "points": 5}]}},
    )
    assert got["active"] == {"a@x.com"}
