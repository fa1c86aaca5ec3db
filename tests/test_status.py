"""``syncd status`` on the sample config, on SQLite and PostgreSQL: each schedule's last runs
(and one that never ran), one-shot runs, cursor ages, the outbox backlog, a held plan with
its reason, failed changes and quarantine, for people and as JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.cli import main
from syncd.store.schema import contacts, runs
from syncd.sync.outbox import write_plan
from syncd.sync.plan import DestinationPlan, PlannedChange
from syncd.sync.runs import recorded_run
from tests.outbox_rows import queued

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2, minutes=5)  # when status is asked
SCHEDULES = """schedules:
  every_15_minutes: {run: sync, every: 15m}
  nightly_push: {run: push, cron: '0 3 * * *', timezone: Europe/Warsaw, destinations: [esp]}
"""
REASON = "would remove 2 of 3 tags at esp, more than max_removals allows (1)"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, store_url: str, sample_dir: Path) -> Path:
    path = sample_dir / "syncd.yaml"
    text = re.sub(r"(?ms)^schedules:\n.*?(?=^\S|\Z)", SCHEDULES + "\n", path.read_text())
    path.write_text(text)
    monkeypatch.setenv("SYNCD_STORE_URL", store_url)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    return path


class Steps:
    """A clock that the test moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def scheduled_runs(store: sa.Engine) -> None:
    """Six runs of every_15_minutes, 15 minutes apart, the k-th taking 7k seconds, the last
    failing; then one still running, started at 14:00."""
    clock = Steps(NOW)
    for k in range(1, 7):
        clock.at = NOW + timedelta(minutes=15 * k)
        try:
            with recorded_run(store, "every_15_minutes", clock) as run:
                run.counts = {"pulled": k, "quarantined": 0, "pushed": 2 * k}
                clock.at += timedelta(seconds=7 * k)
                if k == 6:
                    raise RuntimeError("HTTP 503 from esp")
        except RuntimeError:
            pass
    with store.begin() as conn:
        conn.execute(
            runs.insert().values(
                id="running",
                job="every_15_minutes",
                started_at=NOW + timedelta(hours=2),
                outcome="running",
            )
        )


def held_and_failed(store: sa.Engine) -> None:
    with store.begin() as conn:
        ids = list(conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id).limit(2)))
        changes = [PlannedChange(cid, "remove_tag", "VIP") for (cid,) in ids]
        write_plan(conn, DestinationPlan("esp", changes, held=True, reason=REASON), "r1", NOW)
        refused = "esp refused field LIFECYCLE: unknown option"
        conn.execute(
            queued(
                "esp", ids[0][0], "set_field", "LIFECYCLE", NOW,
                value="x" * 3, status="failed", attempts=1, last_error=refused,
            )
        )  # fmt: skip


def status(config: Path, monkeypatch: pytest.MonkeyPatch, capsys, *args: str) -> str:
    monkeypatch.setenv("SYNCD_NOW", LATER.isoformat())
    capsys.readouterr()
    assert main(["--config", str(config), "status", *args]) == 0
    return str(capsys.readouterr().out)


