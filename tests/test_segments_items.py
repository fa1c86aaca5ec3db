"""What was bought, on small explicit datasets through the SQL path on SQLite and
PostgreSQL (docs/segments.md: purchases where, spent, bought; docs/events.md: Line items);
each expected membership worked out by hand, and the reference must agree."""

from __future__ import annotations

import sqlalchemy as sa

from tests.segment_data import DAY, NOW, Dataset
from tests.test_segments_cases import members

SHOE = {"product": "Trail shoe", "sku": "TS-42", "category": "Shoes", "price": 120, "quantity": 1}
RUN = {"product": "Race belt", "sku": "RB-1", "category": "Running", "price": 25}
SOCKS = {"sku": "SOCK", "category": "Socks", "price": 5, "quantity": 4}


def shop() -> Dataset:
    data = Dataset()
    data.event("ada@x.com", "order_placed", NOW - 10 * DAY, 145.0, items=[SHOE, RUN])
    data.event("ada@x.com", "order_placed", NOW - 200 * DAY, 120.0, items=[SHOE])
    data.event("bob@x.com", "order_placed", NOW - 100 * DAY, 25.0, items=[RUN])
    data.event("bob@x.com", "order_placed", NOW - 5 * DAY, 20.0, items=[SOCKS])
    data.event("cy@x.com", "checkout_abandoned", NOW - DAY, 120.0, items=[SHOE])  # no order
    data.event("cy@x.com", "order_placed", NOW + DAY, 25.0, items=[RUN])  # after now
    data.event("dee@x.com", "order_placed", NOW - DAY, 240.0, items=[{**SHOE, "quantity": 2}])
    data.contact("eve@x.com")
    return data


def test_buyers_of_a_category_spenders_and_skus(engine: sa.Engine) -> None:
    got = members(
        engine,
        shop(),
        {
            "running_90d": {"purchases": {"where": {"category": "Running"}, "within": "90d"}},
            "running_ever": {"purchases": {"where": {"category": "Running"}, "count": 1}},
            "two_shoe_orders": {"purchases": {"where": {"category": "Shoes"}, "count": 2}},
            "shoes_200": {"spent": {"where": {"category": "Shoes"}, "gte": 200}},
            "shoes_under_200": {"spent": {"where": {"category": "Shoes"}, "lt": 200}},
            "socks_20": {"spent": {"where": {"sku": {"starts_with": "SO"}}, "eq": 20}},
            "shoe_not_belt": {
                "all": [{"bought": {"sku": "TS-42"}}, {"not": {"bought": {"sku": "RB-1"}}}]
            },
            "cheap_line_30d": {"bought": {"price": {"lt": 30}, "within": "30d"}},
        },
    )
    assert got == {
        "running_90d": {"ada@x.com"},
        "running_ever": {"ada@x.com", "bob@x.com"},
        "two_shoe_orders": {"ada@x.com"},
        "shoes_200": {"ada@x.com", "dee@x.com"},  # 120 + 120; 2 x 120
        "shoes_under_200": {"bob@x.com", "cy@x.com", "eve@x.com"},  # nothing spent is 0
        "socks_20": {"bob@x.com"},  # 4 x 5
        "shoe_not_belt": {"dee@x.com"},
        "cheap_line_30d": {"ada@x.com", "bob@x.com"},
    }
