"""The ActiveCampaign connector against the in-process emulator: the connector contract (the
conformance suite), what a full pull makes of the account, and the real pipeline. Time is
virtual: the connector's sleeps move the emulator's clock, so rate limits and Retry-After are
honoured without waiting."""

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
    ChangeResult,
    ContactRecord,
    EventRecord,
    ListRecord,
    Outcome,
    TagRecord,
    parse_time,
)
from syncd.emulator import ManualClock, VirtualTime, transport
from syncd.testing import (
    EmulatorHarness,
    Pipeline,
    conformance_suite,
    emulator_context,
    pull,
    pull_valid,
)
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN, ActiveCampaignEmulator

URL = "https://acme.api-us1.com"


def emulator(clock: ManualClock, faults: str | None = None) -> ActiveCampaignEmulator:
    return ActiveCampaignEmulator(seed=3, people=80, clock=clock, faults=faults)


@pytest.fixture
def emu(syncd_clock: ManualClock) -> ActiveCampaignEmulator:
    """The test's account, without faults, on the virtual clock."""
    return emulator(syncd_clock)


def connect(emu: ActiveCampaignEmulator, vt: VirtualTime, **more: Any) -> ActiveCampaignConnector:
    options = ActiveCampaignOptions(url=URL, token=DEFAULT_TOKEN, import_wait=30, **more)  # type: ignore[arg-type]
    return ActiveCampaignConnector(options, emulator_context("ac", emu, time=vt))


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


def test_a_full_pull_reads_the_whole_account(
    emu: ActiveCampaignEmulator, syncd_time: VirtualTime
) -> None:
    state = emu.state()
    records = pull_valid(connect(emu, syncd_time), {})
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
    orders = Counter(str(o["state"]) for o in state["ecomOrders"])
    assert events["order_placed"] == orders["1"] + orders["3"]
    assert events["checkout_abandoned"] == orders["2"]
    assert not emu.requests(status=429)  # paced under the vendor's 5 a second
    assert writes(emu) == []


def test_orders_carry_their_products_as_normalised_items(
    emu: ActiveCampaignEmulator, syncd_time: VirtualTime
) -> None:
    state = emu.state()
    products = {p["id"]: p for p in state["ecomOrderProducts"]}
    records = pull(connect(emu, syncd_time), {})
    events = {r.external_id: r for r in records if isinstance(r, EventRecord)}
    seen = 0
    for order in state["ecomOrders"]:
        kind = {1: "order_placed", 2: "checkout_abandoned", 3: "order_placed"}.get(order["state"])
        if kind is None:
            continue
        items = events[f"order:{kind}:{order['id']}"].properties["items"]
        lines = [products[i] for i in order["orderProducts"]]
        assert [(i["sku"], i["category"], i["quantity"]) for i in items] == [
            (p["sku"], p["category"], p["quantity"]) for p in lines
        ]
        assert [i["price"] for i in items] == [p["price"] / 100 for p in lines]
        seen += 1
    assert seen > 10 and not emu.requests(status=429)


def _order_requests(emu: ActiveCampaignEmulator) -> tuple[int, int]:
    """Requests for the listing of every order product, and for one order's products."""
    listing = len(emu.requests(path="/api/3/ecomOrderProducts"))
    each = sum(r.path.endswith("/orderProducts") for r in emu.requests())
    return listing, each


