"""Reading ahead: each connector instance's streams are read in a thread of its own, a few
pages ahead of the store's writes, so what a vendor takes to answer (and the waits its rate
limit asks for) overlaps the writing of the pages already read, and instances read side by
side. The pages are still written one at a time, instance by instance and in each stream's
order, exactly as a read in line would write them; a page's cursor is stored with it, so a
crash loses only pages read ahead and not yet written, which the next pull reads again."""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import structlog

from syncd.connectors.contract import Page, Stream

AHEAD = 4  # pages an instance's read may be ahead of the writes
POLL = 0.1  # seconds a blocked reader waits before it looks again whether to stop


@dataclass(frozen=True)
class StreamEnd:
    """The stream has no more pages."""

    stream: Stream


@dataclass(frozen=True)
class ReadFailed:
    """The read failed: the error is raised where the pages are written."""

    error: BaseException


@dataclass
class _Reader:
    instance: str
    items: queue.Queue[tuple[Stream, Page] | StreamEnd | ReadFailed | None] = field(
        default_factory=lambda: queue.Queue(AHEAD)
    )
    closed: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class StreamReads:
    """The reads of a pull, started with ``start`` and taken with ``pages``; closing it stops
    every read still going (at its next page) and waits for its thread."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop
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
            item = reader.items.get()
            if item is None:
                return
            if isinstance(item, ReadFailed):
                raise item.error
            if isinstance(item, StreamEnd):
                yield item.stream, None
            else:
                yield item

    def finish(self, instance: str) -> None:
        """Stop reading ``instance`` (its pages are no longer wanted) and wait for its thread."""
        reader = self._readers.pop(instance, None)
        if reader is None:
            return
        reader.closed.set()
        while reader.thread is not None and reader.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                reader.items.get_nowait()  # a reader blocked on a full queue moves on
            reader.thread.join(POLL)

    def close(self) -> None:
        for reader in list(self._readers.values()):
            reader.closed.set()
        for instance in list(self._readers):
            self.finish(instance)

    def _stopping(self, reader: _Reader) -> bool:
        return reader.closed.is_set() or (self.stop is not None and self.stop.is_set())

    def _hand(self, reader: _Reader, item: tuple[Stream, Page] | StreamEnd | ReadFailed) -> bool:
        """Queue ``item`` for the writes; False when the read is to stop instead."""
        while not reader.closed.is_set():
            try:
                reader.items.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

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

    def _read_stream(self, reader: _Reader, stream: Stream, cursor: str | None) -> bool:
        reading = iter(stream.read(cursor))
        try:
            for page in reading:
                if not self._hand(reader, (stream, page)):
                    return False
                if self._stopping(reader):
                    return False
        finally:
            close = getattr(reading, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (an open response, a file) runs now
        return self._hand(reader, StreamEnd(stream))

    def _end(self, reader: _Reader) -> None:
        while not reader.closed.is_set():
            try:
                reader.items.put(None, timeout=POLL)
                return
            except queue.Full:
                continue
