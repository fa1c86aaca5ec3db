"""The bench the conformance suite runs a harness on, in virtual time: it starts the vendor,
builds connector instances (each a new process, as after a crash), opens stores, pulls
through ``syncd.sync.pull.pull_instance`` and pushes in rounds as the outbox does, watching
the pages, the cursors, the wire and what the connector says."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from syncd.connectors.base import secrets_of
from syncd.connectors.contract import (
    Change,
    ChangeResult,
    Connector,
    ConnectorContext,
    ContactRecord,
    DealRecord,
    Destination,
    EventRecord,
    ListRecord,
    Outcome,
    Page,
    Record,
    Stream,
    TagRecord,
)
from syncd.emulator import ManualClock, VirtualTime
from syncd.errors import AuthError, ConnectorError, RetryableError
from syncd.sync.pull import pull_instance, read_cursor
from syncd.testing.harness import WRONG_CREDENTIAL, Harness
from syncd.testing.leaks import Said
from syncd.testing.store import quarantined, temporary_store
from syncd.testing.wire import Wire


def external_id(record: Record) -> str | None:
    """The id a record is known by at its vendor (a tag's or membership's contact)."""
    if isinstance(record, ContactRecord | EventRecord | DealRecord):
        return record.external_id
    if isinstance(record, TagRecord | ListRecord):
        return record.contact_external_id
    return None


@dataclass
class PullRun:
    """What one pull did."""

    pages: Counter[str] = field(default_factory=Counter)  # by stream
    records: dict[str, list[Record]] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)  # streams read to their end
    requests: Counter[str] = field(default_factory=Counter)  # sent while each stream read
    # rows the vendor answered each declared stream's page requests (``RestStream``)
    rows: Counter[str] = field(default_factory=Counter)
    cursor_problems: list[str] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.records.values())

    def external_ids(self) -> set[str]:
        return {i for rs in self.records.values() for r in rs if (i := external_id(r))}

    def ok(self, what: str = "the pull") -> PullRun:
        """This run, or a failed assertion saying how it failed."""
        if self.error is not None:
            raise AssertionError(f"{what} failed: {type(self.error).__name__}: {self.error}")
        return self


@dataclass
class PushRun:
    """What pushing a plan in rounds did: each call's batch and answers."""

    answers: list[tuple[list[Change], list[ChangeResult]]] = field(default_factory=list)
    rounds: int = 0
    pending: list[Change] = field(default_factory=list)  # not done when the rounds ran out
    failed: list[ChangeResult] = field(default_factory=list)

    def outcome_problems(self) -> list[str]:
        """Batches not answered exactly once per change, by its id."""
        problems = []
        for n, (batch, results) in enumerate(self.answers, 1):
            sent, got = Counter(c.id for c in batch), Counter(r.change_id for r in results)
            if sent != got:
                missing = sorted((sent - got).elements())[:5]
                extra = sorted((got - sent).elements())[:5]
                problems.append(
                    f"call {n}: {len(batch)} changes sent, {len(results)} results; "
                    f"no result for {missing}, unasked or repeated results for {extra}"
                )
        return problems


