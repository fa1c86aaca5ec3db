"""An emulator of the Sample CRM, the vendor of the sample connector.

    GET   /v1/me                     who the token belongs to (the connection check)
    GET   /v1/contacts               by id; ``limit`` (≤ 100), ``after_id``, ``updated_since``
                                     (inclusive) or ``updated_after`` (exclusive)
    POST  /v1/contacts               create one contact (e-mail required)
    PATCH /v1/contacts/{id}          change one contact's names or fields
    POST  /v1/contacts/bulk          upsert up to 50 contacts by e-mail: names, fields, tags

Every request needs ``Authorization: Bearer TOKEN``; errors are ``{"message": ...}``; the
limit is 10 requests a second. Contacts imported without an e-mail exist (``add_contact``
with ``email=None``), as they do at many vendors: the API never creates one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.connectors import parse_time
from syncd.emulator import Emulator, RateLimit
from syncd.emulator.people import people

DEFAULT_TOKEN = "sample-emulator-token"
BULK_MAX = 50
PAGE_MAX = 100
Handler = Callable[[Request], Awaitable[Response]]


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status)


class SampleEmulator(Emulator):
    """One Sample CRM account, its contacts made from the seed."""

    name = "sample"
    default_rate_limit = RateLimit(10)

    def __init__(self, *, token: str = DEFAULT_TOKEN, people: int = 23, **options: Any) -> None:
        """``options`` are the Emulator's: seed, faults, rate_limit, clock."""
        self.token = token
        super().__init__(people=people, **options)

    # --- the Emulator contract --------------------------------------------------------------

    def connector_config(self, url: str) -> dict[str, Any]:
        return {"type": "sample", "url": url, "token": self.token}

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/v1/me", self._auth(self.me), methods=["GET"]),
            Route("/v1/contacts", self._auth(self.list_contacts), methods=["GET"]),
            Route("/v1/contacts", self._auth(self.create_contact), methods=["POST"]),
            Route("/v1/contacts/bulk", self._auth(self.bulk), methods=["POST"]),
            Route("/v1/contacts/{id}", self._auth(self.update_contact), methods=["PATCH"]),
        ]

    def reset(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        for person in people(self.seed, self.people, now=self.anchor()):
            tags = ["customer"] if person.orders else []
            self.add_contact(
                person.email, person.first_name, person.last_name, tags, at=person.created_at
            )

    def snapshot(self) -> dict[str, Any]:
        return {"contacts": [dict(c) for c in self.contacts.values()]}

    def describe(self) -> list[str]:
        return ["base URL https://api.sample.test", f"header Authorization: Bearer {self.token}"]

    # --- state ----------------------------------------------------------------------------------

    def add_contact(
        self,
        email: str | None,
        first_name: str = "",
        last_name: str = "",
        tags: list[str] | None = None,
        *,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A new contact (ids count up from 1), as an import would make it."""
        key = str(len(self.contacts) + 1)
        contact: dict[str, Any] = {
            "id": key,
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "tags": sorted(tags or []),
            "fields": {},
            "updated_at": stamp(at or self.clock()),
        }
        self.contacts[key] = contact
        return contact

    def by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next(
            (c for c in self.contacts.values() if (c["email"] or "").lower() == wanted), None
        )

    def _apply(self, contact: dict[str, Any], row: dict[str, Any]) -> None:
        """Apply one row's names, fields and tags; the contact changes only if they do."""
        before = (contact["first_name"], contact["last_name"], contact["tags"], contact["fields"])
        for name in ("first_name", "last_name"):
            if isinstance(row.get(name), str):
                contact[name] = row[name]
        contact["fields"] = {**contact["fields"], **dict(row.get("fields") or {})}
        tags = (set(contact["tags"]) | set(row.get("tags_add") or [])) - set(
            row.get("tags_remove") or []
        )
        contact["tags"] = sorted(tags)
        after = (contact["first_name"], contact["last_name"], contact["tags"], contact["fields"])
        if after != before:
            contact["updated_at"] = stamp(self.clock())

    # --- the API --------------------------------------------------------------------------------

    def _auth(self, handler: Handler) -> Handler:
        async def checked(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return problem(401, "invalid or missing API token")
            return await handler(request)

        return checked

    async def me(self, request: Request) -> Response:
        return JSONResponse({"account": "sample", "user": "api"})

    async def list_contacts(self, request: Request) -> Response:
        q = request.query_params
        try:
            limit = min(int(q.get("limit", 20)), PAGE_MAX)
            after = int(q.get("after_id") or 0)
        except ValueError:
            return problem(400, "limit and after_id are whole numbers")
        bounds: dict[str, datetime | None] = {}
        for name in ("updated_since", "updated_after"):
            if name in q and (bounds.setdefault(name, parse_time(q[name])) is None):
                return problem(400, f"{name} is an ISO 8601 time")
        since, past = bounds.get("updated_since"), bounds.get("updated_after")
        rows = [
            c
            for c in sorted(self.contacts.values(), key=lambda c: int(c["id"]))
            if int(c["id"]) > after
            and (since is None or (parse_time(c["updated_at"]) or since) >= since)
            and (past is None or (parse_time(c["updated_at"]) or past) > past)
        ]
        return JSONResponse({"contacts": rows[:limit], "has_more": len(rows) > limit})

    async def create_contact(self, request: Request) -> Response:
        body = await _body(request)
        email = body.get("email")
        if not isinstance(email, str) or "@" not in email:
            return problem(422, "email is required")
        if self.by_email(email) is not None:
            return problem(409, f"a contact with e-mail {email} exists")
        contact = self.add_contact(email)
        self._apply(contact, body)
        return JSONResponse({"contact": contact}, 201)

    async def update_contact(self, request: Request) -> Response:
        contact = self.contacts.get(request.path_params["id"])
        if contact is None:
            return problem(404, "no such contact")
        self._apply(contact, await _body(request))
        return JSONResponse({"contact": contact})

    async def bulk(self, request: Request) -> Response:
        rows = (await _body(request)).get("contacts")
        if not isinstance(rows, list) or not rows:
            return problem(422, "contacts is a non-empty list")
        if len(rows) > BULK_MAX:
            return problem(413, f"at most {BULK_MAX} contacts a call")
        results = []
        for row in rows:
            email = row.get("email") if isinstance(row, dict) else None
            if not isinstance(email, str) or "@" not in email:
                results.append({"email": email, "status": "error", "error": "invalid e-mail"})
                continue
            contact = self.by_email(email) or self.add_contact(email.strip().lower())
            self._apply(contact, row)
            results.append({"email": email, "id": contact["id"], "status": "ok"})
        return JSONResponse({"results": results})


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
