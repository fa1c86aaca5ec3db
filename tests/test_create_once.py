"""``create_once``: a named thing is made at most once at the vendor, whatever answers are
lost on the way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from syncd.connectors import ApiClient, RateLimiter, RetryPolicy, create_once
from syncd.emulator import VirtualTime
from syncd.errors import RecordError, RetryableError

BASE = "https://vendor.example.com/api"


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def api(vt: VirtualTime) -> ApiClient:
    policy = RetryPolicy(attempts=4, initial_wait=0.1, jitter=0.0, sleep=vt.sleep)
    limiter = RateLimiter(1000, monotonic=vt.monotonic, sleep=vt.sleep)
    return ApiClient(BASE, rate_limit=limiter, retry=policy)


class Vendor:
    """Lists by name; ``lose`` answers of a create are lost after the list was made."""

    def __init__(self, lose: list[str]) -> None:
        self.lists: list[str] = []
        self.lose = lose
        self.lookups = 0

    def create(self, request: httpx.Request) -> httpx.Response:
        fault = self.lose.pop(0) if self.lose else None
        if fault == "429":  # refused before anything was done
            return httpx.Response(429, headers={"Retry-After": "3"})
        if fault == "busy":
            return httpx.Response(503)
        if fault == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        self.lists.append(request.read().decode())
        if fault == "drop":
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        if fault == "5xx":
            return httpx.Response(504)
        if fault == "garbled":
            return httpx.Response(201, content=b'{"list": {"id"')
        return httpx.Response(201, json={"list": {"id": str(len(self.lists))}})

    def find(self) -> Any:
        self.lookups += 1
        return {"list": {"id": str(len(self.lists))}} if self.lists else None


def make(vt: VirtualTime, mock: respx.MockRouter, vendor: Vendor) -> Any:
    mock.post("/lists").mock(side_effect=vendor.create)
    return create_once(api(vt), "lists", {"name": "Onboarding"}, vendor.find, "list")


@pytest.mark.parametrize("fault", ["drop", "5xx", "garbled"])
def test_a_lost_answer_is_looked_up_not_created_again(
    vt: VirtualTime, mock: respx.MockRouter, fault: str
) -> None:
    vendor = Vendor([fault, fault, fault])
    assert make(vt, mock, vendor) == {"list": {"id": "1"}}
    assert len(vendor.lists) == 1 and vendor.lookups == 1


def test_a_clean_create_looks_nothing_up(vt: VirtualTime, mock: respx.MockRouter) -> None:
    vendor = Vendor([])
    assert make(vt, mock, vendor) == {"list": {"id": "1"}}
    assert vendor.lookups == 0


def test_a_429_made_nothing_so_it_is_sent_again_after_the_wait(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    vendor = Vendor(["429"])
    assert make(vt, mock, vendor) == {"list": {"id": "1"}}
    assert vendor.lookups == 0 and 3.0 in vt.sleeps


@pytest.mark.parametrize("fault", ["busy", "refused"])
def test_a_503_or_a_connection_never_made_is_sent_again_without_a_look_up(
    vt: VirtualTime, mock: respx.MockRouter, fault: str
) -> None:
    vendor = Vendor([fault, fault])
    assert make(vt, mock, vendor) == {"list": {"id": "1"}}
    assert vendor.lookups == 0 and len(vendor.lists) == 1


def test_a_failure_that_made_nothing_is_created_after_the_look_up(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    vendor = Vendor([])
    calls = iter([httpx.Response(500), None])

    def create(request: httpx.Request) -> httpx.Response:
        answer = next(calls)
        return answer if answer is not None else vendor.create(request)

    mock.post("/lists").mock(side_effect=create)
    reply = create_once(api(vt), "lists", {"name": "Onboarding"}, vendor.find, "list")
    assert reply == {"list": {"id": "1"}} and vendor.lookups == 1 and vendor.lists


def test_answers_lost_every_time_end_in_one_object_and_a_retryable_error(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    """The look-up itself failing every time: the attempts end, with one list made."""
    vendor = Vendor(["drop"] * 10)

    def find() -> Any:
        raise RetryableError("the look-up failed too")

    mock.post("/lists").mock(side_effect=vendor.create)
    with pytest.raises(RetryableError):
        create_once(api(vt), "lists", {"name": "Onboarding"}, find, "list")
    assert len(vendor.lists) == 1


def test_a_refusal_is_raised_at_once(vt: VirtualTime, mock: respx.MockRouter) -> None:
    mock.post("/lists").respond(422, json={"message": "name is required"})
    with pytest.raises(RecordError):
        create_once(api(vt), "lists", {}, lambda: None, "list")
    assert mock.calls.call_count == 1


def test_a_refusal_because_another_made_it_meanwhile_is_answered_by_the_look_up(
    vt: VirtualTime, mock: respx.MockRouter
) -> None:
    """A vendor that refuses a second list of one name: made meanwhile (by another syncd), so
    the one found is the answer; a refusal with nothing found is raised as before."""
    mock.post("/lists").respond(409, json={"message": "a list of that name exists"})
    lookups: list[int] = []

    def find() -> Any:
        lookups.append(1)
        return {"list": {"id": "7"}}

    assert create_once(api(vt), "lists", {"name": "Onboarding"}, find, "list") == {
        "list": {"id": "7"}
    }
    assert mock.calls.call_count == 1 and len(lookups) == 1