class Bench:
    """One test's harness in virtual time; see the module."""

    def __init__(self, harness_class: type[Harness], directory: Path) -> None:
        self.harness = harness_class()
        self.directory = directory
        self.said = Said()
        self.wire: Wire | None = None
        self.clock = ManualClock(harness_class.start_time)
        self.time = VirtualTime(self.clock)
        self._runs = 0
        self._connectors: list[Connector] = []
        self._stores: list[sa.Engine] = []

    # --- the vendor and the connector --------------------------------------------------------

    def start(
        self,
        faults: str | None = None,
        *,
        wire_fault: str | None = None,
        wire_optional: bool = False,
        fault_seed: int = 0,
    ) -> Harness:
        """A fresh vendor on a fresh virtual clock, with ``faults`` at the vendor (a fault
        spec) or ``wire_fault`` (see syncd.testing.wire) on the connector's every other
        request; without a transport to put it on, the test skips unless ``wire_optional``."""
        self._runs += 1
        self.clock = ManualClock(self.harness.start_time)
        self.time = VirtualTime(self.clock)
        workdir = self.directory / f"run-{self._runs}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.harness.workdir = workdir
        self.harness.clock = self.clock
        self.harness.fault_seed = fault_seed
        self.harness.start(self.clock, faults)
        inner = self.harness.transport()
        if inner is None and wire_fault is not None and not wire_optional:
            pytest.skip(f"{type(self.harness).__name__}.transport() gives none: no wire faults")
        self.wire = Wire(inner, self.time, wire_fault) if inner is not None else None
        return self.harness

    def connector(self, options: dict[str, Any] | None = None) -> Connector:
        """A new connector instance on the current vendor (a new process of syncd)."""
        cls = self.harness.connector
        parsed = cls.Options.model_validate(
            options if options is not None else self.harness.options()
        )
        context = ConnectorContext(
            self.harness.instance,
            base_dir=self.harness.workdir,
            clock=self.clock,
            sleep=self.time.sleep,
            monotonic=self.time.monotonic,
            transport=self.wire,
        )
        connector = cls(parsed, context)
        self._connectors.append(connector)
        return connector

    def close(self) -> None:
        """Close every connector and store the bench opened."""
        for connector in self._connectors:
            connector.close()
        for engine in self._stores:
            engine.dispose()
        self._connectors.clear()
        self._stores.clear()

    def secrets(self) -> list[str]:
        """The harness's secrets, every secret option's value and the wrong credential."""
        options = self.harness.connector.Options.model_validate(self.harness.options())
        return sorted({*self.harness.secrets, *secrets_of(options), WRONG_CREDENTIAL})

    def advance(self, seconds: float) -> None:
        """Let virtual time pass between two runs, for the vendor and the connector."""
        self.time.sleep(seconds)

    def store(self) -> sa.Engine:
        """A fresh store of this run."""
        engine = temporary_store(self.harness.workdir)
        self._stores.append(engine)
        return engine

    # --- what a test needs, or skips without -------------------------------------------------

    def streams(self, connector: Connector) -> list[Stream]:
        found = connector.streams()
        if not found:
            pytest.skip(f"{self.harness.connector.__name__} reads no stream")
        return found

    def destination(self, connector: Connector) -> Destination:
        found = connector.destination()
        if found is None:
            pytest.skip(f"{self.harness.connector.__name__} is not a destination")
        return found

    def ask(self, method: str, *args: Any) -> Any:
        """``harness.method(*args)``, or a skip saying which method to write."""
        try:
            return getattr(self.harness, method)(*args)
        except NotImplementedError:
            pytest.skip(f"{type(self.harness).__name__}.{method}() is not written")

    # --- pulls ----------------------------------------------------------------------------------

    def pull(
        self,
        engine: sa.Engine,
        connector: Connector | None = None,
        *,
        crash_after: tuple[str, int] | None = None,
    ) -> PullRun:
        """Pull every stream into ``engine`` as ``syncd pull`` does; with ``crash_after``
        (stream, pages), stop reading once that many pages of that stream are stored."""
        run = PullRun()
        connector = connector or self.connector()
        stop = threading.Event()
        observed = _Observed(connector, run, self.wire)
        instance = self.harness.instance

        def progress(_instance: str, stream: str, _counts: Counter[str]) -> None:
            page = observed.last.get(stream)
            with engine.connect() as conn:
                stored = read_cursor(conn, instance, stream)
            n = run.pages[stream]
            if page is not None and page.cursor is None:
                run.cursor_problems.append(
                    f"{stream} page {n} carried no cursor: a crash after it reads again what "
                    "the stream read before"
                )
            elif page is not None and stored != page.cursor:
                run.cursor_problems.append(
                    f"{stream} page {n}: the store holds {stored!r}, the page carried "
                    f"{page.cursor!r}"
                )
            if crash_after == (stream, n):
                stop.set()

        try:
            pull_instance(
                engine,
                instance,
                observed,
                precedence=[instance],
                run_id=None,
                clock=self.clock,
                progress=progress,
                stop=stop,
                ahead=None,  # in line: the pages and requests counted are the pages written
            )
        except Exception as exc:
            run.error = exc
            self.said.error(exc)
        for _, reason in quarantined(engine):
            self.said.text(reason)
        return run

    def fresh_source(self) -> tuple[Connector, list[str]]:
        """A fresh vendor, a new connector on it and the names of its streams (a test of a
        connector that reads no stream skips)."""
        self.start()
        connector = self.connector()
        return connector, [stream.name for stream in self.streams(connector)]

    def full_pull(self, what: str = "the full pull") -> tuple[sa.Engine, Connector]:
        """A fresh vendor read whole into a fresh store by a new connector: the store and the
        connector, to pull again."""
        connector, _ = self.fresh_source()
        engine = self.store()
        self.pull(engine, connector).ok(what)
        return engine, connector

    def pull_until_done(self, engine: sa.Engine, rounds: int = 20) -> int:
        """Pull as the daemon's cycles would until a pull ends without a retryable error;
        return the pulls it took."""
        connector = self.connector()
        for n in range(1, rounds + 1):
            run = self.pull(engine, connector)
            if run.error is None:
                return n
            if not isinstance(run.error, RetryableError):
                run.ok(f"pull {n}")
            self.advance(60)
        raise AssertionError(f"no pull got through in {rounds} cycles: {run.error}")

    # --- pushes ---------------------------------------------------------------------------------

    def push(
        self, changes: Sequence[Change], connector: Connector | None = None, *, rounds: int = 1
    ) -> PushRun:
        """Send ``changes`` as the outbox does (the changes of ``batch_size`` contacts a
        call, a retryable error answering the whole batch) for up to ``rounds`` rounds,
        sending again what came back retryable or unanswered."""
        destination = self.destination(connector or self.connector())
        run = PushRun(pending=list(changes))
        while run.pending and run.rounds < rounds:
            run.rounds += 1
            emails = list(dict.fromkeys(c.email for c in run.pending))
            retry: set[int] = set()
            for start in range(0, len(emails), destination.batch_size):
                contacts = set(emails[start : start + destination.batch_size])
                batch = [c for c in run.pending if c.email in contacts]
                results = self._send(destination, batch)
                run.answers.append((batch, results))
                answered = {r.change_id for r in results}
                retry |= {c.id for c in batch if c.id not in answered}
                for result in results:
                    self.said.text(result.reason)
                    if result.outcome is Outcome.RETRYABLE:
                        retry.add(result.change_id)
                    elif result.outcome is Outcome.FAILED:
                        run.failed.append(result)
            run.pending = [c for c in run.pending if c.id in retry]
            if run.pending:
                self.advance(60)
        return run

    def _send(self, destination: Destination, batch: list[Change]) -> list[ChangeResult]:
        try:
            return destination.push(batch)
        except AuthError:
            raise
        except ConnectorError as exc:
            self.said.error(exc)
            outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
            return [ChangeResult(c.id, outcome, str(exc)) for c in batch]


