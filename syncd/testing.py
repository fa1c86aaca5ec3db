"""Helpers for testing a connector, shared by the built-in ones and open to third parties."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from syncd.connectors.contract import Change, ChangeResult, Connector, Outcome, Record

if TYPE_CHECKING:
    import pytest
    from starlette.types import ASGIApp

    from syncd.emulator import VirtualTime


def push_until_done(connector: Connector, changes: Sequence[Change], *, rounds: int = 40) -> int:
    """Send ``changes`` as the outbox does — every change of ``batch_size`` contacts a batch,
    what comes back retryable again — until all are done; return the rounds it took.

    A change that fails fails the test: its reason is the assertion's message.
    """
    destination = connector.destination()
    assert destination is not None, f"{connector.name} is not a destination"
    pending = list(changes)
    for round_ in range(1, rounds + 1):
        emails = list(dict.fromkeys(c.email for c in pending))
        results: list[ChangeResult] = []
        for start in range(0, len(emails), destination.batch_size):
            batch = set(emails[start : start + destination.batch_size])
            results += destination.push([c for c in pending if c.email in batch])
        failed = [r for r in results if r.outcome is Outcome.FAILED]
        assert not failed, failed[0].reason
        retry = {r.change_id for r in results if r.outcome is Outcome.RETRYABLE}
        pending = [c for c in pending if c.id in retry]
        if not pending:
            return round_
    raise AssertionError(f"{len(pending)} changes never went through in {rounds} rounds")


def pull(connector: Connector, cursors: dict[str, str | None]) -> list[Record]:
    """Read every stream of ``connector`` from ``cursors``, page by page, moving each cursor
    as pull does; return the records."""
    records: list[Record] = []
    for stream in connector.streams():
        for page in stream.read(cursors.get(stream.name)):
            records += page.records
            cursors[stream.name] = page.cursor
    return records


def route_to_emulators(
    monkeypatch: pytest.MonkeyPatch,
    emulators: ASGIApp | Mapping[str, ASGIApp],
    *,
    time: VirtualTime,
    modules: Sequence[ModuleType] = (),
) -> None:
    """Make every runtime the test builds, ``syncd`` commands included, talk in-process to
    emulators: each connector instance to its own (``emulators`` by instance name) or all to
    one. Connectors sleep and read the time in virtual ``time`` through their
    ``ConnectorContext``; ``modules`` that still read a module-level ``time`` get it too."""
    import syncd.runtime
    from syncd.connectors.contract import ConnectorContext
    from syncd.emulator import transport

    if isinstance(emulators, Mapping):
        transports = {name: transport(app) for name, app in emulators.items()}
    else:
        one = transport(emulators)

    def context(instance: str, **kw: Any) -> ConnectorContext:
        served = transports[instance] if isinstance(emulators, Mapping) else one
        kw.setdefault("sleep", time.sleep)
        kw.setdefault("monotonic", time.monotonic)
        return ConnectorContext(instance, transport=served, **kw)

    monkeypatch.setattr(syncd.runtime, "ConnectorContext", context)
    for module in modules:
        monkeypatch.setattr(module, "time", time)
