"""Seeing and explaining segments, and computed values sent out as fields, on the sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncd.cli import main
from tests.test_cycle import change_log, run, state


def out_json(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> dict:
    capsys.readouterr()
    assert main(["--config", str(config / "syncd.yaml"), *args, "--json"]) == 0
    data: dict = json.loads(capsys.readouterr().out)
    return data


def test_list_shows_sizes_and_last_change(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = out_json(capsys, env, "segments", "list")["segments"]
    assert {row["size"] for row in before} == {None}  # nothing computed yet
    assert run(env, "sync") == 0
    rows = {r["name"]: r for r in out_json(capsys, env, "segments", "list")["segments"]}
    assert rows["loyal_customers"]["size"] == 2
    assert rows["loyal_customers"]["changed_at"].startswith("2026-11-20")


def test_show_gives_definition_sql_and_members(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(env, "sync") == 0
    shown = out_json(capsys, env, "segments", "show", "loyal_customers", "--sql")
    assert shown["definition"] == {"event": "order_placed", "count": {"gte": 2}}
    assert "order_placed" in shown["sql"] and "count(*) >= 2" in shown["sql"]
    assert {m["email"] for m in shown["sample"]} == {
        "ada.lovelace@example.com",
        "alan@example.net",
    }
    limited = out_json(capsys, env, "segments", "show", "loyal_customers", "--limit", "1")
    assert len(limited["sample"]) == 1 and limited["size"] == 2


def test_explain_says_which_part_decided(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(env, "sync") == 0
    # grace: abandoned a cart and has not ordered
    grace = out_json(
        capsys, env, "segments", "explain", "cart_abandoners", "--contact", "Grace@Example.org"
    )
    assert grace["matched"] is True
    cart, no_order = grace["parts"]
    assert cart["matched"] is True and cart["values"]["count"] >= 1
    assert no_order["rule"] == "not" and no_order["matched"] is True
    assert no_order["parts"][0]["values"] == {"count": 0}
    # ada ordered: the not part fails, with the count that decided it
    ada = out_json(
        capsys,
        env,
        "segments",
        "explain",
        "cart_abandoners",
        "--contact",
        "ada.lovelace@example.com",
    )
    assert ada["matched"] is False
    cart, no_order = ada["parts"]
    assert cart["matched"] is True  # a cart on 8 November...
    assert no_order["matched"] is False  # ...but an order on the 10th
    assert no_order["parts"][0]["values"]["count"] == 1
    capsys.readouterr()
    code = main(
        ["--config", str(env / "syncd.yaml"), "segments", "explain", "vip", "--contact", "x@y.z"]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == "no contact with e-mail 'x@y.z' in the store"


def test_a_score_and_the_rfm_go_out_as_fields(env: Path) -> None:
    config = env / "syncd.yaml"
    text = config.read_text().replace(
        "      LIFECYCLE: lifecycle_stage\n",
        "      LIFECYCLE: lifecycle_stage\n"
        "      LEAD_SCORE: {score: lead_score}\n"
        "      RFM_CLASS: {rfm: class}\n"
        "      RFM: {rfm: score}\n",
    )
    config.write_text(text)
    assert run(env, "sync") == 0
    fields = {email: c["fields"] for email, c in state(env).items()}
    # three buyers, n = 3: recency ranks barbara 1, ada 2, alan 3 -> r 1, 2, 4;
    # frequency barbara 1, ada and alan tie at rank 2 -> f 1, 2, 2; monetary -> m 1, 2, 4.
    # barbara is in no segment sent to the e-mail tool, so only ada and alan get fields.
    rfm = {e: (f.get("RFM"), f.get("RFM_CLASS")) for e, f in fields.items() if "RFM" in f}
    assert rfm == {
        "ada.lovelace@example.com": ("222", "about_to_sleep"),
        "alan@example.net": ("424", "potential_loyalists"),
    }
    scored = {e for e, f in fields.items() if "LEAD_SCORE" in f}
    assert scored == {"edsger@example.org", "margaret@example.org"}  # the two who clicked
    # 5 points, halved every 30 days: 8.2 days ago -> 4.1; 111.2 days ago -> 0.4
    assert fields["edsger@example.org"]["LEAD_SCORE"] == "4"
    assert fields["margaret@example.org"]["LEAD_SCORE"] == "0"
    sent = len(change_log(env))
    assert run(env, "sync") == 0
    assert len(change_log(env)) == sent  # a second sync sends nothing more


def test_last_change_moves_only_when_members_change(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(env, "sync") == 0
    monkeypatch.setenv("SYNCD_NOW", "2026-11-20T13:00:00Z")
    assert run(env, "sync") == 0  # an hour later, with the same data
    rows = {r["name"]: r for r in out_json(capsys, env, "segments", "list")["segments"]}
    assert rows["loyal_customers"]["changed_at"].startswith("2026-11-20T12:00")
    assert rows["loyal_customers"]["computed_at"].startswith("2026-11-20T13:00")
