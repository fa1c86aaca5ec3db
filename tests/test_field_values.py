"""Computed values out as fields: a tier (the first of an ordered list of segments the contact
is in, a default or nothing), predictions; what check refuses; the plan's old -> new."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.cli import main
from syncd.config import ComputedValue, DestinationConfig, TierConfig
from syncd.connectors.contract import ChangeKind
from syncd.store.schema import (
    attributes,
    contact_predictions,
    contacts,
    identities,
    segment_members,
)
from syncd.sync.field_values import desired_values
from syncd.sync.plan import plan_destination
from tests.test_plan_diff import plan_text

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TIERS = {
    "vip": TierConfig(segments={"gold": "Gold", "silver": "Silver", "bronze": "Bronze"}),
    "vip_or_member": TierConfig(
        segments={"gold": "Gold", "silver": "Silver", "bronze": "Bronze"}, default="Member"
    ),
}
# (e-mail, segments it is in, the value the destination holds)
PEOPLE = [
    ("both@x.com", ["silver", "gold"], None),  # in two tiers: the first of the list wins
    ("down@x.com", ["silver"], "Gold"),  # fell from gold to silver
    ("same@x.com", ["bronze"], "Bronze"),  # holds its tier already: nothing to do
    ("left@x.com", [], "Bronze"),  # in no tier any more: its old tier is cleared
    ("own@x.com", [], "Founder"),  # a value syncd never gives: left alone
    ("none@x.com", [], None),
]
SEGMENT_NAMES = ["gold", "silver", "bronze"]


def load(conn: sa.Connection) -> dict[str, int]:
    ids = {}
    for i, (email, segs, held) in enumerate(PEOPLE, start=1):
        ids[email] = i
        conn.execute(contacts.insert().values(id=i, email=email, created_at=NOW, updated_at=NOW))
        conn.execute(
            identities.insert().values(
                connector="esp", external_id=str(i), contact_id=i, updated_at=NOW
            )
        )
        for seg in segs:
            conn.execute(segment_members.insert().values(segment=seg, contact_id=i, since=NOW))
        if held is not None:
            conn.execute(
                attributes.insert().values(
                    contact_id=i, source="esp", name="TIER", value=held, updated_at=NOW
                )
            )
    return ids


def planned(conn: sa.Connection, tier: str) -> dict[str, tuple[str | None, str | None]]:
    dest = DestinationConfig(connector="esp", fields={"TIER": ComputedValue(tier=tier)})
    plan = plan_destination(conn, dest, frozenset(ChangeKind), TIERS)
    by_id = {i: email for email, i in load_ids(conn).items()}
    assert all(c.kind == ChangeKind.SET_FIELD and c.key == "TIER" for c in plan.changes)
    return {by_id[c.contact_id]: (c.old, c.value) for c in plan.changes}


def load_ids(conn: sa.Connection) -> dict[str, int]:
    return {e: i for i, e in conn.execute(sa.select(contacts.c.id, contacts.c.email))}


@pytest.mark.parametrize(
    ("tier", "others"),
    [
        pytest.param(
            "vip",
            {"left@x.com": ("Bronze", None)},  # cleared: it is in no tier
            id="the_first_segment_given_and_a_tier_left_taken_back",
        ),
        pytest.param(
            "vip_or_member",
            {
                "left@x.com": ("Bronze", "Member"),
                "own@x.com": ("Founder", "Member"),
                "none@x.com": (None, "Member"),
            },
            id="with_a_default_everyone_gets_a_value",
        ),
    ],
)
def test_a_tier_gives_the_first_segment_a_contact_is_in(
    store: sa.Engine, tier: str, others: dict[str, tuple[str | None, str | None]]
) -> None:
    with store.begin() as conn:
        load(conn)
        assert planned(conn, tier) == {
            "both@x.com": (None, "Gold"),
            "down@x.com": ("Gold", "Silver"),
            **others,
        }


def test_predictions_go_out_with_two_decimals_and_a_date(store: sa.Engine) -> None:
    rows = [
        (1, 0.125, 3.0, 1234.5, datetime(2026, 4, 2, 23, 59, tzinfo=UTC)),
        (2, 0.7, 0.0, None, None),
        (3, 1.0, 12.3456, 0.004, datetime(2027, 1, 1, tzinfo=UTC)),
    ]
    with store.begin() as conn:
        for cid, churn, orders, value, next_at in rows:
            conn.execute(
                contact_predictions.insert().values(
                    contact_id=cid, churn_risk=churn, p_alive=1 - churn, expected_orders=orders,
                    value=value, next_order_at=next_at, fitted_at=NOW,
                )
            )  # fmt: skip

        def values(name: str) -> dict[int, str | None]:
            query = desired_values(ComputedValue(predicted=name))  # type: ignore[arg-type]
            return {cid: value for cid, value in conn.execute(query)}

        assert values("churn_risk") == {1: "0.13", 2: "0.70", 3: "1.00"}
        assert values("expected_orders") == {1: "3.00", 2: "0.00", 3: "12.35"}
        assert values("value") == {1: "1234.50", 2: None, 3: "0.00"}
        assert values("next_order_at") == {1: "2026-04-02", 2: None, 3: "2027-01-01"}


# --- check ------------------------------------------------------------------------------

CONFIG = """connectors:
  shop: {type: files, contacts: contacts.jsonl}
  esp: {type: files, state: esp.json}