class _Observed(Connector):
    """A connector seen through the bench: its streams note their pages and the wire."""

    name = "observed"

    def __init__(self, inner: Connector, run: PullRun, wire: Wire | None) -> None:
        super().__init__(inner.options, inner.context)
        self.inner, self.run, self.wire = inner, run, wire
        self.last: dict[str, Page] = {}

    def streams(self) -> list[Stream]:
        return [cast(Stream, _ObservedStream(s, self)) for s in self.inner.streams()]


class _ObservedStream:
    def __init__(self, inner: Stream, owner: _Observed) -> None:
        self.inner, self.owner, self.name = inner, owner, inner.name

    def read(self, cursor: str | None) -> Iterator[Page]:
        run, wire = self.owner.run, self.owner.wire
        run.records.setdefault(self.name, [])
        pages = iter(self.inner.read(cursor))
        try:
            while True:
                sent = len(wire.sent) if wire else 0
                if wire:
                    wire.stream = self.name
                try:
                    page = next(pages)
                except StopIteration:
                    run.finished.add(self.name)
                    run.rows[self.name] += getattr(self.inner, "rows_answered", 0)
                    return
                finally:
                    if wire:
                        wire.stream = None
                        run.requests[self.name] += len(wire.sent) - sent
                run.pages[self.name] += 1
                run.records[self.name] += page.records
                self.owner.last[self.name] = page
                yield page
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()
