"""An emulator of the ActiveCampaign API v3 (``/api/3``), faithful to the vendor facts in
``shared/api/activecampaign.md``: the ``Api-Token`` check, string ids, ``meta.total`` as a
string, offset and keyset paging, the filters, the write endpoints, the asynchronous bulk
import (100 a minute), the error bodies, and 5 requests a second (then 429, ``Retry-After``)."""

from __future__ import annotations

import bisect
import functools
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from syncd.emulator import EmulatorOptions, RateLimit, TokenBucket
from syncd_plugins.activecampaign.emulator_demo import AccountDemo
from syncd_plugins.activecampaign.emulator_state import (
    ACCOUNT_TZ,
    EMAIL,
    AccountState,
    ac_time,
    parse_time,
    stamp,
)
from syncd_plugins.activecampaign.emulator_webhooks import AccountWebhooks
from syncd_plugins.activecampaign.emulator_writes import AccountWrites, errors, no_result

API = "/api/3"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DEFAULT_TOKEN = "emulator-api-token"
MAX_LIMIT, DEFAULT_LIMIT, MAX_BULK = 100, 20, 250
STAMPS = {"created_timestamp", "updated_timestamp"}
UTC_STAMPS = {"created_utc_timestamp", "updated_utc_timestamp"}
_FILTER = re.compile(r"^filters\[(\w+)\]$")
_ORDER = re.compile(r"^orders\[(\w+)\]$")
#: the parameters that pick a page of a listing, not its rows
PAGING = frozenset({"limit", "offset", "id_greater"})
Handler = Callable[[Request], Awaitable[Response]]
#: documented collections the account has none of: each answers an empty page in its own key
#: (``GET /api/3/accounts`` → ``{"accounts": [], "meta": {"total": "0"}}``)
EMPTY_COLLECTIONS = (
    "accounts",
    "accountContacts",
    "accountCustomFieldMeta",
    "accountCustomFieldData",
    "activities",
    "addresses",
    "automations",
    "automationBlocks",
    "brandings",
    "calendars",
    "campaigns",
    "campaignLists",
    "campaignMessages",
    "configs",
    "contactAutomations",
    "contactConversions",
    "contactData",
    "contactDeals",
    "contactEmails",
    "conversions",
    "conversionTriggers",
    "dealActivities",
    "dealCustomFieldData",
    "dealCustomFieldMeta",
    "dealGroups",
    "dealGroupUsers",
    "dealStages",
    "dealTasks",
    "dealTasktypes",
    "deals",
    "ecomOrderActivities",
    "goals",
    "groups",
    "links",
    "messages",
    "savedResponses",
    "scores",
    "segments",
    "siteMessages",
    "sms",
    "templates",
)
#: tables read one row at a time by ``GET /api/3/{table}/{id}``: (key of the row, its kind in
#: AC's "No Result found for KIND with id N")
SINGLE = {
    "users": ("user", "User"),
    "connections": ("connection", "Connection"),
    "lists": ("list", "List"),
    "contactTags": ("contactTag", "SubscriberTag"),
    "contactLists": ("contactList", "SubscriberList"),
    "fields": ("field", "Field"),
    "fieldValues": ("fieldValue", "FieldValue"),
    "ecomCustomers": ("ecomCustomer", "EcomCustomer"),
    "ecomOrderProducts": ("ecomOrderProduct", "EcomOrderProduct"),
    "forms": ("form", "Form"),
}