scores:
  lead_score:
    points: [{event: email_clicked, points: 5}]
segments:
  fine: {tag: VIP}
  tiers_seg: {tag: GOLD}
"""


@pytest.mark.parametrize(
    ("tail", "path", "message"),
    [
        (
            "tiers:\n  vip: {segments: [tiers_seg]}\n"
            "destinations:\n  - connector: esp\n    fields: {TIER: {tier: vpi}}\n",
            "destinations[0].fields.TIER.tier",
            "unknown tier 'vpi'; did you mean 'vip'?",
        ),
        (
            "tiers:\n  vip: {segments: [tiers_sg, fine]}\n",
            "tiers.vip.segments.tiers_sg",
            "unknown segment 'tiers_sg'; did you mean 'tiers_seg'?",
        ),
        (
            "destinations:\n  - connector: esp\n    fields: {S: {score: lead_scor}}\n",
            "destinations[0].fields.S.score",
            "unknown score 'lead_scor'; did you mean 'lead_score'?",
        ),
        (
            "destinations:\n  - connector: esp\n    fields: {S: lifecycle_stag}\n",
            "destinations[0].fields.S",
            "unknown field 'lifecycle_stag'; did you mean 'lifecycle_stage'? (declare it",
        ),
        (
            "destinations:\n  - connector: esp\n    fields: {S: {predicted: churn}}\n",
            "destinations[0].fields.S.predicted",
            "should be 'churn_risk', 'p_alive'",
        ),
        (
            "destinations:\n  - connector: esp\n    fields: {S: {tier: vip, score: lead_score}}\n",
            "destinations[0].fields.S",
            "give one of score: NAME, rfm: class|r|f|m|score, tier: NAME or predicted:",
        ),
    ],
)
def test_check_refuses_a_field_mapping_naming_an_unknown_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tail: str,
    path: str,
    message: str,
) -> None:
    (tmp_path / "contacts.jsonl").write_text("")
    monkeypatch.setenv("SYNCD_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    (tmp_path / "syncd.yaml").write_text(CONFIG + tail)
    capsys.readouterr()
    code = main(["--config", str(tmp_path / "syncd.yaml"), "check"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert f": {path}: " in lines[0] and message in lines[0], lines[0]


def test_a_tier_goes_out_through_a_sync_and_its_change_shows_old_and_new(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cycle import run, state

    config = env / "syncd.yaml"
    text = config.read_text().replace(
        "      LIFECYCLE: lifecycle_stage\n",
        "      LIFECYCLE: lifecycle_stage\n      TIER: {tier: buyer}\n",
    )
    text += (
        "tiers:\n  buyer:\n    segments: {loyal_customers: Loyal, customers: Customer}\n"
        "    default: Prospect\n"
    )
    config.write_text(text)
    assert run(env, "sync") == 0
    tiers = {e: c["fields"].get("TIER") for e, c in state(env).items()}
    assert tiers["ada.lovelace@example.com"] == "Loyal"  # loyal and a customer: loyal first
    assert tiers["alan@example.net"] == "Loyal"
    assert "Prospect" in tiers.values()
    # ada is no longer loyal (the segment redefined): the plan shows Loyal -> Customer
    config.write_text(
        config.read_text().replace(
            "loyal_customers:  {event: order_placed, count: {gte: 2}}",
            "loyal_customers:  {event: order_placed, count: {gte: 9}}",
        )
    )
    code, shown = plan_text(capsys, env)
    assert code == 0
    assert "    ~ ada.lovelace@example.com  Loyal → Customer" in shown.splitlines(), shown
