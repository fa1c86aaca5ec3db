"""Benchmark: write calls per destination and action, against the fewest the vendor's API
allows.

    .venv/bin/python benchmarks/write_calls.py [--people 400]

For ActiveCampaign, HubSpot and SALESmanago, each action (and one plan mixing them) is pushed
through syncd's destination into a fresh in-process emulator, as the outbox does (the
changes of ``batch_size`` contacts a push, the connector's default batch size; SALESmanago
with 1,000, the most its emulator takes, since the vendor publishes no maximum). The write
calls are counted in the emulator's request log (a HubSpot search or batch read is a read);
the minimum is the vendor's API's (docs/api/*.md), worked out by the same functions the
connectors' tests assert with. Time is virtual: rate limits cost no real time.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.connectors import Change, ChangeKind, Connector
from syncd.emulator import Emulator, LoggedRequest, ManualClock, VirtualTime
from syncd.testing import emulator_context, push_until_done
from syncd_plugins.activecampaign import test_against_emulator as ac_test
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator
from syncd_plugins.hubspot import test_against_emulator as hs_test
from syncd_plugins.hubspot.connector import HubSpotConnector, HubSpotOptions
from syncd_plugins.hubspot.emulator import HubSpotEmulator
from syncd_plugins.salesmanago import test_against_emulator as sm_test
from syncd_plugins.salesmanago.connector import SalesmanagoConnector, SalesmanagoOptions
from syncd_plugins.salesmanago.emulator import SalesmanagoEmulator

SM_BATCH = 1000


@dataclass
class Row:
    destination: str
    action: str
    changes: int
    contacts: int
    writes: int
    minimum: int

    def line(self) -> str:
        ratio = self.writes / self.minimum if self.minimum else float("nan")
        return (
            f"| {self.destination} | {self.action} | {self.changes:,} | {self.contacts:,} | "
            f"{self.writes:,} | {self.minimum:,} | {ratio:.2f} |"
        )


@dataclass
class Case:
    """One vendor: a fresh emulator, a connector on it, what counts as a write, the fewest
    writes for a plan (asked before it is pushed) and the plans by action."""

    name: str
    emulator: Callable[[ManualClock], Emulator]
    connector: Callable[[Emulator, VirtualTime], Connector]
    is_write: Callable[[LoggedRequest], bool]
    minimum: Callable[[Emulator, Sequence[Change], int], int]
    plans: dict[str, Callable[[Any], list[Change]]]


def measure(case: Case, action: str) -> Row:
    clock = ManualClock()
    emu = case.emulator(clock)
    connector = case.connector(emu, VirtualTime(clock))
    destination = connector.destination()
    assert destination is not None
    changes = case.plans[action](emu)
    minimum = case.minimum(emu, changes, destination.batch_size)
    emu.clear_requests()
    push_until_done(connector, changes)
    writes = sum(1 for r in emu.requests() if r.fault is None and case.is_write(r))
    contacts = len({c.email.lower() for c in changes})
    return Row(case.name, action, len(changes), contacts, writes, minimum)


def numbered(changes: list[Change]) -> list[Change]:
    return [
        Change(i, c.kind, c.email, c.key, c.value, c.external_id, c.ref, c.attributes)
        for i, c in enumerate(changes)
    ]


# --- ActiveCampaign ------------------------------------------------------------------------


def ac_plans(new: int) -> dict[str, Callable[[Any], list[Change]]]:
    def contacts(emu: ActiveCampaignEmulator) -> list[dict[str, Any]]:
        return list(emu.state()["contacts"])

    def newsletter(emu: ActiveCampaignEmulator) -> tuple[set[str], set[str]]:
        state = emu.state()
        list_id = next(x["id"] for x in state["lists"] if x["name"] == "Newsletter")
        rows = [x for x in state["contactLists"] if x["list"] == list_id]
        return {x["contact"] for x in rows}, {x["contact"] for x in rows if x["status"] == "1"}

    def add_tag(emu: ActiveCampaignEmulator) -> list[Change]:
        emails = [c["email"] for c in contacts(emu)] + [f"new{n}@example.com" for n in range(new)]
        return numbered([Change(0, ChangeKind.ADD_TAG, e, "VIP") for e in emails])

    def set_field(emu: ActiveCampaignEmulator) -> list[Change]:
        return numbered(
            [
                Change(0, ChangeKind.SET_FIELD, c["email"], "Loyalty tier", value="gold")
                for c in contacts(emu)
            ]
        )

    def subscribe(emu: ActiveCampaignEmulator) -> list[Change]:
        on, _ = newsletter(emu)
        known = [
            Change(0, ChangeKind.SUBSCRIBE, c["email"], "Newsletter", external_id=c["id"])
            for c in contacts(emu)
            if c["id"] not in on
        ]
        fresh = [
            Change(0, ChangeKind.SUBSCRIBE, f"new{n}@example.com", "Newsletter") for n in range(new)
        ]
        return numbered(known + fresh)

    def unsubscribe(emu: ActiveCampaignEmulator) -> list[Change]:
        _, active = newsletter(emu)
        return numbered(
            [
                Change(0, ChangeKind.UNSUBSCRIBE, c["email"], "Newsletter", external_id=c["id"])
                for c in contacts(emu)
                if c["id"] in active
            ]
        )

    def remove_tag(emu: ActiveCampaignEmulator) -> list[Change]:
        state = emu.state()
        by_id = {c["id"]: c for c in state["contacts"]}
        tag = next(t["id"] for t in state["tags"] if t["tag"] == "customer")
        return numbered(
            [
                Change(
                    0,
                    ChangeKind.REMOVE_TAG,
                    by_id[link["contact"]]["email"],
                    "customer",
                    external_id=link["contact"],
                    ref=link["id"],
                )
                for link in state["contactTags"]
                if link["tag"] == tag
            ]
        )

    def upsert(emu: ActiveCampaignEmulator) -> list[Change]:
        return numbered(
            [
                Change(
                    0,
                    ChangeKind.UPSERT_CONTACT,
                    f"new{n}@example.com",
                    "",
                    attributes={"first_name": "Ada", "last_name": f"N{n}"},
                )
                for n in range(new)
            ]
        )

    def create_lists(emu: ActiveCampaignEmulator) -> list[Change]:
        email = contacts(emu)[0]["email"]
        names = ["Onboarding", "Winback", "VIP list"]
        return numbered([Change(0, ChangeKind.SUBSCRIBE, email, name) for name in names])

    def mixed(emu: ActiveCampaignEmulator) -> list[Change]:
        return numbered(ac_test.plan(emu, new=new))

    return {
        "add_tag": add_tag,
        "set_field": set_field,
        "subscribe": subscribe,
        "unsubscribe": unsubscribe,
        "remove_tag": remove_tag,
        "upsert_contact": upsert,
        "subscribe to 3 new lists": create_lists,
        "all of them in one plan": mixed,
    }


def ac_connector(emu: Emulator, vt: VirtualTime) -> Connector:
    options = ActiveCampaignOptions(
        url=ac_test.URL,  # type: ignore[arg-type]
        token=ac_test.DEFAULT_TOKEN,  # type: ignore[arg-type]
        import_wait=30,
        list_sender_url="https://shop.example.com",
    )
    return ActiveCampaignConnector(options, emulator_context("ac", emu, time=vt))


# --- HubSpot -------------------------------------------------------------------------------


def hs_plans(new: int) -> dict[str, Callable[[Any], list[Change]]]:
    def emails(emu: HubSpotEmulator) -> list[str]:
        return [c["properties"]["email"] for c in emu.state()["contacts"]]

    def subscribe(emu: HubSpotEmulator) -> list[Change]:
        every = emails(emu) + [f"new{n}@example.com" for n in range(new)]
        return numbered([Change(0, ChangeKind.SUBSCRIBE, e, "Hot leads") for e in every])

    def unsubscribe(emu: HubSpotEmulator) -> list[Change]:
        members = emu.state()["contacts"]
        ids = {c["id"]: c["properties"]["email"] for c in members}
        # members of a list syncd made before, as the store knows them (with their ids)
        destination = hs_connector(emu, VirtualTime(emu.clock)).destination()  # type: ignore[arg-type]
        assert destination is not None
        destination.push(
            [
                Change(n, ChangeKind.SUBSCRIBE, e, "Hot leads", external_id=i)
                for n, (i, e) in enumerate(ids.items())
            ]
        )
        return numbered(
            [
                Change(0, ChangeKind.UNSUBSCRIBE, e, "Hot leads", external_id=i)
                for i, e in ids.items()
            ]
        )

    def set_field(emu: HubSpotEmulator) -> list[Change]:
        return numbered(
            [Change(0, ChangeKind.SET_FIELD, e, "loyalty_tier", value="gold") for e in emails(emu)]
        )

    def mixed(emu: HubSpotEmulator) -> list[Change]:
        return numbered(hs_test.plan(emu, new=new))

    return {
        "subscribe (list membership)": subscribe,
        "unsubscribe (list membership)": unsubscribe,
        "set_field": set_field,
        "all of them in one plan": mixed,
    }


def hs_connector(emu: Emulator, vt: VirtualTime) -> Connector:
    options = HubSpotOptions(token=hs_test.DEFAULT_TOKEN)  # type: ignore[arg-type]
    return HubSpotConnector(options, emulator_context("hs", emu, time=vt))


# --- SALESmanago ---------------------------------------------------------------------------


def sm_plans(new: int) -> dict[str, Callable[[Any], list[Change]]]:
    def contacts(emu: SalesmanagoEmulator) -> list[dict[str, Any]]:
        return list(emu.state()["contacts"])

    def add_tag(emu: SalesmanagoEmulator) -> list[Change]:
        every = [c["email"] for c in contacts(emu)] + [f"new{n}@example.com" for n in range(new)]
        return numbered([Change(0, ChangeKind.ADD_TAG, e, "VIP") for e in every])

    def remove_tag(emu: SalesmanagoEmulator) -> list[Change]:
        return numbered(
            [
                Change(0, ChangeKind.REMOVE_TAG, c["email"], "CHROME", external_id=c["id"])
                for c in contacts(emu)
                if any(t["tag"] == "CHROME" for t in c["contactTags"])
            ]
        )

    def set_field(emu: SalesmanagoEmulator) -> list[Change]:
        return numbered(
            [
                Change(0, ChangeKind.SET_FIELD, c["email"], "loyalty", value="gold")
                for c in contacts(emu)
            ]
        )

    def opt_in(emu: SalesmanagoEmulator) -> list[Change]:
        return numbered(
            [Change(0, ChangeKind.SUBSCRIBE, f"new{n}@example.com", "email") for n in range(new)]
        )

    def mixed(emu: SalesmanagoEmulator) -> list[Change]:
        return numbered(sm_test.plan(emu, new=new))

    return {
        "add_tag": add_tag,
        "remove_tag": remove_tag,
        "set_field": set_field,
        "subscribe (opt-in)": opt_in,
        "all of them in one plan": mixed,
    }


def sm_connector(emu: Emulator, vt: VirtualTime) -> Connector:
    options = SalesmanagoOptions(
        server=sm_test.SERVER,
        client_id=sm_test.DEFAULT_CLIENT_ID,
        api_key="syncd-benchmark",  # type: ignore[arg-type]
        api_secret=sm_test.DEFAULT_SECRET,  # type: ignore[arg-type]
        owner=sm_test.DEFAULT_OWNER,
        batch_size=SM_BATCH,
    )
    return SalesmanagoConnector(options, emulator_context("sm", emu, time=vt))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=400, help="people in each tool")
    args = parser.parse_args()
    # the figures, not each request
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    new = args.people // 4  # e-mails the tools do not know yet
    cases = [
        Case(
            "ActiveCampaign",
            lambda clock: ActiveCampaignEmulator(seed=3, people=args.people, clock=clock),
            ac_connector,
            lambda r: r.is_write,
            ac_test.minimum_writes,  # type: ignore[arg-type]
            ac_plans(new),
        ),
        Case(
            "HubSpot",
            lambda clock: HubSpotEmulator(seed=5, people=args.people, clock=clock),
            hs_connector,
            hs_test.HubSpotHarness().is_write,
            hs_test.minimum_writes,  # type: ignore[arg-type]
            hs_plans(new),
        ),
        Case(
            "SALESmanago",
            lambda clock: SalesmanagoEmulator(seed=3, people=args.people, clock=clock),
            sm_connector,
            sm_test.SalesmanagoHarness().is_write,
            lambda _emu, changes, batch: sm_test.minimum_writes(changes, batch),
            sm_plans(new),
        ),
    ]
    print(f"{args.people:,} people in each tool, {new:,} e-mails new to it")
    print("| destination | action | changes | contacts | write calls | minimum | calls / minimum |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for case in cases:
        for action in case.plans:
            print(measure(case, action).line(), flush=True)


if __name__ == "__main__":
    main()