@pytest.fixture
def filled(config: Path, store: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    monkeypatch.setenv("SYNCD_NOW", NOW.isoformat())
    assert main(["--config", str(config), "sync"]) == 0  # a one-shot run at NOW
    scheduled_runs(store)
    held_and_failed(store)
    return config


def test_status_json_has_each_schedule_its_runs_and_the_store(
    filled: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    data = json.loads(status(filled, monkeypatch, capsys, "--json"))
    assert data["now"] == LATER.isoformat()
    every, nightly = data["schedules"]
    assert (every["name"], every["run"], every["trigger"]) == (
        "every_15_minutes",
        "sync",
        "every 15m",
    )
    assert (nightly["name"], nightly["trigger"], nightly["destinations"]) == (
        "nightly_push",
        "cron '0 3 * * *' in Europe/Warsaw",
        ["esp"],
    )
    assert nightly["runs"] == [] and nightly["last_ok"] is None
    # the last five: the running one, the failed sixth, then the fifth to the third
    runs = every["runs"]
    assert [r["outcome"] for r in runs] == ["running", "failed", "ok", "ok", "ok"]
    assert [r["started_at"] for r in runs] == [
        (NOW + timedelta(minutes=m)).isoformat() for m in (120, 90, 75, 60, 45)
    ]
    assert [r["duration_seconds"] for r in runs] == [300.0, 42.0, 35.0, 28.0, 21.0]
    assert runs[0]["finished_at"] is None
    assert runs[1]["error"] == "RuntimeError: HTTP 503 from esp"
    assert runs[2]["counts"] == {"pulled": 5, "quarantined": 0, "pushed": 10}
    assert every["last_ok"] == (NOW + timedelta(minutes=75)).isoformat()
    # the one-shot sync is not any schedule's
    [sync] = data["one_shot_runs"]
    assert (sync["job"], sync["outcome"], sync["started_at"]) == ("sync", "ok", NOW.isoformat())
    assert sync["counts"]["pushed"] == 15
    # and the last runs of any job, newest first
    assert [(r["job"], r["outcome"]) for r in data["runs"][:3]] == [
        ("every_15_minutes", "running"),
        ("every_15_minutes", "failed"),
        ("every_15_minutes", "ok"),
    ]
    assert data["runs"][-1] == sync
    assert {(c["connector"], c["stream"], c["age_seconds"]) for c in data["cursors"]} == {
        ("crm", "contacts", 7500.0),
        ("shop", "contacts", 7500.0),
        ("shop", "events", 7500.0),
    }
    assert data["outbox"] == [
        {"destination": "esp", "status": "failed", "count": 1, "claimed": 0},
        {"destination": "esp", "status": "held", "count": 2, "claimed": 0},
    ]
    assert data["held"] == [
        {"destination": "esp", "changes": 2, "since": NOW.isoformat(), "reason": REASON}
    ]
    [failed] = data["failed_changes"]
    assert (failed["key"], failed["last_error"]) == (
        "LIFECYCLE",
        "esp refused field LIFECYCLE: unknown option",
    )
    counts = {(q["connector"], q["stream"]): q["count"] for q in data["quarantine"]["counts"]}
    assert sum(counts.values()) == sync["counts"]["quarantined"] > 0


def section(text: str, title: str) -> str:
    """The lines of ``text`` from the one starting with ``title`` to the next blank line."""
    start = text.index("\n" + title) + 1
    end = text.find("\n\n", start)
    return text[start : end if end >= 0 else None]


def test_status_for_people_says_the_same_in_tables(
    filled: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    text = status(filled, monkeypatch, capsys)
    every = section(text, "every_15_minutes").splitlines()
    assert every[0] == "every_15_minutes (sync, every 15m): last ok 2026-11-20 13:15:00"
    rows = [re.split(r"\s{2,}", line) for line in every[2:]]
    assert rows == [
        ["2026-11-20 14:00:00", "5m", "running", "-", "-"],
        [
            "2026-11-20 13:30:00",
            "42s",
            "failed",
            "pulled 6, pushed 12",
            "RuntimeError: HTTP 503 from esp",
        ],
        ["2026-11-20 13:15:00", "35s", "ok", "pulled 5, pushed 10", "-"],
        ["2026-11-20 13:00:00", "28s", "ok", "pulled 4, pushed 8", "-"],
        ["2026-11-20 12:45:00", "21s", "ok", "pulled 3, pushed 6", "-"],
    ]
    assert "nightly_push (push to esp, cron '0 3 * * *' in Europe/Warsaw): never run" in text
    other = section(text, "other runs").splitlines()
    assert re.split(r"\s{2,}", other[2])[:4] == ["2026-11-20 12:00:00", "sync", "0s", "ok"]
    assert "pushed 15" in other[2]
    cursors = [re.split(r"\s{2,}", c) for c in section(text, "cursors:").splitlines()[2:]]
    assert cursors == [
        ["crm", "contacts", "2026-11-20 12:00:00", "2h 5m"],
        ["shop", "contacts", "2026-11-20 12:00:00", "2h 5m"],
        ["shop", "events", "2026-11-20 12:00:00", "2h 5m"],
    ]
    held = section(text, "held plans").splitlines()
    assert "'syncd push --confirm' sends them" in held[0]
    assert re.split(r"\s{2,}", held[2]) == ["esp", "2", "2026-11-20 12:00:00", REASON]
    dests = [re.split(r"\s{2,}", r) for r in section("\n" + text, "destinations:").splitlines()]
    why = "2026-11-20 12:00:00: esp refused field LIFECYCLE: unknown option"
    assert dests[2] == ["esp", "0", "0", "2", "1", "0", why]
    assert "esp refused field LIFECYCLE: unknown option" in section(text, "failed changes")


def test_status_of_an_empty_store_says_each_schedule_never_ran(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    text = status(config, monkeypatch, capsys)
    assert "every_15_minutes (sync, every 15m): never run" in text
    assert "held plans: none" in text
    assert section(text, "cursors:").splitlines()[-1] == "(none)"
