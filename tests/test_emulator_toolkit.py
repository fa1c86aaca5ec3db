"""The emulator toolkit: control routes, each fault kind, the rate limit, seeded faults, the
in-process transport and the loopback server, on a small emulator made for these tests."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syncd.emulator import (
    Emulator,
    FaultPlan,
    FaultSpecError,
    LoggedRequest,
    ManualClock,
    RateLimit,
    mark_write,
    running,
    transport,
)
from syncd.emulator.people import CATALOG, people, pick
from syncd.emulator.server import bind


class NotesEmulator(Emulator):
    """A vendor with one resource: notes, listed and created."""

    name = "notes"

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/notes", self.list_notes, methods=["GET"]),
            Route("/notes", self.add_note, methods=["POST"]),
            Route("/empty", self.empty, methods=["DELETE"]),
            Route("/notes/search", self.search, methods=["POST"]),
            Route("/notes/touch", self.touch, methods=["GET"]),
        ]

    def reset(self) -> None:
        self.notes = [f"note {n}" for n in range(self.seed % 5 + 1)]

    def snapshot(self) -> dict[str, Any]:
        return {"notes": list(self.notes)}

    def rate_limited_response(self, retry_after: str) -> Response:
        return JSONResponse({"error": "slow down"}, 429, {"Retry-After": retry_after})

    async def list_notes(self, request: Request) -> Response:
        return JSONResponse({"notes": self.notes})

    async def add_note(self, request: Request) -> Response:
        self.notes.append((await request.json())["text"])
        return JSONResponse({"ok": True}, 201)

    async def empty(self, request: Request) -> Response:
        return Response(status_code=204)

    async def search(self, request: Request) -> Response:
        """A POST that changes nothing: a read, as the handler says."""
        mark_write(request, False)
        text = (await request.json())["text"]
        return JSONResponse({"notes": [n for n in self.notes if text in n]})

    def touch(self, request: Request) -> Response:
        """A GET that changes the state (served in a worker thread): a write."""
        mark_write(request)
        self.notes.append("touched")
        return JSONResponse({"ok": True})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def client(emulator: Emulator) -> httpx.Client:
    return httpx.Client(transport=transport(emulator), base_url="http://notes.test")


def test_state_and_request_log_through_the_control_routes(clock: ManualClock) -> None:
    emu = NotesEmulator(seed=1, clock=clock)
    with client(emu) as http:
        assert http.get("/notes").json() == {"notes": ["note 0", "note 1"]}
        assert http.post("/notes", json={"text": "hello"}).status_code == 201
        assert http.get("/notes?x=1").status_code == 200
        assert http.get("/_emulator/state").json() == {"notes": ["note 0", "note 1", "hello"]}
        log = http.get("/_emulator/requests").json()
        assert log["total"] == 3  # control routes are not logged
        assert [(r["method"], r["path"], r["status"]) for r in log["requests"]] == [
            ("GET", "/notes", 200),
            ("POST", "/notes", 201),
            ("GET", "/notes", 200),
        ]
        assert log["requests"][2]["query"] == "x=1"
        assert log["requests"][0]["time"] == clock().timestamp()
        posts = http.get("/_emulator/requests", params={"method": "post"}).json()
        assert [r["seq"] for r in posts["requests"]] == [2]
        later = http.get("/_emulator/requests", params={"after": 2}).json()
        assert [r["seq"] for r in later["requests"]] == [3]
        assert http.delete("/_emulator/requests").status_code == 204
        assert http.get("/_emulator/requests").json()["total"] == 0
        http.post("/_emulator/reset")
        assert http.get("/_emulator/state").json() == {"notes": ["note 0", "note 1"]}


def test_a_handler_says_whether_a_request_was_a_read_or_a_write(clock: ManualClock) -> None:
    emu = NotesEmulator(seed=1, clock=clock)
    with client(emu) as http:
        assert http.get("/notes").status_code == 200
        assert http.post("/notes", json={"text": "hello"}).status_code == 201
        assert http.post("/notes/search", json={"text": "hel"}).json() == {"notes": ["hello"]}
        assert http.get("/notes/touch").status_code == 200
        assert http.delete("/empty").status_code == 204
        log = http.get("/_emulator/requests").json()["requests"]
    assert [r["write"] for r in log] == [None, None, False, True, None]  # unmarked: None
    assert [r.is_write for r in emu.requests()] == [False, True, False, True, True]


def test_the_harness_counts_writes_as_the_emulator_marked_them(clock: ManualClock) -> None:
    from syncd.testing import EmulatorHarness

    class Notes(EmulatorHarness):
        def emulator(self, clock: ManualClock) -> Emulator:
            return NotesEmulator(seed=1, clock=clock)

        def options(self) -> dict[str, Any]:
            return {}

    harness = Notes()
    harness.start(clock, "GET /notes:5xx=1")
    with client(harness.emu) as http:
        http.get("/notes")  # a fault: neither a read nor a write
        http.post("/notes/search", json={"text": "note"})
        http.get("/notes/touch")
        http.post("/notes", json={"text": "hello"})
    assert (harness.reads(), harness.writes(), harness.faults_served()) == (1, 2, 1)
    get = LoggedRequest(1, "GET", "/x", "", 200, 0.0)
    assert not harness.is_write(get) and harness.is_write(
        LoggedRequest(2, "GET", "/x", "", 200, 0.0, write=True)
    )


def test_429_fault_answers_in_the_vendor_shape_with_retry_after() -> None:
    emu = NotesEmulator(faults="429=1,retry_after=3")
    with client(emu) as http:
        answer = http.post("/notes", json={"text": "lost"})
    assert answer.status_code == 429
    assert answer.json() == {"error": "slow down"}
    assert answer.headers["Retry-After"] == "3"
    assert emu.snapshot()["notes"] == ["note 0"]  # refused before it was handled
    assert emu.requests()[0].fault == "429"


def test_5xx_fault_changes_nothing() -> None:
    emu = NotesEmulator(faults="5xx=1")
    with client(emu) as http:
        answer = http.post("/notes", json={"text": "lost"})
    assert answer.status_code in (500, 502, 503, 504)
    assert emu.snapshot()["notes"] == ["note 0"]


def test_faults_apply_per_route_and_later_rules_override() -> None:
    emu = NotesEmulator(faults="5xx=1;GET /notes:5xx=0")
    with client(emu) as http:
        assert http.get("/notes").status_code == 200
        assert http.post("/notes", json={"text": "x"}).status_code >= 500
    plan = FaultPlan.parse("latency=10ms..30ms;POST /a*:drop_after=0.5,retry_after=2")
    assert plan.for_request("POST", "/abc").drop_after == 0.5
    assert plan.for_request("GET", "/abc").drop_after == 0.0
    assert plan.for_request("GET", "/x").latency == (0.01, 0.03)
    assert plan.for_request("POST", "/a").retry_after == 2.0


@pytest.mark.parametrize("spec", ["429=2", "boom=0.1", "latency=fast", "5xx"])
def test_a_bad_fault_spec_says_what_is_wrong(spec: str) -> None:
    with pytest.raises(FaultSpecError, match=spec.split("=")[0]):
        FaultPlan.parse(spec)


def test_dropped_connection_is_a_transport_error_and_changes_nothing() -> None:
    emu = NotesEmulator(faults="POST /notes:drop=1")
    with client(emu) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post("/notes", json={"text": "lost"})
    assert emu.snapshot()["notes"] == ["note 0"]
    assert [(r.status, r.fault) for r in emu.requests()] == [(0, "drop")]


def test_drop_after_handling_loses_the_answer_not_the_change() -> None:
    emu = NotesEmulator(faults="drop_after=1")
    with client(emu) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post("/notes", json={"text": "kept"})
    assert emu.snapshot()["notes"] == ["note 0", "kept"]


def test_5xx_after_handling_loses_the_answer_not_the_change() -> None:
    emu = NotesEmulator(faults="5xx_after=1")
    with client(emu) as http:
        answer = http.post("/notes", json={"text": "kept"})
    assert answer.status_code in (500, 502, 503, 504)
    assert emu.snapshot()["notes"] == ["note 0", "kept"]
    assert [r.fault for r in emu.requests()] == ["5xx_after"]


def test_drop_after_and_5xx_after_share_one_draw() -> None:
    """Adding 5xx_after changed no seeded draw: a spec without it faults as before."""
    plan, same = FaultPlan.parse("drop_after=0.3", seed=4), FaultPlan.parse("drop_after=0.3", 4)
    both = FaultPlan.parse("drop_after=0.3,5xx_after=0.3", seed=4)
    drops, lost = [], []
    for _ in range(400):
        d, b = plan.decide("POST", "/x"), both.decide("POST", "/x")
        assert not same.decide("POST", "/x").server_error_after
        assert b.drop_after == d.drop_after and not (b.drop_after and b.server_error_after)
        drops.append(d.drop_after)
        lost.append(b.server_error_after is not None)
    assert 80 < sum(drops) < 160 and 80 < sum(lost) < 160


def test_malformed_body_is_not_json_but_the_change_is_made() -> None:
    emu = NotesEmulator(faults="malformed=1")
    with client(emu) as http:
        answer = http.post("/notes", json={"text": "kept"})
        empty = http.delete("/empty")
    assert answer.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        answer.json()
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert emu.snapshot()["notes"] == ["note 0", "kept"]
    assert empty.status_code == 204 and empty.content == b""  # a 204 has no body to garble


def test_latency_past_the_read_timeout_is_a_timeout() -> None:
    emu = NotesEmulator(faults="latency=300ms")
    with client(emu) as http, pytest.raises(httpx.ReadTimeout):
        http.get("/notes", timeout=0.05)


def test_seeded_faults_are_reproducible_and_shares_are_honoured() -> None:
    def statuses(seed: int) -> list[int]:
        emu = NotesEmulator(faults=FaultPlan.parse("429=0.3,5xx=0.2", seed=seed))
        with client(emu) as http:
            return [http.get("/notes").status_code for _ in range(200)]

    first = statuses(7)
    assert first == statuses(7)
    assert first != statuses(8)
    assert 30 <= first.count(429) <= 90  # 30% of 200, loosely
    assert 15 <= sum(s >= 500 for s in first) <= 60  # 20% of the remaining 70%, loosely


def test_faults_can_be_changed_at_run_time() -> None:
    emu = NotesEmulator()
    with client(emu) as http:
        assert http.get("/notes").status_code == 200
        set_ = http.post("/_emulator/faults", json={"spec": "GET /notes:429=1", "seed": 3})
        assert set_.json()["rules"][0] == {
            "method": "GET",
            "route": "/notes",
            "settings": {"429": 1.0},
        }
        assert http.get("/notes").status_code == 429
        assert http.post("/_emulator/faults", json={"spec": "nonsense=1"}).status_code == 400
        http.post("/_emulator/faults", json={"spec": ""})
        assert http.get("/notes").status_code == 200


def test_rate_limit_refuses_past_the_bucket_and_refills_with_time(clock: ManualClock) -> None:
    emu = NotesEmulator(rate_limit=RateLimit(5), clock=clock)
    with client(emu) as http:
        statuses = [http.get("/notes").status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        refused = http.get("/notes")
        assert refused.json() == {"error": "slow down"}
        assert refused.headers["Retry-After"] == "1"  # 0.2 s, rounded up to whole seconds
        clock.advance(0.4)  # two tokens
        assert [http.get("/notes").status_code for _ in range(3)] == [200, 200, 429]
        clock.advance(60)  # never more than the burst
        assert [http.get("/notes").status_code for _ in range(6)] == [200] * 5 + [429]
    assert len(emu.requests(status=429)) == 5
    assert {r.fault for r in emu.requests(status=429)} == {"rate_limit"}


def test_rate_limit_can_be_raised_or_lifted_at_run_time(clock: ManualClock) -> None:
    emu = NotesEmulator(rate_limit=1, clock=clock)
    with client(emu) as http:
        assert [http.get("/notes").status_code for _ in range(2)] == [200, 429]
        assert http.post("/_emulator/rate_limit", json={"rate": 10}).json() == {
            "rate": 10.0,
            "burst": 10.0,
        }
        assert [http.get("/notes").status_code for _ in range(11)] == [200] * 10 + [429]
        http.post("/_emulator/rate_limit", json={"rate": None})
        assert all(http.get("/notes").status_code == 200 for _ in range(30))


def test_loopback_server_answers_and_drops_connections() -> None:
    emu = NotesEmulator(seed=2)
    with running(emu) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=base_url, timeout=5) as http:
            assert http.get("/notes").json() == {"notes": ["note 0", "note 1", "note 2"]}
            http.post("/_emulator/faults", json={"spec": "drop=1"})
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                http.get("/notes")
            http.post("/_emulator/faults", json={"spec": ""})
            assert http.get("/notes").status_code == 200
    assert [r.fault for r in emu.requests()] == [None, "drop", None]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/notes", timeout=2)  # stopped


def test_the_date_of_every_answer_is_the_vendors_time_when_it_answers(clock: ManualClock) -> None:
    """``Date`` is the emulator's clock (the vendor's), to the second, on an answer and on a
    429 alike: a client reads the vendor's clock from it. uvicorn's own was the machine's,
    refreshed once a second (up to a second behind), so a read held at its start took a bound
    a second earlier than the vendor's time and read its last second's records again."""
    emu = NotesEmulator(seed=2, clock=clock)
    emu.set_rate_limit(RateLimit(1, 1))
    with running(emu) as base_url, httpx.Client(base_url=base_url, timeout=5) as http:
        said = [http.get("/notes").headers.get_list("date")]
        clock.advance(0.5)  # the bucket is not refilled: a 429
        said.append(http.get("/notes").headers.get_list("date"))
        clock.advance(3600)
        said.append(http.get("/notes").headers.get_list("date"))
    assert said == [
        ["Sat, 01 Jun 2024 12:00:00 GMT"],
        ["Sat, 01 Jun 2024 12:00:00 GMT"],
        ["Sat, 01 Jun 2024 13:00:00 GMT"],
    ]
    assert [r.status for r in emu.requests()] == [200, 429, 200]


def test_a_connection_to_the_loopback_server_sends_without_waiting_for_acks() -> None:
    """Nagle's algorithm off: with it on, an answer's body waited for the client's delayed
    ACK of its headers (about 45 ms a request on loopback)."""
    listening = bind()
    with listening, socket.create_connection(listening.getsockname(), timeout=5):
        accepted, _ = listening.accept()
        with accepted:
            assert accepted.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on it too
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.fixture
def crowd() -> Iterator[list[Any]]:
    yield people(5, 300, now=datetime(2024, 6, 1, tzinfo=UTC))


def test_people_are_reproducible_and_coherent(crowd: list[Any]) -> None:
    assert crowd == people(5, 300, now=datetime(2024, 6, 1, tzinfo=UTC))
    assert crowd != people(6, 300, now=datetime(2024, 6, 1, tzinfo=UTC))
    assert len({p.email for p in crowd}) == 300
    now = datetime(2024, 6, 1, tzinfo=UTC)
    for p in crowd:
        times = [e.at for e in p.emails] + [o.placed_at for o in p.orders]
        assert all(p.created_at <= t <= now for t in times)
        hard = [e.at for e in p.emails if e.type == "bounce_hard"]
        if hard:
            assert not [e for e in p.emails if e.type in ("open", "click") and e.at > hard[0]]
        if p.consent is None:
            assert p.emails == ()
        if any(e.type == "unsubscribe" for e in p.emails):
            assert p.consent == "revoked"
        for cart in p.carts:
            assert cart.recovered == any(o.from_cart == cart.key for o in p.orders)
        for order in p.orders:
            assert order.total_cents > 0 and all(i.product in CATALOG for i in order.items)
    kinds = {e.type for p in crowd for e in p.emails}
    assert {"sent", "open", "click", "bounce_soft", "unsubscribe"} <= kinds
    assert sum(1 for p in crowd if p.orders) > 100
    assert sum(1 for p in crowd if p.visits) > 100


def test_pick_gives_each_tool_a_stable_overlapping_share(crowd: list[Any]) -> None:
    shop, esp = pick(crowd, 0.8, "shop"), pick(crowd, 0.8, "esp")
    assert shop == pick(crowd, 0.8, "shop")
    assert 180 < len(shop) < 290 and 180 < len(esp) < 290
    both = {p.key for p in shop} & {p.key for p in esp}
    assert 100 < len(both) < min(len(shop), len(esp))


def test_the_emulator_command_names_the_known_emulators_for_an_unknown_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from syncd.cli import main

    assert main(["--config", "/nonexistent/syncd.yaml", "emulator", "no-such-vendor"]) == 2
    assert "unknown emulator 'no-such-vendor' (known: " in capsys.readouterr().err


def test_a_checked_index_finds_the_first_row_still_holding_a_key() -> None:
    from syncd.emulator.index import CheckedIndex

    rows: dict[int, dict[str, str]] = {}
    index: CheckedIndex[dict[str, str]] = CheckedIndex(
        lambda row, key: rows.get(int(row["id"])) is row and row["email"] == key,
        lambda: rows.values(),
    )
    for n, email in ((1, "a@x.io"), (2, "a@x.io"), (3, "b@x.io")):
        rows[n] = {"id": str(n), "email": email}
        index.note(email, rows[n])
    assert index.find("a@x.io") is rows[1]  # the first made, of two that share it
    rows[1]["email"] = "c@x.io"  # took another e-mail: the next holder is found
    assert index.find("a@x.io") is rows[2]
    del rows[2]  # deleted: none holds it now
    assert index.find("a@x.io") is None
    assert index.find("b@x.io") is rows[3] and index.find("nobody@x.io") is None
