"""An emulator of the Shopify Admin API, faithful to ``shared/api/shopify.md``: REST customers,
orders and abandoned checkouts with ``Link``-header paging (``page_info``), ``updated_at_min``,
the ``X-Shopify-Access-Token`` check, the leaky bucket and its ``X-Shopify-Shop-Api-Call-Limit``
header; and the GraphQL endpoint serving ``tagsAdd`` / ``tagsRemove`` with the cost budget in
``extensions.cost`` and ``Throttled`` answered in HTTP 200."""

from __future__ import annotations

import base64
import copy
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.connectors import parse_time
from syncd.emulator import EmulatorOptions, RateLimit
from syncd_plugins.shopify.emulator_demo import ShopDemo
from syncd_plugins.shopify.emulator_graphql import GraphQLSyntaxError, RootField, parse
from syncd_plugins.shopify.emulator_state import (
    MAX_TAG_LENGTH,
    ShopState,
    split_tags,
    stamp,
)

API = "/admin/api/{version}"
DEFAULT_TOKEN = "shpat_emulator0000000000000000000"
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
REST_BUCKET, REST_LEAK = 40, 2.0  # a standard plan
COST_MAX, COST_RESTORE, MAX_QUERY_COST, MUTATION_COST = 2000.0, 100.0, 1000, 10
MAX_LIMIT = 250
GID = re.compile(r"^gid://shopify/Customer/(\d+)$")
VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RATE_DOCS = "https://shopify.dev/api/usage/rate-limits"


