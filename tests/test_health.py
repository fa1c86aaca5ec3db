"""The health endpoint: real HTTP requests to a started server, readiness on a real store."""

from __future__ import annotations

import socket
import struct
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from syncd import metrics
from syncd.clock import fixed_clock
from syncd.daemon.health import (
    HealthServer,
    ago,
    parse_address,
    readiness,
    refresh_backlog,
    refresh_last_success,
)
from syncd.errors import ConfigError
from syncd.store.schema import contacts, outbox, runs

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def get(server: HealthServer, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def state() -> dict[str, object]:
    return {"ready": (False, "no successful run yet")}


@pytest.fixture
def server(state: dict[str, object]) -> Iterator[HealthServer]:
    def check() -> tuple[bool, str]:
        value = state["ready"]
        if isinstance(value, Exception):
            raise value
        assert isinstance(value, tuple)
        return value

    with HealthServer("127.0.0.1:0", check) as health:
        yield health


# --- the endpoint ------------------------------------------------------------------------


def test_healthz_answers_ok(server: HealthServer) -> None:
    assert server.port > 0
    assert get(server, "/healthz")[::2] == (200, "ok\n")


def test_readyz_follows_the_readiness_check(server: HealthServer, state: dict[str, object]) -> None:
    assert get(server, "/readyz")[::2] == (503, "no successful run yet\n")
    state["ready"] = (True, "ok: last successful run 4m ago")
    assert get(server, "/readyz")[::2] == (200, "ok: last successful run 4m ago\n")


def test_a_failing_readiness_check_is_a_503_not_a_crash(
    server: HealthServer, state: dict[str, object]
) -> None:
    state["ready"] = RuntimeError("the scheduler is gone\nsecond line")
    status, _, body = get(server, "/readyz")
    assert (status, body) == (503, "readiness check failed: the scheduler is gone\n")
    assert get(server, "/healthz")[0] == 200  # the server is still there


def test_metrics_parse_as_prometheus_text(server: HealthServer) -> None:
    metrics.API_REQUESTS.labels("health-test", "200").inc(3)
    status, content_type, body = get(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    assert {"syncd_api_requests", "syncd_run_duration_seconds", "syncd_outbox_backlog"} <= set(
        families
    )
    samples = {
        (s.name, s.labels.get("instance"), s.labels.get("status")): s.value
        for s in families["syncd_api_requests"].samples
    }
    assert samples[("syncd_api_requests_total", "health-test", "200")] >= 3


def test_anything_else_is_404(server: HealthServer) -> None:
    assert get(server, "/")[0] == 404
    assert get(server, "/healthz/extra")[0] == 404
    assert get(server, "/healthz?verbose=1")[0] == 200


def test_head_answers_without_a_body(server: HealthServer, state: dict[str, object]) -> None:
    state["ready"] = (True, "ok: fine")
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/readyz", method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len("ok: fine\n"))
        assert response.read() == b""


def test_a_client_that_hangs_up_leaves_no_traceback(
    server: HealthServer, capfd: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /metr")  # half a request, then a reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.5)  # the handler threads meet the reset
    assert get(server, "/healthz")[0] == 200
    assert "Traceback" not in capfd.readouterr().err


def test_stop_closes_the_port(state: dict[str, object]) -> None:
    health = HealthServer("127.0.0.1:0", lambda: (True, "ok"))
    health.start()
    port = health.port
    assert get(health, "/healthz")[0] == 200
    health.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_a_taken_port_is_one_clear_error() -> None:
    with HealthServer("127.0.0.1:0", lambda: (True, "ok")) as first:
        second = HealthServer(f"127.0.0.1:{first.port}", lambda: (True, "ok"))
        with pytest.raises(ConfigError, match=r"daemon.health: cannot listen on 127.0.0.1:\d+"):
            second.start()


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:9780", ("127.0.0.1", 9780)), (":0", ("127.0.0.1", 0)), ("[::1]:80", ("::1", 80))],
)
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    ("address", "words"),
    [("9780", "needs a port"), ("127.0.0.1:http", "port must be"), ("example.com:1", "not an IP")],
)
def test_bad_addresses_say_what_is_wrong(address: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_address(address)


# --- readiness on a store ----------------------------------------------------------------


def add_run(
    engine: sa.Engine, job: str, finished: datetime | None, outcome: str, error: str | None = None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            runs.insert().values(
                id=uuid.uuid4().hex,
                job=job,
                started_at=(finished or NOW) - timedelta(minutes=1),
                finished_at=finished,
                outcome=outcome,
                error=error,
            )
        )


WITHIN = timedelta(hours=2)


def test_no_run_yet(engine: sa.Engine) -> None:
    assert readiness(engine, WITHIN, fixed_clock(NOW), ["sync"]) == (
        False,
        "no successful run yet",
    )


def test_ready_after_a_recent_successful_run(engine: sa.Engine) -> None:
    add_run(engine, "sync", NOW - timedelta(minutes=4), "ok")
    assert readiness(engine, WITHIN, fixed_clock(NOW), ["sync"]) == (
        True,
        "ok: last successful run 4m ago",
    )


def test_stale_when_the_last_success_is_too_old(engine: sa.Engine) -> None:
    add_run(engine, "sync", NOW - timedelta(hours=3), "ok")
    add_run(engine, "sync", NOW - timedelta(minutes=5), "failed")  # failures do not count
    add_run(engine, "other", NOW - timedelta(minutes=5), "ok")  # nor other jobs
    add_run(engine, "sync", None, "running")
    assert readiness(engine, WITHIN, fixed_clock(NOW), ["sync"]) == (
        False,
        "last successful run 3h ago, older than 2h",
    )
    # any one of the jobs listed makes it ready
    ready, _ = readiness(engine, WITHIN, fixed_clock(NOW), ["sync", "other"])
    assert ready


def test_a_partial_run_is_not_a_success_and_readiness_says_why(engine: sa.Engine) -> None:
    add_run(engine, "sync", NOW - timedelta(hours=3), "ok")
    add_run(engine, "sync", NOW - timedelta(minutes=5), "partial", "push esp: HTTP 503")
    assert readiness(engine, WITHIN, fixed_clock(NOW), ["sync"]) == (
        False,
        "last successful run 3h ago, older than 2h; the last run was partial: push esp: HTTP 503",
    )
    add_run(engine, "sync", NOW - timedelta(minutes=1), "ok")
    assert readiness(engine, WITHIN, fixed_clock(NOW), ["sync"]) == (
        True,
        "ok: last successful run 1m ago",
    )


def test_the_bound_is_inclusive_and_the_clock_is_the_one_given(engine: sa.Engine) -> None:
    add_run(engine, "pull", NOW - WITHIN, "ok")
    assert readiness(engine, WITHIN, fixed_clock(NOW), ["pull"])[0]
    later = fixed_clock(NOW + timedelta(seconds=1))
    assert readiness(engine, WITHIN, later, ["pull"]) == (
        False,
        "last successful run 2h ago, older than 2h",
    )


def test_store_unreachable(tmp_path: Path) -> None:
    broken = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'store.db'}")
    ready, reason = readiness(broken, WITHIN, fixed_clock(NOW), ["sync"])
    assert not ready
    assert reason.startswith("store unreachable: ")
    assert "unable to open database file" in reason
    assert "\n" not in reason


def test_readiness_through_the_server(engine: sa.Engine) -> None:
    add_run(engine, "sync", NOW - timedelta(minutes=90), "ok")
    with HealthServer(
        "127.0.0.1:0", lambda: readiness(engine, WITHIN, fixed_clock(NOW), ["sync"])
    ) as health:
        assert get(health, "/readyz")[::2] == (200, "ok: last successful run 1h 30m ago\n")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (7200, "2h"), (90061, "1d 1h")],
)
def test_ago(seconds: int, words: str) -> None:
    assert ago(timedelta(seconds=seconds)) == words


