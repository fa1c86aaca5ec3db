"""The HTTP toolkit of syncd/connectors: limiter, retries, classifier, paginators, redaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from syncd.connectors import (
    USER_AGENT,
    ApiClient,
    ConnectorContext,
    CursorPaginator,
    KeysetPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PaginationLoop,
    RateHeaders,
    RateLimiter,
    RetryPolicy,
    error_for_response,
    parse_retry_after,
    safe_url,
)
from syncd.emulator import VirtualTime
from syncd.errors import AuthError, FatalError, RateLimited, RecordError, RetryableError
from syncd.secrets import register_secret

BASE = "https://acct.example.test/api/3"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> VirtualTime:
    return VirtualTime()


def api(fake: VirtualTime, **kw: Any) -> ApiClient:
    limiter = RateLimiter(1000, monotonic=fake.monotonic, sleep=fake.sleep)
    policy = kw.pop("retry", None) or RetryPolicy(
        attempts=4, initial_wait=0.1, max_wait=1.0, jitter=0.0, sleep=fake.sleep
    )
    return ApiClient(
        BASE,
        auth_headers={"Api-Token": "tok-secret-123"},
        rate_limit=limiter,
        retry=policy,
        now=lambda: NOW,
        **kw,
    )


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


# --- client factory ----------------------------------------------------------------------


def test_client_sends_user_agent_and_auth(fake: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/contacts").respond(200, json={"contacts": []})
    assert api(fake).get("contacts") == {"contacts": []}
    sent = route.calls.last.request
    assert sent.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("syncd/")
    assert sent.headers["Api-Token"] == "tok-secret-123"
    assert str(sent.url) == f"{BASE}/contacts"


def test_injected_transport_is_used(ok_transport: tuple[httpx.MockTransport, list[str]]) -> None:
    transport, seen = ok_transport
    context = ConnectorContext("x", transport=transport)
    client = ApiClient(BASE, transport=context.transport)
    assert client.get("ping") == {"ok": 1}
    assert seen == ["/api/3/ping"]


# --- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retries_429_and_5xx(fake: VirtualTime, mock: respx.MockRouter, status: int) -> None:
    route = mock.get("/x").mock(
        side_effect=[httpx.Response(status), httpx.Response(status), httpx.Response(200, json={})]
    )
    assert api(fake).get("x") == {}
    assert route.call_count == 3


def test_retries_transport_errors(fake: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/x").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200)]
    )
    api(fake).request("GET", "x")
    assert route.call_count == 3


def test_malformed_json_is_retried(fake: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/x").mock(
        side_effect=[httpx.Response(200, text="{not json"), httpx.Response(200, json={"a": 1})]
    )
    assert api(fake).get("x") == {"a": 1}
    assert route.call_count == 2


def test_attempts_are_bounded(fake: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/x").respond(503)
    with pytest.raises(RetryableError) as info:
        api(fake).get("x")
    assert route.call_count == 4
    assert info.value.status == 503


def test_backoff_grows_exponentially(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/x").respond(500)
    with pytest.raises(RetryableError):
        api(fake).get("x")
    assert fake.sleeps == pytest.approx([0.1, 0.2, 0.4])


def test_jitter_is_added_and_wait_capped() -> None:
    policy = RetryPolicy(initial_wait=1, max_wait=5, jitter=0.5, random=lambda: 1.0)
    assert policy.wait_for(1, RetryableError("x")) == 1.5
    assert policy.wait_for(2, RetryableError("x")) == 2.5
    assert policy.wait_for(10, RetryableError("x")) == 5


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_no_retry_on_client_errors(fake: VirtualTime, mock: respx.MockRouter, status: int) -> None:
    route = mock.get("/x").respond(status, json={"message": "nope"})
    with pytest.raises(RecordError) as info:
        api(fake).get("x")
    assert route.call_count == 1
    assert info.value.status == status
    assert "nope" in str(info.value)
    assert fake.sleeps == []


def test_retry_after_seconds_is_honoured(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/x").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)]
    )
    client = api(fake)
    client.request("GET", "x")
    assert fake.sleeps == [7.0]
    assert client.waited == pytest.approx(7.0)


def test_retry_after_http_date_is_honoured(fake: VirtualTime, mock: respx.MockRouter) -> None:
    when = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    mock.get("/x").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200)]
    )
    api(fake).request("GET", "x")
    assert fake.sleeps == [12.0]


def test_retry_after_is_clamped(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/x").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200)]
    )
    policy = RetryPolicy(attempts=3, max_retry_after=30, sleep=fake.sleep)
    api(fake, retry=policy).request("GET", "x")
    assert fake.sleeps == [30.0]


def test_throttles_do_not_use_up_the_tries_a_fault_is_given(
    fake: VirtualTime, mock: respx.MockRouter
) -> None:
    """Faults and "slow down" answers take turns: four faults (the policy's tries) with a
    throttle between each get through, where one budget for both stopped at the fourth."""
    slow = httpx.Response(429, headers={"Retry-After": "1"})
    side = [httpx.Response(500), slow, httpx.Response(500), slow, httpx.Response(500), slow]
    route = mock.get("/x").mock(side_effect=[*side, httpx.Response(200, json={})])
    assert api(fake).get("x") == {}
    assert route.call_count == 7


def test_faults_and_throttles_each_stop_at_their_budget(
    fake: VirtualTime, mock: respx.MockRouter
) -> None:
    faults = mock.get("/faults").mock(return_value=httpx.Response(500))
    with pytest.raises(RetryableError):
        api(fake).get("faults")
    assert faults.call_count == 4  # the policy's attempts
    slow = mock.get("/slow").mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
    policy = RetryPolicy(attempts=2, rate_limited_attempts=6, sleep=fake.sleep)
    with pytest.raises(RateLimited):
        api(fake, retry=policy).get("slow")
    assert slow.call_count == 6


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-3") == 0.0
    past = format_datetime(NOW - timedelta(seconds=5), usegmt=True)
    assert parse_retry_after(past, NOW) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_503_with_retry_after_reads_as_rate_limited() -> None:
    request = httpx.Request("GET", f"{BASE}/x")
    error = error_for_response(httpx.Response(503, headers={"Retry-After": "2"}, request=request))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0


# --- the classifier ----------------------------------------------------------------------


def test_bad_credentials_are_fatal_at_once(fake: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/x").respond(403, json={"message": "No Result found for User"})
    with pytest.raises(AuthError) as info:
        api(fake).get("x")
    assert route.call_count == 1
    message = str(info.value)
    assert "refused the credentials" in message and "\n" not in message


def test_intermittent_403_can_be_retried_when_the_vendor_needs_it(
    fake: VirtualTime, mock: respx.MockRouter
) -> None:
    route = mock.get("/x").mock(side_effect=[httpx.Response(403), httpx.Response(200, json={})])
    policy = RetryPolicy(auth_retries=1, initial_wait=0.1, jitter=0, sleep=fake.sleep)
    assert api(fake, retry=policy).get("x") == {}
    assert route.call_count == 2
    mock.get("/y").respond(403)
    with pytest.raises(AuthError):
        api(fake, retry=policy).get("y")


def _classify(status: int, body: Any) -> Exception | None:
    request = httpx.Request("POST", f"{BASE}/contactTags")
    return error_for_response(httpx.Response(status, json=body, request=request))


def test_vendor_error_bodies_become_one_line() -> None:
    error = _classify(
        422,
        {
            "errors": [
                {
                    "status": 422,
                    "title": "Missing attribute",
                    "source": {"pointer": "/data/attributes/contact"},
                }
            ]
        },
    )
    assert isinstance(error, RecordError)
    assert "Missing attribute (/data/attributes/contact)" in str(error)
    error = _classify(404, {"errors": [{"title": "Not Found", "detail": "Contact not found"}]})
    assert isinstance(error, RecordError) and "Not Found Contact not found" in str(error)
    assert isinstance(_classify(405, {}), FatalError)
    assert _classify(201, {}) is None


# --- paginators --------------------------------------------------------------------------


def test_offset_paging_reads_every_page(fake: VirtualTime, mock: respx.MockRouter) -> None:
    data = [{"id": str(i)} for i in range(5)]

    def page(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return httpx.Response(200, json={"items": data[offset : offset + limit]})

    mock.get("/items").mock(side_effect=page)
    pages = list(api(fake).pages("items", OffsetPaginator(2), lambda b: b["items"]))
    assert [[i["id"] for i in items] for items, _ in pages] == [["0", "1"], ["2", "3"], ["4"]]


def test_offset_paging_stops_at_total(fake: VirtualTime, mock: respx.MockRouter) -> None:
    route = mock.get("/items").respond(200, json={"items": [{"id": 1}, {"id": 2}], "total": "2"})
    paginator = OffsetPaginator(2, total=lambda b: int(b["total"]))
    assert len(list(api(fake).pages("items", paginator, lambda b: b["items"]))) == 1
    assert route.call_count == 1


def test_a_server_ignoring_the_offset_is_a_loop(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/items").respond(200, json={"items": [{"id": 1}, {"id": 2}]})
    with pytest.raises(PaginationLoop):
        list(api(fake).pages("items", OffsetPaginator(2), lambda b: b["items"]))


def test_keyset_paging_passes_the_last_key(fake: VirtualTime, mock: respx.MockRouter) -> None:
    data = [{"id": str(i)} for i in range(1, 6)]

    def page(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("id_greater", 0))
        rows = [d for d in data if int(d["id"]) > after][: int(request.url.params["limit"])]
        return httpx.Response(200, json={"contacts": rows})

    route = mock.get("/contacts").mock(side_effect=page)
    paginator = KeysetPaginator(2, key=lambda c: c["id"])
    pages = list(
        api(fake).pages("contacts", paginator, lambda b: b["contacts"], {"orders[id]": "ASC"})
    )
    assert sum(len(items) for items, _ in pages) == 5
    assert [c.request.url.params.get("id_greater") for c in route.calls] == [None, "2", "4"]
    assert all(c.request.url.params["orders[id]"] == "ASC" for c in route.calls)


def test_keyset_loop_is_detected(fake: VirtualTime, mock: respx.MockRouter) -> None:
    # each page differs but ends on the same key: the same next token twice
    mock.get("/contacts").mock(
        side_effect=[
            httpx.Response(200, json={"c": [{"id": "1"}, {"id": "2"}]}),
            httpx.Response(200, json={"c": [{"id": "0"}, {"id": "2"}]}),
        ]
    )
    paginator = KeysetPaginator(2, key=lambda c: c["id"])
    with pytest.raises(PaginationLoop, match="already read"):
        list(api(fake).pages("contacts", paginator, lambda b: b["c"]))


def test_link_header_paging(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/orders", params={"page_info": "b"}).respond(200, json={"orders": [{"id": 2}]})
    mock.get("/orders").respond(
        200,
        json={"orders": [{"id": 1}]},
        headers={"Link": f'<{BASE}/orders?page_info=b>; rel="next"'},
    )
    pages = list(api(fake).pages("orders", LinkHeaderPaginator(), lambda b: b["orders"]))
    assert [items[0]["id"] for items, _ in pages] == [1, 2]


def test_link_header_loop_is_detected(fake: VirtualTime, mock: respx.MockRouter) -> None:
    link = {"Link": f'<{BASE}/orders?page_info=a>; rel="next"'}
    mock.get("/orders").mock(
        side_effect=[
            httpx.Response(200, json={"orders": [{"id": 1}]}, headers=link),
            httpx.Response(200, json={"orders": [{"id": 2}]}, headers=link),
        ]
    )
    with pytest.raises(PaginationLoop):
        list(api(fake).pages("orders", LinkHeaderPaginator(), lambda b: b["orders"]))


def test_cursor_paging_and_its_loop(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/events").mock(
        side_effect=[
            httpx.Response(200, json={"data": [{"id": 1}], "next": "c1"}),
            httpx.Response(200, json={"data": [{"id": 2}], "next": "c2"}),
            httpx.Response(200, json={"data": [{"id": 3}], "next": None}),
        ]
    )
    paginator = CursorPaginator(lambda b: b["next"], param="after")
    pages = list(api(fake).pages("events", paginator, lambda b: b["data"]))
    assert len(pages) == 3
    mock.get("/again").mock(
        side_effect=[
            httpx.Response(200, json={"data": [{"id": 1}], "next": "c1"}),
            httpx.Response(200, json={"data": [{"id": 2}], "next": "c1"}),
        ]
    )
    with pytest.raises(PaginationLoop):
        list(api(fake).pages("again", paginator, lambda b: b["data"]))


# --- the rate limiter --------------------------------------------------------------------


def test_limiter_paces_requests(fake: VirtualTime) -> None:
    limiter = RateLimiter(5, burst=1, monotonic=fake.monotonic, sleep=fake.sleep)
    for _ in range(11):
        limiter.acquire()
    # the first goes at once, the other ten 0.2 s apart
    assert fake.now == pytest.approx(2.0)
    assert limiter.waits == 10
    assert limiter.waited == pytest.approx(2.0)


def test_limiter_allows_a_burst_then_paces(fake: VirtualTime) -> None:
    limiter = RateLimiter(5, monotonic=fake.monotonic, sleep=fake.sleep)
    for _ in range(5):
        limiter.acquire()
    assert fake.now == 0.0
    limiter.acquire()
    assert fake.now == pytest.approx(0.2)


def test_limiter_is_shared_by_threads(fake: VirtualTime) -> None:
    limiter = RateLimiter(10, burst=1, monotonic=fake.monotonic, sleep=fake.sleep)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # eight tokens at 10/s with no burst need at least 0.7 s of (fake) time
    assert fake.now >= 0.7 - 1e-9


def test_limiter_pauses_on_429_for_every_caller(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/x").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200)]
    )
    client = api(fake)
    policy_sleep: list[float] = []
    client.retry.sleep = policy_sleep.append  # the retry does not move the fake clock
    client.request("GET", "x")
    # the retry itself had to wait for the limiter's pause
    assert policy_sleep == [3.0]
    assert client.limiter.waited == pytest.approx(3.0)


def test_limiter_follows_rate_headers(fake: VirtualTime) -> None:
    limiter = RateLimiter(100, monotonic=fake.monotonic, sleep=fake.sleep)
    limiter.observe(RateHeaders(remaining=3, reset_after=10))
    limiter.acquire()
    assert fake.now == 0.0
    limiter.observe(RateHeaders(remaining=0, reset_after=4))
    limiter.acquire()
    assert fake.now == pytest.approx(4.0)


def test_rate_headers_are_read_from_responses(fake: VirtualTime, mock: respx.MockRouter) -> None:
    mock.get("/x").respond(200, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"})
    client = api(fake)
    client.request("GET", "x")
    client.request("GET", "x")
    assert fake.now == pytest.approx(2.0)


# --- secrets -----------------------------------------------------------------------------


def test_safe_url_masks_query_credentials() -> None:
    url = safe_url("https://u:pw@host/x?api_key=abc123&limit=5&access_token=zz")
    assert "abc123" not in url and "zz" not in url and "pw" not in url
    assert "limit=5" in url


def test_secrets_never_reach_error_text(fake: VirtualTime, mock: respx.MockRouter) -> None:
    register_secret("tok-secret-123")
    mock.get("/x").respond(403, json={"message": "bad token tok-secret-123"})
    mock.get("/y").respond(404, text="not here")
    mock.get("/z").mock(side_effect=httpx.ConnectError("failed for /z?token=qwerty77"))
    client = api(fake)
    texts = []
    for path in ("x", "y?token=qwerty77", "z?token=qwerty77"):
        with pytest.raises(Exception) as info:
            client.get(path)
        texts.append(str(info.value))
    assert all("tok-secret-123" not in t and "qwerty77" not in t for t in texts), texts
    assert "not here" in texts[1]


def test_auth_header_values_become_secrets(fake: VirtualTime, mock: respx.MockRouter) -> None:
    ApiClient(BASE, auth_headers={"Authorization": "Bearer brand-new-secret-9"})
    mock.get("/x").respond(400, json={"message": "Bearer brand-new-secret-9 is malformed"})
    with pytest.raises(RecordError) as info:
        api(fake).get("x")
    assert "brand-new-secret-9" not in str(info.value)


def test_connection_check_says_which_tool_and_where() -> None:
    from syncd.connectors.classify import connection_check
    from syncd.errors import AuthError, FatalError, RetryableError

    refused = "Tool refused the token (HTTP {status}); check token"
    with (
        pytest.raises(AuthError) as auth,
        connection_check("crm", "Tool", "https://tool.example", refused=refused),
    ):
        raise AuthError("401 from the tool", status=401)
    assert (str(auth.value), auth.value.status) == (
        "crm: Tool refused the token (HTTP 401); check token",
        401,
    )
    with (
        pytest.raises(AuthError, match=r"^crm: 403 from the tool$"),
        connection_check("crm", "Tool", "https://tool.example"),
    ):
        raise AuthError("403 from the tool", status=403)
    with pytest.raises(FatalError) as down, connection_check("crm", "Tool", "https://tool.example"):
        raise RetryableError("HTTP 503", status=503)
    assert (str(down.value), down.value.status) == (
        "crm: cannot use Tool at https://tool.example: HTTP 503",
        503,
    )
    with (
        pytest.raises(KeyError),
        connection_check("crm", "Tool", "https://tool.example"),
    ):  # not a connector's failure: left as it is
        raise KeyError("bug")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-02T10:00:00-04:00", datetime(2024, 5, 2, 14, 0, tzinfo=UTC)),
        ("2024-05-02T14:00:00Z", datetime(2024, 5, 2, 14, 0, tzinfo=UTC)),
        (" 2024-05-02 14:00:00 ", datetime(2024, 5, 2, 14, 0, tzinfo=UTC)),  # no offset: UTC
        ("yesterday", None),
        ("", None),
        (None, None),
        (1714658400, None),
    ],
)
def test_vendor_times_become_aware_utc_or_none(text: object, expected: datetime | None) -> None:
    from syncd.clock import parse_time

    parsed = parse_time(text)
    assert parsed == expected
    assert parsed is None or parsed.utcoffset() == timedelta(0)
