"""The HubSpot connector against the in-process emulator, beyond the connector contract (the
conformance suite, at the end, on an emulator with a small search cap): what a full pull
makes of contacts, owners and deals, reads past the search cap, a cursor stored before the
kit, removals, unknown properties, a refused contact, the checkbox segment property, the
limits, and the real pipeline from deals to a HubSpot list. Time is virtual: the
connector's sleeps move the emulator's clock, so rate limits cost no real time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from syncd.connectors import (
    Change,
    ChangeKind,
    ContactRecord,
    Cursor,
    DealRecord,
    EventRecord,
    Outcome,
)
from syncd.emulator import LoggedRequest, ManualClock, VirtualTime, transport
from syncd.testing import (
    EmulatorHarness,
    Pipeline,
    conformance_suite,
    emulator_context,
    migrated_cursor,
    pull,
    pull_valid,
)
from syncd_plugins.hubspot.connector import HubSpotConnector, HubSpotOptions
from syncd_plugins.hubspot.destination import LIST_KINDS
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator
from syncd_plugins.hubspot.emulator_state import epoch_ms

BASE = "https://api.hubapi.com"
WRITE_PATHS = ("/batch/upsert", "/memberships/add-and-remove")


def emulator(clock: ManualClock, **options: Any) -> HubSpotEmulator:
    return HubSpotEmulator(seed=5, people=150, clock=clock, **options)


def connect(emu: HubSpotEmulator, vt: VirtualTime, **options: Any) -> HubSpotConnector:
    given: dict[str, Any] = {"token": DEFAULT_TOKEN, "page_size": 20, **options}
    return HubSpotConnector(HubSpotOptions(**given), emulator_context("hs", emu, time=vt))


def hubspot_user(emu: HubSpotEmulator) -> httpx.Client:
    """Someone at HubSpot, using the API (not syncd)."""
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    return httpx.Client(transport=transport(emu), base_url=BASE, headers=headers)


def writes(emu: HubSpotEmulator) -> list[str]:
    return [
        r.method + " " + r.path
        for r in emu.requests()
        if (r.method in ("POST", "PUT") and r.path.endswith(WRITE_PATHS))
        or (r.method == "POST" and r.path == "/crm/v3/lists")
    ]


def test_a_full_pull_reads_contacts_owners_and_deals(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    state = emu.state()
    records = pull_valid(connect(emu, syncd_time), {})
    contacts = {r.external_id: r for r in records if isinstance(r, ContactRecord)}
    owners = {o["id"]: o["email"] for o in state["owners"]}
    assert set(contacts) == {c["id"] for c in state["contacts"]}
    for c in state["contacts"]:
        props, got = c["properties"], contacts[c["id"]]
        assert got.email == props["email"]
        assert got.attributes["lifecycle_stage"] == props["lifecyclestage"]
        assert got.attributes["lead_status"] == props["hs_lead_status"]
        assert got.attributes.get("owner_email") == owners.get(props.get("hubspot_owner_id"))
        assert got.attributes.get("source") == props["hs_analytics_source"].lower()
        assert got.attributes["page_views"] == int(props["hs_analytics_num_page_views"])
        assert got.attributes.get("birthday") == props.get("date_of_birth")
    forms = [r for r in records if isinstance(r, EventRecord) and r.type == "form_submitted"]
    sent = {
        (c["id"], c["properties"][f"{which}_conversion_event_name"])
        for c in state["contacts"]
        for which in ("first", "recent")
        if c["properties"].get(f"{which}_conversion_date")
    }
    assert {(e.contact_external_id, e.properties["form"]) for e in forms} == sent and forms
    deals = {r.external_id: r for r in records if isinstance(r, DealRecord)}
    assert set(deals) == {d["id"] for d in state["deals"]}
    for d in state["deals"]:
        got_deal = deals[d["id"]]
        stage = d["properties"]["dealstage"]
        status = {"closedwon": "won", "closedlost": "lost"}.get(stage, "open")
        assert (got_deal.stage, got_deal.status) == (stage, status)
        assert got_deal.amount == float(d["properties"]["amount"])
        assert got_deal.owner_email == owners[d["properties"]["hubspot_owner_id"]]
        assert got_deal.contact_external_ids == d["contacts"]
    assert writes(emu) == [] and not emu.requests(status=429)
    # the owners are read once per stream, not once per record
    assert len(emu.requests(path="/crm/v3/owners")) == 2


def test_a_pull_goes_past_the_search_cap_in_time_windows(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock, search_cap=30)
    state = emu.state()
    records = pull(connect(emu, syncd_time, streams=["contacts"]), {})
    got = {r.external_id for r in records if isinstance(r, ContactRecord)}
    assert len(state["contacts"]) > 60
    assert got == {c["id"] for c in state["contacts"]}
    assert not emu.requests(status=400)


def test_a_cursor_of_an_earlier_syncd_reads_on_from_where_it_was(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    connector = connect(emu, syncd_time, streams=["contacts"])
    cursors: dict[str, str | None] = {}
    pull(connector, cursors)
    bound = Cursor.load(cursors["contacts"]).bound
    # the shape an earlier syncd stored (bare milliseconds), as migration 0007 converts it
    cursors["contacts"] = migrated_cursor(str(bound))
    again = {r.external_id for r in pull(connector, cursors) if isinstance(r, ContactRecord)}
    at_bound = {
        c["id"]
        for c in emu.state()["contacts"]
        if epoch_ms(c["properties"]["lastmodifieddate"]) == bound
    }
    assert again == at_bound and len(again) < len(emu.state()["contacts"]) / 10
    assert pull(connector, cursors) == []


def plan(emu: HubSpotEmulator, new: int = 30) -> list[Change]:
    """Every contact into a list and a value for each; ``new`` new e-mails into the list."""
    contacts = emu.state()["contacts"][:90]
    emails = [c["properties"]["email"] for c in contacts] + [
        f"new{n}@example.com" for n in range(new)
    ]
    changes = [Change(i, ChangeKind.SUBSCRIBE, e, "Hot leads") for i, e in enumerate(emails)]
    n = len(changes)
    changes += [
        Change(n + i, ChangeKind.SET_FIELD, e, "loyalty_tier", value="gold")
        for i, e in enumerate(emails[:40])
    ]
    return changes


@pytest.mark.parametrize("lost", ["drop_after=1", "5xx_after=1", "malformed=1"])
def test_a_list_is_created_once_however_many_answers_are_lost(
    syncd_clock: ManualClock, syncd_time: VirtualTime, lost: str
) -> None:
    emu = emulator(syncd_clock, faults=f"POST /crm/v3/lists:{lost}")
    email = emu.state()["contacts"][0]["properties"]["email"]
    names = ["Onboarding", "Winback"]
    for _ in range(3):  # the same plan again, as after a crash
        destination = connect(emu, syncd_time).destination()
        assert destination is not None
        changes = [Change(i, ChangeKind.SUBSCRIBE, email, n) for i, n in enumerate(names)]
        assert {r.outcome for r in destination.push(changes)} == {Outcome.DONE}
    made = Counter(lst["name"] for lst in emu.state()["lists"])
    assert {n: made[n] for n in names} == dict.fromkeys(names, 1)
    assert len([r for r in emu.requests(method="POST", path="/crm/v3/lists") if r.fault]) == 2


def test_list_memberships_of_a_plan_take_one_call_per_list(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    """Write calls / the minimum = 1.00, counted in the emulator's log (a batch read and a
    search are reads)."""
    emu = emulator(syncd_clock)
    changes = plan(emu, new=30)
    minimum = minimum_writes(emu, changes, 10_000)
    emu.clear_requests()
    destination = connect(emu, syncd_time).destination()
    assert destination is not None
    assert {r.outcome for r in destination.push(changes)} == {Outcome.DONE}
    writes = [r for r in emu.requests() if r.fault is None and HubSpotHarness().is_write(r)]
    assert len(writes) == minimum == 3  # one upsert, the list made, one add-and-remove
    assert len(remote(emu)["lists"]["Hot leads"]) == 120


def remote(emu: HubSpotEmulator) -> dict[str, Any]:
    state = emu.state()
    emails = {c["id"]: c["properties"]["email"] for c in state["contacts"]}
    lists = {lst["name"]: sorted(emails[m] for m in lst["members"]) for lst in state["lists"]}
    tiers = sorted(
        (c["properties"]["email"], c["properties"].get("loyalty_tier")) for c in state["contacts"]
    )
    return {"lists": lists, "tiers": tiers}


def test_a_removal_and_an_unknown_property(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    connector = connect(emu, syncd_time)
    destination = connector.destination()
    assert destination is not None
    first = emu.state()["contacts"][0]
    email = first["properties"]["email"]
    destination.push([Change(1, ChangeKind.SUBSCRIBE, email, "VIP")])
    results = destination.push(
        [
            Change(2, ChangeKind.UNSUBSCRIBE, email, "VIP"),  # its id is found by e-mail
            Change(3, ChangeKind.UNSUBSCRIBE, "nobody@example.com", "VIP"),
            Change(4, ChangeKind.SET_FIELD, email, "no_such_property", value="x"),
            Change(5, ChangeKind.SET_FIELD, email, "loyalty_tier", value="silver"),
        ]
    )
    outcomes = {r.change_id: r.outcome for r in results}
    assert outcomes == {2: Outcome.DONE, 3: Outcome.DONE, 4: Outcome.FAILED, 5: Outcome.DONE}
    assert "no_such_property" in (results[2].reason or "")
    assert remote(emu)["lists"]["VIP"] == []
    assert dict(remote(emu)["tiers"])[email] == "silver"


def test_the_limits_hold_without_a_429(syncd_clock: ManualClock, syncd_time: VirtualTime) -> None:
    emu = emulator(syncd_clock, burst=10)
    pull(connect(emu, syncd_time, page_size=5), {})
    assert len(emu.requests()) > 30  # three windows' worth
    assert not emu.requests(status=429)


# --- the real pipeline: deals in HubSpot select contacts pushed to a HubSpot list ----------

CONFIG = """
store:
  url: sqlite:///{db}
