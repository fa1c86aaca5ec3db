"""An emulator of the SALESmanago JSON API (v2, ``/api/``), faithful to the vendor facts in
``shared/api/salesmanago.md``: every call a signed JSON ``POST`` (``sha1(apiKey + clientId +
apiSecret)``), errors as HTTP 200 ``{"success": false, "message": [...]}``, paging with
``hasMore``, the synchronous and the asynchronous (``requestId``) batch upsert, and a rate
limit that is configurable (the vendor publishes none). A method it does not know, or a call
that is not a ``POST``, is answered the same way: HTTP 200 with ``success: false`` and a
message list, never a bare 404 or 405."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.emulator import EmulatorOptions, RateLimit
from syncd_plugins.salesmanago.emulator_demo import AccountDemo
from syncd_plugins.salesmanago.emulator_state import EMAIL, AccountState, UpsertJob, ms
from syncd_plugins.salesmanago.signed import signature

API = "/api"
DEFAULT_CLIENT_ID = "emulatorclient01"
DEFAULT_SECRET = "emulator-api-secret"
DEFAULT_OWNER = "owner@example.com"
MAX_PAGE, MAX_IDS, MAX_BATCH, MAX_EVENTS = 1000, 100, 1000, 1000
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: the fields of a contact that ``contact/basic`` answers (no tags, properties or events)
BASIC_KEYS = (
    "name", "email", "phone", "company", "externalId", "score", "state", "optedOut",
    "optedOutPhone", "deleted", "invalid", "createdOn", "modifiedOn", "lastVisit",
)  # fmt: skip
Body = dict[str, Any]
Method = Callable[[Body], Awaitable[Response] | Response]


def ok(**data: Any) -> Response:
    return JSONResponse({"success": True, "message": [], **data})


def refuse(*message: str) -> Response:
    """SALESmanago's error: HTTP 200 with ``success: false``."""
    return JSONResponse({"success": False, "message": list(message)})


