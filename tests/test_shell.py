"""The command line in process: a dry run and a plan move no cursor and write no outbox,
`segments show` says when it shows part of a segment and exports all of it, and a name
mistyped gets a "did you mean"."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.cli import did_you_mean, main, read_argv, without_name
from syncd.store.schema import cursors
from tests.test_cycle import change_log, outbox_rows, run


def out_json(capsys: pytest.CaptureFixture[str], env: Path, *args: str) -> dict:
    capsys.readouterr()
    assert run(env, *args, "--json") == 0
    data: dict = json.loads(capsys.readouterr().out)
    return data


def stored_cursors(store_url: str) -> list[tuple]:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cursors.c.connector, cursors.c.stream, cursors.c.value))
        found = sorted(tuple(r) for r in rows)
    engine.dispose()
    return found


def pulled(report: dict) -> dict:
    return {n: {k: v for k, v in c.items() if k != "events_linked"} for n, c in report.items()}


def test_a_dry_run_moves_no_cursor_and_the_next_sync_pulls_the_same(
    env: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dry = out_json(capsys, env, "sync", "--dry-run")
    planned = dry["destinations"][0]["changes"]
    assert sum(c.get("contacts", 0) for c in dry["pulled"].values()) > 0 and planned
    assert stored_cursors(store_url) == [] and outbox_rows(store_url) == []
    real = out_json(capsys, env, "sync")
    assert pulled(real["pulled"]) == pulled(dry["pulled"])  # the same records again
    assert stored_cursors(store_url) != []  # a real sync does move them
    done = {(c["kind"], c["email"], c["key"], c.get("value")) for c in change_log(env)}
    assert done == {(c["kind"], c["email"], c["key"], c["value"]) for c in planned}


def test_plan_pulls_first_and_moves_nothing(
    env: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run(env, "plan", "--no-pull") == 0
    assert "planned on the stored data: nothing pulled yet (--no-pull)" in capsys.readouterr().out
    stale = out_json(capsys, env, "plan", "--no-pull")
    assert stale["pulled"] is None and stale["stored_as_of"] is None
    assert stale["destinations"][0]["changes"] == []
    fresh = out_json(capsys, env, "plan")
    assert fresh["pulled"]["shop"]["contacts"] > 0
    planned = fresh["destinations"][0]["changes"]
    assert len(planned) == 15
    assert stored_cursors(store_url) == [] and outbox_rows(store_url) == []
    assert change_log(env) == []
    # what the plan pulled is stored data, with its age, though no cursor moved
    capsys.readouterr()
    assert run(env, "plan", "--no-pull") == 0
    said = capsys.readouterr().out
    assert "planned on the stored data: last pulled 2026-11-20 12:00:00 (0s ago)" in said
    assert "esp: 15 changes" in said
    assert run(env, "sync") == 0
    assert len(change_log(env)) == 15
    capsys.readouterr()
    assert run(env, "plan", "--no-pull") == 0
    assert "planned on the stored data: last pulled 2026-11-20" in capsys.readouterr().out


def test_show_says_when_it_shows_part_and_exports_every_member(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(env, "sync") == 0
    capsys.readouterr()
    assert run(env, "segments", "show", "loyal_customers", "--limit", "1") == 0
    text = capsys.readouterr().out
    assert text.rstrip().splitlines()[-1] == "1 of 2; --all for every member"
    assert run(env, "segments", "show", "loyal_customers") == 0
    assert "of 2" not in capsys.readouterr().out  # all shown: nothing to add
    assert run(env, "segments", "show", "loyal_customers", "--all", "--limit", "1") == 0
    text = capsys.readouterr().out
    assert "ada.lovelace@example.com" in text and "alan@example.net" in text
    assert "--all for every member" not in text
    shown = out_json(capsys, env, "segments", "show", "loyal_customers", "--limit", "1")
    assert shown["members_shown"] == 1 and shown["size"] == 2
    assert run(env, "segments", "show", "loyal_customers", "--all", "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["email", "since"]
    assert [r[0] for r in rows[1:]] == ["ada.lovelace@example.com", "alan@example.net"]
    assert all(r[1].startswith("20") for r in rows[1:])
    assert run(env, "segments", "show", "loyal_customers", "--format", "jsonl") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["email"] for m in lines] == ["ada.lovelace@example.com", "alan@example.net"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["segments", "show", "loyal_customer"],
            "unknown segment 'loyal_customer'; did you mean 'loyal_customers'?",
        ),
        (
            ["segments", "explain", "vipp", "--contact", "a@b.c"],
            "unknown segment 'vipp'; did you mean 'vip'?",
        ),
        (["pull", "shp"], "unknown connector instance 'shp'; did you mean 'shop'?"),
    ],
)
def test_a_mistyped_name_gets_did_you_mean(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    capsys.readouterr()
    assert run(env, *args) == 2
    assert capsys.readouterr().err == said + "\n"


def test_a_name_nothing_like_any_lists_the_known() -> None:
    assert did_you_mean("segment", "zzz", ["a", "b"]) == "unknown segment 'zzz' (known: a, b)"


def test_global_options_are_read_wherever_they_stand() -> None:
    read = read_argv(["status", "--json", "--config", "x.yaml"])
    assert (read.command, read.config, read.json) == ("status", "x.yaml", True)
    assert read.args == ["--config", "x.yaml", "--json", "status"]
    assert read_argv(["segments", "show", "a", "--config=y.yaml"]).config == "y.yaml"
    demo = read_argv(["--json", "demo", "--people", "10"])  # the demo reads its own --json
    assert demo.argv == ["--json", "--people", "10"] and not demo.json
    assert read_argv(["demo", "--json"]).argv == ["--json"]
    assert read_argv(["run", "--config", "z.yaml", "--health", ":1"]).argv == ["--health", ":1"]


def test_an_error_does_not_repeat_the_name_it_follows() -> None:
    assert without_name("ac", "ac: ac: HTTP 500") == "HTTP 500"
    assert without_name("ac", "acme: HTTP 500") == "acme: HTTP 500"


def test_usage_mistakes_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, said in (
        (["stauts"], "syncd: No such command 'stauts'. Did you mean 'status'?"),
        (["status", "--bogus"], "syncd status: No such option: --bogus"),
        (["segments", "show"], "syncd segments show: Missing argument 'NAME'"),
        (["segments", "show", "x", "--format", "xml"], "--format"),
        (["--config"], "--config needs a FILE"),
    ):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, (argv, err)
