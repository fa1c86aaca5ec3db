"""Every entry of the prebuilt library (config/segments/), on people made for it, through the
real pipeline: files in, `syncd sync --dry-run`, members read back with `segments show`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from tests.conftest import REPO

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


# Each person is made for one or a few entries; the comment says which.
PEOPLE: dict[str, dict[str, Any]] = {
    # subscribed, never bought: a prospect, unscored, dormant
    "pat@example.com": {"lists": {"Newsletter": "subscribed"}, "birthday": "1990-11-24"},
    # subscribed but hard bounced: not a prospect
    "bob@example.com": {"lists": {"Newsletter": "subscribed"}},
    # unsubscribed 10 days ago, never bought: not a prospect; unsubscribed recently, cooling
    "una@example.com": {"lists": {"Newsletter": "unsubscribed"}, "birthday": "1990-11-30"},
    # one order 10 days ago: first-time and recent customer
    "fay@example.com": {},
    # one order 362 days ago: first-time, lapsed, its first anniversary in 3 days
    "lou@example.com": {},
    # three orders, last 5 days ago, first 300 days ago: loyal, not recent, not lapsed
    "loy@example.com": {},
    # abandoned a cart 2 days ago, no order since: cart abandoner
    "cat@example.com": {},
    # abandoned a cart 3 days ago, then ordered: not a cart abandoner
    "cao@example.com": {},
    # abandoned a cart 20 days ago: too long ago for the reminder
    "old@example.com": {},
    # five soft bounces; three soft bounces
    "sof@example.com": {},
    "sot@example.com": {},
    # clicked 3 days ago (engaged, clicked recently, rising, top lead)
    "cli@example.com": {},
    # visited 45 days ago only: dormant 30, not 60/90
    "vis@example.com": {},
    # a form 75 days ago only: dormant 30 and 60, not 90; cooling (its score decays)
    "frm@example.com": {},
    # tagged VIP, first seen at this sync: recently tagged
    "vip@example.com": {"tags": ["VIP"]},
}

SHOES = {"product": "Trail shoe", "sku": "TS-42", "category": "Shoes", "price": 100}
SHOES_40 = {"product": "Insole", "category": "Shoes", "price": 20, "quantity": 2}
RUNNING = {"product": "Race belt", "category": "Running", "price": 60}
SOCKS = {"sku": "SOCK", "category": "Socks", "price": 12.5, "quantity": 4}
EVENTS: list[tuple[str, str, float, dict[str, Any]]] = [
    ("bob@example.com", "email_bounced_hard", 40, {}),
    ("una@example.com", "email_unsubscribed", 10, {"properties": {"list": "Newsletter"}}),
    ("fay@example.com", "order_placed", 10, {"value": 50.0, "items": [SOCKS]}),
    ("lou@example.com", "order_placed", 362, {"value": 20.0}),
    ("loy@example.com", "order_placed", 300, {"value": 100.0, "items": [SHOES]}),
    ("loy@example.com", "order_placed", 100, {"value": 100.0, "items": [SHOES]}),
    ("loy@example.com", "order_placed", 5, {"value": 100.0, "items": [RUNNING, SHOES_40]}),
    ("cat@example.com", "checkout_abandoned", 2, {}),
    ("cao@example.com", "checkout_abandoned", 3, {}),
    ("cao@example.com", "order_placed", 1, {"value": 30.0}),
    ("old@example.com", "checkout_abandoned", 20, {}),
    *[("sof@example.com", "email_bounced_soft", d, {}) for d in (10, 20, 30, 40, 50)],
    *[("sot@example.com", "email_bounced_soft", d, {}) for d in (10, 20, 30)],
    ("cli@example.com", "email_clicked", 3, {"properties": {"url": "https://shop/pricing"}}),
    ("vis@example.com", "page_visited", 45, {"properties": {"url": "https://shop/blog"}}),
    ("frm@example.com", "form_submitted", 75, {}),
]

EVERYONE = set(PEOPLE)
BUYERS = {"fay@example.com", "lou@example.com", "loy@example.com", "cao@example.com"}

EXPECTED: dict[str, set[str]] = {
    "prospects": {"pat@example.com"},
    "first_time_customers": {"fay@example.com", "lou@example.com", "cao@example.com"},
    "recent_customers": {"fay@example.com", "cao@example.com"},
    "lapsed_customers": {"lou@example.com"},
    "loyal_customers": {"loy@example.com"},
    "cart_abandoners": {"cat@example.com"},
    "hard_bounced": {"bob@example.com"},
    "soft_bounced_often": {"sof@example.com"},
    "clicked_recently": {"cli@example.com"},
    "unsubscribed_recently": {"una@example.com"},
    "engaged_30d": {"fay@example.com", "loy@example.com", "cao@example.com", "cli@example.com"},
    "dormant_30d": EVERYONE
    - {"fay@example.com", "loy@example.com", "cao@example.com", "cli@example.com"},
    "dormant_60d": EVERYONE
    - {"fay@example.com", "loy@example.com", "cao@example.com", "cli@example.com"}
    - {"vis@example.com"},
    "dormant_90d": EVERYONE
    - {"fay@example.com", "loy@example.com", "cao@example.com", "cli@example.com"}
    - {"vis@example.com", "frm@example.com"},
    # scored: the hard bounce (-50), the unsubscribe (-20), the click (5), the visit (1), the
    # form (20)
    "unscored": EVERYONE
    - {"bob@example.com", "una@example.com", "cli@example.com", "vis@example.com"}
    - {"frm@example.com"},
    # five scored contacts: the top 10% is ceil(0.5) = 1 contact, the highest score
    "top_leads": {"cli@example.com"},
    # risers: the click (earned in the window) and the bounce (its minus decays towards 0);
    # only a contact whose score is above 0 is a rising lead
    "rising_leads": {"cli@example.com"},
    # over 60 days: the form decayed; the bounce, earned inside the window, is a drop;
    # the visit, earned inside the window too, is a rise; the unsubscribe a drop
    "cooling_leads": {"frm@example.com", "bob@example.com", "una@example.com"},
    # predicted (config/segments/predicted.yaml): four buyers, loy the one repeat buyer, his
    # last order 5 days ago after gaps of 200 and 95 days: alive, so no one is likely to churn
    # (only a repeat buyer can be: tests/test_predict_store.py has churners); the top 10 % of
    # predicted value is ceil(0.4) = 1 buyer, loy, who buys again and spends 100 an order
    "likely_to_churn": set(),
    "high_predicted_value": {"loy@example.com"},
    "category_buyers": {"loy@example.com"},  # Running, 5 days ago
    "category_big_spenders": {"loy@example.com"},  # shoes: 100 + 100 + 2 x 20
    "cross_sell": {"loy@example.com"},  # shoes, no socks (fay bought socks only)
    "upsell": {"loy@example.com"},  # loyal, 300 in the year
    "vip_gold": set(),
    "vip_silver": set(),
    "vip_bronze": {"loy@example.com"},
    "birthday_this_week": {"pat@example.com"},  # 24 November; una's 30th is too far
    "first_order_anniversary": {"lou@example.com"},
    # since: dates from the first pull that saw it (this sync): the VIP tag is new, and no
    # subscription is a year old yet
    "recently_tagged_vip": {"vip@example.com"},
    "long_time_subscribers": set(),
    # the files connector reads no deals: the deal rules are tested in test_segments_cases.py
    "deals_won_30d": set(),
    "deals_closing_soon": set(),
}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture
def library(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    contacts = [
        {"id": f"c{i}", "email": email, "consent": "granted", **extra}
        for i, (email, extra) in enumerate(PEOPLE.items())
    ]
    events = [
        {"id": f"e{i}", "email": email, "type": kind, "at": ago(days), **extra}
        for i, (email, kind, days, extra) in enumerate(EVENTS)
    ]
    write_jsonl(tmp_path / "contacts.jsonl", contacts)
    write_jsonl(tmp_path / "events.jsonl", events)
    config = tmp_path / "syncd.yaml"
    config.write_text(
        f"include: [{REPO / 'config' / 'segments'}]\n"
        "connectors:\n"
        "  shop: {type: files, contacts: contacts.jsonl, events: events.jsonl}\n"
    )
    monkeypatch.setenv("SYNCD_NOW", NOW.isoformat())
    monkeypatch.setenv("SYNCD_STORE_URL", store_url)
    assert main(["--config", str(config), "sync", "--dry-run"]) == 0
    return config


def members(config: Path, name: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    capsys.readouterr()
    assert (
        main(["--config", str(config), "segments", "show", name, "--json", "--limit", "100"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["size"] == len(data["sample"])
    return {m["email"] for m in data["sample"]}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_library_entry(library: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert members(library, name, capsys) == EXPECTED[name]


def test_every_library_entry_is_documented_and_has_a_case(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--config", str(library), "segments", "list", "--json"]) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)["segments"]}
    rfm = {name for name in names if name.startswith("rfm_")}
    assert names - rfm - {"customers"} == set(EXPECTED)
    assert len(rfm) == 11
    for name in names:
        assert main(["--config", str(library), "segments", "show", name, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["description"], f"{name} has no description of its intent"


def test_rfm_classes_of_the_buyers(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # four buyers ranked 1-4: score = 1 + floor(5 * (rank - 1) / 4) -> 1, 2, 3, 4
    # recency, oldest last order first: lou 400d, fay 10d, loy 5d, cao 1d -> 1, 2, 3, 4
    # frequency: fay, lou, cao tie at 1 (rank 1 -> 1); loy 3 (rank 4 -> 4)
    # monetary: lou 20, cao 30, fay 50, loy 300 -> 1, 2, 3, 4
    classes = {
        name.removeprefix("rfm_"): members(library, name, capsys)
        for name in (
            "rfm_lost",
            "rfm_new",
            "rfm_promising",
            "rfm_loyal",
            "rfm_about_to_sleep",
        )
    }
    assert classes["lost"] == {"lou@example.com"}  # r1 f1
    assert classes["about_to_sleep"] == {"fay@example.com"}  # r2 f1
    assert classes["loyal"] == {"loy@example.com"}  # r3 f4
    assert classes["new"] == {"cao@example.com"}  # r4 f1
    assert classes["promising"] == set()
    assert set().union(*classes.values()) == BUYERS


def test_a_config_entry_overrides_the_library(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = library.read_text() + "segments:\n  loyal_customers: {purchases: {count: {gte: 1}}}\n"
    library.write_text(text)
    assert main(["--config", str(library), "sync", "--dry-run"]) == 0
    assert members(library, "loyal_customers", capsys) == BUYERS


def test_the_reference_lists_every_library_entry() -> None:
    import yaml

    docs = (REPO / "docs" / "segments.md").read_text()
    for path in sorted((REPO / "config" / "segments").glob("*.yaml")):
        for name in yaml.safe_load(path.read_text()).get("segments", {}):
            assert f"| `{name}` |" in docs, f"docs/segments.md does not list {name}"
