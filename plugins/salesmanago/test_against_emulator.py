"""The SALESmanago connector against the in-process emulator: the connector contract (the
conformance suite), what SALESmanago's records and writes mean, a cursor of an older syncd,
and the real pipeline. Time is virtual: the connector's sleeps move the emulator's clock, so
rate limits and Retry-After cost no real time."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from syncd.connectors import (
    Change,
    ChangeKind,
    ContactRecord,
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
    push_until_done,
)
from syncd_plugins.salesmanago.connector import SalesmanagoConnector, SalesmanagoOptions
from syncd_plugins.salesmanago.emulator import (
    API,
    DEFAULT_CLIENT_ID,
    DEFAULT_OWNER,
    DEFAULT_SECRET,
    SalesmanagoEmulator,
)
from syncd_plugins.salesmanago.emulator_state import ms
from syncd_plugins.salesmanago.test_emulator import BASE, signed

SERVER = "https://app3.salesmanago.com"
WRITES = re.compile(r"/api/(contact/(upsert|batchupsert|batchupsertv2|managetags|opt\w+|"
                    r"batchopt\w+|addContactExtEvent|batchAddContactExtEvent))$")  # fmt: skip


def emulator(clock: ManualClock, faults: str | None = None) -> SalesmanagoEmulator:
    return SalesmanagoEmulator(seed=3, people=120, clock=clock, faults=faults)


def connect(emu: SalesmanagoEmulator, vt: VirtualTime, **options: Any) -> SalesmanagoConnector:
    given: dict[str, Any] = {
        "server": SERVER,
        "client_id": DEFAULT_CLIENT_ID,
        "api_key": "syncd-test",
        "api_secret": DEFAULT_SECRET,
        "owner": DEFAULT_OWNER,
        "page_size": 30,
        **options,
    }
    return SalesmanagoConnector(SalesmanagoOptions(**given), emulator_context("sm", emu, time=vt))


def writes(emu: SalesmanagoEmulator) -> list[str]:
    return [r.path for r in emu.requests() if WRITES.search(r.path) and r.status == 200]


def remote(emu: SalesmanagoEmulator) -> dict[str, Any]:
    """What the account holds, by e-mail: comparable across emulators."""
    contacts = emu.state()["contacts"]
    return {
        c["email"].lower(): (
            sorted(t["tag"] for t in c["contactTags"]),
            c["optedOut"],
            sorted((p["name"], p["value"]) for p in c["properties"]),
        )
        for c in contacts
    }


def test_a_full_pull_reads_the_whole_account(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    state = emu.state()["contacts"]
    records = pull_valid(connect(emu, syncd_time), {})
    contacts = {r.external_id: r for r in records if isinstance(r, ContactRecord)}
    assert set(contacts) == {c["id"] for c in state}
    for c in state:
        got = contacts[c["id"]]
        assert got.tags == [t["tag"] for t in c["contactTags"]]  # counters kept as text
        assert (got.consent == "revoked") is c["optedOut"]
    events = Counter(r.raw_type for r in records if isinstance(r, EventRecord))
    assert events == Counter(e["contactExtEventType"] for c in state for e in c["contactExtEvents"])
    assert events["PURCHASE"] and events["CART"] and events["VISIT"] and events["DOWNLOAD"]
    assert writes(emu) == [] and not emu.requests(status=429)
    purchases = {
        r.external_id: r.properties["items"]
        for r in records
        if isinstance(r, EventRecord) and r.raw_type == "PURCHASE"
    }
    for c in state:
        for e in c["contactExtEvents"]:
            if e["contactExtEventType"] == "PURCHASE":
                skus = e["products"].split(",")
                got = purchases[f"ext:{e['eventId']}"]
                assert [(i["sku"], i["quantity"]) for i in got] == [(s, 1) for s in skus]


def test_a_cursor_of_the_old_shape_resumes_after_migration(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    read_at = int(syncd_clock().timestamp() * 1000)
    # what the old stream stored after reading everything up to now: less its minute of margin
    old = json.dumps({"from": read_at - 60_000})
    syncd_time.sleep(600)
    changed = emu.state()["contacts"][11]
    user = httpx.Client(transport=transport(emu), base_url=BASE)
    body = signed({"contact": {"email": changed["email"]}, "tags": ["NOWY"]})
    assert user.post("contact/upsert", json=body).json()["success"] is True
    cursors: dict[str, str | None] = {"contacts": migrated_cursor(old)}
    read = {
        r.external_id
        for r in pull(connect(emu, syncd_time), cursors)
        if isinstance(r, ContactRecord)
    }
    # from the migrated bound (which had its minute taken off), not everything
    again = {c["id"] for c in emu.state()["contacts"] if c["modifiedOn"] >= read_at - 60_000}
    assert read == again | {changed["id"]}
    assert len(read) < len(emu.state()["contacts"]) // 2
    assert json.loads(cursors["contacts"] or "")["bound"] == int(syncd_clock().timestamp() * 1000)
    syncd_time.sleep(30)  # a window end like any other: nothing new, nothing read
    assert [
        r for r in pull(connect(emu, syncd_time), cursors) if isinstance(r, ContactRecord)
    ] == []


def _upsert_tag(emu: SalesmanagoEmulator, email: str, tag: str) -> None:
    user = httpx.Client(transport=transport(emu), base_url=BASE)
    body = signed({"contact": {"email": email}, "tags": [tag]})
    assert user.post("contact/upsert", json=body).json()["success"] is True


def _stop_after(stream: Any, cursor: str | None, pages: int) -> tuple[set[str], str | None]:
    """The contacts of a read's first ``pages`` pages and the cursor it stored last."""
    read: set[str] = set()
    for n, page in enumerate(stream.read(cursor), 1):
        read |= {r.external_id for r in page.records if isinstance(r, ContactRecord)}
        cursor = page.cursor
        if n == pages:
            break
    return read, cursor


