"""``syncd demo`` end to end, in-process: the emulators the plugins register on loopback,
three real cycles, and a summary that says what the store and the tools hold."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from syncd.cli import main
from syncd.demo import shop
from syncd.plugins import get_plugin_manager

PEOPLE = "60"  # seed 7: every mapped segment has members, the first sync takes a few seconds


@pytest.fixture
def emulators(monkeypatch: pytest.MonkeyPatch) -> list[list[shop.Tool]]:
    """The tools of each demo run, kept to read their emulators' state after it."""
    return _keep_emulators(monkeypatch)


@dataclass
class DemoRun:
    """``syncd demo`` run into ``folder`` (in the test's tmp_path) with more arguments: its
    exit code and what it printed."""

    folder: Path
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str) -> tuple[int, pytest.CaptureResult[str]]:
        code = main(["demo", "--dir", str(self.folder), *args])
        return code, self.capsys.readouterr()


@pytest.fixture
def demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> DemoRun:
    return DemoRun(tmp_path / "d", capsys)


def _keep_emulators(monkeypatch: pytest.MonkeyPatch) -> list[list[shop.Tool]]:
    made: list[list[shop.Tool]] = []
    real = shop.make_tools

    def keep(seed: int, people: int) -> list[shop.Tool]:
        made.append(real(seed, people))
        return made[-1]

    monkeypatch.setattr(shop, "make_tools", keep)
    for name in ("SYNCD_STORE_URL", "SYNCD_NOW", "SYNCD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return made


@dataclass
class Runs:
    folder: Path
    text: str  # the first run's output
    members: dict[str, set[str]]  # the store's segments after the first run
    apps: dict[str, Any]  # the first run's emulators, by name
    json_out: dict[str, Any]  # the second run's summary, into the same folder
    json_apps: dict[str, Any]
    tools: list[shop.Tool]  # the first run's tools


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The demo run twice into one folder: as people see it, then with --json."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    with pytest.MonkeyPatch.context() as monkeypatch:
        made = _keep_emulators(monkeypatch)
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        assert main(["demo", "--dir", str(folder), "--people", PEOPLE]) == 0
        members = store_members(folder)
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        assert main(["demo", "--dir", str(folder), "--people", PEOPLE, "--json"]) == 0
        yield Runs(
            folder, text, members, apps(made[0]), json.loads(out.getvalue()), apps(made[1]), made[0]
        )


def apps(tools: list[shop.Tool]) -> dict[str, Any]:
    return {t.name: t.app for t in tools}


def store_members(folder: Path) -> dict[str, set[str]]:
    engine = sa.create_engine(f"sqlite:///{folder / 'syncd.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT m.segment, c.email FROM segment_members m "
                "JOIN contacts c ON c.id = m.contact_id"
            )
        ).all()
        sizes = conn.execute(sa.text("SELECT name FROM segments")).scalars().all()
    engine.dispose()
    out: dict[str, set[str]] = {name: set() for name in sizes}
    for segment, email in rows:
        out[segment].add(email)
    return out


def store_rows(folder: Path, sql: str) -> list[Any]:
    engine = sa.create_engine(f"sqlite:///{folder / 'syncd.db'}")
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text(sql)).all())
    engine.dispose()
    return rows


def held(found: list[shop.Holding], tool: str, kind: str, name: str) -> set[str]:
    return set(next(h.emails for h in found if (h.tool, h.kind, h.name) == (tool, kind, name)))


