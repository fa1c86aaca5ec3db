"""The files connector passes the conformance suite: its vendor is a folder of files.

The source is a contacts file and an events file (JSONL) that a person appends to; the
destination is the JSON state file, read back by the ``state`` stream. Nothing is sent over
HTTP, so the suite's fault tests skip, and so does the count of write calls: a batch is one
save of the state file, not a call to count.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from syncd.connectors import Change, ChangeKind
from syncd.emulator import ManualClock
from syncd.testing import Harness, conformance_suite
from syncd_plugins.files.connector import FilesConnector

PEOPLE = 13
BATCH = 10


class FilesHarness(Harness):
    connector = FilesConnector

    def start(self, clock: ManualClock, faults: str | None) -> None:
        self.clock = clock
        for name in ("contacts.jsonl", "events.jsonl", "state.json", "state.changes.jsonl"):
            (self.workdir / name).unlink(missing_ok=True)
        at = clock() - timedelta(days=30)
        for n in range(PEOPLE):
            tags = ["customer"] if n % 3 == 0 else []
            self.append("contacts.jsonl", {"id": f"c{n}", "email": f"p{n}@example.com",
                                           "tags": tags, "first_name": f"P{n}"})  # fmt: skip
            when = (at + timedelta(hours=n)).isoformat()
            event = {"id": f"e{n}", "email": f"p{n}@example.com", "at": when, "value": n}
            self.append("events.jsonl", {**event, "type": "order_placed"})

    def append(self, file: str, record: dict[str, Any] | str) -> None:
        line = record if isinstance(record, str) else json.dumps(record)
        with (self.workdir / file).open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def options(self) -> dict[str, Any]:
        return {
            "contacts": "contacts.jsonl",
            "events": "events.jsonl",
            "state": "state.json",
            "page_size": 4,
            "batch_size": BATCH,
        }

    def external_ids(self) -> set[str]:
        return {f"c{n}" for n in range(PEOPLE)} | {f"e{n}" for n in range(PEOPLE)}

    def change(self) -> set[str]:
        self.append("contacts.jsonl", {"id": "c3", "email": "p3@example.com", "first_name": "Zed"})
        when = self.clock().isoformat()
        self.append("events.jsonl", {"id": "e-new", "email": "p1@example.com",
                                     "type": "email_opened", "at": when})  # fmt: skip
        return {"c3", "e-new"}

    def plant_bad_record(self) -> str:
        self.append("contacts.jsonl", '{"id": "c-bad", "email": ')
        return "invalid JSON"

    def changes(self) -> list[Change]:
        """VIP for everyone and five new people, ``customer`` removed, a field and a list."""
        emails = [f"p{n}@example.com" for n in range(PEOPLE)]
        emails += [f"n{n}@example.com" for n in range(5)]
        ids = itertools.count()
        plan = [Change(next(ids), ChangeKind.ADD_TAG, e, "VIP") for e in emails]
        plan += [Change(next(ids), ChangeKind.REMOVE_TAG, e, "customer") for e in emails[::3]]
        plan += [Change(next(ids), ChangeKind.SET_FIELD, e, "tier", "gold") for e in emails[:4]]
        plan += [Change(next(ids), ChangeKind.SUBSCRIBE, e, "news") for e in emails[-3:]]
        return plan

    def remote(self) -> Any:
        path = self.workdir / "state.json"
        return json.loads(path.read_text()) if path.exists() else None


TestFilesConformance = conformance_suite(FilesHarness)