def _contacts(stream: Any, cursor: str | None) -> tuple[set[str], str | None, int]:
    read: set[str] = set()
    pages = 0
    for page in stream.read(cursor):
        read |= {r.external_id for r in page.records if isinstance(r, ContactRecord)}
        cursor, pages = page.cursor, pages + 1
    return read, cursor, pages


def test_a_window_read_stopped_while_contacts_change_skips_none(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    """A read stopped after page 2 of 4; meanwhile contacts on the pages it read are modified
    (they leave the window, moving the rest forward): the resumed read and the next one read
    every contact once, and the modified ones again."""
    emu = emulator(syncd_clock)
    everyone = {c["id"] for c in emu.state()["contacts"]}
    stream = connect(emu, syncd_time).streams()[0]
    first, cursor = _stop_after(stream, None, 2)
    assert len(first) == 60
    syncd_time.sleep(5)
    listed = emu.account.modified(0, ms(syncd_clock()))
    moved = [c["email"] for c in listed[:3]]  # listed on the first page
    for email in moved:
        _upsert_tag(emu, email, "ZMIANA")
    resumed, cursor, _ = _contacts(stream, cursor)
    # the rows at the stopped read's end shifted: the window is read again from its start, up
    # to now; the contacts already read are dropped unless they changed since
    changed = {c["id"] for c in listed[:3]}
    assert first | resumed == everyone
    assert first & resumed == changed
    syncd_time.sleep(5)
    after, cursor, _ = _contacts(stream, cursor)
    assert after == set()


def test_a_window_read_stopped_with_nothing_changed_resumes_at_its_next_page(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    stream = connect(emu, syncd_time).streams()[0]
    first, cursor = _stop_after(stream, None, 2)
    syncd_time.sleep(5)
    listing = f"{API}/contact/paginatedModifiedContacts"
    pages_before = len(emu.requests(path=listing))
    resumed, _, pages = _contacts(stream, cursor)
    everyone = {c["id"] for c in emu.state()["contacts"]}
    assert pages == 2 and first | resumed == everyone and not first & resumed
    # the two pages left and the one-row check
    assert len(emu.requests(path=listing)) - pages_before == 3


def plan(emu: SalesmanagoEmulator, new: int = 150) -> list[Change]:
    """Two tags for every contact and ``new`` new e-mails, a removal, opt-ins for new
    contacts, and a property value."""
    state = emu.state()["contacts"]
    emails = [c["email"] for c in state] + [f"new{n}@example.com" for n in range(new)]
    changes = [
        Change(len(emails) * k + i, ChangeKind.ADD_TAG, email, tag)
        for k, tag in enumerate(("VIP", "ENGAGED"))
        for i, email in enumerate(emails)
    ]
    chrome = next(c for c in state if any(t["tag"] == "CHROME" for t in c["contactTags"]))
    n = len(changes)
    changes += [
        Change(n, ChangeKind.REMOVE_TAG, chrome["email"], "CHROME", external_id=chrome["id"]),
        Change(n + 2, ChangeKind.SET_FIELD, emails[0], "loyalty", value="platinum"),
        *(Change(n + 3 + i, ChangeKind.SUBSCRIBE, f"new{i}@example.com", "email")
          for i in range(min(new, 5))),
    ]  # fmt: skip
    return changes


def test_a_push_adds_and_removes_tags_opts_in_and_sets_properties(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    changes = plan(emu)
    contacts = {c.email.lower() for c in changes}
    assert push_until_done(connect(emu, syncd_time, batch_size=40), changes) == 1
    after = remote(emu)
    assert all({"VIP", "ENGAGED"} <= set(after[e][0]) for e in contacts)
    removed = next(c for c in changes if c.kind is ChangeKind.REMOVE_TAG)
    assert "CHROME" not in after[removed.email.lower()][0]
    opted_in = [c.email.lower() for c in changes if c.kind is ChangeKind.SUBSCRIBE]
    assert opted_in and all(after[e][1] is False for e in opted_in)
    assert ("loyalty", "platinum") in after[changes[0].email.lower()][2]


def test_a_tag_named_in_tag_events_records_an_external_event_when_added(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    """A segment entry (its tag added) as an external event: one for each VIP tag added, of
    the type configured, after the batch's upsert, in one call for the batch's events."""
    emu = emulator(syncd_clock)
    changes = plan(emu)
    before = {c["email"].lower(): len(c["contactExtEvents"]) for c in emu.state()["contacts"]}
    ac = connect(emu, syncd_time, batch_size=40, tag_events={"VIP": "OTHER"})
    assert push_until_done(ac, changes) == 1
    vip = {
        c.email.lower(): c.id for c in changes if c.kind is ChangeKind.ADD_TAG and c.key == "VIP"
    }
    for contact in emu.state()["contacts"]:
        email = contact["email"].lower()
        mine = [e for e in contact["contactExtEvents"]
                if str(e.get("externalId", "")).startswith("syncd-")]  # fmt: skip
        assert len(contact["contactExtEvents"]) == before.get(email, 0) + len(mine)
        assert [(e["contactExtEventType"], e["description"], e["externalId"]) for e in mine] == (
            [("OTHER", "VIP", f"syncd-{vip[email]}")] if email in vip else []
        )
    calls = [r.path for r in emu.requests(status=200) if r.path.endswith("batchAddContactExtEvent")]
    # one call for each batch of contacts the outbox hands over (40 here, 1,000 events fit)
    assert len(calls) == math.ceil(len(vip) / 40)
    sent = [r.path.rsplit("/", 1)[1] for r in emu.requests(status=200)]
    # each batch's events after its upsert: the contacts exist when their events arrive
    events_at = [i for i, p in enumerate(sent) if p == "batchAddContactExtEvent"]
    assert events_at and all(i > 0 and sent[i - 1] == "batchupsert" for i in events_at)


def test_tag_events_name_only_salesmanagos_event_types() -> None:
    with pytest.raises(ValueError, match="'VIP' -> 'ENTERED' is no event type"):
        SalesmanagoOptions(server=SERVER, client_id="c", api_key="k", api_secret="s",
                           owner="o@example.com", tag_events={"VIP": "ENTERED"})  # fmt: skip


def test_an_unsubscribe_never_opts_anyone_out(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    """SALESmanago's opt-out withdraws consent to all e-mail: syncd never sends it, even for
    an unsubscribe an earlier syncd left in the outbox."""
    emu = emulator(syncd_clock)
    listening = next(c for c in emu.state()["contacts"] if not c["optedOut"])
    destination = connect(emu, syncd_time).destination()
    assert destination is not None
    assert ChangeKind.UNSUBSCRIBE not in destination.change_kinds
    [result] = destination.push([Change(1, ChangeKind.UNSUBSCRIBE, listening["email"], "email")])
    assert result.outcome is Outcome.FAILED and "never opts" in (result.reason or "")
    assert writes(emu) == []
    assert remote(emu)[listening["email"].lower()][1] is False


# --- the real pipeline: syncd sync with a SALESmanago instance ----------------------------

ACCOUNT = """
store:
  url: sqlite:///{db}
connectors:
  sm:
    type: salesmanago
    server: https://app3.salesmanago.com
    client_id: {client_id}
    api_key: ${{SM_API_KEY}}
    api_secret: ${{SM_API_SECRET}}
    owner: {owner}
"""  # the emulator's account as an instance; a config adds its segments and destinations
CONFIG = (
    ACCOUNT
    + """    batch_size: 10
segments:
  buyers: {{event: order_placed}}
destinations:
  - connector: sm
    mode: managed
    tags:
      buyers: KUPUJACY
"""
)


def on_account(
    syncd_pipeline: Callable[..., Pipeline], config: str, emu: SalesmanagoEmulator
) -> Pipeline:
    """The pipeline on ``config`` (``ACCOUNT`` and more) with the emulator's account."""
    env = {"SM_API_KEY": "syncd-pipeline", "SM_API_SECRET": DEFAULT_SECRET}
    return syncd_pipeline(config, emu, env=env, client_id=DEFAULT_CLIENT_ID, owner=DEFAULT_OWNER)


def test_syncd_sync_tags_buyers_then_has_nothing_to_do(
    syncd_clock: ManualClock, syncd_pipeline: Callable[..., Pipeline]
) -> None:
    emu = emulator(syncd_clock)
    pipeline = on_account(syncd_pipeline, CONFIG, emu)
    contacts = emu.state()["contacts"]
    buyers = {
        c["email"].lower()
        for c in contacts
        if any(e["contactExtEventType"] == "PURCHASE" for e in c["contactExtEvents"])
    }
    assert len(buyers) > 10
    assert pipeline.run("sync") == 0
    after = remote(emu)
    assert {e for e, (tags, _, _) in after.items() if "KUPUJACY" in tags} == buyers
    assert Counter(writes(emu)) == {"/api/contact/batchupsert": math.ceil(len(buyers) / 10)}
    emu.clear_requests()
    assert pipeline.run("sync") == 0
    assert writes(emu) == []  # nothing to do: not one write
    assert remote(emu) == after


CONSENT_CONFIG = (
    ACCOUNT
    + """segments:
  buyers: {{event: order_placed}}
destinations:
  - connector: sm
    mode: mirror
    max_removals: 100%
    lists:
      buyers: email
"""
)


def test_leaving_a_segment_mapped_to_the_subscription_opts_no_one_out(
    syncd_clock: ManualClock, syncd_pipeline: Callable[..., Pipeline]
) -> None:
    emu = emulator(syncd_clock)
    contacts = emu.state()["contacts"]
    pipeline = on_account(syncd_pipeline, CONSENT_CONFIG, emu)
    buyers = {
        c["email"].lower()
        for c in contacts
        if any(e["contactExtEventType"] == "PURCHASE" for e in c["contactExtEvents"])
    }
    listening = {c["email"].lower() for c in contacts if not c["optedOut"]}
    assert listening - buyers, "subscribed people outside the segment, whom mirror would remove"
    assert pipeline.run("sync") == 0
    # each of them stays subscribed: no opt-out was sent, in a batch upsert or otherwise
    assert all(remote(emu)[e][1] is False for e in listening)
    assert not [r for r in emu.requests() if r.path.endswith(("optout", "batchoptout"))]
    assert pipeline.run("plan") == 0  # and plans none: unsubscribes are not supported here


# --- the connector contract ----------------------------------------------------------------

BATCH = 40  # contacts a push batch holds in the harness


class SalesmanagoHarness(EmulatorHarness[SalesmanagoEmulator]):
    connector = SalesmanagoConnector
    secrets = (DEFAULT_SECRET,)
    seed = 3
    people = 50
    lookups = 1  # a resumed window read asks for the last row it had, to see nothing shifted

    def options(self) -> dict[str, Any]:
        return {
            "server": SERVER,
            "client_id": DEFAULT_CLIENT_ID,
            "api_key": "syncd-conformance",
            "api_secret": DEFAULT_SECRET,
            "owner": DEFAULT_OWNER,
            "page_size": 20,
            "batch_size": BATCH,
        }

    def is_write(self, request: LoggedRequest) -> bool:
        return bool(WRITES.search(request.path))  # every call is a POST

    def external_ids(self) -> set[str]:
        state = self.emu.state()["contacts"]
        return {c["id"] for c in state} | {
            f"ext:{e['eventId']}" for c in state for e in c["contactExtEvents"]
        }

    def change(self) -> set[str]:
        """A contact tagged by someone at SALESmanago: read again whole, with its events."""
        changed = self.emu.state()["contacts"][7]
        user = httpx.Client(transport=transport(self.emu), base_url=BASE)
        body = signed({"contact": {"email": changed["email"]}, "tags": ["CENNIK (4)"]})
        assert user.post("contact/upsert", json=body).json()["success"] is True
        return {changed["id"]} | {f"ext:{e['eventId']}" for e in changed["contactExtEvents"]}

    def plant_bad_record(self) -> str:
        contact = next(iter(self.emu.account.contacts.values()))
        contact["_events"].append({"eventId": "bad-1", "contactExtEventType": "TELEPORT"})
        return "external event of unknown type 'TELEPORT'"

    def changes(self) -> list[Change]:
        return plan(self.emu, new=30)

    def remote(self) -> dict[str, Any]:
        return remote(self.emu)

    def minimum_writes(self, changes: Sequence[Change]) -> int:
        return minimum_writes(changes, BATCH)


def minimum_writes(changes: Sequence[Change], batch: int) -> int:
    """One contact/batchupsert carries every change of ``batch`` contacts (tags to add and
    to remove, values, the opt-in); SALESmanago publishes no maximum, the emulator takes
    1,000."""
    return math.ceil(len({c.email.lower() for c in changes}) / batch)


TestSalesmanagoConformance = conformance_suite(SalesmanagoHarness)