def test_demo_syncs_the_shop_into_every_tool(runs: Runs) -> None:
    folder, text, apps, members = runs.folder, runs.text, runs.apps, runs.members
    # every emulator the plugins register with a part in the demo, in the demo's order
    assert [t.name for t in runs.tools] == ["shopify", "hubspot", "activecampaign", "salesmanago"]

    # the summary names every segment with the size the store holds
    for name, emails in members.items():
        assert re.search(rf"^  {name} +{len(emails)}  ", text, re.M), name
    assert "syncd --config" in text and "segments show loyal_customers" in text

    # every tool received what the config maps to it, member for member
    found = shop.holdings(runs.tools)
    emails = {
        tool: {c["email"].lower() for c in apps[tool].state()[key] if c.get("email")}
        for tool, key in (
            ("activecampaign", "contacts"),
            ("salesmanago", "contacts"),
            ("shopify", "customers"),
        )
    }
    for tool in shop.destinations(runs.tools):
        for segment, tag in tool.mapping.get("tags", {}).items():
            assert members[segment], segment  # the sample shop makes every mapped segment
            expected = members[segment] & emails[tool.name]
            assert held(found, tool.name, "tag", tag) == expected, (tool.name, tag)
    ac_list = held(found, "activecampaign", "list", "Onboarding")
    assert ac_list and ac_list <= members["recent_customers"]  # those who consented
    top = held(found, "hubspot", "list", "Top leads")
    assert top and top <= members["top_leads"]
    # the computed fields carry the store's RFM class and score to ActiveCampaign
    rfm = dict(
        store_rows(
            folder,
            "SELECT c.email, r.class FROM contact_rfm r JOIN contacts c ON c.id = r.contact_id",
        )
    )
    state = apps["activecampaign"].state()
    ac_email = {c["id"]: c["email"].lower() for c in state["contacts"]}
    field = {f["perstag"]: f["id"] for f in state["fields"]}
    sent = {
        ac_email[v["contact"]]: v["value"]
        for v in state["fieldValues"]
        if v["field"] == field["RFM_CLASS"]
    }
    assert sent and sent == {e: c for e, c in rfm.items() if e in emails["activecampaign"]}
    scored = {
        ac_email[v["contact"]] for v in state["fieldValues"] if v["field"] == field["LEAD_SCORE"]
    }
    assert scored  # those with a lead score
    # progress while it ran: each instance's streams as pages came, each destination's batches
    assert "starting clean" not in text and "1. The first sync" in text
    for instance in apps:
        assert re.search(rf"^  pull  {instance}/\w+: ", text, re.M), instance
        assert re.search(rf"^  push  {instance}: \d+ done", text, re.M), instance


