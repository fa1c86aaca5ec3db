"""The emulators' webhook courier: deliveries leave from background threads, are retried on
the vendor's schedule (scaled), a 503's Retry-After is honoured, a vendor that never retries
sends once, and events queued together for one address go in one batch."""

from __future__ import annotations

import json
import time
from typing import Any

from syncd.emulator import Catcher, Courier, RetryPolicy, running
from syncd.emulator.webhooks import delivered, retry_after


def plain(events: list[Any], attempt: int) -> tuple[bytes, dict[str, str]]:
    return json.dumps({"events": events, "attempt": attempt}).encode(), {"X-Attempt": str(attempt)}


def test_a_failed_delivery_is_retried_until_it_is_taken() -> None:
    catcher = Catcher([500, 502])
    courier = Courier(RetryPolicy((1.0, 1.0, 1.0)), time_scale=0.001)
    with running(catcher) as url:
        courier.send(url + "/hook", "thing/made", {"n": 1}, plain)
        assert courier.wait_idle(10)
    courier.close()
    assert [a.status for a in courier.log] == [500, 502, 200]
    assert [c.headers["x-attempt"] for c in catcher.caught] == ["0", "1", "2"]
    assert [json.loads(c.body)["events"] for c in catcher.caught] == [[{"n": 1}]] * 3
    assert len(delivered(courier.log)) == 1


def test_retries_stop_after_the_schedule() -> None:
    catcher = Catcher([500] * 10)
    courier = Courier(RetryPolicy((1.0, 1.0)), time_scale=0.001)
    with running(catcher) as url:
        courier.send(url + "/hook", "t", 1, plain)
        assert courier.wait_idle(10)
    courier.close()
    assert len(catcher.caught) == 3  # the first try and two retries
    assert delivered(courier.log) == []


def test_a_vendor_that_never_retries_sends_once() -> None:
    catcher = Catcher([503], {"Retry-After": "0"})
    courier = Courier(RetryPolicy(()))
    with running(catcher) as url:
        courier.send(url + "/hook", "t", 1, plain)
        assert courier.wait_idle(10)
    courier.close()
    assert len(catcher.caught) == 1


def test_a_503_retry_after_is_honoured_over_the_schedule() -> None:
    # the schedule says 1000 s (scaled: 1 s); the receiver asks for 0 s: the retry comes at once
    catcher = Catcher([503], {"Retry-After": "0"})
    courier = Courier(RetryPolicy((1000.0,)), time_scale=1.0)
    with running(catcher) as url:
        courier.send(url + "/hook", "t", 1, plain)
        assert courier.wait_idle(10)
    courier.close()
    assert [a.status for a in courier.log] == [503, 200]


def test_a_refused_connection_is_retried() -> None:
    courier = Courier(RetryPolicy((1.0,)), time_scale=0.001, timeout=1.0)
    courier.send("http://127.0.0.1:9/nothing", "t", 1, plain)
    assert courier.wait_idle(10)
    courier.close()
    assert [a.status for a in courier.log] == [0, 0]


def test_sending_never_waits_for_the_receiver() -> None:
    catcher = Catcher()
    courier = Courier(RetryPolicy(()), workers=1)
    with running(catcher) as url:
        for n in range(20):
            courier.send(url + "/hook", "t", n, plain)
        assert courier.pending() > 0  # queued: send returned before they went out
        assert courier.wait_idle(10)
    courier.close()
    assert sorted(e for c in catcher.caught for e in json.loads(c.body)["events"]) == list(
        range(20)
    )


def test_events_queued_together_go_in_one_batch() -> None:
    catcher = Catcher()
    courier = Courier(RetryPolicy(()), batch=100, workers=1)
    with running(catcher) as url:
        courier._lock.acquire()  # hold the worker back while the events queue up
        try:
            for n in range(150):
                courier.send(url + "/hook", "t", n, plain)
        finally:
            courier._lock.release()
        assert courier.wait_idle(10)
    courier.close()
    sizes = sorted(len(json.loads(c.body)["events"]) for c in catcher.caught)
    assert sizes == [50, 100]


def test_retry_after_reads_both_forms() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(None) is None
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    said = retry_after(later)
    assert said is not None and 50 < said <= 60
