"""The base of every vendor emulator: an ASGI app with state, a request log, faults and a rate
limit, plus the ``/_emulator/*`` control routes that tests, benchmarks and the demo use."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time
from typing import Any, ClassVar, TypedDict

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.clock import Clock, system_clock
from syncd.emulator.demo import Activity, DemoPart, Held
from syncd.emulator.faults import Decision, FaultPlan, FaultSpecError
from syncd.emulator.ratelimit import RateLimit, TokenBucket, retry_after_header

CONTROL_PREFIX = "/_emulator"


class ConnectionDropped(Exception):
    """Raised by an emulator to close the connection mid-answer (a dropped-connection fault)."""


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the emulator served (control routes are not logged)."""

    seq: int
    method: str
    path: str
    query: str
    status: int  # 0 when the connection was dropped before an answer
    time: float  # the emulator clock, seconds since the epoch
    # "429", "5xx", "drop", "drop_after", "5xx_after", "malformed", "rate_limit"
    fault: str | None = None
    # whether it was a write, as the emulator's handler said (``mark_write``); None: it did
    # not say, and the method tells (any but GET, HEAD and OPTIONS writes)
    write: bool | None = None

    @property
    def is_write(self) -> bool:
        """Whether the request was a write: as the handler marked it, else by its method."""
        if self.write is not None:
            return self.write
        return self.method not in ("GET", "HEAD", "OPTIONS")


#: the ASGI scope key under which a handler marks the request it serves a read or a write
WRITE_KEY = "syncd.emulator.write"


def mark_write(request: Request, write: bool = True) -> None:
    """Say whether the request being served is a write (``write=False``: a read), for the
    request log; for an API whose method does not tell, such as GraphQL's POSTs of queries
    and mutations alike. Unmarked requests are judged by their method."""
    request.scope[WRITE_KEY] = write


class EmulatorOptions(TypedDict, total=False):
    """What every emulator is made with; a vendor's emulator takes its own options besides
    (``def __init__(self, *, token: str = ..., **options: Unpack[EmulatorOptions])``)."""

    seed: int  # the sample data
    faults: str | FaultPlan | None  # a fault spec
    rate_limit: float | RateLimit | None  # None: ``default_rate_limit``; 0: none
    clock: Clock
    people: int  # how many sample people the seed makes


