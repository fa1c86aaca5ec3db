"""An emulator of the Mailchimp Marketing API: one account with one audience, as much of the
API as the connector uses, in the shapes its documentation gives (API.md, with sources).

    GET  /3.0/ping                                  the health check
    GET  /3.0/lists/{list_id}                       the audience
    GET  /3.0/lists/{list_id}/members               count (default 10, at most 1000), offset,
                                                    since_last_changed (changed after it)
    POST /3.0/lists/{list_id}                       batch subscribe: at most 500 members,
                                                    update_existing; errors per member
    POST /3.0/lists/{list_id}/members/{hash}/tags   tags active (added) or inactive (removed)

HTTP basic auth with any user name and the API key as the password; errors are problem
details ``{type, title, status, detail, instance}``, an unknown route a 404 as well; more than
10 requests at once are refused with a 429.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.connectors import parse_time
from syncd.emulator import Emulator
from syncd.emulator.people import people

API_KEY = "0123456789abcdef0123456789abcdef-us6"
LIST_ID = "a1b2c3d4e5"
PAGE_MAX, BATCH_MAX, CONNECTIONS, TAGS_SHOWN = 1000, 500, 10, 50
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
STATUS_OF_CONSENT = {"granted": "subscribed", "revoked": "unsubscribed", None: "transactional"}
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")
Handler = Callable[[Request], Awaitable[Response]]


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {
        "type": "https://mailchimp.com/developer/marketing/docs/errors/",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": hashlib.md5(f"{status}{detail}".encode()).hexdigest(),
    }
    return JSONResponse(body, status, media_type="application/problem+json")


NOT_FOUND = (404, "Resource Not Found", "The requested resource could not be found.")


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).isoformat()


class MailchimpEmulator(Emulator):
    """One Mailchimp account and its audience, the members made from the seed."""

    name = "mailchimp"

    def __init__(self, *, api_key: str = API_KEY, people: int = 23, **options: Any) -> None:
        """``options`` are the Emulator's: seed, faults, rate_limit, clock."""
        self.api_key, self.in_flight = api_key, 0
        super().__init__(people=people, **options)

    def routes(self) -> Sequence[BaseRoute]:
        audience = "/3.0/lists/{list_id}"
        return [
            Route("/3.0/ping", self._api(self.ping), methods=["GET"]),
            Route(audience, self._api(self.audience), methods=["GET"]),
            Route(audience, self._api(self.batch_subscribe), methods=["POST"]),
            Route(f"{audience}/members", self._api(self.list_members), methods=["GET"]),
            Route(f"{audience}/members/{{hash}}/tags", self._api(self.tag), methods=["POST"]),
            Route("/{path:path}", self._api(self.unknown), methods=[*ANY_METHOD]),
        ]

    def reset(self) -> None:
        self.members: dict[str, dict[str, Any]] = {}
        self.tag_ids: dict[str, int] = {}
        for person in people(self.seed, self.people, now=self.anchor()):
            status = "cleaned" if person.bounced_hard else STATUS_OF_CONSENT[person.consent]
            tags = ["customer"] if person.orders else []
            member = self.add_member(person.email, status, tags, at=person.created_at)
            member["merge_fields"] = {"FNAME": person.first_name, "LNAME": person.last_name}

    def snapshot(self) -> dict[str, Any]:
        return {"list_id": LIST_ID, "members": [dict(m) for m in self.members.values()]}

    def describe(self) -> list[str]:
        return ["base URL https://us6.api.mailchimp.com/3.0/", f"basic auth: any user, {API_KEY}"]

    def add_member(
        self,
        email: str | None,
        status: str = "subscribed",
        tags: Sequence[str] = (),
        *,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A new member of the audience, as a sign-up or an import makes it."""
        key = hashlib.md5((email or f"no e-mail {len(self.members)}").lower().encode())
        member: dict[str, Any] = {
            "id": key.hexdigest(),
            "email_address": email,
            "status": status,
            "merge_fields": {"FNAME": "", "LNAME": ""},
            "tags_count": len(tags),
            "tags": self.tagged(tags),
            "list_id": LIST_ID,
            "last_changed": stamp(at or self.clock()),
        }
        self.members[member["id"]] = member
        return member

    def tagged(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """A member's tags as the API shows them: the account's id of each name, and it."""
        return [{"id": self.tag_ids.setdefault(n, len(self.tag_ids) + 1), "name": n} for n in names]

    def _api(self, handler: Handler) -> Handler:
        """The auth check, the audience and the limit of connections, before ``handler``."""

        async def checked(request: Request) -> Response:
            try:
                said = base64.b64decode(request.headers["authorization"].removeprefix("Basic "))
                key = said.decode().split(":", 1)[1]
            except (KeyError, IndexError, ValueError):  # binascii.Error is a ValueError
                key = None
            if key != self.api_key:
                return problem(401, "API Key Invalid", "Your API key may be invalid.")
            if request.path_params.get("list_id", LIST_ID) != LIST_ID:
                return problem(*NOT_FOUND)
            if self.in_flight >= CONNECTIONS:
                return problem(429, "Too Many Requests", "At most 10 simultaneous connections.")
            self.in_flight += 1
            try:
                return await handler(request)
            finally:
                self.in_flight -= 1

        return checked

    async def ping(self, request: Request) -> Response:
        return JSONResponse({"health_status": "Everything's Chimpy!"})

    async def audience(self, request: Request) -> Response:
        return JSONResponse({"id": LIST_ID, "name": "Newsletter"})

    async def unknown(self, request: Request) -> Response:
        return problem(*NOT_FOUND)

    async def list_members(self, request: Request) -> Response:
        q = request.query_params
        try:
            count, offset = min(int(q.get("count", 10)), PAGE_MAX), int(q.get("offset", 0))
        except ValueError:
            return problem(400, "Invalid Resource", "count and offset are whole numbers")
        after = parse_time(q.get("since_last_changed"))
        if q.get("since_last_changed") and after is None:
            return problem(400, "Invalid Resource", "since_last_changed is an ISO 8601 time")
        rows = [
            m
            for m in self.members.values()
            if after is None or (parse_time(m["last_changed"]) or after) > after
        ]
        page = [{**m, "tags": m["tags"][:TAGS_SHOWN]} for m in rows[offset : offset + count]]
        return JSONResponse({"members": page, "list_id": LIST_ID, "total_items": len(rows)})

    async def batch_subscribe(self, request: Request) -> Response:
        body = await _json(request)
        rows = body.get("members")
        if (
            not isinstance(rows, list)
            or len(rows) > BATCH_MAX
            or not all(isinstance(row, dict) for row in rows)
        ):
            return problem(400, "Invalid Resource", f"members: a list of at most {BATCH_MAX}")
        new, updated, errors = [], [], []
        for row in rows:
            email, status = (row.get("email_address"), row.get("status")) if row else (None, None)
            if not isinstance(email, str) or "@" not in email or status not in STATUSES[:5]:
                errors.append({"email_address": email, "error": "invalid e-mail or status"})
                continue
            member = self.members.get(hashlib.md5(email.lower().encode()).hexdigest())
            if member is None:
                new.append(self.add_member(email.lower(), status))
            elif body.get("update_existing"):
                if member["status"] != status:
                    member.update(status=status, last_changed=stamp(self.clock()))
                updated.append(member)
            else:
                errors.append({"email_address": email, "error": f"{email} is already a member"})
        return JSONResponse(
            {
                "new_members": new,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
            }
        )

    async def tag(self, request: Request) -> Response:
        member = self.members.get(request.path_params["hash"])
        if member is None:
            return problem(*NOT_FOUND)
        tags = (await _json(request)).get("tags")
        if not isinstance(tags, list) or not all(
            isinstance(t, dict) and t.get("name") and t.get("status") in ("active", "inactive")
            for t in tags
        ):
            return problem(400, "Invalid Resource", "tags: a list of {name, status}")
        before = [t["name"] for t in member["tags"]]
        names = dict.fromkeys(before)
        for t in tags:
            if t["status"] == "active":
                names[t["name"]] = None
            else:
                names.pop(t["name"], None)
        if list(names) != before:
            member.update(tags=self.tagged(list(names)), last_changed=stamp(self.clock()))
            member["tags_count"] = len(names)
        return Response(status_code=204)


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
