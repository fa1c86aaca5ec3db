"""The Mailchimp connector's conformance harness: how the suite drives the emulator."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import httpx

from syncd.connectors import Change, ChangeKind
from syncd.emulator import transport
from syncd.testing import EmulatorHarness, conformance_suite
from syncd_mailchimp.connector import BATCH_MAX, SUBSCRIPTIONS, TAGS, MailchimpConnector
from syncd_mailchimp.emulator import API_KEY, LIST_ID, MailchimpEmulator


class MailchimpHarness(EmulatorHarness[MailchimpEmulator]):
    connector = MailchimpConnector
    secrets = (API_KEY,)

    def options(self) -> dict[str, Any]:
        return {"api_key": API_KEY, "list_id": LIST_ID, "page_size": 5}

    def user(self) -> httpx.Client:
        """A client of the API, as an account's owner would use it."""
        root = "https://us6.api.mailchimp.com/3.0/"
        return httpx.Client(transport=transport(self.emu), base_url=root, auth=("me", API_KEY))

    def members(self) -> list[dict[str, Any]]:
        return [m for m in self.emu.state()["members"] if m["email_address"]]

    def external_ids(self) -> set[str]:
        return {m["id"] for m in self.members()}

    def change(self) -> set[str]:
        third = self.members()[2]["id"]
        with self.user() as api:
            tags = {"tags": [{"name": "vip", "status": "active"}]}
            api.post(f"lists/{LIST_ID}/members/{third}/tags", json=tags).raise_for_status()
            joined = {"members": [{"email_address": "new.one@example.com", "status": "pending"}]}
            made = api.post(f"lists/{LIST_ID}", json=joined)
            made.raise_for_status()
        return {third, made.json()["new_members"][0]["id"]}

    def plant_bad_record(self) -> str:
        self.emu.add_member(None)
        return "a member without an e-mail address"

    def changes(self) -> list[Change]:
        """Every member and 500 new e-mails subscribed (every 100th unsubscribed), VIP for the
        members and five new ones, ``customer`` removed: 523 contacts, two batches."""
        members = self.members()
        emails = [m["email_address"] for m in members] + [f"new{n}@example.com" for n in range(500)]
        ids = itertools.count()
        kinds = [ChangeKind.UNSUBSCRIBE, *[ChangeKind.SUBSCRIBE] * 99]
        plan = [Change(next(ids), k, e, LIST_ID) for k, e in zip(itertools.cycle(kinds), emails)]
        vips = emails[: len(members) + 5]
        plan += [Change(next(ids), ChangeKind.ADD_TAG, e, "VIP") for e in vips]
        plan += [
            Change(next(ids), ChangeKind.REMOVE_TAG, m["email_address"], "customer")
            for m in members
            if {"customer"} & {t["name"] for t in m["tags"]}
        ]
        return plan

    def remote(self) -> Any:
        return sorted(
            (m["email_address"], m["status"], tuple(sorted(t["name"] for t in m["tags"])))
            for m in self.members()
        )

    def minimum_writes(self, changes: Sequence[Change]) -> int:
        """A batch subscribe per 500 members, a tags call per member tagged."""
        subscribed = {c.email.lower() for c in changes if c.kind in SUBSCRIPTIONS}
        tagged = {c.email.lower() for c in changes if c.kind in TAGS}
        return math.ceil(len(subscribed) / BATCH_MAX) + len(tagged)


TestMailchimpConformance = conformance_suite(MailchimpHarness)
