"""Progress of pull, compute and push for the operator, drawn from the cycle's
:class:`~syncd.sync.progress.Observer`: rich progress bars on a terminal, plain lines into a
pipe or a file (a line every ``EVERY`` pages or batches and one when each part ends, not a
line a page), nothing with ``--quiet``. Everything goes to stderr: stdout keeps the result
(a table, the plan, ``--json``) as it was."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from syncd.secrets import redact
from syncd.sync.compute import SegmentResult
from syncd.sync.progress import Observer, Waits

EVERY = 10  # pages of a stream, or batches of a destination, between two plain lines
SENT = ("done", "retryable", "failed", "no_consent")  # a change answered for, or set aside


def records(counts: Counter[str]) -> int:
    """Records stored (each counted once, by its kind), not the events linked afterwards."""
    return sum(n for kind, n in counts.items() if kind != "events_linked")


class Tally(Observer):
    """Pages and records per stream, from the instance-wide counts the pull reports."""

    def __init__(self) -> None:
        self.stream: tuple[str, str] | None = None
        self.pages = 0
        self.base = 0  # the instance's records before this stream
        self.last = 0

    def page_pulled(self, instance: str, stream: str, counts: Counter[str]) -> None:
        if self.stream != (instance, stream):
            if self.stream is not None:
                self.stream_done(*self.stream)
            same = self.stream is not None and self.stream[0] == instance
            self.base = self.last if same else 0
            self.stream, self.pages = (instance, stream), 0
        self.pages += 1
        self.last = records(counts)
        self.page(instance, stream)

    def pulled(self, instance: str, counts: Counter[str]) -> None:
        if self.stream is not None and self.stream[0] == instance:
            self.stream_done(*self.stream)
        self.stream = None
        self.last = 0

    @property
    def stream_records(self) -> int:
        return self.last - self.base

    def page(self, instance: str, stream: str) -> None:
        """A page of the stream in hand was stored."""

    def stream_done(self, instance: str, stream: str) -> None:
        """The stream in hand has no more pages."""


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"


class Lines(Tally):
    """Plain lines for a log or a pipe: ``pull shop/orders: 20 pages, 2000 records``."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out
        self.planned: dict[str, int] = {}
        self.batches: Counter[str] = Counter()

    def say(self, text: str) -> None:
        self.out.write(redact(text) + "\n")
        self.out.flush()

    def page(self, instance: str, stream: str) -> None:
        if self.pages % EVERY == 0:
            self.say(
                f"pull {instance}/{stream}: {_pages(self.pages)}, {self.stream_records} records "
                "so far"
            )

    def stream_done(self, instance: str, stream: str) -> None:
        self.say(f"pull {instance}/{stream}: {_pages(self.pages)}, {self.stream_records} records")

    def computed(self, results: Sequence[SegmentResult]) -> None:
        moved = sum(1 for r in results if r.added or r.removed)
        self.say(f"compute: {len(results)} segments, {moved} changed")

    def pushing(self, destination: str, planned: int) -> None:
        self.planned[destination] = planned

    def batch_pushed(self, destination: str, counts: Counter[str]) -> None:
        self.batches[destination] += 1
        if self.batches[destination] % EVERY == 0:
            sent = sum(counts[k] for k in SENT)
            self.say(f"push {destination}: {sent} of {self.planned.get(destination, 0)} sent")

    def pushed(self, destination: str, counts: Counter[str]) -> None:
        sent = sum(counts[k] for k in SENT)
        self.say(
            f"push {destination}: {sent} of {self.planned.get(destination, 0)} sent "
            f"({counts['done']} done, {counts['retryable']} to retry, {counts['failed']} failed)"
        )

    def waiting(self, instance: str, seconds: float) -> None:
        self.say(f"wait {instance}: {seconds:.1f} s for its rate limit or before a retry")


class Logged(Lines):
    """The same lines into the daemon's log, one ``progress`` event each, bound to its job:
    a long job shows how far it is, as the shell's lines do."""

    def __init__(self, log: Any) -> None:
        super().__init__(sys.stderr)
        self.log = log

    def say(self, text: str) -> None:
        self.log.info("progress", line=redact(text))


