"""An emulator of the HubSpot CRM API v3 (and the v4 associations), faithful to the vendor
facts in ``shared/api/hubspot.md``: the bearer-token check, string ids and string property
values, search with filterGroups, sorts, ``after`` paging and the 10,000-result cap, plain
listing, owners, deals with their contacts, batch upsert, lists v3 and their memberships,
the error schema, the burst limit per 10 s with its headers and the search limit (5 a second,
no headers), both answered with the RATE_LIMIT body."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.emulator import EmulatorOptions, RateLimit, TokenBucket
from syncd_plugins.hubspot.emulator_demo import PortalDemo
from syncd_plugins.hubspot.emulator_legacy import PortalLegacy, missing_scopes, unscoped
from syncd_plugins.hubspot.emulator_state import (
    OBJECT_TYPES,
    OPERATORS,
    CrmObject,
    Portal,
    matches,
    sort_key,
    stamp,
)
from syncd_plugins.hubspot.emulator_webhooks import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DEVELOPER_KEY,
    PortalWebhooks,
)
from syncd_plugins.hubspot.emulator_writes import (
    PortalWrites,
    error,
    json_body,
    object_type,
    typed_body,
    unknown_type,
)

DEFAULT_TOKEN = "pat-emulator-token"
SEARCH_CAP = 10_000
# HubSpot's own (unlabelled) association types between deals and contacts
ASSOCIATIONS = {
    ("deals", "contacts"): {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None},
    ("contacts", "deals"): {"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None},
}
ASSOCIATION_LABEL = {
    ("deals", "contacts"): "deal_to_contact",
    ("contacts", "deals"): "contact_to_deal",
}
# what a search's free-text ``query`` looks in: the default searchable properties
SEARCHABLE = {
    "contacts": ("firstname", "lastname", "email", "phone"),
    "deals": ("dealname", "pipeline", "dealstage"),
}
Handler = Callable[[Request], Awaitable[Response]]


class HubSpotEmulator(PortalWrites, PortalWebhooks, PortalLegacy, PortalDemo):
    """One HubSpot portal, its sample data made from the seed."""

    name = "hubspot"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        burst: int = 100,  # requests per 10 s: 100 (Free/Starter) or 190 (Professional+)
        daily: int = 250_000,
        search_rate: float = 5.0,
        search_cap: int = SEARCH_CAP,
        app_id: int = DEFAULT_APP_ID,
        developer_api_key: str = DEFAULT_DEVELOPER_KEY,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        webhook_time_scale: float = 0.001,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        self.token = token
        self.app_id, self.developer_api_key = app_id, developer_api_key
        self.client_secret, self.webhook_time_scale = client_secret, webhook_time_scale
        self.burst, self.daily, self.search_cap = burst, daily, search_cap
        self.window_start: datetime | None = None
        self.window_used = 0
        self.daily_used = 0
        super().__init__(**options)
        self.search_bucket = TokenBucket(RateLimit(search_rate, search_rate), self.clock)

    # --- the Emulator contract --------------------------------------------------------------

    def reset(self) -> None:
        anchor = self.anchor()
        self.portal = Portal(self.seed, anchor, self.people)
        self.start_webhooks()

    def snapshot(self) -> dict[str, Any]:
        return self.portal.snapshot()

    def describe(self) -> list[str]:
        return [
            "base URL https://api.hubapi.com",
            f"header Authorization: Bearer {self.token}",
            f"webhooks API /webhooks/v3/{self.app_id}/... with ?hapikey={self.developer_api_key}; "
            f"deliveries signed with the client secret {self.client_secret}",
        ]

    def rate_limited_response(self, retry_after: str) -> Response:
        return self.rate_limit_error("TEN_SECONDLY_ROLLING")

    def server_error_response(self, status: int) -> Response:
        return error(status, "INTERNAL_ERROR", "internal error")

    def rate_limit_error(self, policy: str) -> JSONResponse:
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit."
            if policy == "TEN_SECONDLY_ROLLING"
            else "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
        }
        return JSONResponse(body, 429)

    def routes(self) -> Sequence[BaseRoute]:
        g, s = self._guarded, functools.partial(self._guarded, search=True)
        v3, v4 = "/crm/v3", "/crm/v4"
        routes = [
            Route(f"{v3}/owners", g(self.list_owners), methods=["GET"]),
            Route(f"{v3}/owners/", g(self.list_owners), methods=["GET"]),
            Route(f"{v3}/owners/{{id}}", g(self.get_owner), methods=["GET"]),
            Route(f"{v3}/objects/{{kind}}/search", s(self.search), methods=["POST"]),
            Route(f"{v3}/objects/contacts/batch/upsert", g(self.batch_upsert), methods=["POST"]),
            Route(f"{v3}/objects/contacts/batch/read", g(self.batch_read), methods=["POST"]),
            Route(f"{v3}/objects/{{kind}}", g(self.list_objects), methods=["GET"]),
            Route(f"{v3}/objects/{{kind}}", g(self.create_object), methods=["POST"]),
            Route(f"{v3}/objects/{{kind}}/{{id}}", g(self.get_object), methods=["GET"]),
            Route(f"{v3}/objects/{{kind}}/{{id}}", g(self.update_object), methods=["PATCH"]),
            Route(f"{v3}/objects/{{kind}}/{{id}}", g(self.archive_object), methods=["DELETE"]),
            Route(
                f"{v4}/objects/{{kind}}/{{id}}/associations/{{to}}",
                g(self.object_associations),
                methods=["GET"],
            ),
            Route(
                f"{v4}/associations/{{kind}}/{{to}}/batch/read",
                g(self.associations),
                methods=["POST"],
            ),
            Route(f"{v3}/properties/{{kind}}", g(self.list_properties), methods=["GET"]),
            Route(f"{v3}/properties/{{kind}}/{{name}}", g(self.get_property), methods=["GET"]),
            Route(f"{v3}/properties/{{kind}}/{{name}}", g(self.update_property), methods=["PATCH"]),
            Route(f"{v3}/lists", g(self.create_list), methods=["POST"]),
            Route(f"{v3}/lists/search", g(self.search_lists), methods=["POST"]),
            Route(
                f"{v3}/lists/object-type-id/0-1/name/{{name}}",
                g(self.list_by_name),
                methods=["GET"],
            ),
            Route(f"{v3}/lists/{{id}}", g(self.get_list), methods=["GET"]),
            Route(f"{v3}/lists/{{id}}/memberships", g(self.memberships), methods=["GET"]),
            Route(
                f"{v3}/lists/{{id}}/memberships/add-and-remove",
                g(self.add_and_remove),
                methods=["PUT"],
            ),
            Route(f"{v3}/schemas", g(self.custom_schemas), methods=["GET"]),
            # the older surface
            Route("/deals/v1/deal/paged", g(self.v1_deals), methods=["GET"]),
            Route("/deals/v1/pipelines", g(self.v1_pipelines), methods=["GET"]),
            Route("/properties/v1/deals/properties", g(self.v1_deal_properties), methods=["GET"]),
        ]
        routes += self.webhook_routes()
        self.known_routes = list(routes)
        # last: any other path or method, answered in HubSpot's error schema
        every = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [*routes, Route("/{path:path}", self.unknown_route, methods=every)]

    async def unknown_route(self, request: Request) -> Response:
        """A path the API does not have (404), or a method the path does not take (405, with
        ``Allow``), both in HubSpot's error schema."""
        path = request.url.path
        if scope := unscoped(path):
            return await self._guarded(lambda _: _missing(scope))(request)
        allowed = sorted(
            {
                method
                for route in self.known_routes
                if isinstance(route, Route) and route.path_regex.match(path)
                for method in route.methods or ()
                if method != "HEAD"
            }
        )
        if allowed:
            return error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP {request.method} is not supported by this URL",
                headers={"Allow": ", ".join(allowed)},
            )
        return error(404, "OBJECT_NOT_FOUND", f"Unable to route {request.method} {path}")

    # --- auth and limits --------------------------------------------------------------------

    def _guarded(self, handler: Handler, search: bool = False) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if request.headers.get("authorization", "") != f"Bearer {self.token}":
                return error(
                    401,
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not "
                    "found. This API supports OAuth 2.0 authentication.",
                )
            if scope := unscoped(request.url.path):
                return missing_scopes(scope)
            if search:
                if self.search_bucket.take() > 0:
                    return self.rate_limit_error("SECONDLY")
                return await handler(request)  # the search endpoints send no rate headers
            now = self.clock()
            if self.window_start is None or (now - self.window_start).total_seconds() >= 10:
                self.window_start, self.window_used = now, 0
            if self.window_used >= self.burst:
                response: Response = self.rate_limit_error("TEN_SECONDLY_ROLLING")
            else:
                self.window_used += 1
                self.daily_used += 1
                response = await handler(request)
            headers = {
                "X-HubSpot-RateLimit-Max": self.burst,
                "X-HubSpot-RateLimit-Remaining": self.burst - self.window_used,
                "X-HubSpot-RateLimit-Interval-Milliseconds": 10000,
                "X-HubSpot-RateLimit-Daily": self.daily,
                "X-HubSpot-RateLimit-Daily-Remaining": self.daily - self.daily_used,
            }
            for key, value in headers.items():
                response.headers[key] = str(value)
            return response

        return guarded

    # --- reading ----------------------------------------------------------------------------

    async def list_owners(self, request: Request) -> Response:
        owners = self.portal.owners
        if email := request.query_params.get("email"):
            owners = [o for o in owners if o["email"] == email]
        return self.paged(request, owners, 100, 500)

    async def get_owner(self, request: Request) -> Response:
        ref = request.path_params["id"]
        key = "userId" if request.query_params.get("idProperty") == "userId" else "id"
        for owner in self.portal.owners:
            if str(owner[key]) == ref:
                return JSONResponse(owner)
        return error(404, "OBJECT_NOT_FOUND", f"No owner with {key} {ref}")

    def paged(self, request: Request, rows: list[Any], default: int, most: int) -> Response:
        q = request.query_params
        try:
            limit = min(int(q.get("limit", default)), most)
            start = int(q.get("after", 0))
        except ValueError:
            return error(400, "VALIDATION_ERROR", "limit and after must be whole numbers")
        body: dict[str, Any] = {"results": rows[start : start + limit]}
        if start + limit < len(rows):
            after = str(start + limit)
            body["paging"] = {"next": {"after": after, "link": f"{request.url.path}?after={after}"}}
        return JSONResponse(body)

    def shown(self, request: Request, kind: str) -> list[str]:
        """The properties a read asks for: every ``properties`` parameter (each may hold a
        comma-separated list), unknown names left out; none asked: the default ones."""
        asked = named(request, "properties")
        if not asked:
            return self.default_props(kind)
        return [n for n in asked if n in self.portal.properties[kind]]

    def with_associations(
        self, request: Request, kind: str, obj: CrmObject, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``body`` with the ``associations`` a read asks for (``associations=deals``)."""
        found: dict[str, Any] = {}
        for asked in named(request, "associations"):
            other = OBJECT_TYPES.get(asked.lower())
            if other is None or other == kind:
                continue
            ids = self.associated(kind, obj, other)
            if ids:
                label = ASSOCIATION_LABEL[(kind, other)]
                found[other] = {"results": [{"id": i, "type": label} for i in ids]}
        return {**body, "associations": found} if found else body

    def associated(self, kind: str, obj: CrmObject, other: str) -> list[str]:
        if kind == "deals" and other == "contacts":
            return list(obj.contacts)
        if kind == "contacts" and other == "deals":
            return self.portal.deals_of(obj.id)
        return []

    def archived_wanted(self, request: Request) -> bool:
        return request.query_params.get("archived", "false").lower() == "true"

    async def list_objects(self, request: Request) -> Response:
        kind = object_type(request)
        if kind is None:
            return unknown_type(request.path_params["kind"])
        names = self.shown(request, kind)
        pool = self.portal.archived if self.archived_wanted(request) else self.portal.objects
        rows = [
            self.with_associations(request, kind, o, o.render(names))
            for o in sorted(pool[kind].values(), key=lambda o: int(o.id))
        ]
        return self.paged(request, rows, 10, 100)

    def default_props(self, kind: str) -> list[str]:
        modified = "lastmodifieddate" if kind == "contacts" else "hs_lastmodifieddate"
        extra = ["email", "firstname", "lastname"] if kind == "contacts" else ["dealname"]
        return [*extra, "createdate", modified, "hs_object_id"]

    def find(self, request: Request, kind: str) -> CrmObject | None:
        """The object of the path's id (``idProperty``: a unique property such as email)."""
        ref = str(request.path_params["id"])
        pool = self.portal.archived if self.archived_wanted(request) else self.portal.objects
        by = request.query_params.get("idProperty")
        if by and by != "hs_object_id":
            if by not in self.portal.properties[kind]:
                return None
            return next(
                (o for o in pool[kind].values() if o.properties.get(by, "").lower() == ref.lower()),
                None,
            )
        return pool[kind].get(ref)

    async def get_object(self, request: Request) -> Response:
        kind = object_type(request)
        if kind is None:
            return unknown_type(request.path_params["kind"])
        obj = self.find(request, kind)
        if obj is None:
            return error(404, "OBJECT_NOT_FOUND", "Object not found")
        body = obj.render(self.shown(request, kind))
        return JSONResponse(self.with_associations(request, kind, obj, body))

    async def search(self, request: Request) -> Response:
        found = await typed_body(request)
        if isinstance(found, JSONResponse):
            return found
        kind, body = found
        groups = body.get("filterGroups") or []
        try:
            limit, after = int(body.get("limit", 10)), int(body.get("after") or 0)
        except (TypeError, ValueError):
            return error(400, "VALIDATION_ERROR", "limit and after must be whole numbers")
        if limit > 200:
            return error(400, "VALIDATION_ERROR", "Invalid input: limit must be 200 or less")
        if after >= self.search_cap:
            return error(
                400,
                "VALIDATION_ERROR",
                f"Invalid input: a search reaches {self.search_cap} results at most",
            )
        counts = [len(g.get("filters") or []) for g in groups]
        if len(groups) > 5 or any(n > 6 for n in counts) or sum(counts) > 18:
            return error(
                400,
                "VALIDATION_ERROR",
                "Too many filters: at most 5 filterGroups, 6 filters in a group and 18 in all",
            )
        for group in groups:
            for flt in group.get("filters") or []:
                if flt.get("operator") not in OPERATORS or not flt.get("propertyName"):
                    return error(400, "VALIDATION_ERROR", f"Invalid filter: {json.dumps(flt)}")
        found = [
            o
            for o in self.portal.objects[kind].values()
            if not groups or any(all(matches(o, f) for f in g.get("filters") or []) for g in groups)
        ]
        if text := str(body.get("query") or "").strip().lower():
            fields = SEARCHABLE[kind]
            found = [
                o for o in found if any(text in o.properties.get(f, "").lower() for f in fields)
            ]
        found.sort(key=lambda o: int(o.id))
        for order in reversed(body.get("sorts") or []):
            name = order.get("propertyName", "") if isinstance(order, dict) else str(order)
            down = isinstance(order, dict) and order.get("direction") == "DESCENDING"
            found.sort(key=lambda o: sort_key(o, name), reverse=down)
        names = body.get("properties") or self.default_props(kind)
        end = min(after + limit, self.search_cap)
        page = found[after:end]
        reply: dict[str, Any] = {"total": len(found), "results": [o.render(names) for o in page]}
        if end < min(len(found), self.search_cap):
            reply["paging"] = {"next": {"after": str(end)}}
        return JSONResponse(reply)

    async def object_associations(self, request: Request) -> Response:
        kind, other = object_type(request), object_type(request, "to")
        if kind is None or other is None:
            bad = request.path_params["kind" if kind is None else "to"]
            return unknown_type(bad)
        obj = self.portal.objects[kind].get(request.path_params["id"])
        if obj is None:
            return error(404, "OBJECT_NOT_FOUND", "Object not found")
        spec = ASSOCIATIONS.get((kind, other))
        ids = self.associated(kind, obj, other)
        rows = [{"toObjectId": int(i), "associationTypes": [spec]} for i in ids]
        return self.paged(request, rows, 500, 500)

    async def associations(self, request: Request) -> Response:
        kind, other = object_type(request), object_type(request, "to")
        if kind is None or other is None:
            bad = request.path_params["kind" if kind is None else "to"]
            return unknown_type(bad)
        body = await json_body(request)
        if isinstance(body, JSONResponse):
            return body
        inputs = body.get("inputs") or []
        if len(inputs) > 1000:
            return error(400, "VALIDATION_ERROR", "Too many inputs: at most 1000")
        spec = ASSOCIATIONS.get((kind, other))
        results, errors = [], []
        for item in inputs:
            ref = str(item.get("id") if isinstance(item, dict) else item)
            obj = self.portal.objects[kind].get(ref)
            ids = self.associated(kind, obj, other) if obj is not None else []
            if obj is None:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"No {kind[:-1]} with id {ref}",
                        "context": {"fromObjectId": [ref]},
                    }
                )
            elif ids:
                to = [{"toObjectId": int(i), "associationTypes": [spec]} for i in ids]
                results.append({"from": {"id": obj.id}, "to": to})
        reply: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp(self.clock()),
            "completedAt": stamp(self.clock()),
        }
        if errors:
            reply["errors"], reply["numErrors"] = errors, len(errors)
        return JSONResponse(reply, 207 if errors else 200)


async def _missing(scope: str) -> Response:
    return missing_scopes(scope)


def named(request: Request, param: str) -> list[str]:
    """Every value of a repeated query parameter (``a=x&a=y``), each split at commas, in
    order, without repeats."""
    found: dict[str, None] = {}
    for value in request.query_params.getlist(param):
        for name in value.split(","):
            if name.strip():
                found[name.strip()] = None
    return list(found)