class SalesmanagoEmulator(AccountDemo):
    """One SALESmanago account, its sample data made from the seed."""

    name = "salesmanago"
    default_rate_limit = RateLimit(20)  # configurable: SALESmanago publishes no limit

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        api_secret: str = DEFAULT_SECRET,
        owner: str = DEFAULT_OWNER,
        upsert_delay: float = 0.0,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        self.client_id, self.api_secret, self.owner = client_id, api_secret, owner
        self.upsert_delay = upsert_delay  # 0: an async upsert is applied on the next request
        super().__init__(**options)

    # --- the Emulator contract --------------------------------------------------------------

    def reset(self) -> None:
        anchor = self.anchor()
        self.account = AccountState(self.seed, anchor, self.people, self.owner)

    def snapshot(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "contacts": [self.render(c) for c in self.account.contacts.values()],
            "jobs": [
                {"requestId": j.request_id, "status": j.status, "contacts": len(j.details)}
                for j in self.account.jobs.values()
            ],
        }

    def tick(self) -> None:
        now = self.clock().timestamp()
        for job in self.account.jobs.values():
            if job.status == "IN_PROGRESS" and now >= job.queued_at + self.upsert_delay:
                for detail in job.details:
                    contact = self.account.upsert(detail, self.now_ms())
                    job.contact_ids[contact["email"]] = contact["id"]
                job.status = "DONE"

    def describe(self) -> list[str]:
        return [
            f"base path {API}/ (every call a signed JSON POST)",
            f"clientId {self.client_id}, apiSecret {self.api_secret}, owner {self.owner}",
        ]

    def routes(self) -> Sequence[BaseRoute]:
        methods: dict[str, Method] = {
            "contact/upsert": self.upsert,
            "contact/batchupsert": self.batch_upsert,
            "contact/batchupsertv2": self.batch_upsert_async,
            "job/status": self.job_status,
            "contact/paginatedModifiedContacts": self.modified_contacts,
            "contact/listById": self.list_by_id,
            "contact/list": self.list_by_email,
            "contact/basic": self.basic,
            "contact/hasContact": self.has_contact,
            "contact/modifiedContacts": self.modified_contacts_all,
            "contact/delete": self.delete,
            "contact/tags": self.tags,
            "contact/managetags": self.manage_tags,
            "contact/optin": self.opt(False),
            "contact/optout": self.opt(True),
            "contact/addContactExtEvent": self.add_event,
            "contact/batchAddContactExtEvent": self.batch_add_events,
        }
        known = [
            Route(f"{API}/{name}", self._signed(name, handler), methods=["POST"])
            for name, handler in methods.items()
        ]
        # last: whatever no route above takes, in any HTTP method, in the vendor's error shape
        return [*known, Route("/{path:path}", self.unknown, methods=list(HTTP_METHODS))]

    # --- shapes -----------------------------------------------------------------------------

    def now_ms(self) -> int:
        return ms(self.clock())

    def render(self, contact: dict[str, Any]) -> dict[str, Any]:
        """A contact as ``contact/listById`` sends it."""
        out = {k: v for k, v in contact.items() if not k.startswith("_")}
        out["address"] = dict(contact["address"])
        out["contactTags"] = [
            {
                "tag": tag,
                "tagWithScore": f"{tag}:{info['score']}" if info["score"] else tag,
                "score": info["score"],
                "createdOn": info["createdOn"],
            }
            for tag, info in contact["_tags"].items()
        ]
        out["properties"] = [{"name": k, "value": v} for k, v in contact["_properties"].items()]
        out["contactExtEvents"] = [dict(e) for e in contact["_events"]]
        return out

    def render_basic(self, contact: dict[str, Any]) -> dict[str, Any]:
        """A contact as ``contact/basic`` sends it: its plain fields, its id as ``contactId``."""
        out = {k: contact[k] for k in BASIC_KEYS}
        out["contactId"] = contact["id"]
        out["address"] = dict(contact["address"])
        return out

    async def unknown(self, request: Request) -> Response:
        """Any path or HTTP method the API does not have: SALESmanago's error, in HTTP 200."""
        name = request.url.path.removeprefix(f"{API}/")
        if request.method != "POST" and request.url.path.startswith(f"{API}/"):
            return refuse(f"Method {request.method} is not allowed: every call is a JSON POST")
        return refuse(f"Unknown method: {name}")

    def _signed(self, name: str, handler: Method) -> Callable[[Request], Awaitable[Response]]:
        async def signed(request: Request) -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return refuse("Request body is not valid JSON")
            if not isinstance(body, dict):
                return refuse("Request body must be a JSON object")
            problem = self._auth_problem(body)
            if problem:
                return refuse(problem)
            if name != "job/status" and body.get("owner") != self.owner:
                return refuse(f"Owner {body.get('owner')!r} not found in this account")
            answer = handler(body)
            return await answer if isinstance(answer, Awaitable) else answer

        return signed

    def _auth_problem(self, body: Body) -> str | None:
        key, client, sha = body.get("apiKey"), body.get("clientId"), body.get("sha")
        if not isinstance(body.get("requestTime"), int):
            return "requestTime (Unix time in milliseconds) is missing"
        if not isinstance(key, str) or not key or client != self.client_id:
            return "Not authenticated: unknown clientId or missing apiKey"
        if sha != signature(key, self.client_id, self.api_secret):
            return "Not authenticated: wrong sha"
        return None

    # --- contacts -----------------------------------------------------------------------------

    def _detail_problem(self, detail: Any) -> str | None:
        if not isinstance(detail, dict) or not isinstance(detail.get("contact"), dict):
            return "contact is missing"
        email = str(detail["contact"].get("email") or "").strip()
        return None if EMAIL.match(email) else f"Contact email {email!r} is invalid"

    def upsert(self, body: Body) -> Response:
        problem = self._detail_problem(body)
        if problem:
            return refuse(problem)
        contact = self.account.upsert(body, self.now_ms())
        return ok(contactId=contact["id"])

    def _details(self, body: Body) -> list[Body] | Response:
        details = body.get("upsertDetails")
        if not isinstance(details, list) or not details:
            return refuse("upsertDetails is missing")
        if len(details) > MAX_BATCH:
            return refuse(f"upsertDetails: at most {MAX_BATCH} contacts a call")
        for detail in details:
            problem = self._detail_problem(detail)
            if problem:
                return refuse(problem)
        return details

    def batch_upsert(self, body: Body) -> Response:
        details = self._details(body)
        if isinstance(details, Response):
            return details
        now = self.now_ms()
        contacts = [self.account.upsert(d, now) for d in details]
        return ok(contactIds={c["email"]: c["id"] for c in contacts})

    def batch_upsert_async(self, body: Body) -> Response:
        details = self._details(body)
        if isinstance(details, Response):
            return details
        job = UpsertJob(self.account.new_id("job"), self.owner, details, self.clock().timestamp())
        self.account.jobs[job.request_id] = job
        return ok(requestId=job.request_id)

    def job_status(self, body: Body) -> Response:
        job = self.account.jobs.get(str(body.get("requestId")))
        if job is None:
            return refuse(f"Request {body.get('requestId')!r} not found")
        return ok(requestId=job.request_id, status=job.status, contactIds=job.contact_ids)

    def modified_contacts(self, body: Body) -> Response:
        try:
            start, end = int(body["from"]), int(body["to"])
            page, size = int(body.get("page", 0)), int(body.get("size", 100))
        except (KeyError, TypeError, ValueError):
            return refuse("from and to (milliseconds), page and size are numbers")
        if page < 0 or not 0 < size <= MAX_PAGE:
            return refuse(f"page from 0, size from 1 to {MAX_PAGE}")
        found = self.account.modified(start, end)
        chunk = found[page * size : (page + 1) * size]
        rows = [
            {"contactId": c["id"], "email": c["email"], "modifiedOn": c["modifiedOn"]}
            for c in chunk
        ]
        return ok(modifiedContacts=rows, hasMore=(page + 1) * size < len(found))

    def modified_contacts_all(self, body: Body) -> Response:
        """``contact/modifiedContacts``: every contact modified in ``from``..``to``, unpaged."""
        try:
            start, end = int(body["from"]), int(body["to"])
        except (KeyError, TypeError, ValueError):
            return refuse("from and to (milliseconds) are numbers")
        rows = [
            {"contactId": c["id"], "email": c["email"], "modifiedOn": c["modifiedOn"]}
            for c in self.account.modified(start, end)
        ]
        return ok(modifiedContacts=rows)

    def _emails(self, body: Body) -> list[str] | Response:
        emails = body.get("email")
        if isinstance(emails, str):
            emails = [emails]
        if not isinstance(emails, list) or not emails:
            return refuse("email: a list of contact e-mails")
        if len(emails) > MAX_IDS:
            return refuse(f"email: at most {MAX_IDS} e-mails a call")
        return [str(e) for e in emails]

    def _by_emails(self, body: Body) -> list[dict[str, Any]] | Response:
        emails = self._emails(body)
        if isinstance(emails, Response):
            return emails
        found = [self.account.by_email(e) for e in emails]
        return [c for c in found if c is not None]

    def list_by_email(self, body: Body) -> Response:
        """``contact/list``: whole contacts by e-mail (a list), as ``contact/listById``."""
        found = self._by_emails(body)
        if isinstance(found, Response):
            return found
        return ok(contacts=[self.render(c) for c in found])

    def basic(self, body: Body) -> Response:
        """``contact/basic``: the plain fields of contacts by e-mail (a list)."""
        found = self._by_emails(body)
        if isinstance(found, Response):
            return found
        return ok(contacts=[self.render_basic(c) for c in found])

    def has_contact(self, body: Body) -> Response:
        contact = self.account.by_email(str(body.get("email") or ""))
        if contact is None:
            return ok(result=False)
        return ok(result=True, contactId=contact["id"])

    def delete(self, body: Body) -> Response:
        """``contact/delete``: the contact marked deleted, or gone when ``permanently``."""
        contact = self.account.by_email(str(body.get("email") or ""))
        if contact is None:
            return refuse(f"Contact {body.get('email')!r} not found")
        if body.get("permanently") is True:
            self.account.remove(contact)
        else:
            contact["deleted"] = True
            self.account.stamp(contact, self.now_ms())
        return ok(contactId=contact["id"])

    def list_by_id(self, body: Body) -> Response:
        ids = body.get("contactId")
        if not isinstance(ids, list) or not ids:
            return refuse("contactId: a list of contact ids")
        if len(ids) > MAX_IDS:
            return refuse(f"contactId: at most {MAX_IDS} ids a call")
        found = [self.account.contacts.get(str(i)) for i in ids]
        return ok(contacts=[self.render(c) for c in found if c is not None])

    def tags(self, body: Body) -> Response:
        return ok(tags=[{"tag": t} for t in self.account.all_tags()])

    def manage_tags(self, body: Body) -> Response:
        contact = self.account.by_email(str(body.get("email") or ""))
        if contact is None:
            return refuse(f"Contact {body.get('email')!r} not found")
        detail = {"contact": {"email": contact["email"]}, **body}
        self.account.upsert(
            {k: detail.get(k) for k in ("contact", "tags", "removeTags")}, self.now_ms()
        )
        return ok(contactId=contact["id"])

    def opt(self, out: bool) -> Method:
        def set_opt(body: Body) -> Response:
            contact = self.account.by_email(str(body.get("email") or ""))
            if contact is None:
                return refuse(f"Contact {body.get('email')!r} not found")
            contact["optedOut"] = out
            self.account.stamp(contact, self.now_ms())
            return ok(contactId=contact["id"])

        return set_opt

    # --- external events ----------------------------------------------------------------------

    def _add_event(self, item: Body) -> str | Response:
        event = item.get("contactEvent")
        if not isinstance(event, dict) or not event.get("contactExtEventType"):
            return refuse("contactEvent with contactExtEventType is missing")
        contact = self.account.contacts.get(str(item.get("contactId") or ""))
        if contact is None:
            contact = self.account.by_email(str(item.get("email") or ""))
        if contact is None:
            return refuse("Contact not found")
        event = {**event, "date": int(event.get("date") or self.now_ms())}
        return self.account.add_event(contact, event, self.now_ms())

    def add_event(self, body: Body) -> Response:
        found = self._add_event(body)
        return found if isinstance(found, Response) else ok(eventId=found)

    def batch_add_events(self, body: Body) -> Response:
        events = body.get("events")
        if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS:
            return refuse(f"events: from 1 to {MAX_EVENTS} a call")
        ids = []
        for item in events:
            found = self._add_event(item if isinstance(item, dict) else {})
            if isinstance(found, Response):
                return found
            ids.append(found)
        return ok(eventIds=ids)
