"""A small SALESmanago API v2 client written from the vendor's public documentation
(https://docs.salesmanago.com/, "General information"), independent of syncd: every call is a
JSON POST to ``<server>/api/<method>`` whose body carries ``clientId``, ``apiKey`` (any string),
``requestTime`` (Unix ms), ``sha`` = sha1(apiKey + clientId + apiSecret) and ``owner``; every
answer is HTTP 200, an error being ``{"success": false, "message": [...]}``.

It drives the documented contact and event methods against the emulator at ``FIDELITY_URL``
and compares what it got with ``GET /_emulator/state``, one ``FIDELITY`` line per call.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

import requests
from verdict import report, state


class SalesmanagoApiError(Exception):
    """An answer with ``success: false``."""

    def __init__(self, method: str, answer: dict[str, Any]) -> None:
        super().__init__(f"{method}: {answer.get('message')}")
        self.answer = answer


class Salesmanago:
    """One account of the SALESmanago JSON API (v2)."""

    def __init__(self, server: str, client_id: str, api_key: str, api_secret: str, owner: str):
        self.base = server.rstrip("/") + "/api/"
        self.client_id, self.api_key, self.api_secret, self.owner = (
            client_id,
            api_key,
            api_secret,
            owner,
        )
        self.http = requests.Session()
        self.http.headers.update(
            {"Accept": "application/json", "Content-Type": "application/json;charset=UTF-8"}
        )

    def sha(self, secret: str | None = None) -> str:
        text = self.api_key + self.client_id + (self.api_secret if secret is None else secret)
        return hashlib.sha1(text.encode()).hexdigest()

    def raw(
        self, method: str, body: dict[str, Any], *, secret: str | None = None, verb: str = "POST"
    ) -> requests.Response:
        signed = {
            "clientId": self.client_id,
            "apiKey": self.api_key,
            "requestTime": int(time.time() * 1000),
            "sha": self.sha(secret),
            "owner": self.owner,
            **body,
        }
        return self.http.request(verb, self.base + method, data=json.dumps(signed), timeout=30)

    def call(self, method: str, **body: Any) -> dict[str, Any]:
        response = self.raw(method, body)
        if response.status_code != 200:
            raise RuntimeError(f"{method}: HTTP {response.status_code}, documented 200")
        answer = response.json()
        if not isinstance(answer, dict) or "success" not in answer:
            raise RuntimeError(f"{method}: the answer has no success flag")
        if answer["success"] is not True:
            raise SalesmanagoApiError(method, answer)
        return answer

    # --- reading ------------------------------------------------------------------------------

    def modified_pages(self, start: int, end: int, size: int = 100) -> list[dict[str, Any]]:
        rows, page = [], 0
        while True:
            answer = self.call(
                "contact/paginatedModifiedContacts",
                **{"from": start, "to": end, "page": page, "size": size},
            )
            rows += answer["modifiedContacts"]
            if not answer["hasMore"]:
                return rows
            page += 1

    def list_by_id(self, ids: list[str], chunk: int = 50) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for at in range(0, len(ids), chunk):
            found += self.call("contact/listById", contactId=ids[at : at + chunk])["contacts"]
        return found


def main() -> int:
    url = os.environ["FIDELITY_URL"]
    config = json.loads(os.environ["FIDELITY_CONFIG"])
    sm = Salesmanago(
        config["server"],
        config["client_id"],
        config["api_key"],
        config["api_secret"],
        config["owner"],
    )
    held = {c["id"]: c for c in state(url)["contacts"]}
    by_email = {c["email"].lower(): c for c in held.values()}
    now = int(time.time() * 1000) + 60_000
    stamp = int(time.time())

    def step(name: str, run: Callable[[], tuple[bool, int | None, str]]) -> None:
        try:
            ok, count, detail = run()
        except Exception as problem:  # a crash of the client is a failed call
            ok, count, detail = False, None, f"{type(problem).__name__}: {problem}"
            traceback.print_exc()
        report(name, ok, count, detail)

    ids: list[str] = []

    def paginated() -> tuple[bool, int | None, str]:
        rows = sm.modified_pages(0, now, size=40)
        ids[:] = [r["contactId"] for r in rows]
        same = sorted(ids) == sorted(held) and len(set(ids)) == len(ids)
        stamps = all(r["modifiedOn"] == held[r["contactId"]]["modifiedOn"] for r in rows)
        return same and stamps, len(rows), f"{len(held)} contacts held, pages of 40"

    def unpaged() -> tuple[bool, int | None, str]:
        rows = sm.call("contact/modifiedContacts", **{"from": 0, "to": now})["modifiedContacts"]
        return sorted(r["contactId"] for r in rows) == sorted(held), len(rows), ""

    def whole() -> tuple[bool, int | None, str]:
        got = sm.list_by_id(ids)
        same = {c["id"]: c for c in got} == held
        return same and len(got) == len(held), len(got), "records equal the emulator's state"

    sample = sorted(by_email)[:10]

    def basic() -> tuple[bool, int | None, str]:
        got = sm.call("contact/basic", email=sample)["contacts"]
        fits = all(
            by_email[c["email"].lower()]["id"] == c["contactId"]
            and by_email[c["email"].lower()]["optedOut"] == c["optedOut"]
            for c in got
        )
        return fits and len(got) == len(sample), len(got), "contactId and optedOut by e-mail"

    def by_emails() -> tuple[bool, int | None, str]:
        got = sm.call("contact/list", email=sample)["contacts"]
        return [c["id"] for c in got] == [by_email[e]["id"] for e in sample], len(got), ""

    def tags() -> tuple[bool, int | None, str]:
        got = {t["tag"] for t in sm.call("contact/tags")["tags"]}
        want = {t["tag"] for c in held.values() for t in c["contactTags"]}
        return got == want, len(got), ""

    step("contact/paginatedModifiedContacts", paginated)
    step("contact/modifiedContacts", unpaged)
    step("contact/listById", whole)
    step("contact/basic", basic)
    step("contact/list", by_emails)
    step("contact/tags", tags)

    def now_held(email: str) -> dict[str, Any] | None:
        return next((c for c in state(url)["contacts"] if c["email"] == email), None)

    new = f"fidelity-{stamp}@example.com"

    def upsert() -> tuple[bool, int | None, str]:
        answer = sm.call(
            "contact/upsert",
            contact={"email": new, "name": "Fidelity One", "address": {"city": "Gdańsk"}},
            tags=["FIDELITY", "CENNIK (2)"],
            properties={"source": "docs-client"},
            forceOptIn=True,
        )
        c = now_held(new)
        ok = (
            c is not None
            and c["id"] == answer["contactId"]
            and c["name"] == "Fidelity One"
            and {t["tag"] for t in c["contactTags"]} == {"FIDELITY", "CENNIK (2)"}
            and c["address"]["city"] == "Gdańsk"
            and not c["optedOut"]
        )
        return ok, 1, "fields, address, tags and opt-in in the state"

    batch = [f"fidelity-{stamp}-{n}@example.com" for n in range(3)]

    def batch_upsert() -> tuple[bool, int | None, str]:
        details = [{"contact": {"email": e}, "tags": ["FIDELITY_BATCH"]} for e in batch]
        answer = sm.call("contact/batchupsert", upsertDetails=details)
        got = [now_held(e) for e in batch]
        ok = all(
            c is not None and any(t["tag"] == "FIDELITY_BATCH" for t in c["contactTags"])
            for c in got
        )
        ok = ok and all(
            answer["contactIds"][e] == c["id"] for e, c in zip(batch, got, strict=True) if c
        )
        return ok, len(details), ""

    def manage_tags() -> tuple[bool, int | None, str]:
        sm.call("contact/managetags", email=new, tags=["FIDELITY_ADDED"], removeTags=["FIDELITY"])
        c = now_held(new) or {"contactTags": []}
        have = {t["tag"] for t in c["contactTags"]}
        return "FIDELITY_ADDED" in have and "FIDELITY" not in have, len(have), ""

    def opt_out() -> tuple[bool, int | None, str]:
        sm.call("contact/optout", email=new)
        return (now_held(new) or {}).get("optedOut") is True, 1, ""

    def opt_in() -> tuple[bool, int | None, str]:
        sm.call("contact/optin", email=new)
        return (now_held(new) or {}).get("optedOut") is False, 1, ""

    def add_event() -> tuple[bool, int | None, str]:
        event = {
            "date": now - 60_000,
            "description": "fidelity order",
            "products": "SKU-1",
            "value": 12.5,
            "contactExtEventType": "PURCHASE",
            "externalId": f"fid-{stamp}",
            "detail1": "PLN",
        }
        answer = sm.call("contact/addContactExtEvent", email=new, contactEvent=event)
        events = (now_held(new) or {}).get("contactExtEvents", [])
        mine = [e for e in events if e.get("eventId") == answer["eventId"]]
        ok = len(mine) == 1 and mine[0]["value"] == 12.5 and mine[0]["externalId"] == f"fid-{stamp}"
        return ok, 1, ""

    def batch_events() -> tuple[bool, int | None, str]:
        events = [
            {
                "email": e,
                "contactEvent": {
                    "date": now - 30_000,
                    "contactExtEventType": "CART",
                    "value": 3.0,
                    "products": "SKU-2",
                },
            }
            for e in batch
        ]
        answer = sm.call("contact/batchAddContactExtEvent", events=events)
        held_ids = {
            e["eventId"]
            for mail in batch
            for e in (now_held(mail) or {}).get("contactExtEvents", [])
        }
        return set(answer["eventIds"]) <= held_ids and len(answer["eventIds"]) == 3, 3, ""

    def delete() -> tuple[bool, int | None, str]:
        sm.call("contact/delete", email=batch[0])
        marked = (now_held(batch[0]) or {}).get("deleted") is True
        sm.call("contact/delete", email=batch[1], permanently=True)
        return marked and now_held(batch[1]) is None, 2, "disabled, then permanently"

    step("contact/upsert", upsert)
    step("contact/batchupsert", batch_upsert)
    step("contact/managetags", manage_tags)
    step("contact/optout", opt_out)
    step("contact/optin", opt_in)
    step("contact/addContactExtEvent", add_event)
    step("contact/batchAddContactExtEvent", batch_events)
    step("contact/delete", delete)

    def refused(response: requests.Response) -> tuple[bool, int | None, str]:
        answer = response.json()
        ok = (
            response.status_code == 200
            and answer.get("success") is False
            and isinstance(answer.get("message"), list)
            and bool(answer["message"])
        )
        return ok, None, f"HTTP {response.status_code}: {answer.get('message')}"

    step("wrong sha (contact/tags)", lambda: refused(sm.raw("contact/tags", {}, secret="wrong")))
    step(
        "unknown method (contact/noSuchMethod)", lambda: refused(sm.raw("contact/noSuchMethod", {}))
    )
    step(
        "GET instead of POST (contact/upsert)",
        lambda: refused(sm.raw("contact/upsert", {}, verb="GET")),
    )
    return 0  # the verdict is in the rows; a non-zero exit means the check itself broke


if __name__ == "__main__":
    raise SystemExit(main())