# --- outbox backlog ----------------------------------------------------------------------


def backlog() -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for family in metrics.REGISTRY.collect():
        if family.name == "syncd_outbox_backlog":
            for s in family.samples:
                found[(s.labels["destination"], s.labels["status"])] = s.value
    return found


def test_refresh_backlog_counts_pending_and_held_and_zeroes_emptied(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        contact = conn.execute(
            contacts.insert().values(email="a@example.com", created_at=NOW, updated_at=NOW)
        ).inserted_primary_key[0]

        def row(destination: str, status: str) -> dict[str, object]:
            return dict(
                destination=destination,
                contact_id=contact,
                kind="add_tag",
                key="vip",
                status=status,
                attempts=0,
                created_at=NOW,
                updated_at=NOW,
            )

        conn.execute(
            outbox.insert(),
            [row("bk-ac", "pending")] * 3
            + [row("bk-ac", "held")] * 2
            + [row("bk-hs", "pending")]
            + [row("bk-hs", "done")] * 4
            + [row("bk-hs", "failed")],
        )
    refresh_backlog(engine)
    seen = backlog()
    assert seen[("bk-ac", "pending")] == 3
    assert seen[("bk-ac", "held")] == 2
    assert seen[("bk-hs", "pending")] == 1
    assert ("bk-hs", "done") not in seen and ("bk-hs", "failed") not in seen

    with engine.begin() as conn:
        conn.execute(
            outbox.update()
            .where(outbox.c.destination == "bk-ac", outbox.c.status == "pending")
            .values(status="done")
        )
    refresh_backlog(engine)
    seen = backlog()
    assert seen[("bk-ac", "pending")] == 0
    assert seen[("bk-ac", "held")] == 2
    assert seen[("bk-hs", "pending")] == 1


# --- last success from the store ---------------------------------------------------------


def test_refresh_last_success_reads_every_jobs_last_ok_run(engine: sa.Engine) -> None:
    job = f"replica-{uuid.uuid4().hex[:8]}"
    add_run(engine, job, NOW - timedelta(hours=5), "ok")
    add_run(engine, job, NOW - timedelta(hours=1), "ok")
    add_run(engine, job, NOW - timedelta(minutes=1), "failed")
    add_run(engine, f"{job}-never", NOW, "failed")
    refresh_last_success(engine)
    got = metrics.REGISTRY.get_sample_value
    expected = (NOW - timedelta(hours=1)).timestamp()
    assert got("syncd_last_success_timestamp_seconds", {"job": job}) == expected
    assert got("syncd_last_success_timestamp_seconds", {"job": f"{job}-never"}) is None