connectors:
  hs:
    type: hubspot
    token: ${{HUBSPOT_TOKEN}}
segments:
  negotiating: {{deal: {{stage: negotiation, status: open}}}}
destinations:
  - connector: hs
    mode: managed
    lists:
      negotiating: In negotiation
"""


def test_deals_in_negotiation_put_their_contacts_in_a_list(
    syncd_clock: ManualClock, syncd_pipeline: Callable[..., Pipeline]
) -> None:
    emu = emulator(syncd_clock)
    pipeline = syncd_pipeline(CONFIG, emu, env={"HUBSPOT_TOKEN": DEFAULT_TOKEN})
    state = emu.state()
    emails = {c["id"]: c["properties"]["email"].lower() for c in state["contacts"]}
    consenting = {
        c["id"]
        for c in state["contacts"]
        if c["properties"].get("hs_legal_basis") and c["properties"]["hs_email_optout"] != "true"
    }
    negotiating = {
        emails[cid]
        for d in state["deals"]
        if d["properties"]["dealstage"] == "negotiation"
        for cid in d["contacts"]
        if cid in consenting  # a list is e-mail: only those who consented go in
    }
    assert len(negotiating) > 3
    assert pipeline.run("sync") == 0
    after = remote(emu)
    assert {e.lower() for e in after["lists"]["In negotiation"]} == negotiating
    emu.clear_requests()
    assert pipeline.run("sync") == 0
    assert writes(emu) == []  # nothing to do: not one write
    assert remote(emu) == after
    # a deal is won: its contacts leave the list, unless another deal keeps them in it
    deal = next(
        d
        for d in state["deals"]
        if d["properties"]["dealstage"] == "negotiation" and set(d["contacts"]) & consenting
    )
    moved = hubspot_user(emu).patch(
        f"/crm/v3/objects/deals/{deal['id']}", json={"properties": {"dealstage": "closedwon"}}
    )
    assert moved.is_success
    still = {
        emails[cid]
        for d in state["deals"]
        if d["properties"]["dealstage"] == "negotiation" and d["id"] != deal["id"]
        for cid in d["contacts"]
        if cid in consenting
    }
    assert still != negotiating
    assert pipeline.run("sync") == 0
    assert {e.lower() for e in remote(emu)["lists"]["In negotiation"]} == still


def test_a_contact_hubspot_refuses_fails_alone(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    destination = connect(emu, syncd_time).destination()
    assert destination is not None
    emails = [f"ok{n}@example.com" for n in range(7)]
    changes = [Change(n, ChangeKind.SUBSCRIBE, e, "VIP") for n, e in enumerate(emails)]
    changes.append(Change(99, ChangeKind.SUBSCRIBE, "broken@@example", "VIP"))
    results = {r.change_id: r for r in destination.push(changes)}
    assert results[99].outcome is Outcome.FAILED
    assert "invalid" in (results[99].reason or "")
    assert all(results[n].outcome is Outcome.DONE for n in range(7))
    assert remote(emu)["lists"]["VIP"] == sorted(emails)
    # the refused contact is found by halving: a few more calls, not one per contact
    assert len(emu.requests(path="/crm/v3/objects/contacts/batch/upsert")) <= 7


def test_segments_as_values_of_a_checkbox_property(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    destination = connect(emu, syncd_time, segment_property="syncd_segments").destination()
    assert destination is not None
    contacts = emu.state()["contacts"][:3]
    a, b, c = (x["properties"]["email"] for x in contacts)
    results = destination.push(
        [
            Change(1, ChangeKind.SUBSCRIBE, a, "VIP"),
            Change(2, ChangeKind.SUBSCRIBE, a, "Hot leads"),
            Change(3, ChangeKind.SUBSCRIBE, b, "VIP"),
            Change(4, ChangeKind.SUBSCRIBE, "new@example.com", "VIP"),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.DONE] * 4

    def values() -> dict[str, str | None]:
        return {
            x["properties"]["email"]: x["properties"].get("syncd_segments")
            for x in emu.state()["contacts"]
        }

    assert values()[a] == "Hot leads;VIP" and values()[b] == "VIP"
    assert values()["new@example.com"] == "VIP" and values()[c] is None
    assert not emu.state()["lists"]  # no list was made
    # one read of the current values, one call adding both options, one upsert
    assert Counter((r.method, r.path) for r in emu.requests()) == {
        ("POST", "/crm/v3/objects/contacts/batch/read"): 1,
        ("GET", "/crm/v3/properties/contacts/syncd_segments"): 1,
        ("PATCH", "/crm/v3/properties/contacts/syncd_segments"): 1,
        ("POST", "/crm/v3/objects/contacts/batch/upsert"): 1,
    }
    emu.clear_requests()
    results = destination.push(
        [
            Change(5, ChangeKind.UNSUBSCRIBE, a, "VIP"),
            Change(6, ChangeKind.SUBSCRIBE, b, "VIP"),  # already so: no write for it
            Change(7, ChangeKind.UNSUBSCRIBE, "nobody@example.com", "VIP"),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.DONE] * 3
    assert values()[a] == "Hot leads" and values()[b] == "VIP"
    assert "nobody@example.com" not in values()
    upserts = [r for r in emu.requests() if r.path.endswith("/batch/upsert")]
    assert len(upserts) == 1 and not emu.requests(method="PATCH")
    emu.clear_requests()
    destination.push([Change(8, ChangeKind.SUBSCRIBE, b, "VIP")])
    assert writes(emu) == [] and not emu.requests(method="PATCH")


# --- the connector contract ----------------------------------------------------------------


def form_keys(contact: dict[str, Any]) -> set[str]:
    """The ids of the ``form_submitted`` events a contact's conversion dates make."""
    dates = (contact["properties"].get(f"{w}_conversion_date") for w in ("first", "recent"))
    return {f"form:{contact['id']}:{epoch_ms(d)}" for d in dates if d}


