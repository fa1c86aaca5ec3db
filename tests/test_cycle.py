"""One whole cycle on the sample config, on SQLite and PostgreSQL: the behaviours of DESIGN.md."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from syncd.cli import main
from syncd.store.schema import outbox

# What the sample config puts into the e-mail tool at SAMPLE_NOW (see config/syncd.yaml).
EXPECTED = {
    "ada.lovelace@example.com": {
        "tags": ["LOYAL", "VIP"],
        "lists": {},
        "fields": {"LIFECYCLE": "customer"},
    },
    "alan@example.net": {"tags": ["LOYAL"], "lists": {}, "fields": {"LIFECYCLE": "customer"}},
    "grace@example.org": {
        "tags": ["ANNA", "CART_ABANDONED"],
        "lists": {"Newsletter": "subscribed"},
        "fields": {"LIFECYCLE": "lead"},
    },
    "edsger@example.org": {
        "tags": ["ANNA", "ENGAGED"],
        "lists": {"Newsletter": "subscribed"},
        "fields": {"LIFECYCLE": "lead"},
    },
    "margaret@example.org": {
        "tags": [],
        "lists": {"Newsletter": "subscribed"},
        "fields": {"LIFECYCLE": "lead"},
    },
}


def run(config_dir: Path, *args: str) -> int:
    return main(["--config", str(config_dir / "syncd.yaml"), *args])


def state(config_dir: Path) -> dict:
    path = config_dir.parent / "var" / "esp" / "state.json"
    return json.loads(path.read_text())["contacts"] if path.exists() else {}


def change_log(config_dir: Path) -> list[dict]:
    path = config_dir.parent / "var" / "esp" / "state.changes.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def outbox_rows(store_url: str) -> list[tuple]:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.id, outbox.c.status, outbox.c.kind, outbox.c.key)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_sync_puts_the_expected_state_and_a_second_sync_changes_nothing(env: Path, capsys) -> None:
    assert run(env, "sync") == 0
    assert state(env) == EXPECTED
    sent = len(change_log(env))
    assert sent == 15
    capsys.readouterr()
    assert run(env, "sync", "--json") == 0
    second = json.loads(capsys.readouterr().out)
    assert second["destinations"][0]["changes"] == []
    assert len(change_log(env)) == sent


def test_plan_lists_what_sync_then_does_and_touches_nothing(
    env: Path, store_url: str, capsys
) -> None:
    assert run(env, "pull") == 0
    capsys.readouterr()
    assert run(env, "plan", "--json") == 0
    planned = json.loads(capsys.readouterr().out)["destinations"][0]["changes"]
    assert state(env) == {} and change_log(env) == []
    assert outbox_rows(store_url) == []
    assert run(env, "sync", "--dry-run", "--json") == 0
    dry = json.loads(capsys.readouterr().out)["destinations"][0]["changes"]
    assert dry == planned
    assert state(env) == {} and outbox_rows(store_url) == []
    assert run(env, "sync") == 0
    done = {(c["kind"], c["email"], c["key"], c.get("value")) for c in change_log(env)}
    assert done == {(c["kind"], c["email"], c["key"], c["value"]) for c in planned}


def test_one_new_event_changes_exactly_that_contact(env: Path) -> None:
    assert run(env, "sync") == 0
    before = len(change_log(env))
    with (env / "samples" / "shop_events.jsonl").open("a") as f:
        f.write(
            json.dumps(
                {
                    "id": "o9",
                    "email": "barbara@example.net",
                    "type": "order_placed",
                    "at": "2026-11-19T10:00:00Z",
                }
            )
            + "\n"
        )
    assert run(env, "sync") == 0
    new = change_log(env)[before:]
    assert {c["email"] for c in new} == {"barbara@example.net"}
    assert [(c["kind"], c["key"]) for c in new if c["kind"] == "add_tag"] == [("add_tag", "LOYAL")]


def test_invalid_records_are_quarantined_and_shown_and_the_rest_completes(
    env: Path, capsys
) -> None:
    assert run(env, "sync") == 0
    capsys.readouterr()
    assert run(env, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    reasons = sorted(q["reason"] for q in status["quarantine"]["latest"])
    assert any("malformed e-mail 'not-an-address'" in r for r in reasons)
    assert any("no e-mail" in r for r in reasons)
    assert any("tags must be a list" in r for r in reasons)
    assert any("yesterday" in r for r in reasons)
    counts = {(c["connector"], c["stream"]): c["count"] for c in status["quarantine"]["counts"]}
    assert counts == {("shop", "contacts"): 3, ("shop", "events"): 1}
    assert state(env) == EXPECTED
    assert status["runs"][0]["outcome"] == "ok"


def test_a_source_that_empties_is_held_by_the_guard_until_confirmed(env: Path, capsys) -> None:
    assert run(env, "sync") == 0
    capsys.readouterr()
    # every order disappears from the shop's file: the LOYAL tags would all go
    events = env / "samples" / "shop_events.jsonl"
    events.write_text("")
    config = env / "syncd.yaml"
    config.write_text(
        config.read_text().replace("mode: managed", "mode: managed\n    max_removals: 1")
    )
    (env.parent / "var").mkdir(exist_ok=True)
    # the store still has the events; drop them as a vanished source would
    from syncd.config import load_config

    url = load_config(config).store.url
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events WHERE type = 'order_placed'"))
    engine.dispose()
    assert run(env, "sync") == 3
    out = capsys.readouterr().out
    assert "HELD" in out and "max_removals" in out
    assert state(env)["alan@example.net"]["tags"] == ["LOYAL"]  # nothing was removed
    assert run(env, "push", "--confirm") == 0
    assert state(env)["alan@example.net"]["tags"] == []


def test_managed_mode_leaves_tags_syncd_did_not_add(env: Path) -> None:
    assert run(env, "sync") == 0
    # someone adds LOYAL by hand to a contact who is not loyal
    path = env.parent / "var" / "esp" / "state.json"
    data = json.loads(path.read_text())
    data["contacts"]["grace@example.org"]["tags"].append("LOYAL")
    path.write_text(json.dumps(data))
    assert run(env, "sync") == 0
    assert "LOYAL" in state(env)["grace@example.org"]["tags"]
    config = env / "syncd.yaml"
    config.write_text(config.read_text().replace("mode: managed", "mode: mirror"))
    assert run(env, "sync") == 0
    assert "LOYAL" not in state(env)["grace@example.org"]["tags"]


def test_add_only_never_removes(env: Path) -> None:
    config = env / "syncd.yaml"
    config.write_text(config.read_text().replace("mode: managed", "mode: add_only"))
    assert run(env, "sync") == 0
    (env / "samples" / "shop_events.jsonl").write_text("")
    from syncd.config import load_config

    engine = sa.create_engine(load_config(config).store.url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events"))
    engine.dispose()
    assert run(env, "sync") == 0
    assert state(env)["ada.lovelace@example.com"]["tags"] == ["LOYAL", "VIP"]


def test_never_subscribes_who_revoked_consent_or_unsubscribed(env: Path) -> None:
    assert run(env, "sync") == 0
    assert "katherine@example.com" not in state(env)  # a prospect, but consent revoked
    path = env.parent / "var" / "esp" / "state.json"
    data = json.loads(path.read_text())
    data["contacts"]["grace@example.org"]["lists"]["Newsletter"] = "unsubscribed"
    path.write_text(json.dumps(data))
    assert run(env, "sync") == 0
    assert state(env)["grace@example.org"]["lists"]["Newsletter"] == "unsubscribed"


def test_precedence_picks_the_crm_over_the_shop(env: Path, capsys) -> None:
    assert run(env, "sync") == 0
    from syncd.config import load_config
    from syncd.queries import contact_field_values

    engine = sa.create_engine(load_config(env / "syncd.yaml").store.url)
    with engine.connect() as conn:
        ada = contact_field_values(conn, "ada.lovelace@example.com")
    assert ada["first_name"] == "Augusta Ada"  # crm
    assert ada["country"] == "UK"  # crm, over the shop's GB
    assert ada["last_name"] == "Lovelace"  # only the shop knows it
    config = env / "syncd.yaml"
    config.write_text(
        config.read_text().replace("precedence: [crm, shop]", "precedence: [shop, crm]")
    )
    assert run(env, "pull") == 0
    with engine.connect() as conn:
        ada = contact_field_values(conn, "ada.lovelace@example.com")
    engine.dispose()
    assert ada["first_name"] == "Ada" and ada["country"] == "GB"
