"""An emulator of the Shopify Admin API, faithful to ``shared/api/shopify.md`` and
``docs/api/shopify.md``: REST customers (list, search, count, get, create, update, delete),
orders (list, count, get, cancel) and abandoned checkouts with ``Link``-header paging
(``page_info``), ``updated_at_min``, the ``X-Shopify-Access-Token`` check, the leaky bucket and
its ``X-Shopify-Shop-Api-Call-Limit`` header (in Shopify's case, on every REST answer, 429
included); and the GraphQL Admin API executed against a real schema (``emulator_graphql*``):
customers, orders in full (line items, shipping lines, transactions, refunds, fulfillments),
abandoned checkouts, and what an app reading the whole shop asks (``emulator_graphql_types``:
products, variants, collections, locations, inventory, events, metafields, fulfillment orders,
the app's access scopes; the store's share of them in ``emulator_catalog``), ``node``,
``shop``, ``tagsAdd`` / ``tagsRemove`` and bulk query operations (``emulator_bulk``), with the
cost budget in ``extensions.cost`` and ``Throttled`` answered in HTTP 200."""

from __future__ import annotations

import base64
import copy
import inspect
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Unpack

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.connectors import parse_time
from syncd.emulator import EmulatorOptions, RateLimit, mark_write, system_clock
from syncd_plugins.shopify.emulator_bulk import BulkOperations, collect
from syncd_plugins.shopify.emulator_demo import ShopDemo
from syncd_plugins.shopify.emulator_graphql import (
    MAX_QUERY_COST,
    Prepared,
    Refused,
    shopify_error,
)
from syncd_plugins.shopify.emulator_graphql_read import Context
from syncd_plugins.shopify.emulator_graphql_root import root_value
from syncd_plugins.shopify.emulator_order_create import create_order
from syncd_plugins.shopify.emulator_state import CustomerInvalid, ShopState, stamp
from syncd_plugins.shopify.emulator_webhooks import ShopWebhooks