class Emulator(ABC):
    """An ASGI app emulating one vendor API. Subclasses give routes, state and vendor shapes."""

    name: ClassVar[str] = "emulator"
    #: the vendor's own limit, used unless the caller gives one (None: no limit)
    default_rate_limit: ClassVar[RateLimit | None] = None
    #: how the emulator takes part in ``syncd demo`` (None: it does not); see ``DemoPart``
    demo: ClassVar[DemoPart | None] = None

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: str | FaultPlan | None = None,
        rate_limit: float | RateLimit | None = None,
        clock: Clock = system_clock,
        people: int = 200,
    ) -> None:
        self.seed = seed
        self.people = people  # how many sample people the seed makes
        self.clock = clock
        self.faults = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults, seed)
        self.set_rate_limit(rate_limit if rate_limit is not None else self.default_rate_limit)
        self.log: list[LoggedRequest] = []
        self._app = Starlette(routes=list(self.routes()))
        self._control = Starlette(routes=self._control_routes())
        self.reset()

    def anchor(self) -> datetime:
        """The start of the clock's day (UTC): the sample data's history is laid out up to it,
        so a seed gives the same data all day."""
        return datetime.combine(self.clock().astimezone(UTC).date(), time(), UTC)

    # --- what a vendor emulator provides ---------------------------------------------------

    @abstractmethod
    def routes(self) -> Sequence[BaseRoute]:
        """The vendor API's routes."""

    @abstractmethod
    def reset(self) -> None:
        """(Re)build the state from ``self.seed``: the sample data the emulator starts with."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data."""

    def describe(self) -> list[str]:
        """Lines telling a client how to use the emulator (base path, auth header)."""
        return []

    def tick(self) -> None:
        """Called before each request and each state read: apply due background work."""

    def rate_limited_response(self, retry_after: str) -> Response:
        """The vendor's answer when over its rate limit."""
        return JSONResponse({"message": "Too Many Requests"}, 429, {"Retry-After": retry_after})

    def server_error_response(self, status: int) -> Response:
        """The vendor's answer to an internal error (an injected 5xx)."""
        return JSONResponse({"message": "Internal Server Error"}, status)

    # --- what ``syncd demo`` asks of an emulator whose ``demo`` is set -----------------------

    def connector_config(self, url: str) -> dict[str, Any]:
        """The options of a connector instance (``type`` first) that point syncd at this
        emulator served at ``url``, with the credentials of the emulator's own account."""
        raise NotImplementedError(f"the {self.name} emulator gives no connector config")

    def prepare_demo(self) -> None:
        """Ready the account for the demo's destination mapping, as its owner would (such as
        creating the custom fields the mapping writes). By default there is nothing to do."""

    def holds(self) -> dict[str, Held]:
        """What each person the tool knows holds now (tags, subscribed lists, fields with a
        value), by lower-cased e-mail, read from the state after due background work."""
        return {}

    def emails(self) -> set[str]:
        """The lower-cased e-mails of the people the tool knows."""
        return set(self.holds())

    def make_activity(self, url: str, candidates: Sequence[str]) -> Activity | None:
        """Record the sample activity of ``demo.activity`` for some of ``candidates`` (e-mails,
        in the order to try them) through the vendor API served at ``url``: a real request,
        as a user of that API would send it. What was done, or None when no candidate fits."""
        return None

    def webhook_secrets(self) -> dict[str, str] | None:
        """What verifies this emulator's webhooks, as ``webhooks.connectors.NAME`` takes it
        (``{"secret": ...}``, ``{"token": ...}``); None when it sends none."""
        return None

    def make_webhook_activity(self, url: str, candidates: Sequence[str]) -> Activity | None:
        """Make the change of ``demo.webhook`` for one of ``candidates`` through the vendor API
        served at ``url``; the emulator then posts it to the subscriptions it holds. What was
        done, or None when no candidate fits."""
        return None

    # --- control from Python ----------------------------------------------------------------

    def set_rate_limit(self, limit: float | RateLimit | None) -> None:
        """Enforce ``limit`` from now on (requests per second or a RateLimit); 0/None: none."""
        if isinstance(limit, int | float):
            limit = RateLimit(float(limit)) if limit > 0 else None
        self.rate_limit = limit
        self.bucket = TokenBucket(limit, self.clock) if limit is not None else None

    def set_faults(self, spec: str | None, seed: int | None = None) -> None:
        """Replace the fault rules (raises FaultSpecError); the RNG restarts from ``seed``."""
        self.faults = FaultPlan.parse(spec, self.seed if seed is None else seed)

    def requests(
        self,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> list[LoggedRequest]:
        """The request log, filtered."""
        return [
            r
            for r in self.log
            if (method is None or r.method == method.upper())
            and (path is None or r.path == path)
            and (path_prefix is None or r.path.startswith(path_prefix))
            and (status is None or r.status == status)
        ]

    def clear_requests(self) -> None:
        self.log.clear()

    def state(self) -> dict[str, Any]:
        """The state after due background work, as ``GET /_emulator/state`` shows it."""
        self.tick()
        return self.snapshot()

    # --- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan work; websockets are not part of any vendor API
        if scope["path"].startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        decision = self.faults.decide(method, path)

        def record(status: int, fault: str | None) -> None:
            said = scope.get(WRITE_KEY)
            self.log.append(
                LoggedRequest(
                    len(self.log) + 1,
                    method,
                    path,
                    query,
                    status,
                    self.clock().timestamp(),
                    fault,
                    said if isinstance(said, bool) else None,
                )
            )

        if decision.latency > 0:
            await anyio.sleep(decision.latency)
        if decision.drop:
            record(0, "drop")
            await _drop(send)
        if self.bucket is not None and (wait := self.bucket.take()) > 0:
            record(429, "rate_limit")
            await self.rate_limited_response(retry_after_header(wait))(scope, receive, send)
            return
        early = _early_fault(self, decision)
        if early is not None:
            fault, response = early
            record(response.status_code, fault)
            await response(scope, receive, send)
            return
        self.tick()
        status, headers, body = await whole_answer(self._app, scope, receive)
        if decision.drop_after:
            record(0, "drop_after")
            await _drop(send)
        if decision.server_error_after is not None:  # handled, but the answer is lost
            response = self.server_error_response(decision.server_error_after)
            record(response.status_code, "5xx_after")
            await response(scope, receive, send)
            return
        malformed = decision.malformed and status not in (204, 304)
        if malformed:
            body = _garble(body)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        record(status, "malformed" if malformed else None)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # --- the control routes -------------------------------------------------------------------

    def _control_routes(self) -> list[BaseRoute]:
        p = CONTROL_PREFIX
        return [
            Route(f"{p}/state", self._get_state, methods=["GET"]),
            Route(f"{p}/requests", self._get_requests, methods=["GET"]),
            Route(f"{p}/requests", self._delete_requests, methods=["DELETE"]),
            Route(f"{p}/reset", self._post_reset, methods=["POST"]),
            Route(f"{p}/faults", self._get_faults, methods=["GET"]),
            Route(f"{p}/faults", self._post_faults, methods=["POST"]),
            Route(f"{p}/rate_limit", self._get_rate_limit, methods=["GET"]),
            Route(f"{p}/rate_limit", self._post_rate_limit, methods=["POST"]),
        ]

    async def _get_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _get_requests(self, request: Request) -> Response:
        q = request.query_params
        try:
            status = int(q["status"]) if "status" in q else None
            after = int(q.get("after", 0))
        except ValueError:
            return JSONResponse({"error": "status and after are whole numbers"}, 400)
        found = [
            asdict(r)
            for r in self.requests(q.get("method"), q.get("path"), q.get("path_prefix"), status)
            if r.seq > after
        ]
        return JSONResponse({"total": len(found), "requests": found})

    async def _delete_requests(self, request: Request) -> Response:
        self.clear_requests()
        return Response(status_code=204)

    async def _post_reset(self, request: Request) -> Response:
        self.clear_requests()
        self.reset()
        return JSONResponse({"reset": True, "seed": self.seed})

    async def _get_faults(self, request: Request) -> Response:
        return JSONResponse(self.faults.as_dict())

    async def _post_faults(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            seed = body.get("seed")
            self.set_faults(body.get("spec"), int(seed) if seed is not None else None)
        except (FaultSpecError, TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.faults.as_dict())

    async def _get_rate_limit(self, request: Request) -> Response:
        limit = self.rate_limit
        return JSONResponse(
            {"rate": limit.rate, "burst": limit.capacity} if limit else {"rate": None}
        )

    async def _post_rate_limit(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            rate = body.get("rate")
            burst = body.get("burst")
            limit = RateLimit(float(rate), float(burst) if burst else None) if rate else None
        except (TypeError, ValueError):
            return JSONResponse({"error": "rate and burst are numbers"}, 400)
        self.set_rate_limit(limit)
        return await self._get_rate_limit(request)


def _early_fault(emulator: Emulator, decision: Decision) -> tuple[str, Response] | None:
    if decision.too_many:
        return "429", emulator.rate_limited_response(retry_after_header(decision.retry_after))
    if decision.server_error is not None:
        return "5xx", emulator.server_error_response(decision.server_error)
    return None


async def whole_answer(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, Any, bytes]:
    """Run ``app`` and keep its whole answer (status, headers, body), so a fault can still
    change it or a transport hand it on; an app that ends without answering dropped it."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    if not start:
        raise ConnectionDropped("the app ended without answering")
    return int(start["status"]), list(start.get("headers", [])), b"".join(chunks)


async def _drop(send: Send) -> None:
    """Start an answer, send part of it, and give up: the peer sees the connection close."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})
    raise ConnectionDropped("the emulator dropped the connection (fault injection)")


def _garble(body: bytes) -> bytes:
    """A body no JSON parser accepts, shaped like a cut-off answer."""
    return body[: len(body) // 2] + b"\x00<!-- upstream" if body else b"<html><body>502"


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