class HubSpotHarness(EmulatorHarness[HubSpotEmulator]):
    connector = HubSpotConnector
    secrets = (DEFAULT_TOKEN,)
    seed = 5
    lookups = 1  # the owners: read once a read, again by a resumed one
    people = 80
    # a small search cap: the reads go on past it in new queries, as a large account does
    emulator_options = {"search_cap": 30}

    def options(self) -> dict[str, Any]:
        return {"token": DEFAULT_TOKEN, "page_size": 20, "batch_size": BATCH}

    def is_write(self, request: LoggedRequest) -> bool:
        """A search and a batch read are POSTs that change nothing."""
        reads = request.path.endswith(("/search", "/batch/read"))
        return request.method not in ("GET", "HEAD", "OPTIONS") and not reads

    def external_ids(self) -> set[str]:
        state = self.emu.state()
        forms = {f for c in state["contacts"] for f in form_keys(c)}
        return {c["id"] for c in state["contacts"]} | {d["id"] for d in state["deals"]} | forms

    def change(self) -> set[str]:
        """A contact's lifecycle stage and a deal's stage, changed by someone at HubSpot."""
        state = self.emu.state()
        contact, deal = state["contacts"][4], state["deals"][2]
        update = {"lifecyclestage": "customer"}
        email = contact["properties"]["email"]
        inputs = [{"idProperty": "email", "id": email, "properties": update}]
        user = hubspot_user(self.emu)
        user.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs})
        won = {"properties": {"dealstage": "closedwon"}}
        user.patch(f"/crm/v3/objects/deals/{deal['id']}", json=won)
        return {contact["id"], deal["id"], *form_keys(contact)}  # read again with its forms

    def plant_bad_record(self) -> str:
        now = self.clock()
        self.emu.portal.add("contacts", {"firstname": "No", "lastname": "Address"}, now, now)
        return "has no e-mail"

    def changes(self) -> list[Change]:
        return plan(self.emu, new=50)

    def remote(self) -> dict[str, Any]:
        return remote(self.emu)

    def minimum_writes(self, changes: Sequence[Change]) -> int:
        return minimum_writes(self.emu, changes, BATCH)


