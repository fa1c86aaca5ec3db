"""Reading a connector's streams and pushing changes by hand, as the daemon does, for tests."""

from __future__ import annotations

from collections.abc import Sequence

from syncd.connectors.contract import (
    Change,
    ChangeResult,
    Connector,
    InvalidRecord,
    Outcome,
    Record,
)


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


def pull_valid(connector: Connector, cursors: dict[str, str | None]) -> list[Record]:
    """``pull``, where a record the connector could not read fails the test: the first
    ``InvalidRecord``'s reason is the assertion's message."""
    records = pull(connector, cursors)
    invalid = [r for r in records if isinstance(r, InvalidRecord)]
    assert not invalid, f"{len(invalid)} invalid records, the first: {invalid[0].reason}"
    return records
