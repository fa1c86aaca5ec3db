"""The plan reads like a diff (grouped by tag, list and field, +, minus, ~ old → new, counts,
totals, the guard), in text and in --json; a plan kept in a file is applied exactly, once,
and refused in one line when it went stale, is damaged or is of another config."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.store.schema import attributes, contacts, tags
from tests.outbox_rows import queued
from tests.test_cli_process import syncd
from tests.test_cycle import change_log, run

MINUS = "\u2212"
AT = datetime(2026, 11, 20, 12, tzinfo=UTC)  # the sample's SYNCD_NOW


def plan_text(capsys: pytest.CaptureFixture[str], env: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run(env, "plan", "--quiet", *args)
    return code, capsys.readouterr().out


def execute(store_url: str, *statements: sa.Executable) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)
    engine.dispose()


def contact_id(store_url: str, email: str) -> int:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        found = conn.execute(sa.select(contacts.c.id).where(contacts.c.email == email)).scalar()
    engine.dispose()
    assert found is not None
    return int(found)


def test_the_plan_groups_changes_by_tag_list_and_field_with_counts(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown = plan_text(capsys, env)
    assert code == 0
    lines = shown.splitlines()
    assert lines[0] == "esp: 15 changes — +10 ~5"
    loyal = lines.index("  tag LOYAL  (+2)")
    assert lines[loyal + 1 : loyal + 3] == [
        "    + ada.lovelace@example.com",
        "    + alan@example.net",
    ]
    assert "  list Newsletter  (+3)" in lines
    assert "  field LIFECYCLE  (~5)" in lines
    assert "    ~ ada.lovelace@example.com  (none) → customer" in lines
    # groups in order: tags, then lists, then fields
    assert loyal < lines.index("  list Newsletter  (+3)") < lines.index("  field LIFECYCLE  (~5)")
    code, summary = plan_text(capsys, env, "--summary")
    assert "  tag LOYAL  (+2)" in summary and "ada.lovelace" not in summary


def test_a_field_shows_its_old_value_and_a_removal_its_minus(
    env: Path, capsys: pytest.CaptureFixture[str], store_url: str
) -> None:
    assert run(env, "sync", "--quiet") == 0
    ada = contact_id(store_url, "ada.lovelace@example.com")
    grace = contact_id(store_url, "grace@example.org")
    execute(
        store_url,
        # what syncd knew written at esp was changed there by hand
        attributes.update()
        .where(
            attributes.c.contact_id == ada,
            attributes.c.source == "esp",
            attributes.c.name == "LIFECYCLE",
        )
        .values(value="lead"),
        # syncd put LOYAL on grace, who is not a loyal customer: the plan takes it off
        tags.insert().values(
            contact_id=grace, source="esp", tag="LOYAL", name="LOYAL", managed=True, updated_at=AT
        ),
    )
    code, shown = plan_text(capsys, env, "--no-pull")
    assert code == 0, shown
    lines = shown.splitlines()
    assert lines[0] == f"esp: 2 changes — {MINUS}1 ~1"
    assert lines[1:5] == [
        f"  tag LOYAL  ({MINUS}1)",
        f"    {MINUS} grace@example.org",
        "  field LIFECYCLE  (~1)",
        "    ~ ada.lovelace@example.com  lead → customer",
    ]
    assert lines[5].startswith("  guard: 1 removal of ")
    capsys.readouterr()
    assert run(env, "plan", "--no-pull", "--json") == 0
    dest = json.loads(capsys.readouterr().out)["destinations"][0]
    assert (dest["total"], dest["added"], dest["removed"], dest["updated"]) == (2, 0, 1, 1)
    assert dest["guard"]["removals"] == 1 and dest["guard"]["holds"] is False
    field = next(g for g in dest["groups"] if g["type"] == "field")
    assert field["changes"] == [
        {"op": "~", "email": "ada.lovelace@example.com", "old": "lead", "new": "customer"}
    ]
    assert {
        "email": "grace@example.org",
        "kind": "remove_tag",
        "key": "LOYAL",
        "value": None,
        "old": None,
    } in dest["changes"]


def test_the_guard_says_what_it_holds_and_why(
    env: Path, capsys: pytest.CaptureFixture[str], store_url: str
) -> None:
    assert run(env, "sync", "--quiet") == 0
    config = env / "syncd.yaml"
    config.write_text(
        config.read_text().replace(
            "    mode: managed\n", "    mode: managed\n    max_removals: 0\n"
        )
    )
    grace = contact_id(store_url, "grace@example.org")
    execute(
        store_url,
        tags.insert().values(
            contact_id=grace, source="esp", tag="LOYAL", name="LOYAL", managed=True, updated_at=AT
        ),
    )
    code, shown = plan_text(capsys, env, "--no-pull")
    assert code == 3
    assert "  HELD: would remove 1 of " in shown and "max_removals allows (0)" in shown
    capsys.readouterr()
    assert run(env, "plan", "--no-pull", "--json") == 3
    dest = json.loads(capsys.readouterr().out)["destinations"][0]
    assert dest["held"] and dest["guard"] == {
        "removals": 1,
        "answerable": dest["guard"]["answerable"],
        "limit": 0,
        "holds": True,
    }


def test_a_dry_run_shows_the_same_diff(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, planned = plan_text(capsys, env)
    capsys.readouterr()
    assert run(env, "sync", "--dry-run") == 0
    shown = capsys.readouterr().out
    assert planned in shown and "dry run: nothing was sent" in shown


# --- a reviewed plan, kept in a file and applied exactly (the real process) ------------------


def cli(env: Path, *args: str) -> tuple[int, str, str]:
    done = syncd("--config", str(env / "syncd.yaml"), *args)
    return done.returncode, done.stdout, done.stderr


def test_a_reviewed_plan_is_applied_exactly_and_only_once(env: Path, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    code, shown, _ = cli(env, "plan", "--out", str(path))
    assert code == 0 and "esp: 15 changes" in shown
    content = json.loads(path.read_text())
    assert content["format"] == "syncd-plan/1"
    assert content["compute"]["id"] and content["destinations"][0]["digest"].startswith("sha256:")
    assert change_log(env) == []  # planning sent nothing
    code, shown, said = cli(env, "push", "--plan", str(path), "--quiet")
    assert code == 0, said
    sent = {(c.get("kind"), c.get("key")) for c in change_log(env)}
    applied = {(k, key) for _, k, key, _ in content["destinations"][0]["apply"]}
    assert len(change_log(env)) == 15 and sent <= applied | {(None, None)}
    code, _, said = cli(env, "push", "--plan", str(path))
    assert code == 2 and said.count("\n") == 1, said
    assert said.startswith(f"--plan {path}: stale: the outbox changed since it was made")
    assert len(change_log(env)) == 15


def test_a_plan_is_stale_once_the_store_computed_again(env: Path, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    assert cli(env, "plan", "--out", str(path), "--quiet")[0] == 0
    assert cli(env, "plan", "--no-pull", "--quiet")[0] == 0  # a compute of its own
    code, _, said = cli(env, "push", "--plan", str(path))
    assert code == 2 and said.count("\n") == 1
    assert "stale: the segments were computed again since it was made" in said
    assert change_log(env) == []


def test_a_plan_is_stale_once_a_pull_brought_changed_data(
    env: Path, tmp_path: Path, store_url: str
) -> None:
    """A pull without a compute (``syncd pull``, or a daemon's pull job) changed what the plan
    was computed from: the plan is refused before anything is sent."""
    path = tmp_path / "plan.json"
    assert cli(env, "plan", "--out", str(path), "--quiet")[0] == 0
    ada = contact_id(store_url, "ada.lovelace@example.com")
    execute(store_url, tags.insert().values(contact_id=ada, source="crm", tag="NEW", name="NEW",
                                            managed=False, updated_at=AT))  # fmt: skip
    code, _, said = cli(env, "push", "--plan", str(path))
    assert code == 2 and said.count("\n") == 1, said
    assert "stale: data was pulled since it was made (1 contacts changed" in said
    assert change_log(env) == []


def test_a_plan_is_stale_when_the_outbox_changed(env: Path, tmp_path: Path, store_url: str) -> None:
    path = tmp_path / "plan.json"
    assert cli(env, "plan", "--out", str(path), "--quiet")[0] == 0
    ada = contact_id(store_url, "ada.lovelace@example.com")
    execute(store_url, queued("esp", ada, "add_tag", "VIP", AT))
    code, _, said = cli(env, "push", "--plan", str(path))
    assert code == 2 and "stale: the outbox changed since it was made" in said
    assert change_log(env) == []


@pytest.mark.parametrize("damage", ["not json", "edited", "another config", "not a plan"])
def test_a_damaged_or_foreign_plan_is_refused_in_one_line(
    env: Path, tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "plan.json"
    assert cli(env, "plan", "--out", str(path), "--quiet")[0] == 0
    content = json.loads(path.read_text())
    said_part = {
        "not json": "not a syncd plan: not JSON",
        "edited": "its changes do not match their digest",
        "another config": "made with another config",
        "not a plan": "not a syncd plan",
    }[damage]
    if damage == "not json":
        path.write_text(path.read_text()[:-20])
    elif damage == "edited":
        content["destinations"][0]["apply"].pop()
        path.write_text(json.dumps(content))
    elif damage == "not a plan":
        path.write_text(json.dumps({"destinations": []}))
    else:
        config = env / "syncd.yaml"
        config.write_text(config.read_text().replace("      vip: VIP\n", "      vip: VIPS\n"))
    code, _, said = cli(env, "push", "--plan", str(path))
    assert code == 2 and said.count("\n") == 1 and said_part in said, said
    assert "Traceback" not in said
    assert change_log(env) == []
