"""Reading ahead: each connector instance's streams are read in a thread of its own, up to
``AHEAD`` records ahead of the store's writes, so what a vendor takes to answer (and the waits
its rate limit asks for) overlaps the writing of the pages already read, and instances read
side by side. One writer writes the pages, instance by instance (``next_ready`` picks the one
that will keep it waiting least) and in each stream's order; the pages read ahead are written
in one transaction with the last one's cursor (``syncd.sync.pull``), so a crash loses only
pages not yet written, which the next pull reads again."""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import structlog

from syncd.connectors.contract import Page, Stream

#: records an instance's read may hold ahead of the writes (a page more when one alone is
#: larger): enough for the instances written later to be read while the first is written
AHEAD = 10_000
WAKE = 0.25  # seconds between looks for a reader with something to write, should a wake be missed
#: seconds the first instance (in the config's order) has for its read to be over or held up
#: by the writes, before another is taken in its place
SETTLE = 2.0


@dataclass(frozen=True)
class StreamEnd:
    """The stream has no more pages."""

    stream: Stream


@dataclass(frozen=True)
class ReadFailed:
    """The read failed: the error is raised where the pages are written."""

    error: BaseException


Item = tuple[Stream, Page] | StreamEnd | ReadFailed | None


@dataclass
class _Reader:
    instance: str
    items: deque[Item] = field(default_factory=deque)
    held: int = 0  # records in ``items``
    closed: bool = False  # the pages are no longer wanted
    asked: bool = False  # the writes wait for a page (what a read in line waits for)
    full: bool = False  # the read waits for room: it reads faster than the pages are written
    ended: bool = False  # the read is over: all it will hand is queued
    changed: threading.Condition = field(default_factory=threading.Condition)
    thread: threading.Thread | None = None