class Bars(Tally):
    """Rich progress on a terminal: a bar per stream (pages, records), one for the compute
    (segments), one per destination (changes sent of planned); a wait shows on the bar of
    the instance that waits."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.tasks: dict[tuple[str, str], TaskID] = {}
        self.current: dict[str, TaskID] = {}  # instance -> its bar in hand, for a wait
        self.labels: dict[TaskID, str] = {}
        self.waits: dict[str, TaskID] = {}  # a wait before the instance's first bar

    def _bar(self, key: tuple[str, str], label: str, total: float | None) -> TaskID:
        task = self.progress.add_task(label, total=total, detail="")
        self.tasks[key], self.labels[task] = task, label
        self.current[key[1].split("/")[0]] = task
        return task

    def page(self, instance: str, stream: str) -> None:
        key = ("pull", f"{instance}/{stream}")
        task = self.tasks.get(key) or self._bar(key, f"pull {instance}/{stream}", None)
        self.progress.update(task, detail=f"{_pages(self.pages)}, {self.stream_records} records")

    def stream_done(self, instance: str, stream: str) -> None:
        task = self.tasks.get(("pull", f"{instance}/{stream}"))
        if task is not None:
            self.progress.update(task, total=1, completed=1)

    def computing(self, segments: int) -> None:
        self._bar(("compute", ""), "compute", segments)
        self.progress.update(self.tasks[("compute", "")], detail=f"{segments} segments")

    def computed(self, results: Sequence[SegmentResult]) -> None:
        moved = sum(1 for r in results if r.added or r.removed)
        self.progress.update(
            self.tasks[("compute", "")],
            completed=len(results),
            detail=f"{len(results)} segments, {moved} changed",
        )

    def pushing(self, destination: str, planned: int) -> None:
        task = self._bar(("push", destination), f"push {destination}", planned or 1)
        self.progress.update(task, detail=f"0 of {planned} sent", completed=0 if planned else 1)

    def batch_pushed(self, destination: str, counts: Counter[str]) -> None:
        task = self.tasks[("push", destination)]
        planned = int(self.progress.tasks[self._index(task)].total or 0)
        sent = sum(counts[k] for k in SENT)
        self.progress.update(task, completed=sent, detail=f"{sent} of {planned} sent")

    def pushed(self, destination: str, counts: Counter[str]) -> None:
        task = self.tasks[("push", destination)]
        total = self.progress.tasks[self._index(task)].total or 1
        self.progress.update(task, completed=total)

    def waiting(self, instance: str, seconds: float) -> None:
        task = self.current.get(instance)
        if task is not None:
            self.progress.update(task, description=f"{self.labels[task]} [waiting {seconds:.1f} s]")
        else:  # before its first page: a bar of its own while it waits
            self.waits[instance] = self.progress.add_task(
                f"{instance} [waiting {seconds:.1f} s]", total=None, detail=""
            )

    def waited(self, instance: str) -> None:
        task = self.current.get(instance)
        if task is not None:
            self.progress.update(task, description=self.labels[task])
        alone = self.waits.pop(instance, None)
        if alone is not None:
            self.progress.remove_task(alone)

    def _index(self, task: TaskID) -> int:
        return next(i for i, t in enumerate(self.progress.tasks) if t.id == task)


def _terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def shown(
    quiet: bool, waits: Waits | None = None, out: TextIO | None = None, *, logged: bool = False
) -> Iterator[Observer]:
    """The observer for a command's cycle: bars on a terminal, lines elsewhere, ``progress``
    log events when ``logged`` (the log is JSON on stderr), nothing when ``quiet``; ``waits``
    (the runtime's) then tells it of long waits."""
    out = out or sys.stderr
    observer: Observer
    if quiet:
        yield Observer()
        return
    if logged or not _terminal(out):
        observer = Logged(structlog.get_logger("syncd")) if logged else Lines(out)
        with _waits_to(waits, observer):
            yield observer
        return
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.fields[detail]}", markup=False),
        TimeElapsedColumn(),
        console=Console(file=out, highlight=False, markup=False),
    )
    with bars, _waits_to(waits, Bars(bars)) as observer:
        yield observer


@contextlib.contextmanager
def _waits_to(waits: Waits | None, observer: Observer) -> Iterator[Observer]:
    if waits is not None:
        waits.observer = observer
    try:
        yield observer
    finally:
        if waits is not None:
            waits.observer = None
