"""The HTTP side every vendor connector shares: an httpx client with the vendor's auth, one
rate limiter per connector instance, the retry policy and the error classifier around every
request, and paging.

    api = ApiClient("https://acct.api-us1.com/api/3", auth_headers={"Api-Token": token},
                    rate_limit=5, context=context)
    contact = api.get("contacts/12")["contact"]

Every exchange is counted in ``syncd_api_requests`` by connector instance and status, and the
waits for the vendor's limit in ``syncd_rate_limit_wait_seconds``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

import httpx
import structlog

from syncd import __version__
from syncd.connectors.classify import (
    ErrorRules,
    answer_json,
    describe,
    error_for_response,
    error_for_transport,
)
from syncd.connectors.contract import ConnectorContext
from syncd.connectors.paging import PageRequest, Paginator, Reply, paginate
from syncd.connectors.ratelimit import (
    RateHeaderReader,
    RateHeaders,
    RateLimiter,
    standard_rate_headers,
)
from syncd.connectors.retrying import RetryPolicy
from syncd.errors import RateLimited, RecordError, RetryableError
from syncd.metrics import API_REQUESTS, RATE_LIMIT_WAIT
from syncd.secrets import register_secret

log = structlog.get_logger("syncd.http")

USER_AGENT = f"syncd/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def build_client(
    base_url: str,
    *,
    auth_headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """An httpx client for one vendor account; its auth header values become secrets."""
    for value in (auth_headers or {}).values():
        register_secret(value)
    all_headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        **(headers or {}),
        **(auth_headers or {}),
    }
    base = base_url if base_url.endswith("/") else base_url + "/"
    return httpx.Client(
        base_url=base,
        headers=all_headers,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,  # a redirect would carry the auth header to another host
    )


class RequestOptions(TypedDict, total=False):
    """What a request carries besides its method and URL."""

    params: Mapping[str, Any] | None
    json: Any
    limiters: Sequence[RateLimiter]  # pace this one call further than the client's limit
    retry: RetryPolicy | None  # this call's policy instead of the client's (a create: once)


class ApiClient:
    """Requests to one vendor account, paced, retried and classified; thread-safe.

    ``context`` is the connector instance's: its name labels the metrics, and its transport
    and clock are used unless ``transport`` or ``now`` are given. Without a context the
    metrics are labelled ``instance``, or else the API's host name.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth_headers: Mapping[str, str] | None = None,
        rate_limit: float | RateLimiter = 5.0,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        rules: ErrorRules | None = None,
        rate_headers: RateHeaderReader = standard_rate_headers,
        auth_body: Callable[[], Mapping[str, Any]] | None = None,
        now: Callable[[], datetime] | None = None,
        context: ConnectorContext | None = None,
        instance: str | None = None,
    ) -> None:
        if context is not None:
            transport = transport if transport is not None else context.transport
            now = now or context.clock
        self.client = build_client(
            base_url, auth_headers=auth_headers, transport=transport, timeout=timeout
        )
        self.instance = (
            instance or (context.instance if context else None) or self.client.base_url.host
        )
        self.limiter = (
            rate_limit if isinstance(rate_limit, RateLimiter) else RateLimiter(rate_limit)
        )
        self._name(self.limiter)
        self.retry = retry or RetryPolicy()
        self.rules = rules or ErrorRules()
        self.rate_headers = rate_headers
        # fields every JSON object body carries, made as each request is built (a vendor that
        # signs the body with the time), so a stored page request never holds them
        self.auth_body = auth_body
        self._now = now or (lambda: datetime.now(UTC))
        self.requests = 0  # sent, retries included
        # per thread: when this thread was last told to slow down (a 429), on the limiter's
        # clock, so the wait until its retry counts as rate-limit time
        self._told = threading.local()

    @property
    def waited(self) -> float:
        """Seconds spent waiting for the rate limit and between retries."""
        return self.limiter.waited + self.retry.slept

    def request(self, method: str, url: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """Send one request under the limit and the retry policy; raise a ConnectorError
        from syncd.errors when it finally fails."""
        request = self._build(method, url, options)
        limiters = options.get("limiters", ())
        self._told.at = None
        policy = options.get("retry") or self.retry
        return policy.call(lambda: self._send(request, limiters), what=describe(request))

    def request_json(self, method: str, url: str, **options: Unpack[RequestOptions]) -> Any:
        """The JSON body of a request; a body that is not JSON is retried like a 5xx."""
        request = self._build(method, url, options)
        return self._exchange(request, options.get("limiters", ()), options.get("retry"))[1]

    def _build(self, method: str, url: str, options: RequestOptions) -> httpx.Request:
        json = self._body(options.get("json"))
        return self.client.build_request(method, url, params=options.get("params"), json=json)

    def _exchange(
        self,
        request: httpx.Request,
        limiters: Sequence[RateLimiter],
        retry: RetryPolicy | None = None,
    ) -> tuple[httpx.Response, Any]:
        def once() -> tuple[httpx.Response, Any]:
            response = self._send(request, limiters)
            if not response.content:
                return response, None
            try:
                return response, answer_json(response)
            except ValueError:
                raise RetryableError(
                    f"{describe(request)}: the answer is not JSON", status=response.status_code
                ) from None

        self._told.at = None
        return (retry or self.retry).call(once, what=describe(request))

    def _body(self, json: Any) -> Any:
        if self.auth_body is None or not isinstance(json, dict):
            return json
        return {**self.auth_body(), **json}

    def _name(self, limiter: RateLimiter) -> None:
        if limiter.instance is None:
            limiter.instance = self.instance

    def _send(self, request: httpx.Request, limiters: Sequence[RateLimiter]) -> httpx.Response:
        told = getattr(self._told, "at", None)
        if told is not None:
            # the retry policy waited out the vendor's Retry-After before this attempt
            self._told.at = None
            RATE_LIMIT_WAIT.labels(self.instance).inc(max(0.0, self.limiter.now() - told))
        for limiter in (*limiters, self.limiter):
            self._name(limiter)
            limiter.acquire()
        self.requests += 1
        try:
            response = self.client.send(request)
            response.read()
        except httpx.TransportError as exc:
            API_REQUESTS.labels(self.instance, "error").inc()
            raise error_for_transport(exc) from None
        except Exception:
            API_REQUESTS.labels(self.instance, "error").inc()
            raise
        API_REQUESTS.labels(self.instance, str(response.status_code)).inc()
        self._observe(response)
        log.debug("http", request=describe(request), status=response.status_code)
        error = error_for_response(response, self.rules, now=self._now())
        if error is not None:
            if isinstance(error, RateLimited):
                # every caller of this instance holds back, not only the one that was told
                wait = error.retry_after if error.retry_after is not None else 1.0
                self.limiter.pause(min(wait, self.retry.max_retry_after))
                self._told.at = self.limiter.now()
            raise error
        return response

    def _observe(self, response: httpx.Response) -> None:
        try:
            headers = self.rate_headers(response)
        except (ValueError, TypeError):  # a vendor's odd header must not fail the request
            headers = RateHeaders()
        self.limiter.observe(headers)

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request_json("GET", url, params=params)

    def find(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``url``; None when the vendor answers 404 (there is no such thing)."""
        try:
            return self.get(url, params)
        except RecordError as exc:
            if exc.status != 404:
                raise
            return None

    def post(
        self,
        url: str,
        body: Any,
        *,
        limiters: Sequence[RateLimiter] = (),
        retry: RetryPolicy | None = None,
    ) -> Any:
        return self.request_json("POST", url, json=body, limiters=limiters, retry=retry)

    def put(self, url: str, body: Any) -> Any:
        return self.request_json("PUT", url, json=body)

    def delete(self, url: str) -> Any:
        return self.request_json("DELETE", url)

    def page(
        self, request: PageRequest, limiters: Sequence[RateLimiter] = ()
    ) -> tuple[httpx.Response, Any]:
        """One page's response and JSON body, sent under the limit and the retry policy."""
        # no params at all for a Link URL: an empty mapping would replace its query
        options: RequestOptions = {"params": request.params or None, "json": request.body}
        return self._exchange(self._build(request.method, request.url, options), limiters)

    def pages(
        self,
        url: str,
        paginator: Paginator,
        items: Callable[[Any], Sequence[Any]],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[tuple[Sequence[Any], Any]]:
        """Yield each page's items and its whole JSON body, following ``paginator``."""
        start = PageRequest(url, dict(params or {}))

        def fetch(request: PageRequest) -> Reply:
            response, body = self.page(request)
            return Reply(response, body, items(body))

        for _, reply, _ in paginate(fetch, paginator, paginator.first(start)):
            yield reply.items, reply.body

    def close(self) -> None:
        self.client.close()