def test_the_later_cycle_changes_only_what_the_new_activity_implies_and_a_rerun_starts_clean(
    runs: Runs, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, out, apps = runs.folder, runs.json_out, runs.json_apps

    # a rerun starts from a clean folder: the store holds this run's three cycles only
    runs_held = store_rows(folder, "SELECT id, outcome FROM runs WHERE job <> 'webhooks'")
    assert sorted(runs_held) == sorted((c["run_id"], "ok") for c in out["cycles"])
    # the last step's order came as a webhook, applied by micro-cycles, and landed everywhere
    micro = store_rows(folder, "SELECT outcome FROM runs WHERE job = 'webhooks'")
    assert micro and all(outcome == "ok" for (outcome,) in micro)
    (sent,) = out["webhook"]
    assert sent["tool"] == "shopify" and sent["what"] == "placed a second order"
    assert set(sent["landed"]) == {
        "activecampaign LOYAL",
        "salesmanago LOYAL",
        "shopify loyal",
    }
    (buyer,) = sent["emails"]
    loyal = store_rows(
        folder,
        "SELECT c.email FROM segment_members m JOIN contacts c ON c.id = m.contact_id "
        "WHERE m.segment = 'loyal_customers'",
    )
    assert (buyer,) in loyal

    first_sync, quiet, later, _reconciled = out["cycles"]
    assert sum(len(c) for c in first_sync["counts"].values()) > 0
    # nothing new anywhere: nothing changed, but for a lead score's decay. It halves every 30
    # days on the real clock, so a value sent at x.5 may round one lower a cycle later.
    sent_scores = {
        (c["tool"], c["email"]): int(c["value"])
        for c in first_sync["changes"]
        if c["kind"] == "set_field" and c["key"] == "LEAD_SCORE"
    }
    decayed = [c for c in quiet["changes"] if c["kind"] == "set_field" and c["key"] == "LEAD_SCORE"]
    assert all(sent_scores[c["tool"], c["email"]] - int(c["value"]) == 1 for c in decayed)
    assert [c for c in quiet["changes"] if c not in decayed] == []
    by_tool = {a["tool"]: a["emails"] for a in out["activity"]}
    assert set(by_tool) == {"hubspot", "salesmanago"}
    in_ac = {c["email"].lower() for c in apps["activecampaign"].state()["contacts"]}
    in_shop = {c["email"].lower() for c in apps["shopify"].state()["customers"] if c.get("email")}
    (cart,) = by_tool["salesmanago"]
    won = [e for e in by_tool["hubspot"] if e in in_ac]
    expected = {("activecampaign", "remove_tag", "IN_NEGOTIATION", e) for e in won}
    expected |= {("activecampaign", "add_tag", "CART_ABANDONED", cart)} if cart in in_ac else set()
    expected |= {("salesmanago", "add_tag", "CART_ABANDONED", cart)}
    expected |= {("shopify", "add_tag", "abandoned-cart", cart)} if cart in in_shop else set()
    got = {(c["tool"], c["kind"], c["key"], c["email"]) for c in later["changes"]}
    assert got == expected
    assert all(c["status"] == "done" for c in later["changes"])

    # the JSON summary's sizes are the store's, and the commands it suggests work after it
    assert main(["--config", out["config"], "segments", "list", "--json"]) == 0
    listed = {s["name"]: s["size"] for s in json.loads(capsys.readouterr().out)["segments"]}
    assert {s["name"]: s["size"] for s in out["segments"]} == listed
    for command in out["next"]:
        assert main(command.split()[1:]) == 0, command


def test_the_demo_runs_with_whatever_emulators_the_hook_gives(
    emulators: list[list[shop.Tool]], demo: DemoRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two plugins of four installed: the demo is a shop of two tools, with no sample activity
    (neither of them records any) and no mapping of a segment only a missing tool defines."""

    def two_plugins(plugins_dir: Any = None) -> Any:
        plugins = get_plugin_manager(plugins_dir)
        for name in ("hubspot", "salesmanago"):
            plugins.manager.unregister(name=name)
        return plugins

    monkeypatch.setattr(shop, "get_plugin_manager", two_plugins)
    code, printed = demo("--people", "20", "--json")
    assert code == 0
    out = json.loads(printed.out)
    assert list(out["emulators"]) == ["shopify", "activecampaign"]
    assert [t.name for t in emulators[0]] == ["shopify", "activecampaign"]
    assert out["activity"] == [] and out["cycles"][2]["changes"] == []
    assert {h["tool"] for h in out["holdings"]} == {"shopify", "activecampaign"}
    config = (demo.folder / "syncd.yaml").read_text()
    assert "precedence: [shopify, activecampaign]" in config
    assert "in_negotiation" not in config  # defined by a tool that is not here
    assert "LOYAL" in config  # the rest of the mapping is


def test_no_emulator_to_run_is_one_line(demo: DemoRun, monkeypatch: pytest.MonkeyPatch) -> None:
    def none_installed(plugins_dir: Any = None) -> Any:
        plugins = get_plugin_manager(plugins_dir)
        for name, _ in list(plugins.manager.list_name_plugin()):
            plugins.manager.unregister(name=name)
        return plugins

    monkeypatch.setattr(shop, "get_plugin_manager", none_installed)
    code, printed = demo("--people", "10")
    err = printed.err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "no installed emulator takes part in the demo" in err


def test_a_folder_with_other_files_is_refused_in_one_line(
    emulators: list[list[shop.Tool]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--dir", str(tmp_path), "--people", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(tmp_path) in err and "did not make" in err
    assert (tmp_path / "notes.txt").read_text() == "mine" and emulators == []


def test_a_missing_segment_library_is_one_line(tmp_path: Path, demo: DemoRun) -> None:
    code, printed = demo("--library", str(tmp_path / "nowhere"))
    assert code == 2
    err = printed.err.strip()
    assert err.count("\n") == 0 and "segment library" in err and "nowhere" in err


def test_ctrl_c_stops_the_emulators_and_says_so_in_one_line(
    emulators: list[list[shop.Tool]], demo: DemoRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    import syncd.demo

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(syncd.demo.cycle, "sync", interrupted)
    code, captured = demo("--people", "10")
    assert code == 130
    assert captured.err.count("\n") == 1 and "interrupted" in captured.err
    urls = re.findall(r"http://127\.0\.0\.1:\d+", captured.out)
    assert len(urls) == 4
    for url in urls:  # every emulator stopped with the demo
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/_emulator/state", timeout=2)


def test_options_reach_the_demo_in_any_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["demo", "--help"])
    assert stopped.value.code == 0
    assert "--people" in capsys.readouterr().out
    assert main(["demo", "--people", "5", "--dir", "unused"]) == 2
    assert "--people 5: give from 10 to 2000" in capsys.readouterr().err


def test_the_demos_data_has_categories_forms_sources_birthdays_and_tag_scores(
    runs: Runs,
) -> None:
    """What the sample people did reaches the store through the connectors: a category
    bought, a form sent, a source, a birthday in the coming week, a scoring tag's points, a
    churn risk."""
    folder = runs.folder
    categories = {r[0] for r in store_rows(folder, "SELECT category FROM syncd_items")}
    assert {"Shoes", "Bags", "Accessories"} <= categories  # Shopify's product types
    forms = store_rows(
        folder,
        "SELECT COUNT(*) FROM events WHERE type = 'form_submitted' AND contact_id IS NOT NULL",
    )
    assert forms[0][0] > 0
    sources = {
        r[0] for r in store_rows(folder, "SELECT value FROM attributes WHERE name = 'source'")
    }
    assert "paid_search" in sources or "organic_search" in sources
    # the shop's customer journeys: a customer's first visit's UTM tags, an order's too
    utm = store_rows(
        folder, "SELECT COUNT(*) FROM attributes WHERE name = 'utm_campaign' AND source = 'shopify'"
    )
    tagged = store_rows(
        folder,
        "SELECT COUNT(*) FROM events WHERE type = 'order_placed' "
        "AND json_extract(properties, '$.utm_source') IS NOT NULL",
    )
    assert utm[0][0] > 0 and tagged[0][0] > 0
    today = datetime.now(UTC).date()
    soon = {(today + timedelta(days=d)).strftime("%m-%d") for d in range(1, 8)}
    births = [
        r[0] for r in store_rows(folder, "SELECT value FROM attributes WHERE name = 'birthday'")
    ]
    assert any(str(b)[5:10] in soon for b in births)
    scored = store_rows(folder, "SELECT tag, score FROM tags WHERE score > 0")
    assert scored and all(tag == "SCORING_ZAKUPY" for tag, _ in scored)
    # buyers with a habit they dropped long ago: the purchase model finds them likely gone,
    # and the summary lists them (it names every segment with its size)
    for predicted in ("likely_to_churn", "high_predicted_value"):
        assert runs.members[predicted], predicted
        assert re.search(rf"^  {predicted} +[1-9]", runs.text, re.M), predicted


def test_the_demos_salesmanago_opt_outs_are_unsubscribe_events_in_the_library(
    runs: Runs,
) -> None:
    """SALESmanago keeps an opt-out as a flag without a time: each opted-out person of its
    sample account is one unsubscribe event at the contact's modifiedOn, and the recent ones
    are in the library's unsubscribed_recently, which the summary lists."""
    quits = store_rows(
        runs.folder,
        "SELECT c.email, e.occurred_at FROM events e JOIN contacts c ON c.id = e.contact_id "
        "WHERE e.type = 'email_unsubscribed' AND e.source = 'salesmanago'",
    )
    opted = {
        c["email"].lower() for c in runs.apps["salesmanago"].state()["contacts"] if c["optedOut"]
    }
    assert opted and {email for email, _ in quits} == opted
    month = datetime.now(UTC) - timedelta(days=30)
    recent = {e for e, at in quits if datetime.fromisoformat(str(at)).replace(tzinfo=UTC) >= month}
    assert recent and recent <= runs.members["unsubscribed_recently"]
    assert re.search(r"^  unsubscribed_recently +[1-9]", runs.text, re.M)