class StreamReads:
    """The reads of a pull, started with ``start`` and taken with ``pages``; closing it stops
    every read still going (at its next page) and waits for its thread."""

    def __init__(self, stop: threading.Event | None = None, ahead: int | None = AHEAD) -> None:
        """``ahead``: the records a read may hold ahead of the writes; None reads in line, a
        page only once the writes ask for it (as a connector's conformance suite counts)."""
        self.stop, self.ahead = stop, ahead
        self._arrived = threading.Event()  # a reader queued something: see ``next_ready``
        self._readers: dict[str, _Reader] = {}

    def __enter__(self) -> StreamReads:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, instance: str, streams: Sequence[tuple[Stream, str | None]]) -> None:
        """Begin reading ``streams`` of ``instance`` (each from its stored cursor), in order."""
        reader = _Reader(instance)
        context = contextvars.copy_context()  # the run's bound log context, in the thread
        reader.thread = threading.Thread(
            target=context.run,
            args=(self._read, reader, list(streams)),
            name=f"syncd-read-{instance}",
            daemon=True,
        )
        self._readers[instance] = reader
        reader.thread.start()

    def pages(self, instance: str) -> Iterator[tuple[Stream, Page | None]]:
        """The instance's pages as they are read, each with its stream; ``(stream, None)``
        when a stream has no more. A failed read raises its error here."""
        reader = self._readers[instance]
        while True:
            with reader.changed:
                reader.asked = True
                reader.changed.notify_all()
                reader.changed.wait_for(lambda: bool(reader.items))
                reader.asked = False
                item = reader.items.popleft()
                if isinstance(item, tuple):
                    reader.held -= len(item[1].records)
                reader.changed.notify_all()
            if item is None:
                return
            if isinstance(item, ReadFailed):
                raise item.error
            if isinstance(item, StreamEnd):
                yield item.stream, None
            else:
                yield item

    def next_ready(self, instances: Sequence[str]) -> str:
        """Which of ``instances`` to write next, so that the writes wait as little as they can
        on a vendor (a bulk export being prepared, a rate limit): the first, in their order,
        whose read is over or is held up by the writes (its pages come faster than they are
        written). The first instance has ``SETTLE`` seconds to be so before the others are
        looked at: reads that end soon are written in the config's order. Past that, failing
        such an instance, the one with the most records read. In line, the first."""
        if self.ahead is None:
            return instances[0]
        began = time.monotonic()
        while True:
            self._arrived.clear()
            settled = time.monotonic() - began >= SETTLE
            held: dict[str, int] = {}
            for instance in instances if settled else instances[:1]:
                reader = self._readers.get(instance)
                if reader is None:
                    return instance  # not started: it failed to, and says so when written
                with reader.changed:
                    if reader.items and (reader.ended or reader.full):
                        return instance
                    if reader.items:
                        held[instance] = reader.held
            if settled and held:
                return max(held, key=lambda name: held[name])  # the first of equals
            self._arrived.wait(WAKE)

    def queued(self, instance: str) -> bool:
        """Whether a page (or the end of a stream) of ``instance`` is read and waiting."""
        reader = self._readers[instance]
        with reader.changed:
            return any(item is not None for item in reader.items)

    def finish(self, instance: str) -> None:
        """Stop reading ``instance`` (its pages are no longer wanted) and wait for its thread:
        a read stops at its next page."""
        reader = self._readers.pop(instance, None)
        if reader is None:
            return
        with reader.changed:
            reader.closed = True
            reader.items.clear()
            reader.changed.notify_all()
        if reader.thread is not None:
            reader.thread.join()

    def close(self) -> None:
        for reader in self._readers.values():
            with reader.changed:
                reader.closed = True
                reader.changed.notify_all()
        for instance in list(self._readers):
            self.finish(instance)

    def _stopping(self, reader: _Reader) -> bool:
        return reader.closed or (self.stop is not None and self.stop.is_set())

    def _hand(self, reader: _Reader, item: Item) -> bool:
        """Queue ``item`` for the writes, once the records ahead leave it room; False when
        the read is to stop instead."""
        size = len(item[1].records) if isinstance(item, tuple) else 0
        ahead = self.ahead

        def room() -> bool:
            return reader.closed or ahead is None or not reader.held or reader.held + size <= ahead

        with reader.changed:
            if not room():
                reader.full = True
                self._arrived.set()  # the writes may take this instance now
                reader.changed.wait_for(room)
                reader.full = False
            if reader.closed:
                return False
            reader.items.append(item)
            reader.held += size
            reader.asked = False  # answered: a read in line waits for the next ask
            reader.changed.notify_all()
        self._arrived.set()
        return True

    def _read(self, reader: _Reader, streams: list[tuple[Stream, str | None]]) -> None:
        try:
            with structlog.contextvars.bound_contextvars(connector=reader.instance):
                for stream, cursor in streams:
                    if self._stopping(reader) or not self._read_stream(reader, stream, cursor):
                        return
        except BaseException as exc:  # handed to the writes, raised there
            self._hand(reader, ReadFailed(exc))
        finally:
            self._end(reader)

    def _may_read(self, reader: _Reader) -> bool:
        """Whether to read the next page: at once when reading ahead; in line, once the
        writes ask for it. False when the read is to stop instead."""
        if self.ahead is not None:
            return not reader.closed
        with reader.changed:
            reader.changed.wait_for(lambda: reader.closed or reader.asked)
            return not reader.closed

    def _read_stream(self, reader: _Reader, stream: Stream, cursor: str | None) -> bool:
        reading = iter(stream.read(cursor))
        try:
            while self._may_read(reader):
                page = next(reading, None)
                if page is None:
                    break
                if not self._hand(reader, (stream, page)) or self._stopping(reader):
                    return False
            else:
                return False
        finally:
            close = getattr(reading, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (an open response, a file) runs now
        return self._hand(reader, StreamEnd(stream))

    def _end(self, reader: _Reader) -> None:
        with reader.changed:
            reader.items.append(None)
            reader.ended = True
            reader.changed.notify_all()
        self._arrived.set()
