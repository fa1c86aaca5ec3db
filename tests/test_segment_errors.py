"""Mistakes in segments are found by `syncd check` before anything runs: one line with the
file, the line and the YAML path, exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.cli import main

HEAD = """connectors:
  shop: {type: files, contacts: contacts.jsonl}
fields:
  pickup_date: date
scores:
  lead_score:
    points: [{event: email_clicked, points: 5}]
segments:
  fine: {tag: VIP}
"""  # the segment under test goes on line 10

CASES = [
    ("{field: shoe_size, eq: 42}", "segments.bad.field", "unknown field 'shoe_size'"),
    ("{event: webinar_attended}", "segments.bad.event", "unknown event type 'webinar_attended'"),
    ("{tag: VIP, source: crm}", "segments.bad.source", "unknown source 'crm'"),
    ("{segment: loyal}", "segments.bad.segment", "unknown segment 'loyal' (known: bad, fine)"),
    ("{event: email_clicked, within: 30 parsecs}", "segments.bad.within", "parsecs"),
    ("{field: pickup_date, gt: 5}", "segments.bad.gt", "pickup_date' is date, compared with"),
    ("{field: first_name, within: 30d}", "segments.bad.within", "needs a date field"),
    ("{score: lead, gte: 10}", "segments.bad.score", "unknown score 'lead' (scores: lead_score)"),
    ("{score: lead_score, top: 150%}", "segments.bad.top", "top takes a share"),
    ("{rfm: {class: gold}}", "segments.bad.rfm.class", "unknown RFM class 'gold'"),
    ("{tag: VIP, colour: red}", "segments.bad.colour", "unknown key 'colour'"),
    ("{purchases: {count: {gte: -1}}}", "segments.bad.purchases.count.gte", "whole number"),
    ("{all: []}", "segments.bad.all", "non-empty list"),
    (
        "{bought: {colour: red}}",
        "segments.bad.bought.colour",
        "unknown key 'colour' (allowed here: within, product",
    ),
    ("{bought: {price: cheap}}", "segments.bad.bought.price", "price is a number, compared"),
    ("{bought: {sku: 1.5}}", "segments.bad.bought.sku", "sku is text, compared with 1.5"),
    ("{spent: {where: {sku: X}}}", "segments.bad.spent", "spent needs a test on the sum"),
    (
        "{purchases: {where: {category: {like: Run}}, count: 1}}",
        "segments.bad.purchases.where.category.like",
        "unknown test 'like'",
    ),
    (
        '{sql: "SELECT contact_id FROM no_such_view"}',
        "segments.bad.sql",
        "segment 'bad': the SQL fails on SQLite: no such table: no_such_view",
    ),
    (
        '{sql: "SELECT contact_id FROM syncd_events WHERE occurred_at >= :since"}',
        "segments.bad.sql",
        "the SQL uses :since, which syncd does not bind (bound: :now, :today;",
    ),
    (
        '{sql: "SELECT contact_id FROM syncd_contacts", params: {since: {ago: 30d}}}',
        "segments.bad.params.since",
        "the SQL does not use :since",
    ),
    (
        '{sql: "SELECT contact_id FROM syncd_events WHERE occurred_at >= :s", '
        "params: {s: {ago: soon}}}",
        "segments.bad.params.s.ago",
        "bad duration 'soon'",
    ),
    (
        '{sql: "SELECT contact_id FROM syncd_events WHERE occurred_at >= :s", params: {s: [1]}}',
        "segments.bad.params.s",
        "a parameter takes one value",
    ),
]


def check(
    folder: Path, capsys: pytest.CaptureFixture[str], tail: str, files: dict[str, str] | None = None
) -> tuple[Path, int, list[str]]:
    """``syncd check`` of HEAD then ``tail`` as ``folder/syncd.yaml``, with ``files`` (by path
    under ``folder``) beside it: the config, the exit code and the lines on stderr."""
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    config = folder / "syncd.yaml"
    config.write_text(HEAD + tail)
    capsys.readouterr()
    code = main(["--config", str(config), "check"])
    return config, code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "contacts.jsonl").write_text("")
    monkeypatch.setenv("SYNCD_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    return tmp_path


@pytest.mark.parametrize(("rule", "path", "message"), CASES, ids=[c[2][:30] for c in CASES])
def test_a_segment_mistake_is_one_line_with_file_line_and_path(
    folder: Path, rule: str, path: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config, code, lines = check(folder, capsys, f"  bad: {rule}\n")
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{config}:10: {path}: "), lines[0]
    assert message in lines[0]


def test_a_cycle_is_named(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, code, lines = check(folder, capsys, "  a: {segment: b}\n  b: {not: {segment: a}}\n")
    assert code == 2 and len(lines) == 1
    assert "cycle: a -> b -> a" in lines[0]


def test_a_mistake_in_an_included_file_names_that_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = "segments:\n  ok: {tag: A}\n  broken: {tag: A, x: 1}\n"
    _, code, lines = check(folder, capsys, "include: [lib]\n", {"lib/mine.yaml": mine})
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(
        f"{folder / 'lib' / 'mine.yaml'}:3: segments.broken.x: unknown key 'x'"
    )


def test_an_entry_of_the_config_replaces_a_broken_included_one(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = "segments:\n  broken: {tag: A, x: 1}\n"
    tail = "  broken: {tag: B}\ninclude: [lib]\n"
    _, code, lines = check(folder, capsys, tail, {"lib/mine.yaml": mine})
    assert code == 0, lines


def test_a_name_defined_in_two_included_files_is_an_error(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = "segments:\n  twice: {tag: A}\n"
    tail = "include: [a.yaml, b.yaml]\n"
    _, code, lines = check(folder, capsys, tail, {"a.yaml": twice, "b.yaml": twice})
    assert code == 2 and len(lines) == 1
    assert "segment 'twice' is defined twice: also in" in lines[0]
    assert lines[0].startswith(f"{folder / 'b.yaml'}:2: segments.twice:")


def test_a_missing_include_is_reported(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, code, lines = check(folder, capsys, "include: [nowhere.yaml]\n")
    assert code == 2 and lines == [
        f"{config}:10: include[0]: included file not found: 'nowhere.yaml'"
    ]


# a query written for SQLite's date functions, and the same one with syncd's parameters
SQLITE_ONLY = "SELECT contact_id FROM syncd_events WHERE occurred_at >= datetime('now', '-30 days')"
PORTABLE = (
    '{sql: "SELECT contact_id FROM syncd_events WHERE occurred_at >= :since", '
    "params: {since: {ago: 30d}}}"
)


@pytest.mark.postgres
def test_check_refuses_a_query_of_another_dialect_on_the_configured_store(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import pg_schema

    tail = f'  bad: {{sql: "{SQLITE_ONLY}"}}\n  good: {PORTABLE}\n'
    _, code, lines = check(folder, capsys, tail)
    assert code == 0, lines  # SQLite knows datetime()
    with pg_schema() as url:
        monkeypatch.setenv("SYNCD_STORE_URL", url)
        config, code, lines = check(folder, capsys, tail)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(
        f"{config}:10: segments.bad.sql: segment 'bad': the SQL fails on "
        "PostgreSQL: function datetime("
    ), lines[0]


def test_check_reports_every_failing_query(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tail = (
        '  bad: {sql: "SELECT contact_id FROM nowhere"}\n'
        '  worse: {sql: "SELECT email FROM syncd_contacts"}\n'
    )
    config, code, lines = check(folder, capsys, tail)
    assert code == 2 and len(lines) == 2, lines
    assert lines[0].startswith(f"{config}:10: segments.bad.sql: segment 'bad': the SQL fails")
    assert lines[1].startswith(f"{config}:11: segments.worse.sql: segment 'worse':")
    assert "contact_id" in lines[1]