class ActiveCampaignEmulator(AccountWrites, AccountWebhooks, AccountDemo):
    """One ActiveCampaign account, its sample data made from the seed."""

    name = "activecampaign"
    default_rate_limit = RateLimit(5)

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        import_delay: float = 0.0,
        imports_per_minute: float = 100,
        webhook_time_scale: float = 0.001,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        self.token = token
        self.webhook_time_scale = webhook_time_scale
        self.import_delay = import_delay  # 0: a bulk import is applied on the next request
        super().__init__(**options)
        self.imports_per_minute = imports_per_minute

    @property
    def imports_per_minute(self) -> float:
        """The bulk imports the account takes a minute (AC's are 100); settable, as for an
        account whose limit was raised."""
        return self.imports.limit.capacity

    @imports_per_minute.setter
    def imports_per_minute(self, per_minute: float) -> None:
        self.imports = TokenBucket(RateLimit(per_minute / 60, per_minute), self.clock)

    # --- the Emulator contract --------------------------------------------------------------

    def reset(self) -> None:
        anchor = self.anchor()
        self.account = AccountState(self.seed, anchor, self.people)
        self.start_webhooks()

    def snapshot(self) -> dict[str, Any]:
        tables = {t: [self.render(r) for r in self.account.rows(t)] for t in self.account.tables}
        imports = [
            {
                "batchId": b.id,
                "status": b.status,
                "queued_contacts": len(b.contacts),
                "success": b.success,
                "failure": b.failure,
            }
            for b in self.account.batches.values()
        ]
        return {**tables, "imports": imports}

    def tick(self) -> None:
        self.account.apply_due_imports(self.clock(), self.import_delay)

    def describe(self) -> list[str]:
        return [f"base path {API}", f"header Api-Token: {self.token}"]

    def rate_limited_response(self, retry_after: str) -> Response:
        return JSONResponse({"message": "Too Many Requests"}, 429, {"Retry-After": retry_after})

    def routes(self) -> Sequence[BaseRoute]:
        g = self._guarded
        routes = [
            *self.webhook_routes(g),
            Route(API, g(self.root), methods=["GET"]),
            Route(f"{API}/", g(self.root), methods=["GET"]),
            Route(f"{API}/users/me", g(self.me), methods=["GET"]),
            Route(f"{API}/users", g(self.lister("users")), methods=["GET"]),
            Route(f"{API}/connections", g(self.lister("connections")), methods=["GET"]),
            Route(f"{API}/contacts", g(self.list_contacts), methods=["GET"]),
            Route(f"{API}/contacts", g(self.create_contact), methods=["POST"]),
            Route(f"{API}/contacts/{{id}}", g(self.get_contact), methods=["GET"]),
            Route(f"{API}/contacts/{{id}}", g(self.update_contact), methods=["PUT"]),
            Route(f"{API}/contacts/{{id}}", g(self.delete_contact), methods=["DELETE"]),
            Route(f"{API}/contacts/{{id}}/{{table}}", g(self.contact_children), methods=["GET"]),
            Route(f"{API}/contact/sync", g(self.sync_contact), methods=["POST"]),
            Route(f"{API}/tags", g(self.list_tags), methods=["GET"]),
            Route(f"{API}/tags", g(self.create_tag), methods=["POST"]),
            Route(f"{API}/tags/{{id}}", g(self.get_one("tags", "tag", "Tag")), methods=["GET"]),
            Route(f"{API}/tags/{{id}}", g(self.update_tag), methods=["PUT"]),
            Route(f"{API}/tags/{{id}}", g(self.delete_tag), methods=["DELETE"]),
            Route(f"{API}/contactTags", g(self.lister("contactTags")), methods=["GET"]),
            Route(f"{API}/contactTags", g(self.add_contact_tag), methods=["POST"]),
            Route(f"{API}/contactTags/{{id}}", g(self.remove_contact_tag), methods=["DELETE"]),
            Route(f"{API}/lists", g(self.lister("lists")), methods=["GET"]),
            Route(f"{API}/lists", g(self.create_list), methods=["POST"]),
            Route(f"{API}/contactLists", g(self.lister("contactLists")), methods=["GET"]),
            Route(f"{API}/contactLists", g(self.set_contact_list), methods=["POST"]),
            Route(f"{API}/fields", g(self.list_fields), methods=["GET"]),
            Route(f"{API}/fieldValues", g(self.lister("fieldValues")), methods=["GET"]),
            Route(f"{API}/fieldValues", g(self.set_field_value), methods=["POST"]),
            Route(f"{API}/emailActivities", g(self.lister("emailActivities")), methods=["GET"]),
            Route(f"{API}/bounceLogs", g(self.lister("bounceLogs")), methods=["GET"]),
            Route(f"{API}/ecomOrders", g(self.list_orders), methods=["GET"]),
            Route(f"{API}/ecomOrders/{{id}}", g(self.get_order), methods=["GET"]),
            Route(
                f"{API}/ecomOrders/{{id}}/orderProducts", g(self.order_products), methods=["GET"]
            ),
            Route(f"{API}/ecomOrderProducts", g(self.lister("ecomOrderProducts")), methods=["GET"]),
            Route(f"{API}/ecomCustomers", g(self.lister("ecomCustomers")), methods=["GET"]),
            Route(f"{API}/forms", g(self.lister("forms")), methods=["GET"]),
            Route(f"{API}/import/bulk_import", g(self.bulk_import), methods=["POST"]),
            Route(f"{API}/import/info", g(self.import_info), methods=["GET"]),
        ]
        routes += [
            Route(f"{API}/{table}/{{id}}", g(self.get_one(table, key, kind)), methods=["GET"])
            for table, (key, kind) in SINGLE.items()
        ]
        routes += [
            Route(f"{API}/{name}", g(self.empty(name)), methods=["GET"])
            for name in EMPTY_COLLECTIONS
        ]
        # last: whatever no route above answers (a path or a method AC does not serve)
        routes.append(Route("/{path:path}", g(self.unknown), methods=METHODS))
        return routes

    # --- shapes -----------------------------------------------------------------------------

    def render(self, row: dict[str, Any], base: str = "") -> dict[str, Any]:
        """A stored row as AC sends it: times in its formats, no private keys."""
        out: dict[str, Any] = {}
        for key, value in row.items():
            if key.startswith("_"):
                continue
            if isinstance(value, datetime):
                value = (
                    stamp(value, UTC)
                    if key in UTC_STAMPS
                    else stamp(value)
                    if key in STAMPS
                    else ac_time(value)
                )
            out[key] = value
        if base and "email" in row and "hash" in row:  # a contact
            out["links"] = {
                t: f"{base}{API}/contacts/{row['id']}/{t}"
                for t in (
                    "contactTags",
                    "contactLists",
                    "fieldValues",
                    "bounceLogs",
                    "trackingLogs",
                )
            }
        if base and "orderProducts" in row:  # an order
            out["links"] = {
                t: f"{base}{API}/ecomOrders/{row['id']}/{t}"
                for t in (
                    "connection",
                    "customer",
                    "orderProducts",
                    "orderDiscounts",
                    "orderActivities",
                )
            }
        return out

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if request.headers.get("Api-Token") != self.token:
                return JSONResponse(
                    {"message": "You are not authorized to access this resource"}, 403
                )
            if request.method == "GET":
                return await handler(request)
            try:  # a write may change rows in place: the listings before it are stale
                return await handler(request)
            finally:
                self.account.changed()

        return guarded

    def page(
        self,
        request: Request,
        key: str,
        rows: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]],
        *,
        keyset: bool = False,
    ) -> Response:
        """``limit`` (at most 100) and ``offset`` over ``rows``, after filters and orders. Given
        as a function, the rows are listed, filtered and ordered once for all the pages of a
        query until the account changes (``AccountState.listing``). ``keyset``: the listing
        takes ``id_greater`` (only the rows with a greater id)."""
        q = request.query_params
        if callable(rows):
            source = rows
            query = tuple((k, v) for k, v in q.multi_items() if k not in PAGING)
            listed = self.account.listing(
                (request.url.path, query), lambda: _ordered(_filtered(source(), q), q)
            )
        else:
            listed = _ordered(_filtered(rows, q), q)
        if keyset and "id_greater" in q:
            listed = _after_id(listed, q)
        try:
            limit = min(MAX_LIMIT, int(q.get("limit", DEFAULT_LIMIT)))
            offset = max(0, int(q.get("offset", 0)))
        except ValueError:
            limit, offset = DEFAULT_LIMIT, 0
        limit = limit if limit > 0 else DEFAULT_LIMIT
        base = str(request.base_url).rstrip("/")
        chunk = [self.render(r, base) for r in listed[offset : offset + limit]]
        return JSONResponse({key: chunk, "meta": {"total": str(len(listed))}})

    def lister(self, table: str) -> Handler:
        async def list_rows(request: Request) -> Response:
            return self.page(request, table, functools.partial(self.account.rows, table))

        return list_rows

    def get_one(self, table: str, key: str, kind: str) -> Handler:
        async def get_row(request: Request) -> Response:
            row = self.account.get(table, request.path_params["id"])
            if row is None:
                return no_result(kind, request.path_params["id"])
            return JSONResponse({key: self.render(row, str(request.base_url).rstrip("/"))})

        return get_row

    def empty(self, key: str) -> Handler:
        async def no_rows(request: Request) -> Response:
            return self.page(request, key, [])

        return no_rows

    # --- the API's edges --------------------------------------------------------------------

    async def root(self, request: Request) -> Response:
        """``GET /api/3/`` answers 200 to a valid token: clients check their token with it."""
        return JSONResponse({})

    async def unknown(self, request: Request) -> Response:
        """A path or method AC does not serve: 404, the documented "does not exist"."""
        return errors(404, "Not Found", detail="The requested resource does not exist.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every API answer carries AC's rate headers, ``RateLimit-Limit`` and
        ``RateLimit-Remaining`` (the requests left in the current second)."""
        if scope["type"] != "http" or not scope["path"].startswith(API):
            await super().__call__(scope, receive, send)
            return

        async def with_rate_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and self.bucket is not None:
                limit = self.bucket.limit
                left = max(0, math.floor(self.bucket.tokens))
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"ratelimit-limit", str(math.floor(limit.capacity)).encode()),
                        (b"ratelimit-remaining", str(left).encode()),
                    ],
                }
            await send(message)

        await super().__call__(scope, receive, with_rate_headers)

    # --- reading ----------------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        owner = self.account.rows("users")[0]
        return JSONResponse({"user": self.render(owner, str(request.base_url).rstrip("/"))})

    async def list_orders(self, request: Request) -> Response:
        return self.page(request, "ecomOrders", functools.partial(self.account.rows, "ecomOrders"))

    async def get_order(self, request: Request) -> Response:
        order = self.account.get("ecomOrders", request.path_params["id"])
        if order is None:
            return no_result("EcomOrder", request.path_params["id"])
        return JSONResponse({"ecomOrder": self.render(order, str(request.base_url).rstrip("/"))})

    async def order_products(self, request: Request) -> Response:
        """The products of one order, in ``ecomOrderProducts``."""
        order = self.account.get("ecomOrders", request.path_params["id"])
        if order is None:
            return no_result("EcomOrder", request.path_params["id"])
        rows = [self.account.get("ecomOrderProducts", i) for i in order["orderProducts"]]
        return self.page(request, "ecomOrderProducts", [r for r in rows if r is not None])

    async def list_contacts(self, request: Request) -> Response:
        q = request.query_params
        times: list[tuple[str, datetime, bool]] = []
        for name, field, after in (
            ("updated_after", "udate", True),
            ("updated_before", "udate", False),
            ("created_after", "cdate", True),
            ("created_before", "cdate", False),
        ):
            if f"filters[{name}]" in q:
                at = parse_time(q[f"filters[{name}]"])
                if at is None:
                    return errors(422, "Invalid filter", detail=f"{name} is not a date")
                times.append((field, at, after))
        rows = functools.partial(self.contacts_of, q, times)
        return self.page(request, "contacts", rows, keyset=True)

    def contacts_of(self, q: Any, times: list[tuple[str, datetime, bool]]) -> list[dict[str, Any]]:
        """The contacts ``GET /contacts`` lists for ``q``, but ``id_greater`` (see ``page``)."""
        rows = [r for r in self.account.rows("contacts") if r["deleted"] == "0"]
        if "email" in q:
            rows = [r for r in rows if r["_email"] == q["email"].strip().lower()]
        # ids[]=1&ids[]=2 (as AC documents it), or ids=1,2
        wanted = {i.strip() for v in q.getlist("ids[]") + q.getlist("ids") for i in v.split(",")}
        if wanted - {""}:
            rows = [r for r in rows if r["id"] in wanted]
        if search := q.get("search", "").strip().lower():
            rows = [
                r
                for r in rows
                if search in f"{r['_email']} {r['firstName']} {r['lastName']}".lower()
            ]
        if "tagid" in q:
            tagged = {
                r["contact"] for r in self.account.rows("contactTags") if r["tag"] == q["tagid"]
            }
            rows = [r for r in rows if r["id"] in tagged]
        if "listid" in q:
            members = {
                r["contact"]
                for r in self.account.rows("contactLists")
                if r["list"] == q["listid"] and ("status" not in q or r["status"] == q["status"])
            }
            rows = [r for r in rows if r["id"] in members]
        for field, at, after in times:
            rows = [r for r in rows if (r[field] >= at) == after]
        return rows

    async def get_contact(self, request: Request) -> Response:
        contact = self.account.get("contacts", request.path_params["id"])
        if contact is None or contact["deleted"] != "0":
            return no_result("Subscriber", request.path_params["id"])
        base, cid = str(request.base_url).rstrip("/"), contact["id"]
        related = {
            t: [self.render(r) for r in self.account.rows(t) if r["contact"] == cid]
            for t in ("contactLists", "contactTags", "fieldValues")
        }
        return JSONResponse({**related, "contact": self.render(contact, base)})

    async def contact_children(self, request: Request) -> Response:
        table = request.path_params["table"]
        if table not in (
            "contactTags",
            "contactLists",
            "fieldValues",
            "bounceLogs",
            "trackingLogs",
        ):
            return await self.unknown(request)
        contact = self.account.get("contacts", request.path_params["id"])
        if contact is None or contact["deleted"] != "0":
            return no_result("Subscriber", request.path_params["id"])
        rows = [r for r in self.account.rows(table) if r["contact"] == contact["id"]]
        return self.page(request, table, rows)

    async def list_tags(self, request: Request) -> Response:
        rows = self.account.rows("tags")
        search = request.query_params.get("search") or request.query_params.get("filters[search]")
        if search:  # AC matches a part of the name, not the whole name
            rows = [r for r in rows if search.strip().lower() in r["_name"]]
        return self.page(request, "tags", rows)

    async def list_fields(self, request: Request) -> Response:
        response = self.page(request, "fields", self.account.rows("fields"))
        body = json.loads(bytes(response.body))
        body["fieldOptions"], body["fieldRels"] = [], []
        return JSONResponse(body)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _after_id(rows: list[dict[str, Any]], q: Any) -> list[dict[str, Any]]:
    """The rows with an id greater than ``id_greater``, in their order: by bisection when the
    listing is in ascending id order (keyset paging's ``orders[id]=ASC``), else by a scan."""
    last = _int(q["id_greater"])
    orders = [(m.group(1), v.upper()) for k, v in q.multi_items() if (m := _ORDER.match(k))]
    if all(name == "id" for name, _ in orders) and orders[:1] != [("id", "DESC")]:
        return rows[bisect.bisect_right(rows, last, key=lambda r: int(r["id"])) :]
    return [r for r in rows if int(r["id"]) > last]


def _filtered(rows: list[dict[str, Any]], q: Any) -> list[dict[str, Any]]:
    """``filters[FIELD]=VALUE``: equality on a field the rows have; others are ignored."""
    for key, value in q.multi_items():
        match = _FILTER.match(key)
        name = match.group(1) if match else ""
        if name and rows and name in rows[0] and not isinstance(rows[0][name], datetime):
            rows = [r for r in rows if str(r.get(name)).lower() == value.strip().lower()]
    return rows


def _ordered(rows: list[dict[str, Any]], q: Any) -> list[dict[str, Any]]:
    """``orders[FIELD]=ASC|DESC`` (first named sorts first); by id otherwise."""
    rows = sorted(rows, key=lambda r: int(r["id"]))
    orders = [(m.group(1), v) for k, v in q.multi_items() if (m := _ORDER.match(k))]
    for name, direction in reversed(orders):
        rows.sort(key=functools.partial(_field_key, name), reverse=direction.upper() == "DESC")
    return rows


def _field_key(name: str, row: dict[str, Any]) -> tuple[int, float, str]:
    value = row.get(name)
    if isinstance(value, datetime):
        return (1, value.timestamp(), "")
    try:
        return (1, float(str(value)), "")
    except ValueError:
        return (0 if value is None else 2, 0.0, str(value or "").lower())


__all__ = ["ACCOUNT_TZ", "DEFAULT_TOKEN", "EMAIL", "ActiveCampaignEmulator", "errors"]
