"""What the HTTP toolkit and recorded runs add to the metrics registry, by exact amounts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import sqlalchemy as sa

from syncd.clock import fixed_clock
from syncd.connectors import ApiClient, ConnectorContext, RateLimiter, RetryPolicy
from syncd.emulator import VirtualTime
from syncd.errors import AuthError, GuardHeld, RetryableError
from syncd.metrics import REGISTRY
from syncd.plugins import get_plugin_manager
from syncd.store import open_store
from syncd.store.schema import runs
from syncd.sync.runs import recorded_run

BASE = "https://api.vendor.test/v1"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def requests(instance: str, status: str) -> float:
    return value("syncd_api_requests_total", instance=instance, status=status)


def waited(instance: str) -> float:
    return value("syncd_rate_limit_wait_seconds_total", instance=instance)


@pytest.fixture
def instance() -> str:
    """A fresh instance name, so each test reads series nothing else touched."""
    return f"shop-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def client(instance: str, fake: VirtualTime, rate: float = 1000) -> ApiClient:
    return ApiClient(
        BASE,
        rate_limit=RateLimiter(rate, monotonic=fake.monotonic, sleep=fake.sleep),
        retry=RetryPolicy(attempts=3, initial_wait=0.25, jitter=0.0, sleep=fake.sleep),
        context=ConnectorContext(instance, clock=fixed_clock(NOW)),
    )


# --- API requests ------------------------------------------------------------------------


def test_a_200_counts_once(instance: str, mock: respx.MockRouter) -> None:
    mock.get("/contacts").respond(200, json={"contacts": []})
    client(instance, VirtualTime()).get("contacts")
    assert requests(instance, "200") == 1
    assert requests(instance, "error") == 0


def test_a_429_then_200_counts_both_and_the_wait(instance: str, mock: respx.MockRouter) -> None:
    mock.get("/contacts").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"contacts": []}),
        ]
    )
    fake = VirtualTime()
    client(instance, fake).get("contacts")
    assert requests(instance, "429") == 1
    assert requests(instance, "200") == 1
    # the 7 s the vendor asked for, waited once (not by both the retry and the limiter)
    assert waited(instance) == pytest.approx(7.0)
    assert fake.now == pytest.approx(7.0)


def test_a_server_error_backoff_is_not_rate_limit_time(
    instance: str, mock: respx.MockRouter
) -> None:
    mock.get("/x").mock(side_effect=[httpx.Response(503), httpx.Response(200, json={})])
    client(instance, VirtualTime()).get("x")
    assert requests(instance, "503") == 1
    assert requests(instance, "200") == 1
    assert waited(instance) == 0


def test_a_connection_error_counts_as_error(instance: str, mock: respx.MockRouter) -> None:
    mock.get("/x").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(RetryableError):
        client(instance, VirtualTime()).get("x")
    assert requests(instance, "error") == 3  # every attempt of the policy
    assert requests(instance, "200") == 0


def test_the_name_comes_from_the_context_or_the_host(mock: respx.MockRouter) -> None:
    mock.get("/ping").respond(200, json={})
    named = ApiClient(BASE, context=ConnectorContext("crm-main"), instance="explicit-name")
    assert named.instance == "explicit-name"
    from_context = ApiClient(BASE, context=ConnectorContext("crm-main"))
    assert from_context.instance == "crm-main"
    assert from_context.limiter.instance == "crm-main"
    before = requests("api.vendor.test", "200")
    ApiClient(BASE).get("ping")
    assert requests("api.vendor.test", "200") == before + 1


def test_the_context_transport_and_clock_are_used(
    ok_transport: tuple[httpx.MockTransport, list[str]],
) -> None:
    transport, seen = ok_transport
    context = ConnectorContext("t", transport=transport)
    assert ApiClient(BASE, context=context).get("ping") == {"ok": 1}
    assert seen == ["/v1/ping"]


# --- rate-limit waits --------------------------------------------------------------------


def test_limiter_waits_are_added_by_their_amount(instance: str) -> None:
    fake = VirtualTime()
    limiter = RateLimiter(2, burst=1, monotonic=fake.monotonic, sleep=fake.sleep, instance=instance)
    assert limiter.acquire() == 0  # the burst: no wait
    assert waited(instance) == 0
    assert limiter.acquire() == pytest.approx(0.5)
    assert limiter.acquire() == pytest.approx(0.5)
    assert waited(instance) == pytest.approx(1.0)
    limiter.pause(3)
    assert limiter.acquire() == pytest.approx(3.0)
    assert waited(instance) == pytest.approx(4.0)
    assert waited(instance) == pytest.approx(limiter.waited)


def test_extra_limiters_are_named_after_the_client(instance: str, mock: respx.MockRouter) -> None:
    mock.post("/search").respond(200, json={})
    fake = VirtualTime()
    search = RateLimiter(1, burst=1, monotonic=fake.monotonic, sleep=fake.sleep)
    api = client(instance, fake)
    api.post("search", {}, limiters=[search])
    api.post("search", {}, limiters=[search])
    assert search.instance == instance
    assert waited(instance) == pytest.approx(1.0)


# --- runs --------------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def duration(job: str, outcome: str) -> tuple[float, float]:
    labels = {"job": job, "outcome": outcome}
    return (
        value("syncd_run_duration_seconds_count", **labels),
        value("syncd_run_duration_seconds_sum", **labels),
    )


def test_a_run_records_its_duration_and_last_success(engine: sa.Engine, instance: str) -> None:
    job = f"sync-{instance}"
    fake = VirtualTime()
    with recorded_run(engine, job, fixed_clock(NOW), monotonic=fake.monotonic):
        fake.sleep(7.5)
    assert duration(job, "ok") == (1, pytest.approx(7.5))
    assert value("syncd_run_duration_seconds_bucket", job=job, outcome="ok", le="5.0") == 0
    assert value("syncd_run_duration_seconds_bucket", job=job, outcome="ok", le="10.0") == 1
    assert value("syncd_last_success_timestamp_seconds", job=job) == NOW.timestamp()
    with engine.connect() as conn:
        assert conn.execute(sa.select(runs.c.outcome).where(runs.c.job == job)).scalar() == "ok"


def test_a_failed_or_held_run_is_no_success(engine: sa.Engine, instance: str) -> None:
    job = f"push-{instance}"
    fake = VirtualTime()
    clock = fixed_clock(NOW)
    with pytest.raises(RuntimeError), recorded_run(engine, job, clock, monotonic=fake.monotonic):
        fake.sleep(2)
        raise RuntimeError("boom")
    with pytest.raises(GuardHeld), recorded_run(engine, job, clock, monotonic=fake.monotonic):
        fake.sleep(1)
        raise GuardHeld("too many removals")
    assert duration(job, "failed") == (1, pytest.approx(2))
    assert duration(job, "held") == (1, pytest.approx(1))
    assert duration(job, "ok") == (0, 0)
    assert REGISTRY.get_sample_value("syncd_last_success_timestamp_seconds", {"job": job}) is None


# --- the bundled connectors --------------------------------------------------------------

CONNECTOR_OPTIONS: dict[str, dict[str, Any]] = {
    "activecampaign": {"url": "https://acct.api-us1.com", "token": "ac-token-for-metrics"},
    "hubspot": {"token": "hs-token-for-metrics"},
    "salesmanago": {
        "server": "https://app3.salesmanago.pl",
        "client_id": "client-1",
        "api_key": "sm-key-for-metrics",
        "api_secret": "sm-secret-for-metrics",
        "owner": "owner@example.com",
    },
    "shopify": {"shop": "metrics-shop", "access_token": "shpat-token-for-metrics"},
}


@pytest.mark.parametrize("kind", sorted(CONNECTOR_OPTIONS))
def test_bundled_connectors_label_requests_with_their_instance(kind: str, instance: str) -> None:
    registry = get_plugin_manager().connectors()
    cls = registry[kind]
    refused = httpx.MockTransport(lambda request: httpx.Response(401, json={}))
    context = ConnectorContext(instance, clock=fixed_clock(NOW), transport=refused)
    connector = cls(cls.Options.model_validate(CONNECTOR_OPTIONS[kind]), context)
    connector.sleep = lambda _seconds: None  # type: ignore[attr-defined]
    with pytest.raises(AuthError):
        connector.check_connection()
    assert requests(instance, "401") >= 1