def minimum_writes(emu: HubSpotEmulator, changes: Sequence[Change], batch: int) -> int:
    """What HubSpot's API allows, per push batch of ``batch`` contacts: a batch upsert for
    every 100 contacts with values to write or that HubSpot lacks (the ids of the others are
    read); one add-and-remove call per list for every 100,000 ids; each missing list created
    once."""
    state = emu.state()
    known = {c["properties"]["email"].lower() for c in state["contacts"]}
    emails = list(dict.fromkeys(c.email.lower() for c in changes))
    writes = len(
        {c.key for c in changes if c.kind is ChangeKind.SUBSCRIBE}
        - {lst["name"] for lst in state["lists"]}
    )
    for at in range(0, len(emails), batch):
        mine = [c for c in changes if c.email.lower() in set(emails[at : at + batch])]
        upserts = {
            c.email.lower()
            for c in mine
            if c.kind in (ChangeKind.SET_FIELD, ChangeKind.UPSERT_CONTACT)
            or (c.kind is ChangeKind.SUBSCRIBE and c.email.lower() not in known)
        }
        writes += math.ceil(len(upserts) / 100)
        for name in {c.key for c in mine if c.kind in LIST_KINDS}:
            ids = {c.email for c in mine if c.key == name and c.kind in LIST_KINDS}
            writes += math.ceil(len(ids) / 100_000)
    return writes


BATCH = 60  # contacts a push batch holds in the harness: its plan spans two

TestHubSpotConformance = conformance_suite(HubSpotHarness)
