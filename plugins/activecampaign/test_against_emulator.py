"""The ActiveCampaign connector against the in-process emulator: pulls, pushes, the fewest
writes, and convergence under faults. Time is virtual: the connector's sleeps move the
emulator's clock, so rate limits and Retry-After are honoured without waiting."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.cli import main
from syncd.connectors.contract import (
    Change,
    ChangeKind,
    ConnectorContext,
    ContactRecord,
    EventRecord,
    InvalidRecord,
    ListRecord,
    Record,
    TagRecord,
)
from syncd.emulator import ManualClock, VirtualTime, transport
from syncd.testing import pull, push_until_done, route_to_emulators
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN, ActiveCampaignEmulator
from syncd_plugins.activecampaign.test_emulator import START

URL = "https://acme.api-us1.com"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def vt(clock: ManualClock) -> VirtualTime:
    return VirtualTime(clock)


def emulator(clock: ManualClock, faults: str | None = None) -> ActiveCampaignEmulator:
    return ActiveCampaignEmulator(seed=3, people=80, clock=clock, faults=faults)


def connect(emu: ActiveCampaignEmulator, vt: VirtualTime) -> ActiveCampaignConnector:
    options = ActiveCampaignOptions(url=URL, token=DEFAULT_TOKEN, import_wait=30)  # type: ignore[arg-type]
    context = ConnectorContext(
        "ac", transport=transport(emu), sleep=vt.sleep, monotonic=vt.monotonic
    )
    return ActiveCampaignConnector(options, context)


def writes(emu: ActiveCampaignEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.requests() if r.method != "GET"]


def remote(emu: ActiveCampaignEmulator) -> dict[str, Any]:
    """What the account holds, by e-mail and name: comparable across emulators."""
    state = emu.state()
    emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
    tags = {t["id"]: t["tag"] for t in state["tags"]}
    lists = {x["id"]: x["name"] for x in state["lists"]}
    fields = {f["id"]: f["title"] for f in state["fields"]}
    return {
        "contacts": sorted(emails.values()),
        "tags": sorted((emails[t["contact"]], tags[t["tag"]]) for t in state["contactTags"]),
        "lists": sorted(
            (emails[x["contact"]], lists[x["list"]], x["status"]) for x in state["contactLists"]
        ),
        "fields": sorted(
            (emails[v["contact"]], fields[v["field"]], v["value"]) for v in state["fieldValues"]
        ),
        "tag_names": sorted(tags.values()),
        "list_names": sorted(lists.values()),
    }


def test_a_full_pull_reads_the_whole_account(clock: ManualClock, vt: VirtualTime) -> None:
    emu = emulator(clock)
    state = emu.state()
    records = pull(connect(emu, vt), {})
    assert not [r for r in records if isinstance(r, InvalidRecord)]
    contacts = {r.external_id for r in records if isinstance(r, ContactRecord) and r.email}
    assert contacts == {c["id"] for c in state["contacts"]}
    tag_refs = {r.ref for r in records if isinstance(r, TagRecord)}
    assert tag_refs == {t["id"] for t in state["contactTags"]}
    memberships = {(r.contact_external_id, r.status) for r in records if isinstance(r, ListRecord)}
    status = {"1": "subscribed", "2": "unsubscribed"}
    assert memberships == {(x["contact"], status[x["status"]]) for x in state["contactLists"]}
    events = Counter(r.type for r in records if isinstance(r, EventRecord))
    activity = Counter(a["event"] for a in state["emailActivities"])
    assert events["email_opened"] == activity["open"]
    assert events["email_clicked"] == activity["click"]
    orders = Counter(o["state"] for o in state["ecomOrders"])
    assert events["order_placed"] == orders["1"] + orders["3"]
    assert events["checkout_abandoned"] == orders["2"]
    assert not emu.requests(status=429)  # paced under the vendor's 5 a second
    assert writes(emu) == []


def test_an_incremental_pull_reads_what_changed(clock: ManualClock, vt: VirtualTime) -> None:
    emu = emulator(clock)
    connector = connect(emu, vt)
    cursors: dict[str, str | None] = {}
    pull(connector, cursors)
    vt.sleep(120)
    user = httpx.Client(
        transport=transport(emu), base_url=f"{URL}/api/3", headers={"Api-Token": DEFAULT_TOKEN}
    )
    renamed = emu.state()["contacts"][4]
    user.post("/contact/sync", json={"contact": {"email": renamed["email"], "firstName": "Zed"}})
    tag = user.post("/tags", json={"tag": {"tag": "fresh", "tagType": "contact"}}).json()["tag"]
    tagged = emu.state()["contacts"][9]["id"]
    link = user.post("/contactTags", json={"contactTag": {"contact": tagged, "tag": tag["id"]}})
    vt.sleep(60)
    emu.clear_requests()
    again = pull(connector, cursors)
    changed = {r.external_id for r in again if isinstance(r, ContactRecord) and r.email}
    assert {renamed["id"], tagged} <= changed
    assert len(changed) <= 3  # the two, and at most the newest of the last read once more
    new_tags = [r for r in again if isinstance(r, TagRecord) and r.tag == "fresh"]
    assert [(r.contact_external_id, r.ref) for r in new_tags] == [
        (tagged, str(link.json()["contactTag"]["id"]))
    ]
    contact_reads = [r for r in emu.requests(path="/api/3/contacts")]
    assert contact_reads and all("updated_after" in r.query for r in contact_reads)


def plan(emu: ActiveCampaignEmulator, new: int = 300, removals: int = 4) -> list[Change]:
    """Tag additions for every contact and ``new`` new e-mails (two tags each), removals
    of ``customer`` by link id, two subscriptions and a field value."""
    state = emu.state()
    emails = [c["email"] for c in state["contacts"]] + [f"new{n}@example.com" for n in range(new)]
    changes = [
        Change(len(emails) * k + i, ChangeKind.ADD_TAG, email, tag)
        for k, tag in enumerate(("VIP", "ENGAGED"))
        for i, email in enumerate(emails)
    ]
    by_id = {c["id"]: c for c in state["contacts"]}
    customer = next(t["id"] for t in state["tags"] if t["tag"] == "customer")
    links = [t for t in state["contactTags"] if t["tag"] == customer][:removals]
    n = len(changes)
    changes += [
        Change(n + i, ChangeKind.REMOVE_TAG, by_id[t["contact"]]["email"], "customer",
               external_id=t["contact"], ref=t["id"])
        for i, t in enumerate(links)
    ]  # fmt: skip
    members = {x["contact"] for x in state["contactLists"]}
    outsiders = [c for c in state["contacts"] if c["id"] not in members][:2]
    n = len(changes)
    changes += [
        Change(n + i, ChangeKind.SUBSCRIBE, c["email"], "Newsletter", external_id=c["id"])
        for i, c in enumerate(outsiders)
    ]
    changes.append(
        Change(len(changes), ChangeKind.SET_FIELD, emails[0], "Loyalty tier", value="platinum")
    )
    return changes


def test_a_push_takes_the_fewest_writes(clock: ManualClock, vt: VirtualTime) -> None:
    emu = emulator(clock)
    changes = [c for c in plan(emu) if c.kind in (ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG)]
    contacts = {c.email for c in changes if c.kind is ChangeKind.ADD_TAG}
    removals = [c for c in changes if c.kind is ChangeKind.REMOVE_TAG]
    assert len(contacts) > 250 and removals
    emu.clear_requests()
    assert push_until_done(connect(emu, vt), changes) == 1
    logged = writes(emu)
    assert len(logged) == math.ceil(len(contacts) / 250) + len(removals)
    assert Counter(logged) == {
        "POST /api/3/import/bulk_import": math.ceil(len(contacts) / 250),
        **{f"DELETE /api/3/contactTags/{c.ref}": 1 for c in removals},
    }
    after = remote(emu)
    for email in contacts:
        assert (email.lower(), "VIP") in after["tags"] and (email.lower(), "ENGAGED") in after[
            "tags"]  # fmt: skip
    for change in removals:
        assert (change.email.lower(), "customer") not in after["tags"]


def expected_after_plan(clock: ManualClock) -> dict[str, Any]:
    """The account after the plan, pushed with no faults."""
    emu = emulator(clock)
    push_until_done(connect(emu, VirtualTime(clock)), plan(emu))
    return remote(emu)


@pytest.mark.parametrize(
    "faults",
    [
        "429=0.4,retry_after=2",  # a 429 storm
        "5xx=0.3",  # 5xx bursts
        "drop=0.2",  # connections dropped before the request is handled
        "drop_after=0.2",  # handled, then the answer is lost
        "malformed=0.2",  # handled, the answer is garbage
        "429=0.1,5xx=0.1,drop=0.05,drop_after=0.1,malformed=0.05",
    ],
)
def test_a_push_under_faults_converges(faults: str, clock: ManualClock, vt: VirtualTime) -> None:
    expected = expected_after_plan(ManualClock(START))
    emu = emulator(clock, faults)
    changes = plan(emu)
    push_until_done(connect(emu, vt), changes)
    emu.set_faults(None)
    got = remote(emu)
    assert got == expected  # nothing lost, nothing extra
    assert len(set(got["tags"])) == len(got["tags"])  # no link twice
    faulted = Counter(r.fault for r in emu.requests() if r.fault)
    assert faulted  # the faults did happen


def test_timeouts_converge_too(clock: ManualClock, vt: VirtualTime) -> None:
    other = ManualClock(START)
    clean = emulator(other)
    push_until_done(connect(clean, VirtualTime(other)), plan(clean, new=20))
    # a write that takes longer than the client waits is still applied, later
    emu = emulator(clock, "POST /api/3/*:latency=0ms..400ms")
    connector = connect(emu, vt)
    connector.api.client.timeout = httpx.Timeout(0.2)
    push_until_done(connector, plan(emu, new=20))
    emu.set_faults(None)
    assert remote(emu) == remote(clean)
    assert len(emu.requests(method="POST")) > len(clean.requests(method="POST"))  # resent


def test_a_pull_under_faults_reads_the_same(clock: ManualClock, vt: VirtualTime) -> None:
    other = ManualClock(START)
    clean = pull(connect(emulator(other), VirtualTime(other)), {})
    emu = emulator(clock, "429=0.2,5xx=0.1,drop=0.05,malformed=0.05,retry_after=1")
    faulty = pull(connect(emu, vt), {})
    assert emu.requests(status=429)

    def key(records: list[Record]) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = set()
        for r in records:
            if isinstance(r, ContactRecord):
                out.add(("contact", r.external_id, str(r.email)))
            elif isinstance(r, TagRecord):
                out.add(("tag", r.contact_external_id, r.tag))
            elif isinstance(r, EventRecord):
                out.add(("event", r.external_id, r.type))
        return out

    assert key(faulty) == key(clean)


# --- the real pipeline: syncd sync with an ActiveCampaign instance -------------------------

CONFIG = """
store:
  url: sqlite:///{db}