def test_a_first_pull_lists_order_products_at_once_a_later_one_per_new_order(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    state = emu.state()
    cursors: dict[str, str | None] = {}
    pull(connect(emu, syncd_time), cursors)
    # every order's lines, in ceil(products / 100) requests, not one request an order
    assert _order_requests(emu) == (math.ceil(len(state["ecomOrderProducts"]) / 100), 0)
    assert len(state["ecomOrders"]) > 3 * math.ceil(len(state["ecomOrderProducts"]) / 100)
    syncd_time.sleep(60)
    account, order = emu.account, dict(state["ecomOrders"][0])
    new = account.insert("ecomOrders", {
        **{k: v for k, v in order.items() if k not in ("id", "links")},
        "updatedDate": syncd_clock().isoformat(), "state": 1,
    })  # fmt: skip
    line = {k: v for k, v in state["ecomOrderProducts"][0].items() if k not in ("id", "links")}
    new["orderProducts"] = [account.insert("ecomOrderProducts", {**line, "sku": "NEW-1"})["id"]]
    before = _order_requests(emu)
    records = pull(connect(emu, syncd_time), cursors)
    got = [r for r in records if isinstance(r, EventRecord) and r.external_id.endswith(new["id"])]
    assert [i["sku"] for r in got for i in r.properties["items"]] == ["NEW-1"]
    # one order new: its own products, one request, not the whole listing again
    listing, each = _order_requests(emu)
    assert (listing - before[0], each - before[1]) == (0, 1)


def test_unsubscribes_and_site_visits_become_events(
    emu: ActiveCampaignEmulator, syncd_time: VirtualTime
) -> None:
    state = emu.state()
    records = pull_valid(connect(emu, syncd_time, site_tracking=True), {})
    events = [r for r in records if isinstance(r, EventRecord)]
    quits = {(x["contact"], x["list"]) for x in state["contactLists"] if x["status"] == "2"}
    lists = {x["id"]: x["name"] for x in state["lists"]}
    got = {
        (e.contact_external_id, e.properties["list"])
        for e in events
        if e.type == "email_unsubscribed"
    }
    assert got == {(c, lists[x]) for c, x in quits} and got
    visits = Counter(
        (e.contact_external_id, e.properties["url"]) for e in events if e.type == "page_visited"
    )
    held = Counter((t["contact"], t["value"]) for t in state["trackingLogs"] if t["type"] == "site")
    assert visits == held and visits
    calls = sum(1 for r in emu.requests() if r.path.endswith("/trackingLogs"))
    assert calls == len(state["contacts"])  # one a contact


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
    newsletter = next(x["id"] for x in state["lists"] if x["name"] == "Newsletter")
    readers = [
        by_id[x["contact"]]
        for x in state["contactLists"]
        if x["list"] == newsletter and x["status"] == "1"
    ][:2]
    n = len(changes)
    changes += [
        Change(n + i, ChangeKind.SUBSCRIBE, c["email"], "Newsletter", external_id=c["id"])
        for i, c in enumerate(outsiders)
    ]
    n = len(changes)
    changes += [
        Change(n + i, ChangeKind.UNSUBSCRIBE, c["email"], "Newsletter", external_id=c["id"])
        for i, c in enumerate(readers)
    ]
    changes.append(
        Change(len(changes), ChangeKind.UPSERT_CONTACT, emails[-1], "",
               attributes={"first_name": "Ada", "last_name": "Byron"})
    )  # fmt: skip
    changes.append(
        Change(len(changes), ChangeKind.SET_FIELD, emails[0], "Loyalty tier", value="platinum")
    )
    return changes


def push_all(ac: ActiveCampaignConnector, changes: list[Change]) -> list[ChangeResult]:
    destination = ac.destination()
    assert destination is not None
    return destination.push(changes)


def test_subscriptions_take_one_bulk_import_not_a_call_each(
    emu: ActiveCampaignEmulator, syncd_time: VirtualTime
) -> None:
    """Write calls / the minimum = 1.00 for subscriptions, counted in the emulator's log."""
    state = emu.state()
    newsletter = next(x["id"] for x in state["lists"] if x["name"] == "Newsletter")
    on = {x["contact"] for x in state["contactLists"] if x["list"] == newsletter}
    outsiders = [c for c in state["contacts"] if c["id"] not in on]
    changes = [
        Change(i, ChangeKind.SUBSCRIBE, c["email"], "Newsletter", external_id=c["id"])
        for i, c in enumerate(outsiders)
    ]
    changes += [
        Change(len(changes) + n, ChangeKind.SUBSCRIBE, f"fresh{n}@example.com", "Newsletter")
        for n in range(30)
    ]
    assert len(changes) > 36
    emu.clear_requests()
    results = push_all(connect(emu, syncd_time), changes)
    assert {r.outcome for r in results} == {Outcome.DONE}
    writes = sum(r.is_write for r in emu.requests() if r.fault is None)
    assert writes == minimum_writes(emu, changes, 10_000) == 1
    subscribed = {
        e for e, name, status in remote(emu)["lists"] if name == "Newsletter" and status == "1"
    }
    assert {c.email.lower() for c in changes} <= subscribed


def test_someone_unsubscribed_at_ac_is_not_subscribed_by_the_import(
    emu: ActiveCampaignEmulator, syncd_time: VirtualTime
) -> None:
    state = emu.state()
    by_id = {c["id"]: c for c in state["contacts"]}
    names = {x["id"]: x["name"] for x in state["lists"]}
    gone = [x for x in state["contactLists"] if x["status"] == "2"][:2]
    assert gone, "the sample account has unsubscribed contacts"
    known, unknown = gone[0], gone[-1]
    changes = [
        Change(1, ChangeKind.SUBSCRIBE, by_id[known["contact"]]["email"], names[known["list"]],
               external_id=known["contact"]),
        Change(2, ChangeKind.SUBSCRIBE, by_id[unknown["contact"]]["email"], names[unknown["list"]]),
    ]  # fmt: skip
    results = push_all(connect(emu, syncd_time), changes)
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert all("unsubscribed" in (r.reason or "") for r in results)
    after = {(x["contact"], x["list"]): x["status"] for x in emu.state()["contactLists"]}
    assert after[(known["contact"], known["list"])] == "2"
    assert after[(unknown["contact"], unknown["list"])] == "2"


@pytest.mark.parametrize("lost", ["drop_after=1", "5xx_after=1", "drop_after=0.5,5xx_after=0.5"])
def test_a_list_is_created_once_however_many_answers_are_lost(
    syncd_clock: ManualClock, syncd_time: VirtualTime, lost: str
) -> None:
    """Every answer to ``POST /lists`` is lost after AC made the list; each list is made once,
    found by its name before any second try."""
    emu = emulator(syncd_clock, faults=f"POST /api/3/lists:{lost}")
    email = emu.state()["contacts"][0]["email"]
    names = ["Onboarding", "Winback", "VIP list"]
    changes = [Change(i, ChangeKind.SUBSCRIBE, email, name) for i, name in enumerate(names)]
    for _ in range(3):  # the same plan again, as the outbox would send it after a crash
        ac = connect(emu, syncd_time, list_sender_url="https://shop.example.com")
        results = push_all(ac, changes)
        assert {r.outcome for r in results} == {Outcome.DONE}
    made = Counter(x["name"] for x in emu.state()["lists"])
    assert {name: made[name] for name in names} == dict.fromkeys(names, 1)
    lost_answers = [r for r in emu.requests(method="POST", path="/api/3/lists") if r.fault]
    assert len(lost_answers) == len(names)


# the store and the one ActiveCampaign account both configurations begin with
ACCOUNT = """
store:
  url: sqlite:///{db}
connectors:
  ac:
    type: activecampaign
    url: https://acme.api-us1.com
    token: ${{AC_TOKEN}}
"""

CONSENT_CONFIG = (
    ACCOUNT
    + """    list_sender_url: https://shop.example.com
fields:
  Loyalty tier: text
segments:
  fans: {{field: Loyalty tier, eq: fan}}
destinations:
  - connector: ac
    mode: managed
    max_removals: 100%
    lists:
      fans: Fans
"""
)


def test_one_syncd_removed_is_added_back_one_who_unsubscribed_never(
    syncd_clock: ManualClock, syncd_pipeline: Callable[..., Pipeline]
) -> None:
    """AC records a removal from a list as an unsubscribe (status 2). Leaving a segment (a
    field's value) and coming back subscribes again (syncd's own removal, known to the
    store); someone who unsubscribed themselves is never subscribed again, in the segment or
    back in it."""
    emu = ActiveCampaignEmulator(seed=3, people=80, clock=syncd_clock, rate_limit=0)
    pipeline = syncd_pipeline(CONSENT_CONFIG, emu, env={"AC_TOKEN": DEFAULT_TOKEN})
    state = emu.state()
    consenting = {x["contact"] for x in state["contactLists"] if x["status"] == "1"}
    ann, bob = [c for c in state["contacts"] if c["id"] in consenting][:2]
    user = httpx.Client(
        transport=transport(emu), base_url=f"{URL}/api/3", headers={"Api-Token": DEFAULT_TOKEN}
    )
    tier = next(f["id"] for f in state["fields"] if f["title"] == "Loyalty tier")

    def fan(contact: dict[str, Any], value: str = "fan") -> None:
        body = {"fieldValue": {"contact": contact["id"], "field": tier, "value": value}}
        assert user.post("/fieldValues", json=body).status_code == 201

    def status(contact: dict[str, Any]) -> str | None:
        fans = next(x["id"] for x in emu.state()["lists"] if x["name"] == "Fans")
        rows = emu.state()["contactLists"]
        return next(
            (x["status"] for x in rows if (x["contact"], x["list"]) == (contact["id"], fans)), None
        )

    fan(ann)
    fan(bob)
    assert pipeline.run("sync") == 0
    assert status(ann) == status(bob) == "1"
    # ann leaves the segment: syncd takes her off (status 2 at AC); bob unsubscribes himself
    fan(ann, "none")
    fans = next(x["id"] for x in emu.state()["lists"] if x["name"] == "Fans")
    body = {"contactList": {"list": fans, "contact": bob["id"], "status": 2}}
    assert user.post("/contactLists", json=body).status_code == 201
    assert pipeline.run("sync") == 0
    assert status(ann) == status(bob) == "2"
    assert pipeline.run("sync") == 0  # syncd's removal read back: still a removal
    # both in the segment again: ann is added back, bob never
    fan(ann)
    fan(bob, "none")
    assert pipeline.run("sync") == 0
    fan(bob)
    assert pipeline.run("sync") == 0
    assert status(ann) == "1" and status(bob) == "2"
    resubscribed = [r for r in emu.requests(method="POST", path="/api/3/contactLists")]
    assert len(resubscribed) == 2  # bob's own unsubscribe, and ann's re-subscription


# --- the real pipeline: syncd sync with an ActiveCampaign instance -------------------------

CONFIG = (
    ACCOUNT
    + """segments:
  buyers: {{event: order_placed}}
  clickers: {{event: email_clicked}}
destinations:
  - connector: ac
    mode: managed
    tags:
      buyers: BUYER
      clickers: CLICKER
"""
)


def test_syncd_sync_pushes_segments_then_has_nothing_to_do(
    emu: ActiveCampaignEmulator, syncd_pipeline: Callable[..., Pipeline]
) -> None:
    pipeline = syncd_pipeline(CONFIG, emu, env={"AC_TOKEN": DEFAULT_TOKEN})
    state = emu.state()
    by_id = {c["id"]: c["email"].lower() for c in state["contacts"]}
    buyers = {o["email"].lower() for o in state["ecomOrders"] if o["state"] in (1, 3)}
    clickers = {by_id[a["contact"]] for a in state["emailActivities"] if a["event"] == "click"}
    assert pipeline.run("sync") == 0
    after = remote(emu)
    assert {e for e, t in after["tags"] if t == "BUYER"} == buyers
    assert {e for e, t in after["tags"] if t == "CLICKER"} == clickers
    assert Counter(writes(emu)) == {
        "POST /api/3/import/bulk_import": math.ceil(len(buyers | clickers) / 250)
    }
    emu.clear_requests()
    assert pipeline.run("sync") == 0
    assert writes(emu) == []  # nothing to do: not one write
    assert remote(emu) == after


def minimum_writes(emu: ActiveCampaignEmulator, changes: Sequence[Change], batch: int) -> int:
    """What AC's API allows (docs/api/activecampaign.md): a bulk import takes 250 contacts
    with their tags to add, field values, names, subscriptions and unsubscriptions; a tag
    removal is one DELETE; a list AC lacks is one POST; subscribing again a contact syncd
    took off a list (status 2) is one POST. Per push batch of ``batch`` contacts."""
    emails = list(dict.fromkeys(c.email for c in changes))
    bulk = {c.email for c in changes if c.kind is not ChangeKind.REMOVE_TAG}
    batches = [set(emails[at : at + batch]) for at in range(0, len(emails), batch)]
    imports = sum(math.ceil(len(bulk & b) / 250) for b in batches)
    lists = [x["name"] for x in emu.state()["lists"]]
    new_lists = {c.key for c in changes if c.kind is ChangeKind.SUBSCRIBE} - set(lists)
    names = {x["id"]: x["name"] for x in emu.state()["lists"]}
    off = {
        (x["contact"], names[x["list"]]) for x in emu.state()["contactLists"] if x["status"] == "2"
    }
    again = sum(c.syncd_removed and (c.external_id, c.key) in off for c in changes)
    removals = sum(c.kind is ChangeKind.REMOVE_TAG for c in changes)
    return imports + removals + len(new_lists) + again


# --- the connector contract ----------------------------------------------------------------

BATCH = 300  # contacts a push batch holds in the harness: the first one needs two imports


class ActiveCampaignHarness(EmulatorHarness[ActiveCampaignEmulator]):
    connector = ActiveCampaignConnector
    secrets = (DEFAULT_TOKEN,)
    seed = 3
    # tag, list and field names, or every order product (two pages of them here): read once a
    # read, again by a resumed one
    lookups = 2
    quiet_rows = 6  # the six tables AC cannot filter by time: each checked by its last row
    people = 30

    def options(self) -> dict[str, Any]:
        given = {"url": URL, "token": DEFAULT_TOKEN, "import_wait": 30}
        return {**given, "page_size": 20, "batch_size": BATCH}

    def change(self) -> set[str]:
        """A contact renamed and another tagged with a new tag, by someone at AC."""
        user = httpx.Client(
            transport=transport(self.emu),
            base_url=f"{URL}/api/3",
            headers={"Api-Token": DEFAULT_TOKEN},
        )
        contacts = self.emu.state()["contacts"]
        user.post(
            "/contact/sync", json={"contact": {"email": contacts[4]["email"], "firstName": "Zed"}}
        )
        tag = user.post("/tags", json={"tag": {"tag": "fresh", "tagType": "contact"}}).json()["tag"]
        user.post(
            "/contactTags", json={"contactTag": {"contact": contacts[9]["id"], "tag": tag["id"]}}
        )
        return {contacts[4]["id"], contacts[9]["id"]}

    def plant_bad_record(self) -> str:
        account = self.emu.account
        first = account.rows("emailActivities")[0]
        account.insert("emailActivities", {**first, "event": "forward"})
        return "e-mail activity of unknown type 'forward'"

    def changes(self) -> list[Change]:
        return plan(self.emu)

    def remote(self) -> dict[str, Any]:
        return remote(self.emu)

    def minimum_writes(self, changes: Sequence[Change]) -> int:
        return minimum_writes(self.emu, changes, BATCH)


TestActiveCampaignConformance = conformance_suite(ActiveCampaignHarness)


def test_a_subscription_through_a_form_is_a_form_submission(
    emu: ActiveCampaignEmulator, syncd_time: VirtualTime
) -> None:
    state = emu.state()
    forms = {f["id"]: f["name"] for f in state["forms"]}
    lists = {x["id"]: x["name"] for x in state["lists"]}
    through = {x["id"]: x for x in state["contactLists"] if x["form"] != "0"}
    assert through and len(through) < len(state["contactLists"])
    records = pull_valid(connect(emu, syncd_time), {})
    sent = {
        r.external_id: r
        for r in records
        if isinstance(r, EventRecord) and r.type == "form_submitted"
    }
    assert set(sent) == {f"form:{i}" for i in through}
    for i, link in through.items():
        got = sent[f"form:{i}"]
        assert got.contact_external_id == link["contact"]
        assert got.properties == {"form": forms[link["form"]], "list": lists[link["list"]]}
        assert got.occurred_at == parse_time(link["sdate"])
    # the forms are read once, and only because a membership names one
    assert len(emu.requests(path="/api/3/forms")) == 1
