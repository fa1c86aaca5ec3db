"""The sample connector's conformance harness: how the suite drives the Sample CRM emulator.

A connector's test module holds its harness and one line:

    TestSampleConformance = conformance_suite(SampleHarness)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import httpx

from syncd.connectors import Change, ChangeKind
from syncd.emulator import transport
from syncd.testing import EmulatorHarness
from syncd.testing.sample.connector import BULK_MAX, SampleConnector
from syncd.testing.sample.emulator import DEFAULT_TOKEN, SampleEmulator

URL = "https://api.sample.test"


class SampleHarness(EmulatorHarness[SampleEmulator]):
    connector = SampleConnector
    secrets = (DEFAULT_TOKEN,)

    def options(self) -> dict[str, Any]:
        return {"url": URL, "token": DEFAULT_TOKEN, "page_size": 5}

    def user(self) -> httpx.Client:
        """A client of the vendor's API, as a person at the vendor would use it."""
        return httpx.Client(
            transport=transport(self.emu),
            base_url=URL,
            headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        )

    def external_ids(self) -> set[str]:
        return {c["id"] for c in self.emu.state()["contacts"] if c["email"]}

    def change(self) -> set[str]:
        with self.user() as api:
            api.patch("/v1/contacts/3", json={"first_name": "Zed"}).raise_for_status()
            made = api.post("/v1/contacts", json={"email": "new.one@example.com"})
            made.raise_for_status()
        return {"3", made.json()["contact"]["id"]}

    def plant_bad_record(self) -> str:
        self.emu.add_contact(None, "No", "Email")
        return "a contact without an e-mail"

    def changes(self) -> list[Change]:
        """A VIP tag for every contact and 40 new ones, ``customer`` removed, a field set:
        63 contacts, two batches."""
        contacts = self.emu.state()["contacts"]
        emails = [c["email"] for c in contacts] + [f"new{n}@example.com" for n in range(40)]
        ids = itertools.count()
        plan = [Change(next(ids), ChangeKind.ADD_TAG, email, "VIP") for email in emails]
        plan += [
            Change(next(ids), ChangeKind.REMOVE_TAG, c["email"], "customer", external_id=c["id"])
            for c in contacts
            if "customer" in c["tags"]
        ]
        plan += [Change(next(ids), ChangeKind.SET_FIELD, e, "tier", "gold") for e in emails[:5]]
        named = {"first_name": "Nova"}
        plan.append(Change(next(ids), ChangeKind.UPSERT_CONTACT, emails[-1], "", attributes=named))
        return plan

    def remote(self) -> Any:
        return sorted(
            (
                c["email"],
                c["first_name"],
                c["last_name"],
                tuple(c["tags"]),
                tuple(sorted(c["fields"].items())),
            )
            for c in self.emu.state()["contacts"]
            if c["email"]
        )

    def minimum_writes(self, changes: Sequence[Change]) -> int:
        return math.ceil(len({c.email.lower() for c in changes}) / BULK_MAX)