connectors:
  ac:
    type: activecampaign
    url: https://acme.api-us1.com
    token: ${{AC_TOKEN}}
segments:
  buyers: {{event: order_placed}}
  clickers: {{event: email_clicked}}
destinations:
  - connector: ac
    mode: managed
    tags:
      buyers: BUYER
      clickers: CLICKER
"""


@pytest.fixture
def pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: ManualClock, vt: VirtualTime
) -> Iterator[tuple[ActiveCampaignEmulator, Path]]:
    emu = emulator(clock)
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "store.db"))
    monkeypatch.setenv("AC_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("SYNCD_NOW", START.isoformat())
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    route_to_emulators(monkeypatch, emu, time=vt)
    yield emu, config


def test_syncd_sync_pushes_segments_then_has_nothing_to_do(
    pipeline: tuple[ActiveCampaignEmulator, Path],
) -> None:
    emu, config = pipeline
    state = emu.state()
    by_id = {c["id"]: c["email"].lower() for c in state["contacts"]}
    buyers = {o["email"].lower() for o in state["ecomOrders"] if o["state"] in ("1", "3")}
    clickers = {by_id[a["contact"]] for a in state["emailActivities"] if a["event"] == "click"}
    assert main(["--config", str(config), "sync"]) == 0
    after = remote(emu)
    assert {e for e, t in after["tags"] if t == "BUYER"} == buyers
    assert {e for e, t in after["tags"] if t == "CLICKER"} == clickers
    assert Counter(writes(emu)) == {
        "POST /api/3/import/bulk_import": math.ceil(len(buyers | clickers) / 250)
    }
    emu.clear_requests()
    assert main(["--config", str(config), "sync"]) == 0
    assert writes(emu) == []  # nothing to do: not one write
    assert remote(emu) == after