API = "/admin/api/{version}"
DEFAULT_TOKEN = "shpat_emulator0000000000000000000"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"  # the app's client secret: signs its webhooks
DEFAULT_SHOP_DOMAIN = "emulated-shop.myshopify.com"
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
REST_BUCKET, REST_LEAK = 40, 2.0  # a standard plan
COST_MAX, COST_RESTORE = 2000.0, 100.0  # the standard plan since 2024; 1000 / 50 before
MAX_LIMIT = 250
VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CALL_LIMIT = b"X-Shopify-Shop-Api-Call-Limit"
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
        cost_max: float = COST_MAX,
        max_query_cost: int = MAX_QUERY_COST,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        shop_domain: str = DEFAULT_SHOP_DOMAIN,
        webhook_time_scale: float = 0.001,
        webhook_workers: int = 4,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        self.access_token = access_token
        clock = options.get("clock", system_clock)
        self.client_secret = client_secret
        self.hooks = ShopWebhooks(
            clock, client_secret, shop_domain, webhook_time_scale, webhook_workers
        )
        self.rest_leak, self.cost_restore, self.cost_max = REST_LEAK, cost_restore, cost_max
        self.max_query_cost = max_query_cost
        self.throttled = 0  # GraphQL requests answered "Throttled"
        super().__init__(**options)

    # --- the Emulator contract --------------------------------------------------------------

    def reset(self) -> None:
        anchor = self.anchor()
        self.shop = ShopState(self.seed, anchor, self.people)
        self.hooks.watch(self.shop)
        now = self.clock().timestamp()
        self.bucket_used, self.bucket_at = 0.0, now
        self.cost_available, self.cost_at = self.cost_max, now
        self.bulk = BulkOperations()

    def snapshot(self) -> dict[str, Any]:
        return {
            "customers": copy.deepcopy(list(self.shop.customers.values())),
            "orders": copy.deepcopy(list(self.shop.orders.values())),
            "checkouts": copy.deepcopy(list(self.shop.checkouts.values())),
            **copy.deepcopy(self.shop.catalog.snapshot()),
            "rest_bucket": {"used": math.ceil(self._leak()), "size": REST_BUCKET},
            "graphql_cost": self.throttle_status(),
        }

    def describe(self) -> list[str]:
        return [
            "REST /admin/api/2024-10/{customers,orders,checkouts}.json; "
            "GraphQL POST /admin/api/2024-10/graphql.json",
            f"header X-Shopify-Access-Token: {self.access_token}",
            f"webhooks signed with the app's client secret {self.client_secret}",
        ]

    def rate_limited_response(self, retry_after: str) -> Response:
        body = {
            "errors": f"Exceeded {self.rest_leak:g} calls per second for api client. "
            "Reduce request rates to resume uninterrupted service."
        }
        response = _cased(JSONResponse(body, 429), b"Retry-After", f"{float(retry_after):.1f}")
        return _call_limit(response, REST_BUCKET)

    def server_error_response(self, status: int) -> Response:
        return JSONResponse({"errors": "Internal Server Error"}, status)

    def routes(self) -> Sequence[BaseRoute]:
        customer = f"{API}/customers/{{customer_id:int}}.json"
        return [
            Route(f"{API}/customers.json", self._rest(self.list_customers), methods=["GET"]),
            Route(f"{API}/customers.json", self._rest(self.create_customer), methods=["POST"]),
            Route(f"{API}/customers/search.json", self._rest(self.search), methods=["GET"]),
            Route(f"{API}/customers/count.json", self._rest(self.count_customers), methods=["GET"]),
            Route(customer, self._rest(self.get_customer), methods=["GET"]),
            Route(customer, self._rest(self.update_customer), methods=["PUT"]),
            Route(customer, self._rest(self.delete_customer), methods=["DELETE"]),
            Route(f"{API}/orders.json", self._rest(self.list_orders), methods=["GET"]),
            Route(f"{API}/orders.json", self._rest(self.create_order), methods=["POST"]),
            Route(f"{API}/orders/count.json", self._rest(self.count_orders), methods=["GET"]),
            Route(
                f"{API}/orders/{{order_id:int}}.json", self._rest(self.get_order), methods=["GET"]
            ),
            Route(
                f"{API}/orders/{{order_id:int}}/cancel.json",
                self._rest(self.cancel_order),
                methods=["POST"],
            ),
            Route(f"{API}/checkouts.json", self._rest(self.list_checkouts), methods=["GET"]),
            Route(f"{API}/checkouts/count.json", self._rest(self.count_checkouts), methods=["GET"]),
            Route(f"{API}/shop.json", self._rest(self.shop_info), methods=["GET"]),
            Route(f"{API}/graphql.json", self.graphql, methods=["POST"]),
            Route("/_bulk/{number:int}.jsonl", self.bulk_file, methods=["GET"]),
            Route(f"{API}/{{rest:path}}", self._rest(self.not_found), methods=list(METHODS)),
            Route("/{path:path}", self.not_found, methods=list(METHODS)),
        ]

    def not_found(self, request: Request) -> Response:
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
        """The REST bucket's fill now. It is counted (and its header sent) even while the
        limit is lifted, at the standard leak, as Shopify counts every call."""
        now = self.clock().timestamp()
        leak = self.rest_leak or REST_LEAK
        self.bucket_used = max(0.0, self.bucket_used - (now - self.bucket_at) * leak)
        self.bucket_at = now
        return self.bucket_used

    def _rest(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """A REST route: version and token checks, the leaky bucket, and the
        ``X-Shopify-Shop-Api-Call-Limit`` header on every answer (429 included)."""

        async def rest(request: Request) -> Response:
            if (refused := self._refused_version(request)) is not None:
                return _call_limit(refused, math.ceil(self._leak() - 1e-9))
            if request.headers.get("x-shopify-access-token") != self.access_token:
                return _call_limit(
                    JSONResponse({"errors": BAD_TOKEN}, 401), math.ceil(self._leak() - 1e-9)
                )
            if self.rest_leak and self._leak() + 1 > REST_BUCKET:
                wait = (self.bucket_used + 1 - REST_BUCKET) / self.rest_leak
                return self.rate_limited_response(str(max(1.0, wait)))
            self.bucket_used = min(float(REST_BUCKET), self._leak() + 1)
            response = handler(request)
            if inspect.isawaitable(response):
                response = await response
            return _call_limit(response, math.ceil(self.bucket_used - 1e-9))

        return rest

    def shop_info(self, request: Request) -> Response:
        shop = {"id": 548380009, "name": "Emulated shop", "myshopify_domain": request.url.hostname}
        return JSONResponse({"shop": shop})

    def list_customers(self, request: Request) -> Response:
        return self._listing(request, "customers", self.shop.customers, lambda r, q: True)

    def get_customer(self, request: Request) -> Response:
        return self._one(request, self.shop.customers, "customer")

    def count_customers(self, request: Request) -> Response:
        return self._count(request, self.shop.customers, lambda r, q: True)

    async def create_order(self, request: Request) -> Response:
        """``POST orders.json`` with ``{"order": {...}}``: 201 and the new, paid order."""
        try:
            given = json.loads(await request.body() or b"null")
        except ValueError:
            given = None
        status, body = create_order(self.shop, given, self.clock())
        return JSONResponse(body, status)

    async def create_customer(self, request: Request) -> Response:
        """``POST customers.json`` with ``{"customer": {...}}``: 201 and the new customer."""
        given = await _resource_body(request, "customer")
        if given is None:
            return _missing("customer")
        try:
            made = self.shop.create_customer(given, self.clock())
        except CustomerInvalid as exc:
            return JSONResponse({"errors": exc.errors}, 422)
        return JSONResponse({"customer": made}, 201)

    async def update_customer(self, request: Request) -> Response:
        """``PUT customers/ID.json``: the writable fields given change; tags REPLACE."""
        found = self.shop.customers.get(request.path_params["customer_id"])
        if found is None:
            return self.not_found(request)
        given = await _resource_body(request, "customer")
        if given is None:
            return _missing("customer")
        try:
            self.shop.update_customer(found, given, self.clock())
        except CustomerInvalid as exc:
            return JSONResponse({"errors": exc.errors}, 422)
        return JSONResponse({"customer": found})

    def delete_customer(self, request: Request) -> Response:
        """``DELETE customers/ID.json``: 200 and ``{}``; a customer with orders stays (422)."""
        found = self.shop.customers.get(request.path_params["customer_id"])
        if found is None:
            return self.not_found(request)
        try:
            self.shop.delete_customer(found)
        except CustomerInvalid as exc:
            return JSONResponse({"errors": exc.errors}, 422)
        return JSONResponse({})

    def get_order(self, request: Request) -> Response:
        return self._one(request, self.shop.orders, "order")

    def _one(self, request: Request, rows: dict[int, dict[str, Any]], kind: str) -> Response:
        """``GET {kind}s/ID.json``: ``{kind: {...}}`` with the ``fields`` asked for, or 404."""
        found = rows.get(request.path_params[f"{kind}_id"])
        if found is None:
            return self.not_found(request)
        return JSONResponse({kind: _fields(found, request)})

    def count_orders(self, request: Request) -> Response:
        return self._count(request, self.shop.orders, _order_status)

    def count_checkouts(self, request: Request) -> Response:
        return self._count(request, self.shop.checkouts, _checkout_status)

    def _count(
        self,
        request: Request,
        rows: dict[int, dict[str, Any]],
        keep: Callable[[dict[str, Any], dict[str, str]], bool],
    ) -> Response:
        """``…/count.json``: ``{"count": N}`` under the listing's filters."""
        params = dict(request.query_params)
        since = parse_time(params["updated_at_min"]) if "updated_at_min" in params else None
        if "updated_at_min" in params and since is None:
            return JSONResponse({"errors": {"updated_at_min": "Invalid value."}}, 400)
        count = sum(
            1
            for row in rows.values()
            if keep(row, params)
            and (since is None or (parse_time(row["updated_at"]) or since) >= since)
        )
        return JSONResponse({"count": count})

    def list_orders(self, request: Request) -> Response:
        return self._listing(request, "orders", self.shop.orders, _order_status)

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
        self.shop.tell("orders/cancelled", order)
        self.shop.tell("orders/updated", order)
        return JSONResponse({"order": order})

    def list_checkouts(self, request: Request) -> Response:
        return self._listing(request, "checkouts", self.shop.checkouts, _checkout_status)

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
        # to the thousandth of a point: epoch seconds in floats lose microseconds, so a
        # client that waited exactly long enough would else fall short by a hair
        restored = self.cost_available + (now - self.cost_at) * self.cost_restore
        self.cost_available = min(self.cost_max, round(restored, 3))
        self.cost_at = now

    def throttle_status(self) -> dict[str, float]:
        self._restore()
        return {
            "maximumAvailable": self.cost_max,
            "currentlyAvailable": math.floor(self.cost_available),
            "restoreRate": self.cost_restore,
        }

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        cost = {"requestedQueryCost": requested, "actualQueryCost": actual}
        return {"cost": {**cost, "throttleStatus": self.throttle_status()}}

    def _refuse(self, message: str, charged: int | None = None, **extensions: Any) -> Response:
        """A request-wide GraphQL error: HTTP 200 with ``errors`` (and the cost, if counted)."""
        return self._errors([{"message": message, "extensions": extensions}], charged)

    def _errors(self, errors: list[dict[str, Any]], charged: int | None = None) -> Response:
        body: dict[str, Any] = {"errors": errors}
        if charged is not None:
            body["extensions"] = self._cost(charged, None)
        return JSONResponse(body)

    async def graphql(self, request: Request) -> Response:
        """``POST graphql.json``: parsed and validated against the schema (refused before any
        cost is counted), the requested cost checked against the single-query limit and the
        bucket, executed, and the bucket charged the actual cost. The log counts a mutation
        (``tagsAdd``, ``bulkOperationRunQuery``, ...) a write and anything else a read."""
        mark_write(request, False)  # a query, or a request refused before it is known
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
            name = body.get("operationName") or None
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
            if name is not None and not isinstance(name, str):
                raise TypeError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        try:
            prepared = Prepared(query, variables, name)
        except Refused as exc:
            return self._errors(exc.errors)
        mark_write(request, prepared.is_mutation)
        cost = prepared.requested
        if cost > self.max_query_cost:
            message = (
                f"Query cost is {cost}, which exceeds the single query max cost limit "
                f"({self.max_query_cost})."
            )
            return self._refuse(
                message, cost, code="MAX_COST_EXCEEDED", cost=cost, maxCost=self.max_query_cost
            )
        self._restore()
        if cost > self.cost_available:
            self.throttled += 1
            return self._refuse("Throttled", cost, code="THROTTLED", documentation=RATE_DOCS)
        base = f"{request.url.scheme}://{request.url.netloc}"
        roots = root_value(self, base, request.url.hostname or "")
        result = prepared.run(roots, Context(self.shop))
        if result.data is None:  # variables refused: nothing ran, nothing is charged
            return self._errors([shopify_error(e) for e in result.errors or []])
        actual = prepared.cost(prepared.operation.selection_set, prepared.root, result.data)
        self.cost_available = max(0.0, self.cost_available - actual)
        answer: dict[str, Any] = {}
        if result.errors:
            answer["errors"] = [shopify_error(e) for e in result.errors]
        answer["data"] = result.data
        answer["extensions"] = self._cost(cost, actual)
        return JSONResponse(answer)

    def run_bulk(self, prepared: Prepared) -> tuple[list[dict[str, Any]], int]:
        """A bulk query's JSONL lines (and how many are roots): the query over the whole
        store, no page limit."""
        return collect(prepared, root_value(self, "", ""), Context(self.shop, bulk=True))

    def bulk_file(self, request: Request) -> Response:
        """``GET /_bulk/{id}.jsonl``: a completed bulk operation's result (the URL is its own
        credential, as Shopify's signed storage URL is)."""
        found = self.bulk.file(request.path_params["number"])
        if found is None:
            return Response("Not Found", 404, media_type="text/plain")
        return Response(found, media_type="application/jsonl")


def _order_status(row: dict[str, Any], q: dict[str, str]) -> bool:
    wanted = q.get("status", "open")
    if wanted == "any":
        return True
    if wanted == "cancelled":
        return row["cancelled_at"] is not None
    closed = row["closed_at"] is not None
    return closed if wanted == "closed" else not closed and row["cancelled_at"] is None


def _checkout_status(row: dict[str, Any], q: dict[str, str]) -> bool:
    wanted = q.get("status", "open")
    return wanted == "any" or (row["completed_at"] is None) == (wanted == "open")


def _call_limit(response: Response, used: int) -> Response:
    """``response`` with Shopify's call-limit header, its name in Shopify's own case: clients
    such as ``shopify.Limits`` look it up case-sensitively."""
    return _cased(response, CALL_LIMIT, f"{max(0, min(used, REST_BUCKET))}/{REST_BUCKET}")


def _cased(response: Response, name: bytes, value: str) -> Response:
    """``response`` with header ``name`` set, the name in Shopify's own case (Starlette would
    send it lower-cased, and some clients read headers into a plain, case-sensitive dict)."""
    raw = [(k, v) for k, v in response.raw_headers if k.lower() != name.lower()]
    response.raw_headers = [*raw, (name, value.encode())]
    return response


async def _resource_body(request: Request, key: str) -> dict[str, Any] | None:
    """The ``{key: {...}}`` object of a REST write, or None when it is missing or not JSON."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    given = body.get(key) if isinstance(body, dict) else None
    return given if isinstance(given, dict) else None


def _missing(key: str) -> Response:
    return JSONResponse({"errors": {key: "Required parameter missing or invalid"}}, 400)


def _fields(row: dict[str, Any], request: Request) -> dict[str, Any]:
    """``row`` cut to the ``fields`` the client asked for, if it asked."""
    wanted = request.query_params.get("fields")
    if not wanted:
        return row
    names = {n.strip() for n in wanted.split(",")}
    return {k: v for k, v in row.items() if k in names}
