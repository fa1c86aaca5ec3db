"""Reading ahead (syncd/sync/reading.py): instances are read side by side, ahead of the writes
(at most so many records), yet the pages are written exactly in the order a read in line
writes them; a failed read fails its own instance's pull; no read outlives its pull."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.clock import fixed_clock
from syncd.connectors.contract import (
    Connector,
    ConnectorContext,
    ConnectorOptions,
    ContactRecord,
    Page,
    Stream,
)
from syncd.errors import RetryableError
from syncd.store.schema import contacts
from syncd.sync.pull import pull_instance, start_pull, write_pull
from syncd.sync.reading import StreamReads

WAIT = 10.0  # seconds a read waits for the other before the test counts it as not side by side


class Numbered(Stream):
    """``pages`` pages of one contact each; ``before`` waits for an event before the first
    page, and ``after`` is set once the first page is read."""

    def __init__(self, name: str, pages: int, **events: threading.Event) -> None:
        self.name, self.pages = name, pages
        self.before, self.after = events.get("before"), events.get("after")
        self.read_pages: list[int] = []
        self.waited: bool | None = None

    def read(self, cursor: str | None) -> Iterator[Page]:
        if self.before is not None:
            self.waited = self.before.wait(WAIT)
        for n in range(int(cursor or 0), self.pages):
            self.read_pages.append(n)
            email = f"{self.name}-{n}@example.com"
            yield Page([ContactRecord(external_id=f"{self.name}-{n}", email=email)], str(n + 1))
            if self.after is not None:
                self.after.set()


class Failing(Stream):
    name = "broken"

    def read(self, cursor: str | None) -> Iterator[Page]:
        yield Page([ContactRecord(external_id="b-0", email="b-0@example.com")], "1")
        raise RetryableError("HTTP 503 from the source, after every retry")


class Source(Connector):
    def __init__(self, name: str, *streams: Stream) -> None:
        super().__init__(ConnectorOptions(), ConnectorContext(name))
        self.name, self._streams = name, list(streams)

    def streams(self) -> list[Stream]:
        return self._streams


KW: dict[str, Any] = {
    "precedence": [],
    "run_id": None,
    "clock": fixed_clock(datetime(2026, 11, 20, tzinfo=UTC)),
}


def stored_emails(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(contacts.c.email).order_by(contacts.c.id))
        return [email for (email,) in rows]


def readers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("syncd-read-")]


def test_instances_are_read_side_by_side_and_written_in_line(store: sa.Engine) -> None:
    # the first instance's read cannot go on until the second's has read a page: read in
    # line, it would wait in vain
    second_read = threading.Event()
    first = Numbered("first", 3, before=second_read)
    second = Numbered("second", 2, after=second_read)
    with StreamReads() as reads:
        started = [
            start_pull(store, name, Source(name, stream), reads)
            for name, stream in (("a", first), ("b", second))
        ]
        counts = [write_pull(store, s, reads, **KW) for s in started]
    assert first.waited is True
    assert [c["contacts"] for c in counts] == [3, 2]
    # written instance by instance, each stream in its order: contact ids follow
    expected = [f"first-{n}@example.com" for n in range(3)]
    expected += [f"second-{n}@example.com" for n in range(2)]
    assert stored_emails(store) == expected
    assert readers_alive() == []


def test_a_read_goes_no_further_ahead_than_its_records_allow(store: sa.Engine) -> None:
    stream = Numbered("long", 50)
    with StreamReads(ahead=3) as reads:  # records, a page of one each
        start_pull(store, "a", Source("a", stream), reads)
        pause = threading.Event()
        while len(stream.read_pages) < 3 and not pause.wait(0.01):
            pass
        pause.wait(0.3)  # time enough to read on, were it not held
        # three pages held, and the one read that waits for room
        assert len(stream.read_pages) == 4
    assert readers_alive() == []  # closing stopped the read waiting to hand a page
    assert stored_emails(store) == []


def test_a_failed_read_fails_its_own_pull_after_the_pages_it_read(store: sa.Engine) -> None:
    fine = Numbered("fine", 2)
    with StreamReads() as reads:
        broken = start_pull(store, "a", Source("a", Failing(), Numbered("never", 1)), reads)
        other = start_pull(store, "b", Source("b", fine), reads)
        with pytest.raises(RetryableError, match="HTTP 503"):
            write_pull(store, broken, reads, **KW)
        assert write_pull(store, other, reads, **KW)["contacts"] == 2
    assert stored_emails(store) == ["b-0@example.com", "fine-0@example.com", "fine-1@example.com"]
    assert readers_alive() == []


def test_a_read_in_line_reads_a_page_only_once_the_one_before_is_written(
    store: sa.Engine,
) -> None:
    stream, stop = Numbered("long", 5), threading.Event()
    written: list[int] = []

    def progress(instance: str, name: str, counts: Any) -> None:
        written.append(len(stream.read_pages))  # pages read when each page is written
        if len(written) == 2:
            stop.set()

    counts = pull_instance(
        store, "a", Source("a", stream), progress=progress, stop=stop, ahead=None, **KW
    )
    assert counts["contacts"] == 2 and written == [1, 2] and stream.read_pages == [0, 1]
    assert readers_alive() == []


def test_pages_read_ahead_are_written_together_and_a_failure_among_them_loses_none(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncd.sync import pull as pull_module

    stream = Numbered("many", 6)
    real, calls = pull_module.resolve_fields, []

    def fail_in_second_batch(*args: Any, **kwargs: Any) -> None:
        calls.append(1)  # once a transaction, its pages' fields resolved together
        if len(calls) == 2:
            raise RuntimeError("the process dies while pages 4-6 are being written")
        real(*args, **kwargs)

    monkeypatch.setattr(pull_module, "BATCH", 3)  # records: three pages of one a transaction
    monkeypatch.setattr(pull_module, "resolve_fields", fail_in_second_batch)
    with StreamReads() as reads:
        started = start_pull(store, "a", Source("a", stream), reads)
        while len(stream.read_pages) < 6:  # every page read before the first is written
            threading.Event().wait(0.01)
        with pytest.raises(RuntimeError, match="pages 4-6"):
            write_pull(store, started, reads, **KW)
    # pages 1-3 were written together with their cursor; nothing of pages 4-6
    assert stored_emails(store) == [f"many-{n}@example.com" for n in range(3)]
    monkeypatch.setattr(pull_module, "resolve_fields", real)
    assert pull_instance(store, "a", Source("a", stream), **KW)["contacts"] == 3
    assert stream.read_pages[6:] == [3, 4, 5]  # read again from the cursor of page 3
    assert stored_emails(store) == [f"many-{n}@example.com" for n in range(6)]


def test_the_next_instance_written_is_the_first_with_a_page_read(store: sa.Engine) -> None:
    go = threading.Event()
    slow = Numbered("slow", 2, before=go)  # its vendor answers once the other is written
    quick = Numbered("quick", 2)
    order: list[str] = []
    with StreamReads() as reads:
        started = {
            name: start_pull(store, name, Source(name, stream), reads)
            for name, stream in (("a", slow), ("b", quick))
        }
        waiting = ["a", "b"]
        while waiting:
            name = reads.next_ready(waiting)
            waiting.remove(name)
            order.append(name)
            write_pull(store, started[name], reads, **KW)
            go.set()
    assert order == ["b", "a"] and slow.waited is True
    expected = [f"quick-{n}@example.com" for n in range(2)]
    assert stored_emails(store) == expected + [f"slow-{n}@example.com" for n in range(2)]


def test_instances_ready_together_are_written_in_the_config_order(store: sa.Engine) -> None:
    streams = {name: Numbered(name, 1) for name in ("a", "b", "c")}
    with StreamReads() as reads:
        for name, stream in streams.items():
            start_pull(store, name, Source(name, stream), reads)
        for thread in threading.enumerate():
            if thread.name.startswith("syncd-read-"):
                thread.join(WAIT)  # each read over: its page and its end handed
        assert reads.next_ready(["c", "a", "b"]) == "c"


class Trickle(Numbered):
    """A page, then the rest only once ``go`` is set: a vendor slow to answer."""

    def __init__(self, name: str, go: threading.Event) -> None:
        super().__init__(name, 3)
        self.go = go

    def read(self, cursor: str | None) -> Iterator[Page]:
        for n, page in enumerate(super().read(cursor)):
            if n:
                self.go.wait(WAIT)
            yield page


def test_a_read_the_writes_hold_up_is_written_before_one_that_trickles(store: sa.Engine) -> None:
    go = threading.Event()
    slow, quick = Trickle("slow", go), Numbered("quick", 20)
    with StreamReads(ahead=5) as reads:  # the quick read fills its five records and waits
        started = {
            name: start_pull(store, name, Source(name, stream), reads)
            for name, stream in (("a", slow), ("b", quick))
        }
        first = reads.next_ready(["a", "b"])
        write_pull(store, started[first], reads, **KW)
        go.set()
        write_pull(store, started["a" if first == "b" else "b"], reads, **KW)
    assert first == "b"