class ShopifyEmulator(ShopDemo):
    """One Shopify store, its sample data made from the seed."""

    name = "shopify"
    default_rate_limit = RateLimit(REST_LEAK, REST_BUCKET)

    def __init__(
        self,
        *,
        access_token: str = DEFAULT_TOKEN,
        cost_restore: float = COST_RESTORE,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        self.access_token = access_token
        self.rest_leak, self.cost_restore = REST_LEAK, cost_restore
        self.throttled = 0  # GraphQL requests answered "Throttled"
        super().__init__(**options)

    # --- the Emulator contract --------------------------------------------------------------

    def reset(self) -> None:
        anchor = self.anchor()
        self.shop = ShopState(self.seed, anchor, self.people)
        now = self.clock().timestamp()
        self.bucket_used, self.bucket_at = 0.0, now
        self.cost_available, self.cost_at = COST_MAX, now

    def snapshot(self) -> dict[str, Any]:
        return {
            "customers": copy.deepcopy(list(self.shop.customers.values())),
            "orders": copy.deepcopy(list(self.shop.orders.values())),
            "checkouts": copy.deepcopy(list(self.shop.checkouts.values())),
            "rest_bucket": {"used": math.ceil(self._leak()), "size": REST_BUCKET},
            "graphql_cost": self.throttle_status(),
        }

    def describe(self) -> list[str]:
        return [
            "REST /admin/api/2024-10/{customers,orders,checkouts}.json; "
            "GraphQL POST /admin/api/2024-10/graphql.json",
            f"header X-Shopify-Access-Token: {self.access_token}",
        ]

    def rate_limited_response(self, retry_after: str) -> Response:
        body = {
            "errors": f"Exceeded {self.rest_leak:g} calls per second for api client. "
            "Reduce request rates to resume uninterrupted service."
        }
        return JSONResponse(body, 429, {"Retry-After": f"{float(retry_after):.1f}"})

    def server_error_response(self, status: int) -> Response:
        return JSONResponse({"errors": "Internal Server Error"}, status)

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route(f"{API}/customers.json", self._rest(self.list_customers), methods=["GET"]),
            Route(f"{API}/customers/search.json", self._rest(self.search), methods=["GET"]),
            Route(f"{API}/orders.json", self._rest(self.list_orders), methods=["GET"]),
            Route(
                f"{API}/orders/{{order_id:int}}/cancel.json",
                self._rest(self.cancel_order),
                methods=["POST"],
            ),
            Route(f"{API}/checkouts.json", self._rest(self.list_checkouts), methods=["GET"]),
            Route(f"{API}/shop.json", self._rest(self.shop_info), methods=["GET"]),
            Route(f"{API}/graphql.json", self.graphql, methods=["POST"]),
            Route("/{path:path}", self.not_found, methods=list(METHODS)),
        ]

    async def not_found(self, request: Request) -> Response:
        return JSONResponse({"errors": "Not Found"}, 404)

    def _refused_version(self, request: Request) -> Response | None:
        """Shopify's answer to a version it never had; None for a dated or unstable one."""
        if VERSION.match(request.path_params.get("version", "")):
            return None
        return JSONResponse({"errors": "Not Found"}, 404)

    # --- control from Python ----------------------------------------------------------------

    def set_rate_limit(self, limit: float | RateLimit | None) -> None:
        """Shopify's REST limit is its leaky bucket of 40 calls: ``limit`` is how fast it
        leaks (2 a second standard, 4 Advanced, 20 Plus); 0 or None lifts it. GraphQL has
        its own cost budget."""
        rate = limit.rate if isinstance(limit, RateLimit) else float(limit or 0)
        self.rest_leak = max(0.0, rate)
        self.rate_limit = RateLimit(self.rest_leak, REST_BUCKET) if self.rest_leak else None
        self.bucket = None  # not the toolkit's bucket: this one answers with Shopify's header

    def spend_graphql(self, points: float) -> None:
        """Another app spent ``points`` of the store's GraphQL budget."""
        self._restore()
        self.cost_available = max(0.0, self.cost_available - points)

    # --- REST -------------------------------------------------------------------------------

    def _leak(self) -> float:
        now = self.clock().timestamp()
        self.bucket_used = max(0.0, self.bucket_used - (now - self.bucket_at) * self.rest_leak)
        self.bucket_at = now
        return self.bucket_used

    def _rest(self, handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def rest(request: Request) -> Response:
            if (refused := self._refused_version(request)) is not None:
                return refused
            if request.headers.get("x-shopify-access-token") != self.access_token:
                return JSONResponse({"errors": BAD_TOKEN}, 401)
            if not self.rest_leak:
                return handler(request)
            if self._leak() + 1 > REST_BUCKET:
                wait = (self.bucket_used + 1 - REST_BUCKET) / self.rest_leak
                return self.rate_limited_response(str(max(1.0, wait)))
            self.bucket_used += 1
            response = handler(request)
            used = math.ceil(self.bucket_used - 1e-9)
            response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{used}/{REST_BUCKET}"
            return response

        return rest

    def shop_info(self, request: Request) -> Response:
        shop = {"id": 548380009, "name": "Emulated shop", "myshopify_domain": request.url.hostname}
        return JSONResponse({"shop": shop})

    def list_customers(self, request: Request) -> Response:
        return self._listing(request, "customers", self.shop.customers, lambda r, q: True)

    def list_orders(self, request: Request) -> Response:
        def status(row: dict[str, Any], q: dict[str, str]) -> bool:
            wanted = q.get("status", "open")
            if wanted == "any":
                return True
            if wanted == "cancelled":
                return row["cancelled_at"] is not None
            closed = row["closed_at"] is not None
            return closed if wanted == "closed" else not closed and row["cancelled_at"] is None

        return self._listing(request, "orders", self.shop.orders, status)

    def cancel_order(self, request: Request) -> Response:
        """``POST orders/ID/cancel.json``: the order is cancelled, and its update time moves."""
        order = self.shop.orders.get(request.path_params["order_id"])
        if order is None:
            return JSONResponse({"errors": "Not Found"}, 404)
        if order["cancelled_at"] is not None:
            return JSONResponse({"errors": {"base": ["Order has already been cancelled"]}}, 422)
        if order["fulfillment_status"] is not None:  # an order with fulfillments stays
            return JSONResponse({"errors": {"base": ["Order cannot be cancelled"]}}, 422)
        at = stamp(self.clock())
        order.update(cancelled_at=at, updated_at=at, financial_status="voided")
        return JSONResponse({"order": order})

    def list_checkouts(self, request: Request) -> Response:
        def status(row: dict[str, Any], q: dict[str, str]) -> bool:
            wanted = q.get("status", "open")
            return wanted == "any" or (row["completed_at"] is None) == (wanted == "open")

        return self._listing(request, "checkouts", self.shop.checkouts, status)

    def search(self, request: Request) -> Response:
        query = request.query_params.get("query", "")
        match = re.search(r'email:\s*"?([^"\s]+)"?', query)
        found = self.shop.by_email(match.group(1)) if match else None
        return JSONResponse({"customers": [_fields(found, request)] if found else []})

    def _listing(
        self,
        request: Request,
        key: str,
        rows: dict[int, dict[str, Any]],
        keep: Callable[[dict[str, Any], dict[str, str]], bool],
    ) -> Response:
        params = dict(request.query_params)
        try:
            limit = int(params.get("limit", 50))
        except ValueError:
            return JSONResponse({"errors": {"limit": "Invalid value"}}, 400)
        limit = max(1, min(limit, MAX_LIMIT))
        after, before = 0, None
        if "page_info" in params:
            extra = set(params) - {"page_info", "limit", "fields"}
            if extra:
                said = f"page_info cannot be combined with {', '.join(sorted(extra))}"
                return JSONResponse({"errors": {"page_info": said}}, 400)
            try:
                token = json.loads(base64.urlsafe_b64decode(params["page_info"] + "=="))
                filters = dict(token["filters"])
                after, before = int(token.get("after", 0)), token.get("before")
            except (ValueError, KeyError, TypeError):
                return JSONResponse({"errors": {"page_info": "Invalid value."}}, 400)
        else:
            filters = {k: v for k, v in params.items() if k not in ("limit", "fields")}
        since = parse_time(filters["updated_at_min"]) if "updated_at_min" in filters else None
        if "updated_at_min" in filters and since is None:
            return JSONResponse({"errors": {"updated_at_min": "Invalid value."}}, 400)
        matching = [
            row
            for _, row in sorted(rows.items())
            if keep(row, filters)
            and (since is None or (parse_time(row["updated_at"]) or since) >= since)
        ]
        if before is not None:
            earlier = [r for r in matching if r["id"] < int(before)]
            page = earlier[-limit:]
        else:
            page = [r for r in matching if r["id"] > after][:limit]
        response = JSONResponse({key: [_fields(r, request) for r in page]})
        links = []
        if page and matching[0]["id"] < page[0]["id"]:
            links.append(self._link(request, limit, filters, {"before": page[0]["id"]}, "previous"))
        if page and matching[-1]["id"] > page[-1]["id"]:
            links.append(self._link(request, limit, filters, {"after": page[-1]["id"]}, "next"))
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    def _link(
        self, request: Request, limit: int, filters: dict[str, str], at: dict[str, int], rel: str
    ) -> str:
        token = base64.urlsafe_b64encode(json.dumps({"filters": filters, **at}).encode())
        query = f"limit={limit}&page_info={token.decode().rstrip('=')}"
        if "fields" in request.query_params:
            query += f"&fields={request.query_params['fields']}"
        return f'<{request.url.replace(query=query)}>; rel="{rel}"'

    # --- GraphQL ----------------------------------------------------------------------------

    def _restore(self) -> None:
        now = self.clock().timestamp()
        self.cost_available = min(
            COST_MAX, self.cost_available + (now - self.cost_at) * self.cost_restore
        )
        self.cost_at = now

    def throttle_status(self) -> dict[str, float]:
        self._restore()
        return {
            "maximumAvailable": COST_MAX,
            "currentlyAvailable": math.floor(self.cost_available),
            "restoreRate": self.cost_restore,
        }

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        cost = {"requestedQueryCost": requested, "actualQueryCost": actual}
        return {"cost": {**cost, "throttleStatus": self.throttle_status()}}

    def _refuse(self, message: str, charged: int | None = None, **extensions: Any) -> Response:
        """A request-wide GraphQL error: HTTP 200 with ``errors`` (and the cost, if counted)."""
        body: dict[str, Any] = {"errors": [{"message": message, "extensions": extensions}]}
        if charged is not None:
            body["extensions"] = self._cost(charged, None)
        return JSONResponse(body)

    async def graphql(self, request: Request) -> Response:
        if (refused := self._refused_version(request)) is not None:
            return refused
        if request.headers.get("x-shopify-access-token") != self.access_token:
            return JSONResponse({"errors": BAD_TOKEN}, 401)
        raw = await request.body()
        try:
            if request.headers.get("content-type", "").startswith("application/graphql"):
                body: Any = {"query": raw.decode()}
            else:
                body = json.loads(raw)
            query, variables = body["query"], body.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        try:
            operation = parse(query, variables)
        except GraphQLSyntaxError as exc:
            return JSONResponse({"errors": [{"message": str(exc)}]})
        known = {"mutation": ("tagsAdd", "tagsRemove"), "query": ("shop",)}.get(operation.kind, ())
        kind = "Mutation" if operation.kind == "mutation" else "QueryRoot"
        for f in operation.fields:
            if f.name not in known:
                message = f"Field '{f.name}' doesn't exist on type '{kind}'"
                return self._refuse(message, code="undefinedField", typeName=kind, fieldName=f.name)
        cost = sum(MUTATION_COST if f.name != "shop" else 1 for f in operation.fields)
        if cost > MAX_QUERY_COST:
            message = (
                f"Query cost is {cost}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST})."
            )
            return self._refuse(
                message, cost, code="MAX_COST_EXCEEDED", cost=cost, maxCost=MAX_QUERY_COST
            )
        self._restore()
        if cost > self.cost_available:
            self.throttled += 1
            return self._refuse("Throttled", cost, code="THROTTLED", documentation=RATE_DOCS)
        self.cost_available -= cost
        data = {f.alias: self._resolve(f, request) for f in operation.fields}
        return JSONResponse({"data": data, "extensions": self._cost(cost, cost)})

    def _resolve(self, f: RootField, request: Request) -> dict[str, Any]:
        if f.name == "shop":
            return {"name": "Emulated shop", "myshopifyDomain": request.url.hostname}
        errors: list[dict[str, Any]] = []
        node: dict[str, Any] | None = None
        gid, tags = f.args.get("id"), f.args.get("tags")
        if isinstance(tags, str):
            tags = split_tags(tags)
        match = GID.match(gid) if isinstance(gid, str) else None
        customer = self.shop.customers.get(int(match.group(1))) if match else None
        if customer is None:
            errors.append({"field": ["id"], "message": "Customer does not exist"})
        elif not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors.append({"field": ["tags"], "message": "Tags is invalid"})
        elif any(len(t.strip()) > MAX_TAG_LENGTH for t in tags):
            errors.append({"field": ["tags"], "message": "Tags is too long (maximum is 255)"})
        else:
            clean = [t.strip() for t in tags if t.strip()]
            if f.name == "tagsAdd":
                problem = self.shop.add_tags(customer, clean, self.clock())
                if problem:
                    errors.append({"field": ["tags"], "message": problem})
            else:
                self.shop.remove_tags(customer, clean, self.clock())
            if not errors:
                node = {"id": gid}
        out: dict[str, Any] = {}
        if f.selects("node") or not f.selection:
            out["node"] = node
        if f.selects("userErrors") or not f.selection:
            out["userErrors"] = errors
        return out


def _fields(row: dict[str, Any], request: Request) -> dict[str, Any]:
    """``row`` cut to the ``fields`` the client asked for, if it asked."""
    wanted = request.query_params.get("fields")
    if not wanted:
        return row
    names = {n.strip() for n in wanted.split(",")}
    return {k: v for k, v in row.items() if k in names}
